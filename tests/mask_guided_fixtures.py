"""Deterministic inputs for the mask-guided tests: seeded weights in the official layout, synthetic faces.

The parity reference tensors in ``tests/data/mask_guided/`` were made by running the official code on
exactly these weights and inputs (see that folder's README), so this recipe must never change.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch

#: Checkpoint labels in the official folder, in the order that fixes their seeds.
LABELS = (
    "G",
    "encoder_left_eye", "encoder_right_eye", "encoder_skin", "encoder_hair", "encoder_mouth",
    "decoder_left_eye", "decoder_right_eye", "decoder_skin", "decoder_hair", "decoder_mouth",
    "decoder_left_eye_image", "decoder_right_eye_image", "decoder_skin_image", "decoder_hair_image",
    "decoder_mouth_image",
    "P",
)
BASE_SEED = 20190000


def layout(data_dir: Path, label: str) -> list[dict]:
    """Entries ``{"name", "shape", "dtype"}`` of ``latest_net_<label>.json`` (D and D2 share one file)."""
    name = "net_D_and_D2_training_only" if label in ("D", "D2") else f"latest_net_{label}"
    return json.loads((data_dir / "official-layouts" / "gu2019" / f"{name}.json").read_text())


def seeded_state_dict(entries: list[dict], seed: int) -> dict[str, torch.Tensor]:
    """One ``torch.randn`` per float entry, in layout order, from ``torch.Generator().manual_seed(seed)``.

    Scaling: weights with >= 2 dims by sqrt(1 / prod(shape[1:])); 1-d ``weight`` (BN scale) 1 + 0.1 r;
    biases and running means 0.1 r; running variances 1 + 0.1 |r|; ``num_batches_tracked`` 0 (no draw).
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for e in entries:
        name, shape = e["name"], tuple(e["shape"])
        if e["dtype"] == "int64":
            out[name] = torch.zeros(shape, dtype=torch.int64)
            continue
        r = torch.randn(shape, generator=g)
        if name.endswith("running_var"):
            v = 1 + 0.1 * r.abs()
        elif name.endswith(("running_mean", "bias")):
            v = 0.1 * r
        elif len(shape) == 1:
            v = 1 + 0.1 * r
        else:
            v = r * math.sqrt(1.0 / math.prod(shape[1:]))
        out[name] = v
    return out


def seeded_weights(data_dir: Path, label: str) -> dict[str, torch.Tensor]:
    return seeded_state_dict(layout(data_dir, label), BASE_SEED + LABELS.index(label))


def _ellipse(h: int, w: int, cy: float, cx: float, ry: float, rx: float) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1.0


def synthetic_face_labels(eye_y: float = 112, eye_dx: float = 31, mouth_y: float = 178, mouth_w: float = 30,
                          cx: float = 128, hair: bool = True) -> np.ndarray:
    """A plausible Helen 11-class map (256x256 uint8): skin, hair, brows, eyes, nose, lips, inner mouth."""
    h = w = 256
    lab = np.zeros((h, w), np.uint8)
    if hair:
        lab[_ellipse(h, w, 110, cx, 110, 92)] = 10
    lab[_ellipse(h, w, 140, cx, 100, 74)] = 1
    lab[_ellipse(h, w, eye_y - 17, cx - eye_dx, 5, 17)] = 2
    lab[_ellipse(h, w, eye_y - 17, cx + eye_dx, 5, 17)] = 3
    lab[_ellipse(h, w, eye_y, cx - eye_dx, 7, 13)] = 4
    lab[_ellipse(h, w, eye_y, cx + eye_dx, 7, 13)] = 5
    lab[_ellipse(h, w, (eye_y + mouth_y) / 2, cx, 22, 10)] = 6
    lab[_ellipse(h, w, mouth_y - 5, cx, 6, mouth_w)] = 7
    lab[_ellipse(h, w, mouth_y + 6, cx, 7, mouth_w * 0.9)] = 9
    lab[_ellipse(h, w, mouth_y, cx, 3, mouth_w * 0.7)] = 8
    return lab


def synthetic_face_image(labels: np.ndarray, seed: int) -> np.ndarray:
    """A smooth, textured RGB image (256x256x3 uint8) coloured by class, different per seed."""
    rng = np.random.default_rng(seed)
    colours = rng.integers(30, 226, size=(11, 3))
    img = colours[labels].astype(np.float64)
    yy, xx = np.mgrid[0:256, 0:256] / 256.0
    for c in range(3):
        f = rng.uniform(2, 9, size=2)
        img[..., c] += 25 * np.sin(2 * np.pi * (f[0] * yy + f[1] * xx) + rng.uniform(0, 6))
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def parity_inputs() -> dict[str, np.ndarray]:
    """The four inputs of the parity run: faces A and B (image + map) and an edited target map."""
    labels_a = synthetic_face_labels()
    labels_b = synthetic_face_labels(eye_y=118, eye_dx=34, mouth_y=184, mouth_w=26, cx=124)
    target = synthetic_face_labels(eye_y=108, eye_dx=36, mouth_y=181, mouth_w=36, cx=130, hair=False)
    return {
        "image_a": synthetic_face_image(labels_a, 1),
        "labels_a": labels_a,
        "image_b": synthetic_face_image(labels_b, 2),
        "labels_b": labels_b,
        "target": target,
    }


def write_training_set(root: Path, n: int = 4) -> Path:
    """A tiny training folder (images/, labels/ in Helen order) of synthetic faces, different geometries."""
    from PIL import Image

    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        lab = synthetic_face_labels(eye_y=108 + 3 * i, eye_dx=29 + 2 * i, mouth_y=176 + 2 * i,
                                    mouth_w=26 + 3 * i, cx=124 + 3 * i)
        Image.fromarray(synthetic_face_image(lab, 100 + i)).save(root / "images" / f"{i:03d}.png")
        Image.fromarray(lab).save(root / "labels" / f"{i:03d}.png")
    return root
