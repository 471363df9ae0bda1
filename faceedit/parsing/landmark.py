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

4. **Accessories and occluders** (:func:`build_parsing`, with a note per class):
   eyeglasses (a narrow dark bar across the nose bridge plus dark / non-skin frame
   pixels past both outer eye corners; dark lenses inside the rims), a hat (a wide
   region on top of the head much darker than, or of another hue from, the hair
   beside the face), earrings (small shiny or metallic blobs at a visible ear), a
   necklace (a thin non-skin band lying across the neck) and hands (MediaPipe hand
   landmarks) as an occluder mask, labelled background.

Cannot see: clear rimless lenses, a hat as light as the hair or with no hair showing
beside the face, earrings under hair, objects in front of the face other than hands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    detect_hands,
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
        return self.parse_detailed(crop, face, person).labels

    def parse_detailed(self, crop: np.ndarray, face: Face | None = None, person: np.ndarray | None = None,
                       hands: list[np.ndarray] | None = None) -> Parsing:
        """Labels, the occluder mask (hands in front of the face) and a note per accessory class."""
        crop = _check_crop(crop)
        if face is None:
            face = central_face(crop)
        if person is None:
            person = segment_person(crop)
        if hands is None:
            hands = detect_hands(crop)
        return build_parsing(crop, face, np.asarray(person, np.float32), hands)


def find_occluder(crop: np.ndarray, face: Face | None = None) -> np.ndarray:
    """``(H, W) bool``: hands in front of or beside the face in ``crop`` (for parsers without an occluder, e.g. BiSeNet)."""
    crop = _check_crop(crop)
    hands = detect_hands(crop)
    if not hands:
        return np.zeros(crop.shape[:2], bool)
    face = face if face is not None else central_face(crop)
    lm = face.landmarks[:, :2].astype(np.float64)
    unit = float(np.hypot(*(lm[LEFT_IRIS[0]] - lm[RIGHT_IRIS[0]])))
    near = _dilate(_fill(crop.shape[:2], lm[list(FACE_OVAL)]), 0.06 * unit) | (segment_person(crop) > 0.5)
    return _hand_occluder(crop.shape[:2], hands, near, unit)


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


@dataclass
class Parsing:
    """What the offline parser found: labels, an occluder mask, and a line per accessory class.

    ``occluder`` marks things in front of the face (hands); those pixels are labelled
    background.  ``notes`` maps ``eye_g``, ``hat``, ``ear_r``, ``neck_l`` and ``occluder``
    to a sentence saying what was found, or why nothing was.
    """

    labels: np.ndarray
    occluder: np.ndarray
    notes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Geometry:
    """The face frame of :func:`build_parsing`: per-pixel ``u`` (along the eyes), ``v`` (down), in eye distances."""

    u: np.ndarray
    v: np.ndarray
    unit: float  # pixels per eye distance
    top_v: float  # top of the mesh's face oval
    brow_v: float
    eye_v: float
    jaw_half: float  # half the jaw's width


def _robust_model(samples: np.ndarray) -> _ColourModel:
    """A colour model refitted on its own inliers (a few stray pixels of another colour do not widen it)."""
    model = _ColourModel(samples)
    keep = model.mahal2(samples[None].astype(np.float32))[0] < _INLIER
    return _ColourModel(samples[keep]) if keep.sum() > 20 else model


def _find_hat(lab: np.ndarray, person_prob: np.ndarray, person: np.ndarray, oval: np.ndarray,
              skin_like: np.ndarray, g: _Geometry) -> tuple[np.ndarray, str, np.ndarray]:
    """Hat mask, a note, and the hair sample beside the temples it was compared with.

    A hat is a wide region on top of the head (mostly above the mesh's forehead, down
    to it) much darker than the hair beside the face or of another hue (hair is lit from
    above, so a lighter top alone is not a hat).  With no hair visible there (bald,
    or a hat down to the ears) a hat cannot be told from hair.
    """
    u, v, unit = g.u, g.v, g.unit
    none = np.zeros(lab.shape[:2], bool)
    side = (person & ~oval & ~skin_like & (np.abs(u) > 0.7) & (np.abs(u) < g.jaw_half + 0.5)
            & (v > g.eye_v + 0.15) & (v < g.eye_v + 0.8))
    if side.sum() < 0.01 * unit**2:
        return none, "no hat found (no hair beside the face to tell a hat from hair)", side
    samples = lab[side]
    light = np.percentile(samples[:, 0], [25, 50])
    chroma = np.median(samples[:, 1:], axis=0)
    spread = float(np.median(np.hypot(*(samples[:, 1:] - chroma).T)))
    top = (person_prob > 0.3) & ~skin_like & (v < g.top_v + 0.25) & (v > g.top_v - 1.6) & (np.abs(u) < 1.7)
    darker = (lab[..., 0] < light[0] - 25) & (lab[..., 0] < 0.5 * light[1])
    hue = np.hypot(lab[..., 1] - chroma[0], lab[..., 2] - chroma[1]) > max(20.0, 4 * spread)
    unlike = top & (darker | hue)
    unlike = cv2.GaussianBlur(unlike.astype(np.float32), (0, 0), 0.03 * unit) > 0.5
    unlike = _open_close(unlike & top, 0.02 * unit)
    n, comp, stats, _ = cv2.connectedComponentsWithStats(unlike.astype(np.uint8), connectivity=8)
    hat = none.copy()
    for i in range(1, n):
        x, _, width, _, area = stats[i]
        if area < 0.15 * unit**2 or width < 0.8 * unit:
            continue
        part = comp == i
        # It sits on the head: mostly above the face's top, down to the forehead.
        if float(np.median(v[part])) < g.top_v and float(v[part].max()) > g.top_v - 0.3:
            hat |= part
    if not hat.any():
        return none, "no hat found", side
    return hat, "hat found: the top of the head differs from the hair beside the temples", side


def _eye_span(lm: np.ndarray, origin: np.ndarray, ex: np.ndarray, unit: float) -> float:
    """How far (in eye distances) the outer eye corners lie from the face's midline."""
    return float(np.abs((lm[[33, 263]] - origin) @ ex).max() / unit)


def _find_glasses(lab: np.ndarray, skin: _ColourModel, oval: np.ndarray, eyes: np.ndarray, brows: np.ndarray,
                  hair: np.ndarray, g: _Geometry, eye_span: float) -> tuple[np.ndarray, str]:
    """Eyeglass frames (and dark lenses) around the mesh's eyes.

    Frames are pixels much darker than the skin or far from its colour, in a band
    around the eyes.  Glasses are reported only when a bar crosses the nose bridge
    between the eyes (a narrow dip in its lightness profile, which a bare nose bridge
    does not have) and frame pixels reach past both outer eye corners.
    """
    u, v, unit = g.u, g.v, g.unit
    none = np.zeros(lab.shape[:2], bool)
    skin_l = float(skin.mean[0])
    sd_l = float(np.sqrt(np.linalg.inv(skin.inv)[0, 0]))
    dark = lab[..., 0] < min(0.6 * skin_l, skin_l - 3.0 * sd_l)
    far = skin.mahal2(lab) > 6 * _INLIER
    zone = (np.abs(u) < eye_span + 0.3) & (v > g.brow_v - 0.15) & (v < g.eye_v + 0.5) & ~hair
    cand = zone & (dark | far) & ~_dilate(eyes, 0.02 * unit)
    cand = _open_close(cand, 0.008 * unit) if unit > 120 else cand

    def cover(band: np.ndarray) -> float:
        cols = band.any(0)
        return float((cand & band).any(0)[cols].mean()) if cols.any() else 0.0

    level = (v > g.brow_v - 0.05) & (v < g.eye_v + 0.1)
    bar, dip = _bridge_bar(lab[..., 0], level & (np.abs(u) < 0.1), unit)
    sides = [cover(level & (sign * u > eye_span) & (sign * u < eye_span + 0.15) & ~_dilate(brows, 0.03 * unit))
             for sign in (-1, 1)]
    if dip < max(15.0, 1.2 * sd_l) or min(sides) < 0.3:
        return none, (f"no eyeglasses found (nose-bridge dip {dip:.0f} grey levels, frame cover beside the eyes "
                      f"{sides[0]:.0%}/{sides[1]:.0%})")
    cand |= bar
    frames = _connected_to(cand, level & ((np.abs(u) < 0.1) | (np.abs(u) > eye_span)))
    frames = _drop_small(frames, 0.002 * unit**2)
    # Lenses: the inside of each rim when it is much darker than skin (sunglasses).
    for sign in (-1, 1):
        rim = frames & (sign * u > 0.05)
        if rim.sum() < 10:
            continue
        ys, xs = np.nonzero(rim)
        hull = _fill(lab.shape[:2], cv2.convexHull(np.stack([xs, ys], 1).astype(np.float32) + 0.5).reshape(-1, 2))
        inside = hull & ~rim & ~eyes & ~brows
        if inside.any() and float(lab[..., 0][inside].mean()) < 0.55 * skin_l:
            frames |= inside
    return frames, f"eyeglasses found (a bar {dip:.0f} grey levels darker across the nose bridge)"


def _bridge_bar(lum: np.ndarray, band: np.ndarray, unit: float) -> tuple[np.ndarray, float]:
    """Pixels of a narrow dark bar across ``band`` (the nose bridge), and how deep it is in grey levels.

    Along the band's row-median lightness, a row's depth is how much darker it is than
    the brightest rows within a quarter eye distance above it and below it (the dimmer
    of the two): a valley with light on both sides (a bar), not a slope or a dark edge
    at the band's end.
    """
    rows = np.flatnonzero(band.any(1))
    bar = np.zeros(band.shape, bool)
    if len(rows) < 5:
        return bar, 0.0
    profile = np.array([np.median(lum[r, band[r]]) for r in rows], np.float32)
    k = max(2, int(round(0.25 * unit)))
    depth = np.zeros(len(rows), np.float32)
    for i in range(1, len(rows) - 1):
        above, below = profile[max(0, i - k):i].max(), profile[i + 1:i + 1 + k].max()
        depth[i] = max(0.0, min(above, below) - profile[i])
    if depth.max() > 0:
        dark_rows = rows[depth > 0.5 * depth.max()]
        bar[dark_rows] = band[dark_rows]
    return bar, float(depth.max())


def _find_earrings(lab: np.ndarray, skin_shaded: np.ndarray, hair: np.ndarray, ears: np.ndarray,
                   person_prob: np.ndarray, g: _Geometry, mouth_v: float, chin_v: float) -> tuple[np.ndarray, str]:
    """Small bright or metallic blobs hanging at a visible ear (within the person, below the ear's top)."""
    u, v, unit = g.u, g.v, g.unit
    found = np.zeros(lab.shape[:2], bool)
    L, a, b = lab[..., 0], lab[..., 1] - 128.0, lab[..., 2] - 128.0
    chroma = np.hypot(a, b)
    zone = (np.abs(u) > g.jaw_half - 0.05) & (np.abs(u) < g.jaw_half + 0.45) & (v > mouth_v - 0.5) & (
        v < chin_v) & _dilate(ears, 0.15 * unit) & (person_prob > 0.5)
    if not zone.any():
        return found, "no earring found (the ear lobes are not visible)"
    ref_l = float(np.median(L[zone]))
    shiny = zone & ~skin_shaded & ((L > ref_l + 60) | ((chroma > 35) & (b > 20))) & ~hair
    n, comp, stats, _ = cv2.connectedComponentsWithStats(shiny.astype(np.uint8), connectivity=8)
    for i in range(1, n):
        _, _, width, height, area = stats[i]
        if 0.0008 * unit**2 <= area <= 0.03 * unit**2 and max(width, height) < 0.3 * unit:
            found |= comp == i
    if not found.any():
        return found, "no earring found (small shiny or metallic blobs at the ear lobes only)"
    return _dilate(found, 0.01 * unit), "earring found at an ear lobe"


def _find_necklace(lab: np.ndarray, skin: _ColourModel, neck: np.ndarray, skin_shaded: np.ndarray,
                   g: _Geometry, chin_v: float) -> tuple[np.ndarray, str]:
    """A thin light band across the neck in a colour unlike its skin (chains, pearls), skin above and below."""
    u, v, unit = g.u, g.v, g.unit
    found = np.zeros(lab.shape[:2], bool)
    if neck.sum() < 0.05 * unit**2:
        return found, "no necklace found (too little neck visible)"
    region = _dilate(neck, 0.12 * unit) & (v > chin_v - 0.1) & (np.abs(u) < g.jaw_half)
    light = lab[..., 0] > 0.6 * float(skin.mean[0])  # metal, pearls, beads in light colours (not a dark collar)
    odd = region & light & ~skin_shaded & (skin.mahal2(lab) > 6 * _INLIER)
    odd = _open_close(odd, 0.006 * unit)
    neck_w = float(np.ptp(np.nonzero(neck)[1])) + 1
    n, comp, stats, _ = cv2.connectedComponentsWithStats(odd.astype(np.uint8), connectivity=8)
    for i in range(1, n):
        _, _, width, height, area = stats[i]
        part = comp == i
        # Across the neck, thin, and lying on it: skin above and below (a collar has cloth on one side).
        ring = _dilate(part, 0.04 * unit) & ~part
        if width > 0.5 * neck_w and height < 0.25 * unit and skin_shaded[ring].mean() > 0.6:
            found |= part
    if not found.any():
        return found, "no necklace found (a thin band across the neck, unlike its skin, only)"
    return found, "necklace found across the neck"


#: Hand landmarks (MediaPipe's 21-point hand): finger chains from the wrist (0).
_HAND_BONES = ((0, 1, 2, 3, 4), (0, 5, 6, 7, 8), (5, 9, 10, 11, 12), (9, 13, 14, 15, 16), (13, 17, 18, 19, 20),
               (0, 17))


def _hand_occluder(shape: tuple[int, int], hands: list[np.ndarray], near: np.ndarray, unit: float) -> np.ndarray:
    """Pixels covered by hands (palm polygon and thick finger strokes), where they overlap the head area."""
    mask = np.zeros(shape, np.uint8)
    for pts in hands:
        p = np.asarray(pts, np.float64)[:, :2]
        palm = p[[0, 1, 5, 9, 13, 17]]
        mask |= _fill(shape, cv2.convexHull(palm.astype(np.float32)).reshape(-1, 2)).astype(np.uint8)
        span = float(np.hypot(*(p[5] - p[17])))  # knuckle width sets the finger thickness
        thick = max(2, int(round(0.3 * max(span, 0.2 * unit))))
        for chain in _HAND_BONES:
            line = np.round(p[list(chain)] - 0.5).astype(np.int32)
            cv2.polylines(mask, [line], False, 1, thickness=thick, lineType=cv2.LINE_8)
    return mask.astype(bool) & near


# --- the parser ----------------------------------------------------------------------------------


def build_labels(crop: np.ndarray, face: Face, person_prob: np.ndarray) -> np.ndarray:
    """The 19-class label map of ``crop`` from its face mesh and person probability."""
    return build_parsing(crop, face, person_prob).labels


def build_parsing(crop: np.ndarray, face: Face, person_prob: np.ndarray,
                  hands: list[np.ndarray] | None = None) -> Parsing:
    """Labels, occluder mask and per-class findings of ``crop`` (``hands``: 21-point hand landmarks)."""
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

    # A hat: the top of the head in a colour unlike the hair showing beside the temples.
    jaw_half = float(np.abs(frame(JAW)[0]).max())
    geom = _Geometry(u, v, px_per_unit, top_v, float(brow_v.mean()), float(eye_v.mean()), jaw_half)
    hat, hat_note, side_hair = _find_hat(lab, person_prob, person, oval, skin_like | skin_shaded, geom)
    notes = {"hat": hat_note}

    # Hair model: non-skin person pixels in a band above and around the forehead (the hat left out).
    above = person & ~oval & (v < float(brow_v.mean())) & (v > top_v - 1.2) & (np.abs(u) < 1.6)
    hair_sample = above & ~skin_like & ~_dilate(hat, 0.03 * px_per_unit)
    if hat.any() and hair_sample.sum() < 0.03 * px_per_unit**2:
        hair_sample = side_hair
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
        candidates = person & ~oval & ~skin_like & ~hat & (head_zone | hair_like)
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
        hair_mask = _drop_small(hair_mask | bangs, 0.02 * px_per_unit**2) & ~hat

    # Ears: skin beside the oval, between brow and mouth level, attached to the face.
    ear_band = person & ~oval & skin_shaded & ~hair_mask & ~hat & (v > float(brow_v.mean())) & (
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
    rest = person & ~oval & ~hair_mask & ~ears & ~neck & ~cloth & ~hat
    # Leftover person pixels: skin-coloured ones join the skin (a bald head), others the hair.
    # Opening first cuts thin bridges, so a highlight inside the hair is not joined to the forehead.
    bare = cv2.morphologyEx((rest & skin_like).astype(np.uint8), cv2.MORPH_OPEN, _disk(0.05 * px_per_unit))
    leftover_skin = _connected_to(bare.astype(bool), oval_grown)

    # 4. Accessories and occluders.
    glasses, notes["eye_g"] = _find_glasses(lab, skin, oval, r_eye | l_eye, r_brow | l_brow, hair_mask, geom,
                                            _eye_span(lm, origin, ex, unit))
    earrings, notes["ear_r"] = _find_earrings(lab, skin_shaded, hair_mask | hat, ears, person_prob, geom,
                                              float(mouth_v.mean()), chin_v)
    necklace, notes["neck_l"] = _find_necklace(lab, skin, neck, skin_shaded, geom, chin_v)
    occluder = _hand_occluder(shape, hands or [], oval_grown | person, px_per_unit)
    notes["occluder"] = (f"{len(hands)} hand(s) in front of the face or beside it" if occluder.any() and hands
                         else "no hand found (other objects in front of the face are not detected)")

    # 5. Paint in order: later layers win.
    labels = np.zeros(shape, np.uint8)
    labels[cloth] = INDEX["cloth"]
    labels[neck] = INDEX["neck"]
    labels[(rest & ~leftover_skin) & head_zone] = INDEX["hair"] if has_hair else INDEX["background"]
    labels[hair_mask] = INDEX["hair"]
    labels[(oval | leftover_skin) & ~hair_mask] = INDEX["skin"]
    labels[hat] = INDEX["hat"]
    if hat.any():  # nothing called hair lies over a hat: what is above it in its column is the hat's crown
        over_hat = np.flipud(np.cumsum(np.flipud(hat), axis=0)) > 0
        labels[(labels == INDEX["hair"]) & over_hat & ~hat] = INDEX["hat"]
    labels[necklace] = INDEX["neck_l"]
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
    labels[glasses & ~(r_eye | l_eye | r_brow | l_brow)] = INDEX["eye_g"]
    labels[earrings] = INDEX["ear_r"]
    labels[occluder] = INDEX["background"]
    return Parsing(labels, occluder, notes)
