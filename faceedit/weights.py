"""Registry of published checkpoints: where they live, how they are verified, loaded and cached.

The registry is the plain data file ``weights/manifest.toml``, read once into frozen :class:`WeightSpec`
rows (one per file).  For each entry this module can

* **fetch** it: from the Hugging Face Hub with ``hf_hub_download`` (pinned revision, progress bar) or from a
  plain HTTPS ``url`` (GitHub raw files at a pinned commit), into :func:`weights_dir`;
* **verify** it: streaming sha256 (and size) against the manifest before first use; a mismatch is refused
  with a message naming the file, the expected and the actual hash;
* **import** a file (or folder) the user downloaded by hand, after checking its hash;
* **load** it safely: ``torch.load(weights_only=True)`` with no extra allowed types (see
  :data:`EXTRA_SAFE_GLOBALS`), ``np.load(allow_pickle=False)``, or safetensors.  After the first verified load
  of a pickle-based checkpoint a safetensors copy plus a JSON sidecar (the non-tensor fields, e.g. pSp's
  ``opts``) is written and read back through safetensors' memory map from then on;
* **build** the network through the entry's ``loader`` (``"module:function"``), once per device, in eval
  mode and frozen (:func:`load_model`);
* report which **capabilities** of the GAN engine the present files enable (:func:`capabilities`).

Offline (``HF_HUB_OFFLINE=1``, or the network is unreachable) a missing file raises :class:`OfflineError`
at once.  Environment: ``FACEEDIT_WEIGHTS_DIR`` (cache root), ``FACEEDIT_MANIFEST`` (another manifest),
``HF_ENDPOINT`` (another Hub), ``FACEEDIT_URL_MIRROR`` (``PREFIX=REPLACEMENT`` rewrite of ``url`` sources).
"""

from __future__ import annotations

import fnmatch
import hashlib
import importlib
import importlib.util
import json
import logging
import os
import re
import shutil
import threading
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceedit.errors import (
    FaceEditError,
    InvalidArgumentError,
    OfflineError,
    UnsupportedEditError,
    WeightsMissingError,
    WeightsVerificationError,
)

log = logging.getLogger(__name__)

#: The manifest beside the package (``<repo>/weights/manifest.toml``).
DEFAULT_MANIFEST = Path(__file__).resolve().parents[1] / "weights" / "manifest.toml"

#: Non-tensor types that ``torch.load(weights_only=True)`` may rebuild beyond its built-in containers and
#: primitives.  Empty on purpose: every published file in the manifest holds only tensors, dicts, lists and
#: primitives.  pSp and e4e save ``'opts': vars(opts)`` (a plain dict, see eladrich/pixel2style2pixel and
#: omertov/encoder4editing ``training/coach.py`` ``__get_save_dict``), rosinality's ``convert_weight.py``
#: saves ``{'g_ema', 'latent_avg'}``; ``argparse.Namespace`` only appears in rosinality's *training*
#: checkpoints (``'args'``), which are not published weights, so it is refused.
EXTRA_SAFE_GLOBALS: tuple[Any, ...] = ()

#: Capability names reported by :func:`capabilities`.
CAPABILITIES: tuple[str, ...] = ("parse", "invert", "attributes", "mask_edit", "swap", "random")

#: Seconds to wait for a server before calling the network unreachable.
CONNECT_TIMEOUT = 10.0

_CHUNK = 1 << 20
_load_lock = threading.RLock()  # guards the model cache
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl")


@dataclass(frozen=True)
class WeightSpec:
    """One published file (or folder of files) the app can use."""

    name: str  # registry name, "arch.tag"
    description: str  # what it is, which class loads it
    loader: str  # "module:function" building the object
    repo_id: str | None = None  # Hugging Face Hub repo id (None: no Hub copy)
    filename: str = ""  # file name (inside the Hub repo, or of the url)
    revision: str | None = None  # Hub revision (a commit where known)
    sha256: str | None = None  # expected sha256 (None: unknown)
    size: int | None = None  # expected bytes (None: unknown)
    licence: str = ""  # licence of the weights
    paper: str = ""  # the paper
    source_url: str = ""  # original home (README, Drive link, repo)
    verified: bool = False  # sha256 and size are known and were checked against the real file
    url: str | None = None  # plain HTTPS source (used when there is no repo_id)
    kind: str = "checkpoint"  # "checkpoint" | "direction" | "folder"
    loader_input: str = "checkpoint"  # what the loader takes: "checkpoint" (safely loaded dict) | "path"
    files: tuple[str, ...] = ()  # kind="folder": the files it must hold
    unverified: tuple[str, ...] = ()  # fields that could not be established
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # constructor keyword arguments for the loader
    notes: str = ""

    @property
    def downloadable(self) -> bool:
        """Whether :func:`fetch` knows where to download it."""
        return bool(self.repo_id or self.url)


# ----------------------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------------------

_manifest_cache: dict[tuple[str, float], tuple[dict[str, WeightSpec], dict[str, list[list[str]]]]] = {}


def manifest_path() -> Path:
    """``FACEEDIT_MANIFEST`` or the repository's ``weights/manifest.toml``."""
    return Path(os.environ.get("FACEEDIT_MANIFEST") or DEFAULT_MANIFEST)


def _read_manifest() -> tuple[dict[str, WeightSpec], dict[str, list[list[str]]]]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    path = manifest_path()
    try:
        key = (str(path), path.stat().st_mtime)
    except OSError:
        raise WeightsMissingError(f"the weights manifest {path} does not exist") from None
    if key not in _manifest_cache:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise WeightsVerificationError(f"the weights manifest {path} is not valid TOML: {err}") from None
        specs: dict[str, WeightSpec] = {}
        for row in data.get("weights", []):
            row = dict(row)
            for key_ in ("unverified", "files"):
                row[key_] = tuple(row.get(key_, ()))
            unknown = set(row) - set(WeightSpec.__dataclass_fields__)
            if unknown or not {"name", "description", "loader"} <= set(row):
                raise WeightsVerificationError(
                    f"the weights manifest {path}: entry {row.get('name')!r} has unknown fields {sorted(unknown)} "
                    "or lacks name/description/loader"
                )
            spec = WeightSpec(**row)
            if spec.name in specs:
                raise WeightsVerificationError(f"the weights manifest {path} lists {spec.name!r} twice")
            specs[spec.name] = spec
        caps = {k: [list(group) for group in v] for k, v in data.get("capabilities", {}).items()}
        _manifest_cache[key] = (specs, caps)
    return _manifest_cache[key]


def registry() -> dict[str, WeightSpec]:
    """Every entry of the manifest, by name (loader modules are not imported)."""
    return dict(_read_manifest()[0])


def spec_for(name: str) -> WeightSpec:
    """The entry ``name``; an unknown name lists the known ones."""
    specs = _read_manifest()[0]
    if name not in specs:
        close = [n for n in specs if name.lower() in n.lower()][:8]
        hint = f" Did you mean: {', '.join(close)}?" if close else " See `python -m faceedit weights list`."
        raise InvalidArgumentError(f"{name!r} is not in the weights registry.{hint}")
    return specs[name]


# ----------------------------------------------------------------------------------------------------------
# Where files live
# ----------------------------------------------------------------------------------------------------------


def weights_dir() -> Path:
    """``FACEEDIT_WEIGHTS_DIR``, else ``<HF cache home>/faceedit`` (``HF_HOME`` or ``~/.cache/huggingface``)."""
    env = os.environ.get("FACEEDIT_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    hf_home = os.environ.get("HF_HOME")
    if not hf_home:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        hf_home = str(Path(xdg) / "huggingface")
    return Path(hf_home).expanduser() / "faceedit"


def _hub_cache() -> Path:
    return weights_dir() / "hub"


def _url_path(spec: WeightSpec) -> Path:
    return weights_dir() / "url" / spec.name / spec.filename


def _imported_path(spec: WeightSpec) -> Path:
    return weights_dir() / "imported" / spec.name / (spec.filename or "")


def _record_path(spec: WeightSpec) -> Path:
    return weights_dir() / "verified" / f"{spec.name}.json"


def _converted_path(spec: WeightSpec, sha256: str) -> Path:
    return weights_dir() / "converted" / spec.name / f"{sha256[:16]}.safetensors"


def _candidates(spec: WeightSpec) -> list[Path]:
    """Local places the file may be, in order of preference."""
    found = [_imported_path(spec)]
    if spec.url:
        found.append(_url_path(spec))
    if spec.repo_id and (_hub_cache() / f"models--{spec.repo_id.replace('/', '--')}").is_dir():
        try:  # only import huggingface_hub (slow) when this repo has a cache folder
            from huggingface_hub import try_to_load_from_cache

            hit = try_to_load_from_cache(
                spec.repo_id, spec.filename, cache_dir=_hub_cache(), revision=spec.revision or "main"
            )
        except Exception:  # noqa: BLE001 - a malformed cache only means "not present"
            hit = None
        if isinstance(hit, str):
            found.append(Path(hit))
    return found


# ----------------------------------------------------------------------------------------------------------
# Verification
# ----------------------------------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    """Streaming sha256 of a file (1 MiB chunks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _stat_key(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"path": str(path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _check_file(spec: WeightSpec, path: Path) -> str:
    """Hash ``path`` and compare with the manifest; return the sha256 or raise WeightsVerificationError."""
    size = path.stat().st_size
    if spec.size is not None and size != spec.size:
        raise WeightsVerificationError(
            f"{spec.name}: {path} has {size:,} bytes, the registry expects {spec.size:,}; refusing to use it "
            "(an incomplete download or another file). Delete it and fetch again."
        )
    actual = sha256_file(path)
    if spec.sha256 is not None and actual != spec.sha256.lower():
        raise WeightsVerificationError(
            f"{spec.name}: checksum mismatch for {path}: expected sha256 {spec.sha256}, got {actual}; "
            "refusing to use it. Delete it and fetch again, or check that it is the published file."
        )
    return actual


def _write_record(spec: WeightSpec, path: Path, sha256: str) -> None:
    rec = _record_path(spec)
    rec.parent.mkdir(parents=True, exist_ok=True)
    data = {**_stat_key(path), "sha256": sha256, "checked_against_registry": spec.sha256 is not None}
    tmp = rec.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(rec)


def _recorded_sha(spec: WeightSpec, path: Path) -> str | None:
    """The sha256 recorded when ``path`` was last verified, if the file is unchanged since."""
    try:
        data = json.loads(_record_path(spec).read_text())
        if {k: data.get(k) for k in ("path", "size", "mtime_ns")} != _stat_key(path):
            return None
        if spec.sha256 is not None and data.get("sha256") != spec.sha256.lower():
            return None
        return str(data["sha256"])
    except (OSError, ValueError, KeyError):
        return None


def _verified_sha(spec: WeightSpec, path: Path) -> str:
    """Verify ``path`` (once: the result is recorded against size and mtime) and return its sha256."""
    sha = _recorded_sha(spec, path)
    if sha is None:
        sha = _check_file(spec, path)
        if spec.sha256 is None:
            log.warning("%s has no published sha256; recorded %s on first use (trust on first use)", spec.name, sha)
        _write_record(spec, path, sha)
    return sha


def _folder_path(spec: WeightSpec) -> Path | None:
    folder = weights_dir() / "imported" / spec.name
    if spec.files and all((folder / f).is_file() for f in spec.files):
        return folder
    return None


def local_path(name: str) -> Path | None:
    """The verified local file (or folder) of ``name``, or None when absent or failing verification."""
    spec = spec_for(name)
    if spec.kind == "folder":
        return _folder_path(spec)
    for path in _candidates(spec):
        if path.is_file():
            try:
                _verified_sha(spec, path)
            except WeightsVerificationError as err:
                log.warning("%s", err)
                continue
            return path
    return None


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify` for one entry."""

    name: str
    status: str  # "ok" | "unverified" (no published hash; recorded on first use) | "missing" | "mismatch"
    path: Path | None
    message: str


def verify(name: str | None = None) -> list[VerifyResult]:
    """Re-hash the local files of ``name`` (or of every present entry) against the registry."""
    names = [name] if name else list(registry())
    results = []
    for n in names:
        spec = spec_for(n)
        if spec.kind == "folder":
            folder = _folder_path(spec)
            status = "unverified" if folder else "missing"
            results.append(VerifyResult(n, status, folder, "folder present" if folder else "not present"))
            continue
        paths = [p for p in _candidates(spec) if p.is_file()]
        if not paths:
            results.append(VerifyResult(n, "missing", None, "not present"))
            continue
        try:
            sha = _check_file(spec, paths[0])
        except WeightsVerificationError as err:
            results.append(VerifyResult(n, "mismatch", paths[0], str(err)))
            continue
        _write_record(spec, paths[0], sha)
        status = "ok" if spec.sha256 else "unverified"
        msg = f"sha256 {sha}" + ("" if spec.sha256 else " (no published hash to compare with)")
        results.append(VerifyResult(n, status, paths[0], msg))
    return results


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


# ----------------------------------------------------------------------------------------------------------
# Import a file downloaded by hand
# ----------------------------------------------------------------------------------------------------------


def import_file(path: str | Path, name: str | None = None) -> Path:
    """Register a file (or a folder for ``kind = "folder"`` entries) the user downloaded by hand.

    Without ``name`` the entry is found by sha256, else by file name.  The file must match the published
    sha256 when the registry knows it.  It is copied into the weights cache; the path of the copy is returned.
    """
    src = Path(path).expanduser()
    if not src.exists():
        raise WeightsMissingError(f"{src} does not exist")
    specs = registry()
    if src.is_dir():
        folders = [s for s in specs.values() if s.kind == "folder" and (name is None or s.name == name)]
        for spec in folders:
            if all((src / f).is_file() for f in spec.files):
                dest = weights_dir() / "imported" / spec.name
                dest.mkdir(parents=True, exist_ok=True)
                for f in spec.files + tuple(p.name for p in src.iterdir() if p.is_file() and p.suffix in _PICKLE_SUFFIXES):
                    if (src / f).is_file():
                        shutil.copy2(src / f, dest / f)
                return dest
        wanted = next((s for s in folders), None)
        need = f"; it needs {', '.join(wanted.files)}" if wanted and name else ""
        raise InvalidArgumentError(f"{src} is not a folder any registry entry recognises{need}")
    sha = sha256_file(src)
    if name is not None:
        spec = spec_for(name)
    else:
        by_hash = [s for s in specs.values() if s.sha256 and s.sha256.lower() == sha]
        by_name = [s for s in specs.values() if s.filename and Path(s.filename).name == src.name and s.kind != "folder"]
        matches = by_hash or by_name
        if len(matches) != 1:
            what = "several entries" if matches else "no entry"
            raise InvalidArgumentError(
                f"{src.name} (sha256 {sha}) matches {what} of the registry; name the entry with --name"
            )
        spec = matches[0]
    if spec.kind == "folder":
        raise InvalidArgumentError(f"{spec.name} is a folder of files; import the folder, not {src.name}")
    if spec.size is not None and src.stat().st_size != spec.size:
        raise WeightsVerificationError(
            f"{spec.name}: {src} has {src.stat().st_size:,} bytes, the published file has {spec.size:,}; not imported"
        )
    if spec.sha256 is not None and sha != spec.sha256.lower():
        raise WeightsVerificationError(
            f"{spec.name}: checksum mismatch for {src}: expected sha256 {spec.sha256}, got {sha}; not imported"
        )
    dest = _imported_path(spec)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    tmp.replace(dest)
    _write_record(spec, dest, sha)
    return dest


# ----------------------------------------------------------------------------------------------------------
# Safe loading
# ----------------------------------------------------------------------------------------------------------


def _torch_load(path: Path) -> Any:
    import pickle

    import torch

    mmap = zipfile.is_zipfile(path)  # only the zip format can be memory-mapped
    try:
        with torch.serialization.safe_globals(list(EXTRA_SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        text = str(err)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            detail = f"it refers to {found.group(1)}, which is not allowed"
        else:
            found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
            detail = found.group(1).strip() if found else text.splitlines()[0]
        raise WeightsVerificationError(
            f"refused to load {path.name}: it holds Python objects beyond tensors and plain containers, and "
            f"unpickling them could run code from the file ({detail}). Use the published checkpoint or a "
            "safetensors file."
        ) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise WeightsVerificationError(f"{path.name} is not a readable PyTorch checkpoint: {err}") from None


def load_checkpoint(path: str | Path) -> Any:
    """Load a checkpoint without running code from it.

    ``.safetensors`` (+ a ``.json`` sidecar of non-tensor fields when present) through safetensors' memory
    map; ``.npy`` with ``allow_pickle=False``; anything else with ``torch.load(weights_only=True)``.  Returns
    what the file holds: usually a dict (a state dict, or ``{'state_dict', 'opts', 'latent_avg'}``), a
    tensor for e4e direction files, an array for ``.npy``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"checkpoint file {path} does not exist")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    if path.suffix == ".npy":
        import numpy as np

        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:
            raise WeightsVerificationError(f"refused to load {path.name}: not a plain numpy array ({err})") from None
    return _torch_load(path)


# --- safetensors copy of pickle checkpoints: tensors in the .safetensors, the rest in a JSON skeleton -----


def _flatten(obj: Any, prefix: str, tensors: dict[str, Any]) -> Any:
    """JSON skeleton of ``obj``; tensors go to ``tensors`` under their path and leave a placeholder."""
    import torch

    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": [[k, _flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
        if all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in obj):
            return {"__dict__": [[k, _flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
        raise TypeError(f"dict keys of type {sorted({type(k).__name__ for k in obj})}")
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"value of type {type(obj).__name__}")


def _unflatten(skel: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(skel, dict):
        if "__tensor__" in skel:
            return tensors[skel["__tensor__"]]
        if "__tuple__" in skel:
            return tuple(_unflatten(v, tensors) for v in skel["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in skel["__dict__"]}
    if isinstance(skel, list):
        return [_unflatten(v, tensors) for v in skel]
    return skel


def save_safetensors_copy(obj: Any, path: Path) -> Path:
    """Write ``obj`` (nested dicts/lists of tensors and primitives) as safetensors + a JSON sidecar."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    skeleton = _flatten(obj, "", tensors)
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, t in tensors.items():
        t = t.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (0, id(t))
        if key in seen or not t.is_contiguous():
            t = t.contiguous().clone()
        seen.add(key)
        out[k] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    save_file(out, str(tmp), metadata={"format": "faceedit.checkpoint/1"})
    path.with_suffix(".json").write_text(json.dumps({"format": "faceedit.checkpoint/1", "skeleton": skeleton}))
    tmp.replace(path)
    return path


def _load_safetensors(path: Path) -> Any:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a Mapping
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        raise WeightsVerificationError(f"{path.name} is not a readable safetensors file: {err}") from None
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        return _unflatten(data["skeleton"], tensors)
    return tensors


def missing_error(spec: WeightSpec) -> WeightsMissingError:
    """The error for an entry that is not installed, saying how to get it."""
    hint = (
        f"run `python -m faceedit weights fetch {spec.name}`"
        if spec.downloadable
        else f"download it from {spec.source_url} and run `python -m faceedit weights import PATH --name {spec.name}`"
    )
    return WeightsMissingError(f"{spec.name} ({spec.description}) is not installed: {hint}.")


def load_verified(name: str) -> Any:
    """The content of entry ``name``: verified, safely loaded, from its safetensors copy when there is one."""
    spec = spec_for(name)
    path = local_path(name)
    if path is None:
        raise missing_error(spec)
    if spec.kind == "folder" or path.suffix not in _PICKLE_SUFFIXES:
        return load_checkpoint(path) if spec.kind != "folder" else path
    sha = _verified_sha(spec, path)
    converted = _converted_path(spec, sha)
    if converted.is_file() and converted.with_suffix(".json").is_file():
        return _load_safetensors(converted)
    obj = load_checkpoint(path)
    try:
        save_safetensors_copy(obj, converted)
    except (TypeError, OSError, RuntimeError) as err:  # keep working from the pickle file
        log.warning("%s: no safetensors copy written (%s)", name, err)
    return obj


# ----------------------------------------------------------------------------------------------------------
# Building networks
# ----------------------------------------------------------------------------------------------------------

_models: dict[tuple[str, str], Any] = {}


def resolve_loader(spec: WeightSpec) -> Any:
    """The loader function of ``spec``; a clear error when its module is not part of this installation."""
    module_name, _, func_name = spec.loader.partition(":")
    if not module_name or not func_name:
        raise WeightsVerificationError(f"{spec.name}: malformed loader {spec.loader!r} in the manifest")
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise UnsupportedEditError(
            f"{spec.name} cannot be used yet: its network code ({module_name}) is not part of this installation"
        )
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise UnsupportedEditError(f"{spec.name} cannot be used yet: {module_name} has no loader {func_name}()")
    return func


def load_model(name: str, device: Any = None) -> Any:
    """Registry → verified file → loader → object (an ``nn.Module`` is moved, put in eval mode, frozen).

    Loaded once per (name, device) and shared read-only.
    """
    import torch

    from faceedit.device import default_device

    dev = torch.device(device) if device is not None else default_device()
    key = (name, str(dev))
    with _load_lock:
        if key in _models:
            return _models[key]
        spec = spec_for(name)
        loader = resolve_loader(spec)
        if spec.loader_input == "path":
            arg = local_path(name)
            if arg is None:
                raise missing_error(spec)
        else:
            arg = load_verified(name)
        try:
            obj = loader(arg, **dict(spec.kwargs))
        except FaceEditError:
            raise
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            raise WeightsVerificationError(f"{name}: the file does not load into its network: {err}") from None
        if isinstance(obj, torch.nn.Module):
            obj = obj.to(dev).eval().requires_grad_(False)
        _models[key] = obj
        return obj


def clear_model_cache() -> None:
    """Forget loaded models (tests; after importing new weights)."""
    with _load_lock:
        _models.clear()


# ----------------------------------------------------------------------------------------------------------
# Capabilities
# ----------------------------------------------------------------------------------------------------------


def capability_requirements() -> dict[str, list[list[str]]]:
    """Per capability: groups of registry names; every group needs one present entry (globs allowed)."""
    return {k: [list(g) for g in v] for k, v in _read_manifest()[1].items()}


def entries_for(capability: str) -> list[str]:
    """The downloadable entries to fetch so that ``capability`` becomes available (empty when it already is).

    Per requirement group that nothing present satisfies: every downloadable match of its globs (e.g. all
    direction files: they are small and each one is a slider), else its first downloadable name.  Groups that
    only manual downloads can satisfy are skipped (:func:`capabilities` stays False for them).
    """
    if capability not in CAPABILITIES:
        raise InvalidArgumentError(f"unknown capability {capability!r}; one of: {', '.join(CAPABILITIES)}")
    specs = registry()
    wanted: list[str] = []
    for group in capability_requirements().get(capability, []):
        globbed = [n for p in group if any(c in p for c in "*?[") for n in fnmatch.filter(specs, p)]
        plain = [p for p in group if p in specs]
        if any(local_path(n) is not None for n in globbed + plain):
            continue
        fetchable = [n for n in globbed if specs[n].downloadable] or [n for n in plain if specs[n].downloadable][:1]
        wanted += [n for n in fetchable if n not in wanted]
    return wanted


def capabilities() -> dict[str, bool]:
    """For each capability of :data:`CAPABILITIES`: whether the GAN weights it needs are present and verified."""
    specs = registry()
    reqs = capability_requirements()
    present_cache: dict[str, bool] = {}

    def present(pattern: str) -> bool:
        for n in fnmatch.filter(specs, pattern) if any(c in pattern for c in "*?[") else [pattern]:
            if n not in present_cache:
                present_cache[n] = n in specs and local_path(n) is not None
            if present_cache[n]:
                return True
        return False

    return {cap: bool(reqs.get(cap)) and all(any(present(p) for p in group) for group in reqs[cap]) for cap in CAPABILITIES}
