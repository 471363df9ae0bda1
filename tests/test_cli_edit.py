"""The edit and swap commands, run as a user runs them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.cli import main


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, astronaut: np.ndarray) -> tuple[Path, Path]:
    import matplotlib.cbook as cbook

    d = tmp_path_factory.mktemp("photos")
    Image.fromarray(astronaut).save(d / "astronaut.png")
    with cbook.get_sample_data("grace_hopper.jpg") as f:
        Image.open(f).convert("RGB").save(d / "hopper.jpg")
    return d / "astronaut.png", d / "hopper.jpg"


def test_edit_writes_the_photo_and_names_the_engine(photos, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FACEEDIT_ENGINE", "lite")
    out = tmp_path / "out.png"
    assert main(["edit", str(photos[0]), "--smile", "1.5", "--pose", "-0.5", "-o", str(out)]) == 0
    said = capsys.readouterr().out
    assert "lite engine" in said and "smile=1.5" in said
    img = np.asarray(Image.open(out))
    src = np.asarray(Image.open(photos[0]))
    assert img.shape == src.shape and not np.array_equal(img, src)


def test_swap_writes_the_photo_and_names_the_engine(photos, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FACEEDIT_ENGINE", "lite")
    out = tmp_path / "swap.png"
    assert main(["swap", str(photos[0]), str(photos[1]), "--components", "eyes,mouth", "-o", str(out)]) == 0
    assert "lite engine" in capsys.readouterr().out
    assert np.asarray(Image.open(out)).shape == (512, 512, 3)


def test_mistakes_are_one_plain_line(photos, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FACEEDIT_ENGINE", "lite")
    code = main(["swap", str(photos[0]), str(photos[1]), "--components", "ears", "-o", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and "Unknown component 'ears'" in err and "Traceback" not in err
    code = main(["edit", str(photos[0]), "--smile", "9", "-o", str(tmp_path / "y.png")])
    assert code == 2 and "-3..3" in capsys.readouterr().err
