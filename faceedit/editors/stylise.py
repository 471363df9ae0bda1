"""Stylise: a face in an art style, in aligned space (numpy in, numpy out).

Two paths, one per installed capability:

* **GAN** (:class:`GanStyliser`): the photo's W+ code (e4e, computed once per face by the caller) rendered by a
  StyleGAN2 G_B adapted to an art domain (DiFa, StyleGAN-NADA, JoJoGAN). The *strength* s ∈ [0, 1] blends the two
  generators by **weight interpolation**, θ(s) = θ_A + s·(θ_B − θ_A) for every parameter and buffer: s = 0 is
  exactly G_A (the photo's reconstruction), s = 1 exactly G_B, and values between keep more of the photo. We chose
  weight interpolation over a layer-range swap because it is continuous (a slider, not 9 steps) and, for
  generators fine-tuned from the same G_A, moves smoothly between the domains (as NADA/JoJoGAN's own
  "strength" demos do). The blended weights are built once per strength and reused: moving an attribute slider at
  a fixed strength costs exactly one generator pass; moving the strength costs one blend (parameter arithmetic, no
  network pass) plus one pass.
* **lite** (:func:`lite_stylise`): classical OpenCV stylisation needing no weights: edge-preserving stylisation
  (``cv2.stylization``), pencil sketch (``cv2.pencilSketch``) and a colour-quantised cartoon (bilateral smoothing,
  k-means colours, adaptive-threshold outlines). It is labelled "lite" everywhere it is shown.

Face check: the editor works on aligned crops, so faces are found before it runs. :func:`check_artwork` is the one
place an *uploaded artwork* is checked (the "edit an artwork" path), with a message that says why artwork may fail
detection; the caller runs it before aligning.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from faceedit.errors import CheckpointLayoutError, InvalidArgumentError, InvalidImageError, NoFaceFoundError
from faceedit.imaging import from_tensor
from faceedit.models.stylegan2 import Generator

__all__ = [
    "LITE_STYLES",
    "GanStyliser",
    "StyliseResult",
    "check_artwork",
    "lite_stylise",
]


@dataclass(frozen=True)
class StyliseResult:
    image: np.ndarray  # (size, size, 3) uint8, aligned space
    strength: float  # the blend used (GAN) or 1.0 (lite)
    label: str  # what made it, for the badge: e.g. "style.nada.anime @ 0.70" or "lite: pencil sketch"


def _check_strength(strength: float) -> float:
    s = float(strength)
    if not 0.0 <= s <= 1.0 or s != s:
        raise InvalidArgumentError(f"strength must be between 0 (the photo's generator) and 1 (the style); got {strength}")
    return s


class GanStyliser:
    """Render W+ codes in a blend of G_A (source, FFHQ) and G_B (art style) generators.

    ``passes`` counts generator forward passes (for tests and benchmarks).
    """

    def __init__(
        self,
        g_a: Generator,  # the source generator the W+ codes belong to (frozen, shared)
        g_b: Generator,  # the adapted generator (frozen, shared)
        name: str = "style",  # registry name or run folder, used in labels
    ) -> None:
        sa, sb = g_a.state_dict(), g_b.state_dict()
        bad = [k for k in sa if k not in sb or sb[k].shape != sa[k].shape]
        if bad or len(sa) != len(sb):
            raise CheckpointLayoutError(
                f"The style generator {name!r} does not match the source generator's architecture "
                f"(size {g_b.size} vs {g_a.size}; {len(bad)} differing entries, e.g. {', '.join(bad[:3])}). "
                "A style must be fine-tuned from the same StyleGAN2 as the encoder's."
            )
        self.g_a, self.g_b, self.name = g_a, g_b, name
        self._mix: Generator | None = None  # blended copy, built on first use of 0 < s < 1
        self._mix_strength: float | None = None
        self._lock = threading.RLock()  # the blended copy is rebuilt in place: one render at a time
        self.passes = 0

    @property
    def size(self) -> int:
        return self.g_a.size

    def generator_at(self, strength: float) -> Generator:
        """G_A at 0, G_B at 1, the cached weight blend otherwise (rebuilt only when the strength changes)."""
        s = _check_strength(strength)
        if s == 0.0:
            return self.g_a
        if s == 1.0:
            return self.g_b
        with self._lock:
            return self._blend(s)

    def _blend(self, s: float) -> Generator:
        if self._mix_strength != s:
            if self._mix is None:
                self._mix = copy.deepcopy(self.g_a)
            sa, sb = self.g_a.state_dict(), self.g_b.state_dict()
            with torch.no_grad():
                blended = {k: torch.lerp(v, sb[k], s) if v.is_floating_point() else v for k, v in sa.items()}
            self._mix.load_state_dict(blended, strict=True)  # load hooks drop the convs' cached Σw²
            self._mix_strength = s
        return self._mix

    def render(
        self,
        w_plus: np.ndarray | torch.Tensor,  # [n_latent, 512] or [1, n_latent, 512]: the (edited) W+ code
        strength: float = 1.0,  # 0 = the photo's generator, 1 = the full style
    ) -> StyliseResult:
        """One generator pass: W+ → aligned (size, size, 3) uint8 image in the blended style.

        Thread-safe; a styliser shared by several sessions serialises renders (and rebuilds the blend whenever
        their strengths differ), so keep one per session when strengths vary (G_A and G_B stay shared).
        """
        w = torch.as_tensor(np.asarray(w_plus) if not isinstance(w_plus, torch.Tensor) else w_plus)
        if w.ndim == 2:
            w = w[None]
        with self._lock:
            g = self.generator_at(strength)
            p = g.input.input
            with torch.inference_mode():
                img = g.synthesis(w.to(device=p.device, dtype=torch.float32), noise_mode="const")
            self.passes += 1
        return StyliseResult(from_tensor(img), float(strength), f"{self.name} @ {float(strength):.2f}")

    def compare(self, w_plus: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """The same code rendered by G_A and by G_B (two passes): why adaptation is needed, side by side."""
        return self.render(w_plus, 0.0).image, self.render(w_plus, 1.0).image


# ---------------------------------------------------------------------------------------------- lite path
def _check_rgb(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or min(arr.shape[:2]) < 16:
        raise InvalidImageError(f"stylise expects an (H, W, 3) uint8 face crop of at least 16 px; got {arr.dtype} {arr.shape}")
    return np.ascontiguousarray(arr)


def _edge_preserving(rgb: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.stylization(rgb, sigma_s=60, sigma_r=0.45)


def _pencil(rgb: np.ndarray) -> np.ndarray:
    import cv2

    gray, _ = cv2.pencilSketch(rgb, sigma_s=60, sigma_r=0.07, shade_factor=0.05)
    return np.repeat(gray[:, :, None], 3, axis=2)


def _cartoon(rgb: np.ndarray, colours: int = 8) -> np.ndarray:
    """Bilateral smoothing, k-means colour quantisation (seeded), dark adaptive-threshold outlines."""
    import cv2

    smooth = rgb
    for _ in range(3):
        smooth = cv2.bilateralFilter(smooth, d=7, sigmaColor=40, sigmaSpace=7)
    pixels = smooth.reshape(-1, 3).astype(np.float32)
    cv2.setRNGSeed(0)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    _, labels, centres = cv2.kmeans(pixels, colours, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    flat = centres.astype(np.uint8)[labels.ravel()].reshape(rgb.shape)
    gray = cv2.medianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 5)
    block = max(3, (min(rgb.shape[:2]) // 64) * 2 + 7)
    edges = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block, 5)
    return np.where(edges[:, :, None] == 0, (flat * 0.25).astype(np.uint8), flat)


#: lite style id → (label shown to users, function)
LITE_STYLES: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "edge_preserving": ("lite: painterly (edge-preserving)", _edge_preserving),
    "pencil": ("lite: pencil sketch", _pencil),
    "cartoon": ("lite: cartoon (colour-quantised)", _cartoon),
}


def lite_stylise(image: np.ndarray, style: str) -> StyliseResult:
    """Classical OpenCV stylisation of an aligned face crop; the same size out. No weights needed."""
    if style not in LITE_STYLES:
        raise InvalidArgumentError(f"unknown lite style {style!r}; one of: {', '.join(LITE_STYLES)}")
    label, fn = LITE_STYLES[style]
    out = fn(_check_rgb(image))
    return StyliseResult(np.ascontiguousarray(out, dtype=np.uint8), 1.0, label)


# ---------------------------------------------------------------------------------------------- artwork check
def check_artwork(image: np.ndarray, detect: Callable[[np.ndarray], list] | None = None) -> object:
    """The largest face of an uploaded artwork, or :class:`NoFaceFoundError` saying what the art path needs.

    ``detect`` defaults to :func:`faceedit.landmarks.detect_faces` (MediaPipe); pass another detector to test.
    """
    if detect is None:
        from faceedit.landmarks import detect_faces as detect
    faces = detect(_check_rgb(image))
    if not faces:
        raise NoFaceFoundError(
            "No face was found in this artwork. Editing an artwork needs a face drawn with recognisable eyes, "
            "nose and mouth, seen roughly from the front and filling a good part of the picture; strongly "
            "stylised faces (tiny or missing features, animal-like, abstract art) cannot be aligned. "
            "Try a tighter crop around the face."
        )
    return faces[0]
