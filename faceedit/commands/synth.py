"""``python -m faceedit synth`` (new faces for a label map) and ``augment`` (face-parsing training pairs).

``synth --labels map.png --n 8 --seed 0 -o out/`` writes ``out/<map>_seed<S>.png`` for seeds 0..7 and the map
itself; ``augment --labels DIR --per-map K -o OUT`` writes K image + label pairs per map in CelebAMask-HQ's
layout (:data:`faceedit.synth.LAYOUT_NOTE`) with ``OUT/manifest.csv``.  A label map is a colour PNG in the
page's palette or a CelebAMask-HQ index PNG (see :func:`faceedit.synth.read_label_map`).  Both need the GAN
weights of the "mask painting" preset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MODEL_HELP = "gu = Gu et al.'s random component embeddings, psp = pSp seg2face with random fine styles " \
             "(default: the first installed)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` and ``augment`` commands."""
    from faceedit.synth import LAYOUT_NOTE, MODELS

    p = subparsers.add_parser(
        "synth", help="new faces for a label map (needs the mask-painting GAN weights)",
        description="Draw N faces for one label map, one per seed (the same seed gives the same face on any "
                    "machine). The map is a colour PNG in the page's palette (as `faceedit parse -o` writes) or a "
                    "CelebAMask-HQ index PNG (8-bit greyscale, values 0..18 in the dataset's order).")
    p.add_argument("--labels", required=True, metavar="MAP.png", help="the label map")
    p.add_argument("--n", type=int, default=8, help="how many faces (default 8)")
    p.add_argument("--seed", type=int, default=0, help="first seed; face k uses seed + k (default 0)")
    p.add_argument("--model", choices=tuple(MODELS), default=None, help=MODEL_HELP)
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="output folder (created)")
    p.set_defaults(func=run_synth)

    a = subparsers.add_parser(
        "augment", help="face-parsing training pairs drawn from label maps, in CelebAMask-HQ's layout",
        description=f"Draw K faces per label map and write image + label pairs as CelebAMask-HQ ships them: "
                    f"{LAYOUT_NOTE}. A manifest.csv lists every pair (id, files, source map, model, seed, jitter); "
                    "a second run into the same folder continues the ids.")
    a.add_argument("--labels", required=True, metavar="DIR", help="a folder of label-map PNGs (or one file)")
    a.add_argument("--per-map", type=int, default=4, metavar="K", help="pairs per map (default 4)")
    a.add_argument("--seed", type=int, default=0, help="first seed; pair k of map i uses seed + i*K + k")
    a.add_argument("--model", choices=tuple(MODELS), default=None, help=MODEL_HELP)
    a.add_argument("--flip", action="store_true",
                   help="mirror half the maps (left/right classes swapped, so l_eye stays the person's left eye)")
    a.add_argument("--affine", action="store_true", help="small random rotation (5 deg), scale (5%%) and shift (3%%)")
    a.add_argument("--combined", action="store_true",
                   help="also write the combined index maps CelebAMask-HQ-mask/<id>.png (g_mask.py's order)")
    a.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder (created)")
    a.set_defaults(func=run_augment)


def run_synth(args: argparse.Namespace) -> int:
    """Read the map, draw the faces, write them and the map."""
    from faceedit.commands._io import composer_of
    from faceedit.imaging import save_image
    from faceedit.synth import read_label_map, synthesise, synthesiser, write_colour_map

    labels = read_label_map(args.labels)
    composer = composer_of(args)
    editor = synthesiser(composer, args.model)
    out = Path(args.output)
    variations = synthesise(composer, labels, args.n, args.seed, editor.key, "generated")
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.labels).stem
    for v in variations:
        save_image(v.image, out / f"{stem}_seed{v.seed}.png")
    write_colour_map(labels, out / f"{stem}_labels.png")
    print(f"wrote {len(variations)} faces to {out} ({stem}_seed{variations[0].seed}.png .. "
          f"{stem}_seed{variations[-1].seed}.png) with {editor.name} on {editor.device}")
    return 0


def run_augment(args: argparse.Namespace) -> int:
    """Every map of the folder, K pairs each, a progress bar on stderr."""
    from tqdm import tqdm

    from faceedit.commands._io import composer_of
    from faceedit.errors import InvalidArgumentError
    from faceedit.synth import augment, synthesiser

    src = Path(args.labels)
    maps = sorted(f for f in src.iterdir() if f.suffix.lower() == ".png") if src.is_dir() else [src]
    if not maps or not maps[0].exists():
        raise InvalidArgumentError(f"{src} holds no label-map PNGs.")
    composer = composer_of(args)
    editor = synthesiser(composer, args.model)  # the models load once, here
    with tqdm(total=len(maps) * max(args.per_map, 0), unit="pair", file=sys.stderr, dynamic_ncols=True,
              bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}{postfix}]") as bar:
        def progress(done: int, total: int, name: str) -> None:
            bar.set_postfix_str(name, refresh=False)
            bar.update(1)

        manifest = augment(composer, maps, args.output, args.per_map, args.seed, editor.key, args.flip, args.affine,
                           args.combined, progress)
    print(f"wrote {len(maps) * args.per_map} pairs from {len(maps)} maps to {args.output} with {editor.name} "
          f"on {editor.device}; list: {manifest}")
    return 0
