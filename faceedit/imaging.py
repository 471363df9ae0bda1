"""Images in and out: loading, validation, and every value-range conversion.

:func:`load_image` is the single door through which a user's photo enters the
backend.  Whatever comes in (a path, encoded bytes, a file object, a PIL image or
a numpy array) leaves as an ``(H, W, 3) uint8`` RGB array, upright (EXIF
orientation applied), with transparency composited on white and 16-bit or
palette data reduced to 8-bit RGB.  Anything else raises a typed
:class:`~faceedit.errors.FaceEditError` whose message can be shown as is.

Size limits are checked from the file header *before* the pixels are decoded,
so a decompression bomb (a small file claiming a huge image) is refused cheaply.

Tensors for networks are ``float32`` NCHW in ``[-1, 1]`` (:func:`to_tensor`,
:func:`from_tensor`).
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from faceedit.errors import ImageTooLargeError, ImageTooSmallError, InvalidImageError

if TYPE_CHECKING:  # torch is imported lazily: loading an image never needs it
    import torch

#: Most pixels an input may have (width x height).
MAX_PIXELS = 40_000_000
#: Longest side an input may have, in pixels.
MAX_SIDE = 10_000
#: Shortest side an input must have to hold a face, in pixels.
MIN_SIDE = 64

def check_size(width: int, height: int) -> None:
    """Raise :class:`ImageTooLargeError` / :class:`ImageTooSmallError` for a ``width x height`` image."""
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels; the longest side may be at most {MAX_SIDE:,} px. "
            "Please resize it and try again."
        )
    if width * height > MAX_PIXELS:
        raise ImageTooLargeError(
            f"The image is {width}x{height} pixels ({width * height / 1e6:.1f} megapixels); "
            f"at most {MAX_PIXELS / 1e6:.0f} megapixels are accepted. Please resize it and try again."
        )
    if width < MIN_SIDE or height < MIN_SIDE:
        raise ImageTooSmallError(
            f"The image is only {width}x{height} pixels; a face needs at least {MIN_SIDE}x{MIN_SIDE}. "
            "Please use a larger photo."
        )


def load_image(src: str | Path | bytes | bytearray | memoryview | BinaryIO | Image.Image | np.ndarray
               ) -> np.ndarray:
    """Load a photo as an upright ``(H, W, 3) uint8`` RGB array.

    Accepts a file path, encoded bytes, a binary file object, a PIL image or a
    numpy array (``(H, W)``, ``(H, W, 1|3|4)``; uint8, uint16, bool, or float in
    ``[0, 1]``).  Raises :class:`InvalidImageError` for anything that is not a
    readable image, :class:`ImageTooLargeError` above :data:`MAX_PIXELS` or
    :data:`MAX_SIDE`, :class:`ImageTooSmallError` below :data:`MIN_SIDE`.
    """
    if isinstance(src, np.ndarray):
        return _from_array(src)
    if isinstance(src, Image.Image):
        check_size(*src.size)
        return _from_pil(src)
    if isinstance(src, (str, Path)):
        return _from_path(Path(src))
    if isinstance(src, (bytes, bytearray, memoryview)):
        data = bytes(src)
        if not data:
            raise InvalidImageError("The uploaded file is empty (0 bytes); please choose an image file.")
        return _decode(io.BytesIO(data), "The uploaded data")
    if hasattr(src, "read"):
        return load_image(src.read())
    raise InvalidImageError(
        f"Cannot read an image from a {type(src).__name__}; give a file path, bytes, a PIL image or an array."
    )


def _from_path(path: Path) -> np.ndarray:
    if not path.exists():
        raise InvalidImageError(f"No such file: {path}")
    if path.is_dir():
        raise InvalidImageError(f"{path} is a folder, not an image file.")
    if path.stat().st_size == 0:
        raise InvalidImageError(f"{path.name} is empty (0 bytes); it is not an image.")
    with open(path, "rb") as handle:
        return _decode(handle, path.name)


def _decode(stream: BinaryIO, what: str) -> np.ndarray:
    """Open from the header, check the size, then decode the pixels."""
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own bomb limit; we apply ours from the header instead.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as im:
                check_size(*im.size)
                im.load()
                return _from_pil(im)
    except Image.DecompressionBombError as err:
        raise ImageTooLargeError(
            f"{what} claims a huge image (a decompression bomb, or simply too big); "
            f"at most {MAX_PIXELS / 1e6:.0f} megapixels and {MAX_SIDE:,} px per side are accepted."
        ) from err
    except UnidentifiedImageError as err:
        raise InvalidImageError(
            f"{what} is not an image in a format we can read (JPEG, PNG, WebP, BMP, TIFF, GIF ...)."
        ) from err
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InvalidImageError(f"{what} is a damaged or truncated image file and cannot be decoded ({err}).") from err


def _from_pil(im: Image.Image) -> np.ndarray:
    """Upright 8-bit RGB array of a PIL image (EXIF orientation, alpha on white, 16-bit scaled)."""
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # a broken EXIF block must not make a readable photo unreadable
        pass
    mode = im.mode
    if mode == "P":
        im = im.convert("RGBA") if "transparency" in im.info else im.convert("RGB")
        mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return _from_array(np.asarray(im))
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = np.asarray(im.convert("RGBA"))
        return _composite_on_white(rgba)
    if mode != "RGB":
        im = im.convert("RGB")
    return np.ascontiguousarray(np.asarray(im, dtype=np.uint8))


def _composite_on_white(rgba: np.ndarray) -> np.ndarray:
    """Blend an ``(H, W, 4) uint8`` image over a white background."""
    alpha = rgba[..., 3:4].astype(np.float32) / 255.0
    rgb = rgba[..., :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    return np.ascontiguousarray(np.clip(np.rint(rgb), 0, 255).astype(np.uint8))


def _to_uint8(arr: np.ndarray) -> np.ndarray:
    """Scale an integer, bool or float array to uint8 without guessing silently."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.bool_:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.isfinite(arr).all():
            raise InvalidImageError("The image array contains NaN or infinite values.")
        lo, hi = float(arr.min()), float(arr.max())
        if lo < 0.0 or hi > 255.0:
            raise InvalidImageError(
                f"A float image must hold values in [0, 1] (or [0, 255]); got {lo:.3g}..{hi:.3g}."
            )
        scale = 255.0 if hi <= 1.0 else 1.0
        return np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        lo, hi = int(arr.min()), int(arr.max())
        if lo < 0 or hi > 65535:
            raise InvalidImageError(f"Integer image values must lie in 0..65535; got {lo}..{hi}.")
        if arr.dtype.itemsize == 1 or hi <= 255 and arr.dtype.itemsize > 2:
            # 32-bit "I" images holding 8-bit data (some TIFF/PNG readers) stay as they are.
            return arr.astype(np.uint8)
        return np.rint(arr.astype(np.float32) / 257.0).astype(np.uint8)  # 16-bit -> 8-bit
    raise InvalidImageError(f"Unsupported image array type {arr.dtype}.")


def _from_array(arr: np.ndarray) -> np.ndarray:
    """RGB uint8 copy of an ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` or ``(H, W, 4)`` array."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise InvalidImageError(
            f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got shape {tuple(arr.shape)}."
        )
    height, width = arr.shape[:2]
    check_size(width, height)
    arr = _to_uint8(np.asarray(arr))
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=2)
    elif arr.shape[2] == 4:
        arr = _composite_on_white(arr)
    return np.ascontiguousarray(arr)


def to_pil(img: np.ndarray) -> Image.Image:
    """PIL image of an ``(H, W, 3)`` (or ``(H, W)`` label/mask) uint8 array."""
    return Image.fromarray(np.ascontiguousarray(img))


def encode_png(img: np.ndarray) -> bytes:
    """PNG bytes of an ``(H, W, 3)`` or ``(H, W)`` uint8 array (lossless)."""
    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise InvalidImageError(f"encode_png expects a uint8 (H, W[, C]) array; got {arr.dtype} {arr.shape}.")
    buf = io.BytesIO()
    to_pil(arr).save(buf, format="PNG")
    return buf.getvalue()


def save_image(img: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 image; the format follows the suffix (PNG when there is none we know)."""
    path = Path(path)
    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    to_pil(np.asarray(img)).save(path, format=fmt)
    return path


def to_tensor(img: np.ndarray) -> torch.Tensor:
    """``(H, W, 3) uint8`` -> ``float32 (1, 3, H, W)`` in ``[-1, 1]``."""
    import torch

    arr = np.asarray(img)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise InvalidImageError(f"to_tensor expects an (H, W, 3) uint8 image; got {arr.dtype} {arr.shape}.")
    arr = np.ascontiguousarray(arr) if arr.flags.writeable else arr.copy()  # e.g. np.asarray(PIL image)
    t = torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0)
    return t.to(torch.float32).div_(127.5).sub_(1.0)


def from_tensor(t: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` or ``(3, H, W)`` in ``[-1, 1]`` -> ``(H, W, 3) uint8`` (values clipped)."""
    import torch

    if t.ndim == 4:
        if t.shape[0] != 1:
            raise InvalidImageError(f"from_tensor takes one image; got a batch of {t.shape[0]}.")
        t = t[0]
    if t.ndim != 3 or t.shape[0] != 3:
        raise InvalidImageError(f"from_tensor expects (1, 3, H, W) or (3, H, W); got {tuple(t.shape)}.")
    x = (t.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5
    return np.ascontiguousarray(x.round().to(dtype=torch.uint8).permute(1, 2, 0).numpy())
