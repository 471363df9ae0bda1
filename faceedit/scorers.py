"""Attribute scorers for boundary training, measured on MediaPipe face-mesh landmarks (offline).

A scorer is any callable ``image -> float`` taking an ``(H, W, 3)`` uint8 RGB image and returning
the attribute's score, or NaN when it cannot tell (no face found); :func:`faceedit.directions.train_boundary`
drops NaN scores and counts them.  A learned classifier (e.g. a CelebA attribute net) drops in with
the same signature.

The scores here are geometric, in the face's own frame (eye line horizontal, lengths in units of the
outer-eye-corner distance ``d``), so they do not change with image size, position or in-plane rotation:

* ``smile``: mouth width ``/ d`` plus twice the lift of the mouth corners above the mid-lip line ``/ d``
  (a smile widens the mouth and raises its corners);
* ``yaw``: head turn in degrees from the depth difference of the two face-oval edge points
  (positive: the face turns towards the image's right, the person's left);
* ``pitch``: head nod in degrees from the depth difference of forehead top and chin
  (positive: the chin comes forward, the face looks up).

Mesh indices are those of MediaPipe's 468/478-point canonical face model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from faceedit.errors import InvalidArgumentError
from faceedit.landmarks import CHIN, FOREHEAD, MOUTH_CORNERS

Scorer = Callable[[np.ndarray], float]

# canonical face-mesh indices ("right" = the person's right = image left), see faceedit.landmarks
_RIGHT_EYE_OUTER, _LEFT_EYE_OUTER = 33, 263
_MOUTH_RIGHT, _MOUTH_LEFT = MOUTH_CORNERS
_LIP_UPPER_INNER, _LIP_LOWER_INNER = 13, 14
_OVAL_RIGHT, _OVAL_LEFT = 234, 454
_FOREHEAD, _CHIN = FOREHEAD[7], CHIN  # forehead top (10), chin (152)


def face_landmarks(image: np.ndarray) -> np.ndarray | None:
    """``(478, 3)`` float32 pixel landmarks (x, y, z) of the largest face, or None if there is none."""
    from faceedit.landmarks import detect_faces

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidArgumentError(f"a scorer takes an (H, W, 3) uint8 RGB image, got {image.dtype} {image.shape}")
    faces = detect_faces(image, max_faces=1)
    return faces[0].landmarks if faces else None


def _face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Origin, unit x (person's right eye -> left eye, in the image plane), unit y (down), eye distance."""
    right, left = lm[_RIGHT_EYE_OUTER, :2].astype(np.float64), lm[_LEFT_EYE_OUTER, :2].astype(np.float64)
    d = float(np.linalg.norm(left - right))
    ex = (left - right) / d
    ey = np.array([-ex[1], ex[0]])  # image y points down
    return (left + right) / 2, ex, ey, d


def smile_from_landmarks(lm: np.ndarray) -> float:
    """Smile score of one face's landmarks (see module docstring)."""
    origin, ex, ey, d = _face_frame(lm)

    def frame(i: int) -> np.ndarray:
        p = lm[i, :2].astype(np.float64) - origin
        return np.array([p @ ex, p @ ey]) / d

    corner_r, corner_l = frame(_MOUTH_RIGHT), frame(_MOUTH_LEFT)
    mid_y = (frame(_LIP_UPPER_INNER)[1] + frame(_LIP_LOWER_INNER)[1]) / 2
    width = corner_l[0] - corner_r[0]
    lift = mid_y - (corner_r[1] + corner_l[1]) / 2  # > 0 when the corners sit above the lip centre
    return float(width + 2.0 * lift)


def yaw_from_landmarks(lm: np.ndarray) -> float:
    """Head yaw in degrees (positive: turned towards the image right)."""
    _, ex, _, _ = _face_frame(lm)
    v = lm[_OVAL_LEFT].astype(np.float64) - lm[_OVAL_RIGHT].astype(np.float64)
    return float(math.degrees(math.atan2(v[2], v[:2] @ ex)))


def pitch_from_landmarks(lm: np.ndarray) -> float:
    """Head pitch in degrees (positive: chin forward, looking up)."""
    _, _, ey, _ = _face_frame(lm)
    v = lm[_CHIN].astype(np.float64) - lm[_FOREHEAD].astype(np.float64)
    return float(math.degrees(math.atan2(-v[2], v[:2] @ ey)))


def _on_image(fn: Callable[[np.ndarray], float], image: np.ndarray) -> float:
    lm = face_landmarks(image)
    return float("nan") if lm is None else fn(lm)


def smile_score(image: np.ndarray) -> float:
    """Smile score of the largest face in ``image``; NaN without a face."""
    return _on_image(smile_from_landmarks, image)


def yaw_score(image: np.ndarray) -> float:
    """Head yaw in degrees of the largest face in ``image``; NaN without a face."""
    return _on_image(yaw_from_landmarks, image)


def pitch_score(image: np.ndarray) -> float:
    """Head pitch in degrees of the largest face in ``image``; NaN without a face."""
    return _on_image(pitch_from_landmarks, image)


#: Scorers by name, for ``python -m faceedit.train.boundary --scorer NAME``.
SCORERS: dict[str, Scorer] = {"smile": smile_score, "yaw": yaw_score, "pitch": pitch_score}


def get_scorer(name: str) -> Scorer:
    """The scorer called ``name``; the error lists the known ones."""
    try:
        return SCORERS[name]
    except KeyError:
        raise InvalidArgumentError(f"unknown scorer {name!r}; known scorers: {', '.join(SCORERS)}") from None
