"""Upload -> first slider result, with and without the background inversion (not a test).

``PYTHONPATH=. python benchmarks/first_slider.py [--threads 2] [--repeats 3] [--think 1 3] [--size 1024]``

GAN path: the project's e4e (``Encoder4Editing``, IR-SE50, full size) and StyleGAN2 generator at ``--size`` px
(config-f), seeded random weights (the cost of the published files), one InterfaceGAN-style direction; lite
path: the lite smile slider.  One run is ``Session.from_photo`` on scikit-image's astronaut (detection,
alignment, landmark parse; with ``--prefetch`` the W+ inversion starts in a background thread), then the
user's think time (a sleep), then ``set_attributes({"smile": 1.5})`` (the release: full-resolution result,
pasted back).  Reported per case, median of ``--repeats`` after one warm-up: opening, the wait after the
move, and upload -> first result (opening + think + wait).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--think", type=float, nargs="*", default=[1.0, 3.0])
    parser.add_argument("--size", type=int, default=1024)
    args = parser.parse_args()
    import torch
    from skimage import data

    from faceedit.directions import Direction, DirectionLibrary
    from faceedit.editors.composer import Composer
    from faceedit.editors.gan_runtime import GanRuntime, StyleSpace
    from faceedit.editors.interfacegan import InterfaceGanSliders
    from faceedit.editors.lite import lite_editors
    from faceedit.models.encoders import Encoder4Editing
    from faceedit.models.psp import PSP
    from faceedit.models.stylegan2 import Generator
    from faceedit.session import Session

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = Generator(args.size, channel_multiplier=2).eval().requires_grad_(False)
    e4e = PSP(Encoder4Editing(args.size).eval().requires_grad_(False), gen, torch.zeros(1, 512), kind="e4e").eval()
    style = StyleSpace(GanRuntime(device="cpu"), gen, e4e)
    lib = DirectionLibrary([Direction("smile", np.random.default_rng(0).standard_normal((1, 512)), scale=3.0)])
    composers = {"gan": Composer([InterfaceGanSliders(style, lib)]), "lite": Composer(lite_editors(), forced="lite")}
    photo = np.ascontiguousarray(data.astronaut())

    def once(engine: str, think: float, prefetch: bool) -> tuple[float, float, float]:
        start = time.perf_counter()
        s = Session.from_photo(photo, engine=engine, composer=composers[engine], prefetch=prefetch)
        opened = time.perf_counter()
        time.sleep(think)
        moved = time.perf_counter()
        s.set_attributes({"smile": 1.5})
        done = time.perf_counter()
        return opened - start, done - moved, done - start

    cases = [("lite", t, False) for t in args.think] + [("gan", t, p) for t in args.think for p in (False, True)]
    for engine in ("lite", "gan"):  # warm-up (oneDNN primitives, caches)
        once(engine, 0.0, False)
    runs: dict[tuple, list[tuple[float, float, float]]] = {c: [] for c in cases}
    for _ in range(args.repeats):  # interleaved: load changes hit every case alike
        for case in cases:
            runs[case].append(once(*case))
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"GAN: e4e + StyleGAN2 {args.size} px, load average {os.getloadavg()[0]:.1f}, median of {args.repeats}")
    print("| path | think | inversion | opening s | wait after the move s | upload -> first result s |")
    print("|---|---|---|---|---|---|")
    for (engine, think, prefetch), r in runs.items():
        med = [statistics.median(x[i] for x in r) for i in range(3)]
        how = "-" if engine == "lite" else ("background" if prefetch else "at opening")
        print(f"| {engine} | {think:g} s | {how} | {med[0]:.2f} | {med[1]:.2f} | {med[2]:.2f} |")


if __name__ == "__main__":
    main()
