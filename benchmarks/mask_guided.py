"""Benchmark: seconds per mask edit of the Gu et al. 2019 generator at 256x256, batch 1.

Three paths, same outputs (max abs difference printed):
  official  - what the authors' ``inference`` runs per edit: 5 encoders, 5 feature decoders, G twice
              (style reconstruction and edit), background encoder twice;
  edit      - ``MaskGuidedEditor.edit``: encoders + decoders, G once;
  prepared  - the app path: the style face prepared once (``prepare_face``) (features, background features, the
              components' share of G's first conv cached), then ``generate_prepared(model, prepared, target)`` = one G pass
              on G's inference copy (BatchNorm folded into the convs, residual 3x3 convs as Winograd F(2x2, 3x3));
  stroke    - the app path for a 12x12 px brush stroke after a previous edit: only each layer's affected
              rectangle is recomputed (IncrementalGenerator).

Run: ``python benchmarks/mask_guided.py [--threads 2] [--repeats 5]``.  Random weights (timing does not
depend on their values); wall-clock and process CPU time, minimum over the repeats.
"""

from __future__ import annotations

import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import min_wall_cpu, threads_and_repeats  # noqa: E402
from faceedit import mask_guided_official as mgo  # noqa: E402
from faceedit.editors.mask_guided import generate_prepared, prepare_face  # noqa: E402


def _face(seed: int) -> tuple[np.ndarray, np.ndarray]:
    y, x = np.mgrid[0:256, 0:256]
    lab = np.zeros((256, 256), np.uint8)
    lab[((y - 110) / 110) ** 2 + ((x - 128) / 92) ** 2 <= 1] = 10
    lab[((y - 140) / 100) ** 2 + ((x - 128) / 74) ** 2 <= 1] = 1
    for cls, cx in ((4, 97), (5, 159)):
        lab[((y - 112) / 7) ** 2 + ((x - cx) / 13) ** 2 <= 1] = cls
    lab[((y - 178) / 8) ** 2 + ((x - 128) / 30) ** 2 <= 1] = 7
    img = np.random.default_rng(seed).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    return img, lab


def main() -> None:
    args = threads_and_repeats(__doc__.splitlines()[0])
    torch.manual_seed(0)
    model = mgo.MaskGuidedEditor(with_image_decoders=False, with_parser=False).eval().requires_grad_(False)
    image, labels = _face(0)
    target = labels.copy()
    target[target == 4] = 1
    target[((np.mgrid[0:256, 0:256][0] - 108) / 9) ** 2 + ((np.mgrid[0:256, 0:256][1] - 95) / 15) ** 2 <= 1] = 4

    def official() -> torch.Tensor:
        feats = model.encode(image, labels)
        model.generate(feats, labels, image)  # the official inference also reconstructs the style face
        return model.generate(feats, target, image)

    prepared = prepare_face(model, image, labels)

    def full_pass() -> torch.Tensor:
        prepared.incremental = None  # forget the kept activations: one whole G pass
        return generate_prepared(model, prepared, target)

    stroke = target.copy()
    stroke[150:162, 60:72] = 10  # a 12x12 px brush stroke of hair on the cheek
    flip = [target, stroke]

    def brush() -> torch.Tensor:  # alternate between the two maps: each call is an incremental edit
        flip.reverse()
        return generate_prepared(model, prepared, flip[0])

    paths = {
        "official": official,
        "edit": lambda: model.edit(image, labels, target),
        "prepared": full_pass,
        "stroke": brush,
    }
    outs = {name: fn() for name, fn in paths.items()}  # warm-up and outputs
    outs["stroke"] = brush()  # the stroke path's output for `target`, compared below
    print(f"torch {torch.__version__}, {args.threads} threads, batch 1, 256x256, {platform.processor() or platform.machine()}")
    for name, fn in paths.items():
        wall, cpu = min_wall_cpu(fn, args.repeats)
        diff = (outs[name] - outs["official"]).abs().max().item()
        print(f"{name:9s} wall {wall:6.3f} s   cpu {cpu:6.3f} s   max|out - official| {diff:.1e}")
    t0 = time.perf_counter()
    prepare_face(model, image, labels)
    print(f"prepare (once per face) wall {time.perf_counter() - t0:.3f} s")


if __name__ == "__main__":
    main()
