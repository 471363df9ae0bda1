"""Plain-PyTorch versions of StyleGAN2's two custom ops: ``upfirdn2d`` and the fused bias + leaky ReLU.

Semantics follow rosinality/stylegan2-pytorch @ bef283a ``op/upfirdn2d.py`` and ``op/fused_act.py``
(the same ops NVlabs ship as CUDA kernels): upsample by zero insertion, pad (negative pads crop), correlate with
the *flipped* FIR kernel, keep every ``down``-th sample. No compiled extension is built or loaded; every function
here runs on CPU and CUDA in any floating dtype.

The implementation is organised for speed rather than as a literal transcription:

* the FIR filter is one depthwise ``conv2d`` over all channels (no reshape to a one-channel batch, no permutes),
  with ``stride=down`` instead of computing every output and slicing;
* upsampling uses a depthwise ``conv_transpose2d`` (which never multiplies the inserted zeros) followed by a crop,
  so a ×2 upsampling with a 4×4 filter does a quarter of the multiply-adds of the zero-insertion recipe;
* the depthwise filter weight is built once per (channels, dtype, device) and cached on the owning module.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FusedLeakyReLU",
    "fused_leaky_relu",
    "make_kernel",
    "pad4",
    "upfirdn2d",
    "upfirdn2d_reference",
]

#: The activation gain of StyleGAN2's leaky ReLU (keeps the second moment of a unit Gaussian).
LRELU_GAIN = math.sqrt(2.0)
#: The slope of the negative half, as in the official code.
LRELU_SLOPE = 0.2


def make_kernel(k: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """A 1-D FIR taps list → the normalised 2-D kernel (outer product, sums to 1), float32 ``[kh, kw]``."""
    k = torch.as_tensor(k, dtype=torch.float32)
    if k.ndim == 1:
        k = k[None, :] * k[:, None]
    return k / k.sum()


def pad4(pad: Sequence[int]) -> tuple[int, int, int, int]:
    """``(p0, p1)`` or ``(x0, x1, y0, y1)`` → ``(x0, x1, y0, y1)`` (the official convention)."""
    if len(pad) == 2:
        return int(pad[0]), int(pad[1]), int(pad[0]), int(pad[1])
    if len(pad) == 4:
        return int(pad[0]), int(pad[1]), int(pad[2]), int(pad[3])
    raise ValueError(f"pad must have 2 or 4 entries, got {len(pad)}")


def _depthwise(kernel: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    """``[kh, kw]`` → ``[channels, 1, kh, kw]`` in ``dtype`` (an expanded view: no copy)."""
    return kernel.to(dtype)[None, None].expand(channels, 1, *kernel.shape)


def upfirdn2d(
    x: torch.Tensor,  # [N, C, H, W]
    kernel: torch.Tensor,  # [kh, kw], applied flipped (true convolution), as the official op
    up: int = 1,
    down: int = 1,
    pad: Sequence[int] = (0, 0),
    weight: torch.Tensor | None = None,  # optional cached depthwise weight from `_depthwise`
) -> torch.Tensor:
    """Upsample (zero insertion) → pad → FIR filter → downsample, in one or two native conv calls.

    Output size: ``(H * up + y0 + y1 - kh) // down + 1`` rows (and likewise columns), as the official op.
    """
    if x.ndim != 4:
        raise ValueError(f"upfirdn2d expects [N, C, H, W], got shape {tuple(x.shape)}")
    x0, x1, y0, y1 = pad4(pad)
    kh, kw = kernel.shape
    c = x.shape[1]
    if up == 1:
        w = weight if weight is not None else _depthwise(kernel.flip(0, 1), c, x.dtype)
        if x0 == x1 == y0 == y1 and x0 >= 0:
            return F.conv2d(x, w, stride=down, padding=x0, groups=c)
        return F.conv2d(F.pad(x, [x0, x1, y0, y1]), w, stride=down, groups=c)
    # conv_transpose2d is the full convolution of the zero-inserted signal with the (unflipped) kernel;
    # the official output is a window of it starting at kh - 1 - y0 (rows) and kw - 1 - x0 (columns).
    w = weight if weight is not None else _depthwise(kernel, c, x.dtype)
    crop = (kw - 1 - x0, up + x1 - kw, kh - 1 - y0, up + y1 - kh)  # left, right(as pad), top, bottom(as pad)
    lx, rx, ty, by = crop[0], -crop[1], crop[2], -crop[3]
    if lx == rx == ty == by and lx >= 0:
        out = F.conv_transpose2d(x, w, stride=up, padding=lx, groups=c)
    else:
        out = F.pad(F.conv_transpose2d(x, w, stride=up, groups=c), [-lx, -rx, -ty, -by])
    if down > 1:
        out = out[:, :, ::down, ::down]
    return out


def upfirdn2d_reference(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: Sequence[int] = (0, 0)
) -> torch.Tensor:
    """The op written out literally (zero insertion, pad, flipped-kernel correlation, subsample); slow."""
    x0, x1, y0, y1 = pad4(pad)
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [x0, x1, y0, y1])
    k = kernel.flip(0, 1).to(x.dtype)[None, None]
    out = F.conv2d(z.reshape(n * c, 1, *z.shape[2:]), k)
    out = out.reshape(n, c, *out.shape[2:])
    return out[:, :, ::down, ::down]


def fused_leaky_relu(
    x: torch.Tensor,  # [N, C, ...]
    bias: torch.Tensor | None = None,  # [C]
    negative_slope: float = LRELU_SLOPE,
    scale: float = LRELU_GAIN,
    inplace: bool = False,  # may overwrite `x` (callers that own a fresh buffer); ignored under autograd
) -> torch.Tensor:
    """``leaky_relu(x + bias) * scale`` with the bias broadcast over dim 1 (the official op's semantics).

    Without autograd (inference) the steps run in place on one buffer: a fresh one, or ``x`` with ``inplace``.
    """
    grad = torch.is_grad_enabled() and (x.requires_grad or (bias is not None and bias.requires_grad))
    b = bias.to(x.dtype).view(1, -1, *([1] * (x.ndim - 2))) if bias is not None else None
    if grad:
        return F.leaky_relu(x + b if b is not None else x, negative_slope) * scale
    if inplace:
        out = x.add_(b) if b is not None else x
    else:
        out = x + b if b is not None else x.clone()
    return F.leaky_relu_(out, negative_slope).mul_(scale)


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU + gain, keeping the official ``bias`` parameter (state-dict key ``<name>.bias``)."""

    def __init__(
        self,
        channel: int,  # number of channels (length of the bias)
        bias: bool = True,  # learnable per-channel bias
        negative_slope: float = LRELU_SLOPE,  # slope of the negative half
        scale: float = LRELU_GAIN,  # output gain
    ) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channel)) if bias else None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)
