"""``python -m faceedit random --seed 42 --truncation 0.7 --smile 1.5 -o face.png``: a new face from a seed.

``--grid 4x4`` writes a contact sheet of consecutive seeds from ``--seed`` (``--captions`` names them);
``--mix fine:7`` (or ``--mix-seed 7 --mix-layers fine``) takes those style layers from a second seed;
``--keep age`` makes every moved slider leave ``age`` unchanged (conditional editing); ``--strip smile
--keep age`` writes the entanglement view (α = −3…+3, plain over conditioned).
"""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``random`` command."""
    from faceedit.commands.edit import add_slider_arguments

    p = subparsers.add_parser("random", help="draw a new face from a seed (needs the StyleGAN2 weights)",
                              description="Generate a face with StyleGAN2 from a seed, optionally move attribute "
                                          "sliders (conditioned with --keep) or mix styles with a second seed; "
                                          "--grid writes a contact sheet of consecutive seeds, --strip the "
                                          "entanglement view of one slider.")
    p.add_argument("--seed", type=int, default=0, help="random seed (same seed, same face on any machine)")
    p.add_argument("--truncation", "--psi", type=float, default=0.7, metavar="PSI",
                   help="truncation psi in 0..1 (0 = the average face, 1 = full variety; default 0.7)")
    add_slider_arguments(p)
    p.add_argument("--keep", action="append", default=[], metavar="ATTR",
                   help="conditional editing: the moved sliders leave ATTR unchanged (repeatable)")
    p.add_argument("--mix", default=None, metavar="LAYERS:SEED",
                   help="style mixing: take coarse, middle or fine layers from another seed, e.g. fine:7")
    p.add_argument("--mix-seed", type=int, default=None, metavar="S", help="style mixing: the other seed")
    p.add_argument("--mix-layers", choices=("coarse", "middle", "fine"), default="coarse",
                   help="style mixing with --mix-seed: coarse (pose, face shape), middle (features), fine (colours)")
    p.add_argument("--grid", default=None, metavar="RxC", help="contact sheet of R x C consecutive seeds")
    p.add_argument("--captions", action="store_true", help="write each seed under its face on a --grid sheet")
    p.add_argument("--strip", default=None, metavar="ATTR",
                   help="entanglement view of slider ATTR at alpha -3..3, plain and conditioned on --keep")
    p.add_argument("-o", "--output", required=True, help="output image path (PNG recommended)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate, edit, write; say which engine made it."""
    from faceedit import random_faces as rf
    from faceedit.commands._io import composer_of
    from faceedit.commands.edit import parse_values
    from faceedit.errors import InvalidArgumentError
    from faceedit.imaging import save_image
    from faceedit.session import Session

    values = parse_values(args)
    composer = composer_of(args)
    if args.mix is not None and args.mix_seed is not None:
        raise InvalidArgumentError("Give either --mix LAYERS:SEED or --mix-seed/--mix-layers, not both.")
    mix = rf.parse_mix(args.mix) if args.mix is not None else \
        ((args.mix_layers, args.mix_seed) if args.mix_seed is not None else None)
    if args.keep and not values and not args.strip:
        raise InvalidArgumentError("--keep ATTR conditions a moved slider: add one (e.g. --smile 1.5) or --strip.")
    conditions = {name: list(args.keep) for name in values} if args.keep else None
    mixed = f", {mix[0]} styles from seed {mix[1]}" if mix else ""

    if args.grid is not None:
        if args.strip:
            raise InvalidArgumentError("--strip writes one face's entanglement view; drop --grid.")
        rows, cols = rf.parse_grid(args.grid)
        seeds = [args.seed + k for k in range(rows * cols)]
        if values:  # edited faces: one session per seed
            tiles = [Session.from_seed(s, truncation=args.truncation, mix=mix, composer=composer)
                     .set_attributes(values, conditions)
                     for s in seeds]
            images = [rf.caption(t.image, f"seed {s}") if args.captions else t.image for t, s in zip(tiles, seeds)]
            sheet, engine, device = rf.tile_grid(images, cols, 2 if args.captions else 0), tiles[0].engine, \
                tiles[0].device
        else:
            faces = rf.random_editor(composer)
            sheet = rf.contact_sheet(faces, seeds, cols, args.truncation, mix, captions=args.captions)
            engine, device = faces.engine, faces.device
        path = save_image(sheet, args.output)
        print(f"wrote {path} (seeds {seeds[0]}..{seeds[-1]} as {rows}x{cols}, truncation {args.truncation:g}"
              f"{mixed}) with the {engine} engine on {device}")
        return 0

    session = Session.from_seed(args.seed, truncation=args.truncation, mix=mix, composer=composer)
    if args.strip:
        if len(args.keep) != 1:
            raise InvalidArgumentError("--strip ATTR needs exactly one --keep ATTR2 to condition on.")
        if values:
            session.set_attributes(values)
        view = rf.entanglement_view(session, args.strip, args.keep[0])
        path = save_image(view.image, args.output)
        print(f"wrote {path} (seed {args.seed}, truncation {args.truncation:g}{mixed}). {view.describe()}")
        return 0
    result = session.set_attributes(values, conditions) if values else session.current
    path = save_image(result.image, args.output)
    shown = ", ".join(f"{k}={v:g}" for k, v in values.items()) or "no sliders moved"
    kept = f", keeping {', '.join(args.keep)}" if conditions else ""
    print(f"wrote {path} (seed {args.seed}, truncation {args.truncation:g}{mixed}; {shown}{kept}) "
          f"with the {result.engine} engine on {result.device}")
    if result.message:
        print(f"note: {result.message}")
    return 0
