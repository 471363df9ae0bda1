"""What every editor takes and returns, the operations editors serve, and the registry check they share.

An editor is one technique (InterfaceGAN sliders, the mask-guided generator's mask edit, the lite
engine's swap, ...).  It works *in aligned space*: it receives a :class:`FaceState` (the aligned crop,
its 19-class label map, its mesh landmarks and the editors' cached data) and returns an
:class:`EditorOutput` (the edited crop, optionally the new label map and the region where the edit may
show).  :class:`faceedit.session.Session` pastes the result back into the full photo and keeps the
history; :class:`faceedit.editors.composer.Composer` picks which editor runs.

Each editor class declares ``name``, ``operation`` (a key of :data:`OPERATIONS`), ``engine`` (the
label results carry: ``"gan"`` or ``"lite"``) and ``requires`` (the weights-registry entries it needs:
a tuple of groups, each satisfied by any one of its names or globs), and builds itself with
:meth:`Editor.from_registry` (None when its weights are absent).
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

#: Operations editors serve: name -> what it does.  New techniques add theirs with :func:`register_operation`.
OPERATIONS: dict[str, str] = {
    "attributes": "move attribute sliders (smile, age, pose, ...)",
    "mask_edit": "redraw the face to follow a painted label map",
    "swap": "take components (eyes, mouth, ...) from a second face",
    "random": "draw a new face from a seed",
}
#: The operations a session on a photo performs, each served by one engine.
PHOTO_OPERATIONS: tuple[str, ...] = ("attributes", "mask_edit", "swap")
#: Engine labels, in order of preference when weights allow.
ENGINES: tuple[str, ...] = ("gan", "lite")


def register_operation(name: str, description: str) -> None:
    """Add an operation (e.g. ``face_swap``, ``stylise``, ``synthesise``) that editors may serve."""
    OPERATIONS.setdefault(name, description)


@dataclass
class EditResult:
    """One edit's outcome, as the UI and the CLI show it."""

    image: np.ndarray  # full-resolution photo with the edit pasted back (H, W, 3) uint8
    crop: np.ndarray  # the aligned crop after the edit (S, S, 3) uint8
    engine: str  # "lite" | "gan" | "gan+lite"
    device: str  # "cpu" | "cuda (...)"
    message: str = ""  # honest notes ("approximate", "cannot synthesize glasses: needs the GAN engine", ...)
    scores: dict[str, float] = field(default_factory=dict)  # measurements, e.g. {"identity_similarity": 0.61}


@dataclass
class FaceState:
    """One face in aligned space: the input of every editor.

    ``cache`` holds derived data shared by the editors of one engine (e.g. the inverted W+ under
    ``cache["gan"]["w"]``); it is rebuilt whenever the crop changes, never shared between faces.
    ``occluder`` marks what lies in front of the face (hands), which edits leave as it is.
    """

    crop: np.ndarray  # (S, S, 3) uint8 aligned crop
    labels: np.ndarray  # (S, S) uint8 canonical 19-class labels
    landmarks: np.ndarray  # (478, 3) float32 mesh landmarks in crop pixels (z in the same scale)
    cache: dict[str, Any] = field(default_factory=dict)
    photo_scale: float | None = None  # crop pixels per pixel of its photo (None: a generated face)
    occluder: np.ndarray | None = None  # (S, S) bool: hands or objects in front of the face; None = none known

    def __post_init__(self) -> None:
        s = self.crop.shape
        assert self.crop.dtype == np.uint8 and len(s) == 3 and s[2] == 3, s
        assert self.labels.shape == s[:2], (self.labels.shape, s)
        assert self.landmarks.ndim == 2 and self.landmarks.shape[1] == 3, self.landmarks.shape
        assert self.occluder is None or self.occluder.shape == s[:2], (None if self.occluder is None
                                                                        else self.occluder.shape)


@dataclass
class EditorOutput:
    """What an editor returns, in aligned space."""

    crop: np.ndarray  # (S, S, 3) uint8 edited crop
    message: str = ""
    labels: np.ndarray | None = None  # the label map of the edited crop, when the edit changed it
    region: np.ndarray | None = None  # (S, S) float32 in [0, 1]: where the edit may show; None = where it changed
    cache: dict[str, Any] | None = None  # editor data already known for the edited face (e.g. its W+)
    engine: str | None = None  # the label the result carries ("lite", "gan", "gan+lite"); set by the composer
    device: str | None = None  # where it was computed, in words; set by the composer
    scores: dict[str, float] | None = None  # measurements of the result (e.g. identity similarity)


def present(pattern: str) -> list[str]:
    """Registry names matching ``pattern`` (a name or a glob) whose files are on this machine."""
    from faceedit import weights

    try:
        names = [n for n in weights.registry() if fnmatch.fnmatchcase(n, pattern)]
        return [n for n in names if weights.local_path(n) is not None]
    except Exception:  # noqa: BLE001 - a broken cache must not stop the offline editors
        return []


def installed(requires: tuple[tuple[str, ...], ...]) -> bool:
    """Whether every group of ``requires`` has at least one present entry."""
    return all(any(present(p) for p in group) for group in requires)


class Editor:
    """One technique behind the composer (see the module docstring); subclasses set the class fields."""

    name: ClassVar[str] = ""
    operation: ClassVar[str] = ""
    engine: ClassVar[str] = "lite"
    requires: ClassVar[tuple[tuple[str, ...], ...]] = ()

    @classmethod
    def from_registry(cls, runtime: Any) -> Editor | None:
        """The editor with its published weights (loaded once per process), or None when they are absent."""
        return cls.build(runtime) if installed(cls.requires) else None

    @classmethod
    def build(cls, runtime: Any) -> Editor | None:
        """Load what :attr:`requires` names through ``runtime`` (a :class:`~faceedit.editors.gan_runtime.GanRuntime`)."""
        return cls()

    @property
    def device(self) -> str:
        """Where it computes, in words."""
        return "cpu"

    def accepts(self, **request: Any) -> bool:
        """Whether this editor can serve ``request`` (e.g. the swap's components); the composer asks first."""
        return True

    def prepare(self, face: FaceState) -> None:
        """Compute what later edits of ``face`` reuse (into ``face.cache``); nothing by default."""


class SliderEditor(Editor):
    """An attribute editor whose live preview is the same edit made faster (a lower resolution, a lower
    precision): :meth:`apply` and :meth:`preview` both run :meth:`edit_sliders`, which subclasses write."""

    def apply(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None = None,
              region: np.ndarray | None = None, conditions: dict[str, list[str]] | None = None,
              after: tuple[str, ...] = (), guest: bool = False) -> EditorOutput:
        """The sliders' edit of ``crop`` (default: the face), on release."""
        return self.edit_sliders(face, values, crop, region, conditions, preview=False)

    def preview(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None = None,
                region: np.ndarray | None = None, conditions: dict[str, list[str]] | None = None,
                after: tuple[str, ...] = (), guest: bool = False) -> EditorOutput:
        """:meth:`apply`, quickly, while a slider is dragged (nothing cached for later)."""
        return self.edit_sliders(face, values, crop, region, conditions, preview=True)

    def edit_sliders(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None,
                     region: np.ndarray | None, conditions: dict[str, list[str]] | None,
                     preview: bool) -> EditorOutput:
        raise NotImplementedError
