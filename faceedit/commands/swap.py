"""``python -m faceedit swap PHOTO REF --components eyes,mouth -o out.png``: components from a second face."""

from __future__ import annotations

import argparse

from faceedit.commands._batch import add_batch_arguments, run_batch_command, wants_batch
from faceedit.commands._io import add_result_arguments, write_result


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``swap`` command."""
    p = subparsers.add_parser("swap", help="swap eyes/brows/nose/mouth/hair/skin from a reference face",
                              description="Take facial components from the largest face of REF and blend them "
                                          "into PHOTO; the result is pasted back into the full photo.")
    p.add_argument("photo", help="photo to edit, or a folder or glob pattern for a batch")
    p.add_argument("reference", help="photo whose components are taken")
    p.add_argument("--components", required=True,
                   help="comma-separated: eyes, brows, nose, mouth, hair, skin")
    p.add_argument("--face", type=int, default=0, help="which face of PHOTO, largest first (default 0)")
    add_batch_arguments(p)
    add_result_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open both photos, swap, write the result, say which engine made it."""
    from faceedit.commands._io import composer_of
    from faceedit.session import Session

    components = [c.strip() for c in args.components.split(",") if c.strip()]
    if wants_batch(args):
        from faceedit.batch import swap_process

        return run_batch_command(
            args, lambda: swap_process(args.reference, components, args.engine, args.crop, composer_of(args)), "swapped")
    session = Session.from_photo(args.photo, face_index=args.face, engine=args.engine,
                                 composer=composer_of(args))
    result = session.swap(args.reference, components)
    return write_result(result, args, f"{', '.join(components)} swapped")
