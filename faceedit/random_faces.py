"""Random faces: a StyleGAN2 sample from a seed, edited like a photo.

A seed picks ``z`` exactly as NVIDIA's StyleGAN2 ``generate.py`` does
(``np.random.RandomState(seed).randn(1, 512)``, float64 on the CPU, then cast to
float32), so a seed names the same face on every machine and batch size.  The
mapping network gives ``w``; the truncation trick (Karras et al. 2019, §B; Brock
et al. 2019) pulls it towards the generator's mean latent,
``w' = w̄ + ψ (w − w̄)``, where ``w̄`` is the checkpoint's ``latent_avg`` when it
has one, else the mean of ``MEAN_SAMPLES`` mapped samples (computed once per
generator and cached).  Style mixing (Karras et al. 2019, §3.1, Fig. 3) copies the
coarse (4²–8²), middle (16²–32²) or fine (64²–1024²) layers of W+ from a second seed.

Because the face's W+ is known exactly, a :class:`GeneratedSession` never inverts
it: a slider move (plain or conditioned, InterfaceGAN §2.3) runs the generator once
and shows its output as is (there is no photo to paste into).  Mask edits and swaps
go through the session's engines as for a photo.

:func:`contact_sheet` lays seeds out on a grid; :func:`entanglement_strips` shows one
direction at α = −3…+3, plain and conditioned on a second attribute, side by side.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceedit.engines.base import (
    OPERATIONS,
    EditResult,
    Engine,
    FaceState,
    engine_for,
    forced_engine,
    get_engine,
)
from faceedit.errors import FaceEditError, InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.session import Session, _Photo, _Step

#: W+ layer ranges of the classic style-mixing demonstration (StyleGAN Fig. 3), end exclusive (None = last).
LAYER_RANGES: dict[str, tuple[int, int | None]] = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, None)}
#: Mapped samples averaged for w̄ when the checkpoint carries no ``latent_avg``.
MEAN_SAMPLES = 4096
#: Seed of the z draws averaged for w̄ (fixed: w̄ is a property of the generator).
MEAN_SEED = 0
#: Largest seed (``np.random.RandomState`` takes 32-bit seeds).
MAX_SEED = 2**32 - 1
#: Registry name of the generator the capability ``random`` needs (weights/manifest.toml).
GENERATOR_WEIGHTS = "stylegan2.ffhq"
#: α values of an entanglement strip.
STRIP_ALPHAS: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Largest contact sheet (tiles).
MAX_GRID = 64


# --------------------------------------------------------------------------- latents


@dataclass(frozen=True)
class StyleMix:
    """Take the ``layers`` (coarse | middle | fine) of W+ from the face of ``seed``."""

    seed: int
    layers: str = "coarse"

    def __post_init__(self) -> None:
        check_seed(self.seed, "mix seed")
        if self.layers not in LAYER_RANGES:
            raise InvalidArgumentError(
                f"Style-mixing layers must be one of {', '.join(LAYER_RANGES)}; got {self.layers!r}."
            )

    def describe(self) -> str:
        return f"{self.layers} layers from seed {self.seed}"


def as_mix(mix: StyleMix | tuple[int, str] | Mapping[str, Any] | None) -> StyleMix | None:
    """A :class:`StyleMix` from ``None``, a ``(seed, layers)`` pair or a ``{"seed", "layers"}`` dict."""
    if mix is None or isinstance(mix, StyleMix):
        return mix
    if isinstance(mix, Mapping):
        return StyleMix(mix["seed"], mix.get("layers", "coarse"))
    if isinstance(mix, tuple | list) and len(mix) == 2:
        return StyleMix(mix[0], mix[1])
    raise InvalidArgumentError(f"mix must be (seed, 'coarse'|'middle'|'fine') or None; got {mix!r}.")


def check_seed(seed: Any, what: str = "seed") -> int:
    """``seed`` as an int in 0..2³²−1, or an :class:`InvalidArgumentError`."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        if isinstance(seed, float) and seed.is_integer():
            seed = int(seed)
        elif isinstance(seed, str) and seed.strip().isdigit():
            seed = int(seed.strip())
        else:
            raise InvalidArgumentError(f"The {what} must be a whole number from 0 to {MAX_SEED}; got {seed!r}.")
    if not 0 <= int(seed) <= MAX_SEED:
        raise InvalidArgumentError(f"The {what} must lie in 0..{MAX_SEED}; got {seed}.")
    return int(seed)


def check_truncation(psi: Any) -> float:
    """ψ as a float in [0, 1]."""
    try:
        value = float(psi)
    except (TypeError, ValueError):
        raise InvalidArgumentError(f"Truncation ψ must be a number from 0 to 1; got {psi!r}.") from None
    if not np.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InvalidArgumentError(f"Truncation ψ must lie in 0..1 (1 = no truncation); got {psi!r}.")
    return value


def sample_z(seed: int, dim: int = 512) -> Any:
    """``z`` [1, dim] float32 of ``seed``: drawn in float64 on the CPU (NVIDIA's recipe), then cast."""
    import torch

    z = np.random.RandomState(check_seed(seed)).randn(1, dim)  # float64, stream fixed by numpy forever
    return torch.from_numpy(z).to(torch.float32)


def layer_slice(layers: str, n_latent: int) -> slice:
    """The W+ rows of ``layers`` (coarse | middle | fine) for a generator with ``n_latent`` rows."""
    start, stop = LAYER_RANGES[layers]
    stop = n_latent if stop is None else min(stop, n_latent)
    if start >= stop:
        raise InvalidArgumentError(f"This generator has only {n_latent} style layers: no {layers} layers to mix.")
    return slice(start, stop)


_MEAN_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def mean_w(generator: Any, latent_avg: Any = None) -> Any:
    """w̄ of ``generator`` as ``[1 or L, dim]`` float32: ``latent_avg`` when given (or on the generator),
    else the mean of :data:`MEAN_SAMPLES` mapped samples, computed once per generator and cached."""
    import torch

    dim = generator.style_dim
    avg = latent_avg if latent_avg is not None else getattr(generator, "latent_avg", None)
    if avg is not None:
        return torch.as_tensor(avg).detach().float().reshape(-1, dim)
    cached = _MEAN_CACHE.get(generator)
    if cached is None:
        with torch.inference_mode():
            cached = generator.mean_latent(MEAN_SAMPLES, generator=torch.Generator().manual_seed(MEAN_SEED))
        cached = cached.detach().float().reshape(1, dim).clone()
        _MEAN_CACHE[generator] = cached
    return cached


def seed_w_plus(generator: Any, seed: int, truncation: float = 0.7, mix: Any = None, latent_avg: Any = None) -> Any:
    """The exact W+ ``[1, L, dim]`` (float32, generator's device) of a seed, truncated and style-mixed."""
    import torch

    psi = check_truncation(truncation)
    mix = as_mix(mix)
    n, dim = generator.n_latent, generator.style_dim
    device = next(generator.parameters()).device
    with torch.inference_mode():
        w = generator.get_latent(sample_z(seed, dim).to(device)).float()  # [1, dim]
        w_plus = w[:, None].repeat(1, n, 1)
        if mix is not None:
            rows = layer_slice(mix.layers, n)
            w2 = generator.get_latent(sample_z(mix.seed, dim).to(device)).float()
            w_plus[:, rows] = w2[:, None]
        avg = mean_w(generator, latent_avg).to(device)
        avg = avg[None] if avg.shape[0] == n else avg[:1][None]  # [1, 1 or L, dim]
        out = avg + psi * (w_plus - avg)
    return out.clone()


def synthesize(generator: Any, w_plus: Any) -> np.ndarray:
    """Generator image of ``w_plus`` [N, L, dim] with its constant noise: ``(N, S, S, 3)`` uint8."""
    import torch

    from faceedit.imaging import from_tensor

    with torch.inference_mode():
        img = generator.synthesis(w_plus, noise_mode="const").float().clamp(-1, 1).cpu()
    return np.stack([from_tensor(img[i]) for i in range(img.shape[0])])


def random_face(generator: Any, seed: int, truncation: float = 0.7, mix: Any = None,
                latent_avg: Any = None) -> np.ndarray:
    """The generated face of ``seed`` as ``(S, S, 3)`` uint8."""
    return synthesize(generator, seed_w_plus(generator, seed, truncation, mix, latent_avg))[0]


# --------------------------------------------------------------------------- sheets and strips


def parse_grid(spec: str) -> tuple[int, int]:
    """``"4x4"`` → (rows, cols)."""
    rows, sep, cols = str(spec).lower().partition("x")
    if not sep or not rows.strip().isdigit() or not cols.strip().isdigit():
        raise InvalidArgumentError(f"A grid is ROWSxCOLS, e.g. 4x4; got {spec!r}.")
    r, c = int(rows), int(cols)
    if r < 1 or c < 1 or r * c > MAX_GRID:
        raise InvalidArgumentError(f"A grid needs 1..{MAX_GRID} tiles; {spec!r} has {r * c}.")
    return r, c


def _caption(tile: np.ndarray, text: str) -> np.ndarray:
    """``tile`` with a caption band underneath (the tile's pixels untouched)."""
    import cv2

    s = tile.shape[1]
    band_h = max(12, s // 10)
    band = np.full((band_h, s, 3), 255, np.uint8)
    scale = band_h / 30
    cv2.putText(band, text, (max(2, s // 40), int(band_h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, scale, (20, 20, 20),
                max(1, round(scale * 1.5)), cv2.LINE_AA)
    return np.concatenate([tile, band], 0)


def tile_grid(tiles: Sequence[np.ndarray], cols: int, gap: int = 2) -> np.ndarray:
    """Images of one size on a white grid, row-major."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = t
    return sheet


def contact_sheet(generator: Any, seeds: Sequence[int], cols: int, truncation: float = 0.7, mix: Any = None,
                  latent_avg: Any = None, captions: bool = True) -> np.ndarray:
    """A grid of the faces of ``seeds`` (row-major), each captioned with its seed.

    Each face is generated on its own, so a tile is bit-identical to the single face of that seed.
    """
    if not seeds:
        raise InvalidArgumentError("A contact sheet needs at least one seed.")
    tiles = []
    for s in seeds:
        face = random_face(generator, s, truncation, mix, latent_avg)
        tiles.append(_caption(face, f"seed {s}") if captions else face)
    return tile_grid(tiles, cols)


@dataclass
class EntanglementView:
    """One direction at several α, plain and conditioned on a second attribute."""

    name: str
    condition: str
    alphas: tuple[float, ...]
    plain: list[np.ndarray]  # one image per α
    conditioned: list[np.ndarray]
    cosine: float  # between the two directions (per-layer: mean over rows)
    cosine_after: float  # between the conditioned direction and the condition (≈ 0)
    image: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    def describe(self) -> str:
        return (f"{self.name} vs {self.condition}: cosine {self.cosine:+.2f} before conditioning, "
                f"{self.cosine_after:+.2f} after (top row plain, bottom row '{self.name}, keep {self.condition}').")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    rows = max(a.shape[0], b.shape[0])
    vals = []
    for i in range(rows):
        x = a[i if a.shape[0] > 1 else 0].astype(np.float64)
        y = b[i if b.shape[0] > 1 else 0].astype(np.float64)
        vals.append(float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)))
    return float(np.mean(vals))


def entanglement_strips(generator: Any, w_plus: Any, directions: Any, name: str, condition: str,
                        alphas: Sequence[float] | None = None) -> EntanglementView:
    """``name`` at each α (top row) and ``name`` conditioned on ``condition`` (bottom row).

    Uses :meth:`DirectionLibrary.apply` with ``conditions={name: [condition]}`` (InterfaceGAN's
    conditional manipulation).  Each frame is generated on its own (α = 0 once, shared by both
    rows), so a frame is bit-identical to the slider edit with the same value.
    """
    if name == condition:
        raise InvalidArgumentError(f"Condition {name!r} on a different attribute, not on itself.")
    primal, cond = directions.get(name), directions.get(condition)
    alphas = tuple(float(a) for a in (STRIP_ALPHAS if alphas is None else alphas))
    frames: dict[tuple[bool, float], np.ndarray] = {}
    for keep in (False, True):
        for a in alphas:
            key = (keep and a != 0, a)
            if key not in frames:
                moved = directions.apply(w_plus, {name: a}, conditions={name: [condition]} if keep else None)
                frames[key] = synthesize(generator, moved)[0]
    rows = [[frames[(keep and a != 0, a)] for a in alphas] for keep in (False, True)]
    conditioned = directions.conditioned(name, [condition])
    view = EntanglementView(name, condition, alphas, rows[0], rows[1],
                            cosine=_cosine(primal.vector, cond.vector),
                            cosine_after=_cosine(conditioned.vector, cond.vector))
    captions = [f"a={a:+g}" for a in alphas]
    view.image = tile_grid([_caption(t, c) for t, c in zip(rows[0] + rows[1], captions + captions)], len(alphas))
    return view


# --------------------------------------------------------------------------- availability


def weights_hint() -> str:
    """Plain words for a user without the generator weights, with the exact command to get them."""
    return (f"Random faces need the StyleGAN2 generator weights, which are not installed (the lite engine "
            f"cannot generate faces). Get them with:  python -m faceedit weights fetch {GENERATOR_WEIGHTS}")


def random_available() -> bool:
    """Whether a StyleGAN2 generator is installed (the FFHQ generator, or the decoder inside e4e / pSp)."""
    from faceedit.engines import base

    caps = base._capabilities()
    return bool(caps.get("random") or caps.get("invert"))


def random_engine(engine: str | None = None) -> Engine:
    """The GAN engine holding the generator, or :class:`WeightsMissingError` naming the fetch command."""
    requested = (engine or "").strip().lower() or forced_engine()
    if requested == "lite" or not random_available():
        raise WeightsMissingError(weights_hint())
    gan = get_engine("gan")
    if getattr(gan, "generator", None) is None:
        raise WeightsMissingError(weights_hint())
    return gan


def engine_latent_avg(engine: Any) -> Any:
    """The checkpoint's ``latent_avg`` the engine knows (generator's, else the encoder's), or None."""
    for owner in (engine.generator, getattr(engine, "encoder", None)):
        avg = getattr(owner, "latent_avg", None)
        if avg is not None:
            return avg
    return None


def engine_directions(engine: Any) -> Any:
    """The engine's direction library, else the registry's (generator-only installs), else an empty one."""
    from faceedit.directions import DirectionLibrary

    if getattr(engine, "directions", None) is not None:
        return engine.directions
    try:
        return DirectionLibrary.from_registry()
    except (FaceEditError, OSError):
        return DirectionLibrary()


# --------------------------------------------------------------------------- session


@dataclass
class _GenStep(_Step):
    """A history step that also remembers which sliders are conditioned on which attributes."""

    conditions: dict[str, tuple[str, ...]] = field(default_factory=dict)


class GeneratedSession(Session):
    """A :class:`Session` on a generated face: exact W+, no inversion, no paste-back.

    ``set_attributes(values, conditions={"smile": ["age"]})`` moves sliders, optionally
    conditioned ("smile, keep age"); undo, redo, mask edits and swaps behave as for a photo,
    and :attr:`current` ``.image`` is the generated face itself (the export).
    """

    def __init__(self, face: FaceState, engines: dict[str, str], *, seed: int, truncation: float,
                 mix: StyleMix | None, directions: Any, face_found: bool) -> None:
        self.seed, self.truncation, self.mix = seed, truncation, mix
        self.directions = directions
        self.face_found = face_found
        super().__init__(_Photo(face.crop, None, face, 1), engines)
        first = self._history[0]
        first.result.message = self.describe()
        self._history[0] = _GenStep(first.base, first.values, first.result, first.region)

    def describe(self) -> str:
        """``random face: seed 42, ψ 0.70[, coarse layers from seed 7]``."""
        text = f"random face: seed {self.seed}, ψ {self.truncation:.2f}"
        return text + (f", {self.mix.describe()}" if self.mix else "")

    @property
    def w_plus(self) -> Any:
        """The exact W+ of the generated face ``[1, L, dim]``."""
        return self._history[0].base.cache["gan"]["w"]

    @property
    def conditions(self) -> dict[str, tuple[str, ...]]:
        """The current conditional edits: slider name → attributes it keeps."""
        with self._lock:
            return dict(getattr(self._history[self._index], "conditions", {}))

    def attribute_names(self) -> list[str]:
        return list(self.directions.names())

    def _check(self, values: dict[str, float], conditions: dict[str, tuple[str, ...]]) -> None:
        from faceedit.engines.gan import ATTRIBUTE_RANGE

        names = self.attribute_names()
        lo, hi = ATTRIBUTE_RANGE
        for key, v in values.items():
            if key not in names:
                raise InvalidArgumentError(f"No direction {key!r}; available: {', '.join(names) or 'none'}.")
            if not np.isfinite(v) or not lo <= v <= hi:
                raise InvalidArgumentError(f"Slider {key!r} must lie in {lo:g}..{hi:g}; got {v!r}.")
        for key, keep in conditions.items():
            for k in (key, *keep):
                if k not in names:
                    raise InvalidArgumentError(f"No direction {k!r} to condition; available: {', '.join(names)}.")
            if key in keep:
                raise InvalidArgumentError(f"Slider {key!r} cannot be conditioned on itself.")

    def set_attributes(self, values: dict[str, float],
                       conditions: Mapping[str, Sequence[str]] | None = None) -> EditResult:
        """Absolute slider values (0 = the generated face); ``conditions`` maps a slider to attributes it keeps."""
        with self._lock:
            step = self._history[self._index]
            merged = {**step.values, **{k: float(v) for k, v in values.items()}}
            conds = dict(getattr(step, "conditions", {}))
            for key, keep in (conditions or {}).items():
                keep = tuple(k for k in ([keep] if isinstance(keep, str) else keep) if k)
                if keep:
                    conds[key] = keep
                else:
                    conds.pop(key, None)
            self._check(merged, conds)
            result, region = self._render_with(step.base, merged, conds)
            return self._push(_GenStep(step.base, merged, result, region, conds))

    def edit_mask(self, new_labels: np.ndarray) -> EditResult:
        self._need_face("paint a label map")
        return super().edit_mask(new_labels)

    def swap(self, reference: Any, components: Any) -> EditResult:
        self._need_face("swap components")
        return super().swap(reference, components)

    def _need_face(self, what: str) -> None:
        if not self.face_found:
            raise UnsupportedEditError(
                f"No face was found in the generated image (seed {self.seed}), so there is nothing to {what} "
                "on; sliders still work, or try another seed.")

    # ------------------------------------------------------------------ internals
    def _render(self, base: FaceState, values: dict[str, float], engine: Engine, note: str = "",
                structural_engine: Engine | None = None) -> tuple[EditResult, np.ndarray | None]:
        return self._render_with(base, values, self.conditions, note, structural_engine)

    def _render_with(self, base: FaceState, values: dict[str, float], conditions: dict[str, tuple[str, ...]],
                     note: str = "", structural_engine: Engine | None = None
                     ) -> tuple[EditResult, np.ndarray | None]:
        """The generator on the base's W+ moved along the directions: the whole image when W+ is exact."""
        engine = self._engine("attributes")
        if all(v == 0 for v in values.values()):
            if base is self._history[0].base:
                first = self._history[0]
                return first.result, first.region
            return self._paste(base.crop, None, structural_engine or engine, note)
        moved = self.directions.apply(engine.latent(base), values, conditions={
            k: list(v) for k, v in conditions.items() if values.get(k, 0) != 0})
        generated = engine.generate(moved, base.crop.shape[0])
        notes = [note] if note else []
        notes += [f"{k}, keep {', '.join(v)}" for k, v in conditions.items() if values.get(k, 0) != 0]
        if base.cache.get("random", {}).get("exact"):
            return self._paste(generated, None, engine, "; ".join([self.describe(), *notes]))
        from faceedit.align import face_region
        from faceedit.engines import lite_texture as tex

        region = face_region(base.labels)
        return self._paste(tex.blend(base.crop, generated, region), region, engine, "; ".join(notes))

    def _paste(self, crop: np.ndarray, region: np.ndarray | None, engine: Engine, message: str
               ) -> tuple[EditResult, np.ndarray | None]:
        """No photo to paste into: the result is the (edited) generated image itself."""
        return EditResult(crop.copy(), crop.copy(), engine.name, engine.device, message), region

    def _push(self, step: _Step) -> EditResult:
        if not isinstance(step, _GenStep):  # mask edit / swap: sliders keep their conditions
            step = _GenStep(step.base, step.values, step.result, step.region, self.conditions)
        return super()._push(step)


def session_from_seed(seed: int, truncation: float = 0.7, mix: Any = None, engine: str | None = None
                      ) -> GeneratedSession:
    """A :class:`GeneratedSession` on the face of ``seed`` (see :meth:`faceedit.session.Session.from_seed`)."""
    from faceedit.session import _detect_crop_landmarks

    seed = check_seed(seed)
    psi = check_truncation(truncation)
    mix = as_mix(mix)
    gan = random_engine(engine)
    w = seed_w_plus(gan.generator, seed, psi, mix, engine_latent_avg(gan))
    crop = gan.generate(w, gan.generator.size)
    requested = None if (engine or "").strip().lower() in ("", "gan", "auto") else engine
    engines = {op: engine_for(op, requested) for op in OPERATIONS}
    engines["attributes"] = "gan"
    landmarks = _detect_crop_landmarks(crop)
    labels = None
    if landmarks is not None:  # no face, no label map to paint (e.g. a truncation-free oddity)
        try:
            labels = get_engine(engines["mask_edit"]).parse(crop)
        except FaceEditError:
            pass
    found = landmarks is not None and labels is not None
    face = FaceState(crop=crop,
                     labels=np.asarray(labels, np.uint8) if labels is not None else np.zeros(crop.shape[:2], np.uint8),
                     landmarks=landmarks if landmarks is not None else np.zeros((0, 3), np.float32),
                     cache={"gan": {"w": w}, "random": {"exact": True}})
    return GeneratedSession(face, engines, seed=seed, truncation=psi, mix=mix, directions=engine_directions(gan),
                            face_found=found)
