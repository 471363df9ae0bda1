"""CPU timings of faceedit's L2M-GAN networks at the published size (256², style 64, w_hpf=1), batch 1.

    python benchmarks/l2m.py [--threads 2] [--repeats 5]

Random weights (timing does not depend on values). Per network: 1 warm-up, then the median of ``--repeats``
forwards under ``torch.inference_mode()``. Also times one slider move of :class:`L2MEditor` (generator only), and
the generator under bfloat16 autocast as the live slider preview runs it on a CPU with native bfloat16.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time, threads_and_repeats  # noqa: E402
from faceedit.editors.l2m import L2MEditor  # noqa: E402
from faceedit.models.l2m import Discriminator, Generator, L2MNets, StyleEncoder  # noqa: E402
from faceedit.models.wing import FAN  # noqa: E402


def _bf16(fn: Callable[[], torch.Tensor]) -> torch.Tensor:
    """``fn()`` as the slider preview runs it on a CPU with native bfloat16 (GanRuntime.run_preview)."""
    with torch.autocast("cpu", dtype=torch.bfloat16):
        return fn().float()


def cases() -> dict[str, Callable[[], object]]:
    """The forwards to time, with their inputs bound."""
    torch.manual_seed(0)
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    y = torch.tensor([0])
    masks = (torch.rand(1, 1, 256, 256), torch.rand(1, 1, 256, 256))
    s = torch.randn(1, 64)
    gen, gen0 = Generator(w_hpf=1).eval(), Generator(w_hpf=0).eval()
    enc, disc, fan = StyleEncoder().eval(), Discriminator().eval(), FAN().eval()
    editor = L2MEditor(L2MNets(gen, enc, fan=None, vgg=None), ("not_smiling", "smiling"))
    state = editor.encode(x, masks=masks)
    return {
        "StyleEncoder E(x, y, y_trg)": lambda: enc(x, y, 1 - y),
        "Generator w_hpf=1, masks=None": lambda: gen(x, s),
        "Generator w_hpf=1 with masks": lambda: gen(x, s, masks=masks),
        "  same, bfloat16 autocast (preview)": lambda: _bf16(lambda: gen(x, s, masks=masks)),
        "Generator w_hpf=0": lambda: gen0(x, s),
        "Discriminator": lambda: disc(x, y),
        "FAN get_heatmap (masks)": lambda: fan.get_heatmap(x),
        "L2MEditor slider move (render)": lambda: editor.render(state, 0.7),
    }


def main() -> None:
    args = threads_and_repeats(__doc__.splitlines()[0])
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, 256x256")
    for name, fn in cases().items():
        with torch.inference_mode():
            seconds = median_time(fn, args.repeats, warmup=True)
        print(f"{name:34s} {seconds:.3f} s")


if __name__ == "__main__":
    main()
