"""Conversions between the project's 19-class maps and the Helen 11 classes of Gu et al. 2019.

The mask-guided generator (``faceedit.models.mask_guided``) was trained on Helen label maps
(11 classes, values 0..10, see :data:`HELEN_CLASSES`) in which "left" means **image-left**; the
project's canonical 19 classes (``faceedit.labels``, BiSeNet order) name eyes and brows by the
*person's* side.  The mapping:

===================  ===============================================================
canonical (19)       Helen (11)
===================  ===============================================================
background           0 background
skin                 1 face skin
l_brow, r_brow       2 left brow / 3 right brow, **by image position** (see below)
l_eye, r_eye         4 left eye / 5 right eye, **by image position**
eye_g (glasses)      1 face skin (Helen has no glasses; frames lie on the face)
l_ear, r_ear         0 background (Helen leaves the ears unlabelled)
ear_r (earring)      0 background
nose                 6 nose
u_lip / mouth / l_lip  7 upper lip / 8 inner mouth / 9 lower lip
neck, neck_l, cloth  0 background (Helen labels the face and hair only)
hair                 10 hair
hat                  0 background
===================  ===============================================================

Eyes and brows are split at the face's vertical midline: a pixel left of it becomes Helen's
image-left class, whatever side the parser named.  The midline is the midpoint between the two eye
blobs' centres when both are present, else the centre of the skin's bounding box, else the image
centre.  Mapping the background-like classes to 0 means the generator takes them from the content
photo through its background branch, unchanged.

Back from Helen: image-left eye/brow -> the person's right (``r_eye``, ``r_brow``), image-right ->
the person's left; classes Helen lacks are restored from an optional reference 19-class map (the
photo's own parse) wherever the Helen map holds the class they were folded into, so
``from_helen(to_helen(m), reference=m) == m`` for any map whose eyes and brows lie on their own side.
"""

from __future__ import annotations

import numpy as np

from faceedit.errors import InvalidArgumentError
from faceedit.labels import INDEX, NUM_CLASSES, check_label_map

HELEN_CLASSES: tuple[str, ...] = (
    "background", "skin", "left_brow", "right_brow", "left_eye", "right_eye", "nose",
    "upper_lip", "inner_mouth", "lower_lip", "hair",
)
NUM_HELEN = len(HELEN_CLASSES)

#: ``TO_HELEN[canonical] -> Helen`` for every class except eyes and brows (split by position).
TO_HELEN: np.ndarray = np.zeros(NUM_CLASSES, dtype=np.uint8)
for _name, _helen in {
    "background": 0, "skin": 1, "l_brow": 2, "r_brow": 2, "l_eye": 4, "r_eye": 4, "eye_g": 1,
    "l_ear": 0, "r_ear": 0, "ear_r": 0, "nose": 6, "mouth": 8, "u_lip": 7, "l_lip": 9,
    "neck": 0, "neck_l": 0, "cloth": 0, "hair": 10, "hat": 0,
}.items():
    TO_HELEN[INDEX[_name]] = _helen

#: ``FROM_HELEN[helen] -> canonical``; Helen 2/4 (image-left) is the person's right.
FROM_HELEN: np.ndarray = np.array(
    [INDEX[n] for n in ("background", "skin", "r_brow", "l_brow", "r_eye", "l_eye", "nose",
                        "u_lip", "mouth", "l_lip", "hair")],
    dtype=np.uint8,
)

_EYES = (INDEX["l_eye"], INDEX["r_eye"])
_BROWS = (INDEX["l_brow"], INDEX["r_brow"])


def face_midline(labels: np.ndarray) -> float:
    """x of the vertical line that separates image-left from image-right eyes and brows."""
    eyes = [np.nonzero(labels == c)[1] for c in _EYES]
    if all(e.size for e in eyes):
        return (eyes[0].mean() + eyes[1].mean()) / 2.0
    _, xs = np.nonzero(labels == INDEX["skin"])
    if xs.size:
        return (xs.min() + xs.max()) / 2.0
    return (labels.shape[1] - 1) / 2.0


def to_helen(labels: np.ndarray) -> np.ndarray:
    """Canonical 19-class map (H, W) -> Helen 11-class map (H, W) uint8, eyes and brows by image side."""
    labels = check_label_map(labels)
    out = TO_HELEN[labels]
    right_side = np.arange(labels.shape[1])[None, :] >= face_midline(labels)
    for group, helen_left in ((_EYES, 4), (_BROWS, 2)):
        hit = np.isin(labels, group)
        out[hit & ~right_side] = helen_left
        out[hit & right_side] = helen_left + 1
    return out


def from_helen(helen: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
    """Helen 11-class map -> canonical 19-class map (uint8).

    Without ``reference`` the classes Helen lacks stay folded (ears, neck, cloth, hat, earrings and
    necklace as background, glasses as skin).  With a reference 19-class map of the same size, those
    classes come back wherever the Helen map shows what they were folded into.
    """
    arr = np.asarray(helen)
    if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= NUM_HELEN:
        raise InvalidArgumentError(f"A Helen label map must be 2-D with values 0..{NUM_HELEN - 1}; "
                                   f"got shape {arr.shape}, dtype {arr.dtype}.")
    out = FROM_HELEN[arr]
    if reference is not None:
        ref = check_label_map(reference)
        if ref.shape != arr.shape:
            raise InvalidArgumentError(f"The reference map is {ref.shape}, the Helen map {arr.shape}; they must match.")
        folded = (TO_HELEN[ref] == arr) & ~np.isin(ref, (*_EYES, *_BROWS)) & (FROM_HELEN[TO_HELEN[ref]] != ref)
        out[folded] = ref[folded]
    return out
