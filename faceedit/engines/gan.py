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

from faceedit.engines import lite_texture as tex
from faceedit.engines.base import EngineOutput, FaceState
from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.labels import COMPONENTS, INDEX, NUM_CLASSES, TO_CELEBAMASK, check_label_map, component_indices

#: Slider range offered for every direction.
ATTRIBUTE_RANGE: tuple[float, float] = (-3.0, 3.0)
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

#: Canonical 19 classes -> Helen 11 (Gu et al.; "left" is *image* left there, the person's right here).
TO_HELEN: np.ndarray = np.zeros(NUM_CLASSES, np.uint8)
for _name, _helen in {"skin": 1, "r_brow": 2, "l_brow": 3, "r_eye": 4, "l_eye": 5, "eye_g": 1, "l_ear": 1,
                      "r_ear": 1, "nose": 6, "u_lip": 7, "mouth": 8, "l_lip": 9, "hair": 10}.items():
    TO_HELEN[INDEX[_name]] = _helen
#: Our swap components -> the mask-guided generator's component features.
MASK_GUIDED_PARTS: dict[str, tuple[str, ...]] = {"eyes": ("left_eye", "right_eye"), "mouth": ("mouth",),
                                                  "hair": ("hair",), "skin": ("skin",)}


class GanEngine:
    """Editing with published GAN weights (see the module docstring)."""

    name = "gan"

    def __init__(self, *, generator: Any = None, encoder: Any = None, directions: Any = None,
                 seg2face: Any = None, mask_guided: Any = None, parser: Any = None,
                 device: Any = None) -> None:
        """Wire already-loaded models (``from_registry`` loads the published ones).

        ``generator`` needs ``synthesis(w_plus, noise_mode="const")``; ``encoder`` and
        ``seg2face`` need ``encode(x) -> W+ [N, L, 512]`` (latent average included);
        ``directions`` is a :class:`faceedit.directions.DirectionLibrary`.
        """
        import torch

        from faceedit.device import default_device

        self.generator = generator
        self.encoder = encoder
        self.directions = directions
        self.seg2face = seg2face
        self.mask_guided = mask_guided
        self.parser = parser
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
        if caps.get("parse"):
            from faceedit.parsing.bisenet import BiSeNetParser

            parser = BiSeNetParser()
        directions = DirectionLibrary.from_registry() if encoder is not None else None
        return cls(generator=generator, encoder=encoder, directions=directions, seg2face=seg2face,
                   mask_guided=mask_guided, parser=parser)

    # ------------------------------------------------------------------ description
    @property
    def device(self) -> str:
        """The compute device in words."""
        if self._device.type == "cuda":
            import torch

            return f"cuda ({torch.cuda.get_device_name(self._device)})"
        return self._device.type

    def attribute_names(self) -> list[str]:
        """The directions the library holds (slider names)."""
        return list(self.directions.names()) if self.directions is not None else []

    def attribute_range(self, name: str) -> tuple[float, float]:
        """Every GAN slider spans -3..3 direction units."""
        return ATTRIBUTE_RANGE

    def check_values(self, values: dict[str, float]) -> dict[str, float]:
        """Validate slider names and ranges."""
        names = self.attribute_names()
        lo, hi = ATTRIBUTE_RANGE
        out: dict[str, float] = {}
        for key, value in values.items():
            if key not in names:
                raise InvalidArgumentError(f"No direction {key!r}; available: {', '.join(names) or 'none'}.")
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
        from faceedit.imaging import from_tensor

        if self.generator is None:
            raise WeightsMissingError("The GAN engine needs the StyleGAN2 generator weights (stylegan2.ffhq).")
        img = self._run(lambda w: self.generator.synthesis(w, noise_mode="const"), w_plus)
        out = from_tensor(img.float().clamp(-1, 1).cpu())
        interp = cv2.INTER_AREA if out.shape[0] > size else cv2.INTER_LINEAR
        return cv2.resize(out, (size, size), interpolation=interp) if out.shape[0] != size else out

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
        """Invert the face now (once), so that slider moves only run the generator."""
        if self.encoder is not None:
            self.latent(face)

    # ------------------------------------------------------------------ operations
    def attributes(self, face: FaceState, values: dict[str, float],
                   conditions: dict[str, tuple[str, ...]] | None = None) -> EngineOutput:
        """Generator on cached W+ moved along the directions, blended over the face + hair.

        ``conditions`` maps a slider to directions it must not change (InterfaceGAN's
        conditional manipulation, :meth:`DirectionLibrary.conditioned`).
        """
        from faceedit.align import face_region

        v = self.check_values(values)
        if all(x == 0 for x in v.values()):
            return EngineOutput(crop=face.crop.copy())
        conds = {k: list(c) for k, c in (conditions or {}).items() if c}
        for k, c in conds.items():
            self.check_values({k: 0.0, **dict.fromkeys(c, 0.0)})  # names must be known
        w = self.directions.apply(self.latent(face), v, conditions=conds or None)
        generated = self.generate(w, face.crop.shape[0])
        if face.cache.get("gan", {}).get("generated"):
            return EngineOutput(crop=generated)  # a generated face: the generator's image is the result
        region = face_region(face.labels)
        return EngineOutput(crop=tex.blend(face.crop, generated, region), region=region)

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
            generated = self._mask_guided(face.crop, face.labels, new, face.crop)
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
        from faceedit.engines.lite import swap_components

        if not components:
            raise InvalidArgumentError(f"Choose at least one component to swap: {', '.join(COMPONENTS)}.")
        comps = tuple(c.strip().lower() for c in components)
        component_indices(list(comps))
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
        members = component_indices(list(comps))
        touched = np.isin(face.labels, members) | np.isin(labels, members)
        region = _changed_region(touched, size)
        return EngineOutput(crop=tex.blend(face.crop, generated, region), labels=labels, region=region,
                            message=f"swapped by the {how}", cache=cache)

    # ------------------------------------------------------------------ mask-guided generator
    def _mask_guided(self, crop: np.ndarray, labels: np.ndarray, new: np.ndarray, content: np.ndarray
                     ) -> np.ndarray:
        from faceedit.imaging import from_tensor

        s = 256
        small = cv2.resize(crop, (s, s), interpolation=cv2.INTER_AREA)
        old_h = cv2.resize(TO_HELEN[labels], (s, s), interpolation=cv2.INTER_NEAREST)
        new_h = cv2.resize(TO_HELEN[new], (s, s), interpolation=cv2.INTER_NEAREST)
        small_c = cv2.resize(content, (s, s), interpolation=cv2.INTER_AREA)
        img = self._run(self.mask_guided.edit, small, old_h, new_h, small_c)
        return cv2.resize(from_tensor(img.float().cpu()), crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)

    def _mask_guided_swap(self, face: FaceState, ref: FaceState, comps: tuple[str, ...]) -> np.ndarray:
        from faceedit.imaging import from_tensor

        s = 256

        def prep(f: FaceState) -> tuple[np.ndarray, np.ndarray]:
            return (cv2.resize(f.crop, (s, s), interpolation=cv2.INTER_AREA),
                    cv2.resize(TO_HELEN[f.labels], (s, s), interpolation=cv2.INTER_NEAREST))

        t_img, t_lab = prep(face)
        r_img, r_lab = prep(ref)
        feats = dict(self._run(self.mask_guided.encode, t_img, t_lab))
        ref_feats = self._run(self.mask_guided.encode, r_img, r_lab)
        for c in comps:
            for part in MASK_GUIDED_PARTS[c]:
                feats[part] = ref_feats[part]
        img = self._run(self.mask_guided.generate, feats, t_lab, t_img)
        return cv2.resize(from_tensor(img.float().cpu()), face.crop.shape[1::-1], interpolation=cv2.INTER_LINEAR)


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
