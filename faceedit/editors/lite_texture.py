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


def smooth_fill(image: np.ndarray, target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Fill ``target`` with a smooth continuation of the ``source`` pixels only (push-pull interpolation).

    Masked pyramid: each level averages the known pixels below it (normalised
    convolution); going back up, unknown pixels take the coarser level's value.
    Colours of other regions never leak in.  Pixels outside ``target`` are unchanged.
    """
    src = source.astype(bool) & ~target.astype(bool)
    out = image.copy()
    if not target.any():
        return out
    if not src.any():
        return cv2.inpaint(image, target.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    w = src.astype(np.float32)
    v = image.astype(np.float32) * w[..., None]
    levels: list[tuple[np.ndarray, np.ndarray]] = []
    while True:
        levels.append((v, w))
        if min(w.shape) <= 4:
            break
        v, w = cv2.pyrDown(v), cv2.pyrDown(w)
    filled = levels[-1][0] / np.maximum(levels[-1][1], 1e-6)[..., None]
    for v, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (w.shape[1], w.shape[0]), interpolation=cv2.INTER_LINEAR)
        known = np.clip(w * 4.0, 0.0, 1.0)[..., None]  # trust a level where enough source pixels fell
        filled = known * (v / np.maximum(w, 1e-6)[..., None]) + (1.0 - known) * up
    t = target.astype(bool)
    out[t] = np.clip(np.rint(filled[t]), 0, 255).astype(np.uint8)
    return out


def mirror_fill(image: np.ndarray, target: np.ndarray, source: np.ndarray) -> np.ndarray:
    """Fill ``target`` pixels with texture from ``source`` pixels, mirrored across their boundary.

    Each target pixel ``p`` finds its nearest source pixel ``q`` and copies the
    source pixel at the reflection ``2q - p`` (the texture continues as in a mirror,
    so grain and strands stay sharp).  The source's outer rim (often blended with
    the neighbouring class) is refilled as well, mirrored from deeper inside.  Where
    the reflection leaves the source region the pixel takes a smooth continuation
    (:func:`smooth_fill`).  Pixels outside ``target`` and the rim are unchanged.
    """
    source = source.astype(bool)
    target = target.astype(bool) & ~source
    if not target.any():
        return image.copy()
    core = erode(source, 4)
    if core.sum() < 0.3 * source.sum():
        core = source
    target = target | (dilate(target, 5) & source & ~core)
    out = smooth_fill(image, target, core)
    h, w = target.shape
    _, (iy, ix) = ndimage.distance_transform_edt(~core, return_indices=True)
    ty, tx = np.nonzero(target)
    qy, qx = iy[ty, tx], ix[ty, tx]
    ry, rx = 2 * qy - ty, 2 * qx - tx
    inside = (ry >= 0) & (ry < h) & (rx >= 0) & (rx < w)
    ok = np.zeros_like(inside)
    ok[inside] = core[ry[inside], rx[inside]]
    out[ty[ok], tx[ok]] = image[ry[ok], rx[ok]]
    # Soften the seams where mirrored and smooth pixels meet.
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


def boost_detail(image: np.ndarray, mask: np.ndarray, amount: float, sigma: float = 2.5,
                 despeckle: int = 5) -> np.ndarray:
    """Emphasise luminance structure (creases, folds) inside a soft ``mask``.

    High-pass boosting: ``L + amount * (L - blur(L))``, with dark creases (negative
    detail) boosted more than highlights, as wrinkles read as dark lines.  The
    high-pass is taken of a median-filtered luminance (``despeckle`` px), so
    freckles and noise dots are not turned into dirt while lines survive.
    """
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB).astype(np.float32)
    lum = lab[..., 0]
    base = cv2.medianBlur(lab[..., 0].astype(np.uint8), despeckle).astype(np.float32) if despeckle > 1 else lum
    detail = base - cv2.GaussianBlur(base, (0, 0), sigma)
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
