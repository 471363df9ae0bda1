"""Stylise latency and one DiFa training iteration on the CPU (random weights; timing does not depend on values).

    python benchmarks/stylise.py [--threads 2] [--repeats 3] [--size 256] [--gen-size 1024]

* lite styles on an aligned crop (256 and 512 px): median of ``--repeats`` after a warm-up;
* GAN stylise with two ``--gen-size`` FFHQ-config generators (channel multiplier 2): a slider move at a fixed
  strength (one generator pass), a strength move (one weight blend + one pass), and the blend alone;
* one DiFa iteration at generator size ``--size`` with the real architectures: G_A and G_B (cm 2), CLIP ViT-B/32
  and ViT-B/16, the e4e encoder (IR-SE-50), batch 2, forward + backward + Adam step (after one warm-up iteration).
  FLOPs are counted (``torch.utils.flop_counter``); the full recipe is 301 iterations at 1024 px, so the script
  extrapolates the count to 1024 px (the generator's share grows, CLIP and e4e do not) and prints the CPU time
  that implies and, labelled as an estimate, GPU times at assumed sustained rates.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time  # noqa: E402
from faceedit.editors.stylise import LITE_STYLES, GanStyliser, lite_stylise  # noqa: E402
from faceedit.models.clip import CLIP  # noqa: E402
from faceedit.models.encoders import Encoder4Editing  # noqa: E402
from faceedit.models.psp import PSP  # noqa: E402
from faceedit.models.stylegan2 import Generator  # noqa: E402
from faceedit.train.difa import Options, train  # noqa: E402


def face_crop(size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:size, :size] / size
    base = np.stack([200 - 60 * yy, 170 - 40 * xx, 150 + 30 * yy], axis=2)
    return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)


def bench_lite(repeats: int) -> None:
    print("lite stylise (aligned crop), median seconds")
    for size in (256, 512):
        img = face_crop(size)
        for style in LITE_STYLES:
            t = median_time(lambda s=style, im=img: lite_stylise(im, s), repeats, warmup=True)
            print(f"  {size:4d} px  {style:16s} {t * 1000:8.1f} ms")


def bench_gan(size: int, repeats: int) -> None:
    torch.manual_seed(0)
    g_a = Generator(size).eval().requires_grad_(False)
    g_b = Generator(size).eval().requires_grad_(False)
    st = GanStyliser(g_a, g_b, "random")
    w = torch.randn(g_a.n_latent, 512)
    st.render(w, 0.5)  # warm-up, builds the blend
    move = median_time(lambda: st.render(w + 0.01 * torch.randn_like(w), 0.5), repeats)
    strengths = iter(np.linspace(0.1, 0.9, repeats + 1))
    strength_move = median_time(lambda: st.render(w, float(next(strengths))), repeats)
    blends = iter(np.linspace(0.11, 0.91, repeats))
    blend = median_time(lambda: st.generator_at(float(next(blends))), repeats)
    print(f"GAN stylise, {size} px generators (channel multiplier 2), median seconds")
    print(f"  slider move at fixed strength (1 generator pass): {move:.3f} s")
    print(f"  strength move (blend + 1 pass):                  {strength_move:.3f} s")
    print(f"  weight blend alone:                              {blend:.3f} s")


def bench_difa(size: int, tmp: Path) -> tuple[float, float]:
    torch.manual_seed(0)
    g_a = Generator(size).eval().requires_grad_(False)
    with torch.no_grad():
        for name, p in g_a.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.1)
    clips = []
    for patch in (32, 16):
        c = CLIP(vision_patch_size=patch)
        for p in c.parameters():
            torch.nn.init.normal_(p, std=0.02)
        clips.append(c.eval().requires_grad_(False))
    e4e = PSP(Encoder4Editing(size), g_a, torch.zeros(1, 512), "e4e").eval().requires_grad_(False)
    ref = torch.randn(1, 3, 224, 224)
    means = [torch.zeros(512), torch.zeros(512)]
    (tmp / "art.png").write_bytes(b"")
    # window 0 would switch L_scc's ramp on at once; window 1 with 3 iterations times the same work
    opts = Options(target=str(tmp / "art.png"), out=str(tmp / "run"), iters=3, window=1, sample_every=0)
    times: list[float] = []
    last = [time.perf_counter()]

    def tick(i: int, n: int, m: dict) -> None:
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        train(opts, g_a, e4e.encode, clips, reference=ref, source_means=means, progress=tick)
    per_iter = float(np.median(times[1:]))  # the first includes warm-up costs
    flops = counter.get_total_flops() / opts.iters  # includes the 4096-sample mean w (small) once
    print(f"DiFa, one iteration at {size} px (batch 2, 2 CLIPs, e4e, fwd+bwd+Adam): {per_iter:.2f} s, "
          f"{flops / 1e9:.0f} GFLOP counted (torch FlopCounterMode)")
    return per_iter, flops


def generator_flops(size: int) -> float:
    """FLOPs of one config-f synthesis pass at ``size`` for one sample, counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    g = Generator(size).eval().requires_grad_(False)
    w = torch.zeros(1, g.n_latent, 512)
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        g.synthesis(w)
    return float(counter.get_total_flops())


def main() -> None:
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=256, help="generator size for the DiFa iteration")
    parser.add_argument("--gen-size", type=int, default=1024, help="generator size for GAN stylise")
    parser.add_argument("--skip-difa", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads")
    bench_lite(args.repeats)
    bench_gan(args.gen_size, args.repeats)
    if args.skip_difa:
        return
    with tempfile.TemporaryDirectory() as tmp:
        per_iter, flops = bench_difa(args.size, Path(tmp))
    # 1024 px: the generator part grows (per iteration: G_A fwd x2 samples, G_B fwd + bwd (~2x fwd) x2 samples,
    # i.e. 8 sample-passes); CLIP and e4e see 224/256 px inputs whatever the generator size
    gen_extra = 8 * (generator_flops(1024) - generator_flops(args.size))
    flops_1024 = flops + gen_extra
    cpu_rate = flops / per_iter
    print(f"  at 1024 px: ~{flops_1024 / 1e9:.0f} GFLOP per iteration; this CPU sustained {cpu_rate / 1e9:.0f} "
          f"GFLOP/s on the {args.size} px iteration -> full recipe (301 iterations) "
          f"~{flops_1024 / cpu_rate * 301 / 3600:.1f} h here (extrapolated)")
    for tflops in (10, 25, 50):  # plausible sustained fp32/TF32 rates of one H100 at batch 2 (assumed)
        t = flops_1024 / (tflops * 1e12)
        print(f"  GPU ESTIMATE (not measured) at {tflops} TFLOP/s sustained: {t:.2f} s per iteration, "
              f"{t * 301 / 60:.1f} min for 301 iterations (+ mu_A: 1000 samples)")


if __name__ == "__main__":
    main()
