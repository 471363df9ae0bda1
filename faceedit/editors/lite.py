"""The lite engine's editors: classical warps on the face mesh and the label map (no weights needed).

The operations themselves (``expression_map``, ``pose_map``, ``age_texture``, ``repaint``,
``swap_components``) live in :mod:`faceedit.editors.lite_ops`; these classes give them the editor
interface the composer picks from.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_geometry as geo
from faceedit.editors import lite_texture as tex
from faceedit.editors.base import Editor, EditorOutput, FaceState
from faceedit.editors.lite_ops import (
    ATTRIBUTE_RANGE,
    ATTRIBUTES,
    INDEX,
    MAX_POSE_DEGREES,
    POSE_DEGREES_PER_UNIT,
    _display,
    age_texture,
    expression_map,
    keep_protected,
    pose_map,
    repaint,
    smile_region,
    swap_components,
)
from faceedit.errors import InvalidArgumentError, UnsupportedEditError
from faceedit.labels import COMPONENTS, check_label_map, component_indices, protected_mask

#: Side of the lite slider preview, as a fraction of the crop's.
PREVIEW_SCALE = 0.5
NO_CONDITIONS = ("Conditional editing (e.g. smile while keeping age) works on GAN latent directions; "
                 "the lite engine's sliders are already independent and take no conditions.")


def check_painted(face: FaceState, new_labels: np.ndarray) -> np.ndarray:
    """The painted label map, validated and of the aligned crop's size."""
    new = check_label_map(new_labels)
    old = face.labels
    if new.shape != old.shape:
        raise InvalidArgumentError(
            f"The painted label map is {new.shape[1]}x{new.shape[0]}; it must match the aligned crop "
            f"({old.shape[1]}x{old.shape[0]})."
        )
    return new


def check_components(components: tuple[str, ...]) -> tuple[str, ...]:
    """Swap component names, lower-cased and validated (at least one)."""
    if not components:
        raise InvalidArgumentError(f"Choose at least one component to swap: {', '.join(COMPONENTS)}.")
    comps = tuple(c.strip().lower() for c in components)
    component_indices(list(comps))  # validates the names before any work
    return comps


class LiteSliders(Editor):
    """Smile / age / pose (yaw) / pitch by landmark-driven warps (absolute values, 0 = unchanged)."""

    name = "lite sliders"
    operation = "attributes"
    engine = "lite"
    title = "classical warp"
    conditionable = False  # independent by construction

    def names(self) -> list[str]:
        """Slider names: smile, age, pose (yaw), pitch."""
        return list(ATTRIBUTES)

    def range(self, name: str) -> tuple[float, float]:
        """Every lite slider spans -3..3."""
        return ATTRIBUTE_RANGE

    def groups(self) -> dict[str, str]:
        """Slider name -> the group the page shows it in."""
        return {"smile": "expression", "age": "age and gender", "pose": "pose", "pitch": "pose"}

    def refuse_conditions(self) -> None:
        raise UnsupportedEditError(NO_CONDITIONS)

    def apply(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None = None,
              region: np.ndarray | None = None, conditions: dict[str, list[str]] | None = None,
              after: tuple[str, ...] = (), guest: bool = False) -> EditorOutput:
        """The warps on ``crop`` (default the face's own) with the face's mesh.

        ``guest``: run inside another engine's chain (e.g. after L2M-GAN); the note then says so.
        The region is None: a pose turn may move pixels off the face, so the session pastes wherever
        the crop changed.
        """
        if conditions and any(conditions.values()):
            self.refuse_conditions()
        v = values
        smile, age = v.get("smile", 0.0), v.get("age", 0.0)
        yaw = float(np.clip(v.get("pose", 0.0) * POSE_DEGREES_PER_UNIT, -MAX_POSE_DEGREES, MAX_POSE_DEGREES))
        pitch = float(np.clip(v.get("pitch", 0.0) * POSE_DEGREES_PER_UNIT, -MAX_POSE_DEGREES, MAX_POSE_DEGREES))
        image = face.crop if crop is None else np.ascontiguousarray(crop)
        if age == 0 and smile == 0 and yaw == 0 and pitch == 0:
            return EditorOutput(crop=image.copy())
        notes: list[str] = []
        size = image.shape[:2]
        lm = face.landmarks.astype(np.float64)
        if age != 0:
            image = age_texture(image, face.labels, age)
            notes.append("age is an approximate heuristic (skin texture and hair colour), "
                         "not a learned ageing model")
        maps = None
        if smile != 0 or age != 0:
            region = None
            if smile != 0:  # the smile's motion weight depends on the face alone: once per face and size
                cache = face.cache.setdefault("lite", {})
                region = cache.get(("smile_region", size))
                if region is None:
                    region = cache[("smile_region", size)] = smile_region(lm, size)
            maps = expression_map(lm, size, smile=smile, age=age, region=region)
        hole = None
        if yaw != 0 or pitch != 0:
            pose_maps, hole = pose_map(lm, size, yaw, pitch)
            maps = pose_maps if maps is None else geo.compose_maps(maps, pose_maps)
            if abs(v.get("pose", 0.0)) * POSE_DEGREES_PER_UNIT > MAX_POSE_DEGREES or \
                    abs(v.get("pitch", 0.0)) * POSE_DEGREES_PER_UNIT > MAX_POSE_DEGREES:
                notes.append(f"the lite engine turns the head at most {MAX_POSE_DEGREES:g} degrees")
        out = geo.remap(image, maps) if maps is not None else image.copy()
        if hole is not None and hole.any():
            out = cv2.inpaint(out, hole.astype(np.uint8), 3, cv2.INPAINT_TELEA)
        if yaw == 0 and pitch == 0:  # smile and age leave accessories and hands as they are (a turn moves them)
            out = keep_protected(out, face.crop, protected_mask(face.labels, face.occluder))
        if guest:
            moved = ", ".join(k for k, x in values.items() if x != 0)
            later = f", after {' and '.join(after)})" if after else ")"
            notes.insert(0, f"lite engine {moved} ({self.title}{later}")
        return EditorOutput(crop=out, message="; ".join(notes))


    def preview(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None = None,
                region: np.ndarray | None = None, conditions: dict[str, list[str]] | None = None,
                after: tuple[str, ...] = (), guest: bool = False) -> EditorOutput:
        """:meth:`apply` on the crop at :data:`PREVIEW_SCALE` of its side, scaled back where it changed.

        For the live preview while a slider is dragged: the warp costs about the square of the side less;
        pixels the small edit did not change stay exactly the crop's.
        """
        base = face.crop if crop is None else np.ascontiguousarray(crop)
        size = base.shape[0]
        side = max(64, int(round(size * PREVIEW_SCALE)))
        if side >= size:
            return self.apply(face, values, crop, region, conditions, after, guest)

        def shrink(img: np.ndarray, nearest: bool = False) -> np.ndarray:
            interp = cv2.INTER_NEAREST if nearest else cv2.INTER_AREA
            return cv2.resize(img, (side, side), interpolation=interp)

        occluder = None if face.occluder is None else shrink(face.occluder.astype(np.uint8), True).astype(bool)
        small = FaceState(crop=shrink(base), labels=shrink(face.labels, True),
                          landmarks=(face.landmarks * (side / size)).astype(np.float32), occluder=occluder,
                          cache=face.cache)  # its size-keyed entries (e.g. the smile region) last per face
        out = self.apply(small, values, conditions=conditions, after=after, guest=guest)
        changed = np.any(out.crop != small.crop, axis=-1)
        if not changed.any():
            return EditorOutput(crop=base.copy(), message=out.message)
        up = cv2.resize(out.crop, (size, size), interpolation=cv2.INTER_LINEAR)
        weight = cv2.resize(tex.dilate(changed, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR)
        return EditorOutput(crop=tex.blend(base, up, np.clip(weight, 0.0, 1.0)), message=out.message)


class LiteMaskEdit(Editor):
    """Move, grow, shrink and refill components so the crop follows the painted map."""

    name = "lite mask edit"
    operation = "mask_edit"
    engine = "lite"

    def edit_mask(self, face: FaceState, new_labels: np.ndarray) -> EditorOutput:
        new = check_painted(face, new_labels)
        old = face.labels
        changed = new != old
        if not changed.any():
            return EditorOutput(crop=face.crop.copy(), labels=old.copy())
        out, missing = repaint(face.crop, old, new)
        done = changed.copy()
        names = ""
        if missing:
            for cls in missing:
                done &= new != INDEX[cls]
            names = ", ".join(sorted({_display(c) for c in missing}))
            if not done.any():
                raise UnsupportedEditError(
                    f"The lite engine cannot draw {names} where the photo has none; this needs the GAN "
                    "engine (mask-guided generator weights)."
                )
        # Labels that could not be drawn keep their old class in the returned map.
        result_labels = np.where(done | ~changed, new, old).astype(np.uint8)
        message = ""
        if missing:
            message = (f"cannot synthesize {names} (the photo has none to move): needs the GAN engine; "
                       "the rest of the edit was applied")
        return EditorOutput(crop=out, labels=result_labels, message=message)


class LiteSwap(Editor):
    """Warp the reference's components onto this face, colour-match and blend them in."""

    name = "lite swap"
    operation = "swap"
    engine = "lite"

    def swap(self, face: FaceState, reference: FaceState, components: tuple[str, ...]) -> EditorOutput:
        comps = check_components(components)
        if reference.crop.shape != face.crop.shape:
            raise InvalidArgumentError("The reference face must be aligned at the same size as the photo.")
        out, labels, notes = swap_components(face, reference, comps)
        return EditorOutput(crop=out, labels=labels, message="; ".join(notes))


def landmark_parse(crop: np.ndarray) -> np.ndarray:
    """Labels from the offline landmark parser (mesh + selfie segmentation)."""
    from faceedit.parsing.landmark import LandmarkParser

    return LandmarkParser().parse(crop)


def lite_editors(runtime: Any = None) -> list[Editor]:
    """Every lite editor (they need no weights)."""
    from faceedit.editors.face_swap import LiteFaceSwap
    from faceedit.editors.stylise_editors import LiteStylise

    return [LiteSliders(), LiteMaskEdit(), LiteSwap(), LiteFaceSwap(), LiteStylise()]
