"""The Gradio page: upload a portrait, then paint its label map, swap components or move sliders.

The Blocks here only wire components to the backend (:class:`faceedit.session.Session`); no image
maths beyond turning the painted canvas back into a label map.  :func:`build_demo` returns the
Blocks without launching it, so tests and ``app.py`` share one definition.

* Per-user data (the :class:`Session`, the files offered for download) lives in ``gr.State`` and is
  freed by its ``delete_callback``; the only module-level objects are constants.
* Every event that runs a model shares ``concurrency_id="gpu"`` and has an ``api_name``
  (``/parse``, ``/choose_face``, ``/edit_mask``, ``/swap``, ``/attributes``, ``/preview``, ``/reset``,
  ``/undo``, ``/redo``, ``/animate``, ``/entanglement``, ``/random``, ``/batch``), so ``gradio_client``
  scripts drive the same code as the page.
* Backend errors (:class:`~faceedit.errors.FaceEditError`) become ``gr.Error`` with their own
  message; anything unexpected is logged and shown as a short apology, never a traceback.
"""

from __future__ import annotations

import functools
import html
import json
import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from faceedit import labels as L
from faceedit.device import describe_device
from faceedit.editors.composer import Composer
from faceedit.editors.gan_runtime import GENERATOR
from faceedit.errors import FaceEditError, InvalidArgumentError
from faceedit.session import Session
from faceedit.ui_batch import build_batch_tab
from faceedit.ui_faceswap import PageKit, build_faceswap_tab
from faceedit.ui_stylise import build_stylise_tab
from faceedit.ui_synth import build_synth_section

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parents[1] / "assets"
#: Largest photo upload (checked per photo; the app-wide gradio limit is the Models tab's checkpoint limit),
#: then the backend applies its own pixel and side limits.
MAX_FILE_SIZE = "25mb"
#: Slider range of every attribute (units of the direction's own scale).
SLIDER_LIMIT = 3.0
#: Slider slots (at least; more when the weights offer more sliders), shared out between the slider groups;
#: the page shows as many as the session has attributes.
MAX_SLIDERS = 48
#: Slider groups in page order (a direction's manifest group; unknown groups follow, then "other").
GROUP_ORDER: tuple[str, ...] = ("expression", "age and gender", "pose", "hair", "accessories", "L2M-GAN", "other")
#: Simultaneous model runs across all users (one GPU, or a few CPU cores).
CONCURRENCY = int(os.environ.get("FACEEDIT_CONCURRENCY", "1"))
#: Brush colours: exactly the 19 class colours, as ``#rrggbb``.
BRUSH_COLORS: list[str] = ["#{:02x}{:02x}{:02x}".format(*map(int, c)) for c in L.PALETTE]
#: How strongly the label colours cover the photo on the paint canvas.
OVERLAY_OPACITY = 0.55
#: Painted pixels with at least this alpha count as paint; fainter ones keep their old label.
PAINT_ALPHA_THRESHOLD = 128
#: Frames (slider values from −3 to +3) and side of the exported animation.
ANIMATION_FRAMES = 9
ANIMATION_SIZE = 320
#: Crops per row of the entanglement view.
STRIP_FRAMES = 7
#: Seconds an idle user's session is kept.
SESSION_TTL = 2 * 60 * 60

COMPONENT_CHOICES: list[str] = list(L.COMPONENTS)


def _gpu(fn: Callable) -> Callable:
    """``spaces.GPU`` on Hugging Face ZeroGPU Spaces; the function itself everywhere else."""
    try:
        import spaces  # type: ignore[import-not-found]
    except ImportError:
        return fn
    return spaces.GPU(duration=120)(fn)


# --------------------------------------------------------------------------- per-user state


@dataclass
class UserState:
    """One browser tab's photo session and the files it offered for download."""

    session: Session | None  # None once freed
    photo: str  # path of the uploaded photo ("" for a random face)
    face_index: int = 0
    slots: list[str | None] = field(default_factory=list)  # the slider names the page shows, slot by slot
    before: str = ""  # the original photo as written for the page
    before_crop: str = ""  # the original aligned crop as written for the page
    preview: str = ""  # the last preview written (replaced by the next one: a drag or a stroke writes many)
    painting: bool = False  # the close-up shows a preview of unapplied paint
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="faceedit-ui-")))

    def save_png(self, image: np.ndarray, stem: str) -> str:
        """Write ``image`` losslessly (fast zlib level) and return its path.

        Every picture the page shows is written once here and handed to gradio as a path, so an
        edit encodes each new image once and the unchanged "before" images never again.
        """
        path = self.workdir / f"{stem}-{uuid.uuid4().hex[:8]}.png"
        Image.fromarray(image).save(path, compress_level=1)
        return str(path)

    def show_preview(self, crop: np.ndarray) -> str:
        """Write a live-preview close-up (slider drag, brush stroke) in place of the previous one; its path."""
        path = self.save_png(crop, "preview")
        if self.preview:  # gradio serves its own copy of each output file
            Path(self.preview).unlink(missing_ok=True)
        self.preview = path
        return path

    def save_gif(self, frames: list[np.ndarray], stem: str) -> str:
        """Write a looping ping-pong GIF of ``frames`` (scaled to ``ANIMATION_SIZE``); returns the path."""
        images = [Image.fromarray(f).resize((ANIMATION_SIZE, ANIMATION_SIZE), Image.LANCZOS) for f in frames]
        images = images + images[-2:0:-1]
        path = self.workdir / f"{stem}-{uuid.uuid4().hex[:8]}.gif"
        images[0].save(path, save_all=True, append_images=images[1:], duration=110, loop=0)
        return str(path)


def free_state(state: UserState | None) -> None:
    """``delete_callback`` of the per-user state: drop the session and its files."""
    if isinstance(state, UserState):
        shutil.rmtree(state.workdir, ignore_errors=True)
        state.session = None


def _require(state: UserState | None) -> UserState:
    if not isinstance(state, UserState) or state.session is None:
        raise InvalidArgumentError("Upload a portrait (or pick an example) first.")
    return state


def error_title(err: FaceEditError) -> str:
    """A short heading for an error toast from its type: ``NoFaceFoundError`` -> "No face found"."""
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", type(err).__name__.removesuffix("Error")).lower()
    return (words[:1].upper() + words[1:]) if words and words != "face edit" else "Error"


def _user_errors(fn: Callable) -> Callable:
    """Turn backend errors into ``gr.Error`` with their message; log anything unexpected."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except FaceEditError as err:
            raise gr.Error(str(err), title=error_title(err)) from None
        except Exception as err:  # noqa: BLE001 - last line of defence before the browser
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                f"Something went wrong on our side ({type(err).__name__}); the details are in the server log."
            ) from None

    return wrapper


def photo_input(**kwargs: Any) -> gr.Image:
    """``gr.Image`` that hands the uploaded file's path to the backend unopened.

    gradio's own preprocessing opens the upload with PIL, so a non-image fails before our code
    runs and the user sees a bare "Error".  Here the backend's loader checks the file and raises
    its typed error (not an image, too large, too small) with a message the page can show.
    (An instance override, not a subclass: gradio writes a .pyi beside every Component subclass.)
    """
    image = gr.Image(type="filepath", image_mode=None, **kwargs)
    default = image.preprocess

    def preprocess(payload: Any) -> str | None:
        if payload is not None and payload.path and not (payload.url or "").startswith("data:"):
            check_photo_bytes(str(payload.path))
            return str(payload.path)
        return default(payload)

    image.preprocess = preprocess  # type: ignore[method-assign]
    return image


# --------------------------------------------------------------------------- view helpers


def badge(engine: str, device: str, message: str = "") -> str:
    """HTML badge naming the engine and device (and the backend's note, if any)."""
    kind = "gan" if "gan" in engine.lower() else "lite"
    label = {"gan": "GAN engine", "lite": "lite engine"}.get(engine.lower(), f"{engine} engines")
    note = f'<span class="fe-note">{html.escape(message)}</span>' if message else ""
    return (
        f'<div class="fe-badge"><span class="fe-pill fe-{kind}">{label}</span>'
        f'<span class="fe-pill fe-device">{html.escape(device)}</span>{note}</div>'
    )


def legend_html() -> str:
    """The brush palette as swatches with class names."""
    items = "".join(
        f'<span class="fe-swatch"><i style="background:{colour}"></i>{html.escape(L.DISPLAY_NAMES[name])}</span>'
        for name, colour in zip(L.CLASSES, BRUSH_COLORS)
    )
    return f'<div class="fe-legend">{items}</div>'


def label_overlay(crop: np.ndarray, label_map: np.ndarray, occluder: np.ndarray | None = None) -> np.ndarray:
    """The label colours over the aligned crop (what the paint canvas shows under the brush).

    An ``occluder`` (hands in front of the face, kept by every edit) is hatched over it.
    """
    colours = L.labels_to_color(label_map).astype(np.float32)
    out = ((1 - OVERLAY_OPACITY) * crop.astype(np.float32) + OVERLAY_OPACITY * colours).round().astype(np.uint8)
    if occluder is not None and np.any(occluder):  # labels all background: only the hatching is drawn
        out = L.overlay(out, np.zeros(label_map.shape, np.uint8), alpha=0.0, outline=False, occluder=occluder)
    return out


def editor_value(state: UserState, crop: np.ndarray, label_map: np.ndarray,
                 occluder: np.ndarray | None = None) -> dict[str, Any]:
    """Canvas content: the label overlay as background and an empty paint layer."""
    return {"background": state.save_png(label_overlay(crop, label_map, occluder), "canvas"), "layers": [],
            "composite": None}


#: How the parse notes name each class.
NOTE_NAMES: dict[str, str] = {"eye_g": "glasses", "hat": "hat", "ear_r": "earrings", "neck_l": "necklace",
                              "occluder": "hands", "parser": "parser"}


def parse_notes_markdown(notes: dict[str, str]) -> str:
    """What the parser found or could not see, one line per class (under the paint tab's legend)."""
    if not notes:
        return ""
    lines = [f"- **{NOTE_NAMES.get(k, k)}**: {v}" for k, v in notes.items()]
    return "**What the parser found** (accessories and hands are kept by every edit unless you paint them; " \
           "hatched: in front of the face)\n" + "\n".join(lines)


def painted_labels(value: dict[str, Any] | None, old: np.ndarray) -> np.ndarray:
    """Label map from the editor's paint layers: nearest palette colour where painted, else ``old``."""
    layers = [np.asarray(layer) for layer in (value or {}).get("layers") or [] if layer is not None]
    if not layers:
        raise InvalidArgumentError("Paint on the label map first: pick a class colour and draw over the face.")
    height, width = old.shape
    paint = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    for layer in layers:
        if layer.ndim != 3 or layer.shape[2] != 4:
            raise InvalidArgumentError(f"A paint layer must be an RGBA image; got shape {layer.shape}.")
        img = Image.fromarray(layer.astype(np.uint8), "RGBA")
        if img.size != (width, height):
            img = img.resize((width, height), Image.NEAREST)
        paint = Image.alpha_composite(paint, img)
    rgba = np.asarray(paint)
    if not (rgba[..., 3] >= PAINT_ALPHA_THRESHOLD).any():
        raise InvalidArgumentError("The paint layer is empty: draw over the face with a class colour first.")
    new = L.color_to_labels(rgba, alpha_threshold=PAINT_ALPHA_THRESHOLD, fill=old)
    if np.array_equal(new, old):
        raise InvalidArgumentError("The paint does not change any class: paint a different colour than the "
                                   "class already there (e.g. hair colour over the forehead to grow the hair).")
    return new


def slider_layout(composer: Composer, engine: str | None = None) -> list[tuple[str, int]]:
    """The slider groups of the page, each with its number of slots (one accordion each), ``MAX_SLIDERS`` in all
    (or as many as the sliders need).

    Built once per page from every attribute chain a session of this process may get, so each group has
    room for its largest one; spare slots go to the last group.
    """
    counts: dict[str, int] = {}
    for kind in ([engine] if engine else ["gan", "lite"]):
        if not composer.editors_for("attributes", kind):
            continue
        per_group: dict[str, int] = {}
        for group in composer.attributes(kind).groups().values():
            per_group[group] = per_group.get(group, 0) + 1
        for group, n in per_group.items():
            counts[group] = max(counts.get(group, 0), n)
    order = [g for g in GROUP_ORDER if g in counts and g != "other"]
    order += sorted(g for g in counts if g not in GROUP_ORDER) + (["other"] if "other" in counts else [])
    layout = [(g, counts[g]) for g in order] or [("attributes", 0)]
    used = sum(n for _, n in layout)
    group, n = layout[-1]
    layout[-1] = (group, n + max(0, MAX_SLIDERS - used))
    return layout


def slot_names(layout: list[tuple[str, int]], session: Session) -> list[str | None]:
    """The slider name shown in each slot (None: hidden), each name in its group's accordion."""
    groups = session.attribute_groups()
    slots: list[str | None] = []
    placed: set[str] = set()
    for group, n in layout:
        mine = [name for name in session.attribute_names() if groups.get(name) == group][:n]
        placed.update(mine)
        slots += mine + [None] * (n - len(mine))
    for name in session.attribute_names():  # a group the layout lacks: any free slot
        if name not in placed and None in slots:
            slots[slots.index(None)] = name
    return slots


def _slider_updates(slots: list[str | None], values: dict[str, float] | None = None,
                    ranges: dict[str, tuple[float, float]] | None = None) -> list[Any]:
    """Updates for every slider slot: the named ones shown with their name, value and range."""
    values, ranges = values or {}, ranges or {}
    updates = []
    for name in slots:
        if name is not None:
            lo, hi = ranges.get(name, (-SLIDER_LIMIT, SLIDER_LIMIT))
            updates.append(gr.update(visible=True, label=name.replace("_", " "), minimum=lo, maximum=hi,
                                     value=values.get(name, 0.0)))
        else:
            updates.append(gr.update(visible=False, value=0.0))
    return updates


def _session_sliders(state: UserState, layout: list[tuple[str, int]]) -> list[Any]:
    """Slider updates showing the session's attributes in their groups, with ranges and current values
    (the names shown are kept in ``state.slots``)."""
    session = state.session
    names = list(session.attribute_names())
    state.slots = slot_names(layout, session)
    return _slider_updates(state.slots, session.values,
                           {n: tuple(session.attribute_range(n)) for n in names})


def parse_named_values(values: Any) -> dict[str, float]:
    """``{"smile": 1.5, "age": -1}`` (a dict, or its JSON text) as slider values; names are checked later."""
    if isinstance(values, str):
        try:
            values = json.loads(values) if values.strip() else {}
        except json.JSONDecodeError as err:
            raise InvalidArgumentError(f"Slider values must be a JSON object such as {{\"smile\": 1.5}}; {err}.") \
                from None
    if not isinstance(values, dict) or not all(isinstance(k, str) for k in values):
        raise InvalidArgumentError("Slider values must be an object of slider names and numbers, e.g. "
                                   f"{{\"smile\": 1.5, \"age\": -1}}; got {type(values).__name__}.")
    for k, v in values.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InvalidArgumentError(f"Slider {k!r} takes a number; got {v!r}.")
    return {k: float(v) for k, v in values.items()}


def sweep_frames(session: Session, name: str | None, count: int,
                 conditions: list[str] | None = None) -> list[np.ndarray]:
    """Aligned crops of the current face at ``count`` values over one slider's range (history untouched)."""
    names = list(session.attribute_names())
    if name not in names:
        raise InvalidArgumentError(f"Choose the slider: {', '.join(names)}.")
    lo, hi = session.attribute_range(name)
    values = tuple(float(v) for v in np.linspace(lo, hi, count))
    return session.attribute_strip(name, values, conditions=conditions)


def strip_sheet(rows: list[list[np.ndarray]], side: int = 160) -> np.ndarray:
    """Rows of crops laid out as one image, each crop scaled to ``side`` pixels."""
    return np.concatenate([
        np.concatenate([np.asarray(Image.fromarray(c).resize((side, side), Image.LANCZOS)) for c in row], axis=1)
        for row in rows
    ], axis=0)


# --------------------------------------------------------------------------- handlers


def _result_outputs(state: UserState, result: Any, stem: str) -> tuple[Any, ...]:
    """(state, before/after, download, badge, canvas, close-up) after an edit; the canvas shows the edited crop."""
    session = state.session
    state.painting = False  # the canvas is reset to the new result
    download = state.save_png(result.image, stem)  # also the "after" of the whole-photo view
    return (
        state,
        (state.before, download),
        download,
        badge(result.engine, result.device, result.message),
        editor_value(state, result.crop, session.labels, session.occluder),
        (state.before_crop, state.save_png(result.crop, f"{stem}-face")),
    )


def _opened(state: UserState, note: str, extra: dict[str, Any], layout: list[tuple[str, int]]) -> tuple[Any, ...]:
    """Outputs of a freshly opened session (photo or random face): views, canvas, chooser, sliders."""
    session = state.session
    state.before = state.save_png(session.original, "original")
    state.before_crop = state.save_png(session.crop, "original-face")
    names = list(session.attribute_names())
    faces = [(f"Face {i + 1}" + (" (largest)" if i == 0 else ""), i) for i in range(session.num_faces)]
    info = {"engine": session.engine_name, "device": describe_device(), "faces": session.num_faces,
            "size": list(session.original.shape[:2]), "attributes": names,
            "slots": slot_names(layout, session), "groups": session.attribute_groups(),
            "parse_notes": session.parse_notes, **extra}
    return (
        state,
        (state.before, state.before),
        state.before,
        badge(session.engine_name, describe_device(), note),
        editor_value(state, session.crop, session.labels, session.occluder),
        gr.update(choices=faces, value=state.face_index, visible=session.num_faces > 1),
        info,
        gr.update(choices=names, value=names[0] if names else None),
        gr.update(choices=[n for n in names if not n.endswith(" (L2M)")], value=[]),  # L2M: no vector to keep
        *_session_sliders(state, layout),
        (state.before_crop, state.before_crop),
    )


@_gpu
def _load(photo: str, face_index: int, engine: str | None, composer: Composer) -> Session:
    # The W+ inversion runs in the background while the user looks (not on ZeroGPU: its GPU leaves on return).
    return Session.from_photo(photo, face_index=int(face_index or 0), engine=engine, composer=composer,
                              prefetch="spaces" not in sys.modules)


def make_handlers(engine: str | None, composer: Composer) -> dict[str, Callable]:
    """The event handlers, closed over the engine choice (``None`` = pick from the weights present) and
    the process's composer (its editors and models are shared by every session)."""
    layout = slider_layout(composer, engine)
    slot_count = sum(n for _, n in layout)

    @_user_errors
    def parse(photo: str | None, face_index: int | None, old: UserState | None,
              progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio's idiom
        if photo is None:
            free_state(old)
            return (None, None, None, badge_idle(), None, gr.update(choices=[], value=None, visible=False), {},
                    gr.update(choices=[], value=None), gr.update(choices=[], value=[]), *_slider_updates([None] * slot_count), None)
        progress(0.1, desc="Finding, aligning and parsing the face…")
        index = int(face_index or 0)
        session = _load(photo, index, engine, composer)
        free_state(old)  # only now: a failed upload keeps the photo being edited
        state = UserState(session=session, photo=photo, face_index=index)
        return _opened(state, "Face found and parsed: paint, swap or slide.", {"face_index": index}, layout)

    @_gpu
    @_user_errors
    def random_face(seed: float | None, truncation: float, mix_layers: str, mix_seed: float | None,
                    old: UserState | None, progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if seed is None:
            raise InvalidArgumentError("Enter a seed (a whole number), or roll the dice.")
        mix = None if mix_layers in (None, "", "none") else (str(mix_layers), int(mix_seed or 0))
        progress(0.2, desc=f"Drawing face #{int(seed)}…")
        session = Session.from_seed(int(seed), truncation=float(truncation), mix=mix, engine=engine,
                                    composer=composer)
        free_state(old)
        state = UserState(session=session, photo="", face_index=0)
        return _opened(state, f"Random face: seed {int(seed)}, ψ = {float(truncation):.2f}"
                       + (f", {mix[0]} styles from seed {mix[1]}" if mix else "") + ".",
                       {"seed": int(seed), "truncation": float(truncation), "mix": list(mix) if mix else None},
                       layout)

    @_gpu
    @_user_errors
    def edit_mask(state: UserState | None, canvas: dict[str, Any] | None,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        state = _require(state)
        new_labels = painted_labels(canvas, state.session.labels)
        progress(0.2, desc="Redrawing the face from the painted map…")
        return _result_outputs(state, state.session.edit_mask(new_labels), "mask-edit")

    @_gpu
    @_user_errors
    def preview_mask(state: UserState | None, canvas: dict[str, Any] | None) -> tuple[str, str]:
        """The close-up while painting: the face redrawn from the canvas so far, not added to the history."""
        state = _require(state)
        try:
            labels, painting = painted_labels(canvas, state.session.labels), True
        except InvalidArgumentError:  # nothing (left) painted, or paint over the same class
            if not state.painting:  # e.g. the canvas was just set to a new result: the close-up already shows it
                return gr.skip(), gr.skip()
            labels, painting = state.session.labels, False  # the paint was erased: back to the current face
        state.painting = painting
        return state.before_crop, state.show_preview(state.session.preview_mask(labels).crop)

    @_gpu
    @_user_errors
    def swap(state: UserState | None, reference: str | None, components: list[str] | None,
             progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        state = _require(state)
        if reference is None:
            raise InvalidArgumentError("Upload a reference portrait to take the components from.")
        if not components:
            raise InvalidArgumentError(f"Tick at least one component to swap: {', '.join(COMPONENT_CHOICES)}.")
        progress(0.2, desc=f"Swapping {', '.join(components)}…")
        return _result_outputs(state, state.session.swap(reference, list(components)), "swap")

    def shown_values(state: UserState, values: tuple[float, ...]) -> dict[str, float]:
        """Slot values by the slider names the page shows (after an engine switch-over the session's may
        differ until they are shown); names the session does not know are left out."""
        slots = state.slots or slot_names(layout, state.session)
        known = set(state.session.attribute_names())
        return {name: float(v or 0.0) for name, v in zip(slots, values) if name is not None and name in known}

    @_gpu
    @_user_errors
    def attributes(state: UserState | None, *values: float) -> tuple[Any, ...]:
        state = _require(state)
        return _result_outputs(state, state.session.set_attributes(shown_values(state, values)), "attributes")

    @_gpu
    @_user_errors
    def preview(state: UserState | None, *values: float) -> tuple[str, str]:
        """The close-up while a slider is dragged: a quick render, not added to the history."""
        state = _require(state)
        return state.before_crop, state.show_preview(state.session.preview_attributes(shown_values(state, values)).crop)

    @_gpu
    @_user_errors
    def set_attributes(state: UserState | None, values: Any) -> tuple[Any, ...]:
        """Sliders by name (``{"smile": 1.5, "age": -1}``); the others keep their values."""
        state = _require(state)
        result = state.session.set_attributes(parse_named_values(values))
        return (*_result_outputs(state, result, "attributes"), *_session_sliders(state, layout))

    @_gpu
    @_user_errors
    def reset(state: UserState | None) -> tuple[Any, ...]:
        state = _require(state)
        names = list(state.session.attribute_names())
        result = state.session.set_attributes(dict.fromkeys(names, 0.0))
        return (*_result_outputs(state, result, "attributes"), *_session_sliders(state, layout))

    @_gpu
    @_user_errors
    def animate(state: UserState | None, name: str | None,
                progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        state = _require(state)
        progress(0.1, desc=f"Rendering {ANIMATION_FRAMES} frames along {name}…")
        return state.save_gif(sweep_frames(state.session, name, ANIMATION_FRAMES), f"sweep-{name}")

    @_gpu
    @_user_errors
    def entanglement(state: UserState | None, name: str | None, conditions: list[str] | None,
                     progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
        state = _require(state)
        if not conditions or name in conditions:
            raise InvalidArgumentError(f"Tick one or more attributes other than {name} to keep unchanged "
                                       "(e.g. age while the smile moves).")
        progress(0.1, desc=f"Rendering {name} with and without {', '.join(conditions)} held…")
        sheet = strip_sheet([sweep_frames(state.session, name, STRIP_FRAMES),
                             sweep_frames(state.session, name, STRIP_FRAMES, conditions=list(conditions))])
        return state.save_png(sheet, f"entanglement-{name}")

    @_user_errors
    def undo(state: UserState | None) -> tuple[Any, ...]:
        state = _require(state)
        return (*_result_outputs(state, state.session.undo(), "undo"), *_session_sliders(state, layout))

    @_user_errors
    def redo(state: UserState | None) -> tuple[Any, ...]:
        state = _require(state)
        return (*_result_outputs(state, state.session.redo(), "redo"), *_session_sliders(state, layout))

    return {"parse": parse, "edit_mask": edit_mask, "swap": swap, "attributes": attributes,
            "set_attributes": set_attributes, "layout": layout, "preview": preview, "preview_mask": preview_mask,
            "reset": reset, "undo": undo, "redo": redo, "animate": animate, "random": random_face,
            "entanglement": entanglement}


def random_faces_available(composer: Composer) -> bool:
    """Whether this process's composer has the generator that random faces need."""
    return composer.can("random", "gan")


def random_faces_note() -> str:
    """What the Random face tab says on the lite engine: what is missing and the command that gets it."""
    name = GENERATOR
    return (f"**Random faces need the StyleGAN2 generator (the GAN engine); this server runs the lite engine, "
            f"which cannot draw new faces.** Download the *random faces* preset in the Models tab (no restart "
            f"needed), or run `python -m faceedit weights fetch {name}` and restart the app.")


def _roll_seed() -> int:
    """A fresh seed for the dice button (the seed itself is what makes a face reproducible)."""
    return secrets.randbelow(2**31)


def badge_idle() -> str:
    """Badge shown before any photo: the engine is chosen per photo from the weights present."""
    return badge("lite", describe_device(), "Upload a portrait to start.")


# --------------------------------------------------------------------------- page

CSS = """
.fe-header h1 {margin-bottom: 0}
.fe-header p {margin-top: .2em; opacity: .8}
.fe-badge {display: flex; flex-wrap: wrap; gap: .4em; align-items: center; font-size: .9em}
.fe-pill {border-radius: 999px; padding: .15em .75em; font-weight: 600; color: white}
.fe-lite {background: #0f766e} .fe-gan {background: #7c3aed} .fe-device {background: #475569}
.fe-note {opacity: .85}
.fe-warn {border-left: 4px solid #d97706; padding: .2em .8em; background: #d9770614; border-radius: 4px}
.fe-legend {display: flex; flex-wrap: wrap; gap: .25em .9em; font-size: .82em}
.fe-swatch {display: inline-flex; align-items: center; gap: .35em; white-space: nowrap}
.fe-swatch i {display: inline-block; width: 1em; height: 1em; border-radius: 3px; border: 1px solid #8886}
"""
THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="teal")


def launch_kwargs() -> dict[str, Any]:
    """Options ``app.py`` and the tests pass to ``demo.launch`` (gradio 6 takes theme and CSS there)."""
    from faceedit.ui_models import CHECKPOINT_UPLOAD_LIMIT

    # gradio has one upload limit per app: the Models tab's checkpoints; photos are held to MAX_FILE_SIZE here
    return {"theme": THEME, "css": CSS, "max_file_size": CHECKPOINT_UPLOAD_LIMIT}


def build_demo(engine: str | None = None, composer: Composer | None = None) -> gr.Blocks:
    """The whole page as ``gr.Blocks`` (not launched). ``engine``: "lite", "gan" or None (auto).

    ``composer``: the editors every session of this process uses (default: built once here from the
    weights registry, reading ``FACEEDIT_ENGINE``).
    """
    from faceedit.ui_models import build_models_tab, live_composer

    composer = live_composer(composer)  # rebuilt when the Models tab (or FACEEDIT_MODELS) installs weights
    h = make_handlers(engine, composer)
    with gr.Blocks(title="faceedit: portrait editing") as demo:
        state = gr.State(None, time_to_live=SESSION_TTL, delete_callback=free_state)
        gr.Markdown(
            "# faceedit\nPaint a portrait's face map, swap eyes, nose or mouth from another face, or move "
            "attribute sliders. Every edit is pasted back into your full photo.",
            elem_classes="fe-header",
        )
        status = gr.HTML(badge_idle(), elem_id="fe-badge")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=320):
                photo = photo_input(label="Your portrait",
                                   sources=["upload", "clipboard", "webcam"], height=340, elem_id="fe-photo")
                face = gr.Dropdown(label="Several faces found: edit this one", choices=[], visible=False,
                                   interactive=True, elem_id="fe-face")
                gr.Examples(
                    examples=[[str(ASSETS / n)] for n in ("astronaut.png", "grace_hopper.jpg", "two_faces.jpg")
                              if (ASSETS / n).exists()],
                    inputs=[photo], label="Examples (public domain, see assets/LICENSES.md)",
                )
            with gr.Column(scale=6, min_width=360):
                with gr.Tabs():
                    with gr.Tab("Face close-up", id="closeup"):
                        closeup = gr.ImageSlider(label="Before / after (aligned face)", type="numpy",
                                                 format="png", interactive=False, max_height=520,
                                                 elem_id="fe-closeup")
                    with gr.Tab("Whole photo", id="whole"):
                        compare = gr.ImageSlider(label="Before / after (full resolution)", type="numpy",
                                                 format="png", interactive=False, max_height=520,
                                                 elem_id="fe-result")
                with gr.Row():
                    undo = gr.Button("↶ Undo", size="sm", elem_id="fe-undo")
                    redo = gr.Button("↷ Redo", size="sm", elem_id="fe-redo")
                    download = gr.DownloadButton("⬇ Full-resolution PNG", size="sm",
                                                 variant="primary", elem_id="fe-download")
        with gr.Tabs():
            with gr.Tab("Paint mask", id="paint"):
                gr.Markdown("Each colour is one face class. Paint where a class should be (e.g. widen the "
                            "lips, grow the hair), then **Apply**. The eraser takes paint back; unpainted "
                            "pixels keep their class.")
                with gr.Row(equal_height=False):
                    with gr.Column(scale=3):
                        canvas = gr.ImageEditor(
                            label="Label map over the aligned face", type="numpy", image_mode="RGBA",
                            format="png", sources=[], transforms=[],
                            brush=gr.Brush(colors=BRUSH_COLORS, default_color=BRUSH_COLORS[L.INDEX["skin"]],
                                           color_mode="fixed", default_size=12),
                            eraser=gr.Eraser(default_size=16),
                            layers=gr.LayerOptions(allow_additional_layers=False, layers=["paint"]),
                            canvas_size=(512, 512), height=560, elem_id="fe-canvas",
                        )
                    with gr.Column(scale=1, min_width=220):
                        gr.HTML(legend_html(), label="Legend")
                        apply_mask = gr.Button("Apply painted map", variant="primary", elem_id="fe-apply")
                        found = gr.Markdown("", elem_id="fe-parse-notes")
                synth = build_synth_section(composer, sys.modules[__name__])
            with gr.Tab("Swap components", id="swap"):
                with gr.Row(equal_height=False):
                    reference = photo_input(label="Reference portrait",
                                            sources=["upload", "clipboard"], height=300, elem_id="fe-reference")
                    with gr.Column():
                        parts = gr.CheckboxGroup(COMPONENT_CHOICES, value=["eyes"], label="Take these from the reference",
                                                 elem_id="fe-parts")
                        do_swap = gr.Button("Swap", variant="primary", elem_id="fe-swap")
                        gr.Examples(examples=[[str(ASSETS / "grace_hopper.jpg")], [str(ASSETS / "astronaut.png")]],
                                    inputs=[reference], label="Reference examples")
            with gr.Tab("Attributes", id="attributes"):
                gr.Markdown("Sliders run from −3 to +3; 0 is your photo. The close-up follows the slider with a "
                            "quick preview while you drag; the full edit runs when you let go.")
                sliders = []
                for g, (group, count) in enumerate(h["layout"]):
                    with gr.Accordion(group[:1].upper() + group[1:], open=g == 0, elem_id=f"fe-group-{g}"):
                        with gr.Row():
                            for _ in range(count):
                                i = len(sliders)
                                sliders.append(gr.Slider(-SLIDER_LIMIT, SLIDER_LIMIT, value=0.0, step=0.1,
                                                         label=f"attribute {i + 1}", visible=False, min_width=240,
                                                         elem_id=f"fe-slider-{i}"))
                named = gr.JSON(value={}, visible=False, label="Slider values by name")  # the /set_attributes input
                set_named = gr.Button(visible=False)
                reset = gr.Button("Reset all sliders", elem_id="fe-reset")
                with gr.Accordion("Animation and entanglement: one slider from −3 to +3", open=False):
                    with gr.Row(equal_height=False):
                        with gr.Column(min_width=220):
                            sweep = gr.Dropdown(label="Slider", choices=[], interactive=True, elem_id="fe-sweep")
                            make_gif = gr.Button("Make GIF", elem_id="fe-make-gif")
                            keep = gr.CheckboxGroup([], label="Keep these unchanged (conditional editing, GAN engine)",
                                                    elem_id="fe-keep")
                            make_strips = gr.Button("Compare strips", elem_id="fe-strips")
                        animation = gr.Image(label="The face along the slider", type="filepath", format="gif",
                                             interactive=False, height=320, buttons=["download", "fullscreen"],
                                             elem_id="fe-animation")
                    strips = gr.Image(label="Top: the slider alone · bottom: keeping the ticked attributes · "
                                            "left −3 → right +3", type="filepath", interactive=False,
                                      buttons=["download", "fullscreen"], elem_id="fe-strips-image")
            with gr.Tab("Random face", id="random"):
                can_draw = random_faces_available(composer)
                random_note = gr.Markdown(random_faces_note(), elem_classes="fe-warn", elem_id="fe-random-note",
                                          visible=not can_draw)
                gr.Markdown("Draw a new face from the StyleGAN2 generator, then edit it in the other tabs "
                            "like a photo. The same seed gives the same face on any machine.")
                with gr.Row(equal_height=True):
                    seed = gr.Number(label="Seed", value=42, precision=0, minimum=0, elem_id="fe-seed")
                    dice = gr.Button("🎲 Roll", scale=0, min_width=90, elem_id="fe-dice")
                    psi = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation ψ (0 = the average face)",
                                    elem_id="fe-psi")
                with gr.Row(equal_height=True):
                    mix_layers = gr.Radio(["none", "coarse", "middle", "fine"], value="none",
                                          label="Style mixing: take these layers from a second seed")
                    mix_seed = gr.Number(label="Second seed", value=7, precision=0, minimum=0)
                draw = gr.Button("Draw this face and edit it", variant="primary", interactive=can_draw,
                                 elem_id="fe-draw")
            faceswap = build_faceswap_tab(engine, composer, faceswap_kit())
            art_tab = build_stylise_tab(composer, h["layout"], sys.modules[__name__], engine)
            build_batch_tab({"composer": composer, "engine": engine, "state": state, "photo_input": photo_input,
                             "errors": _user_errors, "on_device": _gpu, "parse_values": parse_named_values,
                             "gpu": {"concurrency_id": "gpu", "concurrency_limit": CONCURRENCY}})
            build_models_tab(composer, sys.modules[__name__], status,
                             [(draw, "random", "enable"), (random_note, "random", "hide"), *synth.gates()])
        with gr.Accordion("Details (engine, faces, attributes)", open=False):
            info = gr.JSON(label="Session", elem_id="fe-info")

        gpu = {"concurrency_id": "gpu", "concurrency_limit": CONCURRENCY}
        edited = [state, compare, download, status, canvas, closeup]
        parse_outputs = [state, compare, download, status, canvas, face, info, sweep, keep, *sliders, closeup]
        photo.change(h["parse"], [photo, gr.State(0), state], parse_outputs, api_name="parse", **gpu)
        face.input(h["parse"], [photo, face, state], parse_outputs, api_name="choose_face", **gpu)
        info.change(lambda i: parse_notes_markdown((i or {}).get("parse_notes") or {}), info, found,
                    api_name=False, queue=False)
        # While painting: the close-up follows each stroke (the newest pending preview replaces older ones);
        # Apply commits the edit and cancels a preview still queued or running.
        mask_preview = canvas.input(h["preview_mask"], [state, canvas], [closeup], api_name="preview_mask",
                                    show_progress="hidden", trigger_mode="always_last", **gpu)
        apply_mask.click(h["edit_mask"], [state, canvas], edited, api_name="edit_mask", cancels=[mask_preview], **gpu)
        do_swap.click(h["swap"], [state, reference, parts], edited, api_name="swap", **gpu)
        # While dragging: previews (the newest pending one replaces older ones); on release the full render,
        # which cancels a preview still queued or running.
        preview = gr.on([s.input for s in sliders], h["preview"], [state, *sliders], [closeup], api_name="preview",
                        show_progress="hidden", trigger_mode="always_last", **gpu)
        synth.wire(state, canvas, edited, gpu)
        for slider in sliders:
            slider.release(h["attributes"], [state, *sliders], edited, api_name="attributes" if slider is sliders[0]
                           else False, show_progress="minimal", trigger_mode="always_last", cancels=[preview], **gpu)
        reset.click(h["reset"], [state], [*edited, *sliders], api_name="reset", **gpu)
        set_named.click(h["set_attributes"], [state, named], [*edited, *sliders], api_name="set_attributes", **gpu)
        dice.click(_roll_seed, None, seed, api_name=False, queue=False)
        draw.click(h["random"], [seed, psi, mix_layers, mix_seed, state], parse_outputs, api_name="random", **gpu)
        make_gif.click(h["animate"], [state, sweep], [animation], api_name="animate", **gpu)
        make_strips.click(h["entanglement"], [state, sweep, keep], [strips], api_name="entanglement", **gpu)
        undo.click(h["undo"], [state], [*edited, *sliders], api_name="undo", **gpu)
        redo.click(h["redo"], [state], [*edited, *sliders], api_name="redo", **gpu)
        faceswap.wire(state, photo, info, edited, h["parse"], parse_outputs, gpu)
        art_tab.wire(state, edited, parse_outputs, sliders, gpu)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def faceswap_kit() -> PageKit:
    """What the Face swap tab (:mod:`faceedit.ui_faceswap`) borrows from this page."""
    return PageKit(photo_input, _require, _result_outputs, _user_errors, _gpu, ASSETS)


def check_photo_bytes(path: str) -> None:
    """Refuse a photo upload over :data:`MAX_FILE_SIZE` (the app's own limit is the larger checkpoint one)."""
    from gradio.utils import _parse_file_size

    limit = _parse_file_size(MAX_FILE_SIZE) or 0
    size = os.path.getsize(path)
    if size > limit:
        raise gr.Error(f"The photo is {size / 1e6:.1f} MB; photos may be at most {MAX_FILE_SIZE.upper()}. "
                       "Please upload a smaller file.", title="Image too large")
