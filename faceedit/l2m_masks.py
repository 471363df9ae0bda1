"""High-pass masks for L2M-GAN from MediaPipe face-mesh landmarks: an approximation of the wing-FAN masks.

The official inference (rucmlcv/L2M-GAN @ ad2f7067, ``fan.get_heatmap``) turns StarGAN v2's FAN heatmaps of 98
WFLW landmarks into two soft masks at 256²: ``m0`` = jaw line, brows (raised ~7 px), eyes (and a band below them),
nose and lips; ``m1`` = the same without jaw line, brows and mouth, i.e. eyes and nose.  The generator adds the
encoder's high-pass features weighted by ``m0`` at 32 px and ``m1`` at 64 and 128 px, which keeps those details
of the input photo.

When a checkpoint comes without its FAN entry, :func:`masks_from_landmarks` draws the same regions from the 478
MediaPipe face-mesh points instead (filled hulls and thick poly-lines, Gaussian-blurred).  **This is an
approximation**: shapes, widths and softness only resemble the FAN masks, so results differ from the authors'
pipeline (which needs the FAN weights, stored in the same checkpoint).
"""

from __future__ import annotations

import functools

import numpy as np
import torch

from faceedit.errors import InvalidArgumentError

__all__ = ["masks_from_landmarks", "mesh_groups"]


@functools.lru_cache(maxsize=1)
def mesh_groups() -> dict[str, tuple[tuple[int, int], ...]]:
    """Edge lists of the MediaPipe face-mesh regions used here (from the mediapipe wheel's connection sets)."""
    try:
        from mediapipe.python.solutions import face_mesh_connections as c
    except ImportError as err:  # pragma: no cover - mediapipe is a runtime requirement
        raise ImportError("the L2M landmark masks need mediapipe (pip install mediapipe==0.10.14)") from err
    return {
        "oval": tuple(c.FACEMESH_FACE_OVAL),
        "left_eye": tuple(c.FACEMESH_LEFT_EYE),
        "right_eye": tuple(c.FACEMESH_RIGHT_EYE),
        "left_brow": tuple(c.FACEMESH_LEFT_EYEBROW),
        "right_brow": tuple(c.FACEMESH_RIGHT_EYEBROW),
        "nose": tuple(c.FACEMESH_NOSE),
        "lips": tuple(c.FACEMESH_LIPS),
    }


def _points(edges: tuple[tuple[int, int], ...]) -> list[int]:
    return sorted({i for e in edges for i in e})


def masks_from_landmarks(
    landmarks: np.ndarray,  # (478, 2|3) pixel coordinates in the L2M input image (size x size)
    size: int = 256,  # side of the L2M input
) -> tuple[torch.Tensor, torch.Tensor]:  # two [1, 1, size, size] float32 in [0, 1]
    """Approximate the FAN masks ``(m0, m1)`` from face-mesh landmarks (see the module docstring)."""
    import cv2

    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.ndim != 2 or pts.shape[0] < 468 or pts.shape[1] < 2 or not np.isfinite(pts[:, :2]).all():
        raise InvalidArgumentError(f"expected (478, 2|3) finite face-mesh landmarks; got shape {pts.shape}")
    xy = pts[:, :2]
    k = size / 256.0  # the official recipe's pixel constants are for 256²
    groups = mesh_groups()

    def canvas() -> np.ndarray:
        return np.zeros((size, size), np.float32)

    def hull(mask: np.ndarray, idx: list[int], grow: float = 0.0, shift: float = 0.0) -> None:
        p = xy[idx] + [0.0, shift * k]
        if grow:
            c = p.mean(axis=0)
            p = c + (p - c) * (1 + grow)
        cv2.fillConvexPoly(mask, np.round(cv2.convexHull(p.astype(np.float32))).astype(np.int32), 1.0, cv2.LINE_AA)

    def lines(mask: np.ndarray, edges, width: float, shift: float = 0.0, keep=None) -> None:
        for a, b in edges:
            if keep is not None and not (keep(a) and keep(b)):
                continue
            p = np.round(xy[[a, b]] + [0.0, shift * k]).astype(np.int32)
            cv2.line(mask, tuple(p[0]), tuple(p[1]), 1.0, max(1, round(width * k)), cv2.LINE_AA)

    eyes = canvas()
    for side in ("left_eye", "right_eye"):
        idx = _points(groups[side])
        hull(eyes, idx, grow=0.3)
        hull(eyes, idx, grow=0.1, shift=16.0)  # FAN recipe: eye heatmaps also shifted down (a band below the eyes)
    nose = canvas()
    hull(nose, _points(groups["nose"]), grow=0.15)
    mouth = canvas()
    hull(mouth, _points(groups["lips"]), grow=0.1)
    brows = canvas()
    for side in ("left_brow", "right_brow"):
        lines(brows, groups[side], width=6.0, shift=-7.0)  # FAN recipe: brows raised by 7 px
    jaw = canvas()
    eye_line = xy[_points(groups["left_eye"]) + _points(groups["right_eye"]), 1].mean()
    lines(jaw, groups["oval"], width=6.0, keep=lambda i: xy[i, 1] > eye_line + 0.25 * abs(xy[152, 1] - eye_line))

    sigma = 3.0 * k
    m1 = cv2.GaussianBlur(np.maximum(eyes, nose), (0, 0), sigma)
    m0 = cv2.GaussianBlur(np.maximum.reduce([eyes, nose, mouth, brows, jaw]), (0, 0), sigma)
    m0 = np.maximum(m0, m1)

    def as_tensor(m: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.clip(m, 0.0, 1.0))[None, None].float()

    return as_tensor(m0), as_tensor(m1)
