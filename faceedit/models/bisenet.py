"""BiSeNet face parser (Yu et al., "BiSeNet: Bilateral Segmentation Network", ECCV 2018).

State-dict layout of zllrunning/face-parsing.PyTorch @ d2e684cf ``model.py`` + ``resnet.py``, the
CelebAMask-HQ checkpoint ``79999_iter.pth`` (191 entries, a plain state dict, 19 classes in the order of
:data:`faceedit.labels.CLASSES`).  As in that code, the spatial path of the paper is replaced by the ResNet's
1/8 feature map, so the network is: ResNet-18 context path → attention refinement modules (ARM) on the 1/16
and 1/32 features plus a global-average context → feature fusion module (FFM) of the 1/8 feature and the
refined context → output head, upsampled bilinearly (``align_corners=True``) to the input size.  Two auxiliary
heads (``conv_out16``, ``conv_out32``) exist for training; :meth:`BiSeNet.forward` returns all three like the
official code, :meth:`BiSeNet.parse_logits` only the main one (what inference uses).

Preprocessing of the official ``test.py``: RGB resized to 512×512 (PIL bilinear), scaled to [0, 1],
normalised with ImageNet mean/std (:data:`MEAN`, :data:`STD`).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Input side of the published checkpoint and ImageNet normalisation (official ``test.py``).
INPUT_SIZE = 512
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
NUM_CLASSES = 19


class ConvBNReLU(nn.Module):
    """Convolution (no bias) → BatchNorm → ReLU."""

    def __init__(
        self,
        in_chan: int,  # input channels
        out_chan: int,  # output channels
        ks: int = 3,  # kernel size
        stride: int = 1,  # stride
        padding: int = 1,  # zero padding
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_chan, out_chan, kernel_size=ks, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_chan)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


# --- ResNet-18 backbone (context path) -------------------------------------------------------------------


class BasicBlock(nn.Module):
    """ResNet basic block: two 3×3 convs with BatchNorm, a 1×1 projection shortcut when shapes change."""

    def __init__(
        self,
        in_chan: int,  # input channels
        out_chan: int,  # output channels
        stride: int = 1,  # stride of the first conv (and of the shortcut)
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_chan, out_chan, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_chan)
        self.conv2 = nn.Conv2d(out_chan, out_chan, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_chan)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Sequential | None = None
        if in_chan != out_chan or stride != 1:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_chan, out_chan, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(out_chan),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(shortcut + residual)


def _stage(in_chan: int, out_chan: int, stride: int) -> nn.Sequential:
    """Two basic blocks; the first one may downsample."""
    return nn.Sequential(BasicBlock(in_chan, out_chan, stride), BasicBlock(out_chan, out_chan, 1))


class Resnet18(nn.Module):
    """ResNet-18 without its classifier; returns the 1/8, 1/16 and 1/32 feature maps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = _stage(64, 64, 1)
        self.layer2 = _stage(64, 128, 2)
        self.layer3 = _stage(128, 256, 2)
        self.layer4 = _stage(256, 512, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.maxpool(F.relu(self.bn1(self.conv1(x))))
        feat8 = self.layer2(self.layer1(x))  # [N, 128, H/8, W/8]
        feat16 = self.layer3(feat8)  # [N, 256, H/16, W/16]
        feat32 = self.layer4(feat16)  # [N, 512, H/32, W/32]
        return feat8, feat16, feat32


# --- BiSeNet boxes -------------------------------------------------------------------------------------


class AttentionRefinementModule(nn.Module):
    """ARM: conv, then a channel attention from global average pooling → 1×1 conv → BN → sigmoid."""

    def __init__(
        self,
        in_chan: int,  # input channels
        out_chan: int,  # output channels
    ) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_chan, out_chan, ks=3, stride=1, padding=1)
        self.conv_atten = nn.Conv2d(out_chan, out_chan, kernel_size=1, bias=False)
        self.bn_atten = nn.BatchNorm2d(out_chan)
        self.sigmoid_atten = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feat = self.conv(x)
        atten = feat.mean(dim=(2, 3), keepdim=True)  # global average pooling
        atten = self.sigmoid_atten(self.bn_atten(self.conv_atten(atten)))
        return feat * atten


class ContextPath(nn.Module):
    """Context path: ResNet-18, ARMs on 1/16 and 1/32, global context, top-down nearest upsampling."""

    def __init__(self) -> None:
        super().__init__()
        self.resnet = Resnet18()
        self.arm16 = AttentionRefinementModule(256, 128)
        self.arm32 = AttentionRefinementModule(512, 128)
        self.conv_head32 = ConvBNReLU(128, 128, ks=3, stride=1, padding=1)
        self.conv_head16 = ConvBNReLU(128, 128, ks=3, stride=1, padding=1)
        self.conv_avg = ConvBNReLU(512, 128, ks=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        feat8, feat16, feat32 = self.resnet(x)
        # global context: average of the 1/32 map, broadcast back (nearest upsampling of a 1×1 map)
        avg = self.conv_avg(feat32.mean(dim=(2, 3), keepdim=True))
        feat32_sum = self.arm32(feat32) + avg.expand(-1, -1, *feat32.shape[2:])
        feat32_up = self.conv_head32(F.interpolate(feat32_sum, feat16.shape[2:], mode="nearest"))
        feat16_sum = self.arm16(feat16) + feat32_up
        feat16_up = self.conv_head16(F.interpolate(feat16_sum, feat8.shape[2:], mode="nearest"))
        return feat8, feat16_up, feat32_up  # 1/8, 1/8, 1/16


class FeatureFusionModule(nn.Module):
    """FFM: concatenate spatial and context features, 1×1 conv, squeeze-excitation style re-weighting."""

    def __init__(
        self,
        in_chan: int,  # channels of the concatenation
        out_chan: int,  # output channels
    ) -> None:
        super().__init__()
        self.convblk = ConvBNReLU(in_chan, out_chan, ks=1, stride=1, padding=0)
        self.conv1 = nn.Conv2d(out_chan, out_chan // 4, kernel_size=1, bias=False)
        self.conv2 = nn.Conv2d(out_chan // 4, out_chan, kernel_size=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.sigmoid = nn.Sigmoid()

    def forward(self, fsp: torch.Tensor, fcp: torch.Tensor) -> torch.Tensor:
        feat = self.convblk(torch.cat([fsp, fcp], dim=1))
        atten = feat.mean(dim=(2, 3), keepdim=True)
        atten = self.sigmoid(self.conv2(self.relu(self.conv1(atten))))
        return feat * atten + feat


class BiSeNetOutput(nn.Module):
    """Output head: 3×3 ConvBNReLU then a 1×1 classifier (no bias)."""

    def __init__(
        self,
        in_chan: int,  # input channels
        mid_chan: int,  # hidden channels
        n_classes: int,  # number of classes
    ) -> None:
        super().__init__()
        self.conv = ConvBNReLU(in_chan, mid_chan, ks=3, stride=1, padding=1)
        self.conv_out = nn.Conv2d(mid_chan, n_classes, kernel_size=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_out(self.conv(x))


class BiSeNet(nn.Module):
    """The face parser of ``79999_iter.pth``: input [N, 3, H, W] ImageNet-normalised, logits at H×W."""

    def __init__(
        self,
        n_classes: int = NUM_CLASSES,  # output classes (19 for CelebAMask-HQ)
    ) -> None:
        super().__init__()
        self.cp = ContextPath()
        self.ffm = FeatureFusionModule(256, 256)
        self.conv_out = BiSeNetOutput(256, 256, n_classes)
        self.conv_out16 = BiSeNetOutput(128, 64, n_classes)
        self.conv_out32 = BiSeNetOutput(128, 64, n_classes)

    def _upsample(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return F.interpolate(logits, size, mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Main, 1/8-context and 1/16-context logits, each [N, n_classes, H, W] (as the official forward)."""
        size = x.shape[2:]
        feat8, feat_cp8, feat_cp16 = self.cp(x)
        out = self.conv_out(self.ffm(feat8, feat_cp8))  # the 1/8 ResNet map stands in for the spatial path
        return (
            self._upsample(out, size),
            self._upsample(self.conv_out16(feat_cp8), size),
            self._upsample(self.conv_out32(feat_cp16), size),
        )

    def parse_logits(self, x: torch.Tensor) -> torch.Tensor:
        """Only the main logits [N, n_classes, H, W] (what inference uses; skips the training heads)."""
        assert x.ndim == 4 and x.shape[1] == 3, f"expected [N, 3, H, W], got {tuple(x.shape)}"
        feat8, feat_cp8, _ = self.cp(x)
        return self._upsample(self.conv_out(self.ffm(feat8, feat_cp8)), x.shape[2:])


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One convolution equal to ``bn(conv(x))`` in eval mode: W' = W·γ/σ, b' = (b − μ)·γ/σ + β."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding, bias=True
    ).to(conv.weight.device, conv.weight.dtype)
    bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.weight.data.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    fused.bias.data.copy_((bias - bn.running_mean) * scale + bn.bias)
    return fused


@torch.no_grad()
def fold_batchnorm(net: BiSeNet) -> BiSeNet:
    """An inference copy of ``net`` with every BatchNorm folded into its convolution, in channels-last layout.

    Same outputs to float32 precision (about 1e-6) and roughly 1.5–2× faster on CPU; its state dict is *not*
    the checkpoint layout, so load checkpoints into :class:`BiSeNet` and fold afterwards.
    """
    fused = copy.deepcopy(net).eval()
    for module in fused.modules():
        for conv_name, bn_name in (("conv", "bn"), ("conv1", "bn1"), ("conv2", "bn2"), ("conv_atten", "bn_atten")):
            conv, bn = getattr(module, conv_name, None), getattr(module, bn_name, None)
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
                setattr(module, conv_name, _fold(conv, bn))
                setattr(module, bn_name, nn.Identity())
        down = getattr(module, "downsample", None)
        if isinstance(down, nn.Sequential) and len(down) == 2 and isinstance(down[1], nn.BatchNorm2d):
            module.downsample = nn.Sequential(_fold(down[0], down[1]))
    return fused.to(memory_format=torch.channels_last).requires_grad_(False)


def load_bisenet(checkpoint: dict[str, Any], n_classes: int = NUM_CLASSES) -> BiSeNet:
    """Build :class:`BiSeNet` from a ``79999_iter.pth``-style state dict, strictly (registry loader)."""
    from faceedit.errors import CheckpointLayoutError

    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, dict) else checkpoint
    net = BiSeNet(n_classes)
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise CheckpointLayoutError(f"this file is not a BiSeNet face-parsing checkpoint: {err}") from None
    return net.eval().requires_grad_(False)
