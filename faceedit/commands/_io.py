"""Small helpers shared by the foundation CLI commands (photo in, face chosen, files out)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from faceedit.errors import InvalidArgumentError
from faceedit.labels import PALETTE, check_label_map


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """PHOTO, --face and --size, the same for every command that starts from a photo."""
    parser.add_argument("photo", help="the photo (JPEG, PNG, WebP, ...)")
    parser.add_argument("--face", type=int, default=0, metavar="N",
                        help="which face, 0 = the largest (default), 1 = the next largest, ...")
    parser.add_argument("--size", type=int, default=512, help="aligned crop size in pixels (256, 512, 1024; default 512)")


def writable(path: str | Path) -> Path:
    """``path`` as a Path whose folder exists; a clear error otherwise."""
    p = Path(path)
    if p.is_dir():
        raise InvalidArgumentError(f"{p} is a folder; give a file name such as {p / 'out.png'}.")
    if not p.parent.is_dir():
        raise InvalidArgumentError(f"Cannot write {p}: the folder {p.parent} does not exist.")
    return p


def save_rgb(img: np.ndarray, path: str | Path) -> Path:
    """Write an RGB image (format from the suffix, PNG otherwise)."""
    p = writable(path)
    fmt = Image.registered_extensions().get(p.suffix.lower(), "PNG")
    try:
        Image.fromarray(np.ascontiguousarray(img)).save(p, format=fmt)
    except (OSError, ValueError) as err:
        raise InvalidArgumentError(f"Cannot write {p}: {err}") from err
    return p


def save_labels(labels: np.ndarray, path: str | Path) -> Path:
    """Write a label map as a palette PNG: pixel values are class indices, shown in the brush colours."""
    p = writable(path)
    im = Image.fromarray(check_label_map(labels), mode="P")
    im.putpalette(PALETTE.reshape(-1).tolist())
    try:
        im.save(p, format="PNG")
    except (OSError, ValueError) as err:
        raise InvalidArgumentError(f"Cannot write {p}: {err}") from err
    return p
