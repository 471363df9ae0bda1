"""The weights cache: where each entry's file lives, sha256 verification (recorded once per file), and
importing a file the user downloaded by hand.

Environment: ``FACEEDIT_WEIGHTS_DIR`` (cache root).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faceedit.errors import (
    InvalidArgumentError,
    WeightsMissingError,
    WeightsVerificationError,
)
from faceedit.weights.manifest import WeightSpec, registry, spec_for

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_PICKLE_SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".pkl")


# ----------------------------------------------------------------------------------------------------------
# Where files live
# ----------------------------------------------------------------------------------------------------------


#: Persistent storage of a Hugging Face Space (mounted at /data when the Space has storage).
PERSISTENT_STORAGE = Path("/data")


def weights_dir() -> Path:
    """``FACEEDIT_WEIGHTS_DIR``; else on a Space with persistent storage (``SPACE_ID`` set, ``/data``
    writable) ``/data/weights``, so downloads survive restarts; else ``<HF cache home>/faceedit``
    (``HF_HOME`` or ``~/.cache/huggingface``)."""
    env = os.environ.get("FACEEDIT_WEIGHTS_DIR")
    if env:
        return Path(env).expanduser()
    if os.environ.get("SPACE_ID") and PERSISTENT_STORAGE.is_dir() and os.access(PERSISTENT_STORAGE, os.W_OK):
        return PERSISTENT_STORAGE / "weights"
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
    if spec.url or spec.repo_id:  # url/<name>/ also holds Hub files fetched by the download manager
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

