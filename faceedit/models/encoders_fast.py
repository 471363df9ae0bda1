"""A faster CPU inference runtime for the pSp / e4e encoders (IR-SE50 + pyramid heads), same outputs.

The encoders are convolution-bound (one 256² pass is ~72 GMAC, >90 % of it in 3×3 convs, which oneDNN already
runs near the cores' peak), so the only way to be faster is fewer multiplications and less overhead:

* the backbone's stride-1 3×3 convs on 32² and 64² maps with ≥ 128 channels run as Winograd F(4×4, 3×3) (Lavin &
  Gray, CVPR 2016; points 0, ±1, ±2, ∞): 36 matrix products per 4×4 output tile instead of 144, each transform
  one matrix product with a Kronecker square; on 16² maps (too few 4×4 tiles) F(2×2, 3×3), 16 products per
  2×2 tile instead of 36, its transforms whole-map additions on the even/odd rows and columns; the 64-channel
  stage stays plain (there the transforms cost more than the products save);
* the style heads' stride-2 first conv on the 64² map is split by input phase: output (i, j) reads the even
  row/column i with tap 1 and the odd ones i-1, i with taps 0 and 2, so it is a 1×1 conv (even rows and
  columns), two 1×2 / 2×1 convs through Winograd F(4, 2) and one 2×2 conv through F(4×4, 2×2): 81 products per
  4×4 tile instead of 144 (:func:`conv3x3_s2`); the 11 heads reading that map share the phase split and input
  transform; the heads' convs on 8² and 4² maps run as im2col + one matrix product (torch's small-input path
  streams the 9 MB kernels 3× slower);
* BatchNorm after a conv is folded into it (the BatchNorm before a unit's first conv stays a per-channel
  multiply-add, since zero padding sits between them; the input layer runs as the module does, its 3-channel
  conv on a channels-last copy: folding its BatchNorm into that conv measurably amplified float32 rounding
  through the 50 layers);
* with more than one torch thread the 18 independent heads run on parallel Python threads with one intra-op
  thread each, taking heads from one queue, longest first (their small matrix products scale poorly over
  threads within one op). On two threads the runtime still gains less from the second core than the official
  code (~1.75× vs ~1.9×): its transforms and tile copies are bound by memory bandwidth, which this kind of VM
  raises only ~1.4× with a second core (docs/benchmarks.md, "Third round").

Everything is built once from the module's eval-mode weights (float64 arithmetic for the transforms; ~0.74 GB
beside the ~1 GB module: the Winograd and phase kernels; a conv's folded weight only where they can't serve it)
and cached beside it
(:func:`fast_encoder`); the module and its state dict are never written.  Tensors in, tensors out; this file
imports nothing from the app.  Outputs equal the modules' up to float32 rounding (tests assert 1e-5 of the
codes' magnitude against the official reference tensors and the modules).  ``torch.compile`` was tried and is
not used: ~60 s of compilation per conv shape on this CPU, and its code for the transforms was slower.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder, _PyramidEncoder

__all__ = ["FastEncoder", "conv3x3_s1", "conv3x3_s1_4x4", "conv3x3_s2", "fast_encoder", "s1_weight", "s1_weight4",
           "s2_weight"]

# --- transforms: output tile = A^T [(G g G^T) ⊙ (B^T d B)] A, nested over rows and columns -----------------
#: F(2, 3), stride 1: 4 inputs per 2 outputs (B^T and A^T are spelled out in :func:`conv3x3_s1`).
_S1_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))
#: F(4, 3), stride 1: 6 inputs per 4 outputs, points 0, ±1, ±2, ∞ (same construction as ``_F2`` below).
_S1_4 = (((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0), (0, 1, -1, 8, -8, 1)),
         ((1 / 4, 0.0, 0.0), (1 / 6, 1 / 6, 1 / 6), (1 / 6, -1 / 6, 1 / 6), (1 / 24, 1 / 12, 1 / 6),
          (1 / 24, -1 / 12, 1 / 6), (0.0, 0.0, 1.0)),
         ((4, 0, -5, 0, 1, 0), (0, 4, 4, -1, -1, 0), (0, -4, 4, 1, -1, 0), (0, -2, -1, 2, 1, 0),
          (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)))
#: Stride 2 by input phase: output (i, j) reads rows 2i-1, 2i, 2i+1, i.e. the even row i with tap 1 and the
#: odd rows i-1, i with taps 0, 2 (same for columns). So the even-even phase is a 1×1 conv (tap (1, 1)), the mixed
#: phases 1×2 / 2×1 convs and the odd-odd phase a 2×2 conv, each 2-tap dimension through Winograd F(m, 2).
#: F(m, 2) by Toom-Cook at the points below (A^T = V_y^T, G = V_w, B^T = V^-T of their Vandermonde matrices,
#: rows of B^T scaled to integers, the fractions moved into G, which is built in float64):
#: m = 2 at 0, 1, ∞ (transforms add and subtract only); m = 4 at 0, 1, -1, 2, ∞.
_F2 = {
    2: (((1, 1, 0), (0, 1, 1)),
        ((1.0, 0.0), (1.0, 1.0), (0.0, 1.0)),
        ((1, -1, 0), (0, 1, 0), (0, -1, 1))),
    4: (((1, 1, 1, 1, 0), (0, 1, -1, 2, 0), (0, 1, 1, 4, 0), (0, 1, -1, 8, 1)),
        ((1 / 2, 0.0), (1 / 2, 1 / 2), (1 / 6, -1 / 6), (1 / 6, 1 / 3), (0.0, 1.0)),
        ((2, -1, -2, 1, 0), (0, 2, 1, -1, 0), (0, -2, 3, -1, 0), (0, -1, 0, 1, 0), (0, 2, -1, -2, 1))),
}


def _weight_transform(weight: torch.Tensor, g_rows: Sequence[Sequence[float]]) -> torch.Tensor:
    """3×3 kernels [K, C, 3, 3] → ``G w G^T`` as [T·T, K, C] (float64 arithmetic, returned in the weight's dtype)."""
    g = torch.tensor(g_rows, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abkc", g, weight.double(), g)
    return u.reshape(len(g_rows) ** 2, *weight.shape[:2]).to(weight.dtype).contiguous()


def s1_weight(weight: torch.Tensor) -> torch.Tensor:
    """Kernels for :func:`conv3x3_s1` ([16, K, C])."""
    return _weight_transform(weight, _S1_G)


def s1_weight4(weight: torch.Tensor) -> torch.Tensor:
    """Kernels for :func:`conv3x3_s1_4x4` ([36, K, C])."""
    return _weight_transform(weight, _S1_4[1])


@dataclass
class S2Weights:
    """Kernels for :func:`conv3x3_s2`: tap (1, 1) [K, C], F(m, 2) transforms of the rows' taps (0, 2) at column
    tap 1 and of the columns' taps at row tap 1 ([m+1, K, C] each), and of the 2×2 corner taps ([(m+1)², K, C])."""

    m: int
    even: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    odd: torch.Tensor


def s2_weight(weight: torch.Tensor, m: int = 4) -> S2Weights:
    """Kernels for :func:`conv3x3_s2` with output tiles of ``m`` (2 or 4) per dimension (float64 arithmetic)."""
    g = torch.tensor(_F2[m][1], dtype=torch.float64, device=weight.device)
    w = weight.double()
    k, c = weight.shape[:2]
    rows = torch.einsum("ai,kci->akc", g, w[:, :, 0::2, 1])
    cols = torch.einsum("bj,kcj->bkc", g, w[:, :, 1, 0::2])
    odd = torch.einsum("ai,bj,kcij->abkc", g, g, w[:, :, 0::2, 0::2]).reshape(-1, k, c)
    return S2Weights(m, *(t.to(weight.dtype).contiguous() for t in (w[:, :, 1, 1], rows, cols, odd)))


def _f23_input(even: torch.Tensor, odd: torch.Tensor, dim: int, out: torch.Tensor) -> None:
    """F(2, 3) input transform along ``dim`` of a zero-padded map split into its even and odd rows (or columns):
    tile i is (even[i], odd[i], even[i+1], odd[i+1]); writes the four transformed maps into out[0..3]."""
    n = even.shape[dim] - 1
    e0, e1, o0, o1 = even.narrow(dim, 0, n), even.narrow(dim, 1, n), odd.narrow(dim, 0, n), odd.narrow(dim, 1, n)
    torch.sub(e0, e1, out=out[0])
    torch.add(o0, e1, out=out[1])
    torch.sub(e1, o0, out=out[2])
    torch.sub(o0, o1, out=out[3])


def conv3x3_s1(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv2d(x, w, bias, stride=1, padding=1)`` with ``u = s1_weight(w)``; H and W even.

    Each transform pass is a few whole-map additions (no per-tile work): rows, then columns, the 16 batched
    matrix products, then the output transform over one dimension and the other, written straight into the
    interleaved output."""
    n, c, h, w = x.shape
    assert h % 2 == 0 and w % 2 == 0, tuple(x.shape)
    th, tw = h // 2, w // 2
    xp = F.pad(x, (1, 1, 1, 1))
    r = x.new_empty(4, n, c, th, w + 2)
    _f23_input(xp[:, :, 0::2], xp[:, :, 1::2], 2, r)
    v = x.new_empty(4, 4, c, n, th, tw)
    for a in range(4):
        _f23_input(r[a][..., 0::2], r[a][..., 1::2], 3, v[a].transpose(1, 2))
    k = u.shape[1]
    m = torch.bmm(u, v.view(16, c, -1)).view(4, 4, k, n, th, tw)
    if bias is not None:  # A^T has ones in column 1 of both rows: product (1, 1) reaches every output once
        m[1, 1].add_(bias.view(-1, 1, 1, 1))
    # A^T = ((1, 1, 1, 0), (0, 1, -1, -1)): y0 = m0 + (m1 + m2), y1 = (m1 - m2) - m3; rows, then columns
    z = torch.stack(((m[1] + m[2]).add_(m[0]), torch.sub(m[1], m[2]).sub_(m[3])))  # [2, 4, K, N, th, tw]
    out = x.new_empty(n, k, h, w)
    dst = out.view(n, k, th, 2, tw, 2).permute(3, 5, 1, 0, 2, 4)  # [p, q, K, N, th, tw]
    s = z[:, 1] + z[:, 2]
    torch.add(z[:, 0], s, out=dst[:, 0])
    torch.sub(z[:, 1], z[:, 2], out=s)
    torch.sub(s, z[:, 3], out=dst[:, 1])
    return out


def conv3x3_s1_4x4(x: torch.Tensor, u: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv2d(x, w, bias, stride=1, padding=1)`` with ``u = s1_weight4(w)`` by Winograd F(4×4, 3×3) (36 products
    per 4×4 tile instead of 144); H and W multiples of 4. Both transforms are one matrix product each with the
    Kronecker square of B^T (36×36) and of A^T (16×36) over all tiles and channels at once."""
    n, c, h, w = x.shape
    assert h % 4 == 0 and w % 4 == 0, tuple(x.shape)
    th, tw = h // 4, w // 4
    at = torch.tensor(_S1_4[0], dtype=x.dtype, device=x.device)
    bt = torch.tensor(_S1_4[2], dtype=x.dtype, device=x.device)
    tiles = F.pad(x, (1, 1, 1, 1)).unfold(2, 6, 4).unfold(3, 6, 4)  # [N, C, th, tw, 6, 6]
    v = torch.kron(bt, bt) @ tiles.permute(4, 5, 1, 0, 2, 3).reshape(36, -1)  # [36, C·N·th·tw]
    k = u.shape[1]
    y = torch.kron(at, at) @ torch.bmm(u, v.view(36, c, -1)).view(36, -1)  # [16, K·N·th·tw]
    y = y.view(4, 4, k, n, th, tw).permute(3, 2, 4, 0, 5, 1)  # [N, K, th, 4, tw, 4]
    out = x.new_empty(n, k, h, w)
    if bias is None:
        out.view(n, k, th, 4, tw, 4).copy_(y)
    else:
        torch.add(y, bias.view(1, -1, 1, 1, 1, 1), out=out.view(n, k, th, 4, tw, 4))
    return out


@dataclass
class _S2Input:
    """The four input phases of a stride-2 conv, transformed: [C, N·h·w], [m+1, C, …], [m+1, C, …], [(m+1)², C, …]."""

    m: int
    shape: tuple[int, int, int]  # N, output h and w padded to multiples of m
    out_hw: tuple[int, int]  # the true output h, w
    even: torch.Tensor
    rows: torch.Tensor
    cols: torch.Tensor
    odd: torch.Tensor


def _s2_input(x: torch.Tensor, m: int) -> _S2Input:
    """Phase split and F(m, 2) input transforms of ``x`` [N, C, H, W] (H, W even) for :func:`_s2_output`."""
    n, c, h2, w2 = x.shape
    out_hw = (h2 // 2, w2 // 2)
    th, tw = -(-out_hw[0] // m), -(-out_hw[1] // m)
    h, w = th * m, tw * m
    if (h, w) != out_hw:  # zero rows / columns below and right touch only the outputs cropped away
        x = F.pad(x, (0, 2 * w - w2, 0, 2 * h - h2))
    bt = torch.tensor(_F2[m][2], dtype=x.dtype, device=x.device).T
    t = m + 1
    even = x[:, :, 0::2, 0::2].transpose(0, 1).contiguous().view(c, n * h * w)
    r = F.pad(x[:, :, 1::2, 0::2], (0, 0, 1, 0)).unfold(2, t, m)  # [N, C, th, w, t]
    rows = (r @ bt).permute(4, 1, 0, 2, 3).contiguous().view(t, c, n * th * w)
    q = F.pad(x[:, :, 0::2, 1::2], (1, 0, 0, 0)).unfold(3, t, m)  # [N, C, h, tw, t]
    cols = (q @ bt).permute(4, 1, 0, 2, 3).contiguous().view(t, c, n * h * tw)
    o = F.pad(x[:, :, 1::2, 1::2], (1, 0, 1, 0)).unfold(2, t, m).unfold(3, t, m)  # [N, C, th, tw, t, t]
    odd = ((o @ bt).transpose(-1, -2) @ bt).permute(5, 4, 1, 0, 2, 3)  # (B^T o B)^T, then back
    odd = odd.contiguous().view(t * t, c, n * th * tw)
    return _S2Input(m, (n, h, w), out_hw, even, rows, cols, odd)


def _s2_output(v: _S2Input, u: S2Weights, bias: torch.Tensor | None) -> torch.Tensor:
    """Products over channels per phase (batched matrix products) and output transforms → [N, K, h, w]."""
    assert u.m == v.m, (u.m, v.m)
    m, t = v.m, v.m + 1
    n, h, w = v.shape
    k = u.even.shape[0]
    th, tw = h // m, w // m
    at = torch.tensor(_F2[m][0], dtype=v.even.dtype, device=v.even.device)
    acc = (u.even @ v.even if bias is None else torch.addmm(bias.view(-1, 1), u.even, v.even)).view(k, n, h, w)
    y = (at @ torch.bmm(u.rows, v.rows).view(t, -1)).view(m, k, n, th, w)
    acc.view(k, n, th, m, w).add_(y.permute(1, 2, 3, 0, 4))
    y = (at @ torch.bmm(u.cols, v.cols).view(t, -1)).view(m, k, n, h, tw)
    acc.view(k, n, h, tw, m).add_(y.permute(1, 2, 3, 4, 0))
    y = (at @ (at @ torch.bmm(u.odd, v.odd).view(t, -1)).view(m, t, -1)).view(m, m, k, n, th, tw)
    acc.view(k, n, th, m, tw, m).add_(y.permute(2, 3, 4, 0, 5, 1))
    out = acc.transpose(0, 1)
    if (h, w) != v.out_hw:
        out = out[:, :, :v.out_hw[0], :v.out_hw[1]]
    return out.contiguous()


def conv3x3_s2(x: torch.Tensor, u: S2Weights, bias: torch.Tensor | None = None) -> torch.Tensor:
    """``conv2d(x, w, bias, stride=2, padding=1)`` with ``u = s2_weight(w, m)``; H and W even."""
    assert x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0, tuple(x.shape)
    return _s2_output(_s2_input(x, u.m), u, bias)


# --- folded weights --------------------------------------------------------------------------------------
def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval BatchNorm as ``x·scale + shift`` (float64)."""
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    return scale, bn.bias.double() - bn.running_mean.double() * scale


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """``bn(conv(x))`` as one conv's (weight, bias), float64 arithmetic, in the conv's dtype."""
    scale, shift = _bn_scale_shift(bn)
    weight = conv.weight.double() * scale.view(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    return weight.to(conv.weight.dtype), bias.to(conv.weight.dtype)


def _winograd_kernels(weight: torch.Tensor, side: int) -> torch.Tensor | None:
    """Winograd kernels for a stride-1 3×3 conv on maps of ``side`` (that of a 256² input), or None where the
    plain conv is faster: F(4×4, 3×3) from 128 channels on maps of 32² and more (F(2×2, 3×3) there is slower:
    its transforms cost more than its products save), F(2×2, 3×3) on narrower maps from 256 channels (4×4 tiles
    leave too few columns there for the matrix products: 16 tiles on 16²); 64 channels: direct."""
    k, c = weight.shape[:2]
    if min(k, c) >= 128 and side >= 32:
        return s1_weight4(weight)
    return s1_weight(weight) if min(k, c) >= 256 else None


def _conv_s1(x: torch.Tensor, weight: torch.Tensor | Callable[[], torch.Tensor], u: torch.Tensor | None,
             bias: torch.Tensor | None) -> torch.Tensor:
    """Stride-1 3×3 conv by the Winograd kernels ``u`` where the map fits their tiles, else by conv2d (``weight``
    may be a function that makes it: only called then)."""
    tile = 4 if u is not None and u.shape[0] == 36 else 2
    if u is None or x.shape[2] % tile or x.shape[3] % tile:
        return F.conv2d(x, weight() if callable(weight) else weight, bias, padding=1)
    return (conv3x3_s1_4x4 if tile == 4 else conv3x3_s1)(x, u, bias)


@dataclass
class _Unit:
    """One IR-SE unit: pre-BN affine, conv1 + PReLU, conv2 with its BN folded, SE, shortcut."""

    pre: tuple[torch.Tensor, torch.Tensor]  # [1, C, 1, 1] scale, shift
    conv1: torch.Tensor
    u1: torch.Tensor | None  # Winograd kernels of conv1 ([16 or 36, K, C], see :func:`_winograd_kernels`) or None
    prelu: torch.Tensor
    stride: int
    conv2: tuple[nn.Conv2d, nn.BatchNorm2d]  # the module's (only read)
    b2: torch.Tensor  # bias of conv2 with its BN folded
    w2: torch.Tensor | None  # folded weight of conv2; None where u2 serves (made on demand for maps u2 can't tile)
    u2: torch.Tensor | None  # Winograd kernels of conv2 (stride-1 units only) or None
    se: nn.Module
    shortcut: tuple[torch.Tensor, torch.Tensor] | None  # folded 1×1 conv, or None (identity / subsample)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        r = torch.addcmul(self.pre[1], x, self.pre[0])
        r = _conv_s1(r, self.conv1, self.u1, None)
        r = F.prelu(r, self.prelu)
        if self.stride == 1:
            r = _conv_s1(r, self.w2 if self.u2 is None else self._weight2, self.u2, self.b2)
        else:
            r = F.conv2d(r, self.w2, self.b2, stride=2, padding=1)
        r = self.se(r)
        if self.shortcut is None:
            return r.add_(x if self.stride == 1 else x[:, :, ::self.stride, ::self.stride])
        ws, bs = self.shortcut
        return r.add_(F.conv2d(x, ws, bs, stride=self.stride))

    def _weight2(self) -> torch.Tensor:
        """conv2's folded weight, for a map the Winograd tiles don't fit (kept once made)."""
        if self.w2 is None:
            with torch.no_grad(), torch.inference_mode(False):
                self.w2 = _fold(*self.conv2)[0]
        return self.w2


#: Tile size m of the phase algorithm for a head's stride-2 conv, by input side (absent: plain conv2d or
#: im2col). Only the 64² map pays: on 32² (middle heads' first, fine heads' second convs) m = 2 or 4 measured
#: equal (shared transform) to 40 % slower (a transform per head) than oneDNN's direct conv.
HEAD_TILES = {64: 4}


def _head_conv(x: torch.Tensor, conv: nn.Conv2d, u: S2Weights | None) -> torch.Tensor:
    """One stride-2 3×3 conv of a style head: the phase algorithm (even sides), im2col + one matrix product on 4²
    and 8² maps (torch's own small-input path is 3× slower at 4²), else conv2d."""
    h, w = x.shape[2:]
    if u is not None and h % 2 == 0 and w % 2 == 0:
        return conv3x3_s2(x, u, conv.bias)
    if h * w in (16, 64):
        cols = F.unfold(x, 3, padding=1, stride=2)  # [N, C·9, L]
        y = F.linear(cols.transpose(1, 2), conv.weight.view(conv.out_channels, -1), conv.bias)
        return y.transpose(1, 2).reshape(x.shape[0], -1, (h + 1) // 2, (w + 1) // 2)
    return F.conv2d(x, conv.weight, conv.bias, stride=2, padding=1)


@dataclass
class _HeadGroup:
    """Style heads reading the same map: their first convs share one phase split and input transform."""

    heads: list[nn.Module]  # GradualStyleBlock modules (only read)
    u: list[list[S2Weights | None]]  # per head and conv: phase-algorithm kernels, or None

    @property
    def cost(self) -> float:
        """Relative work of one head (output pixels of its convs; the phase algorithm's first conv counts 0.56)."""
        side = self.heads[0].spatial
        first = 0.56 if self.u[0][0] is not None else 1.0
        return (side // 2) ** 2 * first + sum((side >> i) ** 2 for i in range(2, len(self.heads[0].convs) // 2 + 1))

    def prepare(self, x: torch.Tensor) -> _S2Input | None:
        """The shared phase split and input transform of the heads' first convs (None: they run as convs)."""
        even = x.shape[2] % 2 == 0 and x.shape[3] % 2 == 0
        return _s2_input(x, self.u[0][0].m) if self.u[0][0] is not None and even else None

    def head(self, i: int, x: torch.Tensor, v: _S2Input | None) -> torch.Tensor:
        """Head ``i`` on map ``x`` (``v`` = :meth:`prepare` of it) → style [N, 512]."""
        head, us = self.heads[i], self.u[i]
        convs = head.convs[0::2]
        y = _s2_output(v, us[0], convs[0].bias) if v is not None else _head_conv(x, convs[0], us[0])
        y = F.leaky_relu_(y, head.convs[1].negative_slope)
        for conv, act, u in zip(convs[1:], head.convs[3::2], us[1:], strict=True):
            y = F.leaky_relu_(_head_conv(y, conv, u), act.negative_slope)
        return head.linear(y.view(-1, head.out_c))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Map [N, C, S, S] → styles [H, N, 512]."""
        v = self.prepare(x)
        return torch.stack([self.head(i, x, v) for i in range(len(self.heads))])


class FastEncoder:
    """The eval-mode runtime of a :class:`GradualStyleEncoder` or :class:`Encoder4Editing` (see the module doc)."""

    def __init__(self, net: _PyramidEncoder) -> None:
        if net.training:
            raise ValueError("FastEncoder is for inference: call .eval() first.")
        self.kind = "e4e" if isinstance(net, Encoder4Editing) else "psp"
        self.key = _key(net)
        self.net = net
        with torch.no_grad():
            self.units: list[_Unit] = []
            side = 256  # map side of each unit's input for a 256² image (the encoders' input size)
            for unit in net.body:
                bn1, conv1, act, conv2, bn2, se = unit.res_layer
                stride = conv2.stride[0]
                w2, b2 = _fold(conv2, bn2)
                u2 = _winograd_kernels(w2, side) if stride == 1 else None
                sc = None if not isinstance(unit.shortcut_layer, nn.Sequential) else _fold(*unit.shortcut_layer)
                scale, shift = _bn_scale_shift(bn1)
                dt = conv1.weight.dtype
                self.units.append(_Unit(
                    (scale.view(1, -1, 1, 1).to(dt), shift.view(1, -1, 1, 1).to(dt)), conv1.weight,
                    _winograd_kernels(conv1.weight, side), act.weight, stride, (conv2, bn2), b2,
                    None if u2 is not None else w2, u2, se, sc))
                side //= stride
            bounds = [(0, net.coarse_ind), (net.coarse_ind, net.middle_ind), (net.middle_ind, net.style_count)]
            self.groups = []
            for a, b in bounds:
                heads = [net.styles[j] for j in range(a, b)]
                self.groups.append(_HeadGroup(heads, [[
                    s2_weight(conv.weight, HEAD_TILES[side]) if side in HEAD_TILES else None
                    for conv, side in zip(h.convs[0::2], (h.spatial >> i for i in range(len(h.convs) // 2)))]
                    for h in heads]))

    def backbone(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Image [N, C, 256, 256] → (c1, c2, c3) as the module's ``backbone``."""
        conv, bn, act = self.net.input_layer  # BatchNorm kept apart: folding it into a 3-channel conv costs accuracy
        # oneDNN runs a 3-channel conv ~8× faster on a channels-last input (21 → 3 ms, plus 9 ms to convert back)
        x = act(bn(F.conv2d(x.contiguous(memory_format=torch.channels_last), conv.weight, conv.bias, padding=1)
                   .contiguous()))
        feats = []
        for i, unit in enumerate(self.units):
            x = unit(x)
            if i in (6, 20, 23):
                feats.append(x)
        return feats[0], feats[1], feats[2]

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Codes [N, n_styles, 512], as the module's forward."""
        c1, c2, c3 = self.backbone(x)
        p2 = _upsample_add(c3, self.net.latlayer1(c2))
        p1 = _upsample_add(p2, self.net.latlayer2(c1))
        maps = (c3, p2, p1)
        if PARALLEL_HEADS and torch.get_num_threads() > 1:
            styles = self._heads_in_threads(maps)
        else:
            styles = torch.cat([g(m) for g, m in zip(self.groups, maps, strict=True)])  # [S, N, 512]
        styles = styles.transpose(0, 1)
        if self.kind == "psp":
            return styles.contiguous()
        return torch.cat([styles[:, :1], styles[:, :1] + styles[:, 1:]], 1)

    def _heads_in_threads(self, maps: tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The 18 heads spread over ``torch.get_num_threads()`` Python threads, each running its heads with one
        intra-op thread (the heads are independent and their small matrix products scale poorly over threads
        within one op). Each thread takes the next head from one queue, longest first, so the threads end
        together whatever each head really takes; the torch thread count is restored afterwards (a lock keeps
        concurrent callers from interleaving that)."""
        vs = [g.prepare(m) for g, m in zip(self.groups, maps, strict=True)]
        jobs = [(g, i) for g, group in enumerate(self.groups) for i in range(len(group.heads))]
        queue = iter(sorted(jobs, key=lambda j: -self.groups[j[0]].cost))
        taking = threading.Lock()
        out: dict[tuple[int, int], torch.Tensor] = {}
        inference = torch.is_inference_mode_enabled()

        def run(_: int) -> None:
            with torch.inference_mode(inference), torch.no_grad():
                while True:
                    with taking:
                        job = next(queue, None)
                    if job is None:
                        return
                    out[job] = self.groups[job[0]].head(job[1], maps[job[0]], vs[job[0]])

        workers = min(torch.get_num_threads(), len(jobs))
        with _THREADS_LOCK:
            before = torch.get_num_threads()
            torch.set_num_threads(1)
            try:
                list(_pool(workers).map(run, range(workers)))
            finally:
                torch.set_num_threads(before)
        return torch.stack([out[j] for j in jobs])


#: Run the style heads in parallel Python threads when torch has more than one thread (see
#: :meth:`FastEncoder._heads_in_threads`); False: every op in turn, with torch's own intra-op threads.
PARALLEL_HEADS = True
_THREADS_LOCK = threading.Lock()
_POOLS: dict[int, ThreadPoolExecutor] = {}


def _pool(workers: int) -> ThreadPoolExecutor:
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="faceedit-heads")
    return _POOLS[workers]


def _upsample_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, size=y.shape[2:], mode="bilinear", align_corners=True) + y


def _key(net: nn.Module) -> tuple:
    """Identity and in-place versions of the module's tensors (inference tensors keep no version: -1)."""
    return tuple((t.data_ptr(), -1 if t.is_inference() else t._version, t.device, t.dtype)
                 for t in (*net.parameters(), *net.buffers()))


def fast_encoder(net: GradualStyleEncoder | Encoder4Editing) -> FastEncoder:
    """The cached :class:`FastEncoder` of ``net`` (rebuilt when any weight changes storage or version)."""
    key = _key(net)
    cached = net.__dict__.get("_fast")
    if cached is None or cached.key != key:
        cached = FastEncoder(net)
        net.__dict__["_fast"] = cached
    return cached
