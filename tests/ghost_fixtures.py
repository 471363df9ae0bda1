"""Seeded GHOST-layout weights and inputs, shared by the FaceShifter tests and the reference recipe
(tests/data/ghost/README.md): the same seeds give the same tensors on any machine."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from tests.layouts import random_state_dict

DATA = Path(__file__).parent / "data" / "ghost"
#: layout file of each published generator variant (num_blocks → name)
G_LAYOUTS = {1: "G_unet_1block", 2: "G_unet_2blocks", 3: "G_unet_3blocks"}
#: weight seed of each variant, and of the ArcFace backbone
G_SEEDS = {1: 1901, 2: 1902, 3: 1903}
ARCFACE_SEED = 1904
#: input seed (X_t, z_id, the 224 identity crops)
INPUT_SEED = 19


def arcface_scale(name: str, shape: tuple[int, ...] = ()) -> float:
    """Recipe scale for the IResNet-100 layout: the last BN of each residual branch (``bn3``) at 0.2, so the
    49 residual sums stay O(10) instead of growing by √2 per block; every other entry 1 (with ``fan_in``)."""
    return 0.2 if name.endswith("bn3.weight") else 1.0


def ghost_generator_state(num_blocks: int) -> dict[str, torch.Tensor]:
    """Seeded random state dict of ``G_unet_{n}block(s).pth`` (recipe of tests/layouts.py, ``fan_in=True``)."""
    return random_state_dict(DATA / f"{G_LAYOUTS[num_blocks]}.json", seed=G_SEEDS[num_blocks], fan_in=True)


def arcface_state() -> dict[str, torch.Tensor]:
    """Seeded random state dict of GHOST's ``backbone.pth`` (IResNet-100)."""
    return random_state_dict(
        DATA / "arcface_backbone.json", seed=ARCFACE_SEED, scale=arcface_scale, fan_in=True
    )


def reference_inputs() -> dict[str, torch.Tensor]:
    """``x_t`` [1, 3, 256, 256] uniform in [-1, 1], ``z_id`` [1, 512] standard normal (raw embeddings have
    entries of about that size), ``crops`` [2, 3, 224, 224] uniform in [-1, 1] for the identity branch."""
    g = torch.Generator().manual_seed(INPUT_SEED)
    x_t = torch.rand(1, 3, 256, 256, generator=g) * 2 - 1
    z_id = torch.randn(1, 512, generator=g)
    crops = torch.rand(2, 3, 224, 224, generator=g) * 2 - 1
    return {"x_t": x_t, "z_id": z_id, "crops": crops}


def subsample(t: torch.Tensor, budget: int = 4096) -> torch.Tensor:
    """A fixed strided subset of ``t`` [N, C, H, W] of at most about ``budget`` values: the first channels up
    to 16 and a spatial stride that keeps the rest within the budget."""
    c = min(t.shape[1], 16)
    per = max(budget // c, 1)
    stride = max(1, math.ceil(math.sqrt(t.shape[2] * t.shape[3] / per)))
    return t[:, :c, ::stride, ::stride].contiguous()


def summary(t: torch.Tensor) -> torch.Tensor:
    """Mean, standard deviation and mean absolute value of a whole tensor (float64), ``[3]``."""
    t = t.double()
    return torch.stack((t.mean(), t.std(), t.abs().mean()))


def tiny_generator_state(num_blocks: int = 2, channel_div: int = 16, seed: int = 1905) -> dict[str, torch.Tensor]:
    """Seeded AEI-Net state dict with GHOST's key names at 1/``channel_div`` width (c_id stays 512, so GHOST's
    ArcFace layout feeds it): what the app-level tests run instead of the 700 MB generator."""
    from faceedit.models.aei_net import AEINet

    torch.manual_seed(seed)
    return AEINet(num_blocks=num_blocks, channel_div=channel_div).state_dict()


def tiny_nets(num_blocks: int = 2):
    """:class:`~faceedit.editors.faceshifter.FaceShifterNets` of the tiny generator (loaded strictly into its
    width) and the full-size seeded ArcFace layout."""
    from faceedit.editors.faceshifter import FaceShifterNets
    from faceedit.models import load_strict
    from faceedit.models.aei_net import AEINet
    from faceedit.models.arcface import load_arcface

    generator = AEINet(num_blocks=num_blocks, channel_div=16)
    load_strict(generator, tiny_generator_state(num_blocks), "tiny AEI-Net")
    return FaceShifterNets(generator.eval().requires_grad_(False), load_arcface(arcface_state()))
