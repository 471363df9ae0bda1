"""pSp / e4e inversion wrappers (encoder → + latent_avg → StyleGAN2 decoder → 256² pool) and checkpoint loaders.

Matches ``models/psp.py`` ``pSp`` of eladrich/pixel2style2pixel @ 5cfff385 (Richardson et al., CVPR 2021) and of
omertov/encoder4editing @ 99ea5057 (Tov et al., SIGGRAPH 2021): a 256×256 image in [-1, 1] is encoded to
W+ codes, ``latent_avg`` is added when the checkpoint was trained with ``start_from_latent_avg``, the decoder
renders with those codes as W+ and ``face_pool`` (adaptive average pooling) brings the image to 256×256.

Published files are ``{"state_dict": {"encoder.*", "decoder.*"}, "opts": dict, "latent_avg": ...}``; the
loaders take such a dict *already loaded safely* (``torch.load(weights_only=True)`` or a safetensors
conversion, whose keys may be flat: ``state_dict.encoder.*`` or ``encoder.*``), split the prefixes as the
official ``get_keys`` does and load both halves strictly. Networks are built on the ``meta`` device and adopt
the checkpoint tensors (no random initialisation of 300 M parameters, no copy).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

from faceedit.errors import CheckpointLayoutError
from faceedit.models import load_strict
from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder
from faceedit.models.stylegan2 import Generator, NoiseMode

__all__ = ["PSP", "generator_config", "load_e4e", "load_psp", "load_stylegan2"]

Kind = Literal["psp", "e4e"]
_ENCODER_TYPES = {"psp": "GradualStyleEncoder", "e4e": "Encoder4Editing"}


class PSP(nn.Module):
    """Encoder + StyleGAN2 decoder + ``latent_avg``; state dict ``encoder.*`` then ``decoder.*`` (as pSp's)."""

    latent_avg: torch.Tensor | None

    def __init__(
        self,
        encoder: GradualStyleEncoder | Encoder4Editing,  # image → codes (before latent_avg)
        decoder: Generator,  # StyleGAN2 generator, rosinality layout
        latent_avg: torch.Tensor | None,  # [1 or n_styles, 512] added to the codes, or None
        kind: Kind = "psp",  # which published model this is (for messages)
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.face_pool = nn.AdaptiveAvgPool2d((256, 256))
        self.register_buffer("latent_avg", latent_avg, persistent=False)  # not in the official state dict
        self.kind = kind

    @property
    def n_styles(self) -> int:
        return self.decoder.n_latent

    def encode(self, image: torch.Tensor) -> torch.Tensor:
        """Image [N, C, 256, 256] in [-1, 1] → W+ codes [N, n_styles, 512] in float32, ``latent_avg`` included.

        Codes stay float32 whatever the network's dtype or autocast: edits (directions) are done on them.
        """
        p = next(self.encoder.parameters())
        image = image.to(device=p.device, dtype=p.dtype)
        if _fast_path(self.encoder, image):
            from faceedit.models.encoders_fast import fast_encoder

            codes = fast_encoder(self.encoder)(image).float()
        else:
            codes = self.encoder(image).float()
        if self.latent_avg is not None:
            codes = codes + self.latent_avg.float()
        return codes

    def decode(
        self,
        w_plus: torch.Tensor,  # [N, n_styles, 512]
        resize: bool = True,  # pool to 256×256 like the official face_pool
        noise_mode: NoiseMode = "const",  # stored noise buffers (official inference) / random / none
        generator: torch.Generator | None = None,  # randomness for noise_mode="random"
    ) -> torch.Tensor:
        """W+ → image [N, 3, 256, 256] (or the decoder's full size with ``resize=False``)."""
        images = self.decoder.synthesis(w_plus, noise_mode=noise_mode, generator=generator)
        return self.face_pool(images) if resize else images

    def forward(
        self,
        x: torch.Tensor,  # image [N, C, 256, 256] in [-1, 1], or codes with input_code=True
        resize: bool = True,  # pool the output to 256×256
        latent_mask: Sequence[int] | None = None,  # W+ entries replaced by inject_latent (style mixing)
        input_code: bool = False,  # x is already a code: skip the encoder (and latent_avg)
        randomize_noise: bool = False,  # official default is True; inference scripts pass False
        inject_latent: torch.Tensor | None = None,  # [N, n_styles, 512] source for latent_mask entries
        return_latents: bool = False,  # also return the codes fed to the decoder
        alpha: float | None = None,  # blend factor for injected entries
        generator: torch.Generator | None = None,  # randomness when randomize_noise
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The official ``pSp.forward``: images, or ``(images, latents)`` with ``return_latents``."""
        codes = x if input_code else self.encode(x)
        if latent_mask is not None:
            codes = codes.clone()
            for i in latent_mask:
                if inject_latent is None:
                    codes[:, i] = 0
                elif alpha is not None:
                    codes[:, i] = alpha * inject_latent[:, i] + (1 - alpha) * codes[:, i]
                else:
                    codes[:, i] = inject_latent[:, i]
        images = self.decode(codes, resize=resize, noise_mode="random" if randomize_noise else "const",
                             generator=generator)
        return (images, codes) if return_latents else images


# ---------------------------------------------------------------------------------------------- loading
def _fast_path(encoder: nn.Module, image: torch.Tensor) -> bool:
    """Whether :mod:`faceedit.models.encoders_fast` serves this call: float32 on the CPU, eval mode, no autograd,
    a well-formed input (it is faster there, with the same codes up to float32 rounding)."""
    return (not encoder.training and not torch.is_grad_enabled() and image.device.type == "cpu"
            and image.dtype == torch.float32 and image.ndim == 4
            and tuple(image.shape[1:]) == (encoder.input_nc, 256, 256))


def _opts(ckpt: Mapping[str, Any]) -> dict[str, Any]:
    opts = ckpt.get("opts")
    if opts is None:
        return {}
    if isinstance(opts, str | bytes):
        try:
            opts = json.loads(opts)
        except ValueError as exc:
            raise CheckpointLayoutError(f"The checkpoint's 'opts' entry is not readable JSON: {exc}") from exc
    if not isinstance(opts, Mapping):
        opts = vars(opts) if hasattr(opts, "__dict__") else {}
    return dict(opts)


def _split(ckpt: Mapping[str, Any], prefixes: Sequence[str]) -> dict[str, dict[str, torch.Tensor]]:
    """Find the network state dict (nested ``state_dict`` or flat) and split it on ``<prefix>.``."""
    sd = ckpt.get("state_dict")
    if not isinstance(sd, Mapping):
        sd = {k.removeprefix("state_dict."): v for k, v in ckpt.items() if isinstance(v, torch.Tensor)}
    out: dict[str, dict[str, torch.Tensor]] = {p: {} for p in prefixes}
    for k, v in sd.items():
        head, _, rest = k.partition(".")
        if head in out and rest:
            out[head][rest] = v
    return out


def generator_config(state_dict: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Read ``size``, ``style_dim``, ``n_mlp``, ``channel_multiplier`` off a rosinality generator state dict."""
    if "style.1.weight" not in state_dict or "noises.noise_0" not in state_dict:
        raise CheckpointLayoutError(
            "This is not a StyleGAN2 generator state dict (rosinality layout): 'style.1.weight' or "
            "'noises.noise_0' is missing."
        )
    num_layers = sum(1 for k in state_dict if re.fullmatch(r"noises\.noise_\d+", k))
    log_size = (num_layers - 1) // 2 + 2
    n_mlp = sum(1 for k in state_dict if re.fullmatch(r"style\.\d+\.weight", k))
    cm = 2
    if log_size >= 6 and "convs.6.conv.weight" in state_dict:
        cm = max(1, int(state_dict["convs.6.conv.weight"].shape[1]) // 256)
    return {
        "size": 2**log_size,
        "style_dim": int(state_dict["style.1.weight"].shape[0]),
        "n_mlp": n_mlp,
        "channel_multiplier": cm,
    }


def _finish(module: nn.Module, device: torch.device | str | None, dtype: torch.dtype | None) -> nn.Module:
    module = module.to(device=device or "cpu")
    if dtype is not None:
        module = module.to(dtype=dtype)
    return module.eval().requires_grad_(False)


def _build_generator(sd: Mapping[str, torch.Tensor], what: str) -> Generator:
    cfg = generator_config(sd)
    with torch.device("meta"):
        g = Generator(**cfg)
    load_strict(g, sd, what, assign=True)
    return g


def load_stylegan2(
    ckpt: Mapping[str, Any],  # {"g_ema": sd, "latent_avg": ...}, flat "g_ema.*" keys, or a bare state dict
    device: torch.device | str | None = None,
    dtype: torch.dtype | None = None,
    key: str = "g_ema",  # which generator of a training checkpoint ("g_ema" or "g")
) -> Generator:
    """A rosinality StyleGAN2 checkpoint → frozen :class:`Generator` (``.latent_avg`` set when present)."""
    sd = ckpt.get(key)
    if not isinstance(sd, Mapping):
        flat = {k[len(key) + 1 :]: v for k, v in ckpt.items() if k.startswith(key + ".")}
        sd = flat or {k: v for k, v in ckpt.items() if isinstance(v, torch.Tensor) and k != "latent_avg"}
    g = _build_generator(sd, f"StyleGAN2 generator ({key})")
    latent_avg = ckpt.get("latent_avg")
    if latent_avg is not None:
        latent_avg = torch.as_tensor(latent_avg).reshape(-1, g.style_dim)[:1]
    g.register_buffer("latent_avg", latent_avg, persistent=False)
    return _finish(g, device, dtype)


def _latent_avg(value: Any, n_styles: int, what: str) -> torch.Tensor:
    t = torch.as_tensor(value)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[1] != 512 or t.shape[0] not in (1, n_styles):
        raise CheckpointLayoutError(
            f"The {what} checkpoint's latent_avg has shape {tuple(torch.as_tensor(value).shape)}; "
            f"expected (512,) or ({n_styles}, 512)."
        )
    return t.float()


def _load_wrapper(
    ckpt: Mapping[str, Any], kind: Kind, device: torch.device | str | None, dtype: torch.dtype | None
) -> PSP:
    what = {"psp": "pSp", "e4e": "e4e"}[kind]
    opts = _opts(ckpt)
    encoder_type = opts.get("encoder_type", _ENCODER_TYPES[kind])
    if encoder_type != _ENCODER_TYPES[kind]:
        other = [k for k, v in _ENCODER_TYPES.items() if v == encoder_type]
        hint = f" It is a{'n' if other == ['e4e'] else ''} {other[0]} checkpoint." if other else ""
        raise CheckpointLayoutError(
            f"This {what} loader supports encoder_type {_ENCODER_TYPES[kind]!r}, but the checkpoint's opts say "
            f"{encoder_type!r}.{hint}"
        )
    parts = _split(ckpt, ("encoder", "decoder"))
    if not parts["encoder"] or not parts["decoder"]:
        raise CheckpointLayoutError(
            f"This is not a {what} checkpoint: it needs 'encoder.*' and 'decoder.*' entries in its state_dict "
            f"(found {len(parts['encoder'])} encoder and {len(parts['decoder'])} decoder entries)."
        )
    decoder = _build_generator(parts["decoder"], f"{what} decoder")
    n_styles = decoder.n_latent
    with torch.device("meta"):
        if kind == "psp":
            first = parts["encoder"].get("input_layer.0.weight")
            input_nc = int(opts.get("input_nc") or (first.shape[1] if first is not None else 3))
            encoder: GradualStyleEncoder | Encoder4Editing = GradualStyleEncoder(input_nc, n_styles)
        else:
            encoder = Encoder4Editing(decoder.size)
    load_strict(encoder, parts["encoder"], f"{what} encoder", assign=True)
    start = opts.get("start_from_latent_avg", "latent_avg" in ckpt and ckpt["latent_avg"] is not None)
    latent_avg = None
    if start:
        if ckpt.get("latent_avg") is not None:
            latent_avg = _latent_avg(ckpt["latent_avg"], n_styles, what)
        elif kind == "e4e":  # e4e's own fallback: the decoder's mean w (seeded here, global RNG there)
            latent_avg = decoder.mean_latent(10000).float().cpu()
        else:
            raise CheckpointLayoutError(
                "The pSp checkpoint was trained with start_from_latent_avg but holds no latent_avg."
            )
    model = PSP(encoder, decoder, latent_avg, kind)
    return _finish(model, device, dtype)


def load_psp(
    ckpt: Mapping[str, Any], device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> PSP:
    """A pSp checkpoint dict (``GradualStyleEncoder``; 3-channel photos or 19-channel label maps) → :class:`PSP`."""
    return _load_wrapper(ckpt, "psp", device, dtype)


def load_e4e(
    ckpt: Mapping[str, Any], device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> PSP:
    """An e4e checkpoint dict (``Encoder4Editing``) → :class:`PSP`."""
    return _load_wrapper(ckpt, "e4e", device, dtype)

