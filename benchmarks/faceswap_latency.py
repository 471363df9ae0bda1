"""End-to-end face swap latency on the CPU: ``Session.run("face_swap")`` on the example photos, both paths.

  lite - the lite mesh swap (no weights);
  gan  - :class:`faceedit.editors.face_swap.FaceShifterSwap` on GHOST's 2-block generator layout and the ArcFace
         IResNet-100 layout, both with seeded random weights (tests/ghost_fixtures.py): the published sizes, so the
         timings are those of the real model (the pictures are not).

Per path: opening the target photo (detect, align, parse: not part of the swap), the swap (the source photo loaded,
its face found, aligned and parsed, its identity, the generator, the similarity, the paste-back), and a strength
change (a re-blend of the cached result: no network pass).  Median (min) of
``--repeats`` runs, wall seconds.

Run: ``python benchmarks/faceswap_latency.py [--threads 2] [--repeats 5] [--fused]``.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from faceedit.editors.composer import Composer  # noqa: E402
from faceedit.editors.face_swap import FaceShifterSwap  # noqa: E402
from faceedit.editors.faceshifter import FaceShifterNets  # noqa: E402
from faceedit.editors.lite import lite_editors  # noqa: E402
from faceedit.session import Session  # noqa: E402

TARGET, SOURCE = str(ROOT / "assets" / "astronaut.png"), str(ROOT / "assets" / "grace_hopper.jpg")


def gan_composer(fused: bool) -> Composer:
    """FaceShifter on full-size seeded GHOST-layout weights (plus the lite editors)."""
    from faceedit.models.aei_net import fuse_for_inference, load_aei_net
    from faceedit.models.arcface import load_arcface
    from tests import ghost_fixtures as GF

    generator = load_aei_net(GF.ghost_generator_state(2))
    nets = FaceShifterNets(fuse_for_inference(generator) if fused else generator, load_arcface(GF.arcface_state()))
    return Composer([FaceShifterSwap(nets), *lite_editors()])


def measure(composer: Composer, repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each step, ``repeats`` times (a fresh session each time: nothing cached across rounds)."""
    times: dict[str, list[float]] = {"open target": [], "swap": [], "strength change": []}
    for _ in range(repeats + 1):  # the first round warms up and is dropped
        stamps = [time.perf_counter()]
        s = Session.from_photo(TARGET, composer=composer)
        stamps.append(time.perf_counter())
        s.run("face_swap", source=SOURCE)
        stamps.append(time.perf_counter())
        s.run("face_swap", source=SOURCE, strength=0.5)
        stamps.append(time.perf_counter())
        for k, t0, t1 in zip(times, stamps[:-1], stamps[1:], strict=True):
            times[k].append(t1 - t0)
    return {k: v[1:] for k, v in times.items()}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fused", action="store_true", help="the GAN path on fuse_for_inference's generator")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}, "
          f"target astronaut.png 512x512, source grace_hopper.jpg, crops 512 px")
    print("| path | step | median s (min) |")
    print("| --- | --- | --- |")
    for name, composer in (("lite", Composer(lite_editors())), ("gan (random weights)", gan_composer(args.fused))):
        for step, v in measure(composer, args.repeats).items():
            print(f"| {name} | {step} | {statistics.median(v):.3f} ({min(v):.3f}) |", flush=True)


if __name__ == "__main__":
    main()
