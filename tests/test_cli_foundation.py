"""``python -m faceedit parse`` and ``align``: files a person can open, one clear line on errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from faceedit.cli import main
from faceedit.labels import INDEX, PALETTE
from tests.conftest import REPO


@pytest.fixture(scope="module")
def photo(tmp_path_factory, two_faces_photo):
    path = tmp_path_factory.mktemp("cli") / "two.png"
    Image.fromarray(two_faces_photo).save(path)
    return path


def test_parse_writes_labels_and_overlay(photo, tmp_path, capsys):
    labels_png, overlay_png, crop_png = tmp_path / "labels.png", tmp_path / "overlay.png", tmp_path / "crop.png"
    rc = main(["parse", str(photo), "-o", str(labels_png), "--overlay", str(overlay_png), "--crop", str(crop_png),
               "--face", "1", "--size", "256", "--parser", "landmark"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "face 1 of 2" in out and "landmark parser (offline" in out and "eyes" in out
    im = Image.open(labels_png)
    assert im.mode == "P" and im.size == (256, 256)
    labels = np.asarray(im)
    for name in ("l_eye", "r_eye", "nose", "u_lip", "l_lip", "hair"):
        assert (labels == INDEX[name]).any(), name
    assert np.array_equal(np.asarray(im.getpalette()[: 3 * 19]).reshape(19, 3), PALETTE)  # shown in brush colours
    assert Image.open(overlay_png).size == (256, 256) and Image.open(crop_png).size == (256, 256)


def test_parse_full_photo(photo, tmp_path, capsys):
    rc = main(["parse", str(photo), "-o", str(tmp_path / "l.png"), "--overlay", str(tmp_path / "o.png"), "--full"])
    assert rc == 0
    out = capsys.readouterr().out
    assert " parser (" in out and "1024x512 photo" in out  # always says which parser made the labels
    labels = np.asarray(Image.open(tmp_path / "l.png"))
    assert labels.shape == (512, 1024)
    ys, xs = np.nonzero(np.isin(labels, [INDEX["l_eye"], INDEX["r_eye"]]))
    assert len(xs) and ((xs < 512).all() or (xs >= 512).all())  # one face's eyes only, back in photo pixels
    assert Image.open(tmp_path / "o.png").size == (1024, 512)


def test_align_writes_crop_and_transform(photo, tmp_path, capsys):
    rc = main(["align", str(photo), "-o", str(tmp_path / "crop.png"), "--size", "256",
               "--transform", str(tmp_path / "t.json")])
    assert rc == 0 and "aligned face 0 of 2" in capsys.readouterr().out
    assert Image.open(tmp_path / "crop.png").size == (256, 256)
    t = json.loads((tmp_path / "t.json").read_text())
    assert np.asarray(t["matrix"]).shape == (2, 3) and t["size"] == 256 and t["source_shape"] == [512, 1024]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--face", "5"], "Face number 5 was asked for, but the photo has 2 faces"),
        (["--size", "20"], "crop size must be"),
    ],
)
def test_bad_choices_are_one_clear_line(photo, tmp_path, capsys, argv, message):
    assert main(["align", str(photo), "-o", str(tmp_path / "c.png"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_errors_before_any_work(tmp_path, capsys):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    assert main(["parse", str(empty), "-o", str(tmp_path / "l.png")]) == 2
    assert "empty" in capsys.readouterr().err
    blank = tmp_path / "blank.png"
    Image.new("RGB", (300, 300), "grey").save(blank)
    assert main(["parse", str(blank), "-o", str(tmp_path / "l.png")]) == 2
    assert "No face was found" in capsys.readouterr().err
    assert main(["align", str(blank), "-o", str(tmp_path / "missing" / "c.png")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_python_dash_m_prints_one_line_and_exits_2(tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    proc = subprocess.run([sys.executable, "-m", "faceedit", "parse", str(notes), "-o", str(tmp_path / "l.png")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: notes.png is not an image in a format we can read (JPEG, PNG, WebP, BMP, TIFF, GIF ...)."
    ]
    assert "Traceback" not in proc.stderr
