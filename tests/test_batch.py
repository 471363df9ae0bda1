"""Many photos at once: the batch CLI (folders, globs, --faces) and the zip-in/zip-out backend of the batch tab."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.batch import edit_process, swap_process, zip_batch
from faceedit.cli import main
from tests.conftest import REPO

ASSETS = REPO / "assets"


@pytest.fixture(autouse=True)
def lite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACEEDIT_ENGINE", "lite")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two good photos and one broken file (JPEG name, text inside)."""
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(ASSETS / "astronaut.png", d / "astronaut.png")
    shutil.copy(ASSETS / "grace_hopper.jpg", d / "hopper.jpg")
    (d / "broken.jpg").write_bytes(b"this is not a JPEG")
    (d / "notes.txt").write_text("not a photo, not counted")
    return d


def _snapshot(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in d.iterdir()}


def test_folder_with_a_broken_file(folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = _snapshot(folder)
    code = main(["edit", str(folder), "--smile", "1.5", "-o", str(folder)])  # results beside the inputs
    out = capsys.readouterr()
    assert code == 1
    assert "done: 2 of 3 photos" in out.out and "skipped: 1" in out.out
    assert "broken.jpg" in out.out and "not an image" in out.out
    assert "3/3" in out.err  # the progress bar reached the end
    for name, data in before.items():  # no input overwritten
        assert (folder / name).read_bytes() == data
    for stem, src in (("astronaut", "astronaut.png"), ("hopper", "hopper.jpg")):
        img = np.asarray(Image.open(folder / f"{stem}_edited.png"))
        orig = np.asarray(Image.open(folder / src).convert("RGB"))
        assert img.shape == orig.shape and not np.array_equal(img, orig)
    assert not list(folder.glob("broken*_edited.png"))


def test_all_faces_of_a_photo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["edit", str(ASSETS / "two_faces.jpg"), "--faces", "all", "--smile", "2", "-o", str(out)]) == 0
    assert "2 results written" in capsys.readouterr().out
    a, b = (np.asarray(Image.open(out / f"two_faces_face{k}_edited.png")) for k in (0, 1))
    src = np.asarray(Image.open(ASSETS / "two_faces.jpg").convert("RGB"))
    # each result changes its own face: the two differ from the photo in different places
    da, db = np.abs(a.astype(int) - src).sum(2) > 30, np.abs(b.astype(int) - src).sum(2) > 30
    assert da.any() and db.any() and (da & ~db).sum() > 100 and (db & ~da).sum() > 100
    assert sorted(p.name for p in out.iterdir()) == ["two_faces_face0_edited.png", "two_faces_face1_edited.png"]


def test_glob_and_face_numbers(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["edit", str(folder / "*.png"), "--faces", "1", "--smile", "1", "-o", str(out)])
    said = capsys.readouterr().out
    assert code == 1 and "Face number 1 was asked for" in said  # the astronaut has one face
    assert main(["edit", str(folder / "*.png"), "--faces", "largest", "--smile", "1", "-o", str(out)]) == 0
    assert [p.name for p in out.iterdir()] == ["astronaut_edited.png"]


def test_swap_over_a_folder(folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["swap", str(folder), str(ASSETS / "grace_hopper.jpg"), "--components", "eyes", "-o", str(out)])
    assert code == 1 and "skipped: 1" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["astronaut_swapped.png", "hopper_swapped.png"]


@pytest.mark.parametrize(("argv", "message"), [
    (["--faces", "some"], "--faces takes all, largest or a face number"),
    (["--smile", "1"], "is a file; with several photos -o must be a folder"),
])
def test_batch_mistakes_are_one_line(folder: Path, tmp_path: Path, capsys, argv, message) -> None:
    target = tmp_path / "file.png"
    target.write_bytes(b"x")
    assert main(["edit", str(folder), *argv, "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_batch_never_makes_a_folder_named_like_an_image(tmp_path: Path, capsys) -> None:
    out = tmp_path / "result.png"
    assert main(["edit", str(ASSETS / "two_faces.jpg"), "--faces", "all", "--smile", "1", "-o", str(out)]) == 2
    assert "-o must be a folder" in capsys.readouterr().err and not out.exists()


def test_zip_in_zip_out(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.write(ASSETS / "astronaut.png", "set/astronaut.png")
        zf.writestr("set/broken.jpg", b"garbage")
        zf.writestr("set/readme.txt", b"ignored")
    files = [("photos.zip", buf.getvalue()), ("hopper.jpg", (ASSETS / "grace_hopper.jpg").read_bytes())]
    calls: list[tuple[int, int, str]] = []
    out = tmp_path / "result.zip"
    report = zip_batch(files, edit_process({"smile": 1.5}), out, faces="all",
                       progress=lambda done, total, name: calls.append((done, total, name)))
    assert calls == [(1, 3, "astronaut.png"), (2, 3, "broken.jpg"), (3, 3, "hopper.jpg")]
    assert [o.name for o in report.skipped] == ["broken.jpg"]
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["astronaut_edited.png", "hopper_edited.png", "summary.txt"]
        summary = zf.read("summary.txt").decode()
        img = np.asarray(Image.open(io.BytesIO(zf.read("astronaut_edited.png"))))
    assert "done: 2 of 3" in summary and "broken.jpg" in summary
    assert img.shape == (512, 512, 3) and not np.array_equal(img, np.asarray(Image.open(ASSETS / "astronaut.png")))


def test_swap_reference_is_prepared_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from faceedit import session as session_module

    opened: list[object] = []
    real = session_module.Session.from_photo.__func__

    def counting(cls, image, *args, **kwargs):
        opened.append(image)
        return real(cls, image, *args, **kwargs)

    monkeypatch.setattr(session_module.Session, "from_photo", classmethod(counting))
    process = swap_process(str(ASSETS / "grace_hopper.jpg"), ["mouth"])
    files = [(f"a{k}.png", (ASSETS / "astronaut.png").read_bytes()) for k in range(2)]
    report = zip_batch(files, process, tmp_path / "o.zip", tag="swapped")
    assert len(report.done) == 2 and len(opened) == 3  # the reference once, then one per photo
