"""Forward time of every network on a GPU (fp32 and fp16/bf16 autocast) and the 1024 px slider latency.

    PYTHONPATH=. python benchmarks/gpu.py [--device cuda] [--dtypes float32 float16 bfloat16] [--repeats 20]
        [--out gpu-benchmark.md] [--tiny]

Networks at their published sizes, batch 1, ``torch.inference_mode()``: StyleGAN2 generator 1024² config-f
(W+ → image), pSp GradualStyleEncoder and e4e Encoder4Editing (256² → 18×512), BiSeNet (512², main head +
argmax), Gu et al.'s mask-guided G (256²), L2M-GAN generator (256², with masks).  The slider row is what
one slider move costs: W+ moved along a direction, one generator pass at 1024², the image as uint8 on the
host.  Weights are **synthetic**: seeded random values in each network's official layout (the published
checkpoints have the same shapes, so the same cost); nothing is downloaded.  Each cell is the median (min)
of ``--repeats`` runs after ``--warmup`` runs, timed with CUDA events after a synchronize on a GPU (perf_counter
on the CPU).  fp16/bf16 are ``torch.autocast`` over the fp32 weights (what the app would switch on).

``--device cpu --tiny`` runs the same code on small inputs and narrow networks (the encoders stay at 256²), so a test keeps
this script working on machines without a GPU; its figures mean nothing.  New networks (AEI-Net, CLIP, ...)
plug in as one more entry in :func:`cases`.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from faceedit.models import bisenet, encoders, l2m, mask_guided, stylegan2  # noqa: E402

SEED = 1234


@dataclass
class Case:
    """One timed row: a name, what its input is, and a builder returning the call to time (on the device)."""

    name: str
    shape: str
    build: Callable[[torch.device], Callable[[], object]]


def randomize(module: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Seeded random values for every float tensor of the state dict, scaled so activations stay finite."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, value in module.state_dict().items():
            if not value.is_floating_point():
                continue
            r = torch.randn(value.shape, generator=g)
            if key.endswith("running_var"):
                r = r.abs() + 0.5
            elif value.ndim >= 2 and value[0].numel() > 1:
                r = r / value[0].numel() ** 0.5
            value.copy_(r)
    return module.eval().requires_grad_(False)


def _rand(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def cases(tiny: bool) -> list[Case]:
    """The networks to time (``tiny``: small inputs and narrow networks, for the CPU test only)."""
    gan_size, cm = (64, 1) if tiny else (1024, 2)
    enc_px = 256  # the encoders accept 256² only
    parse_px, mg_px, l2m_px = (64, 64, 64) if tiny else (512, 256, 256)
    mg_ngf = 8 if tiny else 64

    def generator(dev: torch.device) -> tuple[stylegan2.Generator, torch.Tensor]:
        g = randomize(stylegan2.Generator(gan_size, channel_multiplier=cm), SEED).to(dev)
        w = torch.randn(1, g.n_latent, g.style_dim, generator=torch.Generator().manual_seed(0)).to(dev)
        return g, w

    def synthesis(dev: torch.device) -> Callable[[], object]:
        g, w = generator(dev)
        return lambda: g.synthesis(w)

    def slider(dev: torch.device) -> Callable[[], object]:
        g, w = generator(dev)
        direction = torch.nn.functional.normalize(torch.randn(1, 1, g.style_dim), dim=-1).to(dev)

        def move() -> object:
            img = g.synthesis(w + 1.5 * direction)
            return ((img.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu()

        return move

    def psp(dev: torch.device) -> Callable[[], object]:
        net, x = randomize(encoders.GradualStyleEncoder(3, 18), SEED).to(dev), _rand(1, 3, enc_px, enc_px).to(dev)
        return lambda: net(x)

    def e4e(dev: torch.device) -> Callable[[], object]:
        net, x = randomize(encoders.Encoder4Editing(1024), SEED).to(dev), _rand(1, 3, enc_px, enc_px).to(dev)
        return lambda: net(x)

    def parser(dev: torch.device) -> Callable[[], object]:
        net, x = randomize(bisenet.BiSeNet(), SEED).to(dev), _rand(1, 3, parse_px, parse_px).to(dev)
        return lambda: net.parse_logits(x).argmax(1)

    def mask_g(dev: torch.device) -> Callable[[], object]:
        net = randomize(mask_guided.Generator(ngf=mg_ngf, embed_nc=mg_ngf * 4 * len(mask_guided.COMPONENTS)), SEED)
        net = net.to(dev)
        labels = torch.randint(0, mask_guided.NUM_CLASSES, (1, mg_px, mg_px), generator=torch.Generator().manual_seed(0))
        one_hot = mask_guided.one_hot(labels).to(dev)
        placed = {c: _rand(1, mg_ngf * 4, mg_px // 4, mg_px // 4, seed=i).to(dev)
                  for i, c in enumerate(mask_guided.COMPONENTS)}
        background, bg_mask = _rand(1, 3, mg_px, mg_px).to(dev), (labels == 0).float()[:, None].to(dev)
        return lambda: net(one_hot, placed, background, bg_mask)

    def l2m_g(dev: torch.device) -> Callable[[], object]:
        kwargs = {"base_dim": 16} if tiny else {}
        net = randomize(l2m.Generator(l2m_px, 64, 64 if tiny else 512, w_hpf=1, **kwargs), SEED).to(dev)
        x, s = _rand(1, 3, l2m_px, l2m_px).to(dev), torch.randn(1, 64).to(dev)
        masks = tuple(torch.rand(1, 1, l2m_px // 4, l2m_px // 4).to(dev) for _ in range(2))
        return lambda: net(x, s, masks)

    return [
        Case(f"StyleGAN2 generator {gan_size}² cm{cm}, W+ → image", f"1×{2 * gan_size.bit_length() - 4}×512",
             synthesis),
        Case(f"pSp GradualStyleEncoder {enc_px}²", f"1×3×{enc_px}²", psp),
        Case(f"e4e Encoder4Editing {enc_px}²", f"1×3×{enc_px}²", e4e),
        Case(f"BiSeNet parser {parse_px}² (+ argmax)", f"1×3×{parse_px}²", parser),
        Case(f"mask-guided G (Gu et al.) {mg_px}²", f"1×11×{mg_px}² + features", mask_g),
        Case(f"L2M-GAN generator {l2m_px}², with masks", f"1×3×{l2m_px}² + style", l2m_g),
        Case(f"slider move at {gan_size}²: W+ + direction → image → uint8 on host", "cached W+", slider),
    ]


def time_call(fn: Callable[[], object], dev: torch.device, repeats: int, warmup: int) -> tuple[float, float]:
    """Median and min milliseconds of ``fn`` (CUDA events around each call on a GPU)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize(dev)
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), min(times)


def run(args: argparse.Namespace) -> str:
    """Time every case in every dtype; return the markdown table (with a header saying how it was taken)."""
    dev = torch.device(args.device)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda but torch sees no CUDA device; use --device cpu for a dry run.")
        where = f"{torch.cuda.get_device_name(dev)}, CUDA {torch.version.cuda}"
        torch.backends.cudnn.benchmark = True
    else:
        where = f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    header = [
        f"GPU benchmark: {where}, torch {torch.__version__}, "
        f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC{', TINY sizes (dry run)' if args.tiny else ''}",
        "",
        f"Batch 1, inference mode, synthetic seeded random weights in the official layouts; median (min) ms of "
        f"{args.repeats} runs after {args.warmup} warm-up runs; fp16/bf16 = autocast over fp32 weights.",
        "",
        "| network | input | " + " | ".join(f"{d} ms" for d in args.dtypes) + " |",
        "|---|---|" + "---:|" * len(args.dtypes),
    ]
    rows = []
    for case in cases(args.tiny):
        if args.only and not any(o.lower() in case.name.lower() for o in args.only):
            continue
        fn = case.build(dev)
        cells = []
        for name in args.dtypes:
            dtype = getattr(torch, name)
            try:
                with torch.inference_mode(), torch.autocast(dev.type, dtype=dtype, enabled=dtype != torch.float32):
                    med, low = time_call(fn, dev, args.repeats, args.warmup)
                cells.append(f"{med:.1f} ({low:.1f})")
            except (RuntimeError, NotImplementedError) as err:  # an op without a kernel for this dtype
                cells.append(f"failed: {str(err).splitlines()[0][:60]}")
        rows.append(f"| {case.name} | {case.shape} | " + " | ".join(cells) + " |")
        print(rows[-1], flush=True)
        del fn
        if dev.type == "cuda":
            torch.cuda.empty_cache()
    return "\n".join(header + rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    p.add_argument("--dtypes", nargs="+", default=None, choices=("float32", "float16", "bfloat16"),
                   help="default: float32 float16 bfloat16 on a GPU, float32 bfloat16 on the CPU")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (CPU runs)")
    p.add_argument("--tiny", action="store_true", help="small inputs and narrow networks (a dry run for tests)")
    p.add_argument("--only", nargs="*", default=None, help="only rows whose name contains one of these words")
    p.add_argument("--out", default="gpu-benchmark.md", help="markdown file to write (default gpu-benchmark.md)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.dtypes is None:
        args.dtypes = ["float32", "float16", "bfloat16"] if args.device.startswith("cuda") else ["float32", "bfloat16"]
    table = run(args)
    Path(args.out).write_text(table)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
