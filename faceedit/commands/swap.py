"""``python -m faceedit swap PHOTO REF --components eyes,mouth -o out.png``: components from a second face."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``swap`` command."""
    p = subparsers.add_parser("swap", help="swap eyes/brows/nose/mouth/hair/skin from a reference face",
                              description="Take facial components from the largest face of REF and blend them "
                                          "into PHOTO; the result is pasted back into the full photo.")
    p.add_argument("photo", help="photo to edit")
    p.add_argument("reference", help="photo whose components are taken")
    p.add_argument("--components", required=True,
                   help="comma-separated: eyes, brows, nose, mouth, hair, skin")
    p.add_argument("--face", type=int, default=0, help="which face of PHOTO, largest first (default 0)")
    p.add_argument("--engine", choices=("lite", "gan"), default=None,
                   help="force an engine (default: GAN when its weights are present, else lite)")
    p.add_argument("--crop", action="store_true", help="write the aligned crop instead of the full photo")
    p.add_argument("-o", "--output", required=True, help="output image path (PNG recommended)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Open both photos, swap, write the result, say which engine made it."""
    from faceedit.imaging import save_image
    from faceedit.session import Session

    components = [c.strip() for c in args.components.split(",") if c.strip()]
    session = Session.from_photo(args.photo, face_index=args.face, engine=args.engine)
    result = session.swap(args.reference, components)
    path = save_image(result.crop if args.crop else result.image, args.output)
    print(f"wrote {path} ({', '.join(components)} swapped) with the {result.engine} engine on {result.device}")
    if result.message:
        print(f"note: {result.message}")
    return 0
