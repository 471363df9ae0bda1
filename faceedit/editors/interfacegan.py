"""InterfaceGAN (Shen et al. 2020) and GANSpace sliders: the face's W+ moved along latent directions.

Per face the aligned crop is inverted *once* (:meth:`StyleSpace.latent`); a slider move then runs only
the generator on ``W+ + sum_k alpha_k n_k`` (:meth:`DirectionLibrary.apply`), and the generated face is
blended into the crop over the feathered face + hair region (a generated face is its own result).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import EditorOutput, FaceState, SliderEditor
from faceedit.editors.gan_runtime import ENCODERS, PREVIEW_RESOLUTION, GanRuntime, OnStyleSpace, StyleSpace

#: Slider range offered for every direction.
ATTRIBUTE_RANGE: tuple[float, float] = (-3.0, 3.0)
#: Direction files in the registry (InterfaceGAN boundaries for StyleGAN2 FFHQ, e4e's editing directions).
DIRECTION_FILES: tuple[str, ...] = ("interfacegan.*", "e4e.direction.*")


def slider_group(direction: Any) -> str:
    """The group a direction's slider is shown in (``expression``, ``age and gender``, ...; ``other``)."""
    return getattr(direction, "group", None) or direction.metadata.get("group", "other")


class InterfaceGanSliders(OnStyleSpace, SliderEditor):
    """Sliders along latent directions in W+ (see the module docstring)."""

    name = "InterfaceGAN sliders"
    operation = "attributes"
    engine = "gan"
    requires = (ENCODERS, DIRECTION_FILES)
    title = "StyleGAN2 latent directions"
    conditionable = True  # InterfaceGAN's conditional manipulation
    exclusive = True  # a chain with W+ sliders offers no lite sliders

    def __init__(self, style: StyleSpace, directions: Any) -> None:
        """``directions``: a :class:`faceedit.directions.DirectionLibrary`."""
        self.style = style
        self.directions = directions

    @classmethod
    def build(cls, runtime: GanRuntime) -> InterfaceGanSliders | None:
        from faceedit.directions import DirectionLibrary

        style = runtime.inverting_style_space()
        if style is None:
            return None
        editor = cls(style, DirectionLibrary.from_registry())
        return editor if editor.names() else None

    def names(self) -> list[str]:
        """Sliders moved in W+ (InterfaceGAN, GANSpace, user directions)."""
        from faceedit.directions import VECTOR_KINDS

        return list(self.directions.names(VECTOR_KINDS))

    def range(self, name: str) -> tuple[float, float]:
        """Latent directions span -3..3 direction units."""
        return ATTRIBUTE_RANGE

    def groups(self) -> dict[str, str]:
        """Slider name -> group."""
        return {n: slider_group(self.directions.get(n)) for n in self.names()}

    def prepare(self, face: FaceState) -> None:
        """Invert the face now (once), so that slider moves only run the generator."""
        self.style.latent(face)

    def edit_sliders(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None,
                     region: np.ndarray | None, conditions: dict[str, list[str]] | None,
                     preview: bool) -> EditorOutput:
        """Generator on the cached W+ moved along the directions, blended over the face + hair; a preview
        stops at the generator's RGB at :data:`PREVIEW_RESOLUTION` (a prefix of the same pass)."""
        from faceedit.align import face_region

        w = self.directions.apply(self.style.latent(face), values, conditions=conditions or None)
        size = face.crop.shape[0]
        render = face.cache.get("gan", {}).get("render")  # a face shown through another generator (an art style)
        if render is not None:  # an art style's generator has no preview path: its full render serves both
            generated = render(w)
        elif preview:
            generated = self.style.preview(w, size, PREVIEW_RESOLUTION)
        else:
            generated = self.style.generate(w, size)
        if face.cache.get("gan", {}).get("generated"):
            return EditorOutput(crop=generated, message=self.title)  # a generated face: the image is the result
        region = face_region(face.labels)
        base = face.crop if crop is None else crop
        return EditorOutput(crop=tex.blend(base, generated, region), region=region, message=self.title)
