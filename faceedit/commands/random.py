"""``python -m faceedit random --seed 42 --truncation 0.7 --smile 1.5 -o face.png``: generate (and edit) a face.

``--grid 4x4`` writes a contact sheet of consecutive seeds from ``--seed``; ``--mix-seed S --mix-layers
coarse|middle|fine`` takes those style layers from a second seed; ``--keep age`` conditions every moved
slider on ``age``; ``--strip smile --keep age`` writes the entanglement view (α = −3…+3, plain over
conditioned).
"""

from __future__ import annotations

import argparse

from faceedit.commands.edit import FLAGS, parse_values


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``random`` command."""
    p = subparsers.add_parser("random", help="generate a face from a seed (StyleGAN2), optionally edit it",
                              description="Generate a face from a seed with the StyleGAN2 generator (needs its "
                                          "weights), move attribute sliders on it, or write a contact sheet.")
    p.add_argument("--seed", type=int, default=0, help="face seed, 0..4294967295 (default 0); first seed of a grid")
    p.add_argument("--truncation", "--psi", type=float, default=0.7, metavar="PSI",
                   help="truncation ψ in 0..1 towards the mean face (default 0.7; 1 = none)")
    p.add_argument("--mix-seed", type=int, default=None, metavar="S", help="take some style layers from seed S")
    p.add_argument("--mix-layers", choices=("coarse", "middle", "fine"), default="coarse",
                   help="which layers --mix-seed gives: coarse (pose, shape), middle (features), fine (colours)")
    for name in FLAGS:
        p.add_argument(f"--{name}", type=float, default=None, metavar="VALUE", help=f"{name} slider value")
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help="any other slider the generator's directions offer (repeatable)")
    p.add_argument("--keep", action="append", default=[], metavar="ATTR",
                   help="conditional edit: moved sliders leave ATTR unchanged (repeatable)")
    p.add_argument("--grid", default=None, metavar="ROWSxCOLS", help="contact sheet of consecutive seeds, e.g. 4x4")
    p.add_argument("--strip", default=None, metavar="ATTR",
                   help="entanglement view of ATTR at α=-3..3, plain and conditioned on --keep")
    p.add_argument("-o", "--output", required=True, help="output image path (PNG recommended)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate, edit, write; say which engine and device made it."""
    from faceedit import random_faces as rf
    from faceedit.errors import InvalidArgumentError
    from faceedit.imaging import save_image

    mix = rf.StyleMix(args.mix_seed, args.mix_layers) if args.mix_seed is not None else None
    values = parse_values(args)
    if args.grid is not None:
        if values or args.strip:
            raise InvalidArgumentError("--grid writes unedited faces; drop the sliders and --strip.")
        rows, cols = rf.parse_grid(args.grid)
        seeds = [rf.check_seed(args.seed + i) for i in range(rows * cols)]
        gan = rf.random_engine()
        sheet = rf.contact_sheet(gan.generator, seeds, cols, rf.check_truncation(args.truncation), mix,
                                 rf.engine_latent_avg(gan))
        path = save_image(sheet, args.output)
        print(f"wrote {path} (seeds {seeds[0]}..{seeds[-1]}, {rows}x{cols}, ψ {args.truncation:g}) "
              f"with the gan engine on {gan.device}")
        return 0
    from faceedit.session import Session

    session = Session.from_seed(args.seed, truncation=args.truncation, mix=mix)
    if args.strip:
        if len(args.keep) != 1:
            raise InvalidArgumentError("--strip ATTR needs exactly one --keep ATTR2 to condition on.")
        view = rf.entanglement_strips(session._engine("attributes").generator, session.w_plus, session.directions,
                                      args.strip, args.keep[0])
        path = save_image(view.image, args.output)
        print(f"wrote {path}: {view.describe()}")
        return 0
    keep = {name: list(args.keep) for name in values} if args.keep else None
    result = session.set_attributes(values, conditions=keep) if values else session.current
    path = save_image(result.image, args.output)
    shown = ", ".join(f"{k}={v:g}" for k, v in values.items()) or "no sliders moved"
    print(f"wrote {path} ({session.describe()}; {shown}) with the {result.engine} engine on {result.device}")
    if result.message and result.message != session.describe():
        print(f"note: {result.message}")
    return 0
