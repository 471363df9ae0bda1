"""Small helpers shared by the CLI commands (photo in, face chosen, files out)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from faceedit.errors import InvalidArgumentError
from faceedit.labels import PALETTE, check_label_map

if TYPE_CHECKING:
    from faceedit.align import Alignment
    from faceedit.editors.base import EditResult
    from faceedit.editors.composer import Composer


def composer_of(args: argparse.Namespace) -> Composer:
    """The composer given to :func:`faceedit.cli.main`, else one built from the weights registry."""
    from faceedit.editors.composer import Composer

    given = getattr(args, "composer", None)
    return given if given is not None else Composer.from_registry()


def add_photo_arguments(parser: argparse.ArgumentParser) -> None:
    """PHOTO, --face and --size, the same for every command that starts from a photo."""
    parser.add_argument("photo", help="the photo (JPEG, PNG, WebP, ...)")
    parser.add_argument("--face", type=int, default=0, metavar="N",
                        help="which face, 0 = the largest (default), 1 = the next largest, ...")
    parser.add_argument("--size", type=int, default=512, help="aligned crop size in pixels (256, 512, 1024; default 512)")


def align_photo(args: argparse.Namespace) -> tuple[np.ndarray, int, np.ndarray, Alignment]:
    """Load ``args.photo``, find its faces, align face ``args.face`` at ``args.size``.

    Returns the photo, how many faces were found, the aligned crop and its :class:`Alignment`.
    """
    from faceedit.align import align_face
    from faceedit.imaging import load_image
    from faceedit.landmarks import detect_faces, pick_face

    photo = load_image(args.photo)
    faces = detect_faces(photo, max_faces=max(8, args.face + 1))
    crop, alignment = align_face(photo, pick_face(faces, args.face), args.size)
    return photo, len(faces), crop, alignment


def add_result_arguments(parser: argparse.ArgumentParser) -> None:
    """--engine, --crop and -o/--output, the same for every command that writes an edit result."""
    parser.add_argument("--engine", choices=("lite", "gan"), default=None,
                        help="force an engine (default: GAN when its weights are present, else lite)")
    parser.add_argument("--crop", action="store_true", help="write the aligned crop instead of the full photo")
    parser.add_argument("-o", "--output", required=True, help="output image path (PNG recommended); a folder for a batch (folder or glob PHOTO, or --faces)")


def write_result(result: EditResult, args: argparse.Namespace, done: str) -> int:
    """Write an edit result (full photo, or the crop with ``--crop``) and say which engine made it."""
    from faceedit.imaging import save_image

    path = save_image(result.crop if args.crop else result.image, args.output)
    print(f"wrote {path} ({done}) with the {result.engine} engine on {result.device}")
    if result.message:
        print(f"note: {result.message}")
    return 0


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
