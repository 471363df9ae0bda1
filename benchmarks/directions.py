"""Timings of the directions module: boundary training, slider edits, projection, landmark scorers.

Run: ``python benchmarks/directions.py`` (CPU; set ``torch.set_num_threads`` with ``--threads``).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import mean_time  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from skimage import data

    from faceedit.directions import Direction, DirectionLibrary, project_boundary, train_boundary
    from faceedit.scorers import smile_score

    rng = np.random.default_rng(0)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for n, dim in [(10000, 512), (50000, 512)]:
        truth = rng.standard_normal(dim)
        truth /= np.linalg.norm(truth)
        x = rng.standard_normal((n, dim)).astype(np.float32)
        s = x @ truth + 0.1 * rng.standard_normal(n)
        t0 = time.perf_counter()
        r = train_boundary(x, s)
        dt = time.perf_counter() - t0
        print(f"train_boundary N={n} dim={dim}: {dt:.2f} s, val acc {r.accuracy:.3f}, cos {r.normal[0] @ truth:.3f}")

    dirs = [Direction(name=f"d{i}", vector=rng.standard_normal((1, 512)), layers=(0, 8) if i else None) for i in range(3)]
    lib = DirectionLibrary(dirs)
    for batch in (1, 8):
        w = torch.randn(batch, 18, 512)
        dt = mean_time(lambda w=w: lib.apply(w, {"d0": 1.0, "d1": -2.0, "d2": 0.5}), 200)
        print(f"DirectionLibrary.apply, 3 directions, batch {batch}: {dt * 1e6:.0f} us")
    n1, conds = rng.standard_normal((1, 512)), [rng.standard_normal((1, 512)) for _ in range(3)]
    for k in (1, 2, 3):
        dt = mean_time(lambda k=k: project_boundary(n1, *conds[:k]), 200)
        print(f"project_boundary, {k} condition(s): {dt * 1e6:.0f} us")
    img = np.ascontiguousarray(data.astronaut())
    for side in (256, 512, 1024):
        import cv2

        im = cv2.resize(img, (side, side))
        dt = mean_time(lambda im=im: smile_score(im), 5)
        print(f"smile_score on {side}x{side}: {dt * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
