"""Command line: ``python -m faceedit <command> ...``.

Each command lives in its own module under :mod:`faceedit.commands` and exposes
``register(subparsers)``, which adds its parser and sets ``func``.  Errors of the
backend (:class:`~faceedit.errors.FaceEditError`) are printed as one plain line
with exit status 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING

from faceedit.errors import FaceEditError

if TYPE_CHECKING:
    from faceedit.editors.composer import Composer

#: Command modules, in the order ``--help`` lists them.
COMMANDS: tuple[str, ...] = (
    "faceedit.commands.parse",
    "faceedit.commands.align",
    "faceedit.commands.edit",
    "faceedit.commands.swap",
    "faceedit.commands.random",
    "faceedit.commands.synth",
    "faceedit.commands.weights",
    "faceedit.commands.directions",
)


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every command registered."""
    from faceedit import __version__

    parser = argparse.ArgumentParser(prog="python -m faceedit", description="GAN-based portrait editing.")
    parser.add_argument("--version", action="version", version=f"faceedit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None, composer: Composer | None = None) -> int:
    """Run one command; return the process exit status.

    ``composer`` holds the editors the edit commands use (default: built from the weights registry).
    """
    args = build_parser().parse_args(argv)
    args.composer = composer
    try:
        return int(args.func(args) or 0)
    except FaceEditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
