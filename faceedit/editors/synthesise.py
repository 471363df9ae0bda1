"""New faces for a label map (operation ``synthesise``): Gu et al.'s random embedding and pSp's multi-modal synthesis.

Two editors draw *variations* of one 19-class map, each from a seed (variation ``k`` of seed ``s`` is seed
``s + k``, so one variation is reproducible on its own):

* :class:`GuRandomEmbedding`: Gu et al. 2019's mask-guided generator with ``z ~ N(0, I)`` for the five
  component embeddings instead of a photo's ``mu`` (the official ``--random_embed`` mode, the paper's
  mask-to-face synthesis); the map's mask features and component placement come from the map.
* :class:`Seg2FaceMultiModal`: pSp segmentation-to-face with the fine W+ layers (pSp's ``latent_mask``
  8..17 of 18) replaced by a random face's style, ``mapping(z)`` of a seeded ``z`` (pSp's multi-modal
  synthesis, its ``style_mixing`` script with ``mix_alpha`` unset).

Noise is drawn on the CPU from ``torch.Generator().manual_seed(seed)`` (float32 for Gu, as the official
``torch.randn``; float64 then rounded for pSp's ``z``, as random faces do), then moved to the device: the same
seed is the same face on any machine.

Background modes (:data:`BACKGROUND_MODES`): ``photo`` keeps the photo's own pixels wherever the map says
background (a few pixels feathered at the face's edge), ``generated`` keeps what the network drew everywhere
(Gu et al.'s background encoder then sees a flat grey image: there is no photo to fuse).  Without a photo
(a blank canvas or a template map) only ``generated`` applies.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import Editor, EditorOutput, FaceState, register_operation
from faceedit.editors.gan_runtime import ENCODER_SIZE, GanRuntime, image_at
from faceedit.editors.mask_guided import MASK_GUIDED_SIZE, MaskGuidedModel
from faceedit.editors.seg2face import SEG2FACE_WEIGHTS, one_hot
from faceedit.errors import InvalidArgumentError
from faceedit.helen import to_helen
from faceedit.labels import INDEX, TO_CELEBAMASK, check_label_map

register_operation("synthesise", "draw new faces for a label map, one per seed")

#: Where the background pixels of a variation come from.
BACKGROUND_MODES: dict[str, str] = {
    "photo": "the photo's own pixels wherever the map is background (feathered at the face's edge)",
    "generated": "everything as the network drew it (no photo needed)",
}
#: Classes that make up "the face" a map must have and variations differ in.
FACE_CLASSES: tuple[int, ...] = tuple(INDEX[c] for c in (
    "skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip", "l_lip"))
#: Most variations one call may draw.
MAX_VARIATIONS = 64
#: First "fine" W+ layer of pSp's multi-modal synthesis for an 18-layer generator (its latent_mask 8..17).
PSP_FINE_LAYER = 8
#: Pixels (at 512 px) of the feathered seam between a variation and the photo's background.
SEAM = 4


def check_seed(seed: Any) -> int:
    """A seed as an int in 0 .. 2**63 - 1, or a clear error."""
    try:
        value = int(seed)
        whole = not isinstance(seed, float) or float(seed) == value
    except (TypeError, ValueError, OverflowError):
        value, whole = -1, False
    if not whole or not 0 <= value < 2**63:
        raise InvalidArgumentError(f"The seed must be a whole number from 0 to 2**63-1; got {seed!r}.")
    return value


def check_count(n: Any) -> int:
    """How many variations: 1 .. :data:`MAX_VARIATIONS`."""
    try:
        value = int(n)
    except (TypeError, ValueError):
        value = -1
    if not 1 <= value <= MAX_VARIATIONS:
        raise InvalidArgumentError(f"The number of variations must be 1..{MAX_VARIATIONS}; got {n!r}.")
    return value


def check_background(mode: Any, has_photo: bool) -> str:
    """A background mode of :data:`BACKGROUND_MODES`; ``photo`` needs a photo."""
    key = str(mode).strip().lower()
    if key not in BACKGROUND_MODES:
        raise InvalidArgumentError(f"Unknown background mode {mode!r}; choose from: {', '.join(BACKGROUND_MODES)}.")
    if key == "photo" and not has_photo:
        raise InvalidArgumentError("Background mode 'photo' needs a photo to take the background from; "
                                   "a map without a photo (blank canvas, template) uses 'generated'.")
    return key


def check_face_map(labels: Any, size: int | None = None) -> np.ndarray:
    """A 19-class map a face can be drawn from: 2-D, square (``size`` when given), classes 0..18, with a face."""
    arr = np.asarray(labels)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise InvalidArgumentError(f"A label map for new faces must be square (H, W) with H = W; got shape {arr.shape}.")
    if size is not None and arr.shape[0] != size:
        raise InvalidArgumentError(f"The label map is {arr.shape[0]}x{arr.shape[1]} but must match the aligned crop "
                                   f"({size}x{size}).")
    if arr.dtype.kind not in "iu":
        raise InvalidArgumentError(f"A label map holds class indices (integers); got dtype {arr.dtype}.")
    arr = check_label_map(arr)
    if not (arr == INDEX["skin"]).any():
        raise InvalidArgumentError("The label map has no face: paint skin (and eyes, brows, nose, lips) before "
                                   "drawing new faces for it.")
    return arr


def face_region(labels: np.ndarray, size: int) -> np.ndarray:
    """Where a variation replaces the photo: every non-background class, feathered by :data:`SEAM` (0 from 2 x SEAM)."""
    fg = labels != INDEX["background"]
    margin = max(1, round(SEAM * size / 512))
    soft = tex.feather(tex.dilate(fg, margin), margin / 2) * tex.dilate(fg, 2 * margin)  # exactly 0 beyond 2 margins
    return np.maximum(soft, fg.astype(np.float32))


class _Synthesiser(Editor):
    """What both synthesis editors share: seeds, the map check, N variations, background modes, the seam."""

    operation = "synthesise"
    engine = "gan"
    key = ""  # the short model name requests use ("gu", "psp")

    runtime: GanRuntime

    @property
    def device(self) -> str:
        return self.runtime.device

    def accepts(self, model: str | None = None, **request: Any) -> bool:
        """``model`` picks one: its key (``gu`` / ``psp``) or its name; None takes the first."""
        return model is None or str(model).strip().lower() in (self.key, self.name.lower())

    def draw(self, labels: np.ndarray, seed: int, content: np.ndarray | None) -> np.ndarray:
        """One face for ``labels`` from ``seed`` at the map's size (``content``: the photo crop or None)."""
        raise NotImplementedError

    def variations(self, labels: Any, seed: Any = 0, n: Any = 1, background: str = "generated",
                   photo: np.ndarray | None = None) -> list[np.ndarray]:
        """``n`` faces for the map, seeds ``seed .. seed + n - 1``; ``photo`` (the aligned crop) for ``photo`` mode."""
        size = None if photo is None else photo.shape[0]
        lab = check_face_map(labels, size)
        first, count = check_seed(seed), check_count(n)
        if first + count - 1 >= 2**63:
            raise InvalidArgumentError("The seeds of these variations run past 2**63-1; pick a smaller seed.")
        mode = check_background(background, photo is not None)
        content = photo if mode == "photo" else None
        region = face_region(lab, lab.shape[0]) if mode == "photo" else None
        out = []
        for k in range(count):
            face = self.draw(lab, first + k, content)
            out.append(face if region is None else tex.blend(photo, face, region))
        return out

    def edit(self, face: FaceState, labels: Any = None, seed: Any = 0, background: str = "photo",
             model: str | None = None) -> EditorOutput:
        """The session's step: variation ``seed`` of ``labels`` (default: the face's own map) as the new face."""
        lab = check_face_map(face.labels if labels is None else labels, face.crop.shape[0])
        mode = check_background(background, True)
        image = self.variations(lab, seed, 1, mode, face.crop if mode == "photo" else None)[0]
        size = face.crop.shape[0]
        region = face_region(lab, size) if mode == "photo" else np.ones((size, size), np.float32)
        return EditorOutput(crop=image, labels=lab.copy(), region=region,
                            message=f"new face by {self.name}, seed {check_seed(seed)}, background: {mode}")


class GuRandomEmbedding(MaskGuidedModel, _Synthesiser):
    """Gu et al.'s mask-guided generator with random component embeddings (see the module docstring)."""

    name = "Gu et al. random embedding"
    key = "gu"

    def embeddings(self, seed: int) -> dict[str, Any]:
        """``z ~ N(0, I)`` per component, drawn on the CPU in the official order (float32, one generator)."""
        import torch

        from faceedit.models.mask_guided import COMPONENTS

        g = torch.Generator().manual_seed(int(seed))
        dims = {c: self.model.network(f"decoder_{c}").fc[0].in_features for c in COMPONENTS}
        return {c: torch.randn((1, dims[c]), generator=g) for c in COMPONENTS}

    def draw(self, labels: np.ndarray, seed: int, content: np.ndarray | None) -> np.ndarray:
        s = MASK_GUIDED_SIZE
        helen = cv2.resize(to_helen(labels), (s, s), interpolation=cv2.INTER_NEAREST)
        if content is None:
            bg = np.full((s, s, 3), 128, np.uint8)  # a flat grey: [-1, 1] ~ 0 for the background encoder
        else:
            bg = cv2.resize(content, (s, s), interpolation=cv2.INTER_AREA)
        z = self.embeddings(seed)
        dev = self.model.device

        def run() -> Any:
            feats = self.model.decode_features({c: v.to(dev) for c, v in z.items()})
            return self.model.generate(feats, helen, bg)

        return image_at(self.runtime.run(run), labels.shape[0])


class Seg2FaceMultiModal(_Synthesiser):
    """pSp segmentation-to-face with random fine styles (see the module docstring)."""

    name = "pSp seg2face multi-modal"
    key = "psp"
    requires = ((SEG2FACE_WEIGHTS,),)

    def __init__(self, seg2face: Any, generator: Any, runtime: GanRuntime) -> None:
        """``seg2face``: ``encode(one_hot [1, 19, 256, 256]) -> W+``; ``generator``: StyleGAN2 with
        ``get_latent(z)`` and ``synthesis(w_plus, noise_mode=...)``."""
        self.seg2face, self.generator, self.runtime = seg2face, generator, runtime

    @classmethod
    def build(cls, runtime: GanRuntime) -> Editor | None:
        psp = runtime.load(SEG2FACE_WEIGHTS)
        generator = getattr(psp, "decoder", None)  # the published file embeds its StyleGAN2
        if generator is None:
            style = runtime.style_space()
            generator = style.generator if style is not None else None
        return cls(psp, generator, runtime) if generator is not None else None

    def fine_layer(self) -> int:
        """First replaced W+ layer: 8 of 18 (pSp), the same share of a smaller generator's layers."""
        n = int(self.generator.n_latent)
        return min(PSP_FINE_LAYER, max(1, n * PSP_FINE_LAYER // 18))

    def style_latent(self, seed: int) -> Any:
        """``mapping(z)`` of the seed's ``z`` (float64 on the CPU, then float32), as W ``[1, 512]``."""
        import torch

        g = torch.Generator().manual_seed(int(seed))
        z = torch.randn(1, self.generator.style_dim, generator=g, dtype=torch.float64).float()
        return self.runtime.run(self.generator.get_latent, z.to(self.runtime.torch_device)).float()

    def draw(self, labels: np.ndarray, seed: int, content: np.ndarray | None) -> np.ndarray:
        run = self.runtime
        codes = run.run(self.seg2face.encode, one_hot(TO_CELEBAMASK[labels], ENCODER_SIZE, run.torch_device)).float()
        codes = codes.clone()
        codes[:, self.fine_layer():] = self.style_latent(seed)[:, None, :]
        img = run.run(lambda w: self.generator.synthesis(w, noise_mode="const"), codes)
        return image_at(img, labels.shape[0])

