"""The manifest (``manifest.toml`` beside this module, package data) read into frozen :class:`WeightSpec` rows.

Environment: ``FACEEDIT_MANIFEST`` (another manifest).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from faceedit.errors import (
    InvalidArgumentError,
    WeightsMissingError,
    WeightsVerificationError,
)

#: The manifest shipped inside the package (installed with it as package data).
DEFAULT_MANIFEST = Path(__file__).resolve().with_name("manifest.toml")

#: Capability names reported by :func:`capabilities`.
CAPABILITIES: tuple[str, ...] = ("parse", "invert", "attributes", "mask_edit", "swap", "random")

#: Operations a manifest row may serve (``operations = [...]``); the first six are today's capabilities.
OPERATIONS: tuple[str, ...] = (*CAPABILITIES, "face_swap", "stylise", "synthesise", "train_style")


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
    operations: tuple[str, ...] = ()  # operations of the app this file serves (values of OPERATIONS)
    slider: str = ""  # direction rows: the slider's name ("" = not a slider of its own)
    group: str = "other"  # direction rows: where the page lists the slider ("expression", "hair", ...)
    layers: tuple[int, int] | None = None  # direction rows: W+ layers [start, stop) the edit moves

    @property
    def downloadable(self) -> bool:
        """Whether :func:`fetch` knows where to download it."""
        return bool(self.repo_id or self.url)


# ----------------------------------------------------------------------------------------------------------
# Manifest
# ----------------------------------------------------------------------------------------------------------

_manifest_cache: dict[tuple[str, float], tuple[dict[str, WeightSpec], dict[str, list[list[str]]]]] = {}


def manifest_path() -> Path:
    """``FACEEDIT_MANIFEST`` or the package's ``manifest.toml``."""
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
            for key_ in ("unverified", "files", "operations"):
                row[key_] = tuple(row.get(key_, ()))
            if row.get("layers") is not None:
                row["layers"] = tuple(row["layers"])
            unknown = set(row) - set(WeightSpec.__dataclass_fields__)
            if unknown or not {"name", "description", "loader"} <= set(row):
                raise WeightsVerificationError(
                    f"the weights manifest {path}: entry {row.get('name')!r} has unknown fields {sorted(unknown)} "
                    "or lacks name/description/loader"
                )
            bad = set(row["operations"]) - set(OPERATIONS)
            layers = row.get("layers")
            if bad or (layers is not None and not (len(layers) == 2 and 0 <= layers[0] < layers[1])):
                raise WeightsVerificationError(
                    f"the weights manifest {path}: entry {row['name']!r} has unknown operations {sorted(bad)} "
                    f"(known: {', '.join(OPERATIONS)}) or layers {layers} that are not [start, stop)"
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

