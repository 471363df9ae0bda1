"""The composer: per operation and request, which editor runs, and how attribute editors chain.

A :class:`Composer` holds the editors this process can run (built once from the weights registry by
:meth:`Composer.from_registry`, or given explicitly, e.g. by tests).  Per operation it prefers the GAN
engine's editors when any is installed and the lite engine's otherwise; ``FACEEDIT_ENGINE=lite|gan``
(read once, when the default composer is built) or a session's ``engine`` argument forces one.  Within
an engine the first editor (in :data:`EDITORS` order) that :meth:`~Editor.accepts` the request runs.

Attribute editors of one engine form an :class:`AttributeChain`: their sliders side by side, run in
order on each other's output (InterfaceGAN on the face's W+, then L2M-GAN on that image, then the lite
warps).  A GAN chain without W+ sliders (e.g. the L2M checkpoint alone) keeps the lite engine's sliders
beside its own; a result where both engines moved is labelled ``gan+lite``.

A new technique plugs in with one line in :data:`EDITORS` (and, for a new operation,
:func:`faceedit.editors.base.register_operation`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from faceedit.editors.base import ENGINES, OPERATIONS, Editor, EditorOutput, FaceState
from faceedit.editors.face_swap import FaceShifterSwap, LiteFaceSwap
from faceedit.editors.gan_runtime import GanRuntime
from faceedit.editors.interfacegan import InterfaceGanSliders
from faceedit.editors.l2m import L2MSliders
from faceedit.editors.lite import LiteMaskEdit, LiteSliders, LiteSwap, landmark_parse
from faceedit.editors.mask_guided import MaskGuidedMaskEdit, MaskGuidedSwap
from faceedit.editors.random_face import RandomFaces
from faceedit.editors.reencode import ReencodeSwap
from faceedit.editors.seg2face import Seg2FaceMaskEdit
from faceedit.editors.stylise_editors import GanStylise, LiteStylise
from faceedit.editors.synthesise import GuRandomEmbedding, Seg2FaceMultiModal
from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.labels import check_label_map

#: Every editor class, in order of preference within its engine and operation (one line per technique).
EDITORS: list[type[Editor]] = [
    InterfaceGanSliders,
    L2MSliders,
    MaskGuidedMaskEdit,
    Seg2FaceMaskEdit,
    MaskGuidedSwap,
    ReencodeSwap,
    RandomFaces,
    FaceShifterSwap,
    GanStylise,
    GuRandomEmbedding,
    Seg2FaceMultiModal,
    LiteSliders,
    LiteMaskEdit,
    LiteSwap,
    LiteFaceSwap,
    LiteStylise,
]
#: The face parser used with the GAN engine when its weights are present (else the landmark parser).
PARSER_WEIGHTS = "bisenet.celebamask_hq"
#: What the user reads when random faces are asked of a server without the generator.
RANDOM_HINT = ("Random faces need the StyleGAN2 generator (the GAN engine); the lite engine cannot draw new faces. "
               "Get the weights with `python -m faceedit weights fetch stylegan2.ffhq`.")


def forced_engine(value: str | None = None) -> str | None:
    """The engine named by ``value`` (default: ``FACEEDIT_ENGINE``), or None when unset / ``auto``."""
    value = (os.environ.get("FACEEDIT_ENGINE", "") if value is None else value).strip().lower()
    if not value or value == "auto":
        return None
    if value not in ENGINES:
        raise InvalidArgumentError(
            f"FACEEDIT_ENGINE={value!r} is not an engine; use one of: {', '.join(ENGINES)} (or unset it)."
        )
    return value


class AttributeChain:
    """The attribute editors of one engine as one set of sliders (see the module docstring)."""

    def __init__(self, engine: str, editors: Sequence[Any]) -> None:
        self.engine = engine
        self.editors = list(editors)  # run order
        owners: dict[str, Any] = {}
        for ed in sorted(self.editors, key=lambda e: getattr(e, "slider_order", 0)):  # display order
            for n in ed.names():
                owners.setdefault(n, ed)
        self._owners = owners

    @property
    def device(self) -> str:
        return next((e.device for e in self.editors if e.engine == self.engine), "cpu")

    @property
    def directions(self) -> Any:
        """The latent-direction library (InterfaceGAN / GANSpace), None without one."""
        return next((e.directions for e in self.editors if hasattr(e, "directions")), None)

    def names(self) -> list[str]:
        """Every slider name, in display order."""
        return list(self._owners)

    def range(self, name: str) -> tuple[float, float]:
        """The allowed range of slider ``name``."""
        self.check_values({name: 0.0})
        return self._owners[name].range(name)

    def groups(self) -> dict[str, str]:
        """Slider name -> the group it is shown in (latent directions by their manifest group)."""
        return {n: ed.groups().get(n, "other") if hasattr(ed, "groups") else "other"
                for n, ed in self._owners.items()}

    def check_values(self, values: dict[str, float]) -> dict[str, float]:
        """Slider values validated (known names, finite, in range) as floats."""
        out: dict[str, float] = {}
        for key, value in values.items():
            ed = self._owners.get(key)
            if ed is None:
                known = ", ".join(self._owners) or "none"
                if self.engine == "lite":
                    raise InvalidArgumentError(f"The lite engine has no slider {key!r}; available: {known}.")
                raise InvalidArgumentError(f"No direction {key!r}; available: {known}.")
            lo, hi = ed.range(key)
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise InvalidArgumentError(f"Slider {key!r} takes a number in {lo:g}..{hi:g}; got {value!r}.") from None
            if not np.isfinite(v) or not lo <= v <= hi:
                raise InvalidArgumentError(f"Slider {key!r} must lie in {lo:g}..{hi:g}; got {value!r}.")
            out[key] = v
        return out

    def _check_conditions(self, conditions: dict[str, Sequence[str]] | None) -> dict[str, list[str]]:
        conds = {k: list(c) for k, c in (conditions or {}).items() if c}
        if conds and not any(getattr(e, "conditionable", False) for e in self.editors):
            first = self._owners.get(next(iter(conds)), self.editors[0])
            first.refuse_conditions()  # e.g. the lite engine: independent sliders, no conditions
        for k, c in conds.items():
            self.check_values({k: 0.0, **dict.fromkeys(c, 0.0)})  # names must be known
            for ed in (self._owners[n] for n in (k, *c)):
                if not ed.conditionable:
                    ed.refuse_conditions()
        return conds

    def prepare(self, face: FaceState) -> None:
        """What later slider moves reuse (the inverted W+, the L2M codes)."""
        for ed in self.editors:
            if ed.engine == self.engine:
                ed.prepare(face)

    def apply(self, face: FaceState, values: dict[str, float],
              conditions: dict[str, Sequence[str]] | None = None) -> EditorOutput:
        """Every editor with a non-zero slider, in order, each on the previous one's output."""
        return self._run(face, values, conditions, preview=False)

    def preview(self, face: FaceState, values: dict[str, float],
                conditions: dict[str, Sequence[str]] | None = None) -> EditorOutput:
        """:meth:`apply`, quickly: each editor's ``preview`` where it has one (lower resolution), else ``apply``."""
        return self._run(face, values, conditions, preview=True)

    def _run(self, face: FaceState, values: dict[str, float], conditions: dict[str, Sequence[str]] | None,
             preview: bool) -> EditorOutput:
        v = self.check_values(values)
        conds = self._check_conditions(conditions)
        crop, region, notes, ran = face.crop, None, [], []
        for ed in self.editors:
            mine = {n: v[n] for n in ed.names() if n in v}
            if not any(x != 0 for x in mine.values()):
                continue
            run = getattr(ed, "preview", ed.apply) if preview else ed.apply
            out = run(face, mine, crop=crop if ran else None, region=region,
                           conditions={k: c for k, c in conds.items() if k in mine} or None,
                           after=tuple(e.title for e in ran), guest=ed.engine != self.engine)
            crop, region = out.crop, out.region
            notes += [out.message] if out.message else []
            ran.append(ed)
        if not ran:
            return EditorOutput(crop=face.crop.copy(), engine=self.engine, device=self.device)
        engines = [e for e in ENGINES if any(ed.engine == e for ed in ran)]
        device = next((ed.device for ed in ran if ed.engine == engines[0]), self.device)
        return EditorOutput(crop=crop, region=region, message="; ".join(notes), engine="+".join(engines),
                            device=device)


class Composer:
    """The editors of this process and the choice between them (see the module docstring)."""

    def __init__(self, editors: Sequence[Editor], parser: Any = None, forced: str | None = None) -> None:
        """``editors``: any mix of editors; ``parser``: BiSeNet-like ``parse(crop)`` used with the GAN
        engine; ``forced``: ``"lite"`` / ``"gan"`` for every operation (None: from the weights present)."""
        self.editors = list(editors)
        self.parser = parser
        self._parse_lock = threading.Lock()
        self.forced = forced_engine(forced or "")
        for ed in self.editors:
            if ed.operation not in OPERATIONS:
                raise InvalidArgumentError(f"Editor {ed.name!r} serves unknown operation {ed.operation!r}.")

    @classmethod
    def from_registry(cls, forced: str | None = None, device: Any = None,
                      classes: Sequence[type[Editor]] | None = None) -> Composer:
        """Every editor whose weights are present (models loaded once per process), the lite ones always.

        ``forced`` defaults to ``FACEEDIT_ENGINE``, read here once.
        """
        runtime = GanRuntime(device=device)
        editors = [ed for ed in (c.from_registry(runtime) for c in (classes or EDITORS)) if ed is not None]
        parser = None
        from faceedit.editors.base import present

        if present(PARSER_WEIGHTS):
            from faceedit.parsing.bisenet import BiSeNetParser

            parser = BiSeNetParser()
        return cls(editors, parser=parser, forced=forced_engine(forced))

    # ------------------------------------------------------------------ choice
    def editors_for(self, operation: str, engine: str | None = None) -> list[Editor]:
        """The editors serving ``operation`` (of ``engine`` when given), in order of preference."""
        return [e for e in self.editors if e.operation == operation and engine in (None, e.engine)]

    def can(self, operation: str, engine: str = "gan") -> bool:
        """Whether ``engine`` has an editor for ``operation``."""
        return bool(self.editors_for(operation, engine))

    def engine_for(self, operation: str, requested: str | None = None) -> str:
        """The engine that serves ``operation``: ``requested`` (or the forced one), else GAN when installed.

        Asking for the GAN engine without the weights for that operation raises
        :class:`~faceedit.errors.WeightsMissingError`.
        """
        if operation not in OPERATIONS:
            raise InvalidArgumentError(f"Unknown operation {operation!r}; one of: {', '.join(OPERATIONS)}.")
        wanted = (requested or "").strip().lower() or self.forced
        if wanted in (None, "", "auto"):
            return "gan" if self.can(operation, "gan") else "lite"
        if wanted not in ENGINES:
            raise InvalidArgumentError(f"Unknown engine {wanted!r}; choose from: {', '.join(ENGINES)}.")
        if not self.can(operation, wanted):
            raise WeightsMissingError(
                f"The GAN engine needs weights for {operation.replace('_', ' ')} that are not installed. "
                "Run `python -m faceedit weights list` to see what is missing and `python -m faceedit weights "
                "fetch NAME` to get it, or use the lite engine (FACEEDIT_ENGINE=lite)."
            )
        return wanted

    def pick(self, operation: str, engine: str, **request: Any) -> Editor:
        """The first editor of ``engine`` for ``operation`` that accepts ``request``."""
        for ed in self.editors_for(operation, engine):
            if ed.accepts(**request):
                return ed
        what = operation.replace("_", " ")
        needs = "; ".join(f"{c.name}: {' + '.join(' or '.join(g) for g in c.requires)}"
                          for c in EDITORS if c.operation == operation and c.engine == engine and c.requires)
        if engine == "gan" and operation == "swap":  # these components need the encoder (re-encode swap)
            raise WeightsMissingError(f"This swap with the GAN engine needs weights that are not installed ({needs}).")
        if engine != "gan":
            raise UnsupportedEditError(f"No {engine} editor serves {what}.")
        raise UnsupportedEditError(f"This {what} with the GAN engine needs weights that are not installed "
                                   f"({needs or 'none registered'}); the lite engine can do it without.")

    def attributes(self, engine: str) -> AttributeChain:
        """The attribute sliders of ``engine`` (a GAN chain without W+ sliders keeps the lite ones)."""
        chain = self.editors_for("attributes", engine)
        if engine != "lite" and not any(getattr(e, "exclusive", False) for e in chain):
            chain += self.editors_for("attributes", "lite")
        return AttributeChain(engine, chain)

    def device(self, engine: str) -> str:
        """Where ``engine``'s editors compute, in words."""
        return next((e.device for e in self.editors if e.engine == engine), "cpu")

    # ------------------------------------------------------------------ operations
    def parse(self, crop: np.ndarray, engine: str = "lite") -> np.ndarray:
        """The 19-class label map: BiSeNet with the GAN engine when present, else the landmark parser."""
        if engine == "gan" and self.parser is not None:
            with self._parse_lock:
                return check_label_map(self.parser.parse(crop))
        return landmark_parse(crop)

    def parse_detailed(self, crop: np.ndarray, engine: str = "lite") -> Any:
        """Labels, occluder mask and per-class notes (:class:`~faceedit.parsing.landmark.Parsing`).

        The landmark parser finds accessories and hands itself; with BiSeNet the hands come from
        :func:`~faceedit.parsing.landmark.find_occluder` beside its labels.
        """
        from faceedit.parsing.landmark import LandmarkParser, Parsing, find_occluder

        if engine == "gan" and self.parser is not None:
            labels = self.parse(crop, engine)
            occluder = find_occluder(crop)
            hands = ("hands in front of the face or beside it" if occluder.any()
                     else "no hand found (other objects in front of the face are not detected)")
            return Parsing(labels, occluder, {"parser": "BiSeNet (CelebAMask-HQ): accessories as its classes",
                                              "occluder": hands})
        parsing = LandmarkParser().parse_detailed(crop)
        parsing.labels = check_label_map(parsing.labels)
        return parsing

    def _labelled(self, out: EditorOutput, ed: Editor) -> EditorOutput:
        out.engine = out.engine or ed.engine
        out.device = out.device or ed.device
        return out

    def edit_mask(self, face: FaceState, new_labels: np.ndarray, engine: str) -> EditorOutput:
        """Redraw ``face`` to follow the painted map with ``engine``'s preferred mask editor."""
        ed = self.pick("mask_edit", engine)
        return self._labelled(ed.edit_mask(face, new_labels), ed)

    def swap(self, face: FaceState, reference: FaceState, components: tuple[str, ...], engine: str) -> EditorOutput:
        """Take ``components`` from ``reference`` with the first of ``engine``'s swap editors that can."""
        ed = self.pick("swap", engine, components=tuple(components))
        return self._labelled(ed.swap(face, reference, tuple(components)), ed)

    def random(self, requested: str | None = None) -> RandomFaces:
        """The editor that draws random faces (StyleGAN2), or a plain error naming the weights to fetch."""
        wanted = (requested or "").strip().lower() or self.forced or "gan"
        found = self.editors_for("random", wanted)
        if not found:
            raise WeightsMissingError(RANDOM_HINT)
        return found[0]  # type: ignore[return-value]
