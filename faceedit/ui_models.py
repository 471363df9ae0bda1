"""The page's Models tab: what each preset and model family unlocks, costs and is licensed under; download,
cancel and resume with a progress bar; a file downloaded by hand verified and imported.

The tab only wires components to the backend: :mod:`faceedit.weights.catalogue` (the tables),
:class:`faceedit.weights.manager.DownloadManager` (jobs, progress, readable failures, :func:`import_upload`) and
:class:`faceedit.live_composer.LiveComposer` (the engine switch-over: when files are installed the process's
composer is rebuilt and every session's next operation uses it, no restart).

Endpoints (``gradio_client``): ``/models_download`` (a preset key or title, a registry name or glob, or
``family:<name>``), ``/models_progress`` (the timer's poll), ``/models_cancel``, ``/models_import`` (an upload,
optionally the registry name it is for).  Progress is polled by a ``gr.Timer`` while a job of this tab runs;
opening the tab shows the process's jobs (e.g. ``FACEEDIT_MODELS`` downloads at start-up) when this page started none.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from typing import Any

import gradio as gr

from faceedit.live_composer import LiveComposer, live_composer  # noqa: F401 - the page builds its holder here
from faceedit.weights import catalogue
from faceedit.weights.manager import DownloadManager, JobSnapshot, default_manager, import_upload

#: Largest upload the app accepts (gradio's limit is one per app): checkpoints imported by hand reach 1.2 GB
#: (pSp / e4e); photos keep their own 25 MB limit (:data:`faceedit.ui.MAX_FILE_SIZE`, checked per photo).
CHECKPOINT_UPLOAD_LIMIT = os.environ.get("FACEEDIT_MAX_CHECKPOINT_UPLOAD", "2gb")
#: Seconds between progress polls while a download runs.
POLL_SECONDS = 0.5
#: Seconds the Download button waits for the job's first checks (network, disk), so an offline machine is
#: answered by the button itself.
SETTLE_SECONDS = 1.5
#: Operations the engine line reports, with their page names.
ENGINE_OPERATIONS = {"attributes": "sliders", "mask_edit": "mask painting", "swap": "component swap",
                     "random": "random faces"}
FAMILY_PREFIX = "family:"
#: Widths of the tables' columns (preset / model, state, download, unlocks, licence).
COLUMN_WIDTHS = ["13%", "14%", "13%", "32%", "28%"]


# --------------------------------------------------------------------------- views


def tables() -> tuple[list[list[str]], list[list[str]]]:
    """(preset rows, family rows) in :data:`~faceedit.weights.catalogue.PANEL_COLUMNS` order."""
    return catalogue.panel_rows(catalogue.preset_offers()), catalogue.panel_rows(catalogue.family_offers())


def target_choices() -> list[tuple[str, str]]:
    """The Download menu: every preset (its size), then every model family."""
    presets = [(f"{o.title}: {o.size_text}", o.key) for o in catalogue.preset_offers()]
    families = [(f"model family {o.key}: {o.size_text}", FAMILY_PREFIX + o.key) for o in catalogue.family_offers()]
    return presets + families


def family_patterns(family: str) -> list[str]:
    """The registry globs of one model family (``e4e.*``; the direction files by their own prefixes)."""
    offers = {o.key: o for o in catalogue.family_offers()}
    if family not in offers:
        raise gr.Error(f"No model family {family!r}; families: {', '.join(offers)}.")
    if family != "directions":
        return [f"{family}.*"]
    return list(dict.fromkeys(n.rsplit(".", 1)[0] + ".*" for n in offers[family].names))


def engine_line(composer: LiveComposer) -> str:
    """Which engine serves each operation now (HTML)."""
    parts = []
    for op, label in ENGINE_OPERATIONS.items():
        engine = "GAN" if composer.can(op, "gan") else ("lite" if composer.can(op, "lite") else "none")
        parts.append(f'{html.escape(label)}: <b class="fe-engine-{engine.lower()}">{engine}</b>')
    error = f' <span class="fe-warn">{html.escape(composer.error)}</span>' if composer.error else ""
    return f'<div id="fe-models-engines-line">Engine now: {" · ".join(parts)}{error}</div>'


def progress_html(snaps: list[JobSnapshot]) -> str:
    """A progress bar per job: bytes done of total, speed, time left (or the job's outcome)."""
    if not snaps:
        return '<div class="fe-progress">No download running.</div>'
    rows = []
    for s in snaps:
        if s.state == "running" and s.fraction is not None:
            bar = f'<progress max="1" value="{s.fraction:.4f}"></progress> {100 * s.fraction:.0f}%'
        elif s.active:
            bar = "<progress></progress>"  # indeterminate: checking, or a size not known yet
        else:
            bar = f'<progress max="1" value="{1.0 if s.state == "done" else (s.fraction or 0):.4f}"></progress>'
        rows.append(f'<div class="fe-progress fe-job-{s.state}">{bar} <span>{html.escape(s.text)}</span></div>')
    return "".join(rows)


def message_markdown(snaps: list[JobSnapshot], composer: LiveComposer) -> str:
    """What happened, per job: failures with their readable reason, files to import by hand, and whether the
    engine already uses the new files."""
    lines: list[str] = []
    for s in snaps:
        head = f"**{s.title}: {s.state}**"
        if s.state == "done" and s.installed:
            ready = composer.took_in(s.installed)
            head += (" - the engine uses the new models from the next edit on (no restart)." if ready and
                     not composer.error else f" - {composer.error}." if ready else " - loading the new models…")
        elif s.state == "cancelled":
            head += " - press Download again to resume where it stopped."
        lines.append(head)
        if not s.active and s.message:
            lines.append(f"- {s.message}")
        lines += [f"- failed: `{name}`: {why}" for name, why in s.failed]
        lines += [f"- **import by hand** `{name}`: {how}" for name, how in s.manual]
    return "\n".join(lines)


def _settle(manager: DownloadManager, job: int) -> JobSnapshot:
    """The job's snapshot once its first checks are done (offline, disk space) or :data:`SETTLE_SECONDS` passed."""
    deadline = time.monotonic() + SETTLE_SECONDS
    snap = manager.snapshot(job)
    while snap.active and (snap.state == "queued" or snap.message == "checking") and time.monotonic() < deadline:
        time.sleep(0.02)
        snap = manager.snapshot(job)
    return snap


# --------------------------------------------------------------------------- the tab


#: What a component gated on an operation does when that operation's GAN editors arrive.
GATE_EFFECTS = ("enable", "hide")


def gate_updates(composer: Any, gated: Sequence[tuple[Any, str, str]]) -> list[Any]:
    """One ``gr.update`` per ``(component, operation, effect)``: a button is enabled, a "needs weights" note hidden,
    when the composer has a GAN editor for the operation (and the other way round)."""
    updates = []
    for _, operation, effect in gated:
        if effect not in GATE_EFFECTS:
            raise ValueError(f"gate effect {effect!r}: one of {GATE_EFFECTS}")
        can = composer.can(operation, "gan")
        updates.append(gr.update(interactive=can) if effect == "enable" else gr.update(visible=not can))
    return updates


def build_models_tab(composer: LiveComposer, page: Any, status: Any = None,
                     gated: Sequence[tuple[Any, str, str]] = (), manager: DownloadManager | None = None) -> None:
    """The Models tab (call inside ``gr.Tabs``).

    ``page``: the page module (:mod:`faceedit.ui`, passed in so that this module does not import it back):
    its ``badge`` and ``_user_errors``; ``status``: the page's engine badge, told when new models are in use;
    ``gated``: ``(component, operation, effect)`` for the page's parts that wait for weights (the Random face
    button, the "new faces for this map" button and its note), updated when a download is taken in
    (:func:`gate_updates`); ``manager``: the download manager (default: the process's).
    """
    from faceedit.device import describe_device

    _user_errors, badge = page._user_errors, page.badge
    manager = manager or default_manager()
    presets, families = tables()
    with gr.Tab("Models", id="models") as tab:
        gr.Markdown(
            "The **lite engine** needs no download. The **GAN engine** runs on published checkpoints: download "
            "a preset (or one model family) here; each file's sha256 is checked, an interrupted download resumes "
            "where it stopped, and the next edit uses the new models without a restart. Licences differ: "
            "rows marked NON-COMMERCIAL may not be used commercially.")
        engines = gr.HTML(engine_line(composer), elem_id="fe-models-engines")
        preset_table = gr.Dataframe(presets, headers=list(catalogue.PANEL_COLUMNS), label="Presets",
                                    interactive=False, wrap=True, column_widths=COLUMN_WIDTHS, elem_id="fe-models-presets")
        with gr.Accordion("Model families (every file of the manifest, grouped)", open=False):
            family_table = gr.Dataframe(families, headers=list(catalogue.PANEL_COLUMNS), label="Model families",
                                        interactive=False, wrap=True, column_widths=COLUMN_WIDTHS, elem_id="fe-models-families")
        with gr.Row(equal_height=True):
            choices = target_choices()
            target = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Download",
                                 interactive=True, scale=3, elem_id="fe-models-target")
            download = gr.Button("⬇ Download", variant="primary", scale=1, elem_id="fe-models-download")
            cancel = gr.Button("✕ Cancel", scale=1, elem_id="fe-models-cancel")
        progress = gr.HTML(progress_html([]), elem_id="fe-models-progress")
        message = gr.Markdown("", elem_id="fe-models-message")
        with gr.Accordion("Import a file downloaded by hand (Google Drive, Baidu)", open=False):
            gr.Markdown("Some checkpoints are published only on Google Drive or Baidu Pan: download them there "
                        "(the message above says where) and upload the file here, or a folder as one `.zip`. "
                        "It is checked against the manifest's size and sha256 before it is installed. "
                        f"Uploads here may be up to {CHECKPOINT_UPLOAD_LIMIT.upper()} "
                        "(photos: 25 MB).")
            with gr.Row(equal_height=True):
                upload = gr.File(label="Checkpoint file or .zip folder", type="filepath", scale=3,
                                 elem_id="fe-models-upload")
                entry = gr.Dropdown([("found from the file", "")] + [(n, n) for n in _manual_names()], value="",
                                    label="For the entry", interactive=True, scale=2, elem_id="fe-models-entry")
                do_import = gr.Button("Verify and import", scale=1, elem_id="fe-models-import")
        jobs = gr.State([])
        timer = gr.Timer(POLL_SECONDS, active=False)

    def outputs(snaps: list[JobSnapshot], finished: bool) -> tuple[Any, ...]:
        refresh = finished or not any(s.active for s in snaps)
        ready = all(composer.took_in(s.installed) for s in snaps if s.state == "done")
        changed = any(s.installed for s in snaps)
        note = gr.skip()
        if status is not None and changed and ready and refresh:
            kind = "gan" if composer.can("attributes", "gan") else "lite"
            note = badge(kind, describe_device(), "New models installed: the next edit uses them.")
        tabs = tables() if refresh else (gr.skip(), gr.skip())
        gates = gate_updates(composer, gated) if refresh and ready else [gr.skip()] * len(gated)
        return (progress_html(snaps), message_markdown(snaps, composer), engine_line(composer), *tabs,
                gr.Timer(active=not (refresh and ready)), note, *gates)

    @_user_errors
    def start(choice: str | None) -> tuple[Any, ...]:
        if not choice:
            raise gr.Error("Choose a preset or a model family to download.")
        targets = family_patterns(choice[len(FAMILY_PREFIX):]) if choice.startswith(FAMILY_PREFIX) else [choice]
        ids = [manager.start(t) for t in targets]
        snaps = [_settle(manager, j) for j in ids]
        return (ids, *outputs(snaps, False))

    @_user_errors
    def poll(ids: list[int] | None) -> tuple[Any, ...]:
        """This page's jobs; without any, the process's (e.g. FACEEDIT_MODELS downloads at start-up)."""
        snaps = [manager.snapshot(j) for j in ids] if ids else manager.jobs()
        return outputs(snaps, False)

    @_user_errors
    def stop(ids: list[int] | None) -> tuple[Any, ...]:
        active = [j for j in ids or [] if manager.snapshot(j).active]
        if not active:
            raise gr.Error("No download of this page is running.")
        for j in active:
            manager.cancel(j)
        snaps = [manager.wait(j, timeout=5) for j in ids or []]
        return outputs(snaps, True)

    @_user_errors
    def imported(path: str | None, name: str | None) -> tuple[Any, ...]:
        if not path:
            raise gr.Error("Choose the downloaded file (or a .zip of a folder) first.")
        result = import_upload(path, name=name or None, manager=manager)
        composer.took_in((result.name,), timeout=120)  # the engine has taken it in (or says why not)
        note = f"**{result.message}**"
        note += f"\n\n{composer.error}" if composer.error else " The next edit uses it (no restart)."
        return (note, engine_line(composer), *tables(), *gate_updates(composer, gated))

    view = [progress, message, engines, preset_table, family_table, timer,
            status if status is not None else gr.State(None), *(component for component, _, _ in gated)]
    download.click(start, [target], [jobs, *view], api_name="models_download", concurrency_limit=None)
    timer.tick(poll, [jobs], view, api_name="models_progress", show_progress="hidden", concurrency_limit=None)
    tab.select(poll, [jobs], view, api_name=False, show_progress="hidden", concurrency_limit=None)
    cancel.click(stop, [jobs], view, api_name="models_cancel", concurrency_limit=None)
    do_import.click(imported, [upload, entry], [message, engines, preset_table, family_table,
                                                *(component for component, _, _ in gated)],
                    api_name="models_import", concurrency_limit=None)


def _manual_names() -> list[str]:
    """Registry rows only a manual download supplies (offered first in the import menu), then the others."""
    from faceedit.weights import registry

    specs = registry()
    return [n for n, s in specs.items() if not s.downloadable] + [n for n, s in specs.items() if s.downloadable]
