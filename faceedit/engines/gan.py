"""The GAN engine: inversion into StyleGAN2 W+, latent directions, mask-guided and seg-to-face redraws.

Per face (a :class:`~faceedit.engines.base.FaceState`) the aligned crop is inverted
*once* with the e4e encoder (pSp with ``FACEEDIT_ENCODER=psp``) and its W+ cached
in ``face.cache["gan"]``; a slider move then runs only the generator on
``W+ + sum_k alpha_k n_k`` (:meth:`DirectionLibrary.apply`), and the generated face
is blended into the crop over the feathered face + hair region.

* Mask edit: Gu et al.'s mask-guided generator when its weights exist; otherwise
  pSp segmentation-to-face from the painted map with the photo's fine-layer styles
  (W+ layers ``FINE_LAYERS`` onward) mixed in to keep colours and texture.  Either
  way the result shows only over the changed region plus a margin.
* L2M-GAN sliders (Yang et al. 2021), when ``l2m.celebahq`` is present: one slider per
  two-domain checkpoint (e.g. ``smiling (L2M)``), beside the InterfaceGAN ones.  The style
  encoder runs once per face (``s1, s2, s3`` and the high-pass masks cached in
  ``face.cache["gan"]["l2m"]``); a slider move runs only the L2M generator on
  ``s1 + s2 + alpha (s3 - s2)``, and its image is blended over the face + hair region.
* Without W+ sliders (no encoder / direction files, e.g. the L2M checkpoint alone) the engine
  offers the lite engine's sliders (smile, age, pose, pitch) beside the L2M one, so the user
  keeps them.  Order when both move: the L2M generator on the aligned crop first (the input its
  codes and masks were computed on), then the lite warp on its output (so a pose turn moves the
  L2M-edited face as a whole).  The last L2M image is cached per face, so moving a lite slider
  runs no L2M generator; a lite-only result is reported as the lite engine's.
* Mask edit and swap with the mask-guided generator use its cached app path: the face's
  component and background features are prepared once per face
  (``face.cache["gan"]["mask_guided"]``), so an edit runs one (incremental) ``G`` pass.
* Swap: the mask-guided generator when available (the chosen components' features
  from the reference); otherwise the reference components are composited onto the
  target (the lite engine's placement and blending), the composite is re-encoded
  (projected onto the GAN manifold), regenerated and blended over the components.

Models are loaded once per process (the weights registry caches them), frozen,
shared read-only by all sessions; every forward pass runs under
``torch.inference_mode()`` behind one lock, so concurrent sessions are safe.  The
device is chosen once (:func:`faceedit.device.default_device`); latents stay fp32,
and the networks run in fp32 unless ``FACEEDIT_DTYPE=fp16|bf16`` opts into CUDA autocast.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.engines.base import EngineOutput, FaceState
from faceedit.errors import InvalidArgumentError, NoFaceFoundError, UnsupportedEditError, WeightsMissingError
from faceedit.helen import to_helen
from faceedit.labels import COMPONENTS, NUM_CLASSES, TO_CELEBAMASK, check_label_map, component_indices

#: Slider range offered for every direction.
ATTRIBUTE_RANGE: tuple[float, float] = (-3.0, 3.0)
#: Slider range of an L2M-GAN slider: +1 (from the photo's assumed domain 0) is the authors' published edit.
L2M_RANGE: tuple[float, float] = (-2.0, 2.0)
#: Suffix that marks an L2M-GAN slider's name (``smiling (L2M)``).
L2M_SUFFIX = " (L2M)"
#: Side of the mask-guided generator's input (Gu et al. work at 256x256).
MASK_GUIDED_SIZE = 256
#: Side of the encoders' input (pSp / e4e take 256x256).
ENCODER_SIZE = 256
#: First W+ layer counted as "fine" (colour, texture) when mixing seg-to-face styles (pSp's latent mask 8..17).
FINE_LAYERS = 8
#: Pixels (at 512 px) around a changed region where a GAN redraw may show.
EDIT_MARGIN = 16

#: StyleGAN's style-mixing layer groups (Karras et al. 2019, Sec. 3.1): coarse 4-8 px, middle 16-32 px, fine 64 px+.
MIX_LAYERS: dict[str, tuple[int, int]] = {"coarse": (0, 4), "middle": (4, 8), "fine": (8, 10_000)}
#: Samples averaged for the mean latent when the checkpoint has no ``latent_avg``.
MEAN_LATENT_SAMPLES = 4096

#: Our swap components -> the mask-guided generator's component features.
MASK_GUIDED_PARTS: dict[str, tuple[str, ...]] = {"eyes": ("left_eye", "right_eye"), "mouth": ("mouth",),
                                                  "hair": ("hair",), "skin": ("skin",)}


class GanEngine:
    """Editing with published GAN weights (see the module docstring)."""

    name = "gan"

    def __init__(self, *, generator: Any = None, encoder: Any = None, directions: Any = None,
                 seg2face: Any = None, mask_guided: Any = None, parser: Any = None, l2m: Any = None,
                 device: Any = None) -> None:
        """Wire already-loaded models (``from_registry`` loads the published ones).

        ``generator`` needs ``synthesis(w_plus, noise_mode="const")``; ``encoder`` and
        ``seg2face`` need ``encode(x) -> W+ [N, L, 512]`` (latent average included);
        ``directions`` is a :class:`faceedit.directions.DirectionLibrary`; ``mask_guided`` a
        :class:`faceedit.models.mask_guided.MaskGuidedEditor`; ``l2m`` an
        :class:`faceedit.models.l2m.L2MEditor` (or the :class:`~faceedit.models.l2m.L2MNets` it wraps).
        """
        import torch

        from faceedit.device import default_device

        self.generator = generator
        self.encoder = encoder
        self.directions = directions
        self.seg2face = seg2face
        self.mask_guided = mask_guided
        self.parser = parser
        if l2m is not None and not hasattr(l2m, "encode_crop"):  # L2MNets: wrap in the slider editor
            from faceedit.models.l2m import L2MEditor

            l2m = L2MEditor(l2m)
        self.l2m = l2m
        self._device = torch.device(device) if device is not None else default_device()
        self._lock = threading.Lock()
        self._mean_w: Any = None
        # Network precision, chosen once: fp32 unless FACEEDIT_DTYPE=fp16|bf16 asks for autocast on CUDA
        # (not yet checked against fp32 on real weights; latents and blending always stay fp32).
        self.dtype = os.environ.get("FACEEDIT_DTYPE", "fp32").strip().lower()
        if self.dtype not in ("fp32", "fp16", "bf16"):
            raise InvalidArgumentError(f"FACEEDIT_DTYPE must be fp32, fp16 or bf16; got {self.dtype!r}.")

    @classmethod
    def from_registry(cls) -> GanEngine:
        """The engine with every published model the weights registry has locally."""
        from faceedit import weights
        from faceedit.directions import DirectionLibrary

        def present(name: str) -> bool:
            return name in weights.registry() and weights.local_path(name) is not None

        caps = weights.capabilities()
        encoder = generator = seg2face = mask_guided = parser = None
        order = ["psp.ffhq_encode", "e4e.ffhq_encode"] if os.environ.get("FACEEDIT_ENCODER") == "psp" \
            else ["e4e.ffhq_encode", "psp.ffhq_encode"]
        for name in order:
            if present(name):
                encoder = weights.load_model(name)
                break
        if encoder is not None:
            generator = getattr(encoder, "decoder", None)
        if generator is None and present("stylegan2.ffhq"):
            generator = weights.load_model("stylegan2.ffhq")
        if present("psp.celebs_seg_to_face"):
            seg2face = weights.load_model("psp.celebs_seg_to_face")
        if present("gu2019.mask_guided"):
            mask_guided = weights.load_model("gu2019.mask_guided")
        l2m = None
        if present("l2m.celebahq"):  # L2MNets is no nn.Module: the registry leaves it on the CPU
            from faceedit.device import default_device

            l2m = weights.load_model("l2m.celebahq").to(default_device())
        if caps.get("parse"):
            from faceedit.parsing.bisenet import BiSeNetParser

            parser = BiSeNetParser()
        directions = DirectionLibrary.from_registry() if encoder is not None else None
        return cls(generator=generator, encoder=encoder, directions=directions, seg2face=seg2face,
                   mask_guided=mask_guided, parser=parser, l2m=l2m)

    # ------------------------------------------------------------------ description
    @property
    def device(self) -> str:
        """The compute device in words."""
        if self._device.type == "cuda":
            import torch

            return f"cuda ({torch.cuda.get_device_name(self._device)})"
        return self._device.type

    def _vector_names(self) -> list[str]:
        """Sliders moved in W+ (InterfaceGAN, GANSpace, user directions); they need the encoder's latent."""
        from faceedit.directions import VECTOR_KINDS

        return list(self.directions.names(VECTOR_KINDS)) if self.directions is not None else []

    @property
    def l2m_name(self) -> str | None:
        """The L2M-GAN slider's name (the positive domain, e.g. ``smiling (L2M)``), None without L2M."""
        return f"{self.l2m.name}{L2M_SUFFIX}" if self.l2m is not None else None

    def l2m_direction(self) -> Any:
        """The L2M slider as a :class:`~faceedit.directions.Direction` of kind ``l2m`` (no vector: model-based)."""
        from faceedit.directions import Direction

        if self.l2m is None:
            return None
        lo, hi = self.l2m.domains
        return Direction(self.l2m_name, np.zeros((1, 1), np.float32), kind="l2m", source="l2m.celebahq",
                         metadata={"domains": f"{lo} / {hi}", "model": "L2M-GAN (Yang et al., CVPR 2021)"})

    def _lite_names(self) -> list[str]:
        """The lite engine's sliders, offered (and run by the lite engine) when there are no W+ sliders."""
        from faceedit.editors.lite_ops import ATTRIBUTES

        return [] if self._vector_names() else list(ATTRIBUTES)

    def attribute_names(self) -> list[str]:
        """The slider names: the latent directions (else the lite engine's), then the L2M-GAN slider."""
        names = self._vector_names() or self._lite_names()
        return names + ([self.l2m_name] if self.l2m is not None else [])

    def attribute_range(self, name: str) -> tuple[float, float]:
        """Latent directions span -3..3 direction units; an L2M slider -2..2 (1 = the published edit)."""
        if name in self._lite_names():
            from faceedit.engines.base import get_engine

            return get_engine("lite").attribute_range(name)
        return L2M_RANGE if name == self.l2m_name else ATTRIBUTE_RANGE

    def check_values(self, values: dict[str, float]) -> dict[str, float]:
        """Validate slider names and ranges."""
        names = self.attribute_names()
        out: dict[str, float] = {}
        for key, value in values.items():
            if key not in names:
                raise InvalidArgumentError(f"No direction {key!r}; available: {', '.join(names) or 'none'}.")
            lo, hi = self.attribute_range(key)
            v = float(value)
            if not np.isfinite(v) or not lo <= v <= hi:
                raise InvalidArgumentError(f"Slider {key!r} must lie in {lo:g}..{hi:g}; got {value!r}.")
            out[key] = v
        return out

    def parse(self, crop: np.ndarray) -> np.ndarray:
        """BiSeNet labels when its weights are present, else the offline landmark parser."""
        if self.parser is not None:
            with self._lock:
                return check_label_map(self.parser.parse(crop))
        from faceedit.parsing.landmark import LandmarkParser

        return LandmarkParser().parse(crop)

    # ------------------------------------------------------------------ networks
    def _autocast(self) -> contextlib.AbstractContextManager:
        import torch

        if self._device.type == "cuda" and self.dtype != "fp32":
            return torch.autocast("cuda", dtype=torch.float16 if self.dtype == "fp16" else torch.bfloat16)
        return contextlib.nullcontext()

    def _run(self, fn: Any, *args: Any) -> Any:
        import torch

        with self._lock, torch.inference_mode(), self._autocast():
            return fn(*args)

    def _to_input(self, crop: np.ndarray, size: int = ENCODER_SIZE) -> Any:
        from faceedit.imaging import to_tensor

        small = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        return to_tensor(small).to(self._device)

    def encode(self, crop: np.ndarray) -> Any:
        """Invert an aligned crop: W+ ``[1, L, 512]`` float32 on the engine's device."""
        if self.encoder is None:
            raise WeightsMissingError("GAN inversion needs the e4e or pSp encoder weights (e4e.ffhq_encode).")
        w = self._run(self.encoder.encode, self._to_input(crop))
        assert w.ndim == 3, tuple(w.shape)
        return w.float()

    def generate(self, w_plus: Any, size: int) -> np.ndarray:
        """Generator image of ``w_plus`` as ``(size, size, 3) uint8``."""
        if self.generator is None:
            raise WeightsMissingError("The GAN engine needs the StyleGAN2 generator weights (stylegan2.ffhq).")
        img = self._run(lambda w: self.generator.synthesis(w, noise_mode="const"), w_plus)
        return _image_at(img, size)

    # ------------------------------------------------------------------ random faces
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
                mean = self._run(lambda: self.generator.mean_latent(MEAN_LATENT_SAMPLES, generator=g))
            self._mean_w = mean.float().to(self._device)
        return self._mean_w

    def sample(self, seed: int, truncation: float = 0.7) -> Any:
        """W+ ``[1, L, 512]`` of a random face: ``w = w_avg + psi (mapping(z) - w_avg)``, z from ``seed``.

        z is drawn in float64 on the CPU from a generator seeded with ``seed`` and then
        cast, so a seed gives the same face on any machine and device.
        """
        import torch

        if self.generator is None:
            raise WeightsMissingError(
                "Random faces need the StyleGAN2 generator weights: run `python -m faceedit weights fetch "
                "stylegan2.ffhq`."
            )
        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise InvalidArgumentError(f"The seed must be a whole number from 0 to 2**63-1; got {seed}.")
        psi = float(truncation)
        if not np.isfinite(psi) or not 0.0 <= psi <= 1.0:
            raise InvalidArgumentError(f"Truncation psi must lie in 0..1; got {truncation!r}.")
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn(1, self.generator.style_dim, generator=gen, dtype=torch.float64).float().to(self._device)
        w = self._run(self.generator.get_latent, z).float()
        mean = self.mean_latent()
        w = mean + psi * (w - mean)
        return w[:, None, :].expand(1, self.generator.n_latent, w.shape[-1]).clone()

    def mix(self, w_plus: Any, other: Any, layers: str) -> Any:
        """``w_plus`` with the ``coarse`` / ``middle`` / ``fine`` layers taken from ``other`` (style mixing)."""
        if layers not in MIX_LAYERS:
            raise InvalidArgumentError(f"Style mixing layers must be one of: {', '.join(MIX_LAYERS)}; got {layers!r}.")
        start, stop = MIX_LAYERS[layers]
        stop = min(stop, w_plus.shape[1])
        if start >= stop:
            raise InvalidArgumentError(f"This generator has only {w_plus.shape[1]} style layers: no {layers} layers.")
        out = w_plus.clone()
        out[:, start:stop] = other[:, start:stop]
        return out

    def latent(self, face: FaceState) -> Any:
        """The face's cached W+ (inverted on first use, once per face)."""
        cache = face.cache.setdefault("gan", {})
        if "w" not in cache:
            cache["w"] = self.encode(face.crop)
        return cache["w"]

    def prepare(self, face: FaceState) -> None:
        """Invert the face now (once), and encode it for L2M, so that slider moves only run a generator."""
        if self.encoder is not None:
            self.latent(face)
        if self.l2m is not None:
            self.l2m_state(face)

    def l2m_state(self, face: FaceState) -> Any:
        """The face's cached L2M codes ``s1, s2, s3`` and high-pass masks (style encoder run once per face).

        The photo is encoded in domain 0 (the checkpoint's first domain, e.g. not smiling): no attribute
        classifier ships with the release, so the photo's own domain is not known.  Without the FAN the
        masks come from the face's mesh landmarks (:func:`faceedit.l2m_masks.masks_from_landmarks`,
        an approximation of the authors' FAN masks).
        """
        cache = face.cache.setdefault("gan", {})
        if "l2m" not in cache:
            from faceedit.imaging import to_tensor
            from faceedit.models.l2m import resize_square

            nets = self.l2m.nets
            small = resize_square(face.crop, nets.generator.img_size)  # the official Resize
            x = to_tensor(small)
            masks = None
            if nets.generator.w_hpf > 0 and nets.fan is None:
                masks = self._l2m_masks(face, small)
            cache["l2m"] = self._run(lambda: self.l2m.encode(x, source=0, masks=masks))
        return cache["l2m"]

    def _l2m_masks(self, face: FaceState, small: np.ndarray) -> Any:
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

    # ------------------------------------------------------------------ operations
    def attributes(self, face: FaceState, values: dict[str, float],
                   conditions: dict[str, tuple[str, ...]] | None = None) -> EngineOutput:
        """Generator on cached W+ moved along the directions, blended over the face + hair.

        ``conditions`` maps a slider to directions it must not change (InterfaceGAN's
        conditional manipulation, :meth:`DirectionLibrary.conditioned`).  A non-zero L2M
        slider then runs the L2M generator once on that result with the face's cached codes.
        Lite sliders (offered without W+ sliders) run last, on that result, by the lite engine.
        """
        from faceedit.align import face_region

        v = self.check_values(values)
        if all(x == 0 for x in v.values()):
            return EngineOutput(crop=face.crop.copy())
        lite_v = {k: v.pop(k) for k in self._lite_names() if k in v}
        conds = {k: list(c) for k, c in (conditions or {}).items() if c}
        for k, c in conds.items():
            self.check_values({k: 0.0, **dict.fromkeys(c, 0.0)})  # names must be known
            if self.l2m_name in (k, *c):
                raise InvalidArgumentError("An L2M-GAN slider is a model, not a latent direction: it cannot be "
                                           "conditioned or used as a condition.")
            if set(self._lite_names()) & {k, *c}:
                raise UnsupportedEditError("Conditional editing (e.g. smile while keeping age) works on GAN latent "
                                           "directions; the lite engine's sliders take no conditions.")
        l2m_value = v.pop(self.l2m_name, 0.0) if self.l2m is not None else 0.0
        generated_face = bool(face.cache.get("gan", {}).get("generated"))
        crop, region, notes = face.crop, None, []
        if any(x != 0 for x in v.values()):
            w = self.directions.apply(self.latent(face), v, conditions=conds or None)
            generated = self.generate(w, face.crop.shape[0])
            if generated_face:
                crop = generated  # a generated face: the generator's image is the result
            else:
                region = face_region(face.labels)
                crop = tex.blend(face.crop, generated, region)
            notes.append("StyleGAN2 latent directions")
        if l2m_value != 0:
            crop, region = self._l2m_blend(face, l2m_value, crop, region, generated_face, reuse=not notes)
            lo, hi = self.l2m.domains
            notes.append(f"L2M-GAN {lo} / {hi} model (Yang et al. 2021)")
        if any(x != 0 for x in lite_v.values()):
            return self._lite_on_top(face, crop, lite_v, conds, notes)
        return EngineOutput(crop=crop, region=region, message="; ".join(notes))

    def _l2m_blend(self, face: FaceState, value: float, crop: np.ndarray, region: np.ndarray | None,
                   generated_face: bool, reuse: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """The L2M edit of ``crop`` blended over the face + hair region.

        With ``reuse`` (the L2M generator runs on the face's own crop) the last result is cached
        per face and value, so moving only lite sliders does not rerun the L2M generator.
        """
        from faceedit.align import face_region

        cache = face.cache.setdefault("gan", {})
        hit = cache.get("l2m_last")
        if reuse and hit is not None and hit[0] == value:
            return hit[1], hit[2]
        edited = self._l2m_render(face, value, crop)
        if generated_face:
            out = (edited, region)
        else:
            region = face_region(face.labels) if region is None else region
            out = (tex.blend(crop, edited, region), region)
        if reuse:
            cache["l2m_last"] = (value, *out)
        return out

    def _lite_on_top(self, face: FaceState, crop: np.ndarray, values: dict[str, float],
                     conds: dict[str, list[str]], notes: list[str]) -> EngineOutput:
        """The lite engine's sliders applied to ``crop`` (the face, or its L2M edit) with the face's mesh."""
        from faceedit.engines.base import get_engine

        lite = get_engine("lite")
        on = FaceState(crop=np.ascontiguousarray(crop), labels=face.labels, landmarks=face.landmarks)
        out = lite.attributes(on, values, conditions={k: tuple(c) for k, c in conds.items()} or None)
        moved = ", ".join(k for k, x in values.items() if x != 0)
        lite_note = f"lite engine {moved} (classical warp" + (", after L2M-GAN)" if notes else ")")
        message = "; ".join([*notes, lite_note, *([out.message] if out.message else [])])
        # region None: the session pastes wherever the crop changed (a pose turn may move pixels off the face)
        return EngineOutput(crop=out.crop, message=message, engine="gan+lite" if notes else "lite")

    def _l2m_render(self, face: FaceState, value: float, crop: np.ndarray) -> np.ndarray:
        """One L2M generator pass on the face's cached codes, as a uint8 image of the crop's size.

        ``crop`` is the image fed to the generator: the face itself, or the latent-direction edit
        of it when both kinds of sliders are set (the codes stay the face's own, nothing is re-encoded).
        """
        from faceedit.imaging import from_tensor, to_tensor
        from faceedit.models.l2m import edit_style, resize_square

        state = self.l2m_state(face)
        x = state.x
        if crop is not face.crop:
            x = to_tensor(resize_square(crop, x.shape[-1])).to(x.device)
        s = edit_style(state.codes, self.l2m.alpha(state, value))
        out = self._run(lambda: self.l2m.nets.generator(x, s, masks=state.masks))
        return resize_square(from_tensor(out[0]), face.crop.shape[0], bicubic=True)

    def edit_mask(self, face: FaceState, new_labels: np.ndarray) -> EngineOutput:
        """Redraw with the mask-guided generator, else pSp seg-to-face with the photo's fine styles."""
        new = check_label_map(new_labels)
        if new.shape != face.labels.shape:
            raise InvalidArgumentError(
                f"The painted label map is {new.shape[1]}x{new.shape[0]}; it must match the aligned crop "
                f"({face.labels.shape[1]}x{face.labels.shape[0]})."
            )
        changed = new != face.labels
        if not changed.any():
            return EngineOutput(crop=face.crop.copy(), labels=new.copy())
        size = face.crop.shape[0]
        if self.mask_guided is not None:
            generated = self._mask_guided(face, new)
            how = "mask-guided generator (Gu et al. 2019)"
        elif self.seg2face is not None:
            onehot = _one_hot(TO_CELEBAMASK[new], ENCODER_SIZE, self._device)
            w_seg = self._run(self.seg2face.encode, onehot).float()
            w = self.latent(face)
            mixed = w_seg.clone()
            mixed[:, FINE_LAYERS:] = w[:, FINE_LAYERS:]
            generated = self.generate(mixed, size)
            how = "pSp segmentation-to-face with the photo's fine styles"
        else:
            raise UnsupportedEditError(
                "Mask editing with the GAN engine needs the mask-guided generator (gu2019.mask_guided) or pSp "
                "segmentation-to-face (psp.celebs_seg_to_face) weights; the lite engine can do it without."
            )
        region = _changed_region(changed, size)
        return EngineOutput(crop=tex.blend(face.crop, generated, region), labels=new.copy(), region=region,
                            message=f"redrawn by the {how}")

    def swap(self, face: FaceState, reference: FaceState, components: tuple[str, ...]) -> EngineOutput:
        """Swap with the mask-guided generator, else composite + re-encode + regenerate."""
        from faceedit.editors.lite_ops import swap_components

        if not components:
            raise InvalidArgumentError(f"Choose at least one component to swap: {', '.join(COMPONENTS)}.")
        comps = tuple(c.strip().lower() for c in components)
        members = component_indices(list(comps))  # validates the names before any work
        size = face.crop.shape[0]
        cache = None
        if self.mask_guided is not None and all(c in MASK_GUIDED_PARTS for c in comps):
            generated = self._mask_guided_swap(face, reference, comps)
            labels = face.labels.copy()
            how = "mask-guided generator (Gu et al. 2019)"
        else:
            composite, labels, _notes = swap_components(face, reference, comps)
            w = self.encode(composite)  # projection of the composite onto the GAN manifold
            generated = self.generate(w, size)
            cache = {"gan": {"w": w}}  # the regenerated face is what this W+ shows (close enough to reuse)
            how = "re-encoded composite"
        touched = np.isin(face.labels, members) | np.isin(labels, members)
        region = _changed_region(touched, size)
        return EngineOutput(crop=tex.blend(face.crop, generated, region), labels=labels, region=region,
                            message=f"swapped by the {how}", cache=cache)

    # ------------------------------------------------------------------ mask-guided generator
    @staticmethod
    def _helen_inputs(crop: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The generator's 256x256 image and Helen 11-class map (eyes and brows by image side)."""
        s = MASK_GUIDED_SIZE
        return (cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA),
                cv2.resize(to_helen(labels), (s, s), interpolation=cv2.INTER_NEAREST))

    def mask_guided_face(self, face: FaceState) -> Any:
        """The face's prepared mask-guided state (component and background features), computed once per face."""
        cache = face.cache.setdefault("gan", {})
        if "mask_guided" not in cache:
            cache["mask_guided"] = self._run(self.mask_guided.prepare, *self._helen_inputs(face.crop, face.labels))
        return cache["mask_guided"]

    def _mask_guided(self, face: FaceState, new: np.ndarray) -> np.ndarray:
        """The official edit (the face's components placed by the painted map, its own background), one G pass."""
        prepared = self.mask_guided_face(face)
        target = self._helen_inputs(face.crop, new)[1]
        return _image_at(self._run(self.mask_guided.generate, prepared, target), face.crop.shape[0])

    def _mask_guided_swap(self, face: FaceState, ref: FaceState, comps: tuple[str, ...]) -> np.ndarray:
        """Official encode -> swap -> generate: the chosen parts' features from ``ref``, the rest and the
        background from the face's cached state, placed by the face's own map."""
        from faceedit.models.mask_guided import PreparedFace

        prepared = self.mask_guided_face(face)
        target = self._helen_inputs(face.crop, face.labels)[1]
        ref_feats = self._run(self.mask_guided.encode, *self._helen_inputs(ref.crop, ref.labels))
        feats = dict(prepared.features)
        for c in comps:
            for part in MASK_GUIDED_PARTS[c]:
                feats[part] = ref_feats[part]
        mixed = self._run(lambda: PreparedFace(feats, prepared.background,
                                               self.mask_guided.G.project_components(feats)))
        return _image_at(self._run(self.mask_guided.generate, mixed, target), face.crop.shape[0])


def _image_at(img: Any, side: int) -> np.ndarray:
    """A network's ``[1, 3, S, S]`` image in [-1, 1] as ``(side, side, 3) uint8`` (area when shrinking)."""
    from faceedit.imaging import from_tensor

    out = from_tensor(img)
    if out.shape[0] == side:
        return out
    interp = cv2.INTER_AREA if out.shape[0] > side else cv2.INTER_LINEAR
    return cv2.resize(out, (side, side), interpolation=interp)


def _one_hot(labels: np.ndarray, size: int, device: Any) -> Any:
    """``[1, 19, size, size]`` float32 one-hot of a label map (nearest resize)."""
    import torch

    small = cv2.resize(labels.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    idx = torch.from_numpy(small.astype(np.int64))
    return torch.nn.functional.one_hot(idx, NUM_CLASSES).permute(2, 0, 1)[None].float().to(device)


def _changed_region(changed: np.ndarray, size: int) -> np.ndarray:
    """Feathered region: the changed pixels plus ``EDIT_MARGIN``, exactly 1 on the change, 0 far away."""
    margin = max(2, round(EDIT_MARGIN * size / 512))
    grown = tex.dilate(changed, margin)
    return np.maximum(tex.feather(grown, margin / 2) * tex.dilate(changed, 2 * margin), grown.astype(np.float32))
