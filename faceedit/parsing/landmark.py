"""Offline face parsing from the MediaPipe face mesh and selfie segmentation.

The 19-class map (canonical order, :mod:`faceedit.labels`) is built in layers:

1. **Person vs background** from the selfie segmentation.
2. **Face features** filled from mesh polygons: skin (face oval), brows, eyes,
   nose, upper / lower lip (between the outer and inner lip contours) and the
   inner mouth.  "l_" is the *person's* left, i.e. the *image right*.
3. **Hair, ears, neck, cloth** from geometry in the face's own frame (origin
   between the eyes, unit = eye distance, ``v`` pointing down the face) and
   colour statistics in CIE Lab: a skin model from the cheeks and chin, a hair
   model from the non-skin person pixels above the forehead.  Hair is the
   non-skin part of the person connected to the head (bangs inside the face oval
   included); ears are skin beside the oval between brow and mouth level; neck is
   skin below the jaw; cloth is the rest of the person below the face.

Not detected here: eyeglasses, earrings, necklaces and hats (the BiSeNet parser
finds those when its weights are installed).
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedit.errors import InvalidArgumentError, NoFaceFoundError
from faceedit.labels import INDEX
from faceedit.landmarks import (
    FACE_OVAL,
    JAW,
    LEFT_BROW,
    LEFT_EYE,
    LEFT_IRIS,
    LIPS_INNER,
    LIPS_OUTER,
    NOSE,
    RIGHT_BROW,
    RIGHT_EYE,
    RIGHT_IRIS,
    Face,
    detect_faces,
    segment_person,
)

#: Upper lip: outer upper arc from the right mouth corner (61) to the left (291), back along the inner arc.
UPPER_LIP: tuple[int, ...] = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291,
                              308, 415, 310, 311, 312, 13, 82, 81, 80, 191, 78)
#: Lower lip: outer lower arc from 61 to 291, back along the inner lower arc.
LOWER_LIP: tuple[int, ...] = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291,
                              308, 324, 318, 402, 317, 14, 87, 178, 88, 95, 78)


class LandmarkParser:
    """Face parsing without network weights (MediaPipe mesh + segmentation + colour statistics)."""

    name = "landmark"

    def parse(self, crop: np.ndarray, face: Face | None = None, person: np.ndarray | None = None) -> np.ndarray:
        """``(H, W) uint8`` labels of the face nearest the crop's centre.

        ``face`` (landmarks in the crop's pixels) and ``person`` (``(H, W)`` person
        probability) may be passed when already known; otherwise they are computed.
        """
        crop = _check_crop(crop)
        if face is None:
            face = central_face(crop)
        if person is None:
            person = segment_person(crop)
        return build_labels(crop, face, np.asarray(person, np.float32))


def _check_crop(crop: np.ndarray) -> np.ndarray:
    arr = np.asarray(crop)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(f"Expected an (H, W, 3) uint8 RGB crop; got {arr.dtype} {arr.shape}.")
    return np.ascontiguousarray(arr)


def central_face(crop: np.ndarray) -> Face:
    """The detected face whose centre is nearest the crop's centre (an aligned crop's own face)."""
    faces = detect_faces(crop)
    if not faces:
        raise NoFaceFoundError("No face was found in this image, so it cannot be parsed into face parts.")
    h, w = crop.shape[:2]
    return min(faces, key=lambda f: (f.center[0] - w / 2) ** 2 + (f.center[1] - h / 2) ** 2)


# --- geometry helpers --------------------------------------------------------------------------------


def _fill(shape: tuple[int, int], pts: np.ndarray) -> np.ndarray:
    """Boolean mask of a polygon given in MediaPipe pixel coordinates (centres at +0.5), sub-pixel exact."""
    mask = np.zeros(shape, np.uint8)
    fixed = np.round((np.asarray(pts, np.float64) - 0.5) * 16).astype(np.int32)
    cv2.fillPoly(mask, [fixed], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _disk(radius: float) -> np.ndarray:
    r = max(1, int(round(radius)))
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _dilate(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius < 0.5:
        return mask
    return cv2.dilate(mask.astype(np.uint8), _disk(radius)).astype(bool)


def _erode(mask: np.ndarray, radius: float) -> np.ndarray:
    if radius < 0.5:
        return mask
    return cv2.erode(mask.astype(np.uint8), _disk(radius)).astype(bool)


def _open_close(mask: np.ndarray, radius: float) -> np.ndarray:
    k = _disk(radius)
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, k)
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, k).astype(bool)


def _connected_to(mask: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """The parts of ``mask`` whose connected components touch ``seed``."""
    n, comp = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask & False
    keep = np.unique(comp[seed & mask])
    keep = keep[keep > 0]
    return np.isin(comp, keep)


def _drop_small(mask: np.ndarray, min_area: float) -> np.ndarray:
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask
    big = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= min_area)
    big = big[big > 0]
    return np.isin(comp, big)


class _ColourModel:
    """A Gaussian in CIE Lab with full covariance (floored, so a flat patch does not make it razor thin)."""

    def __init__(self, samples: np.ndarray, floors: tuple[float, float, float] = (8.0, 2.5, 2.5)) -> None:
        samples = np.asarray(samples, np.float64)
        self.mean = np.median(samples, axis=0) if len(samples) < 3 else samples.mean(0)
        cov = np.cov(samples.T) if len(samples) > 3 else np.zeros((3, 3))
        cov = cov + np.diag(np.square(floors))
        self.inv = np.linalg.inv(cov)
        self.logdet = float(np.linalg.slogdet(cov)[1])

    def mahal2(self, lab: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance of each pixel of an ``(H, W, 3)`` Lab image."""
        return _quadratic(lab, self.mean, self.inv, (0, 1, 2))

    def chroma_mahal2(self, lab: np.ndarray) -> np.ndarray:
        """Squared Mahalanobis distance in (a, b) only: colour without shading."""
        inv = np.linalg.inv(np.linalg.inv(self.inv)[1:, 1:])
        return _quadratic(lab, self.mean[1:], inv, (1, 2))

    def loglik(self, m2: np.ndarray) -> np.ndarray:
        """Log-likelihood (up to a shared constant) from :meth:`mahal2`."""
        return -0.5 * (m2 + self.logdet)


def _quadratic(lab: np.ndarray, mean: np.ndarray, inv: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    """``d^T inv d`` per pixel with ``d = lab[..., channels] - mean`` (plane by plane: fast for 2-3 channels)."""
    d = [lab[..., c] - np.float32(m) for c, m in zip(channels, mean)]
    out = np.zeros(lab.shape[:2], np.float32)
    for i in range(len(d)):
        out += np.float32(inv[i, i]) * d[i] * d[i]
        for j in range(i + 1, len(d)):
            out += np.float32(2.0 * inv[i, j]) * d[i] * d[j]
    return out


#: Squared Mahalanobis distance under which a colour belongs to a model (chi-square, 3 dof, ~99 %).
_INLIER = 11.3


# --- the parser ----------------------------------------------------------------------------------


def build_labels(crop: np.ndarray, face: Face, person_prob: np.ndarray) -> np.ndarray:
    """The 19-class label map of ``crop`` from its face mesh and person probability."""
    h, w = crop.shape[:2]
    if person_prob.shape != (h, w):
        raise InvalidArgumentError(f"The person mask must be {(h, w)}; got {person_prob.shape}.")
    lm = face.landmarks[:, :2].astype(np.float64)
    shape = (h, w)

    # Face frame: origin between the irises, u along the eyes (image right), v down the face.
    right_iris, left_iris = lm[RIGHT_IRIS[0]], lm[LEFT_IRIS[0]]
    origin = (right_iris + left_iris) / 2
    ex = left_iris - right_iris
    unit = float(np.hypot(*ex))
    if unit < 4:
        raise NoFaceFoundError("The face in this image is too small to be parsed (eyes under 4 px apart).")
    ex /= unit
    ey = np.array([-ex[1], ex[0]])
    yy, xx = np.mgrid[:h, :w].astype(np.float32)
    px, py = xx + 0.5 - origin[0], yy + 0.5 - origin[1]
    u = (px * ex[0] + py * ex[1]) / unit
    v = (px * ey[0] + py * ey[1]) / unit

    def frame(indices: tuple[int, ...] | list[int]) -> tuple[np.ndarray, np.ndarray]:
        d = lm[list(indices)] - origin
        return d @ ex / unit, d @ ey / unit

    oval_u, oval_v = frame(FACE_OVAL)
    _, jaw_v = frame(JAW)
    _, mouth_v = frame(LIPS_OUTER)
    _, brow_v = frame(RIGHT_BROW + LEFT_BROW)
    _, eye_v = frame(RIGHT_EYE + LEFT_EYE)
    chin_v = float(oval_v.max())
    top_v = float(oval_v.min())
    px_per_unit = unit  # pixels per eye distance

    # 1. Face polygons.
    oval = _fill(shape, lm[list(FACE_OVAL)])
    r_brow = _dilate(_fill(shape, lm[list(RIGHT_BROW)]), 0.02 * px_per_unit)
    l_brow = _dilate(_fill(shape, lm[list(LEFT_BROW)]), 0.02 * px_per_unit)
    r_eye = _dilate(_fill(shape, lm[list(RIGHT_EYE)]), 0.015 * px_per_unit)
    l_eye = _dilate(_fill(shape, lm[list(LEFT_EYE)]), 0.015 * px_per_unit)
    nose_pts = lm[list(NOSE)]
    nose = _fill(shape, cv2.convexHull(nose_pts.astype(np.float32)).reshape(-1, 2))
    mouth_in = _fill(shape, lm[list(LIPS_INNER)])
    u_lip = _fill(shape, lm[list(UPPER_LIP)]) & ~mouth_in
    l_lip = _fill(shape, lm[list(LOWER_LIP)]) & ~mouth_in & ~u_lip
    features = r_brow | l_brow | r_eye | l_eye | nose | mouth_in | u_lip | l_lip

    # 2. Person and colour models.
    person = (person_prob > 0.5) | oval
    lab = cv2.cvtColor(crop, cv2.COLOR_RGB2LAB).astype(np.float32)
    skin_sample = (_erode(oval, 0.08 * px_per_unit) & ~_dilate(features, 0.08 * px_per_unit)
                   & (v > float(eye_v.max()) + 0.1))
    if skin_sample.sum() < 20:
        skin_sample = oval & ~features
    samples = lab[skin_sample]
    lum = samples[:, 0]
    lo, hi = np.percentile(lum, [10, 97])
    skin = _ColourModel(samples[(lum >= lo) & (lum <= hi)] if len(samples) > 50 else samples)
    skin_m2 = skin.mahal2(lab)
    skin_like = skin_m2 < _INLIER
    # Skin in shadow (neck under the chin, ears): skin colour at any lightness that is not near-black.
    skin_shaded = (skin.chroma_mahal2(lab) < 9.2) & (lab[..., 0] > 0.35 * float(skin.mean[0]))

    # Hair model: non-skin person pixels in a band above and around the forehead.
    above = person & ~oval & (v < float(brow_v.mean())) & (v > top_v - 1.2) & (np.abs(u) < 1.6)
    hair_sample = above & ~skin_like
    has_hair = hair_sample.sum() > 0.03 * px_per_unit**2
    if has_hair:
        hair = _ColourModel(lab[hair_sample])
        hair_m2 = hair.mahal2(lab)
        hair_wins = hair.loglik(hair_m2) > skin.loglik(skin_m2)
        hair_like = (hair_m2 < _INLIER) & hair_wins
        skin_like &= ~hair_wins
    else:
        hair_like = np.zeros(shape, bool)

    # 3. Regions around the face.
    oval_grown = _dilate(oval, 0.06 * px_per_unit)
    head_zone = (v < chin_v + 0.1) & (np.abs(u) < 1.7) & (v > top_v - 1.6)
    hair_mask = np.zeros(shape, bool)
    if has_hair:
        candidates = person & ~oval & ~skin_like & (head_zone | hair_like)
        seed = hair_sample & hair_like
        hair_mask = _connected_to(_open_close(candidates & (hair_like | head_zone & (v < eye_v.mean())),
                                              0.03 * px_per_unit), seed)
        # Below the chin only hair-coloured pixels stay hair (long hair over the shoulders), and not
        # in front of the throat; where clothes are there too, hair must look more like hair than cloth.
        clothes = person & ~skin_like & (v > chin_v + 0.3)
        if clothes.sum() > 0.05 * px_per_unit**2:
            cloth_model = _ColourModel(lab[clothes])
            low_ok = hair_like & (hair.loglik(hair_m2) > cloth_model.loglik(cloth_model.mahal2(lab)))
        else:
            low_ok = hair_like
        jaw_half = float(np.abs(frame(JAW)[0]).max())
        hair_mask &= (v < chin_v) | (low_ok & (np.abs(u) > 0.6 * jaw_half))
        hair_mask = _connected_to(hair_mask, seed)
        # Bangs: hair-coloured pixels in the upper face oval, hanging down from the hair above.
        upper = oval & (v < float(eye_v.min()))
        raw = (upper & hair_like & ~features).astype(np.float32)
        hairy = cv2.GaussianBlur(raw, (0, 0), 0.04 * px_per_unit) > 0.45
        if abs(ex[1]) < 0.5:  # roughly upright crop: hair runs down each column from the top
            hang = np.cumprod(hairy | ~oval, axis=0).astype(bool)
        else:
            hang = hairy
        bangs = hang & upper & ~features
        bangs = cv2.GaussianBlur(bangs.astype(np.float32), (0, 0), 0.03 * px_per_unit) > 0.5
        bangs = _connected_to(bangs & upper & ~features, _dilate(hair_mask, 2))
        hair_mask = _drop_small(hair_mask | bangs, 0.02 * px_per_unit**2)

    # Ears: skin beside the oval, between brow and mouth level, attached to the face.
    jaw_u = frame(JAW)[0]
    jaw_half = float(np.abs(jaw_u).max())
    ear_band = person & ~oval & skin_shaded & ~hair_mask & (v > float(brow_v.mean())) & (
        v < float(mouth_v.mean())) & (np.abs(u) > 0.8) & (np.abs(u) < jaw_half + 0.45)
    ears = _connected_to(_open_close(ear_band, 0.02 * px_per_unit), oval_grown)
    ears = _drop_small(ears, 0.01 * px_per_unit**2)

    # Neck: skin below the jaw, within the jaw's width, attached to it.
    neck_zone = person & ~oval & ~hair_mask & ~ears & (v > float(mouth_v.mean())) & (np.abs(u) < 0.85 * jaw_half)
    neck = _connected_to(_open_close(neck_zone & skin_shaded, 0.03 * px_per_unit), oval_grown)
    neck = _drop_small(neck, 0.02 * px_per_unit**2)

    # Cloth: the rest of the person below the face.
    below = v > float(jaw_v.mean())
    cloth = person & ~oval & ~hair_mask & ~ears & ~neck & below
    cloth = _drop_small(_open_close(cloth, 0.02 * px_per_unit), 0.02 * px_per_unit**2)
    rest = person & ~oval & ~hair_mask & ~ears & ~neck & ~cloth
    # Leftover person pixels: skin-coloured ones join the skin (a bald head), others the hair.
    # Opening first cuts thin bridges, so a highlight inside the hair is not joined to the forehead.
    bare = cv2.morphologyEx((rest & skin_like).astype(np.uint8), cv2.MORPH_OPEN, _disk(0.05 * px_per_unit))
    leftover_skin = _connected_to(bare.astype(bool), oval_grown)

    # 4. Paint in order: later layers win.
    labels = np.zeros(shape, np.uint8)
    labels[cloth] = INDEX["cloth"]
    labels[neck] = INDEX["neck"]
    labels[(rest & ~leftover_skin) & head_zone] = INDEX["hair"] if has_hair else INDEX["background"]
    labels[hair_mask] = INDEX["hair"]
    labels[(oval | leftover_skin) & ~hair_mask] = INDEX["skin"]
    right_side = u < 0  # person's right = image left
    labels[ears & right_side] = INDEX["r_ear"]
    labels[ears & ~right_side] = INDEX["l_ear"]
    labels[nose] = INDEX["nose"]
    labels[r_brow] = INDEX["r_brow"]
    labels[l_brow] = INDEX["l_brow"]
    labels[r_eye] = INDEX["r_eye"]
    labels[l_eye] = INDEX["l_eye"]
    labels[u_lip] = INDEX["u_lip"]
    labels[l_lip] = INDEX["l_lip"]
    labels[mouth_in] = INDEX["mouth"]
    return labels
