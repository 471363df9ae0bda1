"""The entanglement view for the Gradio page: one direction at α = −3…+3, plain vs conditioned.

:func:`build_entanglement_view` adds the block inside the current ``gr.Blocks`` context (the app calls it
in its "Random face" or "Attributes" tab); it reads the session from the app's per-user ``gr.State``
(:class:`faceedit.ui.UserState`) and only calls :func:`faceedit.random_faces.entanglement_view`.
On the lite engine it says plainly that the view needs the GAN engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gradio as gr
import numpy as np

from faceedit import random_faces as rf


def _session(state: Any) -> Any:
    from faceedit.errors import InvalidArgumentError

    session = getattr(state, "session", None)
    if session is None:
        raise InvalidArgumentError("Open a face first: upload a portrait or draw a random face.")
    return session


def make_entanglement_handlers() -> dict[str, Callable]:
    """``choices(state)`` (dropdown updates from the session's sliders) and ``show(state, name, keep)``."""
    from faceedit.ui import _user_errors

    def choices(state: Any) -> tuple[Any, Any]:
        session = getattr(state, "session", None)
        names = list(session.attribute_names()) if session is not None else []
        return (gr.update(choices=names, value=names[0] if names else None),
                gr.update(choices=names, value=names[1] if len(names) > 1 else None))

    @_user_errors
    def show(state: Any, name: str | None, keep: str | None) -> tuple[np.ndarray, str]:
        view = rf.entanglement_view(_session(state), name or "", keep or "")
        return view.image, view.describe()

    return {"choices": choices, "show": show}


def build_entanglement_view(state: gr.State, gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """The "What does conditioning remove?" block; returns its components (``refresh`` is chainable:
    ``event.then(parts["handlers"]["choices"], state, [parts["direction"], parts["keep"]])``)."""
    h = make_entanglement_handlers()
    with gr.Accordion("Entanglement: a direction alone vs. with another attribute kept (α = −3…+3)", open=False):
        gr.Markdown("Moving one attribute often drags another along (e.g. age greys the hair *and* removes "
                    "the smile). The top row moves the direction as is; the bottom row moves it made orthogonal "
                    "to the attribute you keep (InterfaceGAN's conditional editing). Needs the GAN engine.")
        with gr.Row():
            direction = gr.Dropdown([], label="Direction", allow_custom_value=True, elem_id="fe-ent-direction")
            keep = gr.Dropdown([], label="Keep this attribute", allow_custom_value=True, elem_id="fe-ent-keep")
            refresh = gr.Button("↻ Sliders of this face", size="sm", elem_id="fe-ent-refresh")
            show = gr.Button("Show strips", variant="primary", elem_id="fe-ent-show")
        strips = gr.Image(label="Top: plain · bottom: conditioned", type="numpy", format="png", interactive=False,
                          elem_id="fe-ent-strips")
        note = gr.Markdown("", elem_id="fe-ent-note")
    refresh.click(h["choices"], [state], [direction, keep], api_name=False)
    show.click(h["show"], [state, direction, keep], [strips, note], api_name="entanglement", **(gpu or {}))
    return {"direction": direction, "keep": keep, "refresh": refresh, "show": show, "strips": strips,
            "note": note, "handlers": h}
