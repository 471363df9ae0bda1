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
from pathlib import Path

from faceedit.errors import (
    OfflineError,
    WeightsMissingError,
    WeightsVerificationError,
)
from faceedit.weights.cache import (
    _CHUNK,
    _hub_cache,
    _url_path,
    _verified_sha,
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
    with _fetch_locks_guard:
        lock = _fetch_locks.setdefault(name, threading.Lock())
    with lock:
        return _fetch_locked(spec, progress)


def _fetch_locked(spec: WeightSpec, progress: bool) -> Path:
    name = spec.name
    path = local_path(name)
    if path is not None:
        return path
    if not spec.downloadable:
        raise WeightsMissingError(
            f"{spec.name} has no public download location the registry knows of. Download {spec.filename or 'it'} "
            f"by hand from {spec.source_url}, then run `python -m faceedit weights import PATH --name {spec.name}`."
        )
    if _offline_env():
        raise _offline_error(spec, "HF_HUB_OFFLINE=1 is set")
    if spec.repo_id:
        path = _fetch_hub(spec, progress)
        try:
            _verified_sha(spec, path)
        except WeightsVerificationError:
            # a bad blob in the cache: download once more (never edit the Hub cache by hand), then give up
            path = _fetch_hub(spec, progress, force=True)
            _verified_sha(spec, path)
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


def _mirror(url: str) -> str:
    """Apply ``FACEEDIT_URL_MIRROR`` (``PREFIX=REPLACEMENT[;PREFIX=REPLACEMENT]``) to ``url``."""
    for rule in filter(None, os.environ.get("FACEEDIT_URL_MIRROR", "").split(";")):
        prefix, _, repl = rule.partition("=")
        if prefix and url.startswith(prefix):
            return repl + url[len(prefix) :]
    return url


def _fetch_url(spec: WeightSpec, progress: bool) -> Path:
    """Download a plain HTTPS file with resume (Range), streaming sha256, and a progress bar."""
    import http.client
    import urllib.error
    import urllib.request

    from tqdm.auto import tqdm

    assert spec.url is not None
    url = _mirror(spec.url)
    why = _unreachable(url)
    if why:
        raise _offline_error(spec, why)
    dest = _url_path(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    for _attempt in range(4):
        have = part.stat().st_size if part.exists() else 0
        req = urllib.request.Request(url, headers={"User-Agent": "faceedit", "Accept-Encoding": "identity"})
        if have:
            req.add_header("Range", f"bytes={have}-")
        try:
            resp = urllib.request.urlopen(req, timeout=CONNECT_TIMEOUT)
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # asked past the end: the part file is complete or foreign
                part.unlink()
                continue
            raise WeightsMissingError(
                f"{spec.name}: downloading {url} failed (HTTP {err.code} {err.reason}). Download it by hand from "
                f"{spec.source_url} and run `python -m faceedit weights import PATH --name {spec.name}`."
            ) from None
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
            try:
                with (
                    open(part, "ab" if have else "wb") as out,
                    tqdm(total=total, initial=have, unit="B", unit_scale=True, desc=spec.filename, disable=not progress) as bar,
                ):
                    while chunk := resp.read(_CHUNK):
                        out.write(chunk)
                        h.update(chunk)
                        bar.update(len(chunk))
            except (http.client.HTTPException, OSError) as err:  # dropped mid-transfer: resume from the part file
                log.warning("%s: transfer interrupted (%s); resuming", spec.name, err)
                continue
        if spec.size is not None and part.stat().st_size < spec.size:
            continue  # short read: resume
        actual = h.hexdigest()
        if spec.sha256 is not None and actual != spec.sha256.lower():
            part.unlink()
            raise WeightsVerificationError(
                f"{spec.name}: checksum mismatch for {spec.filename} downloaded from {url}: expected sha256 "
                f"{spec.sha256}, got {actual}; the file was discarded."
            )
        part.replace(dest)
        _verified_sha(spec, dest)
        return dest
    raise WeightsMissingError(f"{spec.name}: downloading {url} did not complete after several attempts")

