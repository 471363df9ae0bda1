"""Face swap behind the composer: a source face's identity on the session's face (operation ``face_swap``).

Two editors, one per engine:

* :class:`FaceShifterSwap` (GAN): FaceShifter's AEI-Net on GHOST's 2-block generator with its ArcFace backbone
  (:mod:`faceedit.editors.faceshifter`). The source's identity z_id is computed once per source face (cached in
  the source's ``FaceState.cache``), the generator's result once per target and source (cached in the target's):
  a new blend strength is one re-blend, no network pass. No HEAR-Net: none is published.
* :class:`LiteFaceSwap` (lite): the source face warped onto the target's mesh, colour matched and blended inside
  the target's face region (:func:`faceedit.editors.lite_faceswap.lite_face_swap`). With the ArcFace backbone
  installed it reports the identity similarity too.

Both take ``edit(face, source=FaceState, strength=1.0)``; :meth:`faceedit.session.Session.run` turns a source
photo (path, bytes, array) and ``source_face`` into that aligned ``FaceState`` first.  A face swap on the result
of a face swap starts again from the face before it (``restarts = True``), so a strength change or another
source replaces the last swap instead of swapping onto it.  The crop already carries the blend (the method's
soft face mask times the strength), so the editors return no region: the session pastes where the crop changed.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from faceedit.editors.base import Editor, EditorOutput, FaceState, present, register_operation
from faceedit.editors.faceshifter import MAX_YAW_DEGREES as GAN_MAX_YAW
from faceedit.editors.faceshifter import (
    FaceShifterNets,
    blend_swap,
    faceshifter_generate,
    ghost_crop,
    source_identity,
)
from faceedit.editors.faceswap_input import check_pair, check_strength
from faceedit.editors.lite_faceswap import MAX_YAW_DEGREES as LITE_MAX_YAW
from faceedit.editors.lite_faceswap import lite_face_swap
from faceedit.errors import InvalidArgumentError

register_operation("face_swap", "put a source face's identity on this face (FaceShifter, or the lite mesh swap)")

#: The generator the GAN editor runs (GHOST's main model), or its safetensors re-pack of the same tensors.
GENERATORS: tuple[str, ...] = ("ghost.g_unet_2blocks", "ghost.g_unet_2blocks_safetensors")
#: The ArcFace IResNet-100 GHOST uses (identity and similarity), or its safetensors re-pack.
ARCFACE: tuple[str, ...] = ("ghost.arcface_backbone", "ghost.arcface_backbone_safetensors")
#: Mesh points at the widest part of the face (cheek to cheek): its width in the photo.
CHEEKS = (234, 454)


def face_width_px(face: FaceState) -> float | None:
    """Width of ``face`` in its own photo in pixels (None for a generated face: no photo to be small in)."""
    if face.photo_scale is None:
        return None
    a, b = (face.landmarks[i, :2].astype(np.float64) for i in CHEEKS)
    return float(np.linalg.norm(a - b) / face.photo_scale)


def _key(source: FaceState) -> str:
    """A digest naming a source face (its aligned crop) for the caches."""
    return hashlib.sha1(np.ascontiguousarray(source.crop).tobytes()).hexdigest()


def _check_source(source: Any) -> FaceState:
    if not isinstance(source, FaceState):
        raise InvalidArgumentError("Give the face swap a source photo (source=...): the face whose identity is used.")
    return source


class _FaceSwap(Editor):
    operation = "face_swap"
    #: A face swap on a face-swap result starts again from the face before it (see the module docstring).
    restarts = True

    def __init__(self, nets: FaceShifterNets | None = None, max_yaw: float | None = None,
                 runtime: Any = None) -> None:
        """``nets``: the loaded networks (the lite editor needs only their ArcFace, for the similarity);
        ``max_yaw``: the pose limit in degrees (default: the method's own)."""
        self.nets = nets
        self.max_yaw = max_yaw
        self.runtime = runtime

    @property
    def device(self) -> str:
        return self.runtime.device if self.runtime is not None else str(self.nets.device if self.nets else "cpu")

    def _run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` under the runtime's lock (models are shared by every session)."""
        return self.runtime.run(fn, *args) if self.runtime is not None else fn(*args)

    def check(self, face: FaceState, source: FaceState, limit: float, method: str) -> None:
        """The typed input errors (same photo, too small, too far turned) before any work, at this editor's limit."""
        check_pair(face.crop, face.landmarks, source.crop, source.landmarks,
                   limit if self.max_yaw is None else min(limit, self.max_yaw), method,
                   face_width_px(face), face_width_px(source))

    def identity(self, source: FaceState) -> Any:
        """The source's z_id, computed once per source face."""
        cache = source.cache.setdefault("gan", {})
        if "z_id" not in cache:
            cache["z_id"] = self._run(source_identity, self.nets, source.crop, source.landmarks)
        return cache["z_id"]


class FaceShifterSwap(_FaceSwap):
    """FaceShifter AEI-Net (GHOST's 2-block weights) with the ArcFace identity; strength = re-blend only."""

    name = "FaceShifter face swap"
    engine = "gan"
    requires = (GENERATORS, ARCFACE)

    @classmethod
    def build(cls, runtime: Any) -> Editor:
        generator = runtime.load(next(n for n in GENERATORS if present(n)))
        arcface = runtime.load(next(n for n in ARCFACE if present(n)))
        return cls(FaceShifterNets(generator, arcface, runtime.torch_device), runtime=runtime)

    def edit(self, face: FaceState, source: Any = None, strength: float = 1.0) -> EditorOutput:
        source = _check_source(source)
        strength = check_strength(strength)
        cache = face.cache.setdefault("gan", {}).setdefault("face_swap", {})
        key = _key(source)
        generated = cache.get(key)
        if generated is None:
            self.check(face, source, GAN_MAX_YAW, "FaceShifter")
            generated = self._run(faceshifter_generate, self.nets, face.crop, face.landmarks, source.crop,
                                  source.landmarks, self.identity(source), face_width_px(face),
                                  face_width_px(source))
            cache.clear()  # one source per target face is kept: a new source replaces the old result
            cache[key] = generated
        out = blend_swap(face.crop, generated, strength)
        return EditorOutput(crop=out.crop, message=out.message, scores={"identity_similarity": out.similarity})


class LiteFaceSwap(_FaceSwap):
    """The lite mesh swap (no weights); with the ArcFace backbone present it reports the identity similarity."""

    name = "lite face swap"
    engine = "lite"

    @classmethod
    def build(cls, runtime: Any) -> Editor:
        found = next((n for n in ARCFACE if present(n)), None)
        if found is None:
            return cls()
        return cls(FaceShifterNets(None, runtime.load(found), runtime.torch_device), runtime=runtime)  # type: ignore[arg-type]

    def edit(self, face: FaceState, source: Any = None, strength: float = 1.0) -> EditorOutput:
        source = _check_source(source)
        strength = check_strength(strength)
        self.check(face, source, LITE_MAX_YAW, "the lite face swap")
        out = lite_face_swap(face.crop, face.labels, face.landmarks, source.crop, source.landmarks,
                             source.labels, strength, face_width_px(face), face_width_px(source))
        scores: dict[str, float] = {}
        message = out.message
        if self.nets is not None and self.nets.arcface is not None:
            sim = self.similarity(out.crop, face.landmarks, source)
            scores["identity_similarity"] = sim
            message += f"; identity similarity to the source {sim:.2f} (ArcFace cosine)"
        return EditorOutput(crop=out.crop, message=message, scores=scores)

    def similarity(self, crop: np.ndarray, landmarks: np.ndarray, source: FaceState) -> float:
        """ArcFace cosine of a swapped crop (in GHOST's 224 frame) to the source's identity."""
        import torch

        from faceedit.editors.faceshifter import _to_tensor
        from faceedit.models.arcface import cosine_similarity, identity_embedding

        z_id = self.identity(source)
        crop224, _ = ghost_crop(crop, landmarks)

        def run() -> float:
            with torch.inference_mode():
                emb = identity_embedding(self.nets.arcface, _to_tensor(crop224[None], self.nets.device))
                return float(cosine_similarity(emb, z_id)[0])

        return self._run(run)

