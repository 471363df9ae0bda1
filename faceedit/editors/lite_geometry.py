"""Geometry of the lite engine: smooth landmark-driven warps and 3-D mesh re-rendering.

All warps are *backward maps* ``(map_x, map_y)`` (float32, crop size) for
:func:`cv2.remap`: output pixel ``p`` samples the input at ``map(p)``.  Building
maps instead of images lets several warps be composed and the photo resampled once.

* :func:`rbf_map` - a Gaussian radial-basis displacement field through control
  points (moved points and fixed anchors), the classic scattered-data warp used for
  expression edits.
* :func:`mesh_map` - piecewise-affine re-rendering of a triangulated point set moved
  to new 2-D positions, drawn back to front with a depth order, so a rotated face
  mesh hides what turns away and stretches its neighbours over what becomes visible.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.spatial import Delaunay

# --- MediaPipe face-mesh indices used by the lite engine (canonical 468/478 topology).
#: Mouth corners: image left (person's right), image right (person's left).
MOUTH_CORNERS = (61, 291)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
LIPS_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
#: Cheek apex and malar points (image left side, image right side).
CHEEKS = ((50, 205, 187, 123, 36, 206), (280, 425, 411, 352, 266, 426))
#: Upper cheek just below the lower eyelids: held still so the eyes keep their shape.
UNDER_EYES = ((117, 118, 101, 111, 31, 228, 229, 230), (346, 347, 330, 340, 261, 448, 449, 450))
#: Points beside the mouth (nasolabial area), pulled along by a smile.
NASOLABIAL = ((92, 165, 57, 186, 216, 212), (322, 391, 287, 410, 436, 432))
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
#: Lower eyelids (image left eye, image right eye), lifted slightly by a genuine smile.
LOWER_LIDS = ((7, 163, 144, 145, 153, 154, 155), (249, 390, 373, 374, 380, 381, 382))
NOSE_FIXED = (1, 2, 4, 5, 6, 19, 94, 168, 195, 197, 98, 327, 129, 358)
NOSE_TIP = 1
CHIN = (152, 175, 199, 200, 18, 421, 201)
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
#: Lower half of the face oval (jaw line, ear to ear through the chin).
JAW = (454, 323, 361, 288, 397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234)


def identity_map(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The backward map that leaves an image as it is."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return xs, ys


def rbf_map(src: np.ndarray, dst: np.ndarray, size: tuple[int, int], sigma: float,
            step: int = 8, reg: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Backward map moving control points ``src`` (N,2) to ``dst`` (N,2), smooth in between.

    A Gaussian RBF interpolates the *backward* displacement ``src - dst`` at the
    destination positions, so output pixel ``dst[i]`` samples input ``src[i]``;
    points with ``src == dst`` are anchors.  The field is evaluated on a grid every
    ``step`` pixels and upsampled (it is smooth at the scale ``sigma``).  The small
    linear algebra goes through OpenCV, which does not oversubscribe a busy CPU the
    way a multi-threaded BLAS does.
    """
    h, w = size
    dst = np.asarray(dst, np.float64)
    disp = np.asarray(src, np.float64) - dst
    d2 = ((dst[:, None, :] - dst[None, :, :]) ** 2).sum(-1)
    kernel = np.exp(-d2 / (2.0 * sigma**2)) + reg * np.eye(len(dst))
    ok, weights = cv2.solve(kernel, disp, flags=cv2.DECOMP_CHOLESKY)
    if not ok:
        _, weights = cv2.solve(kernel, disp, flags=cv2.DECOMP_SVD)
    gh, gw = (h + step - 1) // step + 1, (w + step - 1) // step + 1
    gy, gx = np.mgrid[0:gh, 0:gw].astype(np.float32) * step
    d32 = dst.astype(np.float32)
    g2 = (gx.reshape(-1, 1) - d32[None, :, 0]) ** 2 + (gy.reshape(-1, 1) - d32[None, :, 1]) ** 2
    basis = np.exp(g2 * np.float32(-1.0 / (2.0 * sigma**2)))
    field = cv2.gemm(basis, weights.astype(np.float32), 1.0, None, 0.0).reshape(gh, gw, 2)
    full = cv2.resize(field, ((gw - 1) * step + 1, (gh - 1) * step + 1), interpolation=cv2.INTER_CUBIC)
    full = full[:h, :w]
    xs, ys = identity_map(size)
    return xs + full[..., 0], ys + full[..., 1]


def compose_maps(outer: tuple[np.ndarray, np.ndarray],
                 inner: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The map of warping first with ``outer`` then with ``inner`` (both backward maps).

    ``remap(remap(img, outer), inner) == remap(img, compose_maps(outer, inner))`` up to
    interpolation: the output samples ``outer`` at the positions ``inner`` points to.
    """
    mx = cv2.remap(outer[0], inner[0], inner[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    my = cv2.remap(outer[1], inner[0], inner[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return mx, my


def remap(image: np.ndarray, maps: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Resample ``image`` through a backward map (bilinear, edges reflected)."""
    return cv2.remap(image, maps[0], maps[1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def border_points(size: tuple[int, int], per_side: int = 8) -> np.ndarray:
    """Fixed points along the image border (anchors that keep the frame in place)."""
    h, w = size
    t = np.linspace(0.0, 1.0, per_side + 1)[:-1]
    top = np.stack([t * (w - 1), np.zeros_like(t)], 1)
    right = np.stack([np.full_like(t, w - 1), t * (h - 1)], 1)
    bottom = np.stack([(1 - t) * (w - 1), np.full_like(t, h - 1)], 1)
    left = np.stack([np.zeros_like(t), (1 - t) * (h - 1)], 1)
    return np.concatenate([top, right, bottom, left]).astype(np.float64)


def mesh_map(src: np.ndarray, dst: np.ndarray, depth: np.ndarray,
             size: tuple[int, int]) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Piecewise-affine backward map of a point set moved from ``src`` to ``dst`` (N,2).

    The points are triangulated once (Delaunay of ``src``).  Triangles are drawn
    into an index map from far to near (``depth``: larger = farther, one value per
    point), so when the moved mesh overlaps itself the near surface wins; triangles
    that flip (turned away from the viewer) are not drawn.  Returns the map and a
    mask of the pixels no triangle covered (to be filled from their neighbours).
    """
    h, w = size
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    tris = Delaunay(src).simplices  # (T, 3)
    s, d = src[tris], dst[tris]  # (T, 3, 2)

    def signed_area(p: np.ndarray) -> np.ndarray:
        return (p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1]) - \
            (p[:, 2, 0] - p[:, 0, 0]) * (p[:, 1, 1] - p[:, 0, 1])

    area_s, area_d = signed_area(s), signed_area(d)
    keep = (np.sign(area_s) == np.sign(area_d)) & (np.abs(area_d) > 1e-6)
    # Affine dst -> src per triangle: [x_s, y_s] = A @ [x_d, y_d, 1].
    ones = np.ones((len(tris), 3, 1))
    dh = np.concatenate([d, ones], 2)  # (T, 3, 3)
    dh[~keep] = np.eye(3)  # placeholders, never drawn
    affine = np.linalg.solve(dh, s).transpose(0, 2, 1)  # (T, 2, 3)
    order = np.argsort(-depth[tris].mean(1))  # far first
    index = np.full((h, w), -1, np.int32)
    for t in order:
        if keep[t]:
            cv2.fillConvexPoly(index, np.round(d[t] * 16).astype(np.int32), int(t), lineType=cv2.LINE_8, shift=4)
    hole = index < 0
    xs, ys = identity_map(size)
    a = affine[np.maximum(index, 0)].astype(np.float32)  # (H, W, 2, 3)
    mx = a[..., 0, 0] * xs + a[..., 0, 1] * ys + a[..., 0, 2]
    my = a[..., 1, 0] * xs + a[..., 1, 1] * ys + a[..., 1, 2]
    mx[hole], my[hole] = xs[hole], ys[hole]
    return (mx, my), hole


def rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """3x3 rotation: yaw about the image vertical axis, then pitch about the horizontal axis.

    Coordinates are image x (right), y (down), z (away from the viewer).  A positive
    yaw carries points nearer the viewer (smaller z) toward +x (the face turns to the
    image right); a positive pitch carries them toward -y (the face tilts up).
    """
    a, b = np.deg2rad(yaw_deg), np.deg2rad(pitch_deg)
    # x' = cos a x - sin a z: a point at z < 0 (near) moves to +x for a > 0.
    r_yaw = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    # y' = cos b y + sin b z: a near point (z < 0) moves to -y (up) for b > 0.
    r_pitch = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    return r_pitch @ r_yaw
