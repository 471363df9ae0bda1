"""StarGAN v2's wing FAN: a one-stack hourglass face-alignment network whose heatmaps drive L2M-GAN's masks.

Choi, Uh, Yoo, Ha, "StarGAN v2: Diverse Image Synthesis for Multiple Domains" (CVPR 2020), which trains this FAN
with the Adaptive Wing loss of Wang, Bo, Li (ICCV 2019) on 98 WFLW landmarks (CoordConv, Liu et al. 2018).
State dict and forward match the ``fan`` entry of L2M-GAN's ``nets_ema`` checkpoint: rucmlcv/L2M-GAN @ ad2f7067
``core/wing.py`` (a copy of clovaai/stargan-v2 ``core/wing.py``).

Figure order: CoordConv stem (7x7, stride 2) -> three ConvBlocks down to 64x64 -> one hourglass (depth 4, with a
CoordConv entry) -> head convs -> 98 landmark heatmaps (+1 boundary channel).  :meth:`FAN.get_heatmap` turns the
heatmaps into the two soft face masks (whole face; face without jaw line, mouth and brows) that the L2M generator
uses to weight its high-pass skip features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FAN", "ConvBlock", "CoordConvTh", "HourGlass", "heatmaps_to_masks"]


class AddCoordsTh(nn.Module):
    """Appends coordinate channels (row, column in [-1, 1], and the normalised radius when ``with_r``)."""

    def __init__(self, height: int, width: int, with_r: bool) -> None:
        super().__init__()
        rows = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width) / (height - 1) * 2 - 1
        cols = torch.arange(width, dtype=torch.float32)[None, :].expand(height, width) / (width - 1) * 2 - 1
        coords = [rows, cols]
        if with_r:
            r = torch.sqrt(rows**2 + cols**2)
            coords.append(r / r.max())
        self.register_buffer("coords", torch.stack(coords)[None], persistent=False)  # [1, 2|3, H, W]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x, self.coords.to(x.dtype).expand(x.shape[0], -1, -1, -1)], dim=1)


class CoordConvTh(nn.Module):
    """CoordConv: coordinate channels, then a convolution (boundary channels are never used at inference)."""

    def __init__(
        self,
        height: int,
        width: int,
        with_r: bool,
        with_boundary: bool,
        in_channels: int,
        first_one: bool = False,
        out_channels: int = 256,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
    ) -> None:
        super().__init__()
        self.addcoords = AddCoordsTh(height, width, with_r)
        extra = 2 + (1 if with_r else 0) + (2 if with_boundary and not first_one else 0)
        self.conv = nn.Conv2d(in_channels + extra, out_channels, kernel_size, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.addcoords(x))


class ConvBlock(nn.Module):
    """Hierarchical residual block: three BN-ReLU-conv3x3 steps (out/2, out/4, out/4) concatenated + shortcut."""

    def __init__(self, in_planes: int, out_planes: int) -> None:
        super().__init__()
        half, quarter = out_planes // 2, out_planes // 4
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, half, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.conv2 = nn.Conv2d(half, quarter, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(quarter)
        self.conv3 = nn.Conv2d(quarter, quarter, 3, 1, 1, bias=False)
        self.downsample: nn.Module | None = None
        if in_planes != out_planes:
            self.downsample = nn.Sequential(
                nn.BatchNorm2d(in_planes), nn.ReLU(True), nn.Conv2d(in_planes, out_planes, 1, 1, bias=False)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out1 = self.conv1(F.relu(self.bn1(x)))
        out2 = self.conv2(F.relu(self.bn2(out1)))
        out3 = self.conv3(F.relu(self.bn3(out2)))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return torch.cat([out1, out2, out3], dim=1) + shortcut


class HourGlass(nn.Module):
    """Hourglass of ``depth`` levels (blocks ``b1_l``, ``b2_l``, ``b3_l``, innermost ``b2_plus_1``)."""

    def __init__(self, num_modules: int, depth: int, num_features: int, first_one: bool = False) -> None:
        super().__init__()
        self.depth = depth
        self.coordconv = CoordConvTh(64, 64, True, True, 256, first_one, out_channels=256, kernel_size=1)
        self._add_level(depth)  # registration order is the checkpoint's key order

    def _add_level(self, level: int) -> None:
        self.add_module(f"b1_{level}", ConvBlock(256, 256))
        self.add_module(f"b2_{level}", ConvBlock(256, 256))
        if level > 1:
            self._add_level(level - 1)
        else:
            self.add_module(f"b2_plus_{level}", ConvBlock(256, 256))
        self.add_module(f"b3_{level}", ConvBlock(256, 256))

    def _level(self, level: int, x: torch.Tensor) -> torch.Tensor:
        up1 = self._modules[f"b1_{level}"](x)
        low = self._modules[f"b2_{level}"](F.avg_pool2d(x, 2, stride=2))
        low = self._level(level - 1, low) if level > 1 else self._modules[f"b2_plus_{level}"](low)
        low = self._modules[f"b3_{level}"](low)
        return up1 + F.interpolate(low, scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._level(self.depth, self.coordconv(x))


class FAN(nn.Module):
    """Wing FAN (1 hourglass, 98 landmarks): ``forward`` gives [N, 99, 64, 64] heatmaps of a [0,1] 256² image."""

    def __init__(self, num_modules: int = 1, end_relu: bool = False, num_landmarks: int = 98) -> None:
        super().__init__()
        self.end_relu = end_relu
        self.conv1 = CoordConvTh(256, 256, True, False, in_channels=3, out_channels=64, kernel_size=7, stride=2,
                                 padding=3)
        self.bn1 = nn.BatchNorm2d(64)
        self.conv2 = ConvBlock(64, 128)
        self.conv3 = ConvBlock(128, 128)
        self.conv4 = ConvBlock(128, 256)
        self.m0 = HourGlass(1, 4, 256, first_one=True)
        self.top_m_0 = ConvBlock(256, 256)
        self.conv_last0 = nn.Conv2d(256, 256, 1, 1, 0)
        self.bn_end0 = nn.BatchNorm2d(256)
        self.l0 = nn.Conv2d(256, num_landmarks + 1, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: [N, 3, 256, 256] in [0, 1]
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.avg_pool2d(self.conv2(h), 2, stride=2)
        h = self.conv4(self.conv3(h))
        h = self.top_m_0(self.m0(h))
        h = F.relu(self.bn_end0(self.conv_last0(h)))
        out = self.l0(h)
        return F.relu(out) if self.end_relu else out

    @torch.no_grad()
    def get_heatmap(self, x: torch.Tensor, b_preprocess: bool = True):
        """The L2M/StarGAN v2 masks of images in [-1, 1]: two [N, 1, 256, 256] tensors in [0, 1].

        With ``b_preprocess=False``: the raw 98 landmark heatmaps at 64x64.
        """
        x = F.interpolate(x, size=256, mode="bilinear", align_corners=False)
        heatmaps = self(x * 0.5 + 0.5)[:, :-1]
        if not b_preprocess:
            return heatmaps
        scale = x.size(2) // heatmaps.size(2)
        heatmaps = F.interpolate(heatmaps, scale_factor=scale, mode="bilinear", align_corners=True)
        return heatmaps_to_masks(heatmaps)


# Landmark index ranges of the 98-point WFLW scheme used by the mask recipe (start, end).
_CHIN = (8, 25)
_BROWS = (33, 51)
_BROW_EDGES = (33, 46)
_NOSE = (51, 55)
_NOSTRILS = (55, 60)
_EYES = (60, 76)
_LIP_EDGES = (76, 82)
_LIP_UPPER = (77, 82)
_LIP_LOWER = (83, 88)
_LIP_INNER = (88, 96)


def _shift(x: torch.Tensor, n: int) -> torch.Tensor:
    """Cyclic shift of the rows by ``n`` pixels up (``n < 0``: down), as StarGAN v2's ``shift``."""
    return torch.roll(x, shifts=-n, dims=2) if n else x


def heatmaps_to_masks(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """StarGAN v2's ``preprocess``: 98 heatmaps [N, 98, H, W] -> (face mask, face mask without jaw, mouth, brows)."""
    x = torch.where(x < 0.1, torch.zeros_like(x), x)  # truncate
    flat = x.flatten(2)
    lo, hi = flat.min(dim=2, keepdim=True)[0], flat.max(dim=2, keepdim=True)[0]
    x = ((flat - lo) / (hi - lo + 1e-6)).view_as(x)  # min-max per heatmap
    sw = x.size(2) // 256
    for (start, end), (shift, power) in (
        (_CHIN, (0, 3)),
        (_BROWS, (-7 * sw, 2)),
        (_NOSTRILS, (8 * sw, 4)),
        (_LIP_UPPER, (-8 * sw, 4)),
        (_LIP_LOWER, (8 * sw, 4)),
        (_LIP_INNER, (-2 * sw, 3)),
    ):
        x[:, start:end] = _shift(x[:, start:end], shift) ** power
    zero = list(range(0, _CHIN[0])) + list(range(_CHIN[1], 33)) + [_BROW_EDGES[0], _BROW_EDGES[1]]
    zero += [_LIP_EDGES[0], _LIP_EDGES[1]]
    x[:, zero] = 0
    x[:, _NOSE[0] + 1 : _NOSE[1]] = _shift(x[:, _NOSE[0] + 1 : _NOSE[1]], 4 * sw)
    eyes = x[:, _EYES[0] : _EYES[1]].clone()
    x[:, _EYES[0] : _EYES[1]] = _shift(eyes, -8) ** 3 + _shift(eyes, -24)

    x2 = x.clone()  # second-level mask: no jaw line, no mouth, no brows
    x2[:, _CHIN[0] : _CHIN[1]] = 0
    x2[:, _LIP_EDGES[0] : _LIP_INNER[1]] = 0
    x2[:, _BROWS[0] : _BROWS[1]] = 0
    m1 = x.sum(dim=1, keepdim=True)
    m2 = x2.sum(dim=1, keepdim=True)
    m1 = torch.nan_to_num(m1, nan=0.0, posinf=float("inf"), neginf=float("-inf"))
    # The official code clears NaNs of the second mask with the first mask's (already cleared) NaN map, i.e. not
    # at all; NaNs only arise from NaN inputs, so this is kept as is.
    return m1.clamp(0, 1), m2.clamp(0, 1)
