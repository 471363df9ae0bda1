"""Inference runtime of Gu et al.'s mask-guided generator: folded weights and the incremental ``G`` pass.

Tensors in and out, beside the network file :mod:`faceedit.models.mask_guided` (which stays the paper's
figure and the checkpoint's layout).  :func:`inference_weights` folds every BatchNorm into the conv before
it (eval mode, cached beside the module, never written into its parameters); the residual blocks' 3x3
convs run as Winograd F(2x2, 3x3); :class:`IncrementalGenerator` keeps every activation of one pass, so a
label edit recomputes only the affected rectangle of each layer.  :class:`PreparedFace` is what the app
caches per face (see :func:`faceedit.editors.mask_guided.prepare_face`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from faceedit.errors import InvalidArgumentError
from faceedit.models.mask_guided import COMPONENTS, Generator, _version, one_hot

# ----------------------------------------------------------------------------------------------------
# Incremental G: recompute only what a label edit changes (eval mode, batch 1)

Rect = tuple[int, int, int, int]  # rows r0:r1, cols c0:c1 (half-open)


def _grow(rect: Rect, k: int, h: int, w: int) -> Rect:
    return max(0, rect[0] - k), min(h, rect[1] + k), max(0, rect[2] - k), min(w, rect[3] + k)


def _union(a: Rect | None, b: Rect | None) -> Rect | None:
    if a is None or b is None:
        return a if b is None else b
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def _bbox(mask: torch.Tensor) -> Rect | None:
    """The bounding rectangle ``(r0, r1, c0, c1)`` of a 2-D boolean mask's true cells, None when there are none."""
    rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
    if rows.numel() == 0:
        return None
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _down(rect: Rect, h: int, w: int) -> Rect:
    """Outputs of a k3 s2 p1 conv that see the input rectangle."""
    return max(0, (rect[0] - 1) // 2), min(h, rect[1] // 2 + 1), max(0, (rect[2] - 1) // 2), min(w, rect[3] // 2 + 1)


def _up(rect: Rect, h: int, w: int) -> Rect:
    """Outputs of a k4 s2 p1 transposed conv that see the input rectangle."""
    return max(0, 2 * rect[0] - 1), min(h, 2 * rect[1] + 1), max(0, 2 * rect[2] - 1), min(w, 2 * rect[3] + 1)


ConvWB = tuple[torch.Tensor, torch.Tensor]  # (weight, bias)


def fold_batchnorm(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> ConvWB:
    """``bn(conv(x))`` in eval mode as one conv: weight and bias scaled by ``gamma / sqrt(var + eps)``.

    Exact up to float rounding (the folding itself is done in float64).
    """
    dtype = conv.weight.dtype
    scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
    shape = (1, -1, 1, 1) if isinstance(conv, nn.ConvTranspose2d) else (-1, 1, 1, 1)  # output-channel axis
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    weight = conv.weight.double() * scale.view(shape)
    bias = (bias - bn.running_mean.double()) * scale + bn.bias.double()
    return weight.to(dtype).contiguous(), bias.to(dtype)


#: Winograd F(2x2, 3x3) matrices (Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016):
#: output tile = A^T [(G g G^T) * (B^T d B)] A for a 4x4 input tile d and a 3x3 kernel g.
_WINOGRAD_G = ((1.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, -0.5, 0.5), (0.0, 0.0, 1.0))


def winograd_weight(weight: torch.Tensor) -> torch.Tensor:
    """3x3 kernels [K, C, 3, 3] -> their Winograd F(2x2, 3x3) transforms ``G g G^T`` as [16, K, C] (float64 math)."""
    g = torch.tensor(_WINOGRAD_G, dtype=torch.float64, device=weight.device)
    u = torch.einsum("ai,kcij,bj->abkc", g, weight.double(), g)
    return u.reshape(16, *weight.shape[:2]).to(weight.dtype).contiguous()


def winograd_conv3x3(xp: torch.Tensor, u: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``conv2d(xp, weight, bias)`` of a 3x3 kernel, stride 1, as Winograd F(2x2, 3x3): 16 matrix products of
    [K, C] x [C, tiles] instead of 9 per output pair, 2.25x fewer multiplications, same result up to float rounding.

    ``xp`` [1, C, H + 2, W + 2] (already padded, H and W even), ``u`` = :func:`winograd_weight` [16, K, C].
    """
    assert xp.shape[0] == 1 and xp.shape[2] % 2 == 0 and xp.shape[3] % 2 == 0, tuple(xp.shape)
    x, (C, hp, wp) = xp[0], xp.shape[1:]
    th, tw = (hp - 2) // 2, (wp - 2) // 2  # 2x2 output tiles
    # input transform B^T d B, rows then columns, on strided views of the whole map
    r = [x[:, k:k + 2 * th:2] for k in range(4)]  # [C, th, wp]
    v = xp.new_empty(4, 4, C, th, tw)
    for a, t in enumerate((r[0] - r[2], r[1] + r[2], r[2] - r[1], r[1] - r[3])):
        c = [t[:, :, k:k + 2 * tw:2] for k in range(4)]
        torch.sub(c[0], c[2], out=v[a, 0])
        torch.add(c[1], c[2], out=v[a, 1])
        torch.sub(c[2], c[1], out=v[a, 2])
        torch.sub(c[1], c[3], out=v[a, 3])
    m = torch.bmm(u, v.view(16, C, th * tw)).view(4, 4, -1, th, tw)  # [16 products, K, tiles]
    # output transform A^T m A, rows then columns, written into the interleaved output
    out = xp.new_empty(1, m.shape[2], 2 * th, 2 * tw)
    b = bias.view(-1, 1, 1)
    for i, s in enumerate((m[0] + m[1] + m[2], m[1] - m[2] - m[3])):
        out[0, :, i::2, 0::2] = s[0] + s[1] + s[2] + b
        out[0, :, i::2, 1::2] = s[1] - s[2] - s[3] + b
    return out


@dataclass(frozen=True)
class FoldedGenerator:
    """``G``'s eval-mode weights for the app path, every BatchNorm folded into its conv (see
    :func:`inference_weights`); each entry is a (weight, bias) pair, ReLUs stay separate."""

    key: tuple  # identity and versions of G's tensors when folded
    down: tuple[ConvWB, ...]  # mask encoder: 7x7 reflect, two 3x3 stride 2
    mask_share: torch.Tensor  # the mask's share of the fusion's 1x1 conv [256, 256, 1, 1] (bias: components')
    blocks: tuple[tuple[ConvWB, ConvWB], ...]  # residual blocks: (conv1 + BN, conv2 + BN)
    winograd: tuple[tuple[torch.Tensor, torch.Tensor], ...]  # the blocks' kernels as winograd_weight
    up: tuple[ConvWB, ...]  # two transposed convs + BN, weights channels-last
    out: ConvWB  # the background decoder's 7x7 conv (no BN)

    @classmethod
    def build(cls, G: Generator, key: tuple) -> FoldedGenerator:
        with torch.no_grad():
            ds, m, n_blocks = G.downsample_model, G.model, len(G.model) - 7
            n_mask = m[0].weight.shape[1] - G.part_nc * len(COMPONENTS)
            blocks = tuple((fold_batchnorm(b.conv_block[1], b.conv_block[2]),
                            fold_batchnorm(b.conv_block[5], b.conv_block[6])) for b in m[1:1 + n_blocks])
            return cls(
                key=key,
                down=(fold_batchnorm(ds[1], ds[2]), fold_batchnorm(ds[4], ds[5]), fold_batchnorm(ds[7], ds[8])),
                mask_share=m[0].weight[:, :n_mask].contiguous(),
                blocks=blocks,
                winograd=tuple((winograd_weight(wb1[0]), winograd_weight(wb2[0])) for wb1, wb2 in blocks),
                up=tuple((w.contiguous(memory_format=torch.channels_last), b) for w, b in (
                    fold_batchnorm(m[1 + n_blocks], m[2 + n_blocks]), fold_batchnorm(m[4 + n_blocks], m[5 + n_blocks]))),
                out=(G.bg_decoder[2].weight.detach(), G.bg_decoder[2].bias.detach()),
            )


def _reflect(x: torch.Tensor, r: int) -> torch.Tensor:
    return nn.functional.pad(x, (r, r, r, r), mode="reflect")


def _conv_reflect(wb: ConvWB, x: torch.Tensor, y: torch.Tensor, rect: Rect) -> None:
    """``y[rect] = conv(reflection_pad(x))[rect]`` for a stride-1 conv with 'same' reflection padding."""
    r = wb[0].shape[-1] // 2
    r0, r1, c0, c1 = rect
    a0, a1, b0, b1 = max(0, r0 - r), min(x.shape[2], r1 + r), max(0, c0 - r), min(x.shape[3], c1 + r)
    xs = x[:, :, a0:a1, b0:b1]
    pads = (r - (c0 - b0), r - (b1 - c1), r - (r0 - a0), r - (a1 - r1))  # only at the image border
    if any(pads):
        xs = nn.functional.pad(xs, pads, mode="reflect")
    y[:, :, r0:r1, c0:c1] = nn.functional.conv2d(xs, *wb)


def _conv_down(wb: ConvWB, x: torch.Tensor, y: torch.Tensor, rect: Rect) -> None:
    """``y[rect]`` of a k3 s2 p1 (zero-padded) conv."""
    r0, r1, c0, c1 = rect
    a0, a1, b0, b1 = max(0, 2 * r0 - 1), min(x.shape[2], 2 * r1), max(0, 2 * c0 - 1), min(x.shape[3], 2 * c1)
    pads = (b0 - (2 * c0 - 1), 2 * c1 - b1, a0 - (2 * r0 - 1), 2 * r1 - a1)  # zeros only at the border
    xs = nn.functional.pad(x[:, :, a0:a1, b0:b1], pads)
    y[:, :, r0:r1, c0:c1] = nn.functional.conv2d(xs, *wb, stride=2)


def _conv_up(wb: ConvWB, x: torch.Tensor, y: torch.Tensor, rect: Rect) -> None:
    """``y[rect]`` of a k4 s2 p1 transposed conv."""
    r0, r1, c0, c1 = rect
    i0, i1 = max(0, (r0 - 1) // 2), min(x.shape[2], r1 // 2 + 1)
    j0, j1 = max(0, (c0 - 1) // 2), min(x.shape[3], c1 // 2 + 1)
    z = nn.functional.conv_transpose2d(x[:, :, i0:i1, j0:j1], *wb, stride=2)
    oy, ox = 2 * i0 - 1, 2 * j0 - 1  # image position of z's first row and column
    y[:, :, r0:r1, c0:c1] = z[:, :, r0 - oy:r1 - oy, c0 - ox:c1 - ox]


def _relu(y: torch.Tensor, rect: Rect) -> None:
    r0, r1, c0, c1 = rect
    y[:, :, r0:r1, c0:c1].relu_()


class IncrementalGenerator:
    """Every activation of one ``G`` pass kept, so a label edit recomputes only the affected rectangle of
    each layer (its dirty region grown by that layer's kernel).  Runs on ``G``'s folded inference weights
    (BatchNorm folded into the convs); equal to the module's full pass up to float rounding.
    """

    def __init__(self, G: Generator, background: torch.Tensor) -> None:
        self.G, self.background = G, background
        self.acts: dict[str, torch.Tensor] | None = None
        self.weights: FoldedGenerator | None = None
        self.grown: torch.Tensor | None = None
        self.comp: torch.Tensor | None = None
        self.last_fraction = 1.0  # share of the 1/4-scale fusion map the last call recomputed

    def __call__(self, grown: torch.Tensor, component_input: torch.Tensor) -> torch.Tensor:
        """``G``'s output for the grown label map ``grown`` ([H, W] integer classes) and the component input."""
        dev = component_input.device
        wts = inference_weights(self.G)
        if wts is not self.weights:  # new or changed weights: the kept activations are stale
            self.acts, self.weights = None, wts
        grown = grown.to("cpu", torch.long)
        lab = grown.unsqueeze(0).to(dev)
        if self.acts is None:
            out = self._full(wts, lab, component_input)
        else:
            d_lab = _bbox(grown != self.grown)
            d_comp = _bbox((component_input != self.comp).any(1)[0].cpu())
            if d_lab is None and d_comp is None:
                return self.acts["out"].clone()
            out = self._update(wts, lab, component_input, d_lab, d_comp)
        self.grown, self.comp = grown, component_input
        return out.clone()

    def _full(self, wts: FoldedGenerator, lab: torch.Tensor, component_input: torch.Tensor) -> torch.Tensor:
        """One whole pass, keeping every activation (no copies beyond the reflection pads)."""
        F = nn.functional
        a: dict[str, torch.Tensor] = {"onehot": one_hot(lab)}
        a["a1"] = F.conv2d(_reflect(a["onehot"], 3), *wts.down[0]).relu_()
        a["a2"] = F.conv2d(a["a1"], *wts.down[1], stride=2, padding=1).relu_()
        a["a3"] = F.conv2d(a["a2"], *wts.down[2], stride=2, padding=1).relu_()
        x = a["x0"] = F.conv2d(a["a3"], wts.mask_share).add_(component_input)
        for k, ((wb1, wb2), (u1, u2)) in enumerate(zip(wts.blocks, wts.winograd, strict=True)):
            h = a[f"h{k}"] = winograd_conv3x3(_reflect(x, 1), u1, wb1[1]).relu_()
            x = a[f"x{k + 1}"] = winograd_conv3x3(_reflect(h, 1), u2, wb2[1]).add_(x)
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN's fast transposed conv wants NHWC
        a["u1"] = F.conv_transpose2d(x, *wts.up[0], stride=2, padding=1).relu_()
        a["face"] = F.conv_transpose2d(a["u1"], *wts.up[1], stride=2, padding=1).relu_().contiguous()
        bg = (lab == 0).unsqueeze(1).float() * self.background
        a["e1"] = self.G.bg_decoder[0](torch.cat([a["face"], bg], 1))
        a["out"] = F.conv2d(_reflect(a["e1"], 3), *wts.out).tanh_()
        self.acts, self.last_fraction = a, 1.0
        return a["out"]

    def _update(self, wts: FoldedGenerator, lab: torch.Tensor, component_input: torch.Tensor,
                d_lab: Rect | None, d_comp: Rect | None) -> torch.Tensor:
        """Recompute each layer's rectangle that the changed labels / component input reach."""
        a = self.acts
        H, W = lab.shape[1:]
        # mask encoder (256 -> 64)
        d = None
        if d_lab is not None:
            r0, r1, c0, c1 = d_lab
            a["onehot"][:, :, r0:r1, c0:c1] = one_hot(lab[:, r0:r1, c0:c1])
            d = _grow(d_lab, 3, H, W)
            _conv_reflect(wts.down[0], a["onehot"], a["a1"], d)
            _relu(a["a1"], d)
            d = _down(d, H // 2, W // 2)
            _conv_down(wts.down[1], a["a1"], a["a2"], d)
            _relu(a["a2"], d)
            d = _down(d, H // 4, W // 4)
            _conv_down(wts.down[2], a["a2"], a["a3"], d)
            _relu(a["a3"], d)
        # fusion input: mask share (1x1 conv) + the components' share
        d = _union(d, d_comp)
        r0, r1, c0, c1 = d
        a["x0"][:, :, r0:r1, c0:c1] = nn.functional.conv2d(
            a["a3"][:, :, r0:r1, c0:c1], wts.mask_share) + component_input[:, :, r0:r1, c0:c1]
        self.last_fraction = (r1 - r0) * (c1 - c0) / (H * W / 16)
        # residual blocks
        for k, (wb1, wb2) in enumerate(wts.blocks):
            d1 = _grow(d, 1, H // 4, W // 4)
            _conv_reflect(wb1, a[f"x{k}"], a[f"h{k}"], d1)
            _relu(a[f"h{k}"], d1)
            d = _grow(d1, 1, H // 4, W // 4)
            r0, r1, c0, c1 = d
            y = a[f"x{k + 1}"]
            _conv_reflect(wb2, a[f"h{k}"], y, d)
            y[:, :, r0:r1, c0:c1] += a[f"x{k}"][:, :, r0:r1, c0:c1]
        # upsampling
        d = _up(d, H // 2, W // 2)
        _conv_up(wts.up[0], a[f"x{len(wts.blocks)}"], a["u1"], d)
        _relu(a["u1"], d)
        d = _up(d, H, W)
        _conv_up(wts.up[1], a["u1"], a["face"], d)
        _relu(a["face"], d)
        # background fusion
        d = _union(d, d_lab) if d_lab is not None else d
        r0, r1, c0, c1 = d
        bg = (lab[:, r0:r1, c0:c1] == 0).unsqueeze(1).float() * self.background[:, :, r0:r1, c0:c1]
        a["e1"][:, :, r0:r1, c0:c1] = self.G.bg_decoder[0](torch.cat([a["face"][:, :, r0:r1, c0:c1], bg], 1))
        d = _grow(d, 3, H, W)
        _conv_reflect(wts.out, a["e1"], a["out"], d)
        r0, r1, c0, c1 = d
        a["out"][:, :, r0:r1, c0:c1].tanh_()
        return a["out"]


def inference_weights(G: Generator) -> FoldedGenerator:
    """Eval-mode weights with every BatchNorm folded into the conv before it, for the app path.

    Built once and cached on the module (never written into its parameters, so the state dict still
    mirrors the checkpoint); rebuilt when any parameter or buffer changes (new storage or an in-place
    write) or the module is in training mode.
    """
    if G.training:
        raise InvalidArgumentError("Folded BatchNorm weights are for inference: call .eval() first.")
    key = tuple((t.data_ptr(), _version(t), t.device, t.dtype) for t in (*G.parameters(), *G.buffers()))
    cached = G.__dict__.get("_folded")
    if cached is None or cached.key != key:
        cached = FoldedGenerator.build(G, key)
        G.__dict__["_folded"] = cached
    return cached


@dataclass
class PreparedFace:
    """Cached per-face state for fast repeated edits: component features and background features."""

    features: dict[str, torch.Tensor]  # decoded component feature maps, see mask_guided_official.MaskGuidedEditor.encode
    background: torch.Tensor  # [1, 64, 256, 256] background-encoder output of the content image
    projected: dict[str, torch.Tensor]  # Generator.project_components(features)
    incremental: IncrementalGenerator | None = None  # activations of the last edit, see IncrementalGenerator
