"""``python -m faceedit stylise PHOTO --style anime -o out.png [--strength 1] [--smile 1]``: a face in an art style.

``--style`` takes a style id or its last part: a GAN style generator of the registry (``anime``,
``style.nada.anime``; `weights fetch --preset art`), a trained DiFa run (``trained:NAME``) or a lite OpenCV style
(``lite:cartoon``, ``lite:pencil``, ``lite:edge_preserving``; offline).  ``--list`` prints the available ones.
"""

from __future__ import annotations

import argparse

from faceedit.commands._batch import add_batch_arguments, run_batch_command, wants_batch
from faceedit.commands._io import add_result_arguments, write_result
from faceedit.commands.edit import add_slider_arguments, parse_values


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``stylise`` command."""
    p = subparsers.add_parser("stylise", help="render a face in an art style (GAN styles, or lite OpenCV styles)",
                              description="Render a portrait's face in an art style; the result is pasted back "
                                          "into the full photo. Sliders (absolute values) move the face in the "
                                          "style (a GAN style re-renders them in its generator).")
    p.add_argument("photo", nargs="?", help="input photo, or a folder or glob pattern for a batch")
    p.add_argument("--style", default=None,
                   help="style id or its last part: anime, style.nada.anime, trained:NAME, lite:cartoon, "
                        "lite:pencil, lite:edge_preserving (default: the first available)")
    p.add_argument("--strength", type=float, default=1.0, help="0 = the photo, 1 = the full style (default 1)")
    p.add_argument("--list", action="store_true", help="list the available styles and exit")
    add_slider_arguments(p)
    p.add_argument("--face", type=int, default=0, help="which face, largest first (default 0)")
    add_batch_arguments(p)
    add_result_arguments(p)
    p.set_defaults(func=run)
    for action in p._actions:  # -o is not needed with --list
        if action.dest == "output":
            action.required = False


def run(args: argparse.Namespace) -> int:
    """Stylise the photo (or every photo of a folder), write the result, say which style and engine made it."""
    from faceedit.art import available_styles, find_style, stylise
    from faceedit.commands._io import composer_of
    from faceedit.errors import InvalidArgumentError
    from faceedit.session import Session

    composer = composer_of(args)
    if args.list:
        for info in available_styles(composer):
            print(f"{info.id:32s} {info.engine:4s}  {info.label}")
        return 0
    if not args.photo or not args.output:
        raise InvalidArgumentError("stylise needs PHOTO and -o OUTPUT (or --list).")
    info = find_style(composer, args.style, args.engine)  # an unknown style fails before any photo is opened
    values = parse_values(args)
    if wants_batch(args):
        from faceedit.batch import stylise_process

        return run_batch_command(
            args, lambda: stylise_process(info.id, args.strength, values, args.crop, composer, args.engine),
            "stylised")
    session = Session.from_photo(args.photo, face_index=args.face, engine=args.engine, composer=composer)
    result = stylise(session, info.id, args.strength, values, args.engine)
    shown = f"style {info.id} at strength {args.strength:g}" + \
        "".join(f", {k}={v:g}" for k, v in values.items())
    return write_result(result, args, shown)
