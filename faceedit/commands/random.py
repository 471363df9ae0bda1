"""``python -m faceedit random --seed 42 --truncation 0.7 --smile 1.5 -o face.png``: a new face from a seed."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``random`` command."""
    p = subparsers.add_parser("random", help="draw a new face from a seed (needs the StyleGAN2 weights)",
                              description="Generate a face with StyleGAN2 from a seed, optionally move attribute "
                                          "sliders or mix styles with a second seed; --grid writes a contact sheet "
                                          "of consecutive seeds.")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same face on any machine)")
    p.add_argument("--truncation", type=float, default=0.7, help="psi in 0..1 (0 = the average face)")
    for name in ("smile", "age", "pose"):
        p.add_argument(f"--{name}", type=float, default=None, metavar="VALUE", help=f"{name} slider value")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="any other slider (repeatable)")
    p.add_argument("--mix", default=None, metavar="LAYERS:SEED",
                   help="style mixing: take coarse, middle or fine layers from another seed, e.g. fine:7")
    p.add_argument("--grid", default=None, metavar="RxC", help="contact sheet of R x C consecutive seeds")
    p.add_argument("-o", "--output", required=True, help="output image path (PNG recommended)")
    p.set_defaults(func=run)


def _grid(text: str) -> tuple[int, int]:
    from faceedit.errors import InvalidArgumentError

    rows, sep, cols = text.lower().partition("x")
    if not sep or not rows.isdigit() or not cols.isdigit() or not 0 < int(rows) * int(cols) <= 64:
        raise InvalidArgumentError(f"--grid expects RxC with at most 64 faces, e.g. 4x4; got {text!r}.")
    return int(rows), int(cols)


def _mix(text: str | None) -> tuple[str, int] | None:
    from faceedit.errors import InvalidArgumentError

    if text is None:
        return None
    layers, sep, seed = text.partition(":")
    if not sep or not seed.strip().isdigit():
        raise InvalidArgumentError(f"--mix expects LAYERS:SEED (layers: coarse, middle, fine), e.g. fine:7; got {text!r}.")
    return layers.strip().lower(), int(seed)


def run(args: argparse.Namespace) -> int:
    """Generate, edit, write; say which engine made it."""
    import numpy as np

    from faceedit.commands.edit import FLAGS, parse_values
    from faceedit.imaging import save_image
    from faceedit.session import Session

    for name in FLAGS:  # parse_values reads every edit flag; random has no --pitch
        if not hasattr(args, name):
            setattr(args, name, None)
    values = parse_values(args)
    mix = _mix(args.mix)
    rows, cols = _grid(args.grid) if args.grid else (1, 1)
    tiles = []
    for k in range(rows * cols):
        session = Session.from_seed(args.seed + k, truncation=args.truncation, mix=mix)
        result = session.set_attributes(values) if values else session.current
        tiles.append(result.image)
    image = np.concatenate([np.concatenate(tiles[r * cols:(r + 1) * cols], 1) for r in range(rows)], 0)
    path = save_image(image, args.output)
    what = f"seeds {args.seed}..{args.seed + rows * cols - 1}" if rows * cols > 1 else f"seed {args.seed}"
    print(f"wrote {path} ({what}, truncation {args.truncation:g}) with the {result.engine} engine on {result.device}")
    if result.message:
        print(f"note: {result.message}")
    return 0
