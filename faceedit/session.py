"""One user's photo being edited: the face, its alignment and labels, cached latents, and a history.

A :class:`Session` is the backend object the UI keeps in ``gr.State``, the CLI
creates per call, and the tests drive.  It works in aligned space and pastes every
result back into the full original photo at its original resolution::

    s = Session.from_photo("portrait.jpg")
    r = s.set_attributes({"smile": 1.5})        # absolute slider values, 0 = original
    r = s.edit_mask(painted_labels)             # the repainted 19-class map
    r = s.swap("other.jpg", ["eyes", "mouth"])  # components from a second face
    r = s.undo()                                # the previous result, exactly
    print(r.engine, r.device, r.message)

Structural edits (mask edit, swap) produce a new *base* face; attribute sliders are
absolute values applied on top of the current base (so a slider keeps its value
across a mask edit).  Each operation is served by the engine its composer chooses for it
(:meth:`faceedit.editors.composer.Composer.engine_for`); the session gets its composer explicitly
(``Session.from_photo(img, composer=...)``, by default one built from the weights registry).  A session
is safe to use from several threads (one lock per session); editors and their models are shared read-only.

``Session.from_photo(..., prefetch=True)`` (the page does this) runs the attribute editors' prepare step (the
W+ inversion on the GAN engine) in a background thread: opening returns at once and the first operation waits
only for what is left of it, and re-raises its error if it failed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceedit.editors.base import PHOTO_OPERATIONS, EditorOutput, EditResult, FaceState
from faceedit.editors.composer import AttributeChain, Composer
from faceedit.errors import InvalidArgumentError, NoFaceFoundError, WeightsMissingError
from faceedit.labels import check_label_map

#: Pixels (at 512 px) a changed area is grown by before feathering into the photo.
PASTE_MARGIN = 6
#: Slider-name words that make an edit about an accessory class (it may then change it).
ACCESSORY_SLIDERS: dict[str, str] = {"glass": "eye_g", "hat": "hat", "earring": "ear_r", "necklace": "neck_l"}
#: Slider names that turn the head: accessories and occluders move with it, so nothing is protected.
TURNING_SLIDERS: tuple[str, ...] = ("pose", "pitch", "yaw")


def slider_classes(name: str) -> tuple[str, ...]:
    """The accessory classes a slider is about (``eyeglasses`` -> ``("eye_g",)``; most sliders: none)."""
    key = name.lower()
    return tuple(c for word, c in ACCESSORY_SLIDERS.items() if word in key)


def turns_head(values: dict[str, float]) -> bool:
    """Whether any non-zero slider in ``values`` turns the head."""
    return any(v != 0 and any(t in k.lower() for t in TURNING_SLIDERS) for k, v in values.items())


@dataclass
class _Step:
    """One history entry: the base face, the slider values on top of it, and what was shown."""

    base: FaceState
    values: dict[str, float]
    result: EditResult
    region: np.ndarray | None = None  # crop-space paste-back weight of this result
    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # slider -> attributes it must keep
    made_by: str = ""  # the operation that made ``base`` ("" for the photo itself)
    before: _Step | None = None  # the step that operation started from
    note: str = ""  # what that operation said of ``base`` (e.g. the style), kept in later slider results


@dataclass
class _Photo:
    """A photo aligned and parsed by the session pipeline."""

    image: np.ndarray
    alignment: Any
    face: FaceState
    num_faces: int = 1
    extra: dict[str, Any] = field(default_factory=dict)


def _crop_landmarks(landmarks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Photo-space mesh points carried into crop space (z scaled like x and y)."""
    pts = np.asarray(landmarks, np.float64)
    xy = pts[:, :2] @ matrix[:, :2].T + matrix[:, 2]
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    return np.concatenate([xy, pts[:, 2:3] * scale], 1).astype(np.float32)


def _detect_crop_landmarks(crop: np.ndarray) -> np.ndarray | None:
    """Mesh landmarks of an (edited) aligned crop, or None when no face is found in it."""
    from faceedit.landmarks import detect_faces

    faces = detect_faces(crop, max_faces=1)
    return faces[0].landmarks.astype(np.float32) if faces else None


def prepare_photo(image: Any, face_index: int = 0, size: int = 512,
                  parse: Callable[[np.ndarray], Any] | None = None) -> _Photo:
    """Load, detect, align (FFHQ recipe) and parse a photo; the common entry of sessions and references.

    ``parse`` returns a label map, or a :class:`~faceedit.parsing.landmark.Parsing` (labels, occluder,
    notes; default: the offline parser's); its occluder goes into the face, its notes into ``extra["notes"]``.
    """
    from faceedit.align import align_face
    from faceedit.imaging import load_image
    from faceedit.landmarks import detect_faces, pick_face

    if isinstance(image, Session):
        return _Photo(image.original, image.alignment, image._history[image._index].base, image.num_faces)
    img = load_image(Path(image) if isinstance(image, str) else image)
    faces = detect_faces(img)
    face = pick_face(faces, face_index)
    crop, alignment = align_face(img, face, size=size)
    landmarks = _crop_landmarks(face.landmarks, np.asarray(alignment.matrix, np.float64))
    parsed = (parse or _parse_detailed)(crop)
    occluder, notes = None, {}
    if not isinstance(parsed, np.ndarray):  # a Parsing
        parsed, occluder, notes = parsed.labels, parsed.occluder, dict(parsed.notes)
        occluder = np.asarray(occluder, bool) if occluder is not None and np.any(occluder) else None
    labels = check_label_map(parsed)
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(alignment.matrix, np.float64)[:, :2]))))
    face = FaceState(crop=crop, labels=labels, landmarks=landmarks, occluder=occluder, photo_scale=scale)
    return _Photo(img, alignment, face, len(faces), {"notes": notes})


def _parse_detailed(crop: np.ndarray) -> Any:
    """The offline parser's labels, occluder and notes."""
    from faceedit.parsing.landmark import LandmarkParser

    return LandmarkParser().parse_detailed(crop)


def _resolve_engines(composer: Composer, engine: str | None) -> tuple[dict[str, str], dict[str, WeightsMissingError]]:
    """Per photo operation, the engine ``composer`` serves it with (``engine`` forces one); a forced GAN engine
    without weights for an operation other than the sliders fails when that operation is used."""
    engines: dict[str, str] = {}
    missing: dict[str, WeightsMissingError] = {}
    for op in PHOTO_OPERATIONS:
        try:
            engines[op] = composer.engine_for(op, engine)
        except WeightsMissingError as err:
            if op == "attributes":
                raise
            engines[op], missing[op] = "gan", err
    return engines, missing


def _face_number(value: Any, role: str) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"The {role} face number must be a whole number; got {value!r}.") from None


def prepare_second_photo(image: Any, face_index: Any = 0, size: int = 512,
                         parse: Callable[[np.ndarray], np.ndarray] | None = None, role: str = "reference") -> FaceState:
    """Face ``face_index`` of a second photo (a swap's reference, a face swap's source), aligned and parsed;
    its errors name the photo's ``role`` ("No face was found in the source photo")."""
    from faceedit.errors import FaceIndexError

    try:
        return prepare_photo(image, face_index=_face_number(face_index, role), size=size, parse=parse).face
    except NoFaceFoundError:
        raise NoFaceFoundError(f"No face was found in the {role} photo. Use a {role} photo where a face is clearly "
                               "visible, roughly frontal and not too small.") from None
    except FaceIndexError as err:
        raise FaceIndexError(str(err).replace("the photo", f"the {role} photo")) from None


class Session:
    """An editing session on one face of one photo (see the module docstring)."""

    def __init__(self, photo: _Photo, engines: dict[str, str], composer: Composer) -> None:
        self.original: np.ndarray = photo.image
        self.alignment = photo.alignment
        self.num_faces: int = photo.num_faces
        self.composer = composer
        self.engines: dict[str, str] = dict(engines)  # operation -> engine name
        self._missing: dict[str, WeightsMissingError] = {}  # operations the forced engine has no weights for
        self._requested: str | None = None  # the engine asked for at opening (None: from the weights present)
        self._generation = getattr(composer, "generation", 0)  # a LiveComposer's swaps (faceedit.live_composer)
        self._lock = threading.RLock()
        first = self.engines["attributes"]
        initial = EditResult(image=photo.image.copy(), crop=photo.face.crop.copy(), engine=first,
                             device=composer.device(first), message="")
        self._initial_crop = photo.face.crop
        self.parse_notes: dict[str, str] = dict(photo.extra.get("notes") or {})  # what the parser found or not
        self._history: list[_Step] = [_Step(photo.face, {}, initial)]
        self._index = 0
        self._photos: dict[tuple[str, int, int, str], FaceState] = {}  # second photos (sources), aligned once
        self.seed: int | None = None  # set for generated faces (from_seed)
        self.truncation: float | None = None
        self.mix: tuple[str, int] | None = None
        self._pending: Future | None = None  # the opened face's prepare step running in the background

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_photo(cls, image: Any, face_index: int = 0, engine: str | None = None, size: int = 512,
                   composer: Composer | None = None, prefetch: bool = False) -> Session:
        """Open a photo (path, bytes, PIL image or array) on face ``face_index`` (largest first).

        ``composer`` holds the editors (default: :meth:`Composer.from_registry`, which reads
        ``FACEEDIT_ENGINE``); ``engine`` forces ``"lite"`` or ``"gan"`` for every operation; by default
        each operation uses the GAN engine when its weights are present and the lite engine otherwise.
        With ``prefetch`` the GAN attribute editors' prepare step (the W+ inversion) runs in a background
        thread and the first operation waits for it (see the module docstring); the lite path is synchronous.
        """
        if size not in (256, 512, 1024):
            raise InvalidArgumentError(f"The aligned crop size must be 256, 512 or 1024; got {size}.")
        composer = composer if composer is not None else Composer.from_registry()
        engines, missing = _resolve_engines(composer, engine)
        # BiSeNet when any operation uses the GAN weights, else the landmark parser.
        kind = "gan" if "gan" in engines.values() else "lite"
        photo = prepare_photo(image, face_index=face_index, size=size,
                              parse=lambda c: composer.parse_detailed(c, kind))
        session = cls(photo, engines, composer)
        session._missing, session._requested = missing, engine
        chain = session._chain()
        if prefetch and chain.engine == "gan":
            session._pending = _in_background(chain.prepare, photo.face)
        else:
            chain.prepare(photo.face)
        return session

    def ready(self) -> None:
        """Wait for the opened face's background prepare step (if any); re-raise its error once."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    @classmethod
    def from_seed(cls, seed: int, truncation: float = 0.7, mix: tuple[str, int] | None = None,
                  engine: str | None = None, composer: Composer | None = None) -> Session:
        """A session on a face the StyleGAN2 generator draws from ``seed`` (no photo, no inversion).

        ``truncation`` psi in 0..1 pulls the face toward the average one; ``mix`` =
        (``"coarse"`` | ``"middle"`` | ``"fine"``, other_seed) takes those style layers from
        a second seed.  Its W+ is known exactly, so sliders, undo and export work as for
        a photo; results are the generated image itself (nothing to paste back into).
        """
        from faceedit.errors import FaceEditError

        composer = composer if composer is not None else Composer.from_registry()
        faces = composer.random(engine)
        w = faces.face_latent(seed, truncation, mix)
        image = faces.generate(w)
        labels, landmarks = np.zeros(image.shape[:2], np.uint8), None
        if min(image.shape[:2]) >= 64:  # smaller test generators draw nothing a parser could read
            try:
                labels = composer.parse(image, "gan")
                landmarks = _detect_crop_landmarks(image)
            except FaceEditError:  # no face found in an odd sample: nothing to paint over yet
                pass
        if landmarks is None:
            landmarks = np.zeros((478, 3), np.float32)
        face = FaceState(crop=image, labels=labels, landmarks=landmarks, cache={"gan": {"w": w, "generated": True}})
        engines = {op: "gan" if composer.can(op, "gan") else "lite" for op in PHOTO_OPERATIONS}
        engines["attributes"] = "gan"
        session = cls(_Photo(image, None, face, 1), engines, composer)
        session.seed, session.truncation, session.mix = int(seed), float(truncation), mix
        session._requested = engine
        return session

    # ------------------------------------------------------------------ state
    @property
    def crop(self) -> np.ndarray:
        """The original aligned crop (before any edit)."""
        return self._initial_crop

    @property
    def initial_labels(self) -> np.ndarray:
        """The label map of the original aligned crop."""
        return self._history[0].base.labels

    @property
    def labels(self) -> np.ndarray:
        """The label map of the current base face (what the brush paints over)."""
        with self._lock:
            return self._history[self._index].base.labels

    @property
    def occluder(self) -> np.ndarray | None:
        """``(S, S) bool``: what lies in front of the face (hands) in the current base face, or None."""
        with self._lock:
            return self._history[self._index].base.occluder

    @property
    def values(self) -> dict[str, float]:
        """The current absolute slider values."""
        with self._lock:
            return dict(self._history[self._index].values)

    @property
    def current(self) -> EditResult:
        """The result shown now."""
        with self._lock:
            return self._history[self._index].result

    @property
    def engine_name(self) -> str:
        """``lite`` or ``gan`` when one engine serves everything, else e.g. ``gan+lite``."""
        self._follow_composer()
        names = sorted(set(self.engines.values()))
        return names[0] if len(names) == 1 else "+".join(sorted(names, key=["gan", "lite"].index))

    def _follow_composer(self) -> None:
        """After the composer was swapped for one with new weights (a download in the running app), pick each
        operation's engine again, so the next operation runs on the editors installed since the opening."""
        generation = getattr(self.composer, "generation", 0)
        if generation == self._generation:
            return
        with self._lock:
            engines, missing = _resolve_engines(self.composer, self._requested)
            if self.seed is not None:  # a generated face keeps its W+ sliders
                engines["attributes"] = "gan"
            self.engines, self._missing, self._generation = engines, missing, generation

    def _engine(self, operation: str) -> str:
        """The engine serving ``operation`` (the forced engine's missing weights are reported here)."""
        self._follow_composer()
        if operation in self._missing:
            raise self._missing[operation]
        return self.engines[operation]

    def _chain(self) -> AttributeChain:
        return self.composer.attributes(self._engine("attributes"))

    def attribute_names(self) -> list[str]:
        """The slider names of the attribute editors."""
        return self._chain().names()

    def attribute_range(self, name: str) -> tuple[float, float]:
        """The allowed range of slider ``name``."""
        return self._chain().range(name)

    def attribute_directions(self) -> Any:
        """The latent-direction library of the attribute editors (None on the lite engine)."""
        return self._chain().directions

    def attribute_groups(self) -> dict[str, str]:
        """Slider name -> the group the page shows it in (``expression``, ``age and gender``, ...)."""
        return self._chain().groups()

    # ------------------------------------------------------------------ operations
    def set_attributes(self, values: dict[str, float],
                       conditions: dict[str, list[str] | tuple[str, ...]] | None = None) -> EditResult:
        """Move sliders to absolute ``values`` (others keep their value); 0 everywhere = the base face.

        ``conditions`` (GAN engine) maps a slider to attributes it must leave unchanged,
        e.g. ``{"smile": ["age"]}`` moves along smile made orthogonal to age (InterfaceGAN's
        conditional manipulation); it replaces the conditions in force when given.
        """
        with self._lock:
            step, merged, conds, (result, region) = self._slide(values, conditions, preview=False)
            return self._push(_Step(step.base, merged, result, region, conds, step.made_by, step.before, step.note))

    def preview_attributes(self, values: dict[str, float],
                           conditions: dict[str, list[str] | tuple[str, ...]] | None = None) -> EditResult:
        """A quick result of :meth:`set_attributes` for the live preview while a slider moves.

        Same arguments; the editors render at lower resolution (the GAN generator stops at
        ``PREVIEW_RESOLUTION`` px of its own pass, the lite warps run on a half-size crop).  Nothing is
        added to the history: undo, redo and :attr:`current` are as before.
        """
        with self._lock:
            return self._slide(values, conditions, preview=True)[3][0]

    def _slide(self, values: dict[str, float], conditions: dict[str, list[str] | tuple[str, ...]] | None,
               preview: bool) -> tuple[_Step, dict[str, float], dict[str, tuple[str, ...]], Any]:
        """The current step, the merged values and conditions, and the rendered (result, region)."""
        self.ready()
        chain = self._chain()
        step = self._history[self._index]
        merged = chain.check_values({**step.values, **values})
        conds = step.conditions if conditions is None else {k: tuple(v) for k, v in conditions.items() if v}
        rendered = self._render(step.base, merged, chain, note=step.note, conditions=conds, preview=preview)
        return step, merged, conds, rendered

    def attribute_strip(self, name: str, values: tuple[float, ...] = (-3, -2, -1, 0, 1, 2, 3),
                        conditions: list[str] | tuple[str, ...] | None = None) -> list[np.ndarray]:
        """Crops of the current face with slider ``name`` at each of ``values`` (others as set).

        For the entanglement view: the same strip with ``conditions`` shows what
        conditional editing removes.  Nothing is added to the history.
        """
        chain = self._chain()
        with self._lock:
            self.ready()
            step = self._history[self._index]
            conds = {name: tuple(conditions)} if conditions else {}
            out = []
            for v in values:
                merged = chain.check_values({**step.values, name: v})
                if all(x == 0 for x in merged.values()):
                    out.append(step.base.crop.copy())
                else:
                    out.append(chain.apply(step.base, merged, conditions=conds).crop)
            return out

    def edit_mask(self, new_labels: np.ndarray) -> EditResult:
        """Redraw the face to follow the painted label map (same size as the aligned crop)."""
        engine = self._engine("mask_edit")
        labels = check_label_map(new_labels)
        with self._lock:
            self.ready()
            step = self._history[self._index]
            return self._structural(step, self.composer.edit_mask(step.base, labels, engine))

    def preview_mask(self, new_labels: np.ndarray) -> EditResult:
        """What :meth:`edit_mask` would show, quickly, for the live view while painting; not in the history.

        The face is redrawn by the same editor (the mask-guided generator recomputes only the painted
        rectangle) and pasted back; sliders already set are re-applied on a lite chain, while on the GAN
        chain (which would invert the new face first) they join when the map is applied, as the message says.
        A map equal to the current one gives the current result.
        """
        engine = self._engine("mask_edit")
        labels = check_label_map(new_labels)
        with self._lock:
            self.ready()
            step = self._history[self._index]
            if np.array_equal(labels, step.base.labels):
                return step.result
            out = self.composer.edit_mask(step.base, labels, engine)
            base = self._edited_base(step, out, find_landmarks=False)
            chain = self._chain()
            sliders = any(v != 0 for v in step.values.values())
            if sliders and chain.engine == "lite":
                chain.prepare(base)
                result, _ = self._render(base, step.values, chain, note=out.message, conditions=step.conditions,
                                         preview=True)
                return result
            note = "preview" + ("; the sliders set join when the map is applied" if sliders else "")
            return self._paste(out, "; ".join(m for m in (note, out.message) if m), base, step.values)[0]

    def swap(self, reference: Any, components: list[str] | tuple[str, ...]) -> EditResult:
        """Take ``components`` (eyes, brows, nose, mouth, hair, skin) from the largest face of ``reference``."""
        from faceedit.labels import component_indices

        names = [c.strip().lower() for c in (components.split(",") if isinstance(components, str) else components)]
        names = [c for c in names if c]
        if not names:
            raise InvalidArgumentError("Choose at least one component to swap: eyes, brows, nose, mouth, hair, skin.")
        component_indices(names)
        engine = self._engine("swap")
        with self._lock:
            self.ready()
            step = self._history[self._index]
            size = step.base.crop.shape[0]
            try:
                ref = prepare_photo(reference, size=size, parse=lambda c: self.composer.parse(c, engine))
            except NoFaceFoundError:
                raise NoFaceFoundError(
                    "No face was found in the reference photo. Use a reference where a face is clearly "
                    "visible, roughly frontal and not too small."
                ) from None
            return self._structural(step, self.composer.swap(step.base, ref.face, tuple(names), engine))

    def run(self, operation: str, engine: str | None = None, **request: Any) -> EditResult:
        """Any other operation by name (a new technique's ``face_swap``, ``stylise``, ...).

        The composer's editor for ``operation`` gets the current face and ``request`` (its ``edit(face,
        **request)`` returns an :class:`EditorOutput`).  A second photo in the request (``reference=`` or
        ``source=``: a path, bytes, PIL image or array; face ``reference_face=`` / ``source_face=``, largest
        first) is aligned and parsed first, once per photo and face, and handed over as a ``FaceState``.
        The result becomes the new base face: history, paste-back and the sliders on top work as for a mask
        edit.  An editor with ``restarts = True`` (face swap) run on its own operation's result starts again
        from the face before it, keeping the sliders.
        """
        kind = self.composer.engine_for(operation, engine)
        with self._lock:
            self.ready()
            step = self._history[self._index]
            size = step.base.crop.shape[0]
            for key in ("reference", "source"):
                index = request.pop(f"{key}_face", 0)
                if key in request and not isinstance(request[key], FaceState):
                    request[key] = self._second_photo(request[key], index, size, kind, key)
            editor = self.composer.pick(operation, kind, **request)
            start = step
            if getattr(editor, "restarts", False) and step.made_by == operation and step.before is not None:
                start = _Step(step.before.base, dict(step.values), step.result, step.region, dict(step.conditions),
                              step.before.made_by, step.before.before, step.before.note)
            out = editor.edit(start.base, **request)
            out.engine, out.device = out.engine or editor.engine, out.device or editor.device
            return self._structural(start, out, made_by=operation)

    def _second_photo(self, photo: Any, face_index: Any, size: int, kind: str, role: str) -> FaceState:
        """A second photo's face ``face_index`` aligned at ``size`` and parsed (cached per photo and face)."""
        import hashlib

        from faceedit.imaging import load_image

        if isinstance(photo, Session):
            return prepare_photo(photo).face
        img = load_image(Path(photo) if isinstance(photo, str) else photo)
        key = (hashlib.sha1(img.tobytes()).hexdigest() + str(img.shape), _face_number(face_index, role), size, kind)
        if key not in self._photos:
            found = prepare_second_photo(img, key[1], size, lambda c: self.composer.parse(c, kind), role)
            while len(self._photos) >= 4:  # a few recent ones: a strength slider reuses the same source
                self._photos.pop(next(iter(self._photos)))
            self._photos[key] = found
        return self._photos[key]

    def history_start(self) -> EditResult:
        """The first result of the session (the unedited photo or generated face)."""
        return self._history[0].result

    def undo(self) -> EditResult:
        """Go back one step (the result shown before, exactly); at the start it stays there."""
        with self._lock:
            self._index = max(0, self._index - 1)
            return self._history[self._index].result

    def redo(self) -> EditResult:
        """Go forward one undone step; with nothing to redo it stays."""
        with self._lock:
            self._index = min(len(self._history) - 1, self._index + 1)
            return self._history[self._index].result

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index < len(self._history) - 1

    # ------------------------------------------------------------------ internals
    @staticmethod
    def _edited_base(step: _Step, out: EditorOutput, find_landmarks: bool = True) -> FaceState:
        """The face an edit made from ``step``'s: its crop and labels, landmarks found again (when asked)."""
        labels = out.labels if out.labels is not None else step.base.labels
        landmarks = step.base.landmarks
        if find_landmarks and not np.array_equal(out.crop, step.base.crop):
            found = _detect_crop_landmarks(out.crop)
            if found is not None:
                landmarks = found
        return FaceState(crop=out.crop, labels=np.asarray(labels, np.uint8), landmarks=landmarks,
                         cache=dict(out.cache or {}), occluder=step.base.occluder,
                         photo_scale=step.base.photo_scale)

    def _structural(self, step: _Step, out: EditorOutput, made_by: str = "") -> EditResult:
        """A mask edit or swap made a new base face; re-apply the sliders on top of it."""
        base = self._edited_base(step, out)
        chain = self._chain()
        chain.prepare(base)
        if any(v != 0 for v in step.values.values()):
            result, region = self._render(base, step.values, chain, note=out.message, conditions=step.conditions)
        else:
            result, region = self._paste(out, out.message, base, step.values)
        result.scores = dict(out.scores or {})
        return self._push(_Step(base, dict(step.values), result, region, dict(step.conditions), made_by, step,
                                out.message))

    def _render(self, base: FaceState, values: dict[str, float], chain: AttributeChain, note: str = "",
                conditions: dict[str, tuple[str, ...]] | None = None,
                preview: bool = False) -> tuple[EditResult, np.ndarray | None]:
        """The base face with sliders applied (quickly with ``preview``), pasted back."""
        if all(v == 0 for v in values.values()):
            if base is self._history[0].base:
                first = self._history[0]
                return first.result, first.region
            return self._paste(EditorOutput(base.crop, engine=chain.engine, device=chain.device), note, base, values)
        out = (chain.preview if preview else chain.apply)(base, values, conditions=conditions or {})
        note = "; ".join(m for m in ("preview" if preview else "", note) if m)
        return self._paste(out, "; ".join(m for m in (note, out.message) if m), base, values)

    def protection(self, base: FaceState, values: dict[str, float]) -> np.ndarray | None:
        """``(S, S) float32``: where a result of ``base`` with sliders at ``values`` must keep the photo.

        The accessories (glasses, hat, earrings, necklace) and the occluder (hands) of the original
        parse, except what the user's edits are about: accessory classes whose labels the edits so far
        changed (a painted or removed class), sliders about an accessory (``eyeglasses``), and occluder
        pixels painted over.  None (nothing kept) when a slider turns the head: accessories move with it.
        """
        from faceedit.labels import ACCESSORIES, INDEX, protected_mask

        if turns_head(values):
            return None
        first = self._history[0].base
        initial = first.labels
        edited = {c for c in ACCESSORIES if np.any((initial == INDEX[c]) != (base.labels == INDEX[c]))}
        edited |= {c for k, v in values.items() if v != 0 for c in slider_classes(k)}
        occluder = first.occluder
        if occluder is not None:
            occluder = occluder & (base.labels == initial)
        if not np.isin(initial, [INDEX[c] for c in ACCESSORIES if c not in edited]).any() and \
                (occluder is None or not occluder.any()):
            return None
        return protected_mask(initial, occluder, tuple(sorted(edited)))

    def _paste(self, out: EditorOutput, message: str, base: FaceState | None = None,
               values: dict[str, float] | None = None) -> tuple[EditResult, np.ndarray | None]:
        """Paste an edited crop into the original photo where it differs from the original crop.

        Accessories and occluders the edit is not about stay as in the photo (:meth:`protection`), in
        the crop and in the pasted photo.  The result carries the editor's engine label (``lite``,
        ``gan``, ``gan+lite``) and device.
        """
        from faceedit.align import paste_back
        from faceedit.editors.lite_texture import blend, dilate, feather

        crop, region = out.crop, out.region
        name, device = out.engine or "lite", out.device or "cpu"
        if self.alignment is None:  # a generated face: the crop is the picture
            return EditResult(crop.copy(), crop.copy(), name, device, message), None
        keep = self.protection(base, values or {}) if base is not None else None
        if keep is not None:
            crop = blend(crop, self._initial_crop, keep)
        changed = np.any(crop != self._initial_crop, axis=-1)
        if region is None:
            if not changed.any():
                return EditResult(self.original.copy(), crop.copy(), name, device, message), None
            grow = max(2, round(PASTE_MARGIN * crop.shape[0] / 512))
            region = np.maximum(feather(dilate(changed, grow), grow / 2), dilate(changed, 1).astype(np.float32))
        region = np.clip(np.asarray(region, np.float32), 0.0, 1.0)
        if keep is not None:
            region = region * (1.0 - keep)
        image = paste_back(self.original, crop, self.alignment, region=region)
        return EditResult(image, crop.copy(), name, device, message), region

    def _push(self, step: _Step) -> EditResult:
        del self._history[self._index + 1:]
        self._history.append(step)
        self._index = len(self._history) - 1
        return step.result


#: One worker for background prepare steps, kept for the process: a fresh thread per session would build a new
#: OpenMP thread team each time (~0.2 s on 2 cores); the inversions serialise on the runtime lock anyway.
_BACKGROUND = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faceedit-prepare")


def _in_background(fn: Callable[..., Any], *args: Any) -> Future:
    """``fn(*args)`` on the background worker; its result or error lands in the returned future."""
    return _BACKGROUND.submit(fn, *args)
