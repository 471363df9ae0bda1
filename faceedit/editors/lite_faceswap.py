"""Lite face swap (offline, no weights): the source face warped onto the target's mesh, colour matched, blended
inside the target's parsed face region.

1. **Warp.** Piecewise-affine over the 478-point meshes (Delaunay of the source's points plus fixed border
   anchors; :func:`faceedit.editors.lite_geometry.mesh_map`): every target pixel takes the source pixel at the
   same place in its mesh triangle, so the source's features land on the target's geometry and pose.
2. **Region.** Target pixels labelled skin, brows, eyes, nose, mouth or lips (19-class map,
   :mod:`faceedit.labels`), and, when the source's labels are given, where the warped source is face too.
   Hair, ears, glasses, hats, necks, the inner mouth and anything else the parser set apart stay the target's
   (the landmark parser finds no glasses: a source's glasses then come along; BiSeNet labels keep them out).
3. **Colour.** Reinhard LAB mean/std transfer of the warped face onto the target's face region.
4. **Blend.** Alpha = the region shrunk and feathered inside itself, times the strength: pixels outside the
   region are the target's, byte for byte.

Identity similarity needs the ArcFace backbone; the lite path reports none.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedit.editors import lite_geometry as geo
from faceedit.editors import lite_texture as tex
from faceedit.editors.faceswap_input import FaceSwapOutput, check_crop, check_pair, check_strength
from faceedit.errors import InvalidArgumentError
from faceedit.labels import INDEX, check_label_map

#: Classes the lite swap replaces: the face itself, never hair, ears, glasses, hats or the neck. The inner mouth
#: (teeth, tongue) stays the target's too: a closed source mouth stretched over an open one shows as streaks.
FACE_CLASSES = tuple(
    INDEX[c] for c in ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "u_lip", "l_lip")
)
#: A mesh warp shows the far side of a turned face stretched; past this the lite swap refuses.
MAX_YAW_DEGREES = 35.0


def warp_to_mesh(
    source: np.ndarray, source_landmarks: np.ndarray, target_landmarks: np.ndarray, size: tuple[int, int]
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """The source crop warped piecewise-affinely so its mesh lands on the target's: ``(image, maps, hole)``."""
    border = geo.border_points(size, per_side=10)
    scale = size[0] / source.shape[0]  # source crops of another size: mesh coordinates in target pixels
    src = np.concatenate([source_landmarks[:, :2] * scale, border])
    dst = np.concatenate([target_landmarks[:, :2], border])
    depth = np.concatenate([target_landmarks[:, 2], np.full(len(border), 1e6)])
    maps, hole = geo.mesh_map(src, dst, depth, size)
    src_img = (
        source if source.shape[:2] == size else cv2.resize(source, size[::-1], interpolation=cv2.INTER_AREA)
    )
    return geo.remap(src_img, maps), maps, hole


def lite_face_swap(
    target: np.ndarray,  # (S, S, 3) uint8 aligned target crop
    target_labels: np.ndarray,  # (S, S) 19-class labels of the target
    target_landmarks: np.ndarray,  # (478, 3) target mesh in crop pixels
    source: np.ndarray,  # (S', S', 3) uint8 aligned source crop
    source_landmarks: np.ndarray,  # (478, 3) source mesh in its crop pixels
    source_labels: np.ndarray | None = None,  # (S', S') its labels: keeps the source's hair/glasses out
    strength: float = 1.0,  # blend strength in [0, 1]
    target_face_px: float | None = None,  # face widths in their photos, for the too-small check
    source_face_px: float | None = None,
) -> FaceSwapOutput:
    """The source's face on the target's head, hair, ears, occluders and background kept."""
    target, t_lm = check_crop(target, target_landmarks, "target")
    source, s_lm = check_crop(source, source_landmarks, "source")
    labels = check_label_map(target_labels)
    if labels.shape != target.shape[:2]:
        raise InvalidArgumentError(f"The target labels are {labels.shape}; the crop is {target.shape[:2]}.")
    strength = check_strength(strength)
    check_pair(
        target, t_lm, source, s_lm, MAX_YAW_DEGREES, "the lite face swap", target_face_px, source_face_px
    )
    size = target.shape[:2]
    warped, maps, hole = warp_to_mesh(source, s_lm, t_lm, size)
    region = np.isin(labels, FACE_CLASSES) & ~hole
    if source_labels is not None:
        src_lab = check_label_map(source_labels)
        if src_lab.shape != size:
            src_lab = cv2.resize(src_lab, size[::-1], interpolation=cv2.INTER_NEAREST)
        warped_lab = cv2.remap(
            src_lab, maps[0], maps[1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101
        )
        region &= np.isin(warped_lab, FACE_CLASSES)
    matched = tex.match_color(warped, region, target, region)
    radius = max(2, round(0.01 * size[0]))
    alpha = tex.feather(tex.erode(region, radius), radius) * region * strength
    crop = tex.blend(target, matched, alpha)
    share = float(region.mean() / max(np.isin(labels, FACE_CLASSES).mean(), 1e-6))
    kept = "hair, ears and glasses" if (labels == INDEX["eye_g"]).any() else "hair and ears"
    message = "lite face swap: the source face warped onto this face's mesh, colour matched and blended "
    message += f"inside the face; {kept} kept (the GAN path needs GHOST's FaceShifter weights)"
    if not (labels == INDEX["eye_g"]).any():
        message += "; glasses are kept only when the parser labels them (the BiSeNet parser does, the landmark one not)"
    if share < 0.5:
        message += f"; only {share:.0%} of the face could take the source (hair or glasses cover the rest)"
    return FaceSwapOutput(crop=crop, region=alpha.astype(np.float32), message=message, similarity=None)
