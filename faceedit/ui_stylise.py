"""The page's "Art styles" tab: the photo in an art style, an artwork edited in G_B, a style trained from one image.

Wiring only: the work is done by :mod:`faceedit.art` (style picker, stylise, artworks, training) through the
Session.  :func:`build_stylise_tab` makes the components inside the page's Tabs block; :meth:`ArtTab.wire`
connects them once the page's shared outputs exist.  The page hands in its own helpers (``page``: the
:mod:`faceedit.ui` module: per-user state, error handling, result views), so this module does not import it.  Named endpoints: ``/stylise`` (style, strength, slider
values by name), ``/stylise_gallery``, ``/artwork``, ``/stylise_animate``, ``/train_style``.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr

from faceedit import art
from faceedit.editors.composer import Composer
from faceedit.errors import InvalidArgumentError

#: Side of the gallery's thumbnails.
THUMB_SIDE = 192


def style_choices(composer: Composer, engine: str | None = None) -> list[tuple[str, str]]:
    """(label, id) of every style the picker offers, the engine in the label."""
    return [(f"{s.label} [{s.engine}]" if s.engine == "gan" else s.label, s.id)
            for s in art.available_styles(composer, engine)]


def note_html(composer: Composer, engine: str | None = None) -> str:
    """What this server offers, and what the GAN styles need when they are absent."""
    has_gan = any(s.engine == "gan" for s in art.available_styles(composer, engine))
    text = ("GAN styles: the photo is inverted once (e4e) and redrawn by the chosen art generator; the Attributes "
            "sliders then move the face in that style." if has_gan else
            "Offline: the lite styles (OpenCV painterly, pencil sketch, cartoon) are classical image filters, "
            "labelled lite. " + art.GAN_STYLES_HINT)
    shown = re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))
    return f'<div class="fe-note" id="fe-art-note">{shown}</div>'


@dataclass
class ArtTab:
    """The tab's components and handlers (see the module docstring)."""

    composer: Composer
    layout: list[tuple[str, int]]
    page: Any  # faceedit.ui: UserState, photo_input, _user_errors, _result_outputs, ...
    engine: str | None = None  # the page's engine choice ("lite" lists only the lite styles)
    style: Any = None
    strength: Any = None

    def build(self) -> ArtTab:
        U = self.page
        gr.HTML(note_html(self.composer, self.engine))
        choices = style_choices(self.composer, self.engine)
        with gr.Row(equal_height=True):
            self.style = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Style",
                                     allow_custom_value=True, interactive=True, elem_id="fe-style")
            self.strength = gr.Slider(0.0, 1.0, value=1.0, step=0.05, elem_id="fe-strength",
                                      label="Strength (0 = your photo, 1 = the full style)")
            self.refresh = gr.Button("↻ Styles", size="sm", scale=0, min_width=90, elem_id="fe-style-refresh")
        self.values = gr.JSON(value={}, visible=False, label="Slider values by name")  # the /stylise input
        self.apply = gr.Button("Stylise", variant="primary", elem_id="fe-stylise")
        gr.Markdown("Then move the sliders of the **Attributes** tab: with a GAN style each move re-renders the "
                    "face in the style (one generator pass).")
        with gr.Accordion("Gallery: your face in every style", open=False):
            self.show_gallery = gr.Button("Show the gallery", elem_id="fe-art-gallery-button")
            self.gallery = gr.Gallery(label="Your face in each style", columns=4, height=THUMB_SIDE * 2,
                                      elem_id="fe-art-gallery")
        with gr.Accordion("Edit an artwork (a painting or cartoon face)", open=False):
            with gr.Row(equal_height=False):
                self.artwork = U.photo_input(label="Artwork", sources=["upload", "clipboard"], height=260,
                                             elem_id="fe-artwork")
                self.compare = gr.ImageSlider(label="Its inversion: photo generator (left) vs. the style (right)",
                                              type="numpy", format="png", interactive=False, max_height=320,
                                              elem_id="fe-art-compare")
            self.open_artwork = gr.Button("Open the artwork in the chosen style", elem_id="fe-artwork-open")
            with gr.Row(equal_height=False):
                self.sweep = gr.Dropdown(["smile"], value="smile", allow_custom_value=True, label="Slider",
                                         elem_id="fe-art-sweep")
                self.make_gif = gr.Button("Export the slider animation (GIF)", elem_id="fe-art-gif")
            self.animation = gr.Image(label="The face along the slider, in the style", type="filepath",
                                      format="gif", interactive=False, height=280, elem_id="fe-art-animation")
        with gr.Accordion("Train a style from one image (DiFa)", open=False):
            with gr.Row(equal_height=False):
                self.target = U.photo_input(label="Reference artwork", sources=["upload"], height=220,
                                            elem_id="fe-train-target")
                with gr.Column():
                    self.train = gr.Button("Train a style from this image", elem_id="fe-train")
                    self.train_status = gr.Markdown("Needs a CUDA GPU; on a CPU the page says how long it "
                                                    "would take instead of starting.", elem_id="fe-train-status")
        return self

    # ------------------------------------------------------------------ handlers
    def handlers(self) -> dict[str, Any]:
        composer, layout, engine, U = self.composer, self.layout, self.engine, self.page

        @U._gpu
        @U._user_errors
        def stylise(state: Any, style: str | None, strength: float, values: Any,
                    progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008 - gradio's idiom
            state = U._require(state)
            progress(0.2, desc="Stylising…")
            result = art.stylise(state.session, style, float(strength), U.parse_named_values(values or {}),
                                 engine)
            return (*U._result_outputs(state, result, "stylised"), *U._session_sliders(state, layout))

        @U._gpu
        @U._user_errors
        def gallery(state: Any, strength: float,
                    progress: gr.Progress = gr.Progress()) -> list[tuple[str, str]]:  # noqa: B008
            state = U._require(state)
            progress(0.1, desc="Rendering your face in every style…")
            items = art.style_gallery(state.session, float(strength), engine=engine)
            return [(state.save_png(img, "style"), label) for img, label in items]

        @U._gpu
        @U._user_errors
        def artwork(image: str | None, style: str | None, old: Any,
                    progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
            if image is None:
                raise InvalidArgumentError("Upload a painting or cartoon face first.")
            progress(0.1, desc="Finding the face, aligning, inverting…")
            session, (img_a, img_b) = art.open_artwork(image, style, composer, engine=engine)
            U.free_state(old)
            state = U.UserState(session=session, photo=image)
            opened = U._opened(state, "Artwork opened: its inversion in the style; the sliders edit it there.",
                               {"artwork": True, "style": style}, layout)
            shown = U._result_outputs(state, session.current, "artwork")  # the artwork in the style
            out = list(opened)
            out[1:5], out[-1] = shown[1:5], shown[5]
            return (*out, (img_a, img_b))

        @U._gpu
        @U._user_errors
        def animate(state: Any, name: str | None,
                    progress: gr.Progress = gr.Progress()) -> str:  # noqa: B008
            state = U._require(state)
            progress(0.1, desc=f"Rendering {U.ANIMATION_FRAMES} frames along {name}…")
            return state.save_gif(U.sweep_frames(state.session, name, U.ANIMATION_FRAMES), f"art-sweep-{name}")

        @U._user_errors
        def train(target: str | None, progress: gr.Progress = gr.Progress()) -> tuple[str, Any]:  # noqa: B008
            if target is None:
                raise InvalidArgumentError("Upload the artwork to learn the style from.")

            def report(i: int, n: int, metrics: dict[str, float]) -> None:
                progress((i + 1) / n, desc=f"DiFa step {i + 1}/{n}, loss {metrics['loss']:.3f}")

            done = art.train_style(target, progress=report)
            if isinstance(done, str):  # no GPU: the estimate, nothing started
                return done, gr.update()
            return (f"Trained: `{done.parent.name}` is now in the style list.",
                    gr.update(choices=style_choices(composer, engine), value=f"trained:{done.parent.name}"))

        def refresh() -> Any:
            return gr.update(choices=style_choices(composer, engine))

        return {"stylise": stylise, "gallery": gallery, "artwork": artwork, "animate": animate, "train": train,
                "refresh": refresh}

    def wire(self, state: Any, edited: list[Any], parse_outputs: list[Any], sliders: list[Any],
             gpu: dict[str, Any]) -> None:
        """Connect the tab to the page's state and shared outputs."""
        h = self.handlers()
        self.apply.click(h["stylise"], [state, self.style, self.strength, self.values], [*edited, *sliders],
                         api_name="stylise", **gpu)
        self.show_gallery.click(h["gallery"], [state, self.strength], [self.gallery], api_name="stylise_gallery",
                                **gpu)
        self.open_artwork.click(h["artwork"], [self.artwork, self.style, state], [*parse_outputs, self.compare],
                                api_name="artwork", **gpu)
        self.make_gif.click(h["animate"], [state, self.sweep], [self.animation], api_name="stylise_animate", **gpu)
        self.train.click(h["train"], [self.target], [self.train_status, self.style], api_name="train_style",
                         concurrency_id="train", concurrency_limit=1)
        self.refresh.click(h["refresh"], None, [self.style], api_name=False, queue=False)


def build_stylise_tab(composer: Composer, layout: list[tuple[str, int]], page: Any,
                      engine: str | None = None) -> ArtTab:
    """The "Art styles" tab's components (call inside the page's Tabs block); wire them with :meth:`ArtTab.wire`.

    ``page``: the page module (:mod:`faceedit.ui`), whose helpers the handlers use."""
    with gr.Tab("Art styles", id="art"):
        return ArtTab(composer, layout, page, engine).build()
