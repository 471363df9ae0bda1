"""The ``stylise`` operation behind the composer: the face in an art style, as a GAN or a lite editor.

* :class:`GanStylise` (engine ``gan``): the face's W+ (e4e, inverted once per face into the same
  ``face.cache["gan"]["w"]`` the InterfaceGAN sliders use) rendered by a style generator G_B; *strength*
  blends G_A and G_B (:class:`~faceedit.editors.stylise.GanStyliser`).  The stylised face keeps the W+ and a
  renderer in its cache, so the attribute sliders move the same W+ along the same directions and re-render in
  G_B: one generator pass per slider move, no second inversion.
* :class:`LiteStylise` (engine ``lite``): OpenCV stylisation (:func:`~faceedit.editors.stylise.lite_stylise`),
  no weights; strength blends the photo and the stylised crop.

Styles are named by id: a registry row (``style.nada.anime``; its last part ``anime`` also works), a trained
DiFa run (``trained:<folder>``; the folder name also works) or a lite style (``lite:cartoon``).  Trained styles
are the ``style.json`` files under :func:`styles_dir` (``FACEEDIT_STYLES_DIR``, else ``<weights dir>/styles``),
one or two folders down (``runs/<name>/style.json`` as ``faceedit.train.difa`` writes them).
A stylised face remembers the face it came from, so choosing another style never stylises a stylised face.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import Editor, EditorOutput, FaceState, installed, present, register_operation
from faceedit.editors.gan_runtime import ENCODERS, GanRuntime, OnStyleSpace, StyleSpace
from faceedit.editors.stylise import LITE_STYLES, GanStyliser, lite_stylise
from faceedit.errors import InvalidArgumentError

register_operation("stylise", "redraw the face in an art style (GAN style generators, or lite OpenCV styles)")

#: Registry rows of style generators (the manifest's ``style.*`` rows serve ``stylise``).
STYLE_ROWS: tuple[str, ...] = ("style.*",)
#: Prefixes of style ids that are not registry rows.
LITE_PREFIX, TRAINED_PREFIX = "lite:", "trained:"
#: Families of the registry rows, for labels.
FAMILIES: dict[str, str] = {"nada": "StyleGAN-NADA", "jojogan": "JoJoGAN", "difa": "DiFa"}


@dataclass(frozen=True)
class StyleInfo:
    """One entry of the style picker."""

    id: str  # "style.nada.anime", "trained:my-run", "lite:cartoon"
    label: str  # what the picker shows
    engine: str  # "gan" | "lite"
    thumbnail: str | None = None  # an image of the style (trained runs: their last sample grid)
    path: str | None = None  # the generator file of a trained style

    @property
    def short(self) -> str:
        """The id's last part (``anime``, ``my-run``, ``cartoon``): accepted wherever the id is."""
        return self.id.split(":", 1)[-1].rsplit(".", 1)[-1]


def styles_dir() -> Path:
    """Where trained styles are looked for (and the page's training writes): ``FACEEDIT_STYLES_DIR``, else
    ``<weights dir>/styles``."""
    env = os.environ.get("FACEEDIT_STYLES_DIR")
    if env:
        return Path(env).expanduser()
    from faceedit.weights.cache import weights_dir

    return weights_dir() / "styles"


def trained_styles(root: str | Path | None = None) -> list[StyleInfo]:
    """Every ``style.json`` one or two folders below ``root`` (default :func:`styles_dir`) with its generator."""
    base = Path(root) if root is not None else styles_dir()
    found: list[StyleInfo] = []
    if not base.is_dir():
        return found
    for path in sorted([*base.glob("*/style.json"), *base.glob("*/*/style.json")]):
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError):
            continue  # a run still writing, or a foreign file: not a style
        gen = path.parent / str(meta.get("generator", "generator.safetensors"))
        if "stylise" not in meta.get("operations", ["stylise"]) or not gen.is_file():
            continue
        thumb = path.parent / meta["thumbnail"] if meta.get("thumbnail") else None
        name = path.parent.name
        found.append(StyleInfo(f"{TRAINED_PREFIX}{name}", str(meta.get("label") or name), "gan",
                               str(thumb) if thumb is not None and thumb.is_file() else None, str(gen)))
    return found


def registry_styles() -> list[StyleInfo]:
    """The style generator rows whose files are on this machine."""
    out = []
    for pattern in STYLE_ROWS:
        for name in present(pattern):
            parts = name.split(".")
            family = FAMILIES.get(parts[1], parts[1]) if len(parts) > 2 else "style"
            out.append(StyleInfo(name, f"{parts[-1].replace('_', ' ')} ({family})", "gan"))
    return out


def lite_styles() -> list[StyleInfo]:
    """The OpenCV styles, always available."""
    return [StyleInfo(f"{LITE_PREFIX}{key}", label, "lite") for key, (label, _) in LITE_STYLES.items()]


def resolve_style(styles: list[StyleInfo], name: str | None) -> StyleInfo:
    """The style named ``name`` (its id or the id's last part); an unknown name lists the available ones."""
    if not styles:
        raise InvalidArgumentError("No art style is available.")
    if name is None or not str(name).strip():
        return styles[0]
    key = str(name).strip()
    exact = [s for s in styles if s.id == key]
    short = [s for s in styles if s.short == key]
    if exact or len(short) == 1:
        return (exact or short)[0]
    ids = ", ".join(s.id for s in styles)
    why = "is ambiguous" if short else "is not available"
    hint = "" if any(s.engine == "gan" for s in styles) else \
        " (GAN styles need `python -m faceedit weights fetch --preset art`)"
    raise InvalidArgumentError(f"Style {key!r} {why}; choose one of: {ids}{hint}.")


def _check_strength(strength: Any) -> float:
    try:
        s = float(strength)
    except (TypeError, ValueError):
        s = float("nan")
    if not 0.0 <= s <= 1.0:
        raise InvalidArgumentError(f"strength must lie in 0..1 (0 = the photo, 1 = the full style); got {strength!r}")
    return s


def _source(face: FaceState) -> FaceState:
    """The face a stylised face was made from (itself when it is not stylised)."""
    return face.cache.get("stylise", {}).get("source", face)


def _resized(image: np.ndarray, side: int) -> np.ndarray:
    if image.shape[0] == side:
        return image
    interp = cv2.INTER_AREA if image.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(image, (side, side), interpolation=interp)


class GanStylise(OnStyleSpace, Editor):
    """The photo's W+ rendered by an art-style generator (see the module docstring)."""

    name = "GAN art styles"
    operation = "stylise"
    engine = "gan"
    requires = (ENCODERS, STYLE_ROWS)

    def __init__(self, style: StyleSpace, generators: dict[str, Any] | None = None,
                 styles_root: str | Path | None = None, registry: bool = True) -> None:
        """``style``: G_A with the e4e encoder; ``generators``: style id -> G_B already in memory (tests);
        ``styles_root``: where trained styles are found (default :func:`styles_dir`, read at each listing);
        ``registry``: list the installed registry rows too."""
        self.style = style
        self._given = dict(generators or {})
        self._root = styles_root
        self._registry = registry
        self._stylisers: dict[str, GanStyliser] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_registry(cls, runtime: GanRuntime) -> GanStylise | None:
        """Built when the encoder is present and a style row or a trained style is."""
        if not installed((ENCODERS,)) or not (installed(cls.requires) or trained_styles()):
            return None
        return cls.build(runtime)

    @classmethod
    def build(cls, runtime: GanRuntime) -> GanStylise | None:
        style = runtime.inverting_style_space()
        return cls(style) if style is not None else None

    def styles(self) -> list[StyleInfo]:
        """The GAN styles this editor can render: given generators, installed rows, trained runs."""
        given = [StyleInfo(k, k.rsplit(".", 1)[-1].replace("_", " "), "gan") for k in self._given]
        return given + (registry_styles() if self._registry else []) + trained_styles(self._root)

    def accepts(self, style: str | None = None, **request: Any) -> bool:
        return style is None or not str(style).startswith(LITE_PREFIX)

    def styliser(self, style: str | None) -> GanStyliser:
        """The G_A/G_B blender of ``style`` (its generator loaded once per process)."""
        info = resolve_style(self.styles(), style)
        with self._lock:
            if info.id not in self._stylisers:
                self._stylisers[info.id] = GanStyliser(self.style.generator, self._load(info), info.label)
            return self._stylisers[info.id]

    def _load(self, info: StyleInfo) -> Any:
        if info.id in self._given:
            return self._given[info.id]
        dev = self.style.runtime.torch_device
        if info.path is not None:  # a trained run: safetensors, strict load
            from safetensors.torch import load_file

            from faceedit.models.style_generators import load_style_generator

            return load_style_generator(load_file(info.path), device=dev).eval().requires_grad_(False)
        from faceedit import weights

        return weights.load_model(info.id, device=dev)

    def renderer(self, style: str | None, strength: float, side: int) -> Callable[[Any], np.ndarray]:
        """``w_plus -> (side, side, 3) uint8`` in ``style`` at ``strength``: one generator pass per call."""
        st, s = self.styliser(style), _check_strength(strength)

        def render(w_plus: Any) -> np.ndarray:
            return _resized(self.style.runtime.run(lambda: st.render(w_plus, s).image), side)

        return render

    def edit(self, face: FaceState, style: str | None = None, strength: float = 1.0) -> EditorOutput:
        """The face (or the face it was stylised from) rendered in ``style``; its W+ is inverted at most once."""
        from faceedit.align import face_region

        source = _source(face)
        info = resolve_style(self.styles(), style)
        render = self.renderer(info.id, strength, source.crop.shape[0])
        w = self.style.latent(source)
        region = face_region(source.labels)
        crop = tex.blend(source.crop, render(w), region)
        s = _check_strength(strength)
        cache = {"gan": {"w": w, "render": render},
                 "stylise": {"source": source, "style": info.id, "strength": s}}
        return EditorOutput(crop=crop, region=region, cache=cache, message=f"{info.label}, strength {s:.2f}")

    def compare(self, face: FaceState, style: str | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The face's inversion rendered by G_A and by G_B (two passes), at the crop's size."""
        source = _source(face)
        st, side = self.styliser(style), source.crop.shape[0]
        a, b = self.style.runtime.run(st.compare, self.style.latent(source))
        return _resized(a, side), _resized(b, side)


class LiteStylise(Editor):
    """OpenCV stylisation of the face and hair (see the module docstring); no weights."""

    name = "lite styles"
    operation = "stylise"
    engine = "lite"

    def styles(self) -> list[StyleInfo]:
        return lite_styles()

    def accepts(self, style: str | None = None, **request: Any) -> bool:
        return style is None or str(style).startswith(LITE_PREFIX) or str(style) in LITE_STYLES

    def edit(self, face: FaceState, style: str | None = None, strength: float = 1.0) -> EditorOutput:
        """The face (or the face it was stylised from) in a lite style, blended with the photo by ``strength``."""
        from faceedit.align import face_region

        info = resolve_style(self.styles(), style)
        s = _check_strength(strength)
        source = _source(face)
        styled = lite_stylise(source.crop, info.short).image
        mixed = tex.blend(source.crop, styled, np.full(source.crop.shape[:2], s, np.float32))
        region = face_region(source.labels)
        return EditorOutput(crop=tex.blend(source.crop, mixed, region), region=region if s > 0 else None,
                            cache={"stylise": {"source": source, "style": info.id, "strength": s}},
                            message=f"{info.label}, strength {s:.2f}")
