"""The page's Batch tab: several photos or a zip in, one zip of results out, with progress.

One operation runs on every photo with the page's composer (models loaded once, shared): the slider
values of the photo being edited (or values typed as JSON), or a swap of components from a reference
portrait.  A file that cannot be used is skipped and named in the summary (and in ``summary.txt`` inside
the zip).  The work itself is :func:`faceedit.batch.zip_batch`; this module only wires the components.
Named endpoint: ``/batch``.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

import gradio as gr

from faceedit.batch import edit_process, parse_faces, swap_process, zip_batch
from faceedit.editors.composer import Composer
from faceedit.errors import InvalidArgumentError
from faceedit.labels import COMPONENTS

#: What the batch runs on every photo.
MODES: tuple[str, ...] = ("sliders", "swap")


def batch_values(values: dict[str, float], session: Any, composer: Composer, engine: str | None) -> dict[str, float]:
    """Slider values for the batch: ``values`` when given, else the current session's non-zero sliders."""
    if not values and session is not None:
        values = {k: v for k, v in session.values.items() if v != 0}
    if not values:
        raise InvalidArgumentError("Set some sliders first (on the Attributes tab, or as JSON here, e.g. "
                                   "{\"smile\": 1.5}): with every slider at 0 the photos would not change.")
    return composer.attributes(composer.engine_for("attributes", engine)).check_values(values)


def run_batch_tab(files: list[str] | None, mode: str, values: dict[str, float], reference: str | None,
                  components: list[str] | None, faces: str, session: Any, composer: Composer,
                  engine: str | None, progress: Any = None) -> tuple[str, str]:
    """The zip of results and the summary text (see the module docstring)."""
    if not files:
        raise InvalidArgumentError("Add some photos (image files, or a zip of them) to the batch.")
    if mode not in MODES:
        raise InvalidArgumentError(f"Choose what the batch does: {', '.join(MODES)}; got {mode!r}.")
    face = parse_faces(faces or "largest")
    if mode == "swap":
        if reference is None:
            raise InvalidArgumentError("Upload a reference portrait to take the components from.")
        if not components:
            raise InvalidArgumentError(f"Tick at least one component to swap: {', '.join(COMPONENTS)}.")
        process, tag = swap_process(reference, list(components), engine=engine, composer=composer), "swapped"
    else:
        process, tag = edit_process(batch_values(values, session, composer, engine), engine=engine,
                                    composer=composer), "edited"
    out = Path(tempfile.mkdtemp(prefix="faceedit-batch-")) / f"faceedit-batch-{uuid.uuid4().hex[:8]}.zip"
    if progress is not None:
        progress(0.0, desc=f"{len(files)} upload(s): starting…")

    def step(done: int, total: int, name: str) -> None:
        if progress is not None:
            progress(done / max(total, 1), desc=f"{done} of {total} photos done (last: {name})")

    report = zip_batch(files, process, out, tag=tag, faces=face, progress=step)
    return str(out), report.summary()


def build_batch_tab(ctx: dict[str, Any]) -> None:
    """The Batch tab, inside the page's ``gr.Tabs``.

    ``ctx``: ``composer`` and ``engine`` (the page's), ``state`` (the ``gr.State`` of the user's
    session), ``photo_input`` (the page's upload component factory), ``errors`` (its error wrapper),
    ``gpu`` (its concurrency options), ``on_device`` (its ZeroGPU wrapper), ``parse_values`` (slider values
    from JSON text).
    """
    composer, engine, state = ctx["composer"], ctx["engine"], ctx["state"]
    with gr.Tab("Batch", id="batch"):
        gr.Markdown("Run one edit on many photos: add image files or a zip, choose the edit, and download a "
                    "zip of the results. A photo that cannot be used is skipped and named in the summary.")
        with gr.Row(equal_height=False):
            with gr.Column():
                files = gr.File(label="Photos (images or a zip)", file_count="multiple", type="filepath",
                                file_types=["image", ".zip"], elem_id="fe-batch-files")
                mode = gr.Radio(list(MODES), value="sliders", label="Edit",
                                info="sliders: the values set on the Attributes tab (or the JSON below); "
                                     "swap: components from the reference", elem_id="fe-batch-mode")
                values = gr.Textbox(label="Slider values (JSON, optional)", placeholder='{"smile": 1.5}',
                                    elem_id="fe-batch-values")
                faces = gr.Dropdown(["largest", "all", "1", "2"], value="largest", label="Faces per photo",
                                    allow_custom_value=True, elem_id="fe-batch-faces")
            with gr.Column():
                reference = ctx["photo_input"](label="Reference portrait (swap)", sources=["upload", "clipboard"],
                                               height=220, elem_id="fe-batch-reference")
                parts = gr.CheckboxGroup(list(COMPONENTS), value=["eyes"], label="Components (swap)",
                                         elem_id="fe-batch-parts")
        run = gr.Button("Run the batch", variant="primary", elem_id="fe-batch-run")
        with gr.Row():
            result = gr.File(label="Results (zip)", interactive=False, elem_id="fe-batch-zip")
            summary = gr.Textbox(label="Summary", lines=4, interactive=False, elem_id="fe-batch-summary")

    @ctx["on_device"]
    @ctx["errors"]
    def handler(files: list[str] | None, mode: str, values: Any, reference: str | None, parts: list[str] | None,
                faces: str, user: Any, progress: gr.Progress = gr.Progress()) -> tuple[str, str]:  # noqa: B008
        session = getattr(user, "session", None)
        named = ctx["parse_values"](values) if values not in (None, "") else {}
        return run_batch_tab(files, mode, named, reference, parts, faces, session, composer, engine, progress)

    run.click(handler, [files, mode, values, reference, parts, faces, state], [result, summary],
              api_name="batch", **ctx["gpu"])
