"""BiSeNet face parser at 512×512, batch 1: faceedit's implementation vs the official code.

Usage: ``python benchmarks/bisenet.py [--official DIR] [--threads N] [--repeat N] [--device cpu|cuda]``.
``--official`` points at a checkout of zllrunning/face-parsing.PyTorch @ d2e684cf (patched to run without
torchvision and without downloading ImageNet weights, see tests/data/bisenet/README.md); it is optional.
Both run the same seeded random weights in the official layout; the script also reports the largest
difference between their logits and whether the label maps agree.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from faceedit.models.bisenet import BiSeNet, fold_batchnorm  # noqa: E402


def once(fn, x: torch.Tensor, sync) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one ``fn(x)`` under inference mode.

    CPU time (summed over this process's threads) is what the call costs; on a machine shared with other
    jobs it is far less noisy than wall-clock time.
    """
    with torch.inference_mode():
        t0, c0 = time.perf_counter(), time.process_time()
        fn(x)
        sync()
        return time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", type=Path, default=None)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)

    torch.manual_seed(0)
    ours = BiSeNet().eval().to(dev)
    for m in ours.modules():  # non-trivial BatchNorm statistics
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.randn(1, 3, 512, 512, generator=torch.Generator().manual_seed(1)).to(dev)
    print(f"torch {torch.__version__}, device {dev}, threads {args.threads}, batch 1, 512x512, repeat {args.repeat}")

    rows = []
    if args.official:
        sys.path.insert(0, str(args.official))
        from model import BiSeNet as Official  # type: ignore[import-not-found]

        official = Official(n_classes=19).eval().to(dev)
        official.load_state_dict(ours.state_dict(), strict=True)
        rows.append(("official forward() -> argmax of out[0]", lambda t: official(t)[0].argmax(1), x))
        with torch.inference_mode():
            ref = official(x)[0]
            got = ours.parse_logits(x)
        print(f"max |logits ours - official| = {(ref - got).abs().max().item():.2e}, "
              f"label maps equal: {bool((ref.argmax(1) == got.argmax(1)).all())}")
    rows.append(("faceedit forward() (all three heads)", lambda t: ours(t)[0].argmax(1), x))
    rows.append(("faceedit parse_logits() (main head only)", lambda t: ours.parse_logits(t).argmax(1), x))
    fused = fold_batchnorm(ours)
    x_nhwc = x.contiguous(memory_format=torch.channels_last)
    rows.append(("faceedit BiSeNetParser path (BN folded, NHWC)", lambda t: fused.parse_logits(t).argmax(1), x_nhwc))
    with torch.inference_mode():
        diff = (fused.parse_logits(x_nhwc) - ours.parse_logits(x)).abs().max().item()
    print(f"max |logits folded - unfolded| = {diff:.2e}")
    for _label, fn, inp in rows * 2:  # warm-up
        once(fn, inp, sync)
    # interleave the variants so that load from other processes spreads over all of them
    times: dict[str, list[tuple[float, float]]] = {label: [] for label, _, _ in rows}
    for _ in range(args.repeat):
        for label, fn, inp in rows:
            times[label].append(once(fn, inp, sync))
    print(f"{'variant':45s} {'wall median':>12s} {'wall min':>9s} {'CPU median':>11s} {'CPU min':>8s}  (ms)")
    for label, _, _ in rows:
        wall = [w for w, _ in times[label]]
        cpu = [c for _, c in times[label]]
        print(
            f"{label:45s} {statistics.median(wall) * 1000:12.0f} {min(wall) * 1000:9.0f} "
            f"{statistics.median(cpu) * 1000:11.0f} {min(cpu) * 1000:8.0f}"
        )


if __name__ == "__main__":
    main()
