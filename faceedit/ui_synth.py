"""The paint tab's "new faces for this map" section: templates, N variations in a gallery, pick one.

The page calls :func:`build_synth_section` inside the paint tab, handing it the page module itself (its
helpers: ``UserState``, ``_user_errors``, ``_result_outputs``, ...; this module never imports the page, so
there is no import cycle) and, once every component exists, :meth:`SynthSection.wire`.  Model work happens in :mod:`faceedit.synth` and the ``synthesise`` editors; this
module only moves values between components and those functions.  Endpoints: ``/synthesise`` (draw the
gallery), ``/take_synthesised`` (make gallery item ``k`` the current result) and ``/synth_template`` (put a
starting map on the canvas).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np

from faceedit import labels as L
from faceedit.editors.synthesise import BACKGROUND_MODES
from faceedit.errors import InvalidArgumentError
from faceedit.synth import MODELS, SYNTH_HINT

#: The photo's own map, then the templates of :func:`faceedit.synth.templates` (computed on first use).
PHOTO_MAP = "this photo's map"
TEMPLATE_NAMES = ("blank canvas", "example: astronaut", "example: grace hopper", "mean of the examples")
#: Most faces one click draws on the page.
PAGE_MAX = 16


def synth_note() -> str:
    """What the section says on a server without the weights."""
    return f"**{SYNTH_HINT}**"


def _base(state: Any, start: Any) -> np.ndarray | None:
    """The starting map the canvas holds: a template chosen for this session, else the session's map."""
    session = getattr(state, "session", None)
    if isinstance(start, dict) and start.get("session") == id(session):
        return start["labels"]
    return session.labels if session is not None else None


def canvas_labels(page: Any, value: dict[str, Any] | None, base: np.ndarray) -> np.ndarray:
    """The map on the canvas: ``base`` with any paint on top (unpainted = ``base``); ``page``: the page module."""
    layers = [np.asarray(x) for x in (value or {}).get("layers") or [] if x is not None]
    if not any(x.ndim == 3 and x.shape[2] == 4 and (x[..., 3] >= page.PAINT_ALPHA_THRESHOLD).any() for x in layers):
        return base
    try:
        return page.painted_labels(value, base)
    except InvalidArgumentError:  # paint that changes no class
        return base


@dataclass
class SynthSection:
    """The section's components and its handlers (closed over the process's composer)."""

    composer: Any
    available: bool
    start: Any = None
    put: Any = None
    n: Any = None
    seed: Any = None
    model: Any = None
    background: Any = None
    go: Any = None
    gallery: Any = None
    pick_index: Any = None
    take: Any = None
    template: Any = None  # gr.State: {"labels", "session"} of a chosen template
    drawn: Any = None  # gr.State: what the gallery shows (map, seeds, model, background, session)
    note: Any = None  # "needs the mask painting preset", shown while no GAN synthesiser is installed
    handlers: dict[str, Callable] = field(default_factory=dict)

    def gates(self) -> list[tuple[Any, str, str]]:
        """What the Models tab updates when a synthesiser arrives: the button enabled, the note hidden."""
        return [(self.go, "synthesise", "enable"), (self.note, "synthesise", "hide")]

    def wire(self, state: Any, canvas: Any, edited: list[Any], gpu: dict[str, Any]) -> None:
        """Connect the section to the page's session state, canvas and result outputs."""
        h = self.handlers
        self.put.click(h["template"], [state, self.start], [canvas, self.template], api_name="synth_template")
        self.go.click(h["synthesise"], [state, canvas, self.template, self.n, self.seed, self.model, self.background],
                      [self.gallery, self.drawn], api_name="synthesise", **gpu)
        self.take.click(h["take"], [state, self.drawn, self.pick_index], edited, api_name="take_synthesised", **gpu)
        self.gallery.select(h["select"], [state, self.drawn], edited, api_name=False, **gpu)


def build_synth_section(composer: Any, page: Any) -> SynthSection:
    """The components (inside the paint tab's block) and handlers; call :meth:`SynthSection.wire` afterwards.

    ``page``: the page module :mod:`faceedit.ui` (its per-user state and error/result helpers).
    """
    editors = composer.editors_for("synthesise", "gan")
    sec = SynthSection(composer, bool(editors))
    with gr.Accordion("New faces for this map", open=False, elem_id="fe-synth"):
        sec.note = gr.Markdown(synth_note(), elem_classes="fe-warn", elem_id="fe-synth-note",
                               visible=not sec.available)
        gr.Markdown("Draw several new faces that follow the map on the canvas (paint on it first, or start from "
                    "a template), then click one to make it the current result. The same seed gives the same "
                    "face on any machine; face k uses seed + k.")
        with gr.Row(equal_height=True):
            sec.start = gr.Dropdown([PHOTO_MAP, *TEMPLATE_NAMES], value=PHOTO_MAP, label="Start from",
                                    elem_id="fe-synth-start")
            sec.put = gr.Button("Put this map on the canvas", elem_id="fe-synth-put")
        with gr.Row(equal_height=True):
            sec.n = gr.Slider(1, PAGE_MAX, value=4, step=1, label="Faces", elem_id="fe-synth-n")
            sec.seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="fe-synth-seed")
            sec.model = gr.Dropdown([(MODELS[e.key], e.key) for e in editors] or [(name, key) for key, name in
                                                                                   MODELS.items()],
                                    value=editors[0].key if editors else "gu", label="Model", elem_id="fe-synth-model")
            sec.background = gr.Radio(list(BACKGROUND_MODES), value="photo", label="Background",
                                      info="photo: keep the photo's background; generated: the network's own "
                                           "(used when there is no photo)", elem_id="fe-synth-background")
        sec.go = gr.Button("New faces for this map", variant="primary", interactive=sec.available,
                           elem_id="fe-synth-go")
        sec.gallery = gr.Gallery(label="Click a face to make it the current result", columns=4, height=300,
                                 allow_preview=False, format="png", elem_id="fe-synth-gallery")
        sec.pick_index = gr.Number(value=0, precision=0, visible=False)
        sec.take = gr.Button(visible=False)
        sec.template, sec.drawn = gr.State(None), gr.State(None)
    sec.handlers = _handlers(composer, page)
    return sec


def _handlers(composer: Any, page: Any) -> dict[str, Callable]:
    from faceedit import synth

    _gpu, _user_errors = page._gpu, page._user_errors

    @_user_errors
    def template(state: Any, name: str | None) -> tuple[Any, Any]:
        session = getattr(state, "session", None)
        if name == PHOTO_MAP or name is None:
            if session is None:
                raise InvalidArgumentError("Upload a portrait first, or start from a template.")
            labels = session.labels
        else:
            found = synth.templates()
            if name not in found:
                raise InvalidArgumentError(f"Unknown starting map {name!r}; choose from: {', '.join(found)}.")
            labels = found[name]
        picture = page.label_overlay(session.crop, labels) if session is not None else L.labels_to_color(labels)
        return ({"background": picture, "layers": [], "composite": None},
                {"labels": labels, "session": id(session)})

    @_gpu
    @_user_errors
    def synthesise(state: Any, canvas: dict[str, Any] | None, start: Any, n: float, seed: float | None,
                   model: str | None, background: str) -> tuple[Any, Any]:
        base = _base(state, start)
        if base is None:
            raise InvalidArgumentError("Upload a portrait, or put a template map on the canvas first.")
        if seed is None:
            raise InvalidArgumentError("Enter a seed (a whole number).")
        labels = canvas_labels(page, canvas, base)
        session = getattr(state, "session", None)
        mode = background if session is not None else "generated"
        photo = session.crop if session is not None and mode == "photo" else None
        drawn = synth.synthesise(composer, labels, int(n), int(seed), model, mode, photo)
        key = synth.synthesiser(composer, model).key
        return ([(v.image, f"seed {v.seed}") for v in drawn],
                {"labels": labels, "seeds": [v.seed for v in drawn], "model": key, "background": mode,
                 "session": id(session) if session is not None else None})

    @_gpu
    @_user_errors
    def take(state: Any, drawn: Any, index: float | None) -> tuple[Any, ...]:
        if not isinstance(drawn, dict) or not drawn.get("seeds"):
            raise InvalidArgumentError("Draw new faces first.")
        k = int(index or 0)
        if not 0 <= k < len(drawn["seeds"]):
            raise InvalidArgumentError(f"Pick a face 0..{len(drawn['seeds']) - 1}; got {k}.")
        seed, session = drawn["seeds"][k], getattr(state, "session", None)
        if session is not None and drawn["session"] == id(session):
            st = page._require(state)
            result = synth.take(session, drawn["labels"], seed, drawn["model"], drawn["background"])
            return page._result_outputs(st, result, "synthesised")
        face = synth.synthesise(composer, drawn["labels"], 1, seed, drawn["model"], "generated")[0]
        ed = synth.synthesiser(composer, drawn["model"])
        session = synth.session_from_image(face.image, face.labels, composer, ed, f"new face by {ed.name}, seed {seed}")
        st = page.UserState(session=session, photo="")
        st.before = st.save_png(st.session.original, "original")
        st.before_crop = st.save_png(st.session.crop, "original-face")
        page.free_state(state)
        return page._result_outputs(st, st.session.current, "synthesised")

    def select(state: Any, drawn: Any, evt: gr.SelectData) -> tuple[Any, ...]:
        return take(state, drawn, evt.index)

    return {"template": template, "synthesise": synthesise, "take": take, "select": select}
