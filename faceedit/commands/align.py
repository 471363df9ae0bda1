"""``python -m faceedit align PHOTO -o crop.png --size 512``: the FFHQ-aligned crop of one face."""

from __future__ import annotations

import argparse
import json

from faceedit.commands._io import add_photo_arguments, align_photo, save_rgb, writable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("align", help="write the FFHQ-aligned crop of a face",
                              description="Find the faces in PHOTO and write the FFHQ-aligned crop of one of them.")
    add_photo_arguments(p)
    p.add_argument("-o", "--output", required=True, help="where to write the crop (PNG)")
    p.add_argument("--transform", metavar="JSON", help="also write the photo->crop affine matrix as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = writable(args.output)
    _, n_faces, crop, alignment = align_photo(args)
    save_rgb(crop, out)
    if args.transform:
        path = writable(args.transform)
        path.write_text(json.dumps({
            "matrix": alignment.matrix.tolist(), "size": alignment.size,
            "source_shape": list(alignment.source_shape), "face": args.face,
        }, indent=2))
    print(f"aligned face {args.face} of {n_faces} ({args.size}x{args.size}, FFHQ layout) -> {out}")
    return 0
