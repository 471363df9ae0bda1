"""Images in: every input kind, every conversion, every refusal with its own clear error."""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.errors import FaceEditError, ImageTooLargeError, ImageTooSmallError, InvalidImageError
from faceedit.imaging import encode_png, from_tensor, load_image, save_image, to_tensor


def _png_bytes(img: np.ndarray | Image.Image, **kwargs) -> bytes:
    im = img if isinstance(img, Image.Image) else Image.fromarray(img)
    buf = io.BytesIO()
    im.save(buf, format="PNG", **kwargs)
    return buf.getvalue()


def _bomb_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of ``width x height`` black pixels, a few kB on disk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    row = b"\x00" * (1 + (width + 7) // 8)
    comp = zlib.compressobj(9)
    body = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


# --- every input kind gives the same pixels --------------------------------------------------------


def test_path_bytes_fileobj_pil_and_array_agree(astronaut, tmp_path):
    data = _png_bytes(astronaut)
    path = tmp_path / "astronaut.png"
    path.write_bytes(data)
    for src in (path, str(path), data, bytearray(data), io.BytesIO(data), Image.open(io.BytesIO(data)), astronaut):
        out = load_image(src)
        assert out.dtype == np.uint8 and out.shape == (512, 512, 3) and out.flags["C_CONTIGUOUS"]
        np.testing.assert_array_equal(out, astronaut)


@pytest.mark.parametrize(
    ("orientation", "stored_from"),
    [
        (2, lambda a: a[:, ::-1]),  # mirrored
        (3, lambda a: np.rot90(a, 2)),  # upside down
        (6, lambda a: np.rot90(a, 1)),  # "rotate 90 deg clockwise to display"
        (8, lambda a: np.rot90(a, -1)),  # "rotate 90 deg counter-clockwise to display"
    ],
)
def test_exif_orientation_is_applied(astronaut, tmp_path, orientation, stored_from):
    stored = np.ascontiguousarray(stored_from(astronaut[:, :448]))  # not square: a wrong turn changes the shape
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "camera.jpg"
    Image.fromarray(stored).save(path, format="JPEG", quality=95, exif=exif)
    out = load_image(path)
    assert out.shape == (512, 448, 3)
    assert np.abs(out.astype(int) - astronaut[:, :448].astype(int)).mean() < 4.0  # only JPEG loss remains
    # Without the tag the same pixels load as stored: the tag is what turned them.
    plain = tmp_path / "plain.jpg"
    Image.fromarray(stored).save(plain, format="JPEG", quality=95)
    assert load_image(plain).shape == stored.shape


def test_cmyk_jpeg_becomes_rgb(astronaut):
    buf = io.BytesIO()
    Image.fromarray(astronaut).convert("CMYK").save(buf, format="JPEG", quality=95)
    out = load_image(buf.getvalue())
    assert out.shape == (512, 512, 3) and np.abs(out.astype(int) - astronaut.astype(int)).mean() < 6.0


def test_rgba_is_composited_on_white():
    rgba = np.zeros((80, 80, 4), np.uint8)
    rgba[:, :40] = (0, 0, 0, 0)  # transparent -> white
    rgba[:, 40:60] = (0, 0, 0, 255)  # opaque black stays black
    rgba[:, 60:] = (0, 0, 0, 128)  # half-transparent black -> mid grey
    for src in (rgba, _png_bytes(rgba)):
        out = load_image(src)
        assert out.shape == (80, 80, 3)
        assert (out[:, :40] == 255).all()
        assert (out[:, 40:60] == 0).all()
        assert (np.abs(out[:, 60:].astype(int) - 127) <= 1).all()


def test_grayscale_palette_and_16bit_become_8bit_rgb():
    gray = np.tile(np.arange(256, dtype=np.uint8)[None, 44:200], (70, 1))
    out = load_image(_png_bytes(Image.fromarray(gray, mode="L")))
    assert out.shape == (70, 156, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 0], gray)
    np.testing.assert_array_equal(out[..., 1], gray)

    rgb = np.zeros((70, 90, 3), np.uint8)
    rgb[:, :45] = (200, 30, 10)
    rgb[:, 45:] = (10, 40, 220)
    pal = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    assert pal.mode == "P"
    np.testing.assert_array_equal(load_image(_png_bytes(pal)), rgb)

    # A palette image with a transparent entry: the transparent colour becomes white.
    pal_t = pal.copy()
    pal_t.info["transparency"] = int(np.asarray(pal)[0, 0])
    out_t = load_image(_png_bytes(pal_t, transparency=pal_t.info["transparency"]))
    assert (out_t[:, :45] == 255).all() and (out_t[:, 45:] == (10, 40, 220)).all()

    deep = np.full((70, 70), 257 * 100, np.uint16)
    deep[:, 35:] = 65535
    im16 = Image.fromarray(deep)
    assert im16.mode.startswith("I;16")
    out16 = load_image(_png_bytes(im16))
    assert (out16[:, :35] == 100).all() and (out16[:, 35:] == 255).all()
    np.testing.assert_array_equal(load_image(deep), out16)


def test_float_and_bool_arrays():
    f = np.full((64, 64, 3), 0.5, np.float32)
    assert (load_image(f) == 128).all()
    b = np.zeros((64, 64), bool)
    b[:, 32:] = True
    out = load_image(b)
    assert (out[:, :32] == 0).all() and (out[:, 32:] == 255).all()
    with pytest.raises(InvalidImageError, match="NaN"):
        load_image(np.full((64, 64, 3), np.nan, np.float32))
    with pytest.raises(InvalidImageError, match=r"\[0, 1\]"):
        load_image(np.full((64, 64, 3), -3.0, np.float32))


# --- every bad input has its own clear error -------------------------------------------------------


def test_corrupt_jpeg(astronaut, tmp_path):
    buf = io.BytesIO()
    Image.fromarray(astronaut).save(buf, format="JPEG", quality=90)
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])  # the download broke off half-way
    with pytest.raises(InvalidImageError, match="damaged or truncated") as err:
        load_image(path)
    assert "cut.jpg" in str(err.value)


def test_zero_byte_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(InvalidImageError, match="empty"):
        load_image(path)
    with pytest.raises(InvalidImageError, match="empty"):
        load_image(b"")


def test_text_file_renamed_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("these are my holiday notes, not a picture\n" * 20)
    with pytest.raises(InvalidImageError, match="not an image") as err:
        load_image(path)
    assert "notes.png" in str(err.value)


def test_missing_file_folder_and_unknown_type(tmp_path):
    with pytest.raises(InvalidImageError, match="No such file"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(InvalidImageError, match="folder"):
        load_image(tmp_path)
    with pytest.raises(InvalidImageError, match="int"):
        load_image(12)  # type: ignore[arg-type]
    with pytest.raises(InvalidImageError, match="shape"):
        load_image(np.zeros((64, 64, 2), np.uint8))


def test_12000_square_is_refused_from_the_header(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(_bomb_png(12000, 12000))
    assert path.stat().st_size < 300_000  # a small file claiming 144 megapixels
    start = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match="12000x12000") as err:
        load_image(path)
    assert time.perf_counter() - start < 0.5  # refused before the pixels are decoded
    assert "10,000" in str(err.value)


def test_decompression_bomb_beyond_pillows_own_limit():
    with pytest.raises(ImageTooLargeError):
        load_image(_bomb_png(20000, 20000))  # Pillow itself refuses this one in Image.open


def test_megapixel_limit_below_side_limit():
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        load_image(_bomb_png(9000, 5000))  # 45 MP, each side under 10,000
    with pytest.raises(ImageTooLargeError):
        load_image(Image.new("L", (10_001, 64)))


def test_too_small(tmp_path):
    path = tmp_path / "icon.png"
    Image.new("RGB", (48, 300), "white").save(path)
    with pytest.raises(ImageTooSmallError, match="48x300"):
        load_image(path)
    with pytest.raises(ImageTooSmallError):
        load_image(np.zeros((63, 63, 3), np.uint8))
    assert load_image(np.zeros((64, 64, 3), np.uint8)).shape == (64, 64, 3)


def test_error_types_are_distinct_and_user_facing():
    assert issubclass(InvalidImageError, FaceEditError)
    kinds = {InvalidImageError, ImageTooLargeError, ImageTooSmallError}
    assert len(kinds) == 3 and not any(issubclass(a, b) for a in kinds for b in kinds if a is not b)


# --- conversions ----------------------------------------------------------------------------------


def test_tensor_round_trip(astronaut):
    t = to_tensor(astronaut)
    assert t.shape == (1, 3, 512, 512) and t.dtype == torch.float32
    assert float(t.min()) >= -1.0 and float(t.max()) <= 1.0
    np.testing.assert_array_equal(from_tensor(t), astronaut)
    np.testing.assert_array_equal(from_tensor(t[0]), astronaut)
    assert (from_tensor(torch.full((3, 8, 8), 5.0)) == 255).all()  # out-of-range values are clipped
    with pytest.raises(InvalidImageError):
        to_tensor(astronaut.astype(np.float32))


def test_png_encode_and_save(astronaut, tmp_path):
    np.testing.assert_array_equal(load_image(encode_png(astronaut)), astronaut)
    path = save_image(astronaut, tmp_path / "x.png")
    np.testing.assert_array_equal(load_image(Path(path)), astronaut)
