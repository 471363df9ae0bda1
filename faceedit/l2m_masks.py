"""High-pass masks for L2M-GAN from MediaPipe face-mesh landmarks: an approximation of the wing-FAN masks.

The official inference (rucmlcv/L2M-GAN @ ad2f7067, ``fan.get_heatmap``) turns StarGAN v2's FAN heatmaps of 98
WFLW landmarks into two soft masks at 256²: ``m0`` = jaw line, brows (raised ~7 px), eyes (and a band below them),
nose and lips; ``m1`` = the same without jaw line, brows and mouth, i.e. eyes and nose.  The generator adds the
encoder's high-pass features weighted by ``m0`` at 32 px and ``m1`` at 64 and 128 px, which keeps those details
of the input photo.

When a checkpoint comes without its FAN entry, :func:`masks_from_landmarks` draws the same regions from the 478
MediaPipe face-mesh points (groups of :mod:`faceedit.landmarks`) instead (filled hulls and thick poly-lines, Gaussian-blurred).  **This is an
approximation**: shapes, widths and softness only resemble the FAN masks, so results differ from the authors'
pipeline (which needs the FAN weights, stored in the same checkpoint).
"""

from __future__ import annotations

import numpy as np
import torch

from faceedit import landmarks as mesh
from faceedit.errors import InvalidArgumentError

__all__ = ["masks_for_image", "masks_from_landmarks"]


def masks_from_landmarks(
    landmarks: np.ndarray,  # (478, 2|3) pixel coordinates in the L2M input image (size x size)
    size: int = 256,  # side of the L2M input
) -> tuple[torch.Tensor, torch.Tensor]:  # two [1, 1, size, size] float32 in [0, 1]
    """Approximate the FAN masks ``(m0, m1)`` from face-mesh landmarks (see the module docstring)."""
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] != mesh.NUM_LANDMARKS or pts.shape[1] < 2 or not np.isfinite(pts[:, :2]).all():
        raise InvalidArgumentError(f"expected (478, 2|3) finite face-mesh landmarks; got shape {pts.shape}")
    xy = pts[:, :2]
    k = size / 256.0  # the official recipe's pixel constants are for 256²

    def canvas() -> np.ndarray:
        return np.zeros((size, size), np.float32)

    def hull(mask: np.ndarray, idx: tuple[int, ...], grow: float = 0.0, shift: float = 0.0) -> None:
        p = xy[list(idx)] + [0.0, shift * k]
        c = p.mean(axis=0)
        p = c + (p - c) * (1 + grow)
        poly = np.round(cv2.convexHull(p.astype(np.float32))).astype(np.int32)
        cv2.fillConvexPoly(mask, poly, 1.0, cv2.LINE_AA)

    eyes = canvas()
    for eye in (mesh.LEFT_EYE, mesh.RIGHT_EYE):
        hull(eyes, eye, grow=0.3)
        hull(eyes, eye, grow=0.1, shift=16.0)  # FAN recipe: eye heatmaps also shifted down (a band below the eyes)
    nose = canvas()
    hull(nose, mesh.NOSE, grow=0.15)
    mouth = canvas()
    hull(mouth, mesh.LIPS_OUTER, grow=0.1)
    brows = canvas()
    for brow in (mesh.LEFT_BROW, mesh.RIGHT_BROW):
        hull(brows, brow, grow=0.2, shift=-7.0)  # FAN recipe: brows raised by 7 px
    jaw = canvas()  # FAN recipe keeps the lower jaw line only (WFLW points 8-24)
    eye_line = xy[list(mesh.LEFT_EYE + mesh.RIGHT_EYE), 1].mean()
    low = eye_line + 0.25 * abs(xy[mesh.CHIN, 1] - eye_line)
    path = [i for i in mesh.JAW if xy[i, 1] > low]
    cv2.polylines(jaw, [np.round(xy[path]).astype(np.int32)], False, 1.0, max(1, round(6 * k)), cv2.LINE_AA)

    sigma = 3.0 * k
    m1 = cv2.GaussianBlur(np.maximum(eyes, nose), (0, 0), sigma)
    m0 = cv2.GaussianBlur(np.maximum.reduce([eyes, nose, mouth, brows, jaw]), (0, 0), sigma)
    m0 = np.maximum(m0, m1)

    def as_tensor(m: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.clip(m, 0.0, 1.0))[None, None].float()

    return as_tensor(m0), as_tensor(m1)


def masks_for_image(image: np.ndarray, face_index: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Masks for an aligned square L2M input image (H = W, uint8 RGB): detect the face mesh, then
    :func:`masks_from_landmarks`.  Raises ``NoFaceFoundError`` when the image holds no face."""
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise InvalidArgumentError(f"expected a square aligned RGB crop; got shape {image.shape}")
    face = mesh.select_face(image, face_index)
    return masks_from_landmarks(face.landmarks, size=image.shape[0])
