"""Random faces: StyleGAN2 draws a face from a seed, with truncation and style mixing (Karras et al.).

``w = w_avg + psi (mapping(z) - w_avg)`` with z drawn in float64 on the CPU from the seed, so a seed gives
the same face on any machine and device; coarse / middle / fine layers may come from a second seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceedit.editors.base import Editor
from faceedit.editors.gan_runtime import ENCODERS, GENERATOR, GanRuntime, OnStyleSpace, StyleSpace
from faceedit.errors import InvalidArgumentError

#: StyleGAN's style-mixing layer groups (Karras et al. 2019, Sec. 3.1): coarse 4-8 px, middle 16-32 px, fine 64 px+.
MIX_LAYERS: dict[str, tuple[int, int]] = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 10_000)}


class RandomFaces(OnStyleSpace, Editor):
    """Faces drawn from seeds (see the module docstring)."""

    name = "random faces"
    operation = "random"
    engine = "gan"
    requires = ((GENERATOR, *ENCODERS),)  # pSp / e4e files embed the generator

    def __init__(self, style: StyleSpace) -> None:
        self.style = style

    @classmethod
    def build(cls, runtime: GanRuntime) -> RandomFaces | None:
        style = runtime.style_space()
        return cls(style) if style is not None else None

    @property
    def generator(self) -> Any:
        return self.style.generator

    def mean_latent(self) -> Any:
        """W's mean ``[1, 512]``."""
        return self.style.mean_latent()

    def generate(self, w_plus: Any, size: int | None = None) -> np.ndarray:
        """The generator's image of ``w_plus`` (at the generator's size by default)."""
        return self.style.generate(w_plus, size or self.generator.size)

    def sample(self, seed: int, truncation: float = 0.7) -> Any:
        """W+ ``[1, L, 512]`` of a random face from ``seed`` (see the module docstring)."""
        import torch

        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise InvalidArgumentError(f"The seed must be a whole number from 0 to 2**63-1; got {seed}.")
        psi = float(truncation)
        if not np.isfinite(psi) or not 0.0 <= psi <= 1.0:
            raise InvalidArgumentError(f"Truncation psi must lie in 0..1; got {truncation!r}.")
        run = self.style.runtime
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(1, self.generator.style_dim, generator=gen, dtype=torch.float64).float()
        w = run.run(self.generator.get_latent, z.to(run.torch_device)).float()
        mean = self.mean_latent()
        w = mean + psi * (w - mean)
        return w[:, None, :].expand(1, self.generator.n_latent, w.shape[-1]).clone()

    def mix(self, w_plus: Any, other: Any, layers: str) -> Any:
        """``w_plus`` with the ``coarse`` / ``middle`` / ``fine`` layers taken from ``other`` (style mixing)."""
        if layers not in MIX_LAYERS:
            raise InvalidArgumentError(f"Style mixing layers must be one of: {', '.join(MIX_LAYERS)}; got {layers!r}.")
        start, stop = MIX_LAYERS[layers]
        stop = min(stop, w_plus.shape[1])
        if start >= stop:
            raise InvalidArgumentError(f"This generator has only {w_plus.shape[1]} style layers: no {layers} layers.")
        out = w_plus.clone()
        out[:, start:stop] = other[:, start:stop]
        return out

    def face_latent(self, seed: int, truncation: float = 0.7, mix: tuple[str, int] | None = None) -> Any:
        """W+ of a seed, optionally with style layers from a second seed."""
        w = self.sample(seed, truncation)
        if mix is not None:
            w = self.mix(w, self.sample(mix[1], truncation), mix[0])
        return w
