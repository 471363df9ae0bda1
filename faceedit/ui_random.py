"""The "Random face" tab: a seed (with a dice), ψ, style mixing, an entanglement view, and "send to editor".

:func:`build_random_tab` is called by :func:`faceedit.ui.build_demo` inside its ``gr.Blocks``; the
handlers (:func:`make_random_handlers`) only call :mod:`faceedit.random_faces`, so tests drive them
directly.  Without the StyleGAN2 generator weights (the lite engine) the tab says so plainly and shows
the exact ``python -m faceedit weights fetch`` command.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr
import numpy as np

from faceedit import random_faces as rf

#: Style-mixing choices shown in the tab ("none" = no mixing).
MIX_CHOICES: list[str] = ["none", *rf.LAYER_RANGES]


def _mix(layers: str | None, mix_seed: Any) -> rf.StyleMix | None:
    if not layers or layers == "none":
        return None
    return rf.StyleMix(rf.check_seed(mix_seed, "mix seed"), layers)


def make_random_handlers(engine: str | None = None) -> dict[str, Callable]:
    """Event handlers of the tab, closed over the engine choice (``"lite"`` forbids generation)."""
    from faceedit.ui import _user_errors

    def available() -> bool:
        from faceedit.engines.base import forced_engine

        return (engine or forced_engine()) != "lite" and rf.random_available()

    def status() -> str:
        if not available():
            return (f"**Random faces need the StyleGAN2 generator weights**, which are not installed: the lite "
                    f"engine edits photos but cannot generate faces. Get the weights with\n\n"
                    f"`python -m faceedit weights fetch {rf.GENERATOR_WEIGHTS}`\n\nthen restart the app.")
        return ("Faces come from the StyleGAN2 generator (seeds as in NVIDIA's `generate.py`). Lower ψ gives more "
                "typical faces, 1 the full variety.")

    def dice() -> int:
        return secrets.randbelow(100_000)

    def _face(seed: Any, psi: float, layers: str | None, mix_seed: Any) -> tuple[Any, Any, rf.StyleMix | None]:
        gan = rf.random_engine(engine)
        mix = _mix(layers, mix_seed)
        w = rf.seed_w_plus(gan.generator, rf.check_seed(seed), psi, mix, rf.engine_latent_avg(gan))
        return gan, w, mix

    @_user_errors
    def generate(seed: Any, psi: float, layers: str | None, mix_seed: Any) -> tuple[np.ndarray, str]:
        gan, w, mix = _face(seed, psi, layers, mix_seed)
        image = gan.generate(w, gan.generator.size)
        note = f"seed {rf.check_seed(seed)}, ψ {float(psi):.2f}" + (f", {mix.describe()}" if mix else "")
        return image, f"{note} · {gan.generator.size}×{gan.generator.size} · gan engine on {gan.device}"

    @_user_errors
    def session(seed: Any, psi: float, layers: str | None, mix_seed: Any) -> Any:
        from faceedit.session import Session

        return Session.from_seed(rf.check_seed(seed), truncation=psi, mix=_mix(layers, mix_seed), engine=engine)

    @_user_errors
    def entangle(seed: Any, psi: float, layers: str | None, mix_seed: Any, name: str | None,
                 condition: str | None) -> tuple[np.ndarray, str]:
        from faceedit.errors import InvalidArgumentError

        if not name or not condition:
            raise InvalidArgumentError("Choose a direction and a second attribute to condition it on.")
        gan, w, _ = _face(seed, psi, layers, mix_seed)
        with getattr(gan, "_lock", contextlib.nullcontext()):
            view = rf.entanglement_strips(gan.generator, w, rf.engine_directions(gan), name, condition)
        return view.image, view.describe()

    def direction_names() -> list[str]:
        if not available():
            return []
        with contextlib.suppress(Exception):
            return list(rf.engine_directions(rf.random_engine(engine)).names())
        return []

    return {"available": available, "status": status, "dice": dice, "generate": generate, "session": session,
            "entangle": entangle, "direction_names": direction_names}


def _default_send(session: Any) -> Any:
    """Wrap a generated session as the app's per-user state (its PNG stands for the uploaded photo)."""
    from faceedit.ui import UserState

    state = UserState(session=session, photo="")
    state.photo = state.save_png(session.current.image, f"seed-{session.seed}")
    return state


def send_to_editor(session: Any) -> tuple[Any, ...]:
    """What the app's ``/parse`` event returns, for a generated session: pass it as ``on_send`` with
    ``send_outputs=[state, compare, download, status, canvas, face, info, *sliders]``."""
    from faceedit.device import describe_device
    from faceedit.ui import _slider_updates, badge, editor_value

    state = _default_send(session)
    names = list(session.attribute_names())
    info = {"engine": session.engine_name, "device": describe_device(), "faces": 1, "face_index": 0,
            "size": list(session.original.shape[:2]), "attributes": names, "generated": session.describe()}
    return (
        state,
        (session.original, session.original),
        state.photo,
        badge(session.current.engine, session.current.device, f"{session.describe()}: paint, swap or slide."),
        editor_value(session.crop, session.labels),
        gr.update(choices=[], value=None, visible=False),
        info,
        *_slider_updates(names),
    )


def build_random_tab(state: gr.State, on_send: Callable[[Any], Any] | None = None,
                     send_outputs: Sequence[Any] | None = None, engine: str | None = None,
                     gpu: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the "Random face" tab's contents in the current Blocks context; returns its components.

    "Send to editor" builds a :class:`~faceedit.random_faces.GeneratedSession` and passes it to
    ``on_send(session)``, whose return values go to ``send_outputs`` (default: the session wrapped
    as the app's ``UserState`` into ``state``).  ``gpu`` holds the queue options of model events.
    """
    h = make_random_handlers(engine)
    gpu = gpu or {}
    names = h["direction_names"]()
    with gr.Tab("Random face", id="random"):
        status = gr.Markdown(h["status"](), elem_id="fe-random-status")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=300):
                with gr.Row():
                    seed = gr.Number(42, label="Seed", precision=0, minimum=0, maximum=rf.MAX_SEED,
                                     elem_id="fe-random-seed")
                    dice = gr.Button("🎲", size="sm", min_width=60, elem_id="fe-random-dice")
                psi = gr.Slider(0.0, 1.0, value=0.7, step=0.05, label="Truncation ψ (0 = the average face)",
                                elem_id="fe-random-psi")
                with gr.Row():
                    mix = gr.Radio(MIX_CHOICES, value="none", label="Style mixing: take these layers",
                                   elem_id="fe-random-mix")
                    mix_seed = gr.Number(7, label="from seed", precision=0, minimum=0, maximum=rf.MAX_SEED,
                                         elem_id="fe-random-mix-seed")
                generate = gr.Button("Generate", variant="primary", interactive=h["available"](),
                                     elem_id="fe-random-generate")
                send = gr.Button("Send to editor →", interactive=h["available"](), elem_id="fe-random-send")
            with gr.Column(scale=6, min_width=320):
                image = gr.Image(label="Generated face", type="numpy", format="png", interactive=False,
                                 height=420, elem_id="fe-random-image")
                note = gr.Markdown("", elem_id="fe-random-note")
        with gr.Accordion("Entanglement: plain vs conditioned direction (α = −3…+3)", open=False):
            with gr.Row():
                direction = gr.Dropdown(names, value=names[0] if names else None, label="Direction",
                                        elem_id="fe-random-direction")
                condition = gr.Dropdown(names, value=names[1] if len(names) > 1 else None,
                                        label="Keep this attribute", elem_id="fe-random-condition")
                show = gr.Button("Show strips", interactive=h["available"](), elem_id="fe-random-show")
            strips = gr.Image(label="Top: plain · bottom: conditioned", type="numpy", format="png",
                              interactive=False, elem_id="fe-random-strips")
            strips_note = gr.Markdown("")
    face_inputs = [seed, psi, mix, mix_seed]
    generate.click(h["generate"], face_inputs, [image, note], api_name="random_face", **gpu)
    dice.click(h["dice"], None, seed, api_name=False).then(h["generate"], face_inputs, [image, note], **gpu)
    show.click(h["entangle"], [*face_inputs, direction, condition], [strips, strips_note],
               api_name="random_entangle", **gpu)
    if on_send is None:
        on_send, send_outputs = _default_send, [state]

    def send_fn(*args: Any) -> Any:
        return on_send(h["session"](*args))

    send.click(send_fn, face_inputs, list(send_outputs or []), api_name="random_send", **gpu)
    return {"status": status, "seed": seed, "dice": dice, "psi": psi, "mix": mix, "mix_seed": mix_seed,
            "generate": generate, "send": send, "image": image, "note": note, "direction": direction,
            "condition": condition, "show": show, "strips": strips, "handlers": h}
