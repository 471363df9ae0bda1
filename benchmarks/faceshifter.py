"""Benchmark: FaceShifter AEI-Net (GHOST layout) forward at 256x256, batch 1, on the CPU: faceedit vs the official code.

Paths, all on the same seeded weights in GHOST's layout (tests/ghost_fixtures.py), outputs compared to the official:
  official  - ai-forever/ghost ``network/AEI_Net.py`` (``--official DIR``: a checkout of ai-forever/ghost @ ea23cce;
              never bundled), ``AEI_Net("unet", num_blocks=n, c_id=512)``, eval, no_grad;
  faceedit  - :class:`faceedit.models.aei_net.AEINet` as loaded (inference mode);
  fused     - :func:`faceedit.models.aei_net.fuse_for_inference`: BatchNorm folded into the encoder's convs, each
              AAD layer's γ/β convs merged into one, the AAD arithmetic in fewer passes (what the app runs).

Run: ``python benchmarks/faceshifter.py --official /path/to/ghost [--blocks 2] [--threads 2] [--repeats 5]``.
Interleaved timing (median and min wall seconds per forward); the ratio is official / faceedit-path, taken in one run.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.networks import _import_official, bench  # noqa: E402
from faceedit.models.aei_net import fuse_for_inference, load_aei_net  # noqa: E402
from tests import ghost_fixtures as GF  # noqa: E402


def run(n: int, official_dir: str, repeats: int) -> None:
    """Time and compare the paths for the ``n``-block generator; print one table row per path."""
    inp = GF.reference_inputs()
    x_t, z_id = inp["x_t"], inp["z_id"]
    state = GF.ghost_generator_state(n)
    ours = load_aei_net(state)
    fused = fuse_for_inference(ours)
    fns = {"faceedit": lambda: ours(x_t, z_id)[0], "fused": lambda: fused(x_t, z_id)[0]}
    if official_dir:
        theirs = _import_official(official_dir, "network.AEI_Net").AEI_Net("unet", num_blocks=n, c_id=512)
        theirs.load_state_dict(state, strict=True)
        theirs.eval()
        fns = {"official": lambda: theirs(x_t, z_id)[0], **fns}
    del state
    with torch.inference_mode():  # the official path runs under it too (GHOST uses no_grad: same kernels)
        res = bench(fns, repeats, "cpu")
        outs = {k: fn() for k, fn in fns.items()}
    ref = outs.get("official")
    for name, (median, best) in res.items():
        ratio = (
            f"{res['official'][0] / median:.2f}× ({res['official'][1] / best:.2f}×)"
            if ref is not None
            else "–"
        )
        diff = f"{(outs[name] - ref).abs().max().item():.1e}" if ref is not None else "–"
        print(
            f"| {n}-block | {name} | {median * 1000:.0f} ({best * 1000:.0f}) | {ratio} | {diff} |", flush=True
        )


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--official", default="", help="checkout of ai-forever/ghost (for the official path)")
    p.add_argument("--blocks", type=int, nargs="*", default=[2], choices=[1, 2, 3])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, batch 1, 256x256, {platform.processor() or platform.machine()}"
    )
    print("| AEI-Net | path | median ms (min) | official / path: median (min) | max abs diff to official |")
    print("| --- | --- | --- | --- | --- |")
    for n in args.blocks:
        run(n, args.official, args.repeats)


if __name__ == "__main__":
    main()
