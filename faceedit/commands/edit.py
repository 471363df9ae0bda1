"""``python -m faceedit edit PHOTO --smile 1.5 --pose -0.5 -o out.png``: attribute sliders from the shell."""

from __future__ import annotations

import argparse

from faceedit.commands._batch import add_batch_arguments, run_batch_command, wants_batch
from faceedit.commands._io import add_result_arguments, write_result

#: Sliders with their own flag; any other direction name goes through ``--set NAME=VALUE``.
FLAGS: tuple[str, ...] = ("smile", "age", "pose", "pitch")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``edit`` command."""
    p = subparsers.add_parser("edit", help="move attribute sliders (smile, age, pose, ...) on a photo",
                              description="Edit a portrait's attributes; the result is pasted back into the "
                                          "full photo. Slider values are absolute (0 = unchanged).")
    p.add_argument("photo", help="input photo (JPEG, PNG, ...), or a folder or glob pattern for a batch")
    add_slider_arguments(p)
    p.add_argument("--face", type=int, default=0, help="which face, largest first (default 0)")
    add_batch_arguments(p)
    add_result_arguments(p)
    p.set_defaults(func=run)


def add_slider_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per slider in :data:`FLAGS`, plus ``--set NAME=VALUE`` for the others (see :func:`parse_values`)."""
    for name in FLAGS:
        parser.add_argument(f"--{name}", type=float, default=None, metavar="VALUE", help=f"{name} slider value")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="any other slider the engine offers (repeatable)")


def parse_values(args: argparse.Namespace) -> dict[str, float]:
    """Slider values from the flags and ``--set NAME=VALUE`` pairs."""
    from faceedit.errors import InvalidArgumentError

    values = {name: getattr(args, name) for name in FLAGS if getattr(args, name) is not None}
    for item in args.set:
        name, sep, value = item.partition("=")
        try:
            values[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise InvalidArgumentError(f"--set expects NAME=VALUE (e.g. --set smile=1.5); got {item!r}.")
    return values


def run(args: argparse.Namespace) -> int:
    """Open the photo, apply the sliders, write the result, say which engine made it."""
    from faceedit.commands._io import composer_of
    from faceedit.session import Session

    values = parse_values(args)
    if wants_batch(args):
        from faceedit.batch import edit_process

        return run_batch_command(
            args, lambda: edit_process(values, args.engine, args.crop, composer_of(args)), "edited")
    session = Session.from_photo(args.photo, face_index=args.face, engine=args.engine, composer=composer_of(args))
    result = session.set_attributes(values) if values else session.current
    shown = ", ".join(f"{k}={v:g}" for k, v in values.items()) or "no sliders moved"
    return write_result(result, args, shown)
