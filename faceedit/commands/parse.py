"""``python -m faceedit parse PHOTO -o labels.png --overlay overlay.png``: the 19-class face parsing.

``labels.png`` is a palette PNG: each pixel's value is its class index (canonical
order of :mod:`faceedit.labels`) and viewers show it in the brush colours.  By
default it covers the aligned crop (where edits happen); ``--full`` maps it back
onto the whole photo.
"""

from __future__ import annotations

import argparse

from faceedit.commands._io import add_photo_arguments, align_photo, save_labels, save_rgb, writable


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("parse", help="parse a face into 19 classes (skin, eyes, brows, lips, hair, ...)",
                              description="Align one face of PHOTO and write its 19-class label map.")
    add_photo_arguments(p)
    p.add_argument("-o", "--output", required=True, help="where to write the label map (palette PNG of class indices)")
    p.add_argument("--overlay", metavar="PNG", help="also write the labels blended over the picture")
    p.add_argument("--crop", metavar="PNG", help="also write the aligned crop")
    p.add_argument("--parser", default="auto", choices=("auto", "landmark", "bisenet"),
                   help="auto (default): BiSeNet when its weights are installed, else the offline landmark parser")
    p.add_argument("--full", action="store_true",
                   help="write labels and overlay in the whole photo's pixels instead of the aligned crop's")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from faceedit.labels import COMPONENTS, overlay
    from faceedit.parsing import get_parser

    for path in (args.output, args.overlay, args.crop):
        if path:
            writable(path)
    photo, n_faces, crop, alignment = align_photo(args)
    parser = get_parser(args.parser)
    labels = parser.parse(crop)
    picture = crop
    if args.full:
        h, w = alignment.source_shape
        labels = cv2.warpAffine(labels, alignment.inverse, (w, h), flags=cv2.INTER_NEAREST,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        picture = photo
    save_labels(labels, args.output)
    if args.overlay:
        save_rgb(overlay(picture, labels), args.overlay)
    if args.crop:
        save_rgb(crop, args.crop)
    found = ", ".join(name for name, idx in COMPONENTS.items() if np.isin(labels, idx).any()) or "nothing"
    space = f"{w}x{h} photo" if args.full else f"{args.size}x{args.size} aligned crop"
    kind = "offline, from the face mesh" if parser.name == "landmark" else "network weights"
    print(f"parsed face {args.face} of {n_faces} with the {parser.name} parser ({kind}) "
          f"in the {space}; found {found} -> {args.output}")
    return 0
