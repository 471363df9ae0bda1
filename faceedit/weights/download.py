"""Downloading entries: the Hugging Face Hub (``hf_hub_download``) or a plain HTTPS ``url`` with resume.

Offline (``HF_HUB_OFFLINE=1``, or the network is unreachable) a missing file raises :class:`OfflineError`
at once.  Environment: ``HF_ENDPOINT`` (another Hub), ``FACEEDIT_URL_MIRROR`` (``PREFIX=REPLACEMENT``
rewrite of ``url`` sources).
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from faceedit.errors import (
    FaceEditError,
    OfflineError,
    WeightsMissingError,
    WeightsVerificationError,
)
from faceedit.weights.cache import (
    _CHUNK,
    _candidates,
    _hub_cache,
    _url_path,
    _verified_sha,
    _write_record,
    local_path,
)
from faceedit.weights.manifest import WeightSpec, spec_for

log = logging.getLogger(__name__)

#: Seconds to wait for a server before calling the network unreachable.
CONNECT_TIMEOUT = 10.0


# ----------------------------------------------------------------------------------------------------------
# Fetch
# ----------------------------------------------------------------------------------------------------------


def _offline_env() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _offline_error(spec: WeightSpec, why: str) -> OfflineError:
    return OfflineError(
        f"{spec.name} ({spec.filename}) is not in the local weights cache and cannot be downloaded: {why}. "
        f"Fetch it on a machine with network access (`python -m faceedit weights fetch {spec.name}`), or download "
        f"it by hand from {spec.source_url} and run `python -m faceedit weights import PATH --name {spec.name}`."
    )


def _unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why the host of ``url`` cannot be reached (a plain TCP connect), or None when it can.

    huggingface_hub retries a failed metadata request with backoff for about half a minute when nothing is
    cached; this check makes "no network" an immediate, clear error instead.  Skipped behind a proxy.
    """
    import socket
    from urllib.parse import urlsplit

    if any(os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY")):
        return None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=timeout):
            return None
    except OSError as err:
        return f"{parts.hostname}:{port} cannot be reached ({err.strerror or err})"


_fetch_locks: dict[str, threading.Lock] = {}
_fetch_locks_guard = threading.Lock()


def fetch(name: str, progress: bool = True) -> Path:
    """The verified local path of ``name``, downloading it first when needed (one download per name at a time)."""
    spec = spec_for(name)
    with _name_lock(name):
        return _fetch_locked(spec, progress)


def _name_lock(name: str) -> threading.Lock:
    with _fetch_locks_guard:
        return _fetch_locks.setdefault(name, threading.Lock())


def _present_or_allowed(spec: WeightSpec) -> Path | None:
    """The verified local path; None when absent and a download may start (else a readable error)."""
    path = local_path(spec.name)
    if path is not None:
        return path
    if not spec.downloadable:
        raise WeightsMissingError(manual_instructions(spec))
    if _offline_env():
        raise _offline_error(spec, "HF_HUB_OFFLINE=1 is set")
    return None


def _fetch_locked(spec: WeightSpec, progress: bool) -> Path:
    path = _present_or_allowed(spec)
    if path is not None:
        return path
    if spec.repo_id:
        cached = any(p.is_file() for p in _candidates(spec))
        path = _fetch_hub(spec, progress)
        try:
            _verified_sha(spec, path)
        except WeightsVerificationError:
            _discard_hub_file(path)
            if not cached:
                raise
            # a bad blob that was already in the cache: download once more, then give up
            path = _fetch_hub(spec, progress, force=True)
            try:
                _verified_sha(spec, path)
            except WeightsVerificationError:
                _discard_hub_file(path)
                raise
    else:
        path = _fetch_url(spec, progress)
    return path


def _fetch_hub(spec: WeightSpec, progress: bool, force: bool = False) -> Path:
    endpoint = os.environ.get("HF_ENDPOINT") or None
    where = f"{spec.repo_id}@{spec.revision or 'main'}:{spec.filename}"
    why = _unreachable(endpoint or "https://huggingface.co")
    if why:
        raise _offline_error(spec, f"the Hub {why}")

    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars
    if not progress:
        disable_progress_bars()
    try:
        return Path(
            hf_hub_download(
                spec.repo_id,
                spec.filename,
                revision=spec.revision or "main",
                cache_dir=_hub_cache(),
                endpoint=endpoint,
                etag_timeout=CONNECT_TIMEOUT,
                force_download=force,
            )
        )
    except GatedRepoError as err:  # a subclass of RepositoryNotFoundError: first
        raise _http_error(spec, where, _StatusOnly(getattr(err.response, "status_code", 401), "GatedRepo")) from None
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        raise WeightsMissingError(
            f"{spec.name}: {where} was not found on the Hub{f' (HTTP {status})' if status else ''}. The file "
            f"may have moved; download it by hand from {spec.source_url} and run "
            f"`python -m faceedit weights import PATH --name {spec.name}`."
        ) from None
    except LocalEntryNotFoundError:
        raise _offline_error(spec, f"the Hub ({endpoint or 'huggingface.co'}) cannot be reached") from None
    except HfHubHTTPError as err:
        status = getattr(getattr(err, "response", None), "status_code", None)
        raise WeightsMissingError(f"{spec.name}: downloading {where} failed (HTTP {status}): {err}") from None
    except OSError as err:  # includes the Hub's own size-consistency check
        raise WeightsMissingError(f"{spec.name}: downloading {where} failed: {err}") from None
    finally:
        if not progress:
            enable_progress_bars()


class _StatusOnly:
    """An HTTP status and Hub error code, in the shape :func:`_http_error` reads."""

    def __init__(self, code: int, error_code: str) -> None:
        self.code, self.reason, self.headers = code, "", {"X-Error-Code": error_code}


def _discard_hub_file(path: Path) -> None:
    """Delete a Hub cache file that failed verification: the snapshot link and the blob it points to."""
    blob = path.resolve()
    path.unlink(missing_ok=True)
    if blob != path:
        blob.unlink(missing_ok=True)


def _mirror(url: str) -> str:
    """Apply ``FACEEDIT_URL_MIRROR`` (``PREFIX=REPLACEMENT[;PREFIX=REPLACEMENT]``) to ``url``."""
    for rule in filter(None, os.environ.get("FACEEDIT_URL_MIRROR", "").split(";")):
        prefix, _, repl = rule.partition("=")
        if prefix and url.startswith(prefix):
            return repl + url[len(prefix) :]
    return url


def _fetch_url(spec: WeightSpec, progress: bool) -> Path:
    """Download a plain HTTPS file with resume (Range), streaming sha256, and a progress bar."""
    assert spec.url is not None
    url = _mirror(spec.url)
    why = _unreachable(url)
    if why:
        raise _offline_error(spec, why)
    return _stream(spec, url, _url_path(spec), {}, progress)


class DownloadCancelled(FaceEditError):
    """The download was cancelled; its part file is kept, so the next download resumes from there."""


#: Progress callback of :func:`download`: ``(bytes done, total bytes or None)``.
ProgressCallback = Callable[[int, "int | None"], None]

#: Seconds the reachability probe of :func:`download_entry` may take (DNS included) before calling the network offline.
PROBE_TIMEOUT = 1.5
_STREAM_CHUNK = 1 << 16


def _probe(url: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """:func:`_unreachable` bounded in time, name resolution included (a stuck resolver counts as offline)."""
    answer: list[str | None] = []
    worker = threading.Thread(target=lambda: answer.append(_unreachable(url, timeout)), daemon=True)
    worker.start()
    worker.join(timeout)
    if not answer:
        return f"no answer from {url} within {timeout:g} s"
    return answer[0]


def hub_file_url(spec: WeightSpec) -> str:
    """The Hub's download URL of a ``repo_id`` entry (``HF_ENDPOINT`` honoured, pinned revision)."""
    from urllib.parse import quote

    endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
    return f"{endpoint}/{spec.repo_id}/resolve/{quote(spec.revision or 'main', safe='')}/{quote(spec.filename)}"


def _hub_headers() -> dict[str, str]:
    """The Hub client's headers (user agent; the token of ``HF_TOKEN`` or ``hf auth login`` for gated repos)."""
    try:
        from huggingface_hub.utils import build_hf_headers

        return dict(build_hf_headers(library_name="faceedit"))
    except Exception:  # noqa: BLE001 - no token configured, or an old client: anonymous
        return {}


def download_entry(name: str, *, on_progress: ProgressCallback | None = None, cancel: threading.Event | None = None) -> Path:
    """Like :func:`fetch`, for the download manager: resumable for Hub files too, reports progress, cancellable.

    Hub files are fetched from the Hub's ``resolve`` URL with ``Range`` requests into the cache's direct
    download folder (``url/<name>/``), not through ``hf_hub_download``: huggingface_hub 2.x writes to a
    per-call temporary file that it deletes when a download is interrupted, so a cancelled or dropped
    download would start again from zero.  ``on_progress(done, total)`` is called per chunk (``total`` is
    None when neither the registry nor the server knows it); setting ``cancel`` stops the transfer with
    :class:`DownloadCancelled`, keeping the part file.  A file that fails its size or sha256 check is deleted.
    """
    spec = spec_for(name)
    with _name_lock(name):
        path = _present_or_allowed(spec)
        if path is not None:
            return path
        url = hub_file_url(spec) if spec.repo_id else _mirror(spec.url or "")
        why = _probe(url)
        if why:
            raise _offline_error(spec, why)
        headers = _hub_headers() if spec.repo_id else {}
        return _stream(spec, url, _url_path(spec), headers, False, on_progress, cancel)


def manual_instructions(spec: WeightSpec) -> str:
    """Where to get a file the registry cannot download (Google Drive, Baidu, ...) and how to import it."""
    what = f"the folder with {', '.join(spec.files)}" if spec.kind == "folder" else (spec.filename or "the file")
    source = spec.source_url.lower()
    host = "Google Drive" if "drive.google" in source or "google drive" in source else "Baidu Pan" if "baidu" in source else ""
    where = f"only on {host}" if host else "not on any server the app can download from"
    return (
        f"{spec.name} is {where}: download {what} by hand from {spec.source_url}, then import it with "
        f"`faceedit weights import PATH --name {spec.name}` or the Models panel's upload field "
        "(a folder as a .zip), which checks the file before installing it."
    )


def part_path(spec: WeightSpec) -> Path:
    """Where :func:`download_entry` keeps the bytes received so far for ``spec``."""
    dest = _url_path(spec)
    return dest.with_name(dest.name + ".part")


def _http_error(spec: WeightSpec, url: str, err: Any) -> FaceEditError:
    code = getattr(err, "code", None)
    error_code = (err.headers.get("X-Error-Code") if getattr(err, "headers", None) else None) or ""
    if spec.repo_id and error_code == "GatedRepo":
        return WeightsMissingError(
            f"{spec.name}: {spec.repo_id} is a gated repository on the Hub (HTTP {code}): accept its conditions at "
            f"https://huggingface.co/{spec.repo_id} while logged in, then give the app a read token (the HF_TOKEN "
            "variable or secret, or `hf auth login`) and download again."
        )
    if spec.repo_id and code in (401, 403) and error_code != "RepoNotFound":
        said = err.headers.get("X-Error-Message") if getattr(err, "headers", None) else None
        return WeightsMissingError(
            f"{spec.name}: the Hub refused {spec.repo_id} (HTTP {code}{f': {said}' if said else ''}): the repository "
            f"may be gated or private, or the token in HF_TOKEN is not valid. Check https://huggingface.co/{spec.repo_id} "
            "while logged in and the token, then download again."
        )
    if code == 404 or error_code in ("RepoNotFound", "EntryNotFound", "RevisionNotFound"):
        where = f"{spec.repo_id}@{spec.revision or 'main'}:{spec.filename}" if spec.repo_id else url
        return WeightsMissingError(
            f"{spec.name}: {where} was not found (HTTP {code}). The file may have moved; download it by hand from "
            f"{spec.source_url} and import it with `faceedit weights import PATH --name {spec.name}`."
        )
    return WeightsMissingError(
        f"{spec.name}: downloading {url} failed (HTTP {code} {getattr(err, 'reason', '')}). Try again later, or "
        f"download it by hand from {spec.source_url} and import it with `faceedit weights import PATH --name {spec.name}`."
    )


def _disk_full(spec: WeightSpec, dest: Path, err: OSError) -> WeightsMissingError:
    return WeightsMissingError(
        f"{spec.name}: the disk holding the weights cache ({dest.parent}) is full ({err.strerror or err}); "
        "free some space and download again (the part already received is kept)."
    )


def _discard(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _stream(
    spec: WeightSpec,
    url: str,
    dest: Path,
    headers: dict[str, str],
    progress: bool,
    on_progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """GET ``url`` into ``dest`` with resume from ``dest.part`` (Range), streaming sha256, then verify.

    A dropped connection resumes (a few times); a file failing its size or sha256 check is deleted.
    """
    import errno
    import http.client
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    opener = urllib.request.build_opener(_DropAuthOnRedirect)
    for _attempt in range(4):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "faceedit", **headers, "Accept-Encoding": "identity"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = opener.open(req, timeout=CONNECT_TIMEOUT)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # asked past the end: the part file is complete or foreign
                part.unlink()
                continue
            raise _http_error(spec, url, err) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
            raise _offline_error(spec, f"{url} cannot be reached ({getattr(err, 'reason', err)})") from None
        with resp:
            if have and resp.status != 206:  # the server ignored the Range: start over
                have = 0
            total = spec.size or (int(resp.headers.get("Content-Length") or 0) + have) or None
            h = hashlib.sha256()
            if have:
                with open(part, "rb") as f:
                    while chunk := f.read(_CHUNK):
                        h.update(chunk)
            done = have
            if on_progress is not None:
                on_progress(done, total)
            try:
                with (
                    open(part, "ab" if have else "wb") as out,
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=spec.filename, disable=not progress) as bar,
                ):
                    while True:
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled(f"{spec.name}: download cancelled ({done:,} bytes kept to resume)")
                        try:
                            chunk = resp.read(_STREAM_CHUNK)
                        except (http.client.HTTPException, OSError) as err:
                            raise _Dropped(err) from None
                        if not chunk:
                            break
                        try:
                            out.write(chunk)
                        except OSError as err:
                            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                                raise _disk_full(spec, dest, err) from None
                            raise
                        h.update(chunk)
                        bar.update(len(chunk))
                        done += len(chunk)
                        if on_progress is not None:
                            on_progress(done, total)
            except _Dropped as err:  # dropped mid-transfer: resume from the part file
                log.warning("%s: transfer interrupted (%s); resuming", spec.name, err.args[0])
                continue
        if spec.size is not None and part.stat().st_size < spec.size:
            continue  # short read: resume
        actual = h.hexdigest()
        if spec.sha256 is not None and actual != spec.sha256.lower():
            _discard(part)
            raise WeightsVerificationError(
                f"{spec.name}: checksum mismatch for {spec.filename} downloaded from {url}: expected sha256 "
                f"{spec.sha256}, got {actual}; the file was discarded."
            )
        size = part.stat().st_size
        if spec.size is not None and size != spec.size:  # longer than published: nothing stays in the cache
            _discard(part)
            raise WeightsVerificationError(
                f"{spec.name}: {spec.filename} downloaded from {url} has {size:,} bytes, the registry expects "
                f"{spec.size:,}; the file was discarded."
            )
        part.replace(dest)
        if spec.sha256 is None:
            log.warning("%s has no published sha256; recorded %s on first use (trust on first use)", spec.name, actual)
        _write_record(spec, dest, actual)  # hashed while streaming: no second pass over the file
        return dest
    raise WeightsMissingError(f"{spec.name}: downloading {url} did not complete after several attempts")


class _Dropped(Exception):
    """The server closed the connection mid-transfer (resumable)."""


class _DropAuthOnRedirect(urllib.request.HTTPRedirectHandler):
    """Follow redirects, dropping the Hub token when leaving the Hub's host (a CDN's signed URL refuses it)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).hostname != urllib.parse.urlsplit(req.full_url).hostname:
            new.headers.pop("Authorization", None)
            new.unredirected_hdrs.pop("Authorization", None)
        return new
