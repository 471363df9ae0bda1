"""The download manager behind the Models panel and ``FACEEDIT_MODELS``: background download jobs per preset or
registry entry, with progress read by polling, cancel and resume, checks first, readable failures.

Use::

    manager = default_manager()
    job = manager.start("sliders")               # a preset key/title, a registry name or a glob
    snap = manager.snapshot(job)                  # poll: state, bytes done/total, speed, ETA, messages
    manager.cancel(job)                           # the part file stays; start() again resumes it
    manager.on_installed(lambda event: ...)       # after a job installed files (rebuild the composer)
    manager.generation                            # +1 per such event, for polling instead
    import_upload(path)                           # the panel's upload field: verify and import a file / .zip

A job runs its files one after another in the manager's worker thread (jobs queue behind each other).
Before downloading it checks the network (an offline answer in under 2 s) and the free disk space of the
weights cache (:data:`DISK_RESERVE` kept free).  Files come through :func:`faceedit.weights.download.download_entry`:
``Range`` resume from a part file, sha256 check, a failing file deleted.  Rows with no download location
(Google Drive, Baidu) are not failures: the snapshot lists them in ``manual`` with how to import them.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from faceedit.errors import FaceEditError, InvalidArgumentError, OfflineError, WeightsMissingError
from faceedit.weights.cache import import_file, local_path, weights_dir
from faceedit.weights.catalogue import find_preset, format_bytes, resolve_targets
from faceedit.weights.download import DownloadCancelled, download_entry, manual_instructions, part_path
from faceedit.weights.manifest import registry, spec_for

log = logging.getLogger(__name__)

#: Bytes left free on the cache's disk after a download (room for the safetensors copies' sidecars, logs, ...).
DISK_RESERVE = 64 * 1024 * 1024
#: Seconds of samples the speed is averaged over.
SPEED_WINDOW = 5.0

STATES = ("queued", "running", "done", "failed", "cancelled")


@dataclass(frozen=True)
class JobSnapshot:
    """A job's progress at one moment (immutable: poll :meth:`DownloadManager.snapshot` for the next)."""

    job_id: int
    target: str  # what was asked for: a preset key/title, a registry name or a glob
    title: str
    state: str  # one of STATES
    names: tuple[str, ...]  # registry rows of the job
    current: str | None = None  # the row downloading now
    done_bytes: int = 0  # of the rows to download (part files resumed count as done)
    total_bytes: int | None = None  # None while a row's size is unknown
    speed: float = 0.0  # bytes per second over the last few seconds
    eta: float | None = None  # seconds
    installed: tuple[str, ...] = ()  # downloaded and verified by this job
    present: tuple[str, ...] = ()  # already installed before
    failed: tuple[tuple[str, str], ...] = ()  # (row, readable message)
    manual: tuple[tuple[str, str], ...] = ()  # (row, where to get it and how to import it)
    not_yet: tuple[str, ...] = ()  # names/globs of the preset that no manifest row matches yet
    message: str = ""  # one line for the panel
    started: float | None = None
    finished: float | None = None

    @property
    def finished_ok(self) -> bool:
        return self.state == "done"

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    @property
    def fraction(self) -> float | None:
        """Bytes done / total, or None when the total is not known."""
        if not self.total_bytes:
            return None
        return min(1.0, self.done_bytes / self.total_bytes)

    @property
    def text(self) -> str:
        """One line for a progress label: e.g. ``sliders: 312.0 MB of 1.3 GB, 24.1 MB/s, 41 s left``."""
        if self.state != "running":
            return f"{self.title}: {self.message or self.state}"
        total = format_bytes(self.total_bytes) if self.total_bytes else "unknown size"
        eta = f", {self.eta:.0f} s left" if self.eta is not None else ""
        return f"{self.title}: {format_bytes(self.done_bytes)} of {total}, {format_bytes(int(self.speed))}/s{eta}"


@dataclass(frozen=True)
class InstalledEvent:
    """Sent to :meth:`DownloadManager.on_installed` callbacks when new files are installed."""

    generation: int
    names: tuple[str, ...]
    job: JobSnapshot | None  # None for an upload


@dataclass
class _Job:
    snap: JobSnapshot
    cancel: threading.Event = field(default_factory=threading.Event)
    samples: deque = field(default_factory=deque)  # (time, done_bytes)
    sizes: dict[str, int | None] = field(default_factory=dict)


class DownloadManager:
    """Download jobs in one background worker thread; every method is thread-safe and returns at once."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[int, _Job] = {}
        self._queue: deque[int] = deque()
        self._wake = threading.Condition(self._lock)
        self._worker: threading.Thread | None = None
        self._callbacks: list[Callable[[InstalledEvent], None]] = []
        self._generation = 0
        self._next_id = 1

    # --- the API the page calls ---------------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Increases by one each time files are installed (a job or an upload): rebuild when it changed."""
        return self._generation

    def on_installed(self, callback: Callable[[InstalledEvent], None]) -> None:
        """Call ``callback(event)`` (in the worker thread) whenever a job or an upload installed files."""
        with self._lock:
            self._callbacks.append(callback)

    def start(self, target: str) -> int:
        """Queue a download of a preset (key or title), a registry name or a glob; returns the job id.

        The same target already queued or running gives that job's id.  Unknown targets raise
        :class:`InvalidArgumentError` naming the presets.
        """
        names, not_yet = resolve_targets([target])
        preset = find_preset(target)
        if not names and not not_yet:
            raise InvalidArgumentError(f"nothing to download for {target!r}")
        if not names and preset is None:
            raise InvalidArgumentError(
                f"{target!r} is neither a preset ({', '.join(_preset_titles())}) nor a registry entry; "
                "see `faceedit weights list`"
            )
        with self._lock:
            for job in self._jobs.values():
                if job.snap.target == target and job.snap.active:
                    return job.snap.job_id
            job_id = self._next_id
            self._next_id += 1
            title = preset.title if preset else target
            snap = JobSnapshot(job_id, target, title, "queued", tuple(names), not_yet=tuple(not_yet), message="queued")
            self._jobs[job_id] = _Job(snap)
            self._queue.append(job_id)
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(target=self._run, name="faceedit-downloads", daemon=True)
                self._worker.start()
            self._wake.notify_all()
        return job_id

    def snapshot(self, job_id: int) -> JobSnapshot:
        """The job's progress now."""
        with self._lock:
            if job_id not in self._jobs:
                raise InvalidArgumentError(f"no download job {job_id}")
            return self._jobs[job_id].snap

    def jobs(self) -> list[JobSnapshot]:
        """Every job's snapshot, newest first."""
        with self._lock:
            return [j.snap for j in sorted(self._jobs.values(), key=lambda j: -j.snap.job_id)]

    def cancel(self, job_id: int) -> JobSnapshot:
        """Stop a job: a queued one at once, a running one within a chunk (its part file kept for resuming)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise InvalidArgumentError(f"no download job {job_id}")
            job.cancel.set()
            if job.snap.state == "queued":
                self._queue.remove(job_id)
                self._set(job, state="cancelled", message="cancelled before it started", finished=time.time())
            return job.snap

    def wait(self, job_id: int, timeout: float | None = None) -> JobSnapshot:
        """Block until the job has finished (or ``timeout`` seconds passed); its last snapshot."""
        deadline = None if timeout is None else time.monotonic() + timeout
        self.snapshot(job_id)  # an unknown id: a readable error
        with self._lock:
            while self._jobs[job_id].snap.active:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._wake.wait(left if left is not None else 1.0)
            return self._jobs[job_id].snap

    # --- the worker -----------------------------------------------------------------------------------

    def _set(self, job: _Job, **changes: object) -> None:
        with self._lock:
            job.snap = replace(job.snap, **changes)  # type: ignore[arg-type]
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if not self._wake.wait(30.0) and not self._queue:
                        self._worker = None
                        return
                job = self._jobs[self._queue.popleft()]
            try:
                self._run_job(job)
            except Exception as err:  # noqa: BLE001 - a bug must not kill the worker; the job says what failed
                log.exception("download job %s failed", job.snap.job_id)
                self._set(job, state="failed", message=f"unexpected error: {err}", finished=time.time())
            installed = job.snap.installed
            if installed:
                self._fire(installed, job.snap)

    def _fire(self, names: tuple[str, ...], snap: JobSnapshot | None) -> None:
        with self._lock:
            self._generation += 1
            event = InstalledEvent(self._generation, names, snap)
            callbacks = list(self._callbacks)
        for cb in callbacks:
            try:
                cb(event)
            except Exception:  # noqa: BLE001 - one listener's bug must not stop the others
                log.exception("on_installed callback %r failed", cb)

    def _run_job(self, job: _Job) -> None:
        specs = registry()
        names = job.snap.names
        present = tuple(n for n in names if local_path(n) is not None)
        manual = tuple((n, manual_instructions(specs[n])) for n in names if n not in present and not specs[n].downloadable)
        todo = [n for n in names if n not in present and specs[n].downloadable]
        job.sizes = {n: specs[n].size for n in todo}
        self._set(job, state="running", started=time.time(), present=present, manual=manual,
                  total_bytes=_total(job.sizes), message="checking")
        if todo:
            refusal = check_disk_space(todo)
            if refusal:
                self._finish(job, failed=tuple((n, refusal) for n in todo), message=refusal)
                return
        installed: list[str] = []
        failed: list[tuple[str, str]] = []
        finished_bytes = 0
        for i, name in enumerate(todo):
            self._set(job, current=name, message=f"downloading {name} ({i + 1} of {len(todo)})")

            def progress(done: int, total: int | None, name: str = name, base: int = finished_bytes) -> None:
                if total is not None and job.sizes.get(name) is None:
                    job.sizes[name] = total
                now = time.monotonic()
                job.samples.append((now, base + done))
                while len(job.samples) > 2 and now - job.samples[0][0] > SPEED_WINDOW:
                    job.samples.popleft()
                (t0, b0), (t1, b1) = job.samples[0], job.samples[-1]
                speed = (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
                total_all = _total(job.sizes)
                eta = (total_all - b1) / speed if total_all is not None and speed > 0 else None
                self._set(job, done_bytes=base + done, total_bytes=total_all, speed=speed, eta=eta)

            try:
                download_entry(name, on_progress=progress, cancel=job.cancel)
            except DownloadCancelled:
                self._finish(job, installed=tuple(installed), failed=tuple(failed), state="cancelled",
                             message=f"cancelled during {name}; start it again to resume")
                return
            except OfflineError as err:  # the rest would fail the same way: stop now
                failed += [(n, str(err)) for n in todo[i:]]
                self._finish(job, installed=tuple(installed), failed=tuple(failed), message=str(err))
                return
            except FaceEditError as err:
                failed.append((name, str(err)))
                if "is full" in str(err):  # disk full: the next files would not fit either
                    failed += [(n, str(err)) for n in todo[i + 1 :]]
                    break
            else:
                installed.append(name)
            finished_bytes += job.sizes.get(name) or 0
        self._finish(job, installed=tuple(installed), failed=tuple(failed))

    def _finish(self, job: _Job, *, installed: tuple[str, ...] = (), failed: tuple[tuple[str, str], ...] = (),
                state: str | None = None, message: str = "") -> None:
        snap = job.snap
        if state is None:
            state = "failed" if failed else "done"
        if not message:
            parts = [f"{len(installed)} file{'s' * (len(installed) != 1)} installed"]
            if snap.present:
                parts.append(f"{len(snap.present)} already present")
            if failed:
                parts.append(f"{len(failed)} failed: {failed[0][1]}")
            if snap.manual:
                parts.append(f"{len(snap.manual)} to import by hand: {snap.manual[0][1]}")
            if snap.not_yet:
                parts.append(f"not in this version's manifest yet: {', '.join(snap.not_yet)}")
            message = "; ".join(parts)
        self._set(job, state=state, installed=installed, failed=failed, current=None, message=message,
                  finished=time.time(), speed=0.0, eta=None)


def _total(sizes: dict[str, int | None]) -> int | None:
    return None if any(v is None for v in sizes.values()) else sum(v or 0 for v in sizes.values())


def _preset_titles() -> list[str]:
    from faceedit.weights.catalogue import presets

    return [p.title for p in presets().values()]


def check_disk_space(names: list[str]) -> str | None:
    """A readable refusal when the weights cache's disk cannot hold ``names`` (known sizes, less the part
    files already received, plus :data:`DISK_RESERVE`); None when they fit."""
    need = 0
    for n in names:
        spec = spec_for(n)
        if spec.size is not None:
            part = part_path(spec)
            need += spec.size - (part.stat().st_size if part.is_file() else 0)
    root = weights_dir()
    probe = root
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if need + DISK_RESERVE > free:
        return (
            f"not enough free disk space for the weights cache ({root}): the download needs {format_bytes(need)} "
            f"(plus {format_bytes(DISK_RESERVE)} kept free), the disk has {format_bytes(free)} free. Free some space, "
            "or point FACEEDIT_WEIGHTS_DIR at a larger disk."
        )
    return None


# ----------------------------------------------------------------------------------------------------------
# The upload field and start-up
# ----------------------------------------------------------------------------------------------------------

_default: DownloadManager | None = None
_default_lock = threading.Lock()


def default_manager() -> DownloadManager:
    """The process's download manager (one per process, shared by every session of the page)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = DownloadManager()
        return _default


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_upload` installed."""

    name: str
    path: Path
    message: str


def import_upload(path: str | Path, name: str | None = None, manager: DownloadManager | None = None) -> ImportResult:
    """The upload field's backend: verify a file downloaded by hand and install it (``.zip``: a folder entry).

    The entry is found by sha256 or file name when ``name`` is not given; a file failing the published
    size or sha256 is refused (nothing is installed).  The manager's ``on_installed`` callbacks fire.
    """
    manager = manager or default_manager()
    src = Path(path)
    if src.suffix.lower() == ".zip" and zipfile.is_zipfile(src):
        with tempfile.TemporaryDirectory(prefix="faceedit-import-") as tmp:
            folder = _unzip(src, Path(tmp))
            dest = import_file(folder, name=name)
        entry = dest.name
    else:
        dest = import_file(src, name=name)
        entry = dest.relative_to(weights_dir() / "imported").parts[0]
    if entry not in registry():
        raise WeightsMissingError(f"{src.name} was imported to {dest}, which no registry entry owns")
    manager._fire((entry,), None)
    return ImportResult(entry, dest, f"{entry} imported and verified from {src.name}: {dest}")


def _unzip(src: Path, into: Path) -> Path:
    """Extract ``src`` safely (no absolute paths or ``..``); the folder holding its files."""
    with zipfile.ZipFile(src) as zf:
        for info in zf.infolist():
            target = (into / info.filename).resolve()
            if not target.is_relative_to(into.resolve()):
                raise InvalidArgumentError(f"{src.name} holds a path outside the archive ({info.filename}); not imported")
        zf.extractall(into)
    files = [p for p in into.rglob("*") if p.is_file()]
    if not files:
        raise InvalidArgumentError(f"{src.name} is an empty archive")
    folders = {p.parent for p in files}
    return min(folders, key=lambda p: len(p.parts)) if len(folders) > 1 else folders.pop()


def models_from_env(environ: dict[str, str] | None = None) -> list[str]:
    """The items of ``FACEEDIT_MODELS`` (comma-separated presets, names or globs; ``none`` = nothing)."""
    env = os.environ if environ is None else environ
    items = [i.strip() for i in (env.get("FACEEDIT_MODELS") or "").split(",") if i.strip()]
    return [] if [i.lower() for i in items] in ([], ["none"]) else items


def start_from_env(manager: DownloadManager | None = None, environ: dict[str, str] | None = None) -> list[int]:
    """Start the downloads ``FACEEDIT_MODELS`` asks for (e.g. ``sliders,random``) in the background.

    Call once at start-up (the app, a Space, the Docker image); the lite engine serves meanwhile and the
    manager's ``on_installed`` callbacks tell the app to rebuild its composer.  An unknown item is logged
    and skipped.  Returns the job ids.
    """
    manager = manager or default_manager()
    jobs = []
    for item in models_from_env(environ):
        try:
            jobs.append(manager.start(item))
        except FaceEditError as err:
            log.warning("FACEEDIT_MODELS: %s", err)
    if jobs:
        log.info("FACEEDIT_MODELS: downloading %s into %s in the background", ", ".join(models_from_env(environ)),
                 weights_dir())
    return jobs
