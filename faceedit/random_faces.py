"""Random faces beyond one seed: contact sheets of seeds and the entanglement view.

The face of a seed is :meth:`faceedit.session.Session.from_seed` (z drawn in float64 on the CPU, truncation
ψ around the mean latent, coarse / middle / fine style mixing; :meth:`GanEngine.sample` and
:meth:`GanEngine.mix`).  This module adds what a user does next:

* :func:`contact_sheet`: a grid of consecutive seeds, each tile bit-identical to that seed's face, to pick
  one from (optionally captioned with its seed);
* :func:`entanglement_view`: one direction at α = −3…+3 (top row) and the same direction conditioned on a
  second attribute (bottom row), InterfaceGAN's conditional manipulation (Shen et al. 2020, §2.3: the
  primal normal projected so that ``n1' = n1 − (n1ᵀn2) n2``), so a user sees what conditioning removes
  (e.g. age dragging the smile along).  Works on any GAN session, generated or photo.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError

#: α values of an entanglement strip.
STRIP_ALPHAS: tuple[float, ...] = (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
#: Largest contact sheet (tiles).
MAX_GRID = 64
#: Registry name of the generator (faceedit/weights/manifest.toml, capability ``random``) when the registry is absent.
GENERATOR_WEIGHTS = "stylegan2.ffhq"


# --------------------------------------------------------------------------- the generator


def generator_weights_name() -> str:
    """The registry name of the generator random faces need (first entry of capability ``random``)."""
    try:
        from faceedit.weights import capability_requirements

        return capability_requirements()["random"][0][0]
    except Exception:  # noqa: BLE001 - a broken registry must not hide the hint
        return GENERATOR_WEIGHTS


def weights_hint() -> str:
    """Plain words for a user without the generator, with the exact command that gets it."""
    return ("Random faces need the StyleGAN2 generator (the GAN engine); the lite engine cannot draw new faces. "
            f"Get the weights with `python -m faceedit weights fetch {generator_weights_name()}`.")


def random_engine(engine: str | None = None) -> Any:
    """The GAN engine that draws random faces (the same checks as ``Session.from_seed``)."""
    from faceedit.engines.base import _capabilities, forced_engine, get_engine

    wanted = (engine or "").strip().lower() or forced_engine() or "gan"
    if wanted != "gan" or not _capabilities().get("random", False):
        raise WeightsMissingError(weights_hint())
    gan = get_engine("gan")
    if getattr(gan, "generator", None) is None:
        raise WeightsMissingError(weights_hint())
    return gan


def parse_mix(text: str | None) -> tuple[str, int] | None:
    """``"fine:7"`` → ``("fine", 7)`` (``Session.from_seed``'s ``mix``); None stays None."""
    if text is None:
        return None
    layers, sep, seed = str(text).partition(":")
    if not sep or not seed.strip().isdigit():
        raise InvalidArgumentError(
            f"Style mixing is LAYERS:SEED (layers: coarse, middle, fine), e.g. fine:7; got {text!r}.")
    return layers.strip().lower(), int(seed)


def face_latent(engine: Any, seed: int, truncation: float = 0.7, mix: tuple[str, int] | None = None) -> Any:
    """W+ ``[1, L, 512]`` of a seed, exactly as ``Session.from_seed`` builds it."""
    w = engine.sample(seed, truncation)
    if mix is not None:
        w = engine.mix(w, engine.sample(mix[1], truncation), mix[0])
    return w


# --------------------------------------------------------------------------- contact sheet


def parse_grid(spec: str) -> tuple[int, int]:
    """``"4x4"`` → (rows, cols), at most :data:`MAX_GRID` tiles."""
    rows, sep, cols = str(spec).lower().partition("x")
    if not sep or not rows.strip().isdigit() or not cols.strip().isdigit():
        raise InvalidArgumentError(f"A grid is ROWSxCOLS, e.g. 4x4; got {spec!r}.")
    r, c = int(rows), int(cols)
    if r < 1 or c < 1 or r * c > MAX_GRID:
        raise InvalidArgumentError(f"A grid holds 1..{MAX_GRID} faces; {spec!r} asks for {r * c}.")
    return r, c


def caption(tile: np.ndarray, text: str) -> np.ndarray:
    """``tile`` with a white caption band underneath (the tile's own pixels untouched)."""
    import cv2

    width = tile.shape[1]
    band_h = max(12, width // 10)
    band = np.full((band_h, width, 3), 255, np.uint8)
    scale = band_h / 30
    cv2.putText(band, text, (max(2, width // 40), int(band_h * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                (20, 20, 20), max(1, round(scale * 1.5)), cv2.LINE_AA)
    return np.concatenate([tile, band], 0)


def tile_grid(tiles: Sequence[np.ndarray], cols: int, gap: int = 0) -> np.ndarray:
    """Images of one size laid out row-major on white, ``gap`` pixels apart."""
    h, w = tiles[0].shape[:2]
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * h + (rows - 1) * gap, cols * w + (cols - 1) * gap, 3), 255, np.uint8)
    for i, t in enumerate(tiles):
        r, c = divmod(i, cols)
        sheet[r * (h + gap): r * (h + gap) + h, c * (w + gap): c * (w + gap) + w] = t
    return sheet


def contact_sheet(engine: Any, seeds: Sequence[int], cols: int, truncation: float = 0.7,
                  mix: tuple[str, int] | None = None, captions: bool = False) -> np.ndarray:
    """The faces of ``seeds`` on a grid (row-major), each tile the seed's face exactly.

    One generator pass per tile (no parsing, no session), so a tile is bit-identical to
    ``Session.from_seed(seed, truncation, mix).current.image``.  ``captions`` adds the seed under each
    face and a 2-pixel gap between tiles.
    """
    if not seeds:
        raise InvalidArgumentError("A contact sheet needs at least one seed.")
    size = engine.generator.size
    tiles = []
    for seed in seeds:
        face = engine.generate(face_latent(engine, seed, truncation, mix), size)
        tiles.append(caption(face, f"seed {seed}") if captions else face)
    return tile_grid(tiles, cols, gap=2 if captions else 0)


# --------------------------------------------------------------------------- entanglement view


@dataclass
class EntanglementView:
    """One direction at several α, plain (top) and conditioned on a second attribute (bottom)."""

    name: str
    condition: str
    alphas: tuple[float, ...]
    plain: list[np.ndarray]  # one crop per α
    conditioned: list[np.ndarray]
    cosine: float  # between the two directions' normals (per-layer ones: mean over rows)
    cosine_after: float  # between the conditioned normal and the condition (0 up to rounding)
    image: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 0, 3), np.uint8))

    def describe(self) -> str:
        return (f"Top: {self.name} from α={self.alphas[0]:+g} to {self.alphas[-1]:+g}. Bottom: the same "
                f"with {self.condition} kept (conditional editing). The two directions have cosine "
                f"{self.cosine:+.2f}; after conditioning {self.cosine_after:+.2f}.")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.atleast_2d(a), np.atleast_2d(b)
    vals = []
    for i in range(max(a.shape[0], b.shape[0])):
        x = a[min(i, a.shape[0] - 1)].astype(np.float64)
        y = b[min(i, b.shape[0] - 1)].astype(np.float64)
        vals.append(float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12)))
    return float(np.mean(vals))


def entanglement_view(session: Any, name: str, condition: str,
                      alphas: Sequence[float] | None = None) -> EntanglementView:
    """Slider ``name`` at each α on the session's current face, plain and conditioned on ``condition``.

    Built from :meth:`Session.attribute_strip` (the history is untouched; the other sliders keep their
    values), so each frame is exactly what the slider (or the conditional edit) would show.
    """
    from faceedit.engines.base import get_engine

    if not name or not condition:
        raise InvalidArgumentError("Choose a direction and a second attribute to keep.")
    if name == condition:
        raise InvalidArgumentError(f"Condition {name!r} on a different attribute, not on itself.")
    library = getattr(get_engine(session.engines["attributes"]), "directions", None)
    if library is None:
        raise UnsupportedEditError("The entanglement view needs the GAN engine and its attribute directions; "
                                   "the lite engine has no latent directions to compare.")
    primal, kept = library.get(name), library.get(condition)
    alphas = tuple(float(a) for a in (STRIP_ALPHAS if alphas is None else alphas))
    plain = session.attribute_strip(name, alphas)
    conditioned = session.attribute_strip(name, alphas, conditions=[condition])
    projected = library.conditioned(name, [condition])
    view = EntanglementView(name, condition, alphas, plain, conditioned,
                            cosine=_cosine(primal.vector, kept.vector),
                            cosine_after=_cosine(projected.vector, kept.vector))
    labels = [f"{name} {a:+g}" for a in alphas] + [f"{name} {a:+g}, keep {condition}" for a in alphas]
    view.image = tile_grid([caption(t, c) for t, c in zip(plain + conditioned, labels)], len(alphas), gap=2)
    return view
