"""Timing of the editing engines (not a test): ``python benchmarks/engines.py [--gan-size 1024]``.

Lite engine: every operation on scikit-image's astronaut photo through a
:class:`~faceedit.session.Session` (aligned crop 512 px), median of ``--repeat`` runs.
GAN engine: a slider move is one generator pass from the cached W+; this times the
project's StyleGAN2 at ``--gan-size`` with seeded random weights (the published
FFHQ generator has the same architecture at 1024 px, channel multiplier 2), plus
the engine's blend and paste-back around it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._timing import median_time  # noqa: E402


def lite(repeat: int) -> list[tuple[str, float]]:
    """Median seconds of each lite operation."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    from faceedit.editors.composer import Composer
    from faceedit.editors.lite import lite_editors
    from faceedit.editors.lite_texture import dilate
    from faceedit.labels import COMPONENTS, INDEX
    from faceedit.session import Session

    lite = Composer(lite_editors())  # built once, as the app builds one per process

    photo = np.ascontiguousarray(data.astronaut())
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        reference = np.asarray(Image.open(f).convert("RGB")).copy()
    Session.from_photo(photo, engine="lite", composer=lite)  # warm MediaPipe up
    rows = [("open photo (detect, align 512, parse)", median_time(lambda: Session.from_photo(photo, engine="lite", composer=lite), repeat))]
    s = Session.from_photo(photo, engine="lite", composer=lite)
    for values in ({"smile": 2.0}, {"pose": 1.5}, {"pitch": -1.0}, {"age": 2.5}, {"age": -2.5},
                   {"smile": 1.5, "pose": -1.0, "age": 1.0}):
        label = "sliders " + ", ".join(f"{k}={v:g}" for k, v in values.items())
        rows.append((label, median_time(lambda v=values: s.set_attributes({**dict.fromkeys(s.values, 0.0), **v}), repeat)))
    s.set_attributes(dict.fromkeys(s.values, 0.0))
    lips = s.labels.copy()
    lips[dilate(np.isin(s.labels, COMPONENTS["mouth"]), 6) & (s.labels == INDEX["skin"])] = INDEX["l_lip"]
    hair = s.labels.copy()
    hair[dilate(s.labels == INDEX["hair"], 20) & (s.labels == INDEX["background"])] = INDEX["hair"]
    for label, new in (("mask edit: lips grown 6 px", lips), ("mask edit: hair grown 20 px", hair)):
        rows.append((label, median_time(lambda n=new: (s.edit_mask(n), s.undo()), repeat)))
    rows.append(("swap eyes+mouth (incl. aligning + parsing the reference)",
                 median_time(lambda: (s.swap(reference, ["eyes", "mouth"]), s.undo()), repeat)))
    return rows


def gan(size: int, repeat: int) -> list[tuple[str, float]]:
    """Median seconds of one generator pass (a slider move) at ``size``."""
    import torch

    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    g = Generator(size, style_dim=512, n_mlp=8, channel_multiplier=2).eval().requires_grad_(False)
    w = g.mean_latent(256).expand(1, g.n_latent, 512).clone()
    with torch.inference_mode():
        g.synthesis(w)
        t = median_time(lambda: g.synthesis(w), repeat)
    return [(f"GAN slider move: StyleGAN2 {size} px synthesis from cached W+ (fp32)", t)]


def main() -> None:
    import torch

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--gan-size", type=int, default=256)
    p.add_argument("--skip-gan", action="store_true")
    args = p.parse_args()
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch 1")
    rows = lite(args.repeat)
    if not args.skip_gan:
        rows += gan(args.gan_size, max(1, args.repeat // 2))
    for label, t in rows:
        print(f"| {label} | {t * 1000:.0f} ms |")


if __name__ == "__main__":
    main()
