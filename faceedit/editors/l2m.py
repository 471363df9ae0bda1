"""L2M-GAN sliders (Yang et al., CVPR 2021): one slider per two-domain checkpoint (e.g. ``smiling (L2M)``).

The style encoder runs once per face (``s1, s2, s3`` and the high-pass masks cached in
``face.cache["gan"]["l2m"]``); a slider move runs only the L2M generator on ``s1 + s2 + alpha (s3 - s2)``,
and its image is blended over the face + hair region.  The photo is encoded in domain 0 (no attribute
classifier ships with the release); without the FAN the masks come from the face's mesh landmarks
(:func:`faceedit.l2m_masks.masks_from_landmarks`, an approximation of the authors' FAN masks).

In a chain after another editor (the latent-direction edit) the generator runs on that result with the
face's own codes; on the face's own crop the last image is cached per face and value, so moving only the
lite sliders chained after it runs no L2M generator.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import EditorOutput, FaceState, SliderEditor
from faceedit.editors.gan_runtime import GanRuntime
from faceedit.errors import InvalidArgumentError, NoFaceFoundError
from faceedit.imaging import from_tensor, to_tensor
from faceedit.models.l2m import L2MNets, StyleCodes, _check_image, edit_style, reference_style

#: Slider range of an L2M-GAN slider: +1 (from the photo's assumed domain 0) is the authors' published edit.
L2M_RANGE: tuple[float, float] = (-2.0, 2.0)
#: Suffix that marks an L2M-GAN slider's name (``smiling (L2M)``).
L2M_SUFFIX = " (L2M)"
#: The published two-domain checkpoint (CelebA-HQ smiling).
L2M_WEIGHTS = "l2m.celebahq"




def resize_square(img, size: int, *, bicubic: bool = False):
    """A square uint8 RGB image resized to ``size`` with PIL: bilinear is the official ``transforms.Resize``
    into the networks; bicubic brings their output back to the crop's side.  Unchanged when already that size."""
    from PIL import Image

    arr = np.asarray(img)
    if arr.shape[0] == size and arr.shape[1] == size:
        return arr
    return np.asarray(Image.fromarray(arr).resize((size, size), Image.BICUBIC if bicubic else Image.BILINEAR))


@dataclass(frozen=True)
class L2MState:
    """What :meth:`L2MEditor.encode` caches for one photo: its image, codes towards the other domain, masks."""

    x: torch.Tensor  # [1, 3, S, S] in [-1, 1]
    codes: StyleCodes  # E(x, source, target)
    masks: tuple[torch.Tensor, torch.Tensor] | None  # high-pass masks (FAN or the landmark approximation)
    source: int  # domain the photo is encoded in
    target: int  # the other domain


class L2MEditor:
    """Continuous L2M-GAN slider for a two-domain checkpoint (e.g. ``("not_smiling", "smiling")``).

    The slider value ``v`` moves the photo towards ``domains[1]`` (``v > 0``) or ``domains[0]`` (``v < 0``):
    with the photo encoded in its source domain and ``target`` the other one, ``alpha = v`` when
    ``target == 1`` and ``alpha = -v`` otherwise, and ``s_edit = s1 + s2 + alpha (s3 - s2)``.  ``v = 0`` is the
    reconstruction; ``v = +1`` from domain 0 (or ``-1`` from domain 1) is exactly the official edit.
    """

    def __init__(self, nets: L2MNets, domains: tuple[str, str] | None = None) -> None:
        domains = tuple(domains) if domains is not None else nets.domains
        if nets.style_encoder.num_domains != 2 or len(domains) != 2:
            raise InvalidArgumentError("the L2M slider needs a two-domain checkpoint and two domain names")
        self.nets = nets
        self.domains = tuple(domains)

    @property
    def name(self) -> str:
        """The slider's name: the positive domain, e.g. ``smiling``."""
        return self.domains[1]

    def _device(self) -> torch.device:
        return next(self.nets.generator.parameters()).device

    @torch.inference_mode()
    def encode(
        self,
        x: torch.Tensor,  # [1, 3, S, S] in [-1, 1]
        source: int = 0,  # the photo's domain (0 or 1)
        masks: tuple[torch.Tensor, torch.Tensor] | None = None,  # None: FAN masks when the checkpoint has a FAN
    ) -> L2MState:
        """Run the style encoder (and FAN) once; the result is all a slider move needs."""
        if source not in (0, 1):
            raise InvalidArgumentError(f"source domain must be 0 ({self.domains[0]}) or 1 ({self.domains[1]})")
        x = x.to(self._device(), torch.float32)
        _check_image(x, self.nets.generator.img_size, "L2M editor")
        if x.shape[0] != 1:
            raise InvalidArgumentError(f"the L2M editor encodes one photo at a time; got a batch of {x.shape[0]}")
        if masks is None:
            masks = self.nets.masks(x)
        elif self.nets.generator.w_hpf <= 0:
            masks = None
        y = torch.tensor([source], device=x.device)
        codes = self.nets.style_encoder.codes(x, y, 1 - y)
        return L2MState(x=x, codes=codes, masks=masks, source=source, target=1 - source)

    def alpha(self, state: L2MState, value: float) -> float:
        """The official ``degree`` for a slider value (positive = towards ``domains[1]``)."""
        return float(value) if state.target == 1 else -float(value)

    @torch.inference_mode()
    def render(self, state: L2MState, value: float) -> torch.Tensor:
        """The edited image [1, 3, S, S] (not clamped) for one slider value: runs only the generator."""
        s = edit_style(state.codes, self.alpha(state, value))
        return self.nets.generator(state.x, s, masks=state.masks)

    def encode_crop(self, crop, source: int = 0) -> L2MState:
        """Encode an aligned square uint8 RGB crop (any size): resized to the model's input as the official
        ``Resize`` (PIL bilinear), masks from FAN, else from face-mesh landmarks (approximation)."""
        arr = np.asarray(crop)
        if arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] != arr.shape[1] or arr.dtype != np.uint8:
            raise InvalidArgumentError(f"expected an aligned square uint8 RGB crop; got {arr.shape} {arr.dtype}")
        small = resize_square(arr, self.nets.generator.img_size)
        x = to_tensor(small)
        masks = None
        if self.nets.generator.w_hpf > 0 and self.nets.fan is None:
            from faceedit.l2m_masks import masks_for_image

            masks = masks_for_image(small)
            masks = (masks[0].to(self._device()), masks[1].to(self._device()))
        return self.encode(x, source=source, masks=masks)

    def render_crop(self, state: L2MState, value: float, size: int | None = None):
        """:meth:`render` as a uint8 RGB image, resized to ``size`` (e.g. the aligned crop's side)."""
        img = from_tensor(self.render(state, value))
        return img if size is None else resize_square(img, size, bicubic=True)

    @torch.inference_mode()
    def render_reference(self, state: L2MState, reference: L2MState) -> torch.Tensor:
        """Reference-guided edit: the photo's irrelevant code ``s1`` with the reference's relevant code ``s2``.

        Encode the reference in its own domain with the photo's domain as target, as the official code does.
        """
        return self.nets.generator(state.x, reference_style(state.codes, reference.codes), masks=state.masks)


class L2MSliders(SliderEditor):
    """The L2M-GAN slider of a two-domain checkpoint (see the module docstring)."""

    name = "L2M-GAN slider"
    operation = "attributes"
    engine = "gan"
    requires = ((L2M_WEIGHTS,),)
    title = "L2M-GAN"
    conditionable = False  # a model, not a latent direction
    slider_order = 1  # shown after the latent-direction (or lite) sliders

    def __init__(self, l2m: Any, runtime: GanRuntime | None = None) -> None:
        """``l2m``: an :class:`~faceedit.models.l2m.L2MEditor` or the :class:`~faceedit.models.l2m.L2MNets` it wraps."""
        if not hasattr(l2m, "encode_crop"):
            l2m = L2MEditor(l2m)
        self.l2m = l2m
        self.runtime = runtime or GanRuntime(device=next(l2m.nets.generator.parameters()).device)

    @classmethod
    def build(cls, runtime: GanRuntime) -> L2MSliders:
        # L2MNets is no nn.Module: the registry leaves it on the CPU
        return cls(runtime.load(L2M_WEIGHTS).to(runtime.torch_device), runtime)

    @property
    def device(self) -> str:
        return self.runtime.device

    @property
    def slider(self) -> str:
        """The slider's name: the positive domain, e.g. ``smiling (L2M)``."""
        return f"{self.l2m.name}{L2M_SUFFIX}"

    def names(self) -> list[str]:
        return [self.slider]

    def range(self, name: str) -> tuple[float, float]:
        """-2..2; 1 is the published edit."""
        return L2M_RANGE

    def groups(self) -> dict[str, str]:
        """The page shows model sliders in a group of their own."""
        return {self.slider: "L2M-GAN"}

    def refuse_conditions(self) -> None:
        raise InvalidArgumentError("An L2M-GAN slider is a model, not a latent direction: it cannot be "
                                   "conditioned or used as a condition.")

    def direction(self) -> Any:
        """The slider as a :class:`~faceedit.directions.Direction` of kind ``l2m`` (no vector: model-based)."""
        from faceedit.directions import Direction

        lo, hi = self.l2m.domains
        return Direction(self.slider, np.zeros((1, 1), np.float32), kind="l2m", source=L2M_WEIGHTS,
                         metadata={"domains": f"{lo} / {hi}", "model": "L2M-GAN (Yang et al., CVPR 2021)"})

    def prepare(self, face: FaceState) -> None:
        self.state(face)

    def state(self, face: FaceState) -> Any:
        """The face's cached L2M codes ``s1, s2, s3`` and high-pass masks (style encoder run once per face)."""
        cache = face.cache.setdefault("gan", {})
        if "l2m" not in cache:
            nets = self.l2m.nets
            small = resize_square(face.crop, nets.generator.img_size)  # the official Resize
            x = to_tensor(small)
            masks = None
            if nets.generator.w_hpf > 0 and nets.fan is None:
                masks = self._masks(face, small)
            cache["l2m"] = self.runtime.run(lambda: self.l2m.encode(x, source=0, masks=masks))
        return cache["l2m"]

    def _masks(self, face: FaceState, small: np.ndarray) -> Any:
        """High-pass masks from the face's landmarks (carried into crop space), else from a re-detection."""
        from faceedit.l2m_masks import masks_for_image, masks_from_landmarks

        size = small.shape[0]
        lm = np.asarray(face.landmarks, np.float64)
        try:
            if lm.shape[0] and np.abs(lm[:, :2]).sum() > 0:  # pixel centres scale about their half-pixel offset
                masks = masks_from_landmarks((lm[:, :2] + 0.5) * size / face.crop.shape[0] - 0.5, size)
            else:  # a generated face opened without landmarks
                masks = masks_for_image(small)
        except NoFaceFoundError:
            return None  # no face mesh: the generator runs without its high-pass skips
        dev = next(self.l2m.nets.generator.parameters()).device
        return masks[0].to(dev), masks[1].to(dev)

    def render(self, face: FaceState, value: float, crop: np.ndarray, preview: bool = False) -> np.ndarray:
        """One L2M generator pass on the face's cached codes, as a uint8 image of the crop's size.

        ``crop`` is the image fed to the generator: the face itself, or an earlier editor's result
        (the codes stay the face's own, nothing is re-encoded).  ``preview``: at the runtime's preview
        precision (bfloat16 on a CPU with native bfloat16, :func:`~faceedit.editors.gan_runtime.preview_dtype`).
        """
        state = self.state(face)
        x = state.x
        if crop is not face.crop:
            x = to_tensor(resize_square(crop, x.shape[-1])).to(x.device)
        s = edit_style(state.codes, self.l2m.alpha(state, value))
        run = self.runtime.run_preview if preview else self.runtime.run
        out = run(lambda: self.l2m.nets.generator(x, s, masks=state.masks))
        return resize_square(from_tensor(out[0]), face.crop.shape[0], bicubic=True)

    def edit_sliders(self, face: FaceState, values: dict[str, float], crop: np.ndarray | None,
                     region: np.ndarray | None, conditions: dict[str, list[str]] | None,
                     preview: bool) -> EditorOutput:
        """The L2M edit of ``crop`` blended over the face + hair region (``region`` when one is given); a
        preview is the same pass at the preview precision, not cached."""
        from faceedit.align import face_region

        value = values[self.slider]
        crop = face.crop if crop is None else crop
        reuse = crop is face.crop
        lo, hi = self.l2m.domains
        message = f"L2M-GAN {lo} / {hi} model (Yang et al. 2021)"
        cache = face.cache.setdefault("gan", {})
        hit = cache.get("l2m_last")
        if reuse and hit is not None and hit[0] == value:
            return EditorOutput(crop=hit[1], region=hit[2], message=message)
        edited = self.render(face, value, crop, preview=preview)
        if face.cache["gan"].get("generated"):
            out = (edited, region)
        else:
            region = face_region(face.labels) if region is None else region
            out = (tex.blend(crop, edited, region), region)
        if reuse and not preview:
            cache["l2m_last"] = (value, *out)
        return EditorOutput(crop=out[0], region=out[1], message=message)
