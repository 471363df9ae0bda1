"""L2M-GAN: Learning to Manipulate Latent Space Semantics for Facial Attribute Editing.

Yang, Fei, Ding, Liu, Lu, Xiang (CVPR 2021).  The networks reproduce the state dicts and forwards of the authors'
release, rucmlcv/L2M-GAN @ ad2f70672bc618f12ad8a512f4c0e37c26d8ed58 ``core/model.py`` (StarGAN v2 blocks), so
that ``100000_nets_ema.ckpt`` loads with ``strict=True`` and gives the authors' numbers.

The paper's figure, box by box:

* **Style encoder** ``E``: a shared trunk of residual blocks, then one linear head per domain, ``s = E_y(x)``.
* **Style transformer** (inside ``StyleEncoder``, as in the official code): ``s1 = T1(s)`` is the
  attribute-*irrelevant* part, ``s2 = s - s1`` the attribute-*relevant* part, and ``s3 = T2[y'](s2)`` the
  relevant part edited towards the target domain ``y'``.
* **Generator** ``G(x, s)``: an encoder-decoder whose decoder is modulated by AdaIN from the style code; with
  ``w_hpf > 0`` face-mask-weighted high-pass features of the encoder are added back in the decoder.
* **Discriminator** ``D(x, y)``: the same trunk as ``E`` with one real/fake logit per domain.

Editing (``metrics/eval.py``): ``s_edit = s1 + s2 + alpha * (s3 - s2)``; reference-guided editing uses
``s1(source) + s2(reference)``.

The ``attention`` modules are in the official state dicts but never called; they are kept so the checkpoint loads.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import CheckpointLayoutError, InvalidArgumentError
from faceedit.models import load_strict as _load_strict

__all__ = [
    "AdaIN",
    "AdainResBlk",
    "Attention",
    "Discriminator",
    "Generator",
    "HighPass",
    "L2MNets",
    "ResBlk",
    "ResNet18Features",
    "StyleCodes",
    "StyleEncoder",
    "edit_style",
    "load_l2m",
    "load_l2m_file",
    "load_strict",
    "reference_style",
    "resnet18_from_torchvision",
]


# --------------------------------------------------------------------------------------------------------------
# Building blocks (StarGAN v2)
# --------------------------------------------------------------------------------------------------------------


class ResBlk(nn.Module):
    """Pre-activation residual block, ``(shortcut(x) + residual(x)) / sqrt(2)``."""

    def __init__(
        self,
        dim_in: int,  # input channels
        dim_out: int,  # output channels
        normalize: bool = False,  # InstanceNorm (affine) before each activation
        downsample: bool = False,  # average-pool by 2 after the first conv
    ) -> None:
        super().__init__()
        self.normalize = normalize
        self.downsample = downsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_in, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        if normalize:
            self.norm1 = nn.InstanceNorm2d(dim_in, affine=True)
            self.norm2 = nn.InstanceNorm2d(dim_in, affine=True)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.learned_sc:
            x = self.conv1x1(x)
        return F.avg_pool2d(x, 2) if self.downsample else x

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x) if self.normalize else x
        h = self.conv1(F.leaky_relu(h, 0.2))
        if self.downsample:
            h = F.avg_pool2d(h, 2)
        if self.normalize:
            h = self.norm2(h)
        return self.conv2(F.leaky_relu(h, 0.2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.shortcut(x) + self.residual(x)) / math.sqrt(2)


class AdaIN(nn.Module):
    """Adaptive instance norm: ``(1 + gamma(s)) * IN(x) + beta(s)``, gamma first in ``fc``'s output."""

    def __init__(self, style_dim: int, num_features: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(num_features, affine=False)
        self.fc = nn.Linear(style_dim, num_features * 2)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.fc(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.norm(x) + beta


class AdainResBlk(nn.Module):
    """Decoder block: AdaIN, LReLU, [nearest x2], conv, AdaIN, LReLU, conv.

    The ``(residual + shortcut) / sqrt(2)`` sum is taken only when ``w_hpf == 0``; with the high-pass path the
    block returns the residual alone (its ``conv1x1`` is then loaded but unused, as in the official code).
    """

    def __init__(
        self,
        dim_in: int,  # input channels
        dim_out: int,  # output channels
        style_dim: int = 64,  # length of the style code
        w_hpf: float = 0,  # high-pass weight of the generator (0: residual sum with shortcut)
        upsample: bool = False,  # nearest-neighbour x2 before conv1
    ) -> None:
        super().__init__()
        self.w_hpf = w_hpf
        self.upsample = upsample
        self.learned_sc = dim_in != dim_out
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, 1, 1)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1)
        self.norm1 = AdaIN(style_dim, dim_in)
        self.norm2 = AdaIN(style_dim, dim_out)
        if self.learned_sc:
            self.conv1x1 = nn.Conv2d(dim_in, dim_out, 1, 1, 0, bias=False)

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        return self.conv1x1(x) if self.learned_sc else x

    def residual(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = F.leaky_relu(self.norm1(x, s), 0.2)
        if self.upsample:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        h = self.conv1(h)
        h = F.leaky_relu(self.norm2(h, s), 0.2)
        return self.conv2(h)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        out = self.residual(x, s)
        if self.w_hpf == 0:
            out = (out + self.shortcut(x)) / math.sqrt(2)
        return out


class HighPass(nn.Module):
    """Depthwise 3x3 Laplacian-like filter ``[[-1,-1,-1],[-1,8,-1],[-1,-1,-1]] / w_hpf`` (not in the state dict)."""

    def __init__(self, w_hpf: float) -> None:
        super().__init__()
        kernel = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, 8.0, -1.0], [-1.0, -1.0, -1.0]]) / w_hpf
        self.register_buffer("filter", kernel, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.size(1)
        weight = self.filter.to(x.dtype).expand(channels, 1, 3, 3)
        return F.conv2d(x, weight, padding=1, groups=channels)


class Attention(nn.Module):
    """Linear-ReLU-Linear on the style code: in the official state dicts, never called by their forwards."""

    def __init__(self, style_dim: int = 64) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(style_dim, style_dim), nn.ReLU(), nn.Linear(style_dim, style_dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        return self.layers(s)


def _mlp(style_dim: int) -> nn.Sequential:
    """The style transformer's 3-layer MLP (64-64-64-64 with ReLUs)."""
    return nn.Sequential(
        nn.Linear(style_dim, style_dim),
        nn.ReLU(),
        nn.Linear(style_dim, style_dim),
        nn.ReLU(),
        nn.Linear(style_dim, style_dim),
    )


def _trunk(img_size: int, max_conv_dim: int, base_dim: int | None) -> tuple[list[nn.Module], int]:
    """Shared trunk of E and D: conv3x3, log2(size)-2 downsampling ResBlks, LReLU, conv4x4 valid, LReLU."""
    dim_in = base_dim or 2**14 // img_size
    blocks: list[nn.Module] = [nn.Conv2d(3, dim_in, 3, 1, 1)]
    dim_out = dim_in
    for _ in range(int(math.log2(img_size)) - 2):
        dim_out = min(dim_in * 2, max_conv_dim)
        blocks.append(ResBlk(dim_in, dim_out, downsample=True))
        dim_in = dim_out
    blocks += [nn.LeakyReLU(0.2), nn.Conv2d(dim_out, dim_out, 4, 1, 0), nn.LeakyReLU(0.2)]
    return blocks, dim_out


def _check_image(x: torch.Tensor, img_size: int, who: str) -> None:
    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != img_size or x.shape[3] != img_size:
        raise InvalidArgumentError(
            f"{who} expects images of shape (N, 3, {img_size}, {img_size}) in [-1, 1]; got {tuple(x.shape)}"
        )


def _check_labels(y: torch.Tensor, n: int, num_domains: int, what: str) -> None:
    if y.ndim != 1 or y.shape[0] != n:
        raise InvalidArgumentError(f"{what} must be a 1-D tensor of {n} domain indices; got shape {tuple(y.shape)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= num_domains):
        raise InvalidArgumentError(f"{what} must hold domain indices in 0..{num_domains - 1}; got {y.tolist()}")


# --------------------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------------------


class Generator(nn.Module):
    """G(x, s, masks): encoder-decoder with AdaIN decoder and the masked high-pass skip path."""

    def __init__(
        self,
        img_size: int = 256,  # image side (a power of two)
        style_dim: int = 64,  # style code length
        max_conv_dim: int = 512,  # channel cap
        w_hpf: float = 1,  # high-pass weight; > 0 adds one more down/up level and the mask-driven skips
        *,
        base_dim: int | None = None,  # channels after from_rgb; None: 2**14 // img_size (official; tiny tests only)
    ) -> None:
        super().__init__()
        dim_in = base_dim or 2**14 // img_size
        self.img_size = img_size
        self.style_dim = style_dim
        self.w_hpf = w_hpf
        self.from_rgb = nn.Conv2d(3, dim_in, 3, 1, 1)
        self.encode = nn.ModuleList()
        self.decode = nn.ModuleList()
        self.to_rgb = nn.Sequential(
            nn.InstanceNorm2d(dim_in, affine=True), nn.LeakyReLU(0.2), nn.Conv2d(dim_in, 3, 1, 1, 0)
        )
        self.attention = Attention(style_dim)

        levels = int(math.log2(img_size)) - 4 + (1 if w_hpf > 0 else 0)
        dim_out = dim_in
        for _ in range(levels):  # down/up-sampling levels; decode is built as a stack
            dim_out = min(dim_in * 2, max_conv_dim)
            self.encode.append(ResBlk(dim_in, dim_out, normalize=True, downsample=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_in, style_dim, w_hpf=w_hpf, upsample=True))
            dim_in = dim_out
        for _ in range(2):  # bottleneck
            self.encode.append(ResBlk(dim_out, dim_out, normalize=True))
            self.decode.insert(0, AdainResBlk(dim_out, dim_out, style_dim, w_hpf=w_hpf))
        if w_hpf > 0:
            self.hpf = HighPass(w_hpf)

    def forward(
        self,
        x: torch.Tensor,  # [N, 3, H, W] in [-1, 1]
        s: torch.Tensor,  # [N, style_dim]
        masks: tuple[torch.Tensor, torch.Tensor] | None = None,  # two [N, 1, h, w] in [0, 1] (FAN heatmaps)
    ) -> torch.Tensor:  # [N, 3, H, W], not clamped
        _check_image(x, self.img_size, "L2M Generator")
        if s.ndim != 2 or s.shape != (x.shape[0], self.style_dim):
            raise InvalidArgumentError(
                f"L2M Generator expects style codes of shape ({x.shape[0]}, {self.style_dim}); got {tuple(s.shape)}"
            )
        if masks is not None and self.w_hpf <= 0:
            raise InvalidArgumentError("masks are only used by a generator built with w_hpf > 0")
        h = self.from_rgb(x)
        cache: dict[int, torch.Tensor] = {}
        for block in self.encode:
            if masks is not None and h.size(2) in (32, 64, 128):
                cache[h.size(2)] = h
            h = block(h)
        for block in self.decode:
            h = block(h, s)
            size = h.size(2)
            if masks is not None and size in (32, 64, 128):
                m = masks[0] if size == 32 else masks[1]
                m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)
                h = h + self.hpf(m * cache[size])
        return self.to_rgb(h)


@dataclass(frozen=True)
class StyleCodes:
    """The style encoder's output for one batch: ``s``, its irrelevant part ``s1``, relevant ``s2``, edited ``s3``."""

    s: torch.Tensor  # [N, style_dim]
    s1: torch.Tensor  # T1(s): attribute-irrelevant
    s2: torch.Tensor  # s - s1: attribute-relevant
    s3: torch.Tensor  # T2[y_target](s2): relevant part moved to the target domain


class StyleEncoder(nn.Module):
    """E(x, y, y_target) -> (s, s1, s2, s3): style encoder with the style transformer inside."""

    def __init__(
        self,
        img_size: int = 256,  # image side
        style_dim: int = 64,  # style code length
        num_domains: int = 2,  # attribute domains (e.g. not smiling / smiling)
        max_conv_dim: int = 512,  # channel cap
        *,
        base_dim: int | None = None,  # first conv's channels; None: 2**14 // img_size (official)
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_domains = num_domains
        blocks, dim_out = _trunk(img_size, max_conv_dim, base_dim)
        self.shared = nn.Sequential(*blocks)
        self.unshared = nn.ModuleList([nn.Linear(dim_out, style_dim) for _ in range(num_domains)])
        self.transform1 = _mlp(style_dim)
        self.transform2 = nn.ModuleList([_mlp(style_dim) for _ in range(num_domains)])
        self.attention = Attention(style_dim)

    def encode(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``s = E_y(x)``: the style code in the head of the source domain ``y``. [N, style_dim]"""
        _check_image(x, self.img_size, "L2M StyleEncoder")
        _check_labels(y, x.shape[0], self.num_domains, "source domain y")
        h = self.shared(x).flatten(1)  # [N, 512]
        heads = torch.stack([head(h) for head in self.unshared], dim=1)  # [N, domains, style_dim]
        return heads[torch.arange(x.shape[0], device=x.device), y]

    def split(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Style transformer, first step: ``s1 = T1(s)`` (irrelevant), ``s2 = s - s1`` (relevant)."""
        s1 = self.transform1(s)
        return s1, s - s1

    def transform(self, s2: torch.Tensor, y_target: torch.Tensor) -> torch.Tensor:
        """Style transformer, second step: ``s3 = T2[y_target](s2)``."""
        _check_labels(y_target, s2.shape[0], self.num_domains, "target domain y_target")
        heads = torch.stack([t(s2) for t in self.transform2], dim=1)
        return heads[torch.arange(s2.shape[0], device=s2.device), y_target]

    def forward(
        self, x: torch.Tensor, y: torch.Tensor, y_target: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        s = self.encode(x, y)
        s1, s2 = self.split(s)
        return s, s1, s2, self.transform(s2, y_target)

    def codes(self, x: torch.Tensor, y: torch.Tensor, y_target: torch.Tensor) -> StyleCodes:
        """:meth:`forward` as a :class:`StyleCodes`."""
        return StyleCodes(*self(x, y, y_target))


class Discriminator(nn.Module):
    """D(x, y): one real/fake logit per image, read from the head of its domain ``y``."""

    def __init__(
        self,
        img_size: int = 256,  # image side
        num_domains: int = 2,  # attribute domains
        max_conv_dim: int = 512,  # channel cap
        *,
        base_dim: int | None = None,  # first conv's channels; None: 2**14 // img_size (official)
    ) -> None:
        super().__init__()
        self.img_size = img_size
        self.num_domains = num_domains
        blocks, dim_out = _trunk(img_size, max_conv_dim, base_dim)
        blocks.append(nn.Conv2d(dim_out, num_domains, 1, 1, 0))
        self.main = nn.Sequential(*blocks)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """All domains' logits. [N, num_domains]"""
        _check_image(x, self.img_size, "L2M Discriminator")
        return self.main(x).flatten(1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:  # [N]
        _check_labels(y, x.shape[0], self.num_domains, "domain y")
        return self.logits(x)[torch.arange(x.shape[0], device=x.device), y]


# --------------------------------------------------------------------------------------------------------------
# The checkpoint's ``vgg`` entry: torchvision ResNet-18 without fc, as nn.Sequential(*children[:-1])
# --------------------------------------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet basic block (torchvision names: conv1, bn1, conv2, bn2, downsample.0/1)."""

    def __init__(self, dim_in: int, dim_out: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim_in, dim_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(dim_out)
        self.conv2 = nn.Conv2d(dim_out, dim_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(dim_out)
        self.downsample: nn.Module | None = None
        if stride != 1 or dim_in != dim_out:
            self.downsample = nn.Sequential(nn.Conv2d(dim_in, dim_out, 1, stride, bias=False), nn.BatchNorm2d(dim_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return F.relu(h + (self.downsample(x) if self.downsample is not None else x))


class ResNet18Features(nn.Sequential):
    """ImageNet ResNet-18 up to global pooling: keys ``0.*`` (conv1), ``1.*`` (bn1), ``4.*``-``7.*`` (layer1-4).

    The L2M checkpoint stores it as ``vgg``; it is the feature network of the perceptual loss (training only).
    Input: ImageNet-normalised RGB. Output: [N, 512, 1, 1].
    """

    def __init__(self) -> None:
        def layer(dim_in: int, dim_out: int, stride: int) -> nn.Sequential:
            return nn.Sequential(BasicBlock(dim_in, dim_out, stride), BasicBlock(dim_out, dim_out))

        super().__init__(
            nn.Conv2d(3, 64, 7, 2, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, 1),
            layer(64, 64, 1),
            layer(64, 128, 2),
            layer(128, 256, 2),
            layer(256, 512, 2),
            nn.AdaptiveAvgPool2d(1),
        )


#: torchvision ``resnet18`` attribute -> index in :class:`ResNet18Features` (``fc`` is dropped).
_TORCHVISION_RESNET = {"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}


def resnet18_from_torchvision(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Adapter for torchvision's ``resnet18-f37072fd.pth`` (ImageNet) layout: the keys of the checkpoint's
    ``vgg`` entry (``nn.Sequential(*children[:-1])``), without ``fc``.  Unknown keys are kept (strict load fails)."""
    out = {}
    for key, value in state_dict.items():
        head, _, rest = key.partition(".")
        if head == "fc":
            continue
        out[f"{_TORCHVISION_RESNET.get(head, head)}.{rest}"] = value
    return out


# --------------------------------------------------------------------------------------------------------------
# Editing
# --------------------------------------------------------------------------------------------------------------


def edit_style(codes: StyleCodes, alpha: float | torch.Tensor = 1.0) -> torch.Tensor:
    """``s_edit = s1 + s2 + alpha * (s3 - s2)`` (official ``metrics/eval.py``, ``--degree``).

    ``alpha = 0`` is the reconstruction code ``s1 + s2``; ``alpha = 1`` the published edit ``s1 + s3``.
    """
    return codes.s1 + codes.s2 + alpha * (codes.s3 - codes.s2)


def reference_style(source: StyleCodes, reference: StyleCodes) -> torch.Tensor:
    """Reference-guided editing: the source's irrelevant part plus the reference's relevant part, ``s1 + s2_ref``."""
    return source.s1 + reference.s2


# --------------------------------------------------------------------------------------------------------------
# Loading the official checkpoint
# --------------------------------------------------------------------------------------------------------------


def load_strict(module: nn.Module, state_dict: Mapping[str, torch.Tensor], name: str) -> nn.Module:
    """Strict load of the checkpoint entry ``name`` (:func:`faceedit.models.load_strict` lists every difference)."""
    return _load_strict(module, state_dict, f"L2M-GAN '{name}'")


@dataclass
class L2MNets:
    """The networks of an official ``{step:06d}_nets_ema.ckpt`` (``fan`` is None when the file holds none)."""

    generator: Generator
    style_encoder: StyleEncoder
    fan: nn.Module | None
    vgg: ResNet18Features | None
    domains: tuple[str, ...] = ("domain_0", "domain_1")  # names in label order (sorted training folders)

    def state_dict(self) -> dict[str, dict[str, torch.Tensor]]:
        """The checkpoint in the official format: ``{generator, style_encoder[, fan], vgg}``."""
        out = {"generator": self.generator.state_dict(), "style_encoder": self.style_encoder.state_dict()}
        if self.fan is not None:
            out["fan"] = self.fan.state_dict()
        if self.vgg is not None:
            out["vgg"] = self.vgg.state_dict()
        return out

    def to(self, device: torch.device | str) -> L2MNets:
        """Move every network to ``device`` (in place); returns self."""
        for net in (self.generator, self.style_encoder, self.fan, self.vgg):
            if net is not None:
                net.to(device)
        return self

    def masks(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The high-pass masks the official inference uses: ``fan.get_heatmap(x)`` (None without FAN or w_hpf)."""
        if self.fan is None or self.generator.w_hpf <= 0:
            return None
        return self.fan.get_heatmap(x)


def load_l2m(
    ckpt: Mapping[str, Mapping[str, torch.Tensor]],  # torch.load(..., weights_only=True) of *_nets_ema.ckpt
    img_size: int = 256,
    style_dim: int = 64,
    num_domains: int | None = None,  # None: read from the checkpoint
    w_hpf: float | None = None,  # None: read from the generator's depth (the published file: 1)
    require_vgg: bool = False,  # the vgg entry is for training only; demand it to check the whole file
    max_conv_dim: int = 512,
    base_dim: int | None = None,  # None: official widths (other values: small models trained here)
    domains: tuple[str, ...] | list[str] | None = None,  # domain names in label order (registry kwargs)
) -> L2MNets:
    """Build the networks of an official ``nets_ema`` checkpoint and load every entry strictly (eval mode).

    A file without ``fan`` (e.g. trained here without FAN weights) loads with ``fan=None``: the caller then
    supplies masks, e.g. :func:`faceedit.l2m_masks.masks_from_landmarks`.
    """
    from faceedit.models.wing import FAN

    if not isinstance(ckpt, Mapping) or "generator" not in ckpt or "style_encoder" not in ckpt:
        keys = list(ckpt)[:8] if isinstance(ckpt, Mapping) else type(ckpt).__name__
        raise CheckpointLayoutError(
            f"not an L2M-GAN nets_ema checkpoint: expected entries 'generator', 'style_encoder', 'fan', 'vgg'; got {keys}"
        )
    extra = [k for k in ckpt if k not in ("generator", "style_encoder", "fan", "vgg")]
    if extra:
        raise CheckpointLayoutError(f"unexpected entries in the L2M-GAN checkpoint: {extra}")
    if w_hpf is None:  # w_hpf > 0 adds one down/up level: 5 + 2 encode blocks at 256² instead of 4 + 2
        blocks = {k.split(".")[1] for k in ckpt["generator"] if k.startswith("encode.")}
        w_hpf = 1.0 if len(blocks) - 2 > int(math.log2(img_size)) - 4 else 0.0
    if require_vgg and "vgg" not in ckpt:
        raise CheckpointLayoutError("the L2M-GAN checkpoint has no 'vgg' entry")
    if num_domains is None:
        num_domains = sum(1 for k in ckpt["style_encoder"] if k.startswith("unshared.") and k.endswith(".weight"))
    gen = Generator(img_size, style_dim, max_conv_dim, w_hpf, base_dim=base_dim)
    enc = StyleEncoder(img_size, style_dim, num_domains, max_conv_dim, base_dim=base_dim)
    load_strict(gen, ckpt["generator"], "generator")
    load_strict(enc, ckpt["style_encoder"], "style_encoder")
    fan = load_strict(FAN(), ckpt["fan"], "fan") if "fan" in ckpt else None
    vgg = load_strict(ResNet18Features(), ckpt["vgg"], "vgg") if "vgg" in ckpt else None
    if domains is None:
        domains = tuple(f"domain_{i}" for i in range(num_domains))
    if len(domains) != num_domains:
        raise InvalidArgumentError(f"{len(domains)} domain names given for a {num_domains}-domain checkpoint")
    nets = L2MNets(gen, enc, fan, vgg, tuple(domains))
    for net in (gen, enc, fan, vgg):
        if net is not None:
            net.eval().requires_grad_(False)
    return nets


def load_l2m_file(path, device: torch.device | str | None = None) -> L2MNets:
    """Load an official ``*_nets_ema.ckpt`` file safely (``weights_only=True``) and strictly."""
    import pickle
    from pathlib import Path

    from faceedit.errors import WeightsVerificationError

    path = Path(path)
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError) as err:
        raise WeightsVerificationError(
            f"{path.name} could not be loaded safely as an L2M-GAN checkpoint (weights_only): {str(err)[:200]}"
        ) from err
    nets = load_l2m(ckpt)
    return nets.to(device) if device is not None else nets
