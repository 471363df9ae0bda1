"""Time faceedit's StyleGAN2 generator and pSp / e4e encoders, optionally against the official code.

    python benchmarks/networks.py [--threads 2] [--repeats 5] [--sizes 256 1024]
        [--official-stylegan2 DIR] [--official-psp DIR] [--official-e4e DIR] [--device cpu|cuda] [--dtype ...]

``--official-*`` point at checkouts of rosinality/stylegan2-pytorch @ bef283a, eladrich/pixel2style2pixel @ 5cfff385
and omertov/encoder4editing @ 99ea5057 whose compiled ops were replaced by their native CPU versions (see
tests/data/*/README.md). Both sides get identical weights (ours → ``load_state_dict`` into theirs) and inputs;
the max abs difference of their outputs is printed beside the timings. Batch 1, inference mode, constant noise.
Timings are the median (and min) of interleaved runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from collections.abc import Callable

import torch

from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder
from faceedit.models.encoders_fast import fast_encoder
from faceedit.models.stylegan2 import Generator

CPU_TIME = False


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def bench(fns: dict[str, Callable[[], torch.Tensor]], repeats: int, device: str) -> dict[str, tuple[float, float]]:
    """Interleaved timing: {name: (median s, min s)} of wall time, or of process CPU time with --cpu-time."""
    clock = time.process_time if CPU_TIME else time.perf_counter
    times: dict[str, list[float]] = {k: [] for k in fns}
    for fn in fns.values():  # warm-up
        fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            _sync(device)
            t0 = clock()
            fn()
            _sync(device)
            times[name].append(clock() - t0)
    return {k: (statistics.median(v), min(v)) for k, v in times.items()}


def _bench_and_compare(fns: dict[str, Callable[[], torch.Tensor]], repeats: int,
                       device: str) -> tuple[dict[str, tuple[float, float]], str]:
    """:func:`bench` under inference mode, plus the max abs (and relative) difference faceedit vs official."""
    with torch.inference_mode():
        res = bench(fns, repeats, device)
        diff = ""
        if "official" in fns:
            a, b = fns["faceedit"]().float(), fns["official"]().float()
            diff = f"{(a - b).abs().max().item():.2e} (rel {((a - b).abs().max() / b.abs().max()).item():.1e})"
    return res, diff


def _import_official(path: str, module: str):
    for name in [m for m in sys.modules if m in ("model", "op", "models", "configs") or m.split(".")[0] in
                 ("op", "models", "configs")]:
        del sys.modules[name]
    sys.path.insert(0, path)
    try:
        return __import__(module, fromlist=["*"])
    finally:
        sys.path.remove(path)


def _randomize(module: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, v in module.state_dict().items():
            if v.is_floating_point():
                r = torch.randn(v.shape, generator=g)
                if k.endswith("running_var"):
                    r = r.abs() + 0.5
                elif v.ndim >= 2 and not k.startswith("style.") and "conv.weight" not in k and "linear" not in k:
                    r = r / max(1.0, v[0].numel()) ** 0.5
                v.copy_(r)


def run_generator(size: int, args, rows: list[str]) -> None:
    dev, dtype = args.device, getattr(torch, args.dtype)
    ours = Generator(size).eval().requires_grad_(False)
    _randomize(ours, size)
    ours = ours.to(dev, dtype)
    w = torch.randn(1, ours.n_latent, 512, generator=torch.Generator().manual_seed(0)).to(dev, dtype)
    fns = {"faceedit": lambda: ours.synthesis(w)}
    if args.official_stylegan2:
        official = _import_official(args.official_stylegan2, "model")
        theirs = official.Generator(size, 512, 8, channel_multiplier=2).eval().requires_grad_(False)
        theirs.load_state_dict(ours.state_dict())
        theirs = theirs.to(dev, dtype)
        fns["official"] = lambda: theirs([w], input_is_latent=True, randomize_noise=False)[0]
    res, diff = _bench_and_compare(fns, args.repeats, dev)
    _report(f"StyleGAN2 generator {size}² cm2 (W+ → image)", res, diff, rows)


def run_encoder(kind: str, args, rows: list[str]) -> None:
    dev, dtype = args.device, getattr(torch, args.dtype)
    ours = (GradualStyleEncoder(3, 18) if kind == "psp" else Encoder4Editing(1024)).eval().requires_grad_(False)
    _randomize(ours, 3)
    ours = ours.to(dev, dtype)
    x = (torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0)) * 2 - 1).to(dev, dtype)
    fns = {"faceedit": lambda: ours(x)}
    if dev == "cpu" and args.dtype == "float32":  # the runtime PSP.encode uses there (encoders_fast)
        fast = fast_encoder(ours)
        fns["faceedit fast"] = lambda: fast(x)
    path = args.official_psp if kind == "psp" else args.official_e4e
    if path:
        mod = _import_official(path, "models.encoders.psp_encoders")
        if kind == "psp":
            theirs = mod.GradualStyleEncoder(50, "ir_se", argparse.Namespace(input_nc=3, n_styles=18))
        else:
            theirs = mod.Encoder4Editing(50, "ir_se", argparse.Namespace(stylegan_size=1024))
        theirs.load_state_dict(ours.state_dict())
        theirs = theirs.eval().requires_grad_(False).to(dev, dtype)
        fns["official"] = lambda: theirs(x)
    res, diff = _bench_and_compare(fns, args.repeats, dev)
    title = f"{'pSp GradualStyleEncoder' if kind == 'psp' else 'e4e Encoder4Editing'} 256² → 18×512"
    _report(f"{title}, modules", res, diff, rows)
    if "faceedit fast" in res:
        with torch.inference_mode():
            a, b = fns["faceedit fast"](), fns.get("official", fns["faceedit"])()
        fast_diff = f"{(a - b).abs().max().item():.2e} (rel {((a - b).abs().max() / b.abs().max()).item():.1e})"
        _report(f"{title}, fast runtime (`PSP.encode` on CPU)", {**res, "faceedit": res["faceedit fast"]},
                fast_diff, rows)


def _report(title: str, res: dict[str, tuple[float, float]], diff: str, rows: list[str]) -> None:
    ours = res["faceedit"]
    theirs = res.get("official")
    speed = f"{theirs[0] / ours[0]:.2f}×" if theirs else "–"
    off = f"{theirs[0] * 1000:.0f} ({theirs[1] * 1000:.0f})" if theirs else "–"
    row = f"| {title} | {ours[0] * 1000:.0f} ({ours[1] * 1000:.0f}) | {off} | {speed} | {diff or '–'} |"
    print(row, flush=True)
    rows.append(row)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--sizes", type=int, nargs="*", default=[256, 1024])
    p.add_argument("--encoders", nargs="*", default=["psp", "e4e"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--official-stylegan2")
    p.add_argument("--official-psp")
    p.add_argument("--official-e4e")
    p.add_argument("--cpu-time", action="store_true", help="time process CPU seconds (robust on a shared machine)")
    args = p.parse_args(argv)
    global CPU_TIME
    CPU_TIME = args.cpu_time
    torch.set_num_threads(args.threads)
    print(f"# torch {torch.__version__}, {platform.processor() or platform.machine()}, threads {args.threads}, "
          f"device {args.device}, {args.dtype}, batch 1, median (min) of {args.repeats} interleaved runs, "
          f"{'process CPU' if args.cpu_time else 'wall'} ms")
    print("| network | faceedit ms | official ms | speed-up | max abs diff |")
    print("|---|---|---|---|---|")
    rows: list[str] = []
    for size in args.sizes:
        run_generator(size, args, rows)
    for kind in args.encoders:
        run_encoder(kind, args, rows)


if __name__ == "__main__":
    main()
