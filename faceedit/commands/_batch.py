"""Folders and globs for any per-photo command: ``edit photos/ --smile 1 -o out/``.

A command adds :func:`add_batch_arguments`, checks :func:`wants_batch` and hands a per-face function
(:data:`faceedit.batch.Process`) to :func:`run_batch_command`, which does the rest: expands the inputs,
shows a progress bar with ETA on stderr, writes ``out/<stem>_<tag>.png`` per result, skips bad files,
prints a summary and returns exit status 1 when any file was skipped.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from faceedit.batch import Process, collect_inputs, folder_writer, is_batch_input, parse_faces, run_batch


def add_batch_arguments(parser: argparse.ArgumentParser) -> None:
    """``--faces all|largest|N`` (its presence, or a folder or glob as PHOTO, makes the run a batch)."""
    parser.add_argument("--faces", default=None, metavar="all|largest|N",
                        help="batch: which faces of each photo (all = one result per face; largest = face 0; "
                             "N = face number N; default: --face); -o is then a folder")


def wants_batch(args: argparse.Namespace) -> bool:
    """True when PHOTO is a folder or a glob pattern, or ``--faces`` was given."""
    return is_batch_input(args.photo) or args.faces is not None


def run_batch_command(args: argparse.Namespace, make_process: Callable[[], Process], tag: str) -> int:
    """Run ``make_process()`` (built once: models and references load once) on every photo named by PHOTO."""
    from tqdm import tqdm

    faces = parse_faces(args.faces) if args.faces is not None else getattr(args, "face", 0)
    items = collect_inputs([args.photo])
    write = folder_writer(args.output, items)
    process = make_process()
    with tqdm(total=len(items), unit="photo", file=sys.stderr, dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]") as bar:
        def progress(done: int, total: int, name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        report = run_batch(items, process, write, tag, faces=faces, progress=progress)
    for outcome in report.done:
        print(f"{outcome.name} -> {', '.join(outcome.outputs)}")
    print(report.summary())
    return 1 if report.skipped else 0
