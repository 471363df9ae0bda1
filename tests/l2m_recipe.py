"""Seeded random weights in the official L2M-GAN layouts (shared by the parity tests and their README recipe).

``he_weights`` replicates the official ``core/utils.py`` ``he_init`` exactly: after ``torch.manual_seed(seed)``,
one ``normal_(0, sqrt(2 / fan_in))`` per Conv2d/Linear weight in state-dict order (which is the order
``module.apply`` visits the leaf layers), biases 0, norm layers at their defaults.  ``perturb`` then gives the
parameters that He init leaves constant (biases, norm affine, BN statistics) seeded random values, so the parity
checks also see them.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch

LAYOUTS = Path(__file__).resolve().parent / "data" / "official-layouts" / "l2m"

#: (layout file, He seed, perturbation seed) of each network of the parity data.
SEEDS = {
    "generator": ("generator.json", 1, 101),
    "generator_whpf0": ("generator_whpf0.json", 2, 102),
    "style_encoder": ("style_encoder.json", 3, 103),
    "discriminator": ("discriminator.json", 4, 104),
    "fan": ("fan_keys.json", 5, 105),
}


def layout(name: str, layouts: Path = LAYOUTS) -> list[dict]:
    """The official key/shape/dtype listing of one network."""
    return json.loads((layouts / SEEDS[name][0]).read_text())


def he_weights(entries: list[dict], seed: int) -> dict[str, torch.Tensor]:
    """State dict as the official ``he_init`` leaves it after ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for e in entries:
        name, shape = e["name"], e["shape"]
        if e["dtype"] == "int64":
            out[name] = torch.zeros(shape, dtype=torch.int64)
        elif name.endswith(".weight") and len(shape) in (2, 4):
            fan_in = math.prod(shape[1:])
            out[name] = torch.empty(shape).normal_(0.0, math.sqrt(2.0) / math.sqrt(fan_in))
        elif name.endswith(("running_var", ".weight")):
            out[name] = torch.ones(shape)
        else:
            out[name] = torch.zeros(shape)
    return out


def perturb(sd: dict[str, torch.Tensor], seed: int) -> dict[str, torch.Tensor]:
    """Seeded values for biases (0.1 N), norm weights (1 + 0.1 N), BN means (0.1 N) and variances (U[0.5, 1.5])."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, t in sd.items():
        if t.dtype == torch.int64 or t.ndim != 1:
            out[name] = t.clone()
        elif name.endswith("running_var"):
            out[name] = 0.5 + torch.rand(t.shape, generator=g)
        elif name.endswith(".weight"):
            out[name] = 1.0 + 0.1 * torch.randn(t.shape, generator=g)
        else:
            out[name] = 0.1 * torch.randn(t.shape, generator=g)
    return out


def weights(name: str, layouts: Path = LAYOUTS) -> dict[str, torch.Tensor]:
    """He init (official recipe) then :func:`perturb`, for one of :data:`SEEDS`."""
    _, he_seed, p_seed = SEEDS[name]
    return perturb(he_weights(layout(name, layouts), he_seed), p_seed)


def inputs(seed: int = 10) -> dict[str, torch.Tensor]:
    """Two smooth-plus-noise uint8 RGB images (256²) and two soft uint8 masks."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(2, 3, 16, 16, generator=g)
    img = torch.nn.functional.interpolate(low, size=256, mode="bilinear", align_corners=False)
    img = (img * 0.8 + 0.2 * torch.rand(2, 3, 256, 256, generator=g)) * 255
    low_m = torch.rand(2, 1, 8, 8, generator=g)
    masks = torch.nn.functional.interpolate(low_m, size=256, mode="bilinear", align_corners=False) * 255
    return {"x": img.round().to(torch.uint8), "masks": masks.round().to(torch.uint8)}


def synthetic_heatmaps(seed: int = 11) -> torch.Tensor:
    """98 Gaussian landmark blobs on a 64x64 grid, [1, 98, 64, 64], rounded to float16 values (exact everywhere)."""
    g = torch.Generator().manual_seed(seed)
    centre = 12 + 40 * torch.rand(98, 2, generator=g)
    amp = 0.3 + 0.7 * torch.rand(98, generator=g)
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    d2 = (xx[None] - centre[:, 0, None, None]) ** 2 + (yy[None] - centre[:, 1, None, None]) ** 2
    return (amp[:, None, None] * torch.exp(-d2 / (2 * 2.0**2)))[None].half()
