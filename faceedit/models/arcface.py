"""ArcFace identity encoder: insightface IResNet-100 (Deng et al., "ArcFace: Additive Angular Margin Loss for Deep
Face Recognition", CVPR 2019; Duta et al., "Improved Residual Networks", 2020).

State-dict layout of insightface ``recognition/arcface_torch/backbones/iresnet.py`` ``iresnet100`` as GHOST downloads
it (``backbone.pth`` from the sber-swap ``arcface`` release; the definition is copied in dimitribarbot/ghostv2 @
bc53ed0 ``ArcFace/iresnet.py``): conv1, bn1, prelu, layer1..4 of improved basic blocks (BN → conv → BN → PReLU →
conv(stride) → BN, plus a 1×1 conv + BN shortcut where the shape changes), bn2, fc (25088 → 512), ``features``
(BatchNorm1d). 925 state-dict entries.

:func:`identity_embedding` is z_id exactly as GHOST computes it at inference (``utils/inference/core.py``): the
224×224 aligned RGB crop in [-1, 1], bilinearly resized to 112×112 with ``align_corners=True``, through the
network; the **raw** ``features`` output is z_id, never L2-normalised (feeding a normalised z_id to AEI-Net changes
its output). Cosine similarity between two such embeddings is the identity similarity.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.models import load_strict

#: Side of the network's input.
INPUT_SIZE = 112
#: Blocks per stage of IResNet-100.
LAYERS_100 = (3, 13, 30, 3)
#: Size of the embedding.
NUM_FEATURES = 512


class IBasicBlock(nn.Module):
    """Improved residual block: BN → conv3×3 → BN → PReLU → conv3×3(stride) → BN, plus the shortcut."""

    def __init__(
        self,
        inplanes: int,  # input channels
        planes: int,  # output channels
        stride: int = 1,  # stride of the second conv
        downsample: nn.Module | None = None,  # 1×1 conv + BN shortcut when the shape changes
    ) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(inplanes, eps=1e-5)
        self.conv1 = nn.Conv2d(inplanes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, eps=1e-5)
        self.prelu = nn.PReLU(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes, eps=1e-5)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


def _stage(inplanes: int, planes: int, blocks: int) -> nn.Sequential:
    down = nn.Sequential(
        nn.Conv2d(inplanes, planes, 1, stride=2, bias=False), nn.BatchNorm2d(planes, eps=1e-5)
    )
    return nn.Sequential(
        IBasicBlock(inplanes, planes, 2, down), *(IBasicBlock(planes, planes) for _ in range(1, blocks))
    )


class IResNet(nn.Module):
    """IResNet (insightface arcface_torch): 112×112 RGB in [-1, 1] → 512-d raw embedding."""

    def __init__(
        self,
        layers: tuple[int, int, int, int] = LAYERS_100,  # blocks per stage (100: 3, 13, 30, 3)
        num_features: int = NUM_FEATURES,  # embedding size
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, eps=1e-5)
        self.prelu = nn.PReLU(64)
        widths = (64, 128, 256, 512)
        inplanes = 64
        for i, (w, n) in enumerate(zip(widths, layers, strict=True)):
            setattr(self, f"layer{i + 1}", _stage(inplanes, w, n))
            inplanes = w
        self.bn2 = nn.BatchNorm2d(512, eps=1e-5)
        self.fc = nn.Linear(512 * 7 * 7, num_features)
        self.features = nn.BatchNorm1d(num_features, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[1:] == (3, INPUT_SIZE, INPUT_SIZE), (
            f"IResNet wants [N, 3, 112, 112], got {tuple(x.shape)}"
        )
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        x = self.bn2(x).flatten(1)  # dropout p=0 in the published model
        return self.features(self.fc(x))


def identity_embedding(net: IResNet, crop: torch.Tensor) -> torch.Tensor:
    """GHOST's z_id of aligned RGB crops ``[N, 3, S, S]`` in [-1, 1] (S = 224 at inference): bilinear resize to
    112 (``align_corners=True``; GHOST writes ``scale_factor=0.5``, identical for S = 224), raw embedding."""
    assert crop.ndim == 4 and crop.shape[1] == 3, f"crop must be [N, 3, S, S], got {tuple(crop.shape)}"
    if crop.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
        crop = F.interpolate(crop, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=True)
    return net(crop)


def cosine_similarity(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Identity similarity of two batches of raw embeddings, ``[N]`` in [-1, 1]."""
    return F.cosine_similarity(a.float(), b.float(), dim=1)


def load_arcface(checkpoint: Mapping[str, torch.Tensor]) -> IResNet:
    """Build IResNet-100 from GHOST's ``backbone.pth`` state dict (or a safetensors re-pack), strictly."""
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    net = IResNet()
    load_strict(net, state, "ArcFace IResNet-100")
    return net.eval().requires_grad_(False)
