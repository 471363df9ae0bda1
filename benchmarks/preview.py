"""Live slider preview vs full render (not a test): ``PYTHONPATH=. python benchmarks/preview.py [--threads 2]``.

GAN engine: the project's StyleGAN2 at 1024 px, config-f (channel multiplier 2), seeded random weights (the
same cost as the published FFHQ file); a photo session on scikit-image's astronaut (aligned crop 512 px) whose
W+ is given (a stand-in encoder: inversion happens once per photo and is not what a slider move costs), one
InterfaceGAN-style direction.  Timed per call, interleaved in one run: the generator alone up to 64 / 128 /
256 px and in full (:meth:`Generator.synthesis_to` / ``synthesis``), then ``Session.preview_attributes`` (the
page's preview while dragging, at ``FACEEDIT_PREVIEW`` px, bfloat16 autocast) and ``Session.set_attributes`` (on release), both
including blend and paste-back.  Lite engine: the same two calls with the smile slider.  Median (min) of
``--repeats`` calls after one warm-up.
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

from benchmarks._timing import timings  # noqa: E402


class _GivenLatent:
    """Encoder stand-in: every crop "inverts" to one fixed W+ (a slider move never runs the encoder)."""

    def __init__(self, w_plus) -> None:
        self.w_plus = w_plus

    def encode(self, x):
        return self.w_plus.clone()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--cpu-time", action="store_true",
                        help="process CPU time per call instead of wall-clock (steadier on a shared machine; "
                             "use with --threads 1)")
    args = parser.parse_args()
    import torch
    from skimage import data

    from faceedit.directions import Direction, DirectionLibrary
    from faceedit.editors.composer import Composer
    from faceedit.editors.gan_runtime import PREVIEW_RESOLUTION, GanRuntime, StyleSpace
    from faceedit.editors.interfacegan import InterfaceGanSliders
    from faceedit.editors.lite import lite_editors
    from faceedit.models.stylegan2 import Generator
    from faceedit.session import Session

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = Generator(args.size, channel_multiplier=2).eval().requires_grad_(False)
    with torch.inference_mode():
        w = gen.get_latent(torch.randn(1, 512))[:, None].repeat(1, gen.n_latent, 1)
    runtime = GanRuntime(device="cpu")
    runtime.preview_dtype = "bf16"  # the bf16 rows and the preview below, whatever FACEEDIT_PREVIEW_DTYPE says
    style = StyleSpace(runtime, gen, _GivenLatent(w))
    lib = DirectionLibrary([Direction("smile", np.random.default_rng(0).standard_normal((1, 512)), scale=3.0)])
    photo = np.ascontiguousarray(data.astronaut())
    gan = Session.from_photo(photo, engine="gan", composer=Composer([InterfaceGanSliders(style, lib)]))
    lite = Session.from_photo(photo, engine="lite", composer=Composer(lite_editors(), forced="lite"))

    cases = {}
    for res in (64, 128, 256):
        if res < args.size:
            cases[f"generator up to {res} px (synthesis_to)"] = \
                lambda r=res: runtime.run(lambda: gen.synthesis_to(w, r))
    cases[f"generator, full {args.size} px (synthesis)"] = lambda: runtime.run(lambda: gen.synthesis(w))
    for res in (128, 256):
        if res < args.size:
            cases[f"generator up to {res} px, bfloat16 autocast"] = \
                lambda r=res: runtime.run_preview(lambda: gen.synthesis_to(w, r))
    cases[f"GAN preview_attributes (generator to {PREVIEW_RESOLUTION} px in {runtime.preview_dtype}, blend, "
          "paste)"] = lambda: gan.preview_attributes({"smile": 1.5})
    cases["GAN set_attributes (full pass, blend, paste; on release)"] = lambda: gan.set_attributes({"smile": 1.5})
    cases["lite preview_attributes (half-size warp, paste)"] = lambda: lite.preview_attributes({"smile": 1.5})
    cases["lite set_attributes (full warp, paste)"] = lambda: lite.set_attributes({"smile": 1.5})
    for fn in cases.values():  # warm-up (caches, oneDNN primitives)
        fn()
    runs: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.repeats):  # interleaved: load changes hit every case alike
        for name, fn in cases.items():
            if args.cpu_time:
                start = time.process_time()
                fn()
                runs[name].append(time.process_time() - start)
            else:
                runs[name] += timings(fn, 1)
    print(f"# {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} threads, "
          f"load average {os.getloadavg()[0]:.1f}, median (min) of {args.repeats}, "
          f"{'process CPU time' if args.cpu_time else 'wall-clock'}")
    print("| call | ms |\n|---|---|")
    for name, t in runs.items():
        print(f"| {name} | {1000 * statistics.median(t):.0f} ({1000 * min(t):.0f}) |")


if __name__ == "__main__":
    main()
