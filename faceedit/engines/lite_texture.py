"""Texture operations of the lite engine: fills, colour matching, blending, skin and hair tone.

Everything works on aligned crops ``(H, W, 3) uint8`` and boolean or float masks of
the same size.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage


def feather(mask: np.ndarray, radius: float) -> np.ndarray:
    """A soft float32 version of a mask: Gaussian-blurred edges, 1 inside, 0 far outside."""
    m = mask.astype(np.float32)
    if radius <= 0:
        return m
    k = int(2 * round(2.5 * radius) + 1)
    return np.clip(cv2.GaussianBlur(m, (k, k), radius), 0.0, 1.0)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Boolean mask grown by ``radius`` pixels (elliptic structuring element)."""
    if radius <= 0:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.dilate(mask.astype(np.uint8), kernel) > 0


def erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Boolean mask shrunk by ``radius`` pixels."""
    if radius <= 0:
        return mask.astype(bool)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    return cv2.erode(mask.astype(np.uint8), kernel) > 0


def blend(base: np.ndarray, top: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """``base * (1 - alpha) + top * alpha`` in uint8; pixels with alpha 0 stay byte-identical."""
    a = alpha.astype(np.float32)[..., None]
    out = base.astype(np.float32) * (1.0 - a) + top.astype(np.float32) * a
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    untouched = alpha <= 0
    out[untouched] = base[untouched]
    return out


def mirror_fill(image: np.ndarray, target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Fill ``target`` pixels with texture from ``source`` pixels, mirrored across their boundary.

    Each target pixel ``p`` finds its nearest source pixel ``q`` and copies the
    source pixel at the reflection ``2q - p`` (the texture continues as in a mirror,
    so grain and strands stay sharp); when the reflection leaves the source region
    it copies ``q`` itself.  Pixels outside ``target`` are returned unchanged.
    """
    target = target.astype(bool) & ~source.astype(bool)
    out = image.copy()
    if not target.any():
        return out
    if not source.any():  # nothing to copy from: smooth inpainting
        return cv2.inpaint(image, target.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    h, w = target.shape
    _, (iy, ix) = ndimage.distance_transform_edt(~source.astype(bool), return_indices=True)
    ty, tx = np.nonzero(target)
    qy, qx = iy[ty, tx], ix[ty, tx]
    ry, rx = 2 * qy - ty, 2 * qx - tx
    inside = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
    ok = np.zeros_like(inside)
    ok[inside] = source[ry[inside], rx[inside]]
    sy, sx = np.where(ok, ry, qy), np.where(ok, rx, qx)
    out[ty, tx] = image[sy, sx]
    # Soften the seam where mirrored and clamped pixels meet.
    soft = cv2.GaussianBlur(out, (3, 3), 0.8)
    out[ty, tx] = soft[ty, tx]
    return out


def match_color(patch: np.ndarray, patch_mask: np.ndarray, target: np.ndarray,
                target_mask: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """Shift ``patch``'s colours so their LAB mean/std over ``patch_mask`` match ``target`` over ``target_mask``.

    Reinhard et al. 2001 colour transfer, in OpenCV's 8-bit LAB.  ``strength`` in
    [0, 1] blends between the original and the fully matched patch.
    """
    pm, tm = patch_mask.astype(bool), target_mask.astype(bool)
    if pm.sum() < 16 or tm.sum() < 16:
        return patch.copy()
    p = cv2.cvtColor(patch, cv2.COLOR_RGB2LAB).astype(np.float32)
    t = cv2.cvtColor(target, cv2.COLOR_RGB2LAB).astype(np.float32)
    pmu, psd = p[pm].mean(0), p[pm].std(0) + 1e-3
    tmu, tsd = t[tm].mean(0), t[tm].std(0) + 1e-3
    scale = np.clip(tsd / psd, 0.5, 2.0)
    matched = (p - pmu) * scale + tmu
    out = p + strength * (matched - p)
    return cv2.cvtColor(np.clip(np.rint(out), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def boost_detail(image: np.ndarray, mask: np.ndarray, amount: float, sigma: float = 2.5) -> np.ndarray:
    """Emphasise fine luminance texture (pores, creases) inside a soft ``mask``.

    High-pass boosting: ``L + amount * (L - blur(L))``, with dark creases (negative
    detail) boosted more than highlights, as wrinkles read as dark lines.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lum = lab[..., 0]
    detail = lum - cv2.GaussianBlur(lum, (0, 0), sigma)
    detail = np.where(detail < 0, 1.6 * detail, 0.7 * detail)
    lab[..., 0] = lum + amount * mask * detail
    return cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def smooth_skin(image: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """Edge-preserving smoothing (bilateral filter) blended in by ``amount * mask``."""
    smooth = cv2.bilateralFilter(image, 9, 30, 7)
    return blend(image, smooth, np.clip(amount * mask, 0.0, 1.0))


def grey_hair(image: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """Desaturate and lighten hair (``mask`` soft, ``amount`` in [0, 1]) keeping its strands.

    The hair's own luminance texture is kept (rescaled around a lighter mean) while
    its chroma is pulled toward neutral grey.
    """
    if amount <= 0 or mask.max() <= 0:
        return image.copy()
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    hard = mask > 0.5
    mean_l = float(lab[..., 0][hard].mean()) if hard.any() else 128.0
    target_l = mean_l + (200.0 - mean_l) * 0.7  # silver-grey, brighter than the original hair
    grey = lab.copy()
    grey[..., 0] = target_l + (lab[..., 0] - mean_l) * 1.1
    grey[..., 1] = 128.0 + (lab[..., 1] - 128.0) * 0.15
    grey[..., 2] = 128.0 + (lab[..., 2] - 128.0) * 0.15
    a = (np.clip(amount, 0, 1) * mask)[..., None]
    out = lab * (1 - a) + grey * a
    return cv2.cvtColor(np.clip(np.rint(out), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)


def saturate(image: np.ndarray, mask: np.ndarray, amount: float) -> np.ndarray:
    """Scale chroma by ``1 + amount`` inside a soft mask (hair looks fuller and younger)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    gain = 1.0 + amount * mask
    lab[..., 1] = 128.0 + (lab[..., 1] - 128.0) * gain
    lab[..., 2] = 128.0 + (lab[..., 2] - 128.0) * gain
    return cv2.cvtColor(np.clip(np.rint(lab), 0, 255).astype(np.uint8), cv2.COLOR_LAB2RGB)
