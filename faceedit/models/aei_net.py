"""FaceShifter AEI-Net (Li et al., "FaceShifter: Towards High Fidelity And Occlusion Aware Face Swapping", 2020).

State-dict layout of GHOST (ai-forever/ghost @ ea23cce ``network/AEI_Net.py`` + ``network/AADLayer.py``), built
there as ``AEI_Net(backbone="unet", num_blocks=n, c_id=512)``; the published ``G_unet_1block.pth`` /
``G_unet_2blocks.pth`` / ``G_unet_3blocks.pth`` are plain state dicts of it (223 / 311 / 399 tensors). The
safetensors re-packs of dimitribarbot/ghostv2 (``GhostV1_G_unet_2blocks.safetensors``) use the same key names.

The network follows the paper's figure 2:

* **multi-level attributes encoder** (U-Net) of the target X_t: seven 4×4 stride-2 convs (3 → … → 1024 at 2×2),
  six transposed convs each concatenated with the mirror skip; the attribute maps z_att^1..8 are
  1024@2, 2048@4, 1024@8, 512@16, 256@32, 128@64, 64@128 and z_att^7 upsampled to 64@256;
* **AAD generator**: z_id (the raw 512-d ArcFace embedding, *not* normalised) → a 2×2 transposed conv → eight
  AAD ResBlks, each followed by bilinear ×2 (``align_corners=True``), then ``tanh``;
* **AAD layer**: h̄ = InstanceNorm(h); A = γ_att ⊙ h̄ + β_att (1×1 convs of z_att), I = γ_id ⊙ h̄ + β_id (linear
  maps of z_id), M = σ(conv_h(h̄)) (one channel), h_out = (1 − M) ⊙ A + M ⊙ I (paper eq. 1–3);
* **AAD ResBlk**: GHOST's variant stacks ``num_blocks`` [AAD, ReLU, 3×3 conv] triples (the paper: two), plus an
  [AAD, ReLU, 3×3 conv] shortcut when the channel count changes.

:class:`HEARNet` is the paper's second-stage refinement network (figure 4). **No weights for it are published
anywhere**; it is provided as a trainable module (``faceedit.train.faceshifter`` stage 2) in the layout of
taotaonice/FaceShifter @ 376b09e ``network/HEAR_Net.py``.

Inputs are NCHW RGB in [-1, 1] at 256×256; the output is in [-1, 1].
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faceedit.models import load_strict

#: Side of the generator's input and output (the encoder must end at 2×2, where z_id's stem lands).
IMAGE_SIZE = 256
#: Size of the identity embedding z_id (IResNet-100 features).
C_ID = 512
#: Channels of the encoder's convs (conv1..conv7).
ENCODER_CHANNELS = (3, 32, 64, 128, 256, 512, 1024, 1024)
#: (c_in, c_out, c_attr) of AADBlk1..8 for the U-Net backbone.
GENERATOR_BLOCKS = (
    (1024, 1024, 1024),
    (1024, 1024, 2048),
    (1024, 1024, 1024),
    (1024, 512, 512),
    (512, 256, 256),
    (256, 128, 128),
    (128, 64, 64),
    (64, 3, 64),
)
#: Number of tensors of each published generator (``G_unet_{1block,2blocks,3blocks}.pth``).
TENSORS_PER_VARIANT = {1: 223, 2: 311, 3: 399}


def _c(channels: int, div: int) -> int:
    """Channel count at 1/``div`` width (training tests); RGB stays 3."""
    return channels if channels == 3 else max(channels // div, 1)


def _up2(x: torch.Tensor) -> torch.Tensor:
    """Bilinear ×2 with ``align_corners=True`` (as everywhere inside GHOST's G)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


# --- multi-level attributes encoder ----------------------------------------------------------------------


def conv4x4(in_c: int, out_c: int, bias: bool = False) -> nn.Sequential:
    """Conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.1); keys ``.0`` and ``.1``."""
    return nn.Sequential(
        nn.Conv2d(in_c, out_c, kernel_size=4, stride=2, padding=1, bias=bias),
        nn.BatchNorm2d(out_c),
        nn.LeakyReLU(0.1),
    )


class Deconv4x4(nn.Module):
    """Transposed conv 4×4 stride 2 → BatchNorm → LeakyReLU(0.1), concatenated with the mirror skip."""

    def __init__(
        self,
        in_c: int,  # input channels
        out_c: int,  # output channels (before the concatenation)
        bias: bool = False,  # GHOST: no bias
    ) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(in_c, out_c, kernel_size=4, stride=2, padding=1, bias=bias)
        self.bn = nn.BatchNorm2d(out_c)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return torch.cat((F.leaky_relu(self.bn(self.deconv(x)), 0.1), skip), dim=1)


class MultiLevelAttributesEncoder(nn.Module):
    """U-Net over X_t returning the eight attribute maps z_att^1..8 (coarse to fine)."""

    def __init__(self, channel_div: int = 1) -> None:
        super().__init__()
        ch = tuple(_c(c, channel_div) for c in ENCODER_CHANNELS)
        for i in range(7):
            setattr(self, f"conv{i + 1}", conv4x4(ch[i], ch[i + 1]))
        # deconv k: input = previous attribute map, output = mirror channels (then concatenated with the skip)
        ins = (ch[7], *(2 * c for c in ch[6:1:-1]))
        for k, (c_in, c_out) in enumerate(zip(ins, ch[6:0:-1], strict=True)):
            setattr(self, f"deconv{k + 1}", Deconv4x4(c_in, c_out))

    def forward(self, x_t: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = []
        h = x_t
        for i in range(1, 7):
            h = getattr(self, f"conv{i}")(h)
            feats.append(h)  # 32@128, 64@64, 128@32, 256@16, 512@8, 1024@4
        z = [self.conv7(h)]  # z_att1: 1024@2
        for k in range(1, 7):
            z.append(getattr(self, f"deconv{k}")(z[-1], feats[6 - k]))
        z.append(_up2(z[-1]))  # z_att8: 64@256
        return tuple(z)


# --- AAD generator ---------------------------------------------------------------------------------------


class AADLayer(nn.Module):
    """Adaptive attentional denormalisation: h_out = (1 − M) ⊙ A + M ⊙ I (paper eq. 1–3)."""

    def __init__(
        self,
        c_x: int,  # channels of the activation h
        c_attr: int,  # channels of the attribute map z_att at this level
        c_id: int = C_ID,  # size of z_id
    ) -> None:
        super().__init__()
        self.c_x = c_x
        self.conv1 = nn.Conv2d(c_attr, c_x, kernel_size=1)  # γ_att
        self.conv2 = nn.Conv2d(c_attr, c_x, kernel_size=1)  # β_att
        self.fc1 = nn.Linear(c_id, c_x)  # γ_id
        self.fc2 = nn.Linear(c_id, c_x)  # β_id
        self.conv_h = nn.Conv2d(c_x, 1, kernel_size=1)  # attention mask M (one channel)

    def forward(self, h: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        h_bar = F.instance_norm(h, eps=1e-5)  # InstanceNorm2d(affine=False): no state-dict entries
        a = self.conv1(z_attr) * h_bar + self.conv2(z_attr)
        i = self.fc1(z_id)[:, :, None, None] * h_bar + self.fc2(z_id)[:, :, None, None]
        m = torch.sigmoid(self.conv_h(h_bar))
        return (1 - m) * a + m * i


class AADChain(nn.Sequential):
    """[AAD, ReLU, Conv3×3] × n; keys ``0`` (AAD), ``2`` (conv), ``3`` (AAD), ``5`` (conv), …"""

    def __init__(self, c_in: int, c_out: int, c_attr: int, c_id: int, n: int) -> None:
        layers: list[nn.Module] = []
        for i in range(n):
            out = c_out if i == n - 1 else c_in
            layers += [
                AADLayer(c_in, c_attr, c_id),
                nn.ReLU(),
                nn.Conv2d(c_in, out, 3, padding=1, bias=False),
            ]
        super().__init__(*layers)

    def forward(self, h: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        mods = list(self)
        for aad, _relu, conv in zip(mods[0::3], mods[1::3], mods[2::3], strict=True):
            h = conv(F.relu(aad(h, z_attr, z_id)))
        return h


class AADResBlk(nn.Module):
    """AAD ResBlk: the AAD chain plus the identity (or an [AAD, ReLU, conv] shortcut when c_in ≠ c_out)."""

    def __init__(
        self,
        c_in: int,  # input channels
        c_out: int,  # output channels
        c_attr: int,  # channels of z_att at this level
        c_id: int = C_ID,  # size of z_id
        num_blocks: int = 2,  # AAD + ReLU + conv triples in the main path (GHOST: 1, 2 or 3)
    ) -> None:
        super().__init__()
        self.add_blocks = AADChain(c_in, c_out, c_attr, c_id, num_blocks)
        self.last_add_block = AADChain(c_in, c_out, c_attr, c_id, 1) if c_in != c_out else None

    def forward(self, h: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        shortcut = h if self.last_add_block is None else self.last_add_block(h, z_attr, z_id)
        return self.add_blocks(h, z_attr, z_id) + shortcut


class AADGenerator(nn.Module):
    """z_id → 1024@2×2 → AADBlk1..8 with bilinear ×2 between them → tanh."""

    def __init__(self, c_id: int = C_ID, num_blocks: int = 2, channel_div: int = 1) -> None:
        super().__init__()
        self.up1 = nn.ConvTranspose2d(c_id, _c(1024, channel_div), kernel_size=2, stride=1, padding=0)
        for k, block in enumerate(GENERATOR_BLOCKS):
            c_in, c_out, c_attr = (_c(c, channel_div) for c in block)
            setattr(self, f"AADBlk{k + 1}", AADResBlk(c_in, c_out, c_attr, c_id, num_blocks))

    def forward(self, z_attr: tuple[torch.Tensor, ...], z_id: torch.Tensor) -> torch.Tensor:
        h = self.up1(z_id[:, :, None, None])  # [N, 1024, 2, 2]
        for k in range(8):
            h = getattr(self, f"AADBlk{k + 1}")(h, z_attr[k], z_id)
            if k < 7:
                h = _up2(h)
        return torch.tanh(h)


class AEINet(nn.Module):
    """Adaptive Embedding Integration Network: Ŷ_{s,t} = G(E_att(X_t), z_id(X_s))."""

    def __init__(
        self,
        num_blocks: int = 2,  # AAD triples per ResBlk (published: 1, 2, 3)
        c_id: int = C_ID,  # size of z_id
        backbone: str = "unet",  # GHOST's attribute encoder; only "unet" has published weights
        channel_div: int = 1,  # 1 = the published width; larger divides every channel count (tiny tests)
    ) -> None:
        super().__init__()
        if backbone != "unet":
            raise ValueError(f"backbone {backbone!r} is not supported (only 'unet' has published weights)")
        self.num_blocks = num_blocks
        self.encoder = MultiLevelAttributesEncoder(channel_div)
        self.generator = AADGenerator(c_id, num_blocks, channel_div)

    def forward(self, x_t: torch.Tensor, z_id: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """``(Ŷ [N, 3, 256, 256], z_att^1..8)`` for target images ``x_t`` and raw identity embeddings ``z_id``."""
        n = x_t.shape[0]
        assert x_t.shape == (n, 3, IMAGE_SIZE, IMAGE_SIZE), (
            f"x_t must be [N, 3, 256, 256], got {tuple(x_t.shape)}"
        )
        assert z_id.shape[0] == n and z_id.ndim == 2, f"z_id must be [N, C_id], got {tuple(z_id.shape)}"
        z_attr = self.encoder(x_t)
        return self.generator(z_attr, z_id), z_attr

    def get_attr(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The attribute maps z_att^1..8 of ``x`` (the attribute loss compares them for X_t and Ŷ)."""
        return self.encoder(x)


# --- HEAR-Net (trainable only: no published weights) -----------------------------------------------------


class HEARNet(nn.Module):
    """Heuristic Error Acknowledging Refinement Network: Y = HEAR(Ŷ_{s,t}, X_t − AEI(X_t, X_t)) (paper §3.2).

    A U-Net over 6 channels (Ŷ concatenated with the heuristic error), taotaonice's layout: ``down1..5``
    (conv 4×4 s2 with bias → BN → LReLU 0.1; 6 → 64 → 128 → 256 → 512 → 512), ``up1..4`` (transposed conv, BN,
    LReLU, concatenated with the skip), bilinear ×2, ``up5`` (conv 3×3, 128 → 3), tanh.
    """

    def __init__(self, channel_div: int = 1) -> None:
        super().__init__()
        ch = (6, *(_c(c, channel_div) for c in (64, 128, 256, 512, 512)))
        for i in range(5):
            setattr(self, f"down{i + 1}", conv4x4(ch[i], ch[i + 1], bias=True))
        for k in range(4):  # up k: from the previous level (concatenated after the first) to the mirror width
            c_in = ch[5] if k == 0 else 2 * ch[5 - k]
            setattr(self, f"up{k + 1}", Deconv4x4(c_in, ch[4 - k]))
        self.up5 = nn.Conv2d(2 * ch[1], 3, kernel_size=3, padding=1)

    def forward(self, y_hat: torch.Tensor, error: torch.Tensor) -> torch.Tensor:
        d = [torch.cat((y_hat, error), dim=1)]
        for i in range(1, 6):
            d.append(getattr(self, f"down{i}")(d[-1]))  # 64@128, 128@64, 256@32, 512@16, 512@8
        h = d[5]
        for k in range(1, 5):
            h = getattr(self, f"up{k}")(h, d[5 - k])
        return torch.tanh(self.up5(_up2(h)))


# --- multi-scale discriminator (training; GHOST publishes D_unet_*.pth in this layout) ---------------------


def patch_discriminator(ndf: int = 64, n_layers: int = 5) -> nn.Sequential:
    """pix2pixHD PatchGAN as one Sequential (GHOST: n_layers 5, InstanceNorm without affine, so no norm keys):
    conv 4×4 s2 + LReLU 0.2, (n − 1) × [conv s2, norm, LReLU], [conv s1, norm, LReLU], conv s1 → 1 channel."""
    layers: list[nn.Module] = [nn.Conv2d(3, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2)]
    nf = ndf
    for n in range(1, n_layers + 1):
        prev, nf = nf, min(nf * 2, 8 * ndf)
        stride = 2 if n < n_layers else 1
        layers += [nn.Conv2d(prev, nf, 4, stride=stride, padding=2), nn.InstanceNorm2d(nf), nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(nf, 1, 4, stride=1, padding=2))
    return nn.Sequential(*layers)


class MultiscaleDiscriminator(nn.Module):
    """Three PatchGANs on the image at full, 1/2 and 1/4 size (``layer2`` sees full size, ``layer0`` the
    smallest, as GHOST's ``network/MultiscaleDiscriminator.py``); returns one score map per scale."""

    def __init__(
        self,
        ndf: int = 64,  # first layer's channels (published: 64)
        n_layers: int = 5,  # stride-2 convs per PatchGAN (published: 5)
        num_d: int = 3,  # scales (published: 3)
    ) -> None:
        super().__init__()
        self.num_d = num_d
        for i in range(num_d):
            setattr(self, f"layer{i}", patch_discriminator(ndf, n_layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i in range(self.num_d):
            out.append(getattr(self, f"layer{self.num_d - 1 - i}")(x))
            if i < self.num_d - 1:
                x = F.avg_pool2d(x, 3, stride=2, padding=1, count_include_pad=False)
        return out


# --- loading and the inference runtime -------------------------------------------------------------------


def num_blocks_of(state_dict: Mapping[str, Any]) -> int:
    """1, 2 or 3: the AAD triples per ResBlk of a GHOST generator state dict (from AADBlk1's conv keys)."""
    convs = [
        k for k in state_dict if k.startswith("generator.AADBlk1.add_blocks.") and k.endswith(".conv1.weight")
    ]
    return max(len(convs), 1)


def load_aei_net(checkpoint: Mapping[str, torch.Tensor], num_blocks: int | None = None) -> AEINet:
    """Build :class:`AEINet` from a GHOST ``G_unet_*.pth`` state dict (or a safetensors re-pack), strictly.

    ``num_blocks`` defaults to what the keys say; a stated one that disagrees fails the strict load.
    """
    state = checkpoint.get("state_dict", checkpoint) if isinstance(checkpoint, Mapping) else checkpoint
    net = AEINet(num_blocks=num_blocks or num_blocks_of(state))
    load_strict(net, state, f"FaceShifter AEI-Net ({net.num_blocks}-block)")
    return net.eval().requires_grad_(False)


def load_aei_net_file(path: str, num_blocks: int | None = None) -> AEINet:
    """:func:`load_aei_net` of a ``.pth`` (``weights_only=True``) or ``.safetensors`` file."""
    if str(path).endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(str(path))
    else:
        state = torch.load(path, map_location="cpu", weights_only=True)
    return load_aei_net(state, num_blocks)


def _fold(conv: nn.Conv2d | nn.ConvTranspose2d, bn: nn.BatchNorm2d) -> nn.Module:
    """``conv`` followed by eval-mode ``bn`` as one conv with bias (output channels scaled)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    fused = copy.deepcopy(conv)
    w = conv.weight.detach()
    if isinstance(conv, nn.ConvTranspose2d):  # weight [in, out, k, k]
        fused.weight = nn.Parameter(w * scale[None, :, None, None])
    else:
        fused.weight = nn.Parameter(w * scale[:, None, None, None])
    bias = conv.bias.detach() if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias = nn.Parameter((bias - bn.running_mean) * scale + bn.bias)
    return fused


def fuse_for_inference(net: AEINet) -> AEINet:
    """A copy with every encoder BatchNorm folded into its conv, the two γ/β 1×1 convs (and the two γ/β linear
    maps) of each AAD layer merged, and the AAD arithmetic in fewer passes; same outputs up to float rounding
    (tests/data/ghost/README.md), not loadable from a checkpoint. (Channels-last memory was tried and measured
    no faster on the CPU: the instance norms and concatenations convert layouts back and forth.)"""
    fused = copy.deepcopy(net).eval().requires_grad_(False)
    enc = fused.encoder
    for i in range(1, 8):
        seq = getattr(enc, f"conv{i}")
        seq[0], seq[1] = _fold(seq[0], seq[1]), nn.Identity()
    for k in range(1, 7):
        dec = getattr(enc, f"deconv{k}")
        dec.deconv, dec.bn = _fold(dec.deconv, dec.bn), nn.Identity()
    for layer in fused.modules():
        if isinstance(layer, AADLayer):
            _merge_gamma_beta(layer)
    return fused


class _MergedAAD(nn.Module):
    """γ_att and β_att from one 1×1 conv of twice the width (one GEMM instead of two)."""

    def __init__(self, layer: AADLayer) -> None:
        super().__init__()
        self.c_x = layer.c_x
        conv = nn.Conv2d(layer.conv1.in_channels, 2 * layer.c_x, kernel_size=1)
        conv.weight = nn.Parameter(torch.cat((layer.conv1.weight, layer.conv2.weight)).detach())
        conv.bias = nn.Parameter(torch.cat((layer.conv1.bias, layer.conv2.bias)).detach())
        fc = nn.Linear(layer.fc1.in_features, 2 * layer.c_x)
        fc.weight = nn.Parameter(torch.cat((layer.fc1.weight, layer.fc2.weight)).detach())
        fc.bias = nn.Parameter(torch.cat((layer.fc1.bias, layer.fc2.bias)).detach())
        self.gamma_beta_att, self.gamma_beta_id, self.conv_h = conv, fc, layer.conv_h

    def forward(self, h: torch.Tensor, z_attr: torch.Tensor, z_id: torch.Tensor) -> torch.Tensor:
        # instance norm from one var_mean pass (F.instance_norm copies into a batch-norm layout first), then
        # (1 − M)(γ_a h̄ + β_a) + M(γ_i h̄ + β_i) = h̄ · lerp(γ_a, γ_i, M) + lerp(β_a, β_i, M)
        var, mean = torch.var_mean(h, dim=(2, 3), keepdim=True, correction=0)
        h_bar = (h - mean) * torch.rsqrt(var + 1e-5)
        g_att, b_att = self.gamma_beta_att(z_attr).split(self.c_x, dim=1)
        g_id, b_id = self.gamma_beta_id(z_id)[:, :, None, None].split(self.c_x, dim=1)
        m = torch.sigmoid(self.conv_h(h_bar))
        return torch.addcmul(torch.lerp(b_att, b_id, m), h_bar, torch.lerp(g_att, g_id, m))


def _merge_gamma_beta(layer: AADLayer) -> None:
    merged = _MergedAAD(layer)
    layer.forward = merged.forward  # type: ignore[method-assign]
    layer.add_module("merged", merged)
    for name in ("conv1", "conv2", "fc1", "fc2"):
        delattr(layer, name)
