"""The lite engine: classical image processing on the face mesh and the label map.

Offline, CPU only, no learned generator: it moves, re-renders and re-blends the
pixels the photo already has.  It is honest about that: it cannot draw things the
photo does not contain (glasses, a hat, earrings painted where there were none)
and says so, pointing to the GAN engine.

Attributes (absolute slider values, 0 = unchanged, range -3..3):

* ``smile`` - a smooth Gaussian-RBF displacement field through mesh landmarks:
  mouth corners up and out (down and in for negative values), the lips curved
  with them, nasolabial area and cheeks lifted.  The motion is confined to the
  lower-middle face and fades to zero before the face outline, the nose and the
  eyes, so the jaw line and the face's shape stay where they are.
* ``pose`` / ``pitch`` - yaw / pitch of ``POSE_DEGREES_PER_UNIT`` degrees per unit
  (at most ``MAX_POSE_DEGREES``): the 3-D mesh is rotated about a pivot behind
  the face and its texture re-rendered piecewise-affinely over a Delaunay
  triangulation, drawn back to front; a ring of points around the face carries
  hair and background along with a falloff, and what becomes visible is stretched
  from its neighbouring texture.  ``pose > 0`` turns the face toward the image
  right (the nose tip moves right); ``pitch > 0`` tilts it up.
* ``age`` - an approximate heuristic that changes texture and colour, never shape:
  older = skin detail (creases) boosted by high-pass sharpening and the skin a
  little desaturated, hair greyed (desaturated and lightened); younger = skin
  smoothed by a bilateral filter, livelier hair colour.

Smile and age leave accessories (glasses, hat, earrings, necklace) and occluders
(hands in front of the face) exactly as they are (:func:`keep_protected` with
:func:`faceedit.labels.protected_mask`); a head turn moves them with the head.

Mask edit: every pixel whose class changed is first filled with texture of its
new class (mirrored from that class's region; the backdrop by a smooth push-pull
fill); eyes, brows, nose, mouth, ears... whose painted region changed are warped
by the affine map fitting their old bounding box onto the new one.  A component
painted where the photo has none (glasses, a hat, earrings) is reported, not drawn.

Swap: each reference part is placed by a similarity fit of its mesh points,
colour-matched through the skin ring around it (LAB mean/std), the target's own
part removed with skin texture, and the result Poisson-blended
(``cv2.seamlessClone``) over both regions plus ``SWAP_MARGIN``; hair follows a
dense mesh-to-mesh warp, skin is Poisson-cloned texture away from the eyes.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedit.editors import lite_geometry as geo
from faceedit.editors import lite_texture as tex
from faceedit.editors.base import FaceState
from faceedit.labels import CLASSES, COMPONENTS, INDEX

#: Slider names the lite engine understands, and their range.
ATTRIBUTES: tuple[str, ...] = ("smile", "age", "pose", "pitch")
ATTRIBUTE_RANGE: tuple[float, float] = (-3.0, 3.0)
#: Degrees of head rotation per slider unit, and the most the lite engine renders.
POSE_DEGREES_PER_UNIT = 10.0
MAX_POSE_DEGREES = 20.0
#: Pixels (at 512 px) around swapped components where blending may change the photo.
SWAP_MARGIN = 12

#: Classes whose appearance is a texture (filled from their own region, any shape).
TEXTURE_CLASSES = ("background", "skin", "neck", "cloth", "hair")
#: Classes moved as one rigid group when their painted region changes.
SHAPE_GROUPS: dict[str, tuple[int, ...]] = {
    "l_brow": (INDEX["l_brow"],),
    "r_brow": (INDEX["r_brow"],),
    "l_eye": (INDEX["l_eye"],),
    "r_eye": (INDEX["r_eye"],),
    "nose": (INDEX["nose"],),
    "mouth": (INDEX["mouth"], INDEX["u_lip"], INDEX["l_lip"]),
    "l_ear": (INDEX["l_ear"],),
    "r_ear": (INDEX["r_ear"],),
    "eye_g": (INDEX["eye_g"],),
    "hat": (INDEX["hat"],),
    "ear_r": (INDEX["ear_r"],),
    "neck_l": (INDEX["neck_l"],),
}
#: Accessory classes: colour edits never touch them (canonical indices).
ACCESSORY_CLASSES: tuple[int, ...] = (INDEX["eye_g"], INDEX["hat"], INDEX["ear_r"], INDEX["neck_l"])
#: Mirror partners: a component painted where there was none may be copied from its twin.
TWINS = {"l_eye": "r_eye", "r_eye": "l_eye", "l_brow": "r_brow", "r_brow": "l_brow",
         "l_ear": "r_ear", "r_ear": "l_ear"}


def _display(cls: str) -> str:
    return {"eye_g": "glasses", "ear_r": "earrings", "neck_l": "a necklace", "hat": "a hat"}.get(
        cls, cls.replace("_", " "))


# ---------------------------------------------------------------------- geometry of attributes
def _face_frame(lm: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Mouth centre, unit vectors along the mouth (ex) and down the face (ey), mouth width, face height."""
    left, right = lm[geo.MOUTH_CORNERS[0], :2], lm[geo.MOUTH_CORNERS[1], :2]
    width = float(np.hypot(*(right - left)))
    ex = (right - left) / max(width, 1e-6)
    ey = np.array([-ex[1], ex[0]])  # image y grows downward
    oval = lm[list(geo.FACE_OVAL), :2]
    height = float(oval[:, 1].max() - oval[:, 1].min())
    return (left + right) / 2, ex, width, ey, height  # type: ignore[return-value]


def expression_map(lm: np.ndarray, size: tuple[int, int], smile: float, age: float,
                   region: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Backward map of the smile: mouth corners, lips and cheeks move; outline, nose and eyes stay.

    Age changes no shape (its edit is texture and colour only, :func:`age_texture`),
    so ``age`` alone gives the identity map.  The displacement is confined to the
    lower-middle face (:func:`_smile_region`), fading to zero before the face
    outline, the nose and the eyes, so the jaw line and the face's shape are kept.
    ``region`` is that weight when the caller already has it (:func:`smile_region`: it depends on the
    face alone, not on the slider, so a session computes it once per face).
    """
    del age  # shape is kept: ageing is texture only
    centre, ex, w, ey, face_h = _face_frame(lm)
    moves: dict[int, np.ndarray] = {}

    def add(i: int, d: np.ndarray) -> None:
        moves[i] = moves.get(i, np.zeros(2)) + d

    if smile != 0:
        for i in set(geo.LIPS_OUTER) | set(geo.LIPS_INNER):
            t = float(np.clip(np.dot(lm[i, :2] - centre, ex) / (w / 2), -1.0, 1.0))
            lift = smile * w * (0.085 * t * t + 0.01)
            out = smile * w * 0.045 * t * abs(t)
            add(i, -lift * ey + out * ex)
        for side, sign in ((0, -1.0), (1, 1.0)):
            for i in geo.NASOLABIAL[side]:
                add(i, smile * w * (-0.055 * ey + sign * 0.03 * ex))
            for i in geo.CHEEKS[side]:
                add(i, smile * w * (-0.035 * ey + sign * 0.012 * ex))
    if not moves:
        return geo.identity_map(size)
    anchors = (set(geo.RIGHT_EYE) | set(geo.LEFT_EYE) | set(geo.NOSE_FIXED) | set(geo.CHIN)
               | set(geo.FACE_OVAL) | set(range(468, lm.shape[0]))) - set(moves)
    anchors |= {52, 53, 65, 55, 282, 283, 295, 285}  # brows
    anchors |= set(geo.LOWER_LIDS[0]) | set(geo.LOWER_LIDS[1])
    anchors |= set(geo.UNDER_EYES[0]) | set(geo.UNDER_EYES[1])
    idx = sorted(moves)
    src = np.concatenate([lm[idx, :2], lm[sorted(anchors), :2], geo.border_points(size)])
    dst = src.copy()
    dst[: len(idx)] += np.array([moves[i] for i in idx])
    mx, my = geo.rbf_map(src, dst, size, sigma=0.3 * w)
    ix, iy = geo.identity_map(size)
    weight = smile_region(lm, size) if region is None else region
    return ix + weight * (mx - ix), iy + weight * (my - iy)


def smile_region(lm: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The smile's motion weight for a face (:func:`_smile_region` at the face frame's mouth width)."""
    return _smile_region(lm, size, _face_frame(lm)[2])


def _smile_region(lm: np.ndarray, size: tuple[int, int], mouth_w: float) -> np.ndarray:
    """``(H, W) float32`` weight of the smile's motion: 1 around the mouth and cheeks, 0 at the outline and nose.

    The mouth, nasolabial and cheek points' hull, grown by a third of the mouth's
    width, cut away from the nose and the eyes and kept inside the face outline
    shrunk by a sixth of the mouth's width, then feathered.
    """
    h, w = size
    pts = lm[list(geo.LIPS_OUTER) + [i for side in geo.NASOLABIAL + geo.CHEEKS for i in side], :2]
    area = np.zeros(size, np.uint8)
    cv2.fillConvexPoly(area, np.round(cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)).astype(np.int32), 1)
    area = tex.dilate(area, int(round(mouth_w / 3)))
    outline = np.zeros(size, np.uint8)
    cv2.fillPoly(outline, [np.round(lm[list(geo.FACE_OVAL), :2]).astype(np.int32)], 1)
    keep_out = np.zeros(size, np.uint8)
    nose = lm[list(geo.NOSE_FIXED) + [48, 278, 64, 294, 219, 439, 129, 358], :2]
    cv2.fillConvexPoly(keep_out, np.round(cv2.convexHull(nose.astype(np.float32)).reshape(-1, 2)).astype(np.int32), 1)
    for eye in (geo.RIGHT_EYE, geo.LEFT_EYE):
        cv2.fillPoly(keep_out, [np.round(lm[list(eye), :2]).astype(np.int32)], 1)
    margin = max(2, int(round(mouth_w / 6)))
    region = area.astype(bool) & tex.erode(outline, margin) & ~tex.dilate(keep_out, margin // 2)
    del h, w
    return tex.feather(tex.erode(region, margin // 2), margin / 2)


def pose_map(lm: np.ndarray, size: tuple[int, int], yaw: float, pitch: float
             ) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Backward map re-rendering the face mesh rotated by ``yaw`` / ``pitch`` degrees."""
    pts = lm[:468].astype(np.float64)
    oval = pts[list(geo.FACE_OVAL)]
    face_w = float(oval[:, 0].max() - oval[:, 0].min())
    # The pivot sits a little in front of the face outline at the ears: the face turns about
    # its own middle and stays roughly centred, like the aligned crops of a turned head.
    sides = pts[[234, 454, 127, 356, 93, 323]]
    pivot = np.array([oval[:, 0].mean(), oval[:, 1].mean(), sides[:, 2].mean() - 0.3 * face_w])
    rot = geo.rotation(yaw, pitch)
    moved = (pts - pivot) @ rot.T + pivot
    # Rings around the face follow the outline with a falloff, carrying hair and background.
    centre = oval[:, :2].mean(0)
    disp_oval = moved[list(geo.FACE_OVAL), :2] - oval[:, :2]
    h, w = size
    rings_src, rings_dst = [], []
    for scale, follow in ((1.2, 0.8), (1.5, 0.4), (1.9, 0.1)):
        ring = centre + scale * (oval[:, :2] - centre)
        inside = (ring[:, 0] > 4) & (ring[:, 0] < w - 5) & (ring[:, 1] > 4) & (ring[:, 1] < h - 5)
        rings_src.append(ring[inside])
        rings_dst.append((ring + follow * disp_oval)[inside])
    border = geo.border_points(size, per_side=10)
    src = np.concatenate([pts[:, :2], *rings_src, border])
    dst = np.concatenate([moved[:, :2], *rings_dst, border])
    inner = slice(len(pts), len(src) - len(border))
    dst[inner, 0] = np.clip(dst[inner, 0], 2, w - 3)
    dst[inner, 1] = np.clip(dst[inner, 1], 2, h - 3)
    far = float(moved[:, 2].max()) + face_w
    depth = np.concatenate([moved[:, 2], np.full(len(src) - len(pts), far)])
    (mx, my), hole = geo.mesh_map(src, dst, depth, size)
    # Soften the per-triangle kinks (and the stretch streaks beside the silhouette).
    ix, iy = geo.identity_map(size)
    sigma = max(1.0, 2.5 * h / 512)
    mx = ix + cv2.GaussianBlur(mx - ix, (0, 0), sigma)
    my = iy + cv2.GaussianBlur(my - iy, (0, 0), sigma)
    return (mx, my), hole


def age_texture(image: np.ndarray, labels: np.ndarray, age: float) -> np.ndarray:
    """Skin and hair appearance of an older (``age > 0``) or younger (``age < 0``) face."""
    skin = np.isin(labels, [INDEX["skin"], INDEX["nose"]])
    # Accessories (glasses, hat, earrings, necklace) keep their colour: nothing bleeds onto them.
    worn = np.isin(labels, ACCESSORY_CLASSES)
    free = (1.0 - tex.feather(tex.dilate(worn, 2), 1.0)) * ~worn
    skin_soft = tex.feather(tex.erode(skin, 2), 3.0) * free
    hair_soft = tex.feather(labels == INDEX["hair"], 2.0) * free
    strength = min(abs(age) / 3.0, 1.0)
    if age > 0:
        out = tex.boost_detail(image, skin_soft, amount=0.5 * strength, sigma=4.0, despeckle=9)
        out = tex.boost_detail(out, skin_soft, amount=1.1 * strength, sigma=10.0, despeckle=9)
        out = tex.saturate(out, skin_soft, -0.25 * strength)
        out = tex.grey_hair(out, hair_soft, amount=min(1.0, 1.2 * strength))
    else:
        out = tex.smooth_skin(image, skin_soft, amount=min(1.0, 1.3 * strength))
        out = tex.saturate(out, hair_soft, 0.25 * strength)
    # Outside skin and hair nothing changes, not even by the colour-space round trip.
    untouched = (skin_soft <= 0) & (hair_soft <= 0)
    out[untouched] = image[untouched]
    return out


# ---------------------------------------------------------------------- mask edit
def _group_of(cls: int) -> str | None:
    for name, members in SHAPE_GROUPS.items():
        if cls in members:
            return name
    return None


def repaint(image: np.ndarray, old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Make ``image`` (labelled ``old``) follow the label map ``new``.

    1. Every pixel whose class changed is first filled with texture of its *new*
       class, mirrored from where that class already is (skin from skin, hair from
       hair, background from background).
    2. A shape component (an eye, a brow, the nose, the mouth with its lips, an
       ear, glasses...) whose painted region changed is warped by the affine map
       that fits its old bounding box onto the new one, and pasted over its new
       region, so it moves, grows and shrinks as one piece.
    Returns the image and the classes it could not draw (painted where the photo
    has none of them and no mirror twin to copy).
    """
    out = image.copy()
    changed = new != old
    missing: list[str] = []
    # 1. texture fill of every changed pixel from its new class's existing region.
    for cls in np.unique(new[changed]):
        target = changed & (new == cls)
        source = old == cls
        name = CLASSES[cls]
        if _group_of(int(cls)) is not None and name not in TEXTURE_CLASSES:
            continue  # shapes are warped below
        if not source.any():
            if name in ("neck", "cloth"):
                source = np.isin(old, [INDEX["neck"], INDEX["cloth"], INDEX["skin"]])
            if not source.any():
                missing.append(name)
                continue
        if name == "background":
            out = _fill_background(out, target, source)
        else:
            out = tex.mirror_fill(out, target, source)
    # Pixels vacated by a shape but painted as another shape class are pre-filled with skin.
    vacated = changed & ~np.isin(new, [INDEX[c] for c in TEXTURE_CLASSES])
    skin = old == INDEX["skin"]
    if vacated.any() and skin.any():
        out = tex.mirror_fill(out, vacated, skin)
    # 2. shape groups: warp old region onto new region.
    for name, members in SHAPE_GROUPS.items():
        was, now = np.isin(old, members), np.isin(new, members)
        if not (changed & (was | now)).any() or not now.any():
            continue
        src_img, src_mask = image, was
        if not was.any():
            twin = TWINS.get(name)
            if twin is None or not np.isin(old, SHAPE_GROUPS[twin]).any():
                missing.append(name)
                continue
            src_img = image[:, ::-1].copy()  # the mirror twin, flipped to this side
            src_mask = np.isin(old, SHAPE_GROUPS[twin])[:, ::-1]
        matrix = _bbox_affine(src_mask, now)
        warped = cv2.warpAffine(src_img, matrix, out.shape[1::-1], flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT_101)
        cover = cv2.warpAffine(src_mask.astype(np.uint8) * 255, matrix, out.shape[1::-1],
                               flags=cv2.INTER_LINEAR) > 127
        # Inside the new region: the warped component where it lands, carrying a thin ring of its own
        # surroundings that fades into the skin it now sits in (colours kept, no hard edge).
        paste = now & cover
        if np.array_equal(now, was):  # unchanged shape (only neighbours changed): keep its pixels
            continue
        ring = tex.dilate(paste, 3) & tex.dilate(now, 4)
        alpha = np.maximum(tex.feather(ring, 1.5) * ring, paste.astype(np.float32))
        out = tex.blend(out, warped, alpha)
        fill = now & ~cover
        if fill.any():
            out = tex.mirror_fill(out, fill, paste)
    # Accessories the user did not repaint stay exactly as they were (a moved eye does not redraw the frames).
    kept = np.isin(old, ACCESSORY_CLASSES) & (new == old)
    return keep_protected(out, image, kept), missing


def _fill_background(image: np.ndarray, target: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Smoothly continue the backdrop over ``target``, refilling the old edge blended with what left."""
    core = tex.erode(background, 3)
    core = core if core.any() else background
    rim = tex.dilate(target, 4) & background & ~core
    return tex.smooth_fill(image, target | rim, core)


def _main_parts(mask: np.ndarray, min_fraction: float) -> np.ndarray:
    """``mask`` without connected pieces smaller than ``min_fraction`` of its area."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 2:
        return mask.astype(bool)
    keep = [i for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_fraction * mask.sum()]
    return np.isin(comp, keep)


def _bbox_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2x3 affine mapping the bounding box of mask ``src`` onto that of ``dst`` (scale + shift)."""
    ys, xs = np.nonzero(src)
    yd, xd = np.nonzero(dst)
    sx = (xd.max() - xd.min() + 1) / (xs.max() - xs.min() + 1)
    sy = (yd.max() - yd.min() + 1) / (ys.max() - ys.min() + 1)
    cs = np.array([(xs.max() + xs.min()) / 2, (ys.max() + ys.min()) / 2])
    cd = np.array([(xd.max() + xd.min()) / 2, (yd.max() + yd.min()) / 2])
    return np.array([[sx, 0, cd[0] - sx * cs[0]], [0, sy, cd[1] - sy * cs[1]]], np.float64)


# ---------------------------------------------------------------------- swap
#: Swap parts: the classes each part replaces and the mesh points that fix its placement.
_PARTS: dict[str, tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...]] = {
    "eyes": (("l_eye", (INDEX["l_eye"],), geo.LEFT_EYE + (473, 474, 475, 476, 477)),
             ("r_eye", (INDEX["r_eye"],), geo.RIGHT_EYE + (468, 469, 470, 471, 472))),
    "brows": (("l_brow", (INDEX["l_brow"],), (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)),
              ("r_brow", (INDEX["r_brow"],), (46, 53, 52, 65, 55, 107, 66, 105, 63, 70))),
    "nose": (("nose", (INDEX["nose"],), geo.NOSE_FIXED + (48, 278, 64, 294, 219, 439)),),
    "mouth": (("mouth", (INDEX["mouth"], INDEX["u_lip"], INDEX["l_lip"]), geo.LIPS_OUTER),),
}


def swap_components(face: FaceState, ref: FaceState, components: tuple[str, ...]
                    ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Reference components warped onto the target geometry, colour-matched and Poisson-blended.

    Eyes, brows, nose and mouth: each part of the reference is placed by the
    similarity transform that best maps its mesh points onto the target's (so it
    keeps its own shape), its colours are matched to the target through the skin
    ring around it (LAB mean/std), the target's own part is first removed by skin
    texture, and the result is Poisson-blended over the union of both regions plus
    a margin.  Hair and skin follow a dense mesh-to-mesh warp of the reference.
    """
    size = face.crop.shape[:2]
    margin = max(2, int(round(SWAP_MARGIN * size[0] / 512.0)))
    out = face.crop.copy()
    labels = face.labels.copy()
    notes: list[str] = []
    skin_t = face.labels == INDEX["skin"]
    dense = None
    for comp in components:
        if comp in _PARTS:
            for _name, members, points in _PARTS[comp]:
                out, labels, note = _swap_part(out, labels, face, ref, members, points, margin)
                if note:
                    notes.append(note)
            continue
        if dense is None:
            dense = _dense_warp(face, ref)
        ref_img, ref_lab = dense
        members = COMPONENTS[comp]
        tgt, srcm = np.isin(face.labels, members), np.isin(ref_lab, members)
        if not srcm.any():
            notes.append(f"the reference shows no {comp}; left unchanged")
            continue
        if comp == "hair":
            srcm = _main_parts(srcm, min_fraction=0.02)  # drop specks the parser called hair
            lost = tgt & ~srcm  # hair the target loses becomes background texture
            background = face.labels == INDEX["background"]
            if lost.any():
                # Inside the head (between the new hair and the face) the forehead continues; outside, the backdrop.
                # (a lost pixel nearer the face's skin than the backdrop becomes forehead).
                skin_t = face.labels == INDEX["skin"]
                to_skin = cv2.distanceTransform((~skin_t).astype(np.uint8), cv2.DIST_L2, 5)
                to_back = cv2.distanceTransform((~background).astype(np.uint8), cv2.DIST_L2, 5)
                inner = lost & (to_skin < to_back) & bool(skin_t.any())
                outer = lost & ~inner
                if outer.any():
                    out = _fill_background(out, outer, background if background.any() else ~tgt)
                    labels[outer] = INDEX["background"]
                if inner.any():
                    out = tex.mirror_fill(out, inner, skin_t)
                    labels[inner] = INDEX["skin"]
            patch = tex.match_color(ref_img, srcm, out, tgt, strength=0.3) if tgt.sum() > 50 else ref_img
            alpha = tex.feather(srcm, 1.5) * tex.dilate(srcm, margin // 2)
            out = tex.blend(out, patch, alpha)
            labels[srcm] = INDEX["hair"]
        else:  # skin: the reference's skin texture, toned to the target, inside the target's skin
            skin_r = ref_lab == INDEX["skin"]
            patch = tex.match_color(ref_img, skin_r, out, skin_t, strength=0.6)
            # Keep clear of the reference's eyes and brows (and any glasses frame around them).
            features = tex.dilate(np.isin(ref_lab, COMPONENTS["eyes"] + COMPONENTS["brows"]), 18 * margin // 12)
            region = tex.erode(skin_t, 1) & skin_r & ~features
            out = _poisson(patch, out, region)
    # The target's accessories (glasses, hat, jewellery) stay over the swapped parts.
    return keep_protected(out, face.crop, np.isin(face.labels, ACCESSORY_CLASSES)), labels, notes


def keep_protected(edited: np.ndarray, original: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """``edited`` with the ``keep`` pixels (accessories, occluders) restored from ``original``, edges feathered.

    Use :func:`faceedit.labels.protected_mask` for ``keep`` when an occluder mask is known.
    """
    keep = np.asarray(keep)
    if not keep.any():
        return edited
    alpha = keep.astype(np.float32) if keep.dtype != bool else np.maximum(
        tex.feather(keep, 1.0), keep.astype(np.float32))
    return tex.blend(edited, original, alpha)


def _dense_warp(face: FaceState, ref: FaceState) -> tuple[np.ndarray, np.ndarray]:
    """The whole reference crop and label map warped mesh-to-mesh onto the target's geometry."""
    size = face.crop.shape[:2]
    border = geo.border_points(size, per_side=10)
    src = np.concatenate([ref.landmarks[:468, :2], border])
    dst = np.concatenate([face.landmarks[:468, :2], border])
    depth = np.concatenate([face.landmarks[:468, 2], np.full(len(border), 1e6)])
    maps, _ = geo.mesh_map(src, dst, depth, size)
    ref_img = geo.remap(ref.crop, maps)
    ref_lab = cv2.remap(ref.labels, maps[0], maps[1], cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT_101)
    return ref_img, ref_lab


def _swap_part(out: np.ndarray, labels: np.ndarray, face: FaceState, ref: FaceState,
               members: tuple[int, ...], points: tuple[int, ...], margin: int
               ) -> tuple[np.ndarray, np.ndarray, str]:
    """Replace one part (e.g. the left eye) of ``out`` by the reference's, placed by a similarity fit."""
    size = out.shape[:2]
    ref_part = np.isin(ref.labels, members)
    if ref_part.sum() < 4:
        return out, labels, f"the reference shows no {CLASSES[members[0]].replace('_', ' ')}; left unchanged"
    src_pts = ref.landmarks[list(points), :2].astype(np.float32)
    dst_pts = face.landmarks[list(points), :2].astype(np.float32)
    matrix, _ = cv2.estimateAffinePartial2D(src_pts, dst_pts, method=cv2.LMEDS)
    if matrix is None:
        return out, labels, "could not place the reference part"
    warped = cv2.warpAffine(ref.crop, matrix, size[::-1], flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    new = cv2.warpAffine(ref_part.astype(np.uint8) * 255, matrix, size[::-1], flags=cv2.INTER_LINEAR) > 127
    new_lab = cv2.warpAffine(ref.labels, matrix, size[::-1], flags=cv2.INTER_NEAREST)
    ref_skin = cv2.warpAffine((ref.labels == INDEX["skin"]).astype(np.uint8), matrix, size[::-1],
                              flags=cv2.INTER_NEAREST) > 0
    old = np.isin(face.labels, members)
    region = tex.dilate(new | old, margin // 2)
    ring = tex.dilate(region, margin) & ~region
    ring_t = ring & (face.labels == INDEX["skin"])
    ring_r = ring & ref_skin
    if ring_t.sum() > 30 and ring_r.sum() > 30:
        warped = tex.match_color(warped, ring_r, out, ring_t, strength=0.8)
    # Remove the target's own part with skin texture, then lay the reference part over it.
    base = out
    gone = old & ~new
    skin_t = face.labels == INDEX["skin"]
    if gone.any() and skin_t.any():
        base = tex.mirror_fill(out, tex.dilate(gone, 1) & ~new, skin_t & ~tex.dilate(old, 2))
    alpha = tex.feather(tex.dilate(new, 1), 1.0)
    patch = tex.blend(base, warped, alpha)
    out = _poisson(patch, out, region)
    labels = labels.copy()
    labels[old & (labels != INDEX["skin"])] = INDEX["skin"]
    labels[new] = new_lab[new]
    return out, labels, ""


def _poisson(patch: np.ndarray, target: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Seamless (Poisson) clone of ``patch`` into ``target`` over ``region``; nothing outside changes."""
    region = region.copy()
    h, w = region.shape
    region[:2, :] = region[-2:, :] = False
    region[:, :2] = region[:, -2:] = False
    if region.sum() < 9:
        return target.copy()
    mask = region.astype(np.uint8) * 255
    ys, xs = np.nonzero(region)
    x0, x1, y0, y1 = xs.min(), xs.max(), ys.min(), ys.max()
    centre = (int(x0 + (x1 - x0 + 1) // 2), int(y0 + (y1 - y0 + 1) // 2))
    cloned = cv2.seamlessClone(patch, target, mask, centre, cv2.NORMAL_CLONE)
    out = target.copy()
    out[region] = cloned[region]
    return out
