"""The official inference API of Gu et al., "Mask-Guided Portrait Editing with Conditional GANs"
(CVPR 2019), on images: uint8 RGB arrays and Helen label maps in, tensors out.

The networks and their tensor wiring are :mod:`faceedit.models.mask_guided`; this module adds what the
authors' code (cientgu/Mask_Guided_Portrait_Editing @ 8bbf8258) does on arrays around them: the data
loader's preprocessing (``data/aligned_dataset.py``: component box centres with fallbacks, the 10 %
growth of eyes and mouth with PIL NEAREST index arithmetic), image <-> tensor conversion, and the
``inference_encode`` / ``inference_generate`` / ``inference`` / ``inference_parsing`` paths as
:class:`MaskGuidedEditor`'s methods.  :func:`load_official` reads the released folder into one.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from faceedit.errors import InvalidArgumentError, WeightsMissingError
from faceedit.models import mask_guided as networks
from faceedit.models.mask_guided import (
    CENTRE_LIMITS,
    COMPONENTS,
    FALLBACK_CENTRES,
    IMAGE_SIZE,
    MOUTH_LABELS,
    NUM_CLASSES,
    MaskGuidedNetworks,
    component_crops,
)

# ----------------------------------------------------------------------------------------------------
# Preprocessing of the official data loader (numpy, exact)


def pil_nearest_index(n_in: int, n_out: int) -> np.ndarray:
    """Source indices PIL's NEAREST resize uses from ``n_in`` to ``n_out`` samples.

    PIL accumulates the source coordinate in double precision (``x = a/2``, then ``x += a``) rather than
    computing ``floor((i + 0.5) * a)``; the two differ on some exact-integer boundaries.
    """
    a = n_in / n_out
    idx = np.empty(n_out, dtype=np.int64)
    x = a * 0.5
    for i in range(n_out):
        idx[i] = min(int(x), n_in - 1)
        x += a
    return idx


def pil_nearest_resize(labels: np.ndarray, width: int, height: int) -> np.ndarray:
    """``Image.fromarray(labels).resize((width, height), Image.NEAREST)`` without PIL."""
    rows = pil_nearest_index(labels.shape[0], height)
    cols = pil_nearest_index(labels.shape[1], width)
    return labels[rows[:, None], cols[None, :]]


def check_helen_labels(labels: np.ndarray, name: str = "label map") -> np.ndarray:
    """Validate a (256, 256) Helen label map (values 0..10) and return it as uint8."""
    arr = np.asarray(labels)
    if arr.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise InvalidArgumentError(
            f"The {name} must be {IMAGE_SIZE}x{IMAGE_SIZE} (an aligned face); got shape {arr.shape}."
        )
    if not np.issubdtype(arr.dtype, np.integer):
        raise InvalidArgumentError(f"The {name} must hold integer class indices; got dtype {arr.dtype}.")
    if arr.min() < 0 or arr.max() >= NUM_CLASSES:
        raise InvalidArgumentError(
            f"The {name} must hold Helen classes 0..{NUM_CLASSES - 1}; got values {int(arr.min())}..{int(arr.max())}."
        )
    return arr.astype(np.uint8)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate a (256, 256, 3) uint8 RGB image."""
    arr = np.asarray(image)
    if arr.shape != (IMAGE_SIZE, IMAGE_SIZE, 3) or arr.dtype != np.uint8:
        raise InvalidArgumentError(
            f"The {name} must be a {IMAGE_SIZE}x{IMAGE_SIZE} RGB uint8 array (an aligned face); "
            f"got shape {arr.shape}, dtype {arr.dtype}."
        )
    return arr


def component_centres(labels: np.ndarray) -> np.ndarray:
    """Centres ``[y_le, x_le, y_re, x_re, y_mouth, x_mouth]`` (int64) of a Helen map, as read.

    Bounding-box centre ``int((lo + hi) / 2)`` of label 4, label 5 and labels {7, 8, 9}; fallbacks
    (116, 96), (116, 160), (184, 128) for absent components.  A centre too close to the border for the
    fixed crop windows raises :class:`InvalidArgumentError` (the official code asserts).
    """
    labels = np.asarray(labels)
    out = np.zeros(6, dtype=np.int64)
    names = ("left eye", "right eye", "mouth")
    groups = ((4,), (5,), MOUTH_LABELS)
    for k, (group, fallback, limits) in enumerate(zip(groups, FALLBACK_CENTRES, CENTRE_LIMITS)):
        ys, xs = np.nonzero(np.isin(labels, group))
        if ys.size:
            y, x = int((ys.min() + ys.max()) / 2), int((xs.min() + xs.max()) / 2)
        else:
            y, x = fallback
        if not (limits[0] < y < limits[1] and limits[2] < x < limits[3]):
            raise InvalidArgumentError(
                f"The {names[k]} in the label map is centred at (x={x}, y={y}), too close to the border: "
                f"its centre must lie within x {limits[2] + 1}..{limits[3] - 1}, y {limits[0] + 1}..{limits[1] - 1}."
            )
        out[2 * k], out[2 * k + 1] = y, x
    return out


def grow_components(labels: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """The official ``append_region``: eyes and mouth grown by 10 % about their centres.

    The map is resized to ``int(1.1 W) x int(1.1 H)`` with PIL NEAREST; for each component the resized
    map is cropped at offset ``int(int(1.1 c) - c)`` and its component pixels overwrite the map.
    """
    labels = np.asarray(labels).astype(np.uint8)
    h, w = labels.shape
    scaled = pil_nearest_resize(labels, int(1.1 * w), int(1.1 * h))
    out = labels.copy()
    for k, group in enumerate(((4,), (5,), MOUTH_LABELS)):
        dy = int(int(1.1 * centres[2 * k]) - centres[2 * k])
        dx = int(int(1.1 * centres[2 * k + 1]) - centres[2 * k + 1])
        window = scaled[dy:dy + h, dx:dx + w]
        hit = np.isin(window, group)
        out[hit] = window[hit]
    return out


def prepare_labels(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centres of the map as read, then the grown map: ``(grown, centres)``."""
    centres = component_centres(labels)
    return grow_components(labels, centres), centres


def image_to_tensor(image: np.ndarray, device: torch.device | None = None) -> torch.Tensor:
    """uint8 HWC -> [1, 3, H, W] float32 in [-1, 1], computed like torchvision's to_tensor + Normalize."""
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1).float().div(255)
    return ((t - 0.5) / 0.5).unsqueeze(0).to(device)


def tensor_to_image(t: torch.Tensor) -> np.ndarray:
    """Generator output [1, 3, H, W] (or [3, H, W]) in [-1, 1] -> uint8 HWC, as the official ``tensor2im``
    (``(x + 1) / 2 * 255``, clipped, truncated)."""
    if t.dim() == 4:
        t = t[0]
    arr = (t.detach().float().cpu().permute(1, 2, 0).numpy() + 1) / 2.0 * 255.0
    return np.clip(arr, 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------------------------------
# The official inference paths on arrays


class MaskGuidedEditor(MaskGuidedNetworks):
    """:class:`~faceedit.models.mask_guided.MaskGuidedNetworks` plus the official inference on arrays.

    Same attributes and state dict as the networks container; ``encode``, ``generate``, ``edit`` and
    ``parse`` take uint8 images and Helen label maps (256x256) as numpy arrays.
    """

    def _inputs(self, image: np.ndarray, labels: np.ndarray, what: str) -> tuple[torch.Tensor, torch.Tensor,
                                                                                    torch.Tensor]:
        image = check_image(image, f"{what} image")
        grown, centres = prepare_labels(check_helen_labels(labels, f"{what} label map"))
        dev = self.device
        return (image_to_tensor(image, dev), torch.from_numpy(grown).long().unsqueeze(0).to(dev),
                torch.from_numpy(centres).unsqueeze(0))

    @torch.inference_mode()
    def encode(self, image: np.ndarray, labels: np.ndarray, random_embed: bool = False,
               generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """The five decoded feature maps of a face (official ``inference_encode``).

        Keys ``left_eye`` [1, 256, 8, 12], ``right_eye`` [1, 256, 8, 12], ``skin`` [1, 256, 64, 64],
        ``hair`` [1, 256, 64, 64], ``mouth`` [1, 256, 20, 36].  Inference uses ``mu``; with
        ``random_embed`` each part gets ``z ~ N(0, I)`` instead (drawn in the order above).
        """
        img, lab, centres = self._inputs(image, labels, "source")
        crops = component_crops(img, lab, centres)
        stats = self.embed(crops)
        if random_embed:
            z = {c: torch.randn(stats[c][0].shape, generator=generator).to(self.device) for c in COMPONENTS}
        else:
            z = {c: stats[c][0] for c in COMPONENTS}
        return self.decode_features(z)

    @torch.inference_mode()
    def generate(self, features: Mapping[str, torch.Tensor], labels: np.ndarray,
                 content_image: np.ndarray | None = None) -> torch.Tensor:
        """Generate from feature maps under a Helen map (official ``inference_generate``) -> [1, 3, 256, 256].

        The eye and mouth features are placed at the map's own centres; the background comes from
        ``content_image`` outside the grown map's label 0.  ``features`` may mix components of
        different faces.  (The app's cached, incremental path is :mod:`faceedit.models.mask_guided_runtime`.)
        """
        grown, centres = prepare_labels(check_helen_labels(labels, "target label map"))
        dev = self.device
        lab = torch.from_numpy(grown).long().unsqueeze(0).to(dev)
        missing = [c for c in COMPONENTS if c not in features]
        if missing:
            raise InvalidArgumentError(f"Features are missing for: {', '.join(missing)}; need all of "
                                       f"{', '.join(COMPONENTS)}.")
        if content_image is None:
            raise InvalidArgumentError("generate() needs a content image for the background.")
        feats = features
        bg = image_to_tensor(check_image(content_image, "content image"), dev)
        expected = {"left_eye": (8, 12), "right_eye": (8, 12), "skin": (64, 64), "hair": (64, 64), "mouth": (20, 36)}
        for c, hw in expected.items():
            if tuple(feats[c].shape[1:]) != (self.G.part_nc, *hw):
                raise InvalidArgumentError(f"The {c} feature map must be [N, {self.G.part_nc}, {hw[0]}, {hw[1]}]; "
                                           f"got {tuple(feats[c].shape)}.")
        feats = {c: feats[c].to(dev) for c in COMPONENTS}
        return self.synthesize(feats, lab, torch.from_numpy(centres).unsqueeze(0), bg)

    @torch.inference_mode()
    def edit(self, style_image: np.ndarray, style_labels: np.ndarray, target_labels: np.ndarray,
             content_image: np.ndarray | None = None, random_embed: bool = False,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """The official ``inference`` edit -> [1, 3, 256, 256] in [-1, 1].

        Components come from the style face (crops cut at its own grown map), the mask features and
        the eye/mouth placement from the target map, the background from ``content_image`` (default:
        the style image) outside the grown target map's label 0.
        """
        content = style_image if content_image is None else content_image
        features = self.encode(style_image, style_labels, random_embed=random_embed, generator=generator)
        return self.generate(features, target_labels, content)

    @torch.inference_mode()
    def parse(self, image: np.ndarray) -> np.ndarray:
        """Helen labels (256, 256) uint8 from ``P`` (official ``inference_parsing``: argmax of P)."""
        if self.P is None:
            raise WeightsMissingError("Face parsing needs the parsing network P (latest_net_P.pth), "
                                      "which was not loaded.")
        img = image_to_tensor(check_image(image), self.device)
        return self.P(img).argmax(1)[0].to(torch.uint8).cpu().numpy()


def load_official(directory: str | Path, device: torch.device | str | None = None,
                  with_image_decoders: bool | None = None, with_parser: bool | None = None,
                  div: int = 1) -> MaskGuidedEditor:
    """:func:`faceedit.models.mask_guided.load_official` (strict), returning a :class:`MaskGuidedEditor`."""
    return networks.load_official(directory, device, with_image_decoders=with_image_decoders,
                                  with_parser=with_parser, div=div, model_class=MaskGuidedEditor)
