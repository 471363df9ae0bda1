"""What both face-swap paths (FaceShifter and lite) check and share: input errors, the pose limit, the result.

Inputs are aligned crops ``(S, S, 3) uint8`` with their 478-point MediaPipe mesh in crop pixels
(``FaceState.landmarks``: x, y and depth z in the same pixel scale).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from faceedit.errors import FaceEditError, InvalidArgumentError
from faceedit.scorers import yaw_from_landmarks

#: A face narrower than this in its photo (pixels) is refused: the swap would upscale it into mush.
MIN_FACE_PX = 64


class SamePhotoError(FaceEditError):
    """The source and the target are the same face of the same photo."""


class FaceTooSmallError(FaceEditError):
    """A face is too small in its photo to swap."""


class ProfileTooFarError(FaceEditError):
    """A face is turned further than the swap method handles."""


class FaceSwapOutput(NamedTuple):
    """One swap in the target's aligned space."""

    crop: np.ndarray  # (S, S, 3) uint8: the target crop with the source's identity
    region: np.ndarray  # (S, S) float32 in [0, 1]: where the swap shows (the paste-back mask)
    message: str  # what was done, by which method, with its caveats
    similarity: float | None  # ArcFace cosine of the result to the source (None without the backbone)


def check_strength(value: Any) -> float:
    """A face swap's blend strength as a float in [0, 1] (0: the target, 1: the full swap), or a clear error."""
    try:
        s = float(value)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"The blend strength takes a number between 0 and 1; got {value!r}.") from None
    if not 0.0 <= s <= 1.0:
        raise InvalidArgumentError(f"The blend strength must be between 0 and 1; got {value!r}.")
    return s


def check_crop(crop: np.ndarray, landmarks: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """An aligned crop and its mesh, validated: ``(S, S, 3) uint8`` and ``(478, 3)`` within the crop."""
    crop = np.asarray(crop)
    lm = np.asarray(landmarks, np.float64)
    if crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3 or crop.shape[0] != crop.shape[1]:
        raise InvalidArgumentError(
            f"The {name} must be a square (S, S, 3) uint8 crop; got {crop.dtype} {crop.shape}."
        )
    if lm.shape != (478, 3) or not np.isfinite(lm).all():
        raise InvalidArgumentError(f"The {name} needs its 478-point face mesh (478, 3); got {lm.shape}.")
    return crop, lm


def check_pair(
    target: np.ndarray,
    target_landmarks: np.ndarray,
    source: np.ndarray,
    source_landmarks: np.ndarray,
    max_yaw: float,  # degrees: the method's limit
    method: str,  # names the method in the profile message
    target_face_px: float | None = None,  # face width in the target photo (None: not checked)
    source_face_px: float | None = None,  # face width in the source photo
) -> None:
    """Refuse the same photo twice, faces too small in their photos, and profiles beyond ``max_yaw``."""
    if target.shape == source.shape and np.array_equal(target, source):
        raise SamePhotoError(
            "The source and the target are the same face of the same photo: choose another photo (or another "
            "face in it) as the source."
        )
    for who, px in (("target", target_face_px), ("source", source_face_px)):
        if px is not None and px < MIN_FACE_PX:
            raise FaceTooSmallError(
                f"The {who} face is only {px:.0f} px wide in its photo; face swap needs at least {MIN_FACE_PX} px. "
                "Use a larger or closer photo."
            )
    for who, lm in (("target", target_landmarks), ("source", source_landmarks)):
        yaw = yaw_from_landmarks(np.asarray(lm, np.float32))
        if abs(yaw) > max_yaw:
            raise ProfileTooFarError(
                f"The {who} face is turned {abs(yaw):.0f}° to the side; {method} handles up to {max_yaw:.0f}°. "
                "Use a photo that shows more of the face."
            )
