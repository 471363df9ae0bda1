"""pSp and e4e encoders over an IR-SE50 backbone.

* pSp: Richardson et al., "Encoding in Style: a StyleGAN Encoder for Image-to-Image Translation", CVPR 2021;
  state dict of eladrich/pixel2style2pixel @ 5cfff385 ``models/encoders/psp_encoders.py`` ``GradualStyleEncoder``
  (``helpers.py`` for the backbone units).
* e4e: Tov et al., "Designing an Encoder for StyleGAN Image Manipulation", SIGGRAPH 2021; state dict of
  omertov/encoder4editing @ 99ea5057 ``models/encoders/psp_encoders.py`` ``Encoder4Editing`` (inference stage:
  every delta active).
* IR-SE50: the ArcFace ResNet-50 with squeeze-excitation units (Deng et al., CVPR 2019) as the two repositories
  build it (TreB1eN/InsightFace_Pytorch layout: ``input_layer``, ``body.i.shortcut_layer`` / ``res_layer``).

Figure order (pSp Fig. 2): backbone stages → feature pyramid (c3 coarse 16², p2 = c3↑ + lat(c2) 32²,
p1 = p2↑ + lat(c1) 64²) → one ``GradualStyleBlock`` per style (3 coarse, 4 medium, the rest fine).
e4e uses the same pyramid but predicts one base code w from c3 and adds per-layer offsets Δ_i.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.errors import InvalidArgumentError
from faceedit.models.stylegan2 import EqualLinear

__all__ = [
    "BottleneckIR",
    "BottleneckIRSE",
    "Encoder4Editing",
    "GradualStyleBlock",
    "GradualStyleEncoder",
    "SEModule",
    "ir_se_body",
    "n_styles_for",
]

#: IR-50 stages: (in_channel, depth, units); the first unit of each stage has stride 2.
_IR50_STAGES = ((64, 64, 3), (64, 128, 4), (128, 256, 14), (256, 512, 3))
#: Body indices whose outputs feed the pyramid: end of stage 2 (c1, 128 ch), 3 (c2, 256 ch), 4 (c3, 512 ch).
_C1, _C2, _C3 = 6, 20, 23
#: Styles [0, 3) read c3, [3, 7) read p2, [7, n) read p1.
COARSE_IND, MIDDLE_IND = 3, 7


def n_styles_for(size: int) -> int:
    """Number of W+ entries of a StyleGAN2 generator of side ``size`` (18 at 1024)."""
    return int(math.log2(size)) * 2 - 2


class SEModule(nn.Module):
    """Squeeze-excitation: channel gates from global average → 1×1 conv → ReLU → 1×1 conv → sigmoid."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class _Subsample(nn.MaxPool2d):
    """``MaxPool2d(1, stride)`` (the official identity shortcut) computed as the strided slice it equals."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stride
        return x if s == 1 else x[:, :, ::s, ::s]


class BottleneckIR(nn.Module):
    """IR unit: BN → 3×3 conv → PReLU → 3×3 conv (stride) → BN, plus the (projected) shortcut."""

    def __init__(self, in_channel: int, depth: int, stride: int, se: bool = False) -> None:
        super().__init__()
        if in_channel == depth:
            self.shortcut_layer: nn.Module = _Subsample(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channel, depth, (1, 1), stride, bias=False), nn.BatchNorm2d(depth)
            )
        layers: list[nn.Module] = [
            nn.BatchNorm2d(in_channel),
            nn.Conv2d(in_channel, depth, (3, 3), (1, 1), 1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, (3, 3), stride, 1, bias=False),
            nn.BatchNorm2d(depth),
        ]
        if se:
            layers.append(SEModule(depth, 16))
        self.res_layer = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class BottleneckIRSE(BottleneckIR):
    """IR unit with a squeeze-excitation gate at the end of the residual branch (IR-SE)."""

    def __init__(self, in_channel: int, depth: int, stride: int) -> None:
        super().__init__(in_channel, depth, stride, se=True)


def ir_se_body() -> nn.Sequential:
    """The 24 IR-SE units of IR-SE50 (stride 2 at the first unit of each stage)."""
    units = []
    for in_channel, depth, n in _IR50_STAGES:
        units.append(BottleneckIRSE(in_channel, depth, 2))
        units += [BottleneckIRSE(depth, depth, 1) for _ in range(n - 1)]
    return nn.Sequential(*units)


def _input_layer(input_nc: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(input_nc, 64, (3, 3), 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """FPN top-down step: bilinear (align_corners=True) resize of ``x`` to ``y``'s size, plus ``y``."""
    return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=True) + y


class GradualStyleBlock(nn.Module):
    """Map a feature map of side ``spatial`` to one 512-d style: log2(spatial) stride-2 convs + LeakyReLU,
    then an equalised linear layer."""

    def __init__(self, in_c: int, out_c: int, spatial: int) -> None:
        super().__init__()
        self.out_c = out_c
        self.spatial = spatial
        num_pools = int(math.log2(spatial))
        modules: list[nn.Module] = [nn.Conv2d(in_c, out_c, kernel_size=3, stride=2, padding=1), nn.LeakyReLU()]
        for _ in range(num_pools - 1):
            modules += [nn.Conv2d(out_c, out_c, kernel_size=3, stride=2, padding=1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*modules)
        self.linear = EqualLinear(out_c, out_c, lr_mul=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).view(-1, self.out_c))


class _PyramidEncoder(nn.Module):
    """Shared part: IR-SE50 backbone, style heads, and the two lateral 1×1 convs of the pyramid."""

    def __init__(self, input_nc: int, n_styles: int) -> None:
        super().__init__()
        if n_styles <= MIDDLE_IND:
            raise InvalidArgumentError(f"the encoder needs more than {MIDDLE_IND} styles, got {n_styles}")
        self.input_nc = input_nc
        self.input_layer = _input_layer(input_nc)
        self.body = ir_se_body()
        self.styles = nn.ModuleList()
        self.style_count = n_styles
        self.coarse_ind = COARSE_IND
        self.middle_ind = MIDDLE_IND
        for i in range(n_styles):
            spatial = 16 if i < COARSE_IND else 32 if i < MIDDLE_IND else 64
            self.styles.append(GradualStyleBlock(512, 512, spatial))
        self.latlayer1 = nn.Conv2d(256, 512, kernel_size=1, stride=1, padding=0)
        self.latlayer2 = nn.Conv2d(128, 512, kernel_size=1, stride=1, padding=0)

    def backbone(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image [N, input_nc, 256, 256] → (c1 [N,128,64,64], c2 [N,256,32,32], c3 [N,512,16,16])."""
        if x.ndim != 4 or x.shape[1] != self.input_nc or x.shape[2:] != (256, 256):
            raise InvalidArgumentError(
                f"the encoder expects images of shape [N, {self.input_nc}, 256, 256], got {tuple(x.shape)}"
            )
        x = self.input_layer(x)
        feats = {}
        for i, unit in enumerate(self.body):
            x = unit(x)
            if i in (_C1, _C2, _C3):
                feats[i] = x
        return feats[_C1], feats[_C2], feats[_C3]


class GradualStyleEncoder(_PyramidEncoder):
    """pSp encoder: each style from its own head over the pyramid level of its resolution group.

    Output: codes [N, n_styles, 512] *before* adding ``latent_avg`` (the wrapper adds it).
    """

    def __init__(
        self,
        input_nc: int = 3,  # 3 for photos, 19 for segmentation maps (one-hot label channels)
        n_styles: int = 18,  # W+ entries of the decoder (18 for 1024 px)
    ) -> None:
        super().__init__(input_nc, n_styles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.backbone(x)
        latents = [self.styles[j](c3) for j in range(self.coarse_ind)]
        p2 = _upsample_add(c3, self.latlayer1(c2))
        latents += [self.styles[j](p2) for j in range(self.coarse_ind, self.middle_ind)]
        p1 = _upsample_add(p2, self.latlayer2(c1))
        latents += [self.styles[j](p1) for j in range(self.middle_ind, self.style_count)]
        return torch.stack(latents, dim=1)


class Encoder4Editing(_PyramidEncoder):
    """e4e encoder at its inference stage: w = styles[0](c3) repeated, plus Δ_i = styles[i](level) for i ≥ 1.

    Output: codes [N, n_styles, 512] before ``latent_avg``.
    """

    def __init__(
        self,
        stylegan_size: int = 1024,  # decoder resolution (n_styles = 2·log2(size) − 2)
    ) -> None:
        super().__init__(3, n_styles_for(stylegan_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2, c3 = self.backbone(x)
        w0 = self.styles[0](c3)
        w = w0.unsqueeze(1).repeat(1, self.style_count, 1)
        features = c3
        p2 = c3
        for i in range(1, self.style_count):
            if i == self.coarse_ind:
                p2 = features = _upsample_add(c3, self.latlayer1(c2))
            elif i == self.middle_ind:
                features = _upsample_add(p2, self.latlayer2(c1))
            w[:, i] += self.styles[i](features)
        return w
