"""The page's **Face swap** tab: a source portrait's face (identity) on the face being edited.

Components and handlers only; the work is :meth:`faceedit.session.Session.run` with operation ``face_swap``
(FaceShifter with GHOST's weights when installed, else the lite mesh swap).  The result goes to the page's
shared views (before/after, close-up, download, badge), so undo/redo work as for every edit.

The page calls :func:`build_faceswap_tab` inside its tabs (components) and, once its shared outputs exist,
:meth:`FaceSwapTab.wire` (events).  Endpoint: ``/face_swap`` (state, source file, source face number, strength).
What the tab shares with the page (its error handling, its result views) comes in a :class:`PageKit` that
:mod:`faceedit.ui` hands over, so this module never imports the page.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from faceedit.editors.composer import Composer
from faceedit.errors import InvalidArgumentError

#: What the tab says about the method, per engine.
GAN_NOTE = ("**FaceShifter** (AEI-Net on GHOST's 2-block weights, ArcFace identity). HEAR-Net, the paper's "
            "occlusion refinement, is not used: no weights for it are published.")
LITE_NOTE = ("**Lite face swap**: the source face warped onto your face's mesh, colour matched and blended inside "
             "the face; hair, ears and background stay yours. For FaceShifter, fetch its weights: "
             "`python -m faceedit weights fetch --preset faceswap`.")


@dataclass(frozen=True)
class PageKit:
    """The page's shared pieces the tab uses (see :mod:`faceedit.ui`): handed over, never imported."""

    photo_input: Callable[..., Any]  # an upload that hands the file path to the backend unopened
    require: Callable[[Any], Any]  # the user's state, or an error asking for a portrait first
    result_outputs: Callable[..., tuple[Any, ...]]  # (state, before/after, download, badge, canvas, close-up)
    user_errors: Callable[[Callable], Callable]  # backend errors shown as messages
    gpu: Callable[[Callable], Callable]  # ZeroGPU wrapper on Spaces, else the function itself
    assets: Path  # the example photos


def face_choices(count: int) -> list[tuple[str, int]]:
    """Dropdown choices for a photo with ``count`` faces (largest first), as the page's face picker shows them."""
    return [(f"Face {i + 1}" + (" (largest)" if i == 0 else ""), i) for i in range(count)]


def count_faces(photo: str) -> int:
    """How many faces the backend finds in a photo (raises its typed errors for a bad file)."""
    from faceedit.imaging import load_image
    from faceedit.landmarks import detect_faces

    return len(detect_faces(load_image(photo)))


def swap_details(result: Any) -> dict[str, Any]:
    """What the tab (and the endpoint) report beside the images."""
    return {"engine": result.engine, "device": result.device,
            "identity_similarity": result.scores.get("identity_similarity"), "message": result.message}


def make_faceswap_handlers(engine: str | None, composer: Composer, kit: PageKit) -> dict[str, Any]:
    """The tab's handlers, closed over the page's engine choice and composer (like :func:`faceedit.ui.make_handlers`)."""

    @kit.gpu
    @kit.user_errors
    def face_swap(state: Any, source: str | None, source_face: Any = 0, strength: Any = 1.0,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio's idiom
        state = kit.require(state)
        if source is None:
            raise InvalidArgumentError("Upload a source portrait: the face whose identity goes onto yours.")
        progress(0.2, desc="Swapping the face…")
        result = state.session.run("face_swap", engine=engine, source=source, source_face=source_face or 0,
                                   strength=1.0 if strength is None else strength)
        return (*kit.result_outputs(state, result, "faceswap"), swap_details(result))

    @kit.user_errors
    def source_faces(source: str | None) -> Any:
        if source is None:
            return gr.update(choices=[], value=None, visible=False)
        n = count_faces(source)
        if n == 0:
            raise InvalidArgumentError("No face was found in the source photo. Use a source photo where a face is "
                                       "clearly visible, roughly frontal and not too small.")
        return gr.update(choices=face_choices(n), value=0, visible=n > 1)

    def target_faces(info: dict[str, Any] | None) -> Any:
        n = int((info or {}).get("faces") or 0)
        return gr.update(choices=face_choices(n), value=int((info or {}).get("face_index") or 0), visible=n > 1)

    return {"face_swap": face_swap, "source_faces": source_faces, "target_faces": target_faces}


@dataclass
class FaceSwapTab:
    """The tab's components and handlers; :meth:`wire` connects them to the page."""

    handlers: dict[str, Any]
    source: Any
    source_face: Any
    target_face: Any
    strength: Any
    run: Any
    details: Any

    def wire(self, state: Any, photo: Any, info: Any, edited: list[Any], parse: Any, parse_outputs: list[Any],
             gpu: dict[str, Any]) -> None:
        """Events: the swap (``/face_swap``), the strength slider (a re-blend), both face pickers."""
        h = self.handlers
        inputs = [state, self.source, self.source_face, self.strength]
        outputs = [*edited, self.details]
        self.run.click(h["face_swap"], inputs, outputs, api_name="face_swap", **gpu)
        self.strength.release(h["face_swap"], inputs, outputs, api_name=False, show_progress="minimal",
                              trigger_mode="always_last", **gpu)
        self.source.change(h["source_faces"], [self.source], [self.source_face], api_name=False)
        info.change(h["target_faces"], [info], [self.target_face], api_name=False, queue=False)
        self.target_face.input(parse, [photo, self.target_face, state], parse_outputs, api_name=False, **gpu)


def build_faceswap_tab(engine: str | None, composer: Composer, kit: PageKit) -> FaceSwapTab:
    """The **Face swap** tab's components (call inside the page's ``gr.Tabs``); wire it with :meth:`FaceSwapTab.wire`."""
    gan = engine != "lite" and composer.can("face_swap", "gan")
    with gr.Tab("Face swap", id="faceswap"):
        gr.Markdown("Put the face of a **source** portrait on the face you are editing: its pose, expression, "
                    "lighting, hair and background stay. " + (GAN_NOTE if gan else LITE_NOTE),
                    elem_id="fe-fs-note")
        with gr.Row(equal_height=False):
            with gr.Column():
                source = kit.photo_input(label="Source portrait (whose face is used)", sources=["upload", "clipboard"],
                                     height=300, elem_id="fe-fs-source")
                gr.Examples(examples=[[str(kit.assets / "grace_hopper.jpg")], [str(kit.assets / "astronaut.png")]],
                            inputs=[source], label="Source examples")
            with gr.Column():
                source_face = gr.Dropdown(label="Several faces in the source: use this one", choices=[],
                                          visible=False, interactive=True, allow_custom_value=True,
                                          elem_id="fe-fs-source-face")
                target_face = gr.Dropdown(label="Several faces in your portrait: replace this one", choices=[],
                                          visible=False, interactive=True, allow_custom_value=True,
                                          elem_id="fe-fs-target-face")
                strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, label="Blend strength (0 = your face, "
                                     "1 = the full swap)", elem_id="fe-fs-strength")
                run = gr.Button("Swap face", variant="primary", elem_id="fe-fs-run")
                details = gr.JSON(label="Engine and identity similarity (ArcFace cosine, when installed)",
                                  elem_id="fe-fs-details")
    return FaceSwapTab(make_faceswap_handlers(engine, composer, kit), source, source_face, target_face, strength, run,
                       details)
