"""Face parsing with the published BiSeNet CelebAMask-HQ checkpoint (``79999_iter.pth``).

Implements the :class:`faceedit.parsing.Parser` protocol.  The checkpoint's class order *is* the canonical
order of :mod:`faceedit.labels`, so no index map is applied.  Steps, as the official ``test.py`` does them:
crop → 512×512 (PIL bilinear) → [0, 1] → ImageNet mean/std → main logits → argmax; then the 512×512 label
map is resized back to the crop's size with nearest-neighbour sampling.
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from faceedit.errors import InvalidImageError

#: Registry name of the published checkpoint.
WEIGHTS_NAME = "bisenet.celebamask_hq"


class BiSeNetParser:
    """Parser backed by :class:`faceedit.models.bisenet.BiSeNet` (loaded once, shared, frozen)."""

    name = "bisenet"

    def __init__(self, model: object | None = None, device: object | None = None) -> None:
        """Use ``model`` (a :class:`BiSeNet`) or load the registry's checkpoint (``WeightsMissingError`` if absent)."""
        from faceedit.device import default_device

        self.device = torch.device(device) if device is not None else default_device()
        if model is None:
            from faceedit import weights

            model = weights.load_model(WEIGHTS_NAME, device=self.device)
        self.model = model.to(self.device).eval().requires_grad_(False)  # type: ignore[attr-defined]
        from faceedit.models.bisenet import INPUT_SIZE, MEAN, STD, fold_batchnorm

        self._net = fold_batchnorm(self.model)  # inference copy: BatchNorm folded, channels-last

        self.size = INPUT_SIZE
        self._mean = torch.tensor(MEAN, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(STD, device=self.device).view(1, 3, 1, 1)

    def preprocess(self, crop: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 RGB → [1, 3, 512, 512] float32, ImageNet-normalised (official ``test.py``)."""
        if not isinstance(crop, np.ndarray) or crop.dtype != np.uint8 or crop.ndim != 3 or crop.shape[2] != 3:
            got = f"{crop.dtype} array of shape {crop.shape}" if isinstance(crop, np.ndarray) else type(crop).__name__
            raise InvalidImageError(f"the face parser needs an (H, W, 3) uint8 RGB image, got a {got}")
        if crop.shape[0] < 8 or crop.shape[1] < 8:
            raise InvalidImageError(f"the face crop is too small to parse ({crop.shape[1]}x{crop.shape[0]} pixels)")
        if crop.shape[:2] != (self.size, self.size):
            crop = np.array(Image.fromarray(crop).resize((self.size, self.size), Image.BILINEAR))
        x = torch.from_numpy(np.require(crop, requirements=["C", "W"])).to(self.device).permute(2, 0, 1).unsqueeze(0)
        x = (x.float() / 255.0 - self._mean) / self._std
        return x.contiguous(memory_format=torch.channels_last)

    def parse(self, crop: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB aligned face → (H, W) uint8 labels in the canonical 19-class order."""
        x = self.preprocess(crop)
        with torch.inference_mode():
            logits = self._net.parse_logits(x)
            labels = logits[0].argmax(0).to(torch.uint8).cpu().numpy()
        h, w = crop.shape[:2]
        if (h, w) != labels.shape:
            labels = np.asarray(Image.fromarray(labels).resize((w, h), Image.NEAREST))
        return labels
