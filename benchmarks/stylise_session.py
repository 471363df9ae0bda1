"""Stylise latency through the Session (what the page, the CLI and /stylise pay), lite and GAN side by side.

    python benchmarks/stylise_session.py [--threads 2] [--repeats 3] [--full]

On the astronaut photo (512 px aligned crop), median seconds of ``--repeats`` after a warm-up:

* lite: ``stylise(session, "lite:<style>")`` for each OpenCV style, and one slider move on the stylised face;
* GAN tiny: the tests' sizes (16 px StyleGAN2, toy encoder, random weights): stylise, a slider move (one generator
  pass), a strength move (one weight blend + one pass);
* GAN full (``--full``): FFHQ config-f generators at 1024 px (G_A, and G_B a perturbed copy) and the e4e encoder
  (IR-SE-50), random weights (timing depends on shapes only): opening the session (detect, align, parse, e4e
  inversion), then the same three.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time  # noqa: E402
from faceedit.art import stylise  # noqa: E402
from faceedit.directions import Direction, DirectionLibrary  # noqa: E402
from faceedit.editors.composer import Composer  # noqa: E402
from faceedit.editors.gan_runtime import GanRuntime, StyleSpace  # noqa: E402
from faceedit.editors.interfacegan import InterfaceGanSliders  # noqa: E402
from faceedit.editors.lite import lite_editors  # noqa: E402
from faceedit.editors.stylise import LITE_STYLES  # noqa: E402
from faceedit.editors.stylise_editors import GanStylise  # noqa: E402
from faceedit.models.stylegan2 import Generator  # noqa: E402
from faceedit.session import Session  # noqa: E402


def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def gan_composer(size: int, full: bool) -> Composer:
    torch.manual_seed(0)
    kw = {} if full else {"style_dim": 64, "n_mlp": 2, "channel_multiplier": 1}
    g_a = Generator(size, **kw).eval().requires_grad_(False)
    g_b = copy.deepcopy(g_a)
    with torch.no_grad():
        for name, p in g_b.named_parameters():
            if name.startswith(("convs.", "conv1.", "input.")):
                p.add_(0.1 * torch.randn_like(p))
    if full:
        from faceedit.models.encoders import Encoder4Editing
        from faceedit.models.psp import PSP

        encoder = PSP(Encoder4Editing(size), g_a, torch.zeros(1, 512), "e4e").eval().requires_grad_(False)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from test_gan_engine import SmallEncoder

        encoder = SmallEncoder(3, g_a.n_latent).eval().requires_grad_(False)
    style = StyleSpace(GanRuntime(device="cpu"), g_a, encoder)
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction("smile", rng.standard_normal((1, g_a.style_dim)), scale=4.0)])
    return Composer([InterfaceGanSliders(style, lib), GanStylise(style, {"style.bench.random": g_b}, registry=False),
                     *lite_editors()])


def bench_lite(img: np.ndarray, repeats: int) -> None:
    s = Session.from_photo(img, composer=Composer(lite_editors()))
    for style in LITE_STYLES:
        t = median_time(lambda st=style: stylise(s, f"lite:{st}"), repeats, warmup=True)
        print(f"  lite  stylise {style:16s} {t:8.3f} s")
    values = iter(np.linspace(0.2, 2.0, repeats + 1))
    t = median_time(lambda: s.set_attributes({"smile": float(next(values))}), repeats)
    print(f"  lite  slider move on the stylised face {t:8.3f} s")


def bench_gan(img: np.ndarray, repeats: int, full: bool) -> None:
    size = 1024 if full else 16
    tag = f"GAN {size} px"
    composer = gan_composer(size, full)
    t0 = time.perf_counter()
    s = Session.from_photo(img, composer=composer)
    print(f"  {tag}  open the session (detect, align, parse, inversion) {time.perf_counter() - t0:8.3f} s")
    t = median_time(lambda: stylise(s, "style.bench.random", 1.0), repeats, warmup=True)
    print(f"  {tag}  stylise at strength 1 {t:8.3f} s")
    values = iter(np.linspace(0.2, 2.0, repeats + 1))
    t = median_time(lambda: s.set_attributes({"smile": float(next(values))}), repeats)
    print(f"  {tag}  slider move (one generator pass) {t:8.3f} s")
    strengths = iter(np.linspace(0.3, 0.9, repeats + 1))
    t = median_time(lambda: stylise(s, "style.bench.random", float(next(strengths))), repeats)
    print(f"  {tag}  strength move (one blend + one pass; the slider re-applied: + one pass) {t:8.3f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--full", action="store_true", help="also the 1024 px generators and e4e")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    img = photo()
    print(f"torch {torch.__version__}, {args.threads} threads; median seconds of {args.repeats}")
    bench_lite(img, args.repeats)
    bench_gan(img, args.repeats, full=False)
    if args.full:
        bench_gan(img, args.repeats, full=True)


if __name__ == "__main__":
    main()
