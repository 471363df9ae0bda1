"""FFHQ-style face alignment and the feathered paste-back into the full photo.

The crop follows the recipe used to build FFHQ (NVlabs/ffhq-dataset
``download_ffhq.py``, ``recreate_aligned_images``) and reused by pSp / e4e
(eladrich/pixel2style2pixel @2fba1b0 ``scripts/align_all_parallel.py``), which their encoders expect:

* ``e0, e1``: the two eye centres (image left, image right); ``m0, m1``: the two
  outer mouth corners; ``e = (e0 + e1) / 2``, ``m = (m0 + m1) / 2``.
* ``x = (e1 - e0) - rot90(m - e)`` normalised, then scaled to
  ``max(2.0 |e1 - e0|, 1.8 |m - e|)``; ``y = rot90(x)``; centre ``c = e + 0.1 (m - e)``.
* The crop is the square ``c - x - y, c - x + y, c + x + y, c + x - y`` (side ``2 |x|``),
  resampled to ``size x size``.

Eye centres are the means of the MediaPipe eye contours (dlib's six-point eye
means in the original); the mouth corners are MediaPipe vertices 61 and 291.
Instead of FFHQ's shrink / crop / pad / quad-transform chain we apply *one*
affine warp (with an area pre-shrink when the face is much larger than the
crop).  Where the square leaves the photo, the crop is filled by reflection and
then blurred and faded to the median colour, as FFHQ's padding does.

Coordinates: pixel centres at integers (OpenCV's convention);
:attr:`Alignment.matrix` maps photo pixels to crop pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from faceedit.errors import InvalidArgumentError
from faceedit.labels import INDEX, check_label_map
from faceedit.landmarks import LEFT_EYE, MOUTH_CORNERS, RIGHT_EYE, Face

#: Crop sizes the networks use (others are allowed, from 64 to 4096).
SIZES = (256, 512, 1024)


@dataclass(frozen=True, eq=False)
class Alignment:
    """Where an aligned crop came from: ``crop = warpAffine(photo, matrix, (size, size))``."""

    matrix: np.ndarray  # (2, 3) float64 affine: original photo pixel -> crop pixel
    size: int  # crop side in pixels
    source_shape: tuple[int, int]  # (H, W) of the original photo

    @property
    def inverse(self) -> np.ndarray:
        """``(2, 3)`` affine: crop pixel -> original photo pixel."""
        return cv2.invertAffineTransform(self.matrix)

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def quad(self) -> np.ndarray:
        """``(4, 2)`` photo coordinates of the crop's corners: top-left, bottom-left, bottom-right, top-right."""
        s = self.size - 0.5
        corners = np.array([(-0.5, -0.5), (-0.5, s), (s, s), (s, -0.5)])
        return self.to_photo(corners)

    def to_crop(self, points: np.ndarray) -> np.ndarray:
        """Photo ``(N, 2)`` points -> crop points."""
        pts = np.asarray(points, dtype=np.float64)[..., :2]
        return pts @ self.matrix[:, :2].T + self.matrix[:, 2]

    def to_photo(self, points: np.ndarray) -> np.ndarray:
        """Crop ``(N, 2)`` points -> photo points."""
        inv = self.inverse
        pts = np.asarray(points, dtype=np.float64)[..., :2]
        return pts @ inv[:, :2].T + inv[:, 2]


def ffhq_keypoints(face: Face) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(eye_left, eye_right, mouth_left, mouth_right)`` in *image* left/right order, pixel centres at integers."""
    right_eye = face.points(RIGHT_EYE).mean(0)  # person's right = image left
    left_eye = face.points(LEFT_EYE).mean(0)
    mouth_r, mouth_l = face.points(MOUTH_CORNERS)  # 61 = person's right corner = image left
    # MediaPipe's normalised coordinates put pixel centres at +0.5; OpenCV puts them at integers.
    return tuple(np.asarray(p, np.float64) - 0.5 for p in (right_eye, left_eye, mouth_r, mouth_l))  # type: ignore[return-value]


def ffhq_quad(eye_left: np.ndarray, eye_right: np.ndarray, mouth_left: np.ndarray, mouth_right: np.ndarray
              ) -> np.ndarray:
    """The FFHQ crop square ``(4, 2)``: top-left, bottom-left, bottom-right, top-right corners."""
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (mouth_left + mouth_right) * 0.5
    eye_to_mouth = mouth_avg - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])
    norm = np.hypot(*x)
    if not np.isfinite(norm) or norm < 1e-6:
        raise InvalidArgumentError("The face landmarks are degenerate (eyes and mouth coincide); cannot align.")
    x = x / norm * max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.array([-x[1], x[0]])
    c = eye_avg + eye_to_mouth * 0.1
    return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])


def _quad_matrix(quad: np.ndarray, size: int) -> np.ndarray:
    """Affine photo -> crop mapping the quad's outer edges onto the crop's outer pixel edges."""
    s = size - 0.5
    crop_corners = np.array([(-0.5, -0.5), (-0.5, s), (s, s)], dtype=np.float32)
    return cv2.getAffineTransform(quad[:3].astype(np.float32), crop_corners).astype(np.float64)


def _warp(src: np.ndarray, matrix: np.ndarray, out_wh: tuple[int, int], border: int,
          value: float | tuple[float, ...] = 0.0) -> np.ndarray:
    """``warpAffine`` that area-averages first when it shrinks by more than 1.5x (no aliasing)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 1.0 / 1.5 and min(src.shape[:2]) > 2:
        # Pre-shrink only the part of ``src`` the output sees, then warp at about unit scale.
        inv = cv2.invertAffineTransform(matrix)
        w, h = out_wh
        corners = np.array([(0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)], np.float64) @ inv[:, :2].T + inv[:, 2]
        pad = 4.0 / scale
        x0 = int(np.clip(np.floor(corners[:, 0].min() - pad), 0, src.shape[1] - 1))
        y0 = int(np.clip(np.floor(corners[:, 1].min() - pad), 0, src.shape[0] - 1))
        x1 = int(np.clip(np.ceil(corners[:, 0].max() + pad), x0 + 1, src.shape[1]))
        y1 = int(np.clip(np.ceil(corners[:, 1].max() + pad), y0 + 1, src.shape[0]))
        part = src[y0:y1, x0:x1]
        f = scale * 1.25  # keep a little more resolution than the output needs for the final warp
        small_w, small_h = max(1, int(round(part.shape[1] * f))), max(1, int(round(part.shape[0] * f)))
        small = cv2.resize(part, (small_w, small_h), interpolation=cv2.INTER_AREA)
        fx, fy = small_w / part.shape[1], small_h / part.shape[0]
        # small pixel = (part pixel + 0.5) * f - 0.5; part pixel = src pixel - (x0, y0)
        pre = np.array([[fx, 0, (0.5 - x0) * fx - 0.5], [0, fy, (0.5 - y0) * fy - 0.5]], np.float64)
        pre_inv = cv2.invertAffineTransform(pre)
        matrix = _compose(matrix, pre_inv)
        src = small
    return cv2.warpAffine(src, matrix, out_wh, flags=cv2.INTER_CUBIC, borderMode=border, borderValue=value)


def _compose(outer: np.ndarray, inner: np.ndarray) -> np.ndarray:
    """Affine ``outer o inner`` (apply ``inner`` first)."""
    a = np.vstack([outer, (0, 0, 1)])
    b = np.vstack([inner, (0, 0, 1)])
    return (a @ b)[:2]


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or not 64 <= int(size) <= 4096:
        raise InvalidArgumentError(f"The crop size must be a whole number of pixels from 64 to 4096 "
                                   f"(the networks use {', '.join(map(str, SIZES))}); got {size!r}.")
    return int(size)


def _check_photo(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidArgumentError(f"Expected an (H, W, 3) uint8 RGB photo; got {arr.dtype} {arr.shape}.")
    return arr


def align_face(image: np.ndarray, face: Face, size: int = 512) -> tuple[np.ndarray, Alignment]:
    """The FFHQ-aligned ``(size, size, 3) uint8`` crop of ``face`` and the transform that made it."""
    image = _check_photo(image)
    size = _check_size(size)
    quad = ffhq_quad(*ffhq_keypoints(face))
    matrix = _quad_matrix(quad, size)
    alignment = Alignment(matrix=matrix, size=size, source_shape=(int(image.shape[0]), int(image.shape[1])))
    crop = _warp(image, matrix, (size, size), cv2.BORDER_REFLECT_101)
    return _soften_padding(crop, alignment, image), alignment


def _outside_distance(alignment: Alignment) -> np.ndarray:
    """Per crop pixel: how far (photo pixels, per axis) its source lies outside the photo; <= 0 inside."""
    size = alignment.size
    h, w = alignment.source_shape
    inv = alignment.inverse
    grid = np.arange(size, dtype=np.float64)
    sx = inv[0, 0] * grid[None, :] + inv[0, 1] * grid[:, None] + inv[0, 2]
    sy = inv[1, 0] * grid[None, :] + inv[1, 1] * grid[:, None] + inv[1, 2]
    return np.maximum(np.maximum(-sx, sx - (w - 1)), np.maximum(-sy, sy - (h - 1)))


def _soften_padding(crop: np.ndarray, alignment: Alignment, image: np.ndarray) -> np.ndarray:
    """FFHQ's padding look: reflected borders blurred and faded to the median colour away from the photo."""
    quad = alignment.quad
    h, w = alignment.source_shape
    if quad[:, 0].min() >= 0 and quad[:, 1].min() >= 0 and quad[:, 0].max() <= w - 1 and quad[:, 1].max() <= h - 1:
        return crop  # the crop lies inside the photo: nothing was padded
    dist = _outside_distance(alignment)
    if dist.max() <= 0:
        return crop
    qsize = alignment.size / alignment.scale  # crop side in photo pixels
    pad = 0.3 * qsize
    mask = (dist / pad).astype(np.float32)[..., None]
    sigma = 0.02 * alignment.size
    out = crop.astype(np.float32)
    blurred = cv2.GaussianBlur(out, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101)
    out += (blurred - out) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    inside = dist <= 0
    median = np.median(crop[inside], axis=0) if inside.any() else np.median(image.reshape(-1, 3), axis=0)
    out += (median.astype(np.float32) - out) * np.clip(mask, 0.0, 1.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def edge_feather(size: int, width: float | None = None) -> np.ndarray:
    """``(size, size) float32``: 1 inside, ramping smoothly to 0 at the crop's border (no box edge shows)."""
    width = max(2.0, 0.04 * size) if width is None else float(width)
    d = np.minimum(np.arange(size), np.arange(size)[::-1]).astype(np.float32)  # pixels to the nearest edge
    ramp = np.clip(d / width, 0.0, 1.0)
    ramp = ramp * ramp * (3.0 - 2.0 * ramp)  # smoothstep
    return np.minimum(ramp[None, :], ramp[:, None])


def paste_back(original: np.ndarray, crop: np.ndarray, alignment: Alignment,
               region: np.ndarray | None = None) -> np.ndarray:
    """The original photo with ``crop`` warped back into it, blended through ``region``.

    ``region`` is ``(size, size)`` float in ``[0, 1]`` in crop space: where the
    edit may show (``None``: the whole crop).  It is multiplied by a soft ramp at
    the crop's border, so no box edge shows.  Photo pixels whose warped weight is
    0 are returned byte-identical.
    """
    original = _check_photo(original)
    crop = np.asarray(crop)
    size = alignment.size
    if crop.shape != (size, size, 3) or crop.dtype != np.uint8:
        raise InvalidArgumentError(f"Expected a ({size}, {size}, 3) uint8 crop; got {crop.dtype} {crop.shape}.")
    if original.shape[:2] != tuple(alignment.source_shape):
        raise InvalidArgumentError(
            f"This alignment belongs to a {alignment.source_shape[1]}x{alignment.source_shape[0]} photo, "
            f"not {original.shape[1]}x{original.shape[0]}."
        )
    weight = edge_feather(size)
    if region is not None:
        region = np.asarray(region, dtype=np.float32)
        if region.shape != (size, size):
            raise InvalidArgumentError(f"The blend region must be ({size}, {size}); got {region.shape}.")
        weight = weight * np.clip(region, 0.0, 1.0)
    # Work only in the photo's box that the crop covers.
    h, w = original.shape[:2]
    quad = alignment.quad
    x0 = int(np.clip(np.floor(quad[:, 0].min()) - 2, 0, w))
    y0 = int(np.clip(np.floor(quad[:, 1].min()) - 2, 0, h))
    x1 = int(np.clip(np.ceil(quad[:, 0].max()) + 3, 0, w))
    y1 = int(np.clip(np.ceil(quad[:, 1].max()) + 3, 0, h))
    out = original.copy()
    if x1 <= x0 or y1 <= y0:
        return out
    to_box = _compose(np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), alignment.inverse)  # crop -> box pixels
    box_wh = (x1 - x0, y1 - y0)
    back = _warp(crop, to_box, box_wh, cv2.BORDER_REPLICATE).astype(np.float32)
    alpha = cv2.warpAffine(weight, to_box, box_wh, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                           borderValue=0.0)
    alpha = np.clip(alpha, 0.0, 1.0)[..., None]
    box = original[y0:y1, x0:x1]
    blended = np.clip(np.rint(box.astype(np.float32) * (1.0 - alpha) + back * alpha), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = np.where(alpha > 0, blended, box)
    return out


#: Classes that :func:`face_region` covers by default: the head (face, hair, ears, hat, glasses) and the neck.
FACE_REGION_CLASSES: tuple[int, ...] = tuple(
    INDEX[c] for c in ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
                       "nose", "mouth", "u_lip", "l_lip", "neck", "hair", "hat")
)


def face_region(labels: np.ndarray, margin: int | None = None,
                classes: tuple[int, ...] = FACE_REGION_CLASSES) -> np.ndarray:
    """Feathered ``(H, W) float32`` mask of the face + hair in crop space, grown by ``margin`` pixels.

    ``margin`` defaults to 3 % of the crop side; the edge fades over about the
    same distance, so a pasted edit blends into the photo without a seam.
    """
    lab = check_label_map(labels)
    h, w = lab.shape
    margin = max(1, int(round(0.03 * max(h, w)))) if margin is None else int(margin)
    if margin < 0:
        raise InvalidArgumentError(f"margin must be >= 0; got {margin}.")
    mask = np.isin(lab, classes).astype(np.uint8)
    if margin > 0:
        k = 2 * margin + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    soft = mask.astype(np.float32)
    if margin > 0:
        soft = cv2.GaussianBlur(soft, (0, 0), sigmaX=margin / 2.0, borderType=cv2.BORDER_CONSTANT)
        soft = np.clip((soft - 0.02) / 0.96, 0.0, 1.0)  # exact 0 far from the face, exact 1 on it
    return soft.astype(np.float32)
