"""The engine interface: what every editing engine takes and returns, and how one is chosen.

An engine edits a face *in aligned space*: it receives a :class:`FaceState` (the
aligned crop, its 19-class label map, its mesh landmarks and the engine's cached
latents) and returns an :class:`EngineOutput` (the edited crop, optionally the new
label map and the region where the edit may show).  :class:`faceedit.session.Session`
pastes the result back into the full photo and keeps the history.

Engines are chosen per capability (``attributes``, ``mask_edit``, ``swap``) from
the weights present (:func:`faceedit.weights.capabilities`); the environment
variable ``FACEEDIT_ENGINE=lite|gan`` forces one for everything.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from faceedit.errors import InvalidArgumentError, WeightsMissingError

#: Engine names, in order of preference when weights allow.
ENGINE_NAMES: tuple[str, ...] = ("gan", "lite")
#: Operations a session performs; each is served by one engine.
OPERATIONS: tuple[str, ...] = ("attributes", "mask_edit", "swap")


@dataclass
class EditResult:
    """One edit's outcome, as the UI and the CLI show it."""

    image: np.ndarray  # full-resolution photo with the edit pasted back (H, W, 3) uint8
    crop: np.ndarray  # the aligned crop after the edit (S, S, 3) uint8
    engine: str  # "lite" | "gan"
    device: str  # "cpu" | "cuda (...)"
    message: str = ""  # honest notes ("approximate", "cannot synthesize glasses: needs the GAN engine", ...)


@dataclass
class FaceState:
    """One face in aligned space: the input of every engine operation.

    ``cache`` holds per-engine derived data (e.g. the GAN engine's inverted W+),
    keyed by engine name; it is rebuilt whenever the crop changes, never shared
    between faces.
    """

    crop: np.ndarray  # (S, S, 3) uint8 aligned crop
    labels: np.ndarray  # (S, S) uint8 canonical 19-class labels
    landmarks: np.ndarray  # (478, 3) float32 mesh landmarks in crop pixels (z in the same scale)
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        s = self.crop.shape
        assert self.crop.dtype == np.uint8 and len(s) == 3 and s[2] == 3, s
        assert self.labels.shape == s[:2], (self.labels.shape, s)
        assert self.landmarks.ndim == 2 and self.landmarks.shape[1] == 3, self.landmarks.shape


@dataclass
class EngineOutput:
    """What an engine operation returns, in aligned space."""

    crop: np.ndarray  # (S, S, 3) uint8 edited crop
    message: str = ""
    labels: np.ndarray | None = None  # the label map of the edited crop, when the edit changed it
    region: np.ndarray | None = None  # (S, S) float32 in [0, 1]: where the edit may show; None = where it changed
    cache: dict[str, Any] | None = None  # engine data already known for the edited face (e.g. its W+)
    engine: str | None = None  # who made it when not (only) the called engine, e.g. "lite" or "gan+lite"


@runtime_checkable
class Engine(Protocol):
    """An editing engine: the same operations, with the same arguments, in every implementation."""

    name: str  # "lite" | "gan"

    @property
    def device(self) -> str:
        """Where it computes, in words (``cpu``, ``cuda (NVIDIA H100)``)."""
        ...

    def attribute_names(self) -> list[str]:
        """The slider names :meth:`attributes` accepts."""
        ...

    def attribute_range(self, name: str) -> tuple[float, float]:
        """The allowed slider range of ``name``."""
        ...

    def parse(self, crop: np.ndarray) -> np.ndarray:
        """The 19-class label map of an aligned crop."""
        ...

    def prepare(self, face: FaceState) -> None:
        """Compute what later slider moves reuse (e.g. the inverted W+) into ``face.cache``."""
        ...

    def attributes(self, face: FaceState, values: dict[str, float],
                   conditions: dict[str, tuple[str, ...]] | None = None) -> EngineOutput:
        """Move attribute sliders to absolute ``values`` (0 = unchanged), optionally conditioned."""
        ...

    def edit_mask(self, face: FaceState, new_labels: np.ndarray) -> EngineOutput:
        """Redraw the face so it follows the painted label map."""
        ...

    def swap(self, face: FaceState, reference: FaceState, components: tuple[str, ...]) -> EngineOutput:
        """Take ``components`` (eyes, brows, nose, mouth, hair, skin) from ``reference``."""
        ...


_lock = threading.Lock()
_engines: dict[str, Engine] = {}


def get_engine(name: str) -> Engine:
    """The process-wide instance of engine ``name`` (created once, shared read-only)."""
    key = name.strip().lower()
    if key not in ENGINE_NAMES:
        raise InvalidArgumentError(f"Unknown engine {name!r}; choose from: {', '.join(ENGINE_NAMES)}.")
    with _lock:
        if key not in _engines:
            if key == "lite":
                from faceedit.editors.lite_ops import LiteEngine

                _engines[key] = LiteEngine()
            else:
                from faceedit.engines.gan import GanEngine

                _engines[key] = GanEngine.from_registry()
        return _engines[key]


def _capabilities() -> dict[str, bool]:
    """The weights registry's capabilities, or none when the registry is not available."""
    try:
        from faceedit.weights import capabilities
    except ImportError:
        return {}
    try:
        return dict(capabilities())
    except Exception:  # a broken cache must not stop the offline engine
        return {}


def forced_engine() -> str | None:
    """The engine named by ``FACEEDIT_ENGINE`` (``lite`` / ``gan``), or None when unset."""
    value = os.environ.get("FACEEDIT_ENGINE", "").strip().lower()
    if not value or value == "auto":
        return None
    if value not in ENGINE_NAMES:
        raise InvalidArgumentError(
            f"FACEEDIT_ENGINE={value!r} is not an engine; use one of: {', '.join(ENGINE_NAMES)} (or unset it)."
        )
    return value


def gan_can(operation: str) -> bool:
    """Whether the GAN engine has the weights ``operation`` needs.

    A swap needs the mask-guided generator, or just the encoder (composite + re-encode).
    """
    caps = _capabilities()
    if operation == "swap":
        return bool(caps.get("swap", False) or caps.get("invert", False))
    return bool(caps.get(operation, False))


def engine_for(operation: str, requested: str | None = None) -> str:
    """Name of the engine that serves ``operation``.

    ``requested`` (or ``FACEEDIT_ENGINE``) forces an engine; asking for the GAN
    engine when the weights for that operation are missing raises
    :class:`~faceedit.errors.WeightsMissingError`.  Otherwise the GAN engine serves
    every operation whose weights are present and the lite engine the rest.
    """
    if operation not in OPERATIONS:
        raise InvalidArgumentError(f"Unknown operation {operation!r}; one of: {', '.join(OPERATIONS)}.")
    wanted = (requested or "").strip().lower() or forced_engine()
    if wanted in (None, "", "auto"):
        return "gan" if gan_can(operation) else "lite"
    if wanted not in ENGINE_NAMES:
        raise InvalidArgumentError(f"Unknown engine {wanted!r}; choose from: {', '.join(ENGINE_NAMES)}.")
    if wanted == "gan" and not gan_can(operation):
        raise WeightsMissingError(
            f"The GAN engine needs weights for {operation.replace('_', ' ')} that are not installed. "
            "Run `python -m faceedit weights list` to see what is missing and `python -m faceedit weights "
            "fetch NAME` to get it, or use the lite engine (FACEEDIT_ENGINE=lite)."
        )
    return wanted
