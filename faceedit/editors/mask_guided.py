"""Gu et al. 2019's mask-guided generator (CVPR 2019): mask edit and component swap.

Both use the cached app path: the face's component and background features are prepared once per face
(``face.cache["gan"]["mask_guided"]``), so an edit runs one (incremental) ``G`` pass at 256x256 on the
Helen 11-class map; the result shows only over the changed region plus a margin.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import Editor, EditorOutput, FaceState
from faceedit.editors.gan_runtime import GanRuntime, changed_region, image_at
from faceedit.editors.lite import check_components, check_painted
from faceedit.helen import to_helen
from faceedit.labels import component_indices
from faceedit.mask_guided_official import check_helen_labels, check_image, image_to_tensor, prepare_labels
from faceedit.models.mask_guided_runtime import IncrementalGenerator, PreparedFace

#: Side of the mask-guided generator's input (Gu et al. work at 256x256).
MASK_GUIDED_SIZE = 256
#: Registry name of the published generator folder.
MASK_GUIDED_WEIGHTS = "gu2019.mask_guided"
#: Our swap components -> the mask-guided generator's component features.
MASK_GUIDED_PARTS: dict[str, tuple[str, ...]] = {"eyes": ("left_eye", "right_eye"), "mouth": ("mouth",),
                                                  "hair": ("hair",), "skin": ("skin",)}
HOW = "mask-guided generator (Gu et al. 2019)"


@torch.inference_mode()
def prepare_face(model: Any, image: np.ndarray, labels: np.ndarray, content_image: np.ndarray | None = None,
                 random_embed: bool = False, generator: torch.Generator | None = None) -> PreparedFace:
    """Encode a style face once (features) and a content image's background features, for fast edits.

    ``model``: a :class:`faceedit.mask_guided_official.MaskGuidedEditor`; 256x256 uint8 image, Helen labels.
    """
    features = model.encode(image, labels, random_embed=random_embed, generator=generator)
    content = check_image(image if content_image is None else content_image, "content image")
    background = model.G.encode_background(image_to_tensor(content, model.device))
    return PreparedFace(features, background, model.G.project_components(features),
                        IncrementalGenerator(model.G, background))


@torch.inference_mode()
def generate_prepared(model: Any, prepared: PreparedFace, labels: np.ndarray,
                      content_image: np.ndarray | None = None) -> torch.Tensor:
    """The official ``inference_generate`` of a prepared face under a Helen map -> [1, 3, 256, 256].

    At most one ``G`` pass, and only what the edit changed (:class:`IncrementalGenerator`); a new
    ``content_image`` replaces the background (and drops the kept activations).
    """
    grown, centres = prepare_labels(check_helen_labels(labels, "target label map"))
    dev = model.device
    if content_image is not None:  # a new background invalidates the kept activations
        prepared.background = model.G.encode_background(
            image_to_tensor(check_image(content_image, "content image"), dev))
        prepared.incremental = None
    if prepared.incremental is None:
        prepared.incremental = IncrementalGenerator(model.G, prepared.background)
    comp = model.G.component_input(prepared.projected, torch.from_numpy(centres).unsqueeze(0))
    return prepared.incremental(torch.from_numpy(grown), comp)


class MaskGuidedModel:
    """The mask-guided model an editor runs on: what every editor of Gu et al.'s networks needs to be built
    (mixed in before :class:`Editor`: the mask edit, the swap and the random-embedding synthesiser)."""

    requires = ((MASK_GUIDED_WEIGHTS,),)

    def __init__(self, model: Any, runtime: GanRuntime | None = None) -> None:
        """``model``: a :class:`faceedit.mask_guided_official.MaskGuidedEditor`."""
        self.model = model
        self.runtime = runtime or GanRuntime(device=model.device)

    @classmethod
    def build(cls, runtime: GanRuntime) -> Editor:
        return cls(runtime.load(MASK_GUIDED_WEIGHTS), runtime)


class _MaskGuided(MaskGuidedModel, Editor):
    """What the mask edit and the swap share: the model and the face's prepared features."""

    engine = "gan"

    @property
    def device(self) -> str:
        return self.runtime.device

    @staticmethod
    def helen_inputs(crop: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The generator's 256x256 image and Helen 11-class map (eyes and brows by image side)."""
        s = MASK_GUIDED_SIZE
        return (cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA),
                cv2.resize(to_helen(labels), (s, s), interpolation=cv2.INTER_NEAREST))

    def prepared(self, face: FaceState) -> Any:
        """The face's prepared state (component and background features), computed once per face."""
        cache = face.cache.setdefault("gan", {})
        if "mask_guided" not in cache:
            cache["mask_guided"] = self.runtime.run(prepare_face, self.model, *self.helen_inputs(face.crop, face.labels))
        return cache["mask_guided"]


class MaskGuidedMaskEdit(_MaskGuided):
    """The official edit: the face's components placed by the painted map, its own background, one G pass."""

    name = "mask-guided mask edit"
    operation = "mask_edit"

    def edit_mask(self, face: FaceState, new_labels: np.ndarray) -> EditorOutput:
        new = check_painted(face, new_labels)
        changed = new != face.labels
        if not changed.any():
            return EditorOutput(crop=face.crop.copy(), labels=new.copy())
        target = self.helen_inputs(face.crop, new)[1]
        generated = image_at(self.runtime.run(generate_prepared, self.model, self.prepared(face), target),
                             face.crop.shape[0])
        region = changed_region(changed, face.crop.shape[0])
        return EditorOutput(crop=tex.blend(face.crop, generated, region), labels=new.copy(), region=region,
                            message=f"redrawn by the {HOW}")


class MaskGuidedSwap(_MaskGuided):
    """Official encode -> swap -> generate: the chosen parts' features from the reference, the rest and
    the background from the face's cached state, placed by the face's own map."""

    name = "mask-guided swap"
    operation = "swap"

    def accepts(self, components: tuple[str, ...] = (), **request: Any) -> bool:
        """Eyes, mouth, hair and skin have features of their own; brows and nose do not."""
        return all(c.strip().lower() in MASK_GUIDED_PARTS for c in components)

    def swap(self, face: FaceState, reference: FaceState, components: tuple[str, ...]) -> EditorOutput:
        comps = check_components(components)
        prepared = self.prepared(face)
        target = self.helen_inputs(face.crop, face.labels)[1]
        ref_feats = self.runtime.run(self.model.encode, *self.helen_inputs(reference.crop, reference.labels))
        feats = dict(prepared.features)
        for c in comps:
            for part in MASK_GUIDED_PARTS[c]:
                feats[part] = ref_feats[part]
        mixed = self.runtime.run(lambda: PreparedFace(feats, prepared.background,
                                                      self.model.G.project_components(feats)))
        size = face.crop.shape[0]
        generated = image_at(self.runtime.run(generate_prepared, self.model, mixed, target), size)
        touched = np.isin(face.labels, component_indices(list(comps)))
        region = changed_region(touched, size)
        return EditorOutput(crop=tex.blend(face.crop, generated, region), labels=face.labels.copy(), region=region,
                            message=f"swapped by the {HOW}")
