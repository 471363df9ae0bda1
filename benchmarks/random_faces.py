"""Timings of random faces: mean latent, seed → W+, Session.from_seed, (conditional) slider moves, sheet tiles.

Run: ``python benchmarks/random_faces.py --size 256 --threads 2`` (CPU; ``--size 1024 --channel-multiplier 2``
for the FFHQ config-f shape). The generator has seeded random weights in the published layout (no published
weights needed): timings depend on the shape only.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import mean_time  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--channel-multiplier", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    from faceedit import random_faces as rf
    from faceedit.directions import Direction, DirectionLibrary
    from faceedit.editors.composer import Composer
    from faceedit.editors.gan_runtime import GanRuntime, StyleSpace
    from faceedit.editors.interfacegan import InterfaceGanSliders
    from faceedit.editors.lite import lite_editors
    from faceedit.editors.random_face import RandomFaces
    from faceedit.models.stylegan2 import Generator
    from faceedit.session import Session

    torch.manual_seed(0)
    g = Generator(args.size, channel_multiplier=args.channel_multiplier).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction(n, rng.standard_normal((1, 512)), scale=3.0) for n in ("smile", "age")])
    style = StyleSpace(GanRuntime(device="cpu"), g)
    gan = RandomFaces(style)
    composer = Composer([InterfaceGanSliders(style, lib), gan, *lite_editors()])

    t0 = time.perf_counter()
    gan.mean_latent()
    rows = [("mean latent (4096 samples, once per generator)", time.perf_counter() - t0)]
    rows.append(("seed → W+ (z, mapping, truncation)", mean_time(lambda: gan.sample(42, 0.7), 10)))
    t0 = time.perf_counter()
    s = Session.from_seed(42, truncation=0.7, composer=composer)
    rows.append(("Session.from_seed (face + parse + landmarks)", time.perf_counter() - t0))
    values = iter([0.5, 1.0, 1.5, 2.0, 2.5, -1.0])
    rows.append(("slider move", mean_time(lambda: s.set_attributes({"smile": next(values)}), args.repeat)))
    more = iter([0.5, 1.0, 1.5, 2.0, 2.5, -1.0])
    rows.append(("conditional slider move (smile, keep age)",
                 mean_time(lambda: s.set_attributes({"smile": next(more)}, {"smile": ["age"]}), args.repeat)))
    t0 = time.perf_counter()
    rf.contact_sheet(gan, [1, 2], cols=2)
    rows.append(("contact sheet, per tile", (time.perf_counter() - t0) / 2))
    print(f"size {args.size}, channel multiplier {args.channel_multiplier}, threads {args.threads}, "
          f"torch {torch.__version__}")
    for name, sec in rows:
        print(f"| {name} | {sec * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
