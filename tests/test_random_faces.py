"""Random faces beyond one seed: contact sheets, the entanglement view, the random CLI's options, the UI block.

``Session.from_seed`` itself (determinism across processes, ψ = 0, style-mixing rows, one generator call per
slider move, the lite-engine message) is tested in tests/test_gan_engine.py; here the generator is the
project's StyleGAN2 (rosinality layout) at 16 px, channel multiplier 1, seeded, counting its synthesis calls.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer
from PIL import Image

from faceedit import random_faces as rf
from faceedit.cli import main
from faceedit.directions import Direction, DirectionLibrary
from faceedit.editors.composer import Composer
from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.session import Session

SIZE = 16
STYLE_DIM = 64


@pytest.fixture(scope="module")
def networks() -> dict:
    torch.manual_seed(0)
    gen = CountingGenerator(SIZE, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    smile = rng.standard_normal((1, STYLE_DIM))
    age = 0.6 * smile + rng.standard_normal((1, STYLE_DIM))  # entangled on purpose
    lib = DirectionLibrary([Direction("smile", smile, scale=4.0), Direction("age", age, scale=4.0),
                            Direction("pose", rng.standard_normal((1, STYLE_DIM)), scale=4.0, layers=(0, 4))])
    return {"generator": gen, "directions": lib}


@pytest.fixture()
def gan(networks: dict) -> Composer:
    """The generator's editors (random faces, latent-direction sliders; no encoder) beside the lite ones."""
    return gan_composer(**networks)


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_contact_sheet_tiles_are_the_faces_of_their_seeds(gan) -> None:
    faces = [Session.from_seed(s, truncation=0.5, mix=("middle", 9), composer=gan).current.image for s in (3, 4, 5)]
    CountingGenerator.calls = 0
    sheet = rf.contact_sheet(gan.random(), [3, 4, 5], cols=2, truncation=0.5, mix=("middle", 9))
    assert CountingGenerator.calls == 3  # one pass per face, nothing else
    assert sheet.shape == (2 * SIZE, 2 * SIZE, 3)
    assert np.array_equal(sheet[:SIZE, :SIZE], faces[0]) and np.array_equal(sheet[:SIZE, SIZE:], faces[1])
    assert np.array_equal(sheet[SIZE:, :SIZE], faces[2]) and (sheet[SIZE:, SIZE:] == 255).all()
    captioned = rf.contact_sheet(gan.random(), [3, 4], cols=2, truncation=0.5, mix=("middle", 9), captions=True)
    assert captioned.shape[0] > SIZE and captioned.shape[1] == 2 * SIZE + 2
    assert np.array_equal(captioned[:SIZE, SIZE + 2:], faces[1])
    assert (captioned[SIZE:] < 128).any()  # the caption is written
    with pytest.raises(InvalidArgumentError, match="1..64"):
        rf.parse_grid("9x9")
    with pytest.raises(InvalidArgumentError, match="ROWSxCOLS"):
        rf.parse_grid("four")


def test_entanglement_view_shows_plain_and_conditioned_strips(gan, networks) -> None:
    s = Session.from_seed(5, truncation=0.7, composer=gan)
    face = s.current.image
    CountingGenerator.calls = 0
    view = rf.entanglement_view(s, "smile", "age", alphas=(-2.0, 0.0, 2.0))
    assert CountingGenerator.calls == 4  # α = 0 is the face itself in both rows
    assert np.array_equal(view.plain[1], face) and np.array_equal(view.conditioned[1], face)
    assert np.array_equal(view.plain[2], s.set_attributes({"smile": 2.0}).image)
    assert np.array_equal(view.conditioned[2], s.set_attributes({"smile": 2.0}, {"smile": ["age"]}).image)
    assert not np.array_equal(view.plain[2], view.conditioned[2])
    assert view.cosine > 0.3 and abs(view.cosine_after) < 1e-6  # what conditioning removed
    assert view.image.shape[1] == 3 * SIZE + 2 * 2 and view.image.shape[0] > 2 * SIZE
    assert "keep" not in view.describe() or "age" in view.describe()
    assert rf.STRIP_ALPHAS == (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    with pytest.raises(InvalidArgumentError, match="itself"):
        rf.entanglement_view(s, "smile", "smile")
    with pytest.raises(InvalidArgumentError, match="beard"):
        rf.entanglement_view(s, "smile", "beard")


def test_random_cli_keep_mix_strip_and_captions(gan, networks, tmp_path, capsys) -> None:
    out = tmp_path / "face.png"
    argv = ["random", "--seed", "42", "--smile", "1.5", "--keep", "age", "--mix-seed", "7", "--mix-layers",
            "middle", "-o", str(out)]
    assert main(argv, composer=gan) == 0
    expected = Session.from_seed(42, 0.7, mix=("middle", 7), composer=gan).set_attributes({"smile": 1.5}, {"smile": ["age"]})
    assert np.array_equal(_png(out), expected.image) and _png(out).shape == (SIZE, SIZE, 3)
    said = capsys.readouterr().out
    assert "keeping age" in said and "gan engine" in said and "middle styles from seed 7" in said

    assert main(["random", "--seed", "42", "--mix", "middle:7", "-o", str(out)], composer=gan) == 0
    assert np.array_equal(_png(out), Session.from_seed(42, 0.7, mix=("middle", 7), composer=gan).current.image)

    strip = tmp_path / "strip.png"
    assert main(["random", "--seed", "42", "--strip", "smile", "--keep", "age", "-o", str(strip)], composer=gan) == 0
    assert _png(strip).shape[1] == 7 * SIZE + 6 * 2 and "cosine" in capsys.readouterr().out
    assert main(["random", "--seed", "42", "--strip", "smile", "-o", str(strip)], composer=gan) == 2
    assert "--keep" in capsys.readouterr().err
    assert main(["random", "--seed", "42", "--keep", "age", "-o", str(strip)], composer=gan) == 2
    assert "moved slider" in capsys.readouterr().err

    sheet = tmp_path / "sheet.png"
    assert main(["random", "--seed", "3", "--grid", "1x2", "--captions", "-o", str(sheet)], composer=gan) == 0
    assert _png(sheet).shape[1] == 2 * SIZE + 2 and _png(sheet).shape[0] > SIZE
    assert np.array_equal(_png(sheet)[:SIZE, :SIZE], Session.from_seed(3, composer=gan).current.image)
    assert main(["random", "--seed", "3", "--grid", "1x2", "--smile", "2", "-o", str(sheet)], composer=gan) == 0
    edited = Session.from_seed(4, composer=gan).set_attributes({"smile": 2.0}).image
    assert _png(sheet).shape == (SIZE, 2 * SIZE, 3) and np.array_equal(_png(sheet)[:, SIZE:], edited)
    assert main(["random", "--grid", "9x9", "-o", str(sheet)], composer=gan) == 2
    assert "1..64" in capsys.readouterr().err


def test_without_the_generator_the_sheet_says_how_to_get_it(gan, tmp_path, capsys) -> None:
    lite = gan_composer()
    assert main(["random", "--grid", "2x2", "-o", str(tmp_path / "x.png")], composer=lite) == 2
    err = capsys.readouterr().err
    assert "python -m faceedit weights fetch stylegan2.ffhq" in err and "lite engine" in err
    with pytest.raises(WeightsMissingError, match="weights fetch stylegan2.ffhq"):
        rf.random_editor(lite)
    with pytest.raises(WeightsMissingError, match="lite engine cannot draw"):
        rf.random_editor(gan, "lite")


def test_the_view_refuses_the_lite_engine_plainly(astronaut) -> None:
    s = Session.from_photo(astronaut, engine="lite")
    with pytest.raises(UnsupportedEditError, match="lite engine"):
        rf.entanglement_view(s, "smile", "age")


class InvertingEncoder(torch.nn.Module):
    """Stands for e4e: after a mask edit the face is no longer the seed's, so sliders need its inversion."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w, self.calls = w, 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.w.clone()


def test_a_generated_face_takes_mask_edits_sliders_and_undo_like_a_photo(gan, astronaut, monkeypatch) -> None:
    """A generated session (built as ``Session.from_seed`` builds it; the astronaut's aligned crop stands for
    the generator's picture, since random weights draw no face): the lite engine repaints it, results are the
    picture itself (no paste-back), sliders afterwards invert the edited face once, undo walks back."""
    from faceedit.editors.base import FaceState
    from faceedit.labels import INDEX
    from faceedit.session import _Photo, prepare_photo

    photo = prepare_photo(astronaut, size=256)
    w = gan.random().sample(5, 0.7)
    encoder = InvertingEncoder(w + 0.05)
    gan.random().style.encoder = encoder  # this composer's own StyleSpace: nothing global is patched
    face = FaceState(crop=photo.face.crop, labels=photo.face.labels, landmarks=photo.face.landmarks,
                     cache={"gan": {"w": w, "generated": True}})
    s = Session(_Photo(face.crop, None, face, 1), {"attributes": "gan", "mask_edit": "lite", "swap": "lite"}, gan)
    start = s.current.image
    new = s.labels.copy()
    new[np.roll(s.labels == INDEX["hair"], 6, axis=0) & (s.labels == INDEX["background"])] = INDEX["hair"]
    edited = s.edit_mask(new)
    assert edited.engine == "lite" and np.array_equal(edited.image, edited.crop)
    assert edited.image.shape == (256, 256, 3) and not np.array_equal(edited.image, start)
    CountingGenerator.calls = 0
    moved = s.set_attributes({"smile": 1.0}, {"smile": ["age"]})
    assert encoder.calls == 1 and CountingGenerator.calls == 1  # the edited face is inverted once
    assert np.array_equal(moved.image, moved.crop) and not np.array_equal(moved.image, edited.image)
    assert np.array_equal(s.undo().image, edited.image) and np.array_equal(s.undo().image, start)
