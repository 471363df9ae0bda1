"""What the GAN editors share: device and precision (chosen once), one lock, and StyleGAN2's W+ space.

A :class:`GanRuntime` belongs to one composer (one per process in the app): every forward pass of every
GAN editor runs under ``torch.inference_mode()`` behind its lock, so concurrent sessions are safe with
models shared read-only.  Latents stay fp32; the networks run in fp32 unless ``FACEEDIT_DTYPE=fp16|bf16``
opts into CUDA autocast (read once, when the runtime is made).

:class:`StyleSpace` is the StyleGAN2 generator with its encoder (e4e, or pSp with
``FACEEDIT_ENCODER=psp``): a face is inverted *once* (its W+ cached in ``face.cache["gan"]["w"]``), and
the InterfaceGAN sliders, seg-to-face, the re-encode swap and random faces all use the same one.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import FaceState, present
from faceedit.errors import InvalidArgumentError, WeightsMissingError

#: Side of the encoders' input (pSp / e4e take 256x256).
ENCODER_SIZE = 256
#: Pixels (at 512 px) around a changed region where a GAN redraw may show.
EDIT_MARGIN = 16
#: Samples averaged for the mean latent when the checkpoint has no ``latent_avg``.
MEAN_LATENT_SAMPLES = 4096
#: Inversion encoders in the registry, in order of preference (``FACEEDIT_ENCODER=psp`` puts pSp first).
ENCODERS: tuple[str, ...] = ("e4e.ffhq_encode", "psp.ffhq_encode")
#: The StyleGAN2 FFHQ generator on its own (pSp / e4e files embed it as their decoder).
GENERATOR = "stylegan2.ffhq"
#: Resolution of a slider preview while dragging: the generator's skip RGB at this level (``FACEEDIT_PREVIEW``);
#: its precision: :func:`preview_dtype`.
PREVIEW_RESOLUTION = int(os.environ.get("FACEEDIT_PREVIEW", "256"))


class GanRuntime:
    """Device, precision and lock of the GAN editors, plus the models they share (see the module docstring)."""

    def __init__(self, device: Any = None, dtype: str | None = None) -> None:
        import torch

        from faceedit.device import default_device

        self.torch_device = torch.device(device) if device is not None else default_device()
        self.dtype = (dtype or os.environ.get("FACEEDIT_DTYPE", "fp32")).strip().lower()
        if self.dtype not in ("fp32", "fp16", "bf16"):
            raise InvalidArgumentError(f"FACEEDIT_DTYPE must be fp32, fp16 or bf16; got {self.dtype!r}.")
        self.lock = threading.RLock()
        self._shared: dict[str, Any] = {}
        self.preview_dtype = preview_dtype(self.torch_device)

    @property
    def device(self) -> str:
        """The compute device in words."""
        if self.torch_device.type == "cuda":
            import torch

            return f"cuda ({torch.cuda.get_device_name(self.torch_device)})"
        return self.torch_device.type

    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self.torch_device.type == "cuda" and self.dtype != "fp32":
            return torch.autocast("cuda", dtype=torch.float16 if self.dtype == "fp16" else torch.bfloat16)
        return contextlib.nullcontext()

    def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` under the lock, ``inference_mode`` and the chosen precision."""
        import torch

        with self.lock, torch.inference_mode(), self._autocast():
            return fn(*args)

    def run_preview(self, fn: Any, *args: Any) -> Any:
        """:meth:`run` at the preview's precision (bfloat16 on a CPU with native bfloat16, see
        :func:`preview_dtype`); the result comes back in float32."""
        import torch

        if self.preview_dtype != "bf16" or self.torch_device.type != "cpu":
            return self.run(fn, *args)
        with self.lock, torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
            return fn(*args).float()

    def to_input(self, crop: np.ndarray, size: int = ENCODER_SIZE) -> Any:
        """An aligned crop as a ``[1, 3, size, size]`` tensor in [-1, 1] on the device."""
        from faceedit.imaging import to_tensor

        small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        return to_tensor(small).to(self.torch_device)

    def load(self, name: str) -> Any:
        """Registry model ``name`` (loaded once per process by :func:`faceedit.weights.load_model`)."""
        from faceedit import weights

        return weights.load_model(name)

    def style_space(self) -> StyleSpace | None:
        """The registry's generator and encoder (shared by this runtime's editors), None without a generator."""
        if "style" not in self._shared:
            order = list(ENCODERS)
            if os.environ.get("FACEEDIT_ENCODER") == "psp":
                order.reverse()
            encoder = next((self.load(n) for n in order if present(n)), None)
            generator = getattr(encoder, "decoder", None) if encoder is not None else None
            if generator is None and present(GENERATOR):
                generator = self.load(GENERATOR)
            self._shared["style"] = StyleSpace(self, generator, encoder) if generator is not None else None
        return self._shared["style"]

    def inverting_style_space(self) -> StyleSpace | None:
        """:meth:`style_space` when it can also invert photos (an encoder is installed), else None."""
        style = self.style_space()
        return style if style is not None and style.encoder is not None else None


class StyleSpace:
    """StyleGAN2's W+ with the inversion encoder: encode once per face, generate per edit."""

    def __init__(self, runtime: GanRuntime, generator: Any, encoder: Any = None) -> None:
        """``generator`` needs ``synthesis(w_plus, noise_mode="const")``; ``encoder`` ``encode(x) -> W+``."""
        self.runtime = runtime
        self.generator = generator
        self.encoder = encoder
        self._mean_w: Any = None

    def encode(self, crop: np.ndarray) -> Any:
        """Invert an aligned crop: W+ ``[1, L, 512]`` float32 on the runtime's device."""
        if self.encoder is None:
            raise WeightsMissingError("GAN inversion needs the e4e or pSp encoder weights (e4e.ffhq_encode).")
        w = self.runtime.run(self.encoder.encode, self.runtime.to_input(crop))
        assert w.ndim == 3, tuple(w.shape)
        return w.float()

    def generate(self, w_plus: Any, size: int) -> np.ndarray:
        """Generator image of ``w_plus`` as ``(size, size, 3) uint8``."""
        img = self.runtime.run(lambda w: self.generator.synthesis(w, noise_mode="const"), w_plus)
        return image_at(img, size)

    def preview(self, w_plus: Any, size: int, resolution: int = 256) -> np.ndarray:
        """A quick ``(size, size, 3) uint8`` image of ``w_plus``: the generator's own RGB at ``resolution``
        (a prefix of the full pass, :meth:`~faceedit.models.stylegan2.Generator.synthesis_to`), scaled up."""
        full = getattr(self.generator, "size", 0)
        if not hasattr(self.generator, "synthesis_to") or resolution >= full:
            return self.generate(w_plus, size)
        img = self.runtime.run_preview(lambda w: self.generator.synthesis_to(w, resolution, noise_mode="const"),
                                       w_plus)
        return image_at(img, size)

    def latent(self, face: FaceState) -> Any:
        """The face's cached W+ (inverted on first use, once per face, even from several threads: the check
        and the inversion hold the runtime's lock, which every forward pass takes anyway)."""
        with self.runtime.lock:
            cache = face.cache.setdefault("gan", {})
            if "w" not in cache:
                cache["w"] = self.encode(face.crop)
            return cache["w"]

    def mean_latent(self) -> Any:
        """W's mean ``[1, 512]``: the checkpoint's ``latent_avg`` when present, else averaged once and cached."""
        import torch

        if self._mean_w is None:
            avg = getattr(self.encoder, "latent_avg", None) if self.encoder is not None else None
            if not isinstance(avg, torch.Tensor):  # a StyleGAN2 checkpoint may carry its own
                avg = getattr(self.generator, "latent_avg", None)
            if isinstance(avg, torch.Tensor):
                mean = avg.detach().float().reshape(-1, avg.shape[-1])[:1]
            else:
                g = torch.Generator().manual_seed(0)  # a fixed draw: the same mean on every machine
                mean = self.runtime.run(lambda: self.generator.mean_latent(MEAN_LATENT_SAMPLES, generator=g))
            self._mean_w = mean.float().to(self.runtime.torch_device)
        return self._mean_w


class OnStyleSpace:
    """For editors that run the process's StyleGAN2 (and its encoder) through ``self.style``: the device they
    report is the runtime's.  List it before :class:`~faceedit.editors.base.Editor` in the bases."""

    style: StyleSpace

    @property
    def device(self) -> str:
        """Where the generator computes, in words."""
        return self.style.runtime.device


def preview_dtype(device: Any) -> str:
    """Precision of slider previews: ``FACEEDIT_PREVIEW_DTYPE`` (``fp32`` | ``bf16``), or by default bf16 on a
    CPU whose oneDNN has native bfloat16 (AVX512-BF16 / AMX: about 2.5x faster, ~2 grey levels mean error) and
    the runtime's own precision elsewhere.  Full renders never use it."""
    value = os.environ.get("FACEEDIT_PREVIEW_DTYPE", "auto").strip().lower()
    if value not in ("auto", "fp32", "bf16"):
        raise InvalidArgumentError(f"FACEEDIT_PREVIEW_DTYPE must be auto, fp32 or bf16; got {value!r}.")
    if value != "auto":
        return value
    import torch

    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return "bf16" if getattr(device, "type", str(device)) == "cpu" and native else "fp32"


def image_at(img: Any, side: int) -> np.ndarray:
    """A network's ``[1, 3, S, S]`` image in [-1, 1] as ``(side, side, 3) uint8`` (area when shrinking)."""
    from faceedit.imaging import from_tensor

    out = from_tensor(img)
    if out.shape[0] == side:
        return out
    interp = cv2.INTER_AREA if out.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(out, (side, side), interpolation=interp)


def changed_region(changed: np.ndarray, size: int) -> np.ndarray:
    """Feathered region: the changed pixels plus ``EDIT_MARGIN``, exactly 1 on the change, 0 far away."""
    margin = max(2, round(EDIT_MARGIN * size / 512))
    grown = tex.dilate(changed, margin)
    return np.maximum(tex.feather(grown, margin / 2) * tex.dilate(changed, 2 * margin), grown.astype(np.float32))
