"""``python -m faceedit stylise``: one photo, a folder (batch), the style list, unknown styles."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from helpers import read_rgb as _rgb
from test_stylise_session import composer, nets  # noqa: F401 - fixtures used below

from faceedit.cli import main
from faceedit.editors.composer import Composer
from faceedit.editors.lite import lite_editors

pytestmark = pytest.mark.usefixtures("one_thread")
REPO = Path(__file__).resolve().parents[1]
HOPPER = REPO / "assets" / "grace_hopper.jpg"


def test_lite_style_by_name_offline(tmp_path, capsys) -> None:
    out = tmp_path / "pencil.png"
    assert main(["stylise", str(HOPPER), "--style", "lite:pencil", "--smile", "1", "-o", str(out)],
                composer=Composer(lite_editors())) == 0
    said = capsys.readouterr().out
    assert "style lite:pencil" in said and "smile=1" in said and "lite engine" in said
    img, original = _rgb(out), _rgb(HOPPER)
    assert img.shape == original.shape and np.abs(img.astype(int) - original).mean() > 1


def test_unknown_style_lists_the_available_ones(tmp_path, capsys) -> None:
    rc = main(["stylise", str(HOPPER), "--style", "anime", "-o", str(tmp_path / "x.png")],
              composer=Composer(lite_editors()))
    err = capsys.readouterr().err
    assert rc == 2 and "'anime' is not available" in err and "lite:cartoon" in err and "--preset art" in err
    assert not (tmp_path / "x.png").exists()
    assert main(["stylise", "--list"], composer=Composer(lite_editors())) == 0
    assert "lite:edge_preserving" in capsys.readouterr().out


def test_a_folder_is_stylised_as_a_batch(tmp_path, capsys) -> None:
    photos = tmp_path / "in"
    photos.mkdir()
    shutil.copy(HOPPER, photos / "hopper.jpg")
    (photos / "broken.jpg").write_bytes(b"not an image")
    rc = main(["stylise", str(photos), "--style", "cartoon", "--crop", "-o", str(tmp_path / "out")],
              composer=Composer(lite_editors()))
    said = capsys.readouterr().out
    assert rc == 1 and "broken.jpg" in said, "a bad file is skipped and named"
    assert _rgb(tmp_path / "out" / "hopper_stylised.png").shape == (512, 512, 3)


def test_gan_style_with_a_slider(tmp_path, composer, capsys) -> None:  # noqa: F811 - the fixture
    out = tmp_path / "toon.png"
    assert main(["stylise", str(HOPPER), "--style", "toon", "--strength", "0.5", "--smile", "1", "--crop",
                 "-o", str(out)], composer=composer) == 0
    said = capsys.readouterr().out
    assert "style style.test.toon at strength 0.5, smile=1" in said and "gan engine" in said
    assert _rgb(out).shape == (512, 512, 3)


def test_a_gan_style_with_the_lite_engine_forced_is_refused(tmp_path, composer, capsys) -> None:  # noqa: F811
    rc = main(["stylise", str(HOPPER), "--style", "toon", "--engine", "lite", "-o", str(tmp_path / "x.png")],
              composer=composer)
    assert rc == 2 and "'toon' is not available" in capsys.readouterr().err
