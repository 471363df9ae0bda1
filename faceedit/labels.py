"""The 19 face classes, their brush colours, and maps to other label orders.

Canonical order: the one the published BiSeNet face-parsing checkpoint
(zllrunning/face-parsing.PyTorch, ``79999_iter.pth``) outputs.  "l_" is the
*person's* left, which appears on the *image right* of a frontal photo.

Other orders are reached through explicit index maps:

* :data:`CELEBAMASK_ORDER` - the CelebAMask-HQ repository's own order (its README
  and colour list; pSp's segmentation-to-face model takes a one-hot in it).
"""

from __future__ import annotations

import numpy as np

from faceedit.errors import InvalidArgumentError

#: Class names in the canonical (BiSeNet ``79999_iter.pth``) index order.
CLASSES: tuple[str, ...] = (
    "background",  # 0
    "skin",  # 1
    "l_brow",  # 2  person's left brow (image right)
    "r_brow",  # 3
    "l_eye",  # 4  person's left eye (image right)
    "r_eye",  # 5
    "eye_g",  # 6  eyeglasses
    "l_ear",  # 7
    "r_ear",  # 8
    "ear_r",  # 9  earring
    "nose",  # 10
    "mouth",  # 11 inner mouth
    "u_lip",  # 12
    "l_lip",  # 13
    "neck",  # 14
    "neck_l",  # 15 necklace
    "cloth",  # 16
    "hair",  # 17
    "hat",  # 18
)
NUM_CLASSES = len(CLASSES)
INDEX: dict[str, int] = {name: i for i, name in enumerate(CLASSES)}

#: Human-readable names for legends.
DISPLAY_NAMES: dict[str, str] = {
    "background": "background",
    "skin": "skin",
    "l_brow": "left brow (person's)",
    "r_brow": "right brow (person's)",
    "l_eye": "left eye (person's)",
    "r_eye": "right eye (person's)",
    "eye_g": "eyeglasses",
    "l_ear": "left ear (person's)",
    "r_ear": "right ear (person's)",
    "ear_r": "earring",
    "nose": "nose",
    "mouth": "inner mouth",
    "u_lip": "upper lip",
    "l_lip": "lower lip",
    "neck": "neck",
    "neck_l": "necklace",
    "cloth": "cloth",
    "hair": "hair",
    "hat": "hat",
}

#: One RGB colour per class (the brush palette).  Chosen far apart so that a
#: painted, anti-aliased or slightly re-encoded image snaps back to its class.
PALETTE: np.ndarray = np.array(
    [
        (0, 0, 0),  # background
        (255, 200, 160),  # skin
        (120, 60, 20),  # l_brow
        (190, 110, 40),  # r_brow
        (0, 90, 255),  # l_eye
        (0, 210, 255),  # r_eye
        (150, 150, 150),  # eye_g
        (255, 120, 0),  # l_ear
        (230, 230, 110),  # r_ear
        (255, 0, 255),  # ear_r
        (0, 170, 0),  # nose
        (110, 0, 50),  # mouth
        (255, 0, 90),  # u_lip
        (190, 0, 0),  # l_lip
        (255, 240, 0),  # neck
        (0, 255, 160),  # neck_l
        (50, 50, 210),  # cloth
        (120, 40, 170),  # hair
        (0, 110, 110),  # hat
    ],
    dtype=np.uint8,
)

#: Components a user can swap or edit as a unit (canonical class indices).
COMPONENTS: dict[str, tuple[int, ...]] = {
    "eyes": (INDEX["l_eye"], INDEX["r_eye"]),
    "brows": (INDEX["l_brow"], INDEX["r_brow"]),
    "nose": (INDEX["nose"],),
    "mouth": (INDEX["mouth"], INDEX["u_lip"], INDEX["l_lip"]),
    "hair": (INDEX["hair"],),
    "skin": (INDEX["skin"],),
}

#: Accessories: worn things an edit keeps unless the edit is about them.
ACCESSORIES: tuple[str, ...] = ("eye_g", "hat", "ear_r", "neck_l")

#: The CelebAMask-HQ repository's own class order (used by pSp seg-to-face).
CELEBAMASK_ORDER: tuple[str, ...] = (
    "background",
    "skin",
    "nose",
    "eye_g",
    "l_eye",
    "r_eye",
    "l_brow",
    "r_brow",
    "l_ear",
    "r_ear",
    "mouth",
    "u_lip",
    "l_lip",
    "hair",
    "hat",
    "ear_r",
    "neck_l",
    "neck",
    "cloth",
)

#: ``TO_CELEBAMASK[canonical_index] -> CelebAMask-HQ index``.
TO_CELEBAMASK: np.ndarray = np.array([CELEBAMASK_ORDER.index(c) for c in CLASSES], dtype=np.uint8)
#: ``FROM_CELEBAMASK[celebamask_index] -> canonical index``.
FROM_CELEBAMASK: np.ndarray = np.array([INDEX[c] for c in CELEBAMASK_ORDER], dtype=np.uint8)


def component_indices(names: list[str] | tuple[str, ...]) -> tuple[int, ...]:
    """Class indices of the named components; unknown names raise with the allowed list."""
    out: list[int] = []
    for name in names:
        key = name.strip().lower()
        if key not in COMPONENTS:
            raise InvalidArgumentError(
                f"Unknown component {name!r}; choose from: {', '.join(COMPONENTS)}."
            )
        out.extend(COMPONENTS[key])
    return tuple(out)


def check_label_map(labels: np.ndarray) -> np.ndarray:
    """Validate a label map (H, W) of class indices and return it as uint8."""
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise InvalidArgumentError(f"A label map must be 2-D (H, W); got shape {arr.shape}.")
    if arr.size and (arr.min() < 0 or arr.max() >= NUM_CLASSES):
        raise InvalidArgumentError(
            f"Label values must lie in 0..{NUM_CLASSES - 1}; got {int(arr.min())}..{int(arr.max())}."
        )
    return arr.astype(np.uint8, copy=False)


def labels_to_color(labels: np.ndarray) -> np.ndarray:
    """Colour image (H, W, 3) uint8 of a label map, one palette colour per class."""
    return PALETTE[check_label_map(labels)]


def color_to_labels(image: np.ndarray, alpha: np.ndarray | None = None, alpha_threshold: int = 128,
                    fill: np.ndarray | None = None) -> np.ndarray:
    """Label map of a colour image by *nearest* palette colour.

    ``image`` is (H, W, 3) (or RGBA, whose alpha is used when ``alpha`` is None).
    Where alpha is below ``alpha_threshold`` the label comes from ``fill``
    (e.g. the unpainted map), or background when no fill is given.  Nearest-colour
    snapping makes anti-aliased brush edges and lossless re-encodes map back exactly.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise InvalidArgumentError(f"Expected an RGB or RGBA image; got shape {arr.shape}.")
    if arr.shape[2] == 4 and alpha is None:
        alpha = arr[..., 3]
    rgb = arr[..., :3].astype(np.int32)
    best = np.full(rgb.shape[:2], np.iinfo(np.int32).max, dtype=np.int32)
    labels = np.zeros(rgb.shape[:2], dtype=np.uint8)
    for index, colour in enumerate(PALETTE.astype(np.int32)):
        dist = ((rgb - colour) ** 2).sum(-1)
        closer = dist < best
        best[closer] = dist[closer]
        labels[closer] = index
    if alpha is not None:
        transparent = np.asarray(alpha) < alpha_threshold
        base = np.zeros_like(labels) if fill is None else check_label_map(fill)
        labels = np.where(transparent, base, labels)
    return labels


def protected_mask(labels: np.ndarray, occluder: np.ndarray | None = None,
                   edited_classes: tuple[str, ...] | list[str] = ()) -> np.ndarray:
    """``(H, W) float32`` in [0, 1]: where an edit must leave the photo as it is.

    Accessories (:data:`ACCESSORIES`) and the ``occluder`` mask (hands in front of
    the face) weigh 1, with a one-pixel soft edge; an accessory class named in
    ``edited_classes`` (the user painted it, or a glasses slider moved) is not
    protected.  Multiply a paste-back or blend weight by ``1 - protected_mask(...)``.
    """
    lab = check_label_map(labels)
    unknown = [c for c in edited_classes if c not in INDEX]
    if unknown:
        raise InvalidArgumentError(f"Unknown class {unknown[0]!r}; choose from: {', '.join(CLASSES)}.")
    keep = np.isin(lab, [INDEX[c] for c in ACCESSORIES if c not in edited_classes])
    if occluder is not None:
        occ = np.asarray(occluder)
        if occ.shape != lab.shape:
            raise InvalidArgumentError(f"The occluder mask {occ.shape} must match the label map {lab.shape}.")
        keep |= occ.astype(bool)
    hard = keep.astype(np.float32)
    # A soft edge outside the mask (the protected pixels themselves stay exactly 1).
    soft = np.zeros_like(hard)
    soft[1:-1, 1:-1] = (hard[:-2, 1:-1] + hard[2:, 1:-1] + hard[1:-1, :-2] + hard[1:-1, 2:]) / 8.0
    return np.maximum(hard, soft)


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.5, outline: bool = True,
            occluder: np.ndarray | None = None) -> np.ndarray:
    """The label colours blended over an ``(H, W, 3) uint8`` image (background left as is).

    With ``outline`` the class boundaries are drawn in white, so neighbouring parts stay
    readable on any photo.  An ``occluder`` mask (hands in front of the face) is drawn
    as diagonal white-and-black hatching with its own outline, over whatever labels lie there.
    """
    lab = check_label_map(labels)
    img = np.asarray(image)
    if img.shape[:2] != lab.shape or img.ndim != 3 or img.shape[2] != 3:
        raise InvalidArgumentError(f"Image {img.shape} and label map {lab.shape} must have the same height and width.")
    out = img.astype(np.float32)
    fg = (lab > 0)[..., None]
    out = np.where(fg, out * (1.0 - alpha) + PALETTE[lab].astype(np.float32) * alpha, out)
    if outline:
        edge = np.zeros(lab.shape, bool)
        edge[1:, :] |= lab[1:, :] != lab[:-1, :]
        edge[:, 1:] |= lab[:, 1:] != lab[:, :-1]
        out[edge] = 255.0
    if occluder is not None:
        occ = np.asarray(occluder).astype(bool)
        if occ.shape != lab.shape:
            raise InvalidArgumentError(f"The occluder mask {occ.shape} must match the label map {lab.shape}.")
        yy, xx = np.mgrid[: lab.shape[0], : lab.shape[1]]
        stripe = ((xx + yy) // 4) % 2 == 0
        out[occ & stripe] = 255.0
        out[occ & ~stripe] = out[occ & ~stripe] * 0.4
        rim = np.zeros(lab.shape, bool)
        rim[1:, :] |= occ[1:, :] != occ[:-1, :]
        rim[:, 1:] |= occ[:, 1:] != occ[:, :-1]
        out[rim] = (255.0, 0.0, 255.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
