"""pSp segmentation-to-face (Richardson et al. 2021) as a mask edit, with the photo's fine styles.

The painted map is encoded into W+; the photo's own W+ layers ``FINE_LAYERS`` onward (colour, texture)
are mixed in, the generator draws the face, and it shows only over the changed region plus a margin.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from faceedit.editors import lite_texture as tex
from faceedit.editors.base import Editor, EditorOutput, FaceState
from faceedit.editors.gan_runtime import (
    ENCODER_SIZE,
    ENCODERS,
    GanRuntime,
    OnStyleSpace,
    StyleSpace,
    changed_region,
)
from faceedit.editors.lite import check_painted
from faceedit.labels import NUM_CLASSES, TO_CELEBAMASK

#: First W+ layer counted as "fine" (colour, texture) when mixing seg-to-face styles (pSp's latent mask 8..17).
FINE_LAYERS = 8
#: Registry name of the published seg-to-face pSp.
SEG2FACE_WEIGHTS = "psp.celebs_seg_to_face"


class Seg2FaceMaskEdit(OnStyleSpace, Editor):
    """Mask edit by pSp segmentation-to-face (see the module docstring)."""

    name = "pSp seg-to-face mask edit"
    operation = "mask_edit"
    engine = "gan"
    requires = ((SEG2FACE_WEIGHTS,), ENCODERS)

    def __init__(self, style: StyleSpace, seg2face: Any) -> None:
        """``seg2face`` needs ``encode(one_hot [1, 19, 256, 256]) -> W+`` (latent average included)."""
        self.style = style
        self.seg2face = seg2face

    @classmethod
    def build(cls, runtime: GanRuntime) -> Seg2FaceMaskEdit | None:
        style = runtime.style_space()
        return cls(style, runtime.load(SEG2FACE_WEIGHTS)) if style is not None else None

    def edit_mask(self, face: FaceState, new_labels: np.ndarray) -> EditorOutput:
        new = check_painted(face, new_labels)
        changed = new != face.labels
        if not changed.any():
            return EditorOutput(crop=face.crop.copy(), labels=new.copy())
        size = face.crop.shape[0]
        run = self.style.runtime
        onehot = one_hot(TO_CELEBAMASK[new], ENCODER_SIZE, run.torch_device)
        w_seg = run.run(self.seg2face.encode, onehot).float()
        mixed = w_seg.clone()
        mixed[:, FINE_LAYERS:] = self.style.latent(face)[:, FINE_LAYERS:]
        generated = self.style.generate(mixed, size)
        region = changed_region(changed, size)
        return EditorOutput(crop=tex.blend(face.crop, generated, region), labels=new.copy(), region=region,
                            message="redrawn by the pSp segmentation-to-face with the photo's fine styles")


def one_hot(labels: np.ndarray, size: int, device: Any) -> Any:
    """``[1, 19, size, size]`` float32 one-hot of a label map (nearest resize)."""
    import torch

    small = cv2.resize(labels.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
    idx = torch.from_numpy(small.astype(np.int64))
    return torch.nn.functional.one_hot(idx, NUM_CLASSES).permute(2, 0, 1)[None].float().to(device)
