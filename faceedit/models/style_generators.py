"""Art-domain StyleGAN2 generators (rosinality layout) under either published key convention.

* StyleGAN-NADA (Gal et al., SIGGRAPH 2022; rinongal/StyleGAN-nada) and DiFa (Zhang et al., NeurIPS 2022) save
  ``{"g_ema": state_dict, "g_optim": ...}``;
* JoJoGAN (Chong & Forsyth, ECCV 2022; mchong6/JoJoGAN) saves ``{"g": state_dict}``;
* faceedit's own DiFa runs write ``g_ema.*`` tensors in safetensors (flat keys).

All are the FFHQ config-f generator fine-tuned, so the network is :class:`faceedit.models.stylegan2.Generator`,
loaded strictly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from faceedit.errors import CheckpointLayoutError
from faceedit.models.psp import load_stylegan2
from faceedit.models.stylegan2 import Generator

__all__ = ["generator_key", "load_style_generator"]

_KEYS = ("g_ema", "g")


def generator_key(ckpt: Mapping[str, Any]) -> str:
    """Which entry holds the generator: ``g_ema`` (NADA, DiFa, rosinality) or ``g`` (JoJoGAN), nested or flat."""
    for key in _KEYS:
        if isinstance(ckpt.get(key), Mapping) or any(k.startswith(key + ".") for k in ckpt):
            return key
    if "style.1.weight" in ckpt:  # a bare generator state dict
        return "g_ema"
    raise CheckpointLayoutError(
        "This is not a style generator checkpoint: it holds neither a 'g_ema' nor a 'g' generator "
        f"(top-level entries: {', '.join(sorted(map(str, ckpt))[:8]) or 'none'})."
    )


def load_style_generator(
    ckpt: Mapping[str, Any],  # safely loaded checkpoint (torch.load(weights_only=True) or safetensors dict)
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
) -> Generator:
    """A published or trained art-style generator → frozen :class:`Generator` (strict load)."""
    return load_stylegan2(ckpt, device=device, dtype=dtype, key=generator_key(ckpt))
