"""Mask-guided portrait editing: Gu, Bao, Yang, Chen, Wen, Yuan, "Mask-Guided Portrait Editing
with Conditional GANs", CVPR 2019.

State dicts and numerics of the authors' code, cientgu/Mask_Guided_Portrait_Editing @ 8bbf8258
(``models/networks.py``, wiring and inference in ``models/pix2pixHD_mask_model.py``, preprocessing in
``data/aligned_dataset.py``).  Every ``latest_net_<label>.pth`` of the released folder loads with
``strict=True`` into the attribute ``<label>`` of :class:`MaskGuidedNetworks`.

The file follows the paper's framework figure:

1. *local embedding sub-network*: five component autoencoders (left eye, right eye, skin, hair, mouth),
   each an encoder (crop -> mu, logvar, 512-d), a feature decoder (512-d -> feature map) and an image
   decoder (512-d -> crop; training only);
2. *mask-guided generative sub-network* ``G``: the mask encoder, the placement of the component
   features at the target map's component centres, 9 residual blocks and upsampling;
3. *background fusing sub-network*: background encoder on the content image, masked by the target
   map's background, fused with the face features and decoded to RGB;
4. the parsing network ``P`` (pix2pix U-Net, 11 Helen classes) and the two training discriminators
   ``D`` (paired) and ``D2`` (unpaired).

Label maps are Helen-order, 11 classes (see :data:`HELEN_CLASSES`; "left" is *image*-left), images are
256x256 RGB.  The preprocessing the code does and the paper does not describe (component box centres
with fallbacks, the 10 % growth of eyes and mouth with PIL NEAREST index arithmetic, fixed crop
windows, ``int(c/4+0.5)`` placement) is reproduced exactly: on tensors here (crops, placement), on the
label maps as read in :mod:`faceedit.mask_guided_official`, the official inference API on images, which
also holds the numpy-in/numpy-out ``encode``/``generate``/``edit``/``parse``.  This file is tensors only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

import torch
from torch import nn

from faceedit.errors import CheckpointLayoutError, WeightsMissingError
from faceedit.models import load_strict

# ----------------------------------------------------------------------------------------------------
# Constants of the official code

#: Helen label order of the official code (values 0..10 of the label PNGs); left = image-left.
#: (The app's conversion to it is :mod:`faceedit.helen`; a network file imports nothing app-side.)
HELEN_CLASSES: tuple[str, ...] = (
    "background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose",
    "upper_lip", "inner_mouth", "lower_lip", "hair",
)
NUM_CLASSES = len(HELEN_CLASSES)
IMAGE_SIZE = 256
EMBED_DIM = 512
#: The five components, in the generator's concatenation order after the mask features.
COMPONENTS: tuple[str, ...] = ("left_eye", "right_eye", "skin", "hair", "mouth")
#: Labels whose pixels the skin and hair encoders see (skin includes both brows and the nose).
SKIN_LABELS = (1, 2, 3, 6)
HAIR_LABELS = (10,)
MOUTH_LABELS = (7, 8, 9)
#: Fallback centres (y, x) when a component is absent: left eye, right eye, mouth.
FALLBACK_CENTRES = ((116, 96), (116, 160), (184, 128))
#: Half sizes (h, w) of the image crops and of the feature blocks placed in the 64x64 map.
EYE_CROP = (16, 24)
MOUTH_CROP = (40, 72)
EYE_FEATURE = (4, 6)
MOUTH_FEATURE = (10, 18)
#: Valid centre ranges (exclusive) the official dataset asserts: (y_lo, y_hi, x_lo, x_hi).
CENTRE_LIMITS = ((16, 240, 24, 232), (16, 240, 24, 232), (40, 216, 72, 184))
#: Checkpoint labels: ``latest_net_<label>.pth`` in the official folder.
INFERENCE_LABELS: tuple[str, ...] = (
    "G",
    *(f"encoder_{c}" for c in COMPONENTS),
    *(f"decoder_{c}" for c in COMPONENTS),
)
OPTIONAL_LABELS: tuple[str, ...] = (*(f"decoder_{c}_image" for c in COMPONENTS), "P")
ALL_LABELS = INFERENCE_LABELS + OPTIONAL_LABELS


def _norm(channels: int, autoencoder: bool = False) -> nn.BatchNorm2d:
    """BatchNorm everywhere; the autoencoder blocks use momentum 0.9 (official ``EncoderBlock``)."""
    return nn.BatchNorm2d(channels, momentum=0.9) if autoencoder else nn.BatchNorm2d(channels)


# ----------------------------------------------------------------------------------------------------
# 1. Local embedding sub-network: component autoencoders


class EncoderBlock(nn.Module):
    """Conv k4 s2 p1 -> BN -> ReLU (halves H and W)."""

    def __init__(self, channel_in: int, channel_out: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channel_in, channel_out, kernel_size=4, stride=2, padding=1)
        self.bn = _norm(channel_out, autoencoder=True)
        self.relu = nn.ReLU(True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class DecoderBlock(nn.Module):
    """ConvTranspose k4 s2 p1 -> BN -> ReLU (doubles H and W)."""

    def __init__(self, channel_in: int, channel_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(channel_in, channel_out, kernel_size=4, stride=2, padding=1),
            _norm(channel_out, autoencoder=True),
            nn.ReLU(True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


#: Per component: crop size (H, W), encoder channels, bottleneck map (h, w), feature-decoder channels,
#: image-decoder channels, whether the decoders' fc has a bias.
_SPECS: dict[str, dict] = {
    "skin": dict(
        crop=(256, 256), enc=(3, 64, 128, 256, 512, 512, 512, 512), map=(2, 2),
        feat=(512, 256, 256, 256, 256, 256), img=(512, 512, 512, 512, 512, 256, 128, 64), fc_bias=True,
    ),
    "eye": dict(
        crop=(32, 48), enc=(3, 64, 128, 256, 512), map=(2, 3),
        feat=(512, 256, 256), img=(512, 256, 128, 64, 64), fc_bias=False,
    ),
    "mouth": dict(
        crop=(80, 144), enc=(3, 64, 128, 256, 512), map=(5, 9),
        feat=(512, 256, 256), img=(512, 256, 128, 64, 64), fc_bias=True,
    ),
}
_KIND = {"left_eye": "eye", "right_eye": "eye", "skin": "skin", "hair": "skin", "mouth": "mouth"}


def _channels(channels: tuple[int, ...], div: int) -> tuple[int, ...]:
    """Widths divided by ``div`` (1 = official); the RGB input and output stay 3."""
    return tuple(c if c == 3 else c // div for c in channels)


class ComponentEncoder(nn.Module):
    """Crop [N, 3, H, W] -> (mu, logvar), each [N, 512] (official ``EncoderGenerator_mask_*``).

    ``div`` divides every width (1 = official; larger values only for fast smoke tests of training).
    """

    def __init__(self, component: str, div: int = 1) -> None:
        super().__init__()
        spec = _SPECS[_KIND[component]]
        self.crop_size: tuple[int, int] = spec["crop"]
        ch = _channels(spec["enc"], div)
        self.conv = nn.Sequential(*(EncoderBlock(a, b) for a, b in zip(ch[:-1], ch[1:])))
        flat = ch[-1] * spec["map"][0] * spec["map"][1]
        hidden, embed = 1024 // div, EMBED_DIM // div
        self.fc_mu = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(True), nn.Linear(hidden, embed))
        self.fc_var = nn.Sequential(nn.Linear(flat, hidden), nn.ReLU(True), nn.Linear(hidden, embed))

    def forward(self, crop: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        assert crop.shape[1:] == (3, *self.crop_size), f"crop must be [N, 3, {self.crop_size}], got {crop.shape}"
        h = self.conv(crop).flatten(1)  # [N, 512*h*w] in C, H, W order
        return self.fc_mu(h), self.fc_var(h)


class FeatureDecoder(nn.Module):
    """Embedding [N, 512] -> feature map [N, 256, h, w] (official ``DecoderGenerator_mask_*``)."""

    def __init__(self, component: str, div: int = 1) -> None:
        super().__init__()
        spec = _SPECS[_KIND[component]]
        self.map_size: tuple[int, int] = spec["map"]
        ch = _channels(spec["feat"], div)
        self.fc = nn.Sequential(nn.Linear(EMBED_DIM // div, ch[0] * self.map_size[0] * self.map_size[1],
                                          bias=spec["fc_bias"]))
        self.conv = nn.Sequential(*(DecoderBlock(a, b) for a, b in zip(ch[:-1], ch[1:])))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, *self.map_size)
        return self.conv(h)


class ImageDecoder(nn.Module):
    """Embedding [N, 512] -> crop [N, 3, H, W] in [-1, 1]; used by the training reconstruction loss."""

    def __init__(self, component: str, div: int = 1) -> None:
        super().__init__()
        spec = _SPECS[_KIND[component]]
        self.map_size: tuple[int, int] = spec["map"]
        ch = _channels(spec["img"], div)
        self.fc = nn.Sequential(nn.Linear(EMBED_DIM // div, ch[0] * self.map_size[0] * self.map_size[1],
                                          bias=spec["fc_bias"]))
        self.conv = nn.Sequential(
            *(DecoderBlock(a, b) for a, b in zip(ch[:-1], ch[1:])),
            nn.ReflectionPad2d(2),
            nn.Conv2d(ch[-1], 3, kernel_size=5),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.fc(z).view(z.shape[0], -1, *self.map_size)
        return self.conv(h)


# ----------------------------------------------------------------------------------------------------
# 2.-3. Mask-guided generator with background fusion (official ``EmbedGlobalBGGenerator``)


def _version(t: torch.Tensor) -> int:
    """In-place write counter of a tensor; -1 for inference tensors (they keep none)."""
    return -1 if t.is_inference() else t._version


class ResnetBlock(nn.Module):
    """x + (pad -> conv 3x3 -> BN -> ReLU -> pad -> conv 3x3 -> BN)(x)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, 3), _norm(dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv_block(x)


class Generator(nn.Module):
    """``G``: mask encoder, fusion of the placed component features, background fusion.

    pix2pixHD's global generator split into four parts (checkpoint keys ``downsample_model``,
    ``model``, ``bg_encoder``, ``bg_decoder``); there is no local enhancer.
    """

    def __init__(
        self,
        label_nc: int = NUM_CLASSES,  # one-hot channels of the mask
        ngf: int = 64,  # base width
        n_blocks: int = 9,  # residual blocks
        embed_nc: int = 256 * len(COMPONENTS),  # channels of the five placed component features
    ) -> None:
        super().__init__()
        self.part_nc = embed_nc // len(COMPONENTS)
        act = nn.ReLU(True)
        # mask encoder: [N, 11, 256, 256] -> [N, 256, 64, 64]
        self.downsample_model = nn.Sequential(
            nn.ReflectionPad2d(3), nn.Conv2d(label_nc, ngf, 7), _norm(ngf), act,
            nn.Conv2d(ngf, ngf * 2, 3, stride=2, padding=1), _norm(ngf * 2), act,
            nn.Conv2d(ngf * 2, ngf * 4, 3, stride=2, padding=1), _norm(ngf * 4), act,
        )
        # fusion: [N, 256 + 1280, 64, 64] -> 1x1 conv -> 9 res blocks -> 2 upsamplings -> [N, 64, 256, 256]
        self.model = nn.Sequential(
            nn.Conv2d(ngf * 4 + embed_nc, ngf * 4, 1),
            *(ResnetBlock(ngf * 4) for _ in range(n_blocks)),
            nn.ConvTranspose2d(ngf * 4, ngf * 2, 4, stride=2, padding=1), _norm(ngf * 2), act,
            nn.ConvTranspose2d(ngf * 2, ngf, 4, stride=2, padding=1), _norm(ngf), act,
        )
        # background encoder: image [N, 3, 256, 256] -> [N, 64, 256, 256]
        self.bg_encoder = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), _norm(ngf), act)
        # background decoder: cat(face features, masked background features) -> RGB
        self.bg_decoder = nn.Sequential(
            nn.Conv2d(ngf * 2, ngf, 1), nn.ReflectionPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh(),
        )

    def encode_mask(self, one_hot: torch.Tensor) -> torch.Tensor:
        """Mask encoder: one-hot [N, 11, 256, 256] -> [N, 256, 64, 64]."""
        return self.downsample_model(one_hot)

    def synthesize_face(self, mask_features: torch.Tensor, placed: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Fuse [mask, left eye, right eye, skin, hair, mouth] features -> face features [N, 64, 256, 256]."""
        return self.model(torch.cat([mask_features, *(placed[c] for c in COMPONENTS)], 1))

    def project_components(self, features: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each component's share of the fusion's first (1x1, linear) conv, computed once per face.

        Returns ``left_eye``, ``right_eye``, ``mouth`` blocks (to be added at their windows) and
        ``const`` = skin + hair shares + bias [N, 256, 64, 64].
        """
        w = self.model[0].weight  # [256, 256 + 5*256, 1, 1]
        n_mask, k = w.shape[1] - self.part_nc * len(COMPONENTS), self.part_nc
        out = {c: nn.functional.conv2d(features[c], w[:, n_mask + k * i:n_mask + k * (i + 1)])
               for i, c in enumerate(COMPONENTS)}
        out["const"] = out.pop("skin") + out.pop("hair") + self.model[0].bias.view(1, -1, 1, 1)
        return out

    def component_input(self, projected: Mapping[str, torch.Tensor], centres: torch.Tensor) -> torch.Tensor:
        """The components' share of the fusion input [N, 256, 64, 64]: skin + hair + bias, with the eye and
        mouth blocks added at the target's centres (the mask's share is added by the caller)."""
        x = projected["const"].clone()
        _add_blocks(x, projected, centres)
        return x

    def encode_background(self, image: torch.Tensor) -> torch.Tensor:
        """Background encoder on the whole image [N, 3, 256, 256] -> [N, 64, 256, 256]."""
        return self.bg_encoder(image)

    def fuse_background(self, face: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
        """Feature-level background fusion -> RGB [N, 3, 256, 256] in [-1, 1]."""
        return self.bg_decoder(torch.cat([face, background], 1))

    def forward(
        self,
        one_hot: torch.Tensor,  # [N, 11, 256, 256] one-hot of the (grown) target map
        placed: Mapping[str, torch.Tensor],  # component features, see place_features
        background: torch.Tensor,  # [N, 3, 256, 256] content image in [-1, 1]
        background_mask: torch.Tensor,  # [N, 1, 256, 256] float, 1 where the target map is background
    ) -> torch.Tensor:
        face = self.synthesize_face(self.encode_mask(one_hot), placed)
        return self.fuse_background(face, background_mask * self.encode_background(background))


# ----------------------------------------------------------------------------------------------------
# 4. Parsing network P (pix2pix U-Net, "unet_128") and the discriminators


class UnetSkipBlock(nn.Module):
    """One U-Net level: down, (inner levels), up; concatenates its input unless outermost."""

    def __init__(
        self,
        outer_nc: int,
        inner_nc: int,
        input_nc: int | None = None,
        submodule: nn.Module | None = None,
        outermost: bool = False,
        innermost: bool = False,
        use_dropout: bool = False,
    ) -> None:
        super().__init__()
        self.outermost = outermost
        input_nc = outer_nc if input_nc is None else input_nc
        downconv = nn.Conv2d(input_nc, inner_nc, 4, stride=2, padding=1, bias=False)
        if outermost:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, output_padding=1)
            layers = [downconv, submodule, nn.ReLU(True), upconv, nn.Tanh()]
        elif innermost:
            upconv = nn.ConvTranspose2d(inner_nc, outer_nc, 4, stride=2, padding=1, bias=False, output_padding=1)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.ReLU(True), upconv, nn.BatchNorm2d(outer_nc)]
        else:
            upconv = nn.ConvTranspose2d(inner_nc * 2, outer_nc, 4, stride=2, padding=1, bias=False,
                                        output_padding=1)
            layers = [nn.LeakyReLU(0.2, True), downconv, nn.BatchNorm2d(inner_nc), submodule,
                      nn.ReLU(True), upconv, nn.BatchNorm2d(outer_nc)]
            if use_dropout:
                layers.append(nn.Dropout(0.5))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.model(x)
        # output_padding=1 makes y one pixel larger; the official code crops back from the top-left
        top, left = (y.shape[2] - x.shape[2]) // 2, (y.shape[3] - x.shape[3]) // 2
        y = y[:, :, top:top + x.shape[2], left:left + x.shape[3]]
        return y if self.outermost else torch.cat([x, y], 1)


class ParsingNetwork(nn.Module):
    """``P``: image [N, 3, 256, 256] -> class probabilities [N, 11, 256, 256] (softmax over a tanh)."""

    def __init__(self, num_classes: int = NUM_CLASSES, input_nc: int = 3, ngf: int = 64, num_downs: int = 6) -> None:
        super().__init__()
        block = UnetSkipBlock(ngf * 8, ngf * 8, innermost=True)
        for _ in range(num_downs - 5):
            block = UnetSkipBlock(ngf * 8, ngf * 8, submodule=block, use_dropout=True)
        block = UnetSkipBlock(ngf * 4, ngf * 8, submodule=block)
        block = UnetSkipBlock(ngf * 2, ngf * 4, submodule=block)
        block = UnetSkipBlock(ngf, ngf * 2, submodule=block)
        self.model = UnetSkipBlock(num_classes, ngf, input_nc=input_nc, submodule=block, outermost=True)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(image), dim=1)


class MultiscaleDiscriminator(nn.Module):
    """pix2pixHD's multiscale PatchGAN (2 scales, 3 strided layers, intermediate features).

    ``forward`` returns, per scale (full resolution first), ``[penultimate features, logits]``. As in the
    official code the full-resolution input runs through ``scale1_*`` and the half-resolution input
    through ``scale0_*``.
    """

    def __init__(self, input_nc: int = NUM_CLASSES + 3, ndf: int = 64, n_layers: int = 3, num_d: int = 2) -> None:
        super().__init__()
        self.num_d, self.n_layers = num_d, n_layers
        for i in range(num_d):
            seq: list[list[nn.Module]] = [[nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
            nf = ndf
            for _ in range(1, n_layers):
                prev, nf = nf, min(nf * 2, 512)
                seq.append([nn.Conv2d(prev, nf, 4, stride=2, padding=2), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True)])
            prev, nf = nf, min(nf * 2, 512)
            seq.append([nn.Conv2d(prev, nf, 4, stride=1, padding=2), nn.BatchNorm2d(nf), nn.LeakyReLU(0.2, True)])
            seq.append([nn.Conv2d(nf, 1, 4, stride=1, padding=2)])
            for j, layers in enumerate(seq):
                setattr(self, f"scale{i}_layer{j}", nn.Sequential(*layers))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for i in range(self.num_d):
            h, feats = x, []
            for j in range(self.n_layers + 2):
                h = getattr(self, f"scale{self.num_d - 1 - i}_layer{j}")(h)
                feats.append(h)
            out.append(feats[-2:])
            if i != self.num_d - 1:
                x = self.downsample(x)
        return out


# ----------------------------------------------------------------------------------------------------
# Tensor helpers of the official wiring


def one_hot(labels: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """Label maps [N, H, W] int -> one-hot [N, C, H, W] float32."""
    out = torch.zeros(labels.shape[0], num_classes, *labels.shape[1:], device=labels.device)
    return out.scatter_(1, labels.long().unsqueeze(1), 1.0)


def _window(t: torch.Tensor, cy: int, cx: int, half: tuple[int, int]) -> torch.Tensor:
    return t[:, cy - half[0]:cy + half[0], cx - half[1]:cx + half[1]]


def component_crops(image: torch.Tensor, labels: torch.Tensor, centres: torch.Tensor) -> dict[str, torch.Tensor]:
    """The encoders' inputs, cut from the (grown) map's centres.

    ``image`` [N, 3, 256, 256] in [-1, 1], ``labels`` [N, 256, 256] (grown), ``centres`` [N, 6] int.
    Eyes: unmasked 32x48 windows; mouth: 80x144 window times its {7, 8, 9} mask; skin and hair: the full
    image times the {1, 2, 3, 6} resp. {10} mask.
    """
    lab = labels.unsqueeze(1)
    skin = torch.isin(lab, torch.tensor(SKIN_LABELS, device=lab.device)).float()
    hair = (lab == 10).float()
    mouth_mask = torch.isin(lab, torch.tensor(MOUTH_LABELS, device=lab.device)).float()
    c = [[int(v) for v in row] for row in centres.tolist()]
    left = torch.stack([_window(image[b], c[b][0], c[b][1], EYE_CROP) for b in range(len(c))])
    right = torch.stack([_window(image[b], c[b][2], c[b][3], EYE_CROP) for b in range(len(c))])
    mouth = torch.stack([_window(image[b], c[b][4], c[b][5], MOUTH_CROP) for b in range(len(c))])
    mouth_m = torch.stack([_window(mouth_mask[b], c[b][4], c[b][5], MOUTH_CROP) for b in range(len(c))])
    return {
        "left_eye": left,
        "right_eye": right,
        "skin": skin * image,
        "hair": hair * image,
        "mouth": mouth_m * mouth,
        "mouth_mask": mouth_m,
        "skin_mask": skin,
        "hair_mask": hair,
    }


def _add_blocks(canvas: torch.Tensor, blocks: Mapping[str, torch.Tensor], centres: torch.Tensor,
                names: tuple[str, ...] = ("left_eye", "right_eye", "mouth")) -> None:
    """Add eye and mouth blocks into ``canvas`` [N, C, 64, 64] at rows/cols ``int(c/4 + 0.5) -+ half``."""
    slots = {"left_eye": (0, EYE_FEATURE), "right_eye": (1, EYE_FEATURE), "mouth": (2, MOUTH_FEATURE)}
    for name in names:
        k, half = slots[name]
        for b, row in enumerate(centres.tolist()):
            r, c = int(row[2 * k] / 4 + 0.5), int(row[2 * k + 1] / 4 + 0.5)
            canvas[b, :, r - half[0]:r + half[0], c - half[1]:c + half[1]] += blocks[name][b]


def place_features(features: Mapping[str, torch.Tensor], centres: torch.Tensor,
                   size: tuple[int, int] = (IMAGE_SIZE // 4, IMAGE_SIZE // 4)) -> dict[str, torch.Tensor]:
    """Add the eye and mouth feature blocks into zero 64x64 maps at ``int(c/4 + 0.5)``; skin and hair as is."""
    ref = features["skin"]
    placed = {"skin": features["skin"], "hair": features["hair"]}
    for name in ("left_eye", "right_eye", "mouth"):
        canvas = torch.zeros(ref.shape[0], features[name].shape[1], *size, dtype=ref.dtype, device=ref.device)
        _add_blocks(canvas, features, centres, (name,))
        placed[name] = canvas
    return placed


# ----------------------------------------------------------------------------------------------------
# The whole model


class MaskGuidedNetworks(nn.Module):
    """All networks of Gu et al. 2019 under their checkpoint labels, and their batched tensor wiring.

    Attributes are named after the checkpoint files: ``G``, ``encoder_<part>``, ``decoder_<part>``,
    ``decoder_<part>_image`` and ``P``.  ``with_image_decoders`` / ``with_parser`` drop the networks
    inference does not need.
    """

    def __init__(self, with_image_decoders: bool = True, with_parser: bool = True, div: int = 1) -> None:
        super().__init__()
        self.div = div  # width divisor: 1 = the official networks; > 1 only for smoke tests of training
        self.G = Generator(ngf=64 // div, embed_nc=256 // div * len(COMPONENTS))
        for c in COMPONENTS:
            setattr(self, f"encoder_{c}", ComponentEncoder(c, div))
        for c in COMPONENTS:
            setattr(self, f"decoder_{c}", FeatureDecoder(c, div))
        if with_image_decoders:
            for c in COMPONENTS:
                setattr(self, f"decoder_{c}_image", ImageDecoder(c, div))
        self.P = ParsingNetwork(ngf=64 // div) if with_parser else None

    # -- helpers -------------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def labels(self) -> tuple[str, ...]:
        """Checkpoint labels this instance holds."""
        return tuple(name for name in ALL_LABELS if getattr(self, name, None) is not None)

    def network(self, label: str) -> nn.Module:
        return getattr(self, label)

    # -- tensor paths (batched; used by training too) --------------------------------------------------
    def embed(self, crops: Mapping[str, torch.Tensor]) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Encoders: crops -> {component: (mu, logvar)}."""
        return {c: getattr(self, f"encoder_{c}")(crops[c]) for c in COMPONENTS}

    def decode_features(self, z: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Feature decoders: {component: [N, 512]} -> {component: feature map}."""
        return {c: getattr(self, f"decoder_{c}")(z[c]) for c in COMPONENTS}

    def synthesize(self, features: Mapping[str, torch.Tensor], labels: torch.Tensor, centres: torch.Tensor,
                   background: torch.Tensor, background_features: torch.Tensor | None = None) -> torch.Tensor:
        """One ``G`` pass: features placed at ``centres`` of the grown map ``labels`` [N, H, W].

        ``background`` [N, 3, 256, 256] is the content image; ``background_features`` may be passed
        instead of recomputing ``G.encode_background(background)``.
        """
        placed = place_features(features, centres)
        bg = self.G.encode_background(background) if background_features is None else background_features
        face = self.G.synthesize_face(self.G.encode_mask(one_hot(labels)), placed)
        return self.G.fuse_background(face, (labels == 0).unsqueeze(1).float() * bg)


#: A :class:`MaskGuidedNetworks` subclass, for :func:`load_official`'s ``model_class``.
N = TypeVar("N", bound=MaskGuidedNetworks)


# ----------------------------------------------------------------------------------------------------
# Loading the official folder


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(path)
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a malformed file to the user
        raise CheckpointLayoutError(f"{path.name} could not be read as a PyTorch state dict "
                                    f"(corrupt, truncated or not a checkpoint): {exc}") from None
    if not isinstance(obj, Mapping) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointLayoutError(f"{path.name} is not a plain state dict of tensors, as the official "
                                    "save_network writes it.")
    return dict(obj)


def load_network(module: nn.Module, state: Mapping[str, torch.Tensor], name: str, assign: bool = False) -> None:
    """Strict load (``faceedit.models.load_strict``: missing, unexpected and mis-shaped keys listed).

    BatchNorm's ``num_batches_tracked`` may be absent (files written before torch 0.4.1): it is filled
    with 0, as BatchNorm's own loader does for version-less state dicts; no other key may be missing.
    ``assign`` moves the tensors in (for modules built on the meta device).
    """
    state = dict(state)
    for k, v in module.state_dict().items():
        if k.endswith("num_batches_tracked") and k not in state:
            state[k] = torch.zeros((), dtype=v.dtype)
    load_strict(module, state, name, assign=assign)


def load_official(directory: str | Path, device: torch.device | str | None = None,
                  with_image_decoders: bool | None = None, with_parser: bool | None = None,
                  div: int = 1, model_class: type[N] | None = None) -> N:
    """Load the official ``checkpoints/pretrained`` folder (``latest_net_<label>.pth``) strictly.

    ``latest_net_<label>.safetensors`` (same layout, as the training script writes) is read too.

    The 11 inference files are required; the image decoders and ``P`` are loaded when present (or
    required when ``with_image_decoders`` / ``with_parser`` is True).  The model is returned in eval
    mode, frozen, on ``device`` (default: faceedit.device.default_device()).  ``div`` > 1 reads the
    narrow networks of a training smoke test (same keys, widths divided by ``div``).  ``model_class``
    (a :class:`MaskGuidedNetworks` subclass, default that class) is what is built and returned.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise WeightsMissingError(f"The mask-guided weights folder {directory} does not exist.")

    def path(label: str) -> Path:
        pth = directory / f"latest_net_{label}.pth"
        alt = pth.with_suffix(".safetensors")  # written by faceedit.train.mask_guided
        return alt if alt.is_file() and not pth.is_file() else pth

    missing = [path(lab).name for lab in INFERENCE_LABELS if not path(lab).is_file()]
    if with_image_decoders:
        missing += [path(f"decoder_{c}_image").name for c in COMPONENTS if not path(f"decoder_{c}_image").is_file()]
    if with_parser and not path("P").is_file():
        missing.append(path("P").name)
    if missing:
        raise WeightsMissingError(f"The mask-guided weights folder {directory} lacks {', '.join(missing)} "
                                  "(download the authors' checkpoints/pretrained folder).")
    if with_image_decoders is None:
        with_image_decoders = all(path(f"decoder_{c}_image").is_file() for c in COMPONENTS)
    if with_parser is None:
        with_parser = path("P").is_file()
    with torch.device("meta"):  # skip the random init of ~260 M parameters; every tensor is loaded
        model = (model_class or MaskGuidedNetworks)(with_image_decoders=with_image_decoders, with_parser=with_parser, div=div)
    for label in model.labels():
        load_network(model.network(label), _read_state_dict(path(label)), path(label).name, assign=True)
    if device is None:
        from faceedit.device import default_device

        device = default_device()
    return model.to(device).eval().requires_grad_(False)
