"""Random faces with small seeded StyleGAN2 generators in the published (rosinality) layout.

Rendering tests use a 16 px generator (channel multiplier 1, style_dim 512, 8 mapping layers, built
after ``torch.manual_seed(0)``: cheap on two cores); the style-mixing test loads a 64 px generator from
the committed layout listing (``tests/data/stylegan2/layout_64_cm1.json``) with ``strict=True``, so
coarse, middle and fine layer ranges all exist.  The generator counts its synthesis calls, the encoder
its inversions and the engine its parses, so the tests see what a slider move runs.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from faceedit import random_faces as rf
from faceedit.cli import main
from faceedit.directions import Direction, DirectionLibrary
from faceedit.engines import base
from faceedit.engines.gan import GanEngine
from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.models.stylegan2 import Generator
from faceedit.session import Session

REPO = Path(__file__).resolve().parents[1]
SIZE = 16


class CountingGenerator(Generator):
    """StyleGAN2 that counts its synthesis calls."""

    calls = 0

    def synthesis(self, w_plus, *args, **kwargs):  # type: ignore[override]
        type(self).calls += 1
        return super().synthesis(w_plus, *args, **kwargs)


class CountingEncoder(nn.Module):
    """Stands for e4e: any call would be an inversion, which a generated face must never need."""

    calls = 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        raise AssertionError("a generated face must not be inverted")


def make_generator() -> CountingGenerator:
    torch.manual_seed(0)
    return CountingGenerator(SIZE, channel_multiplier=1).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def networks() -> dict:
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction("smile", rng.standard_normal((1, 512)), scale=6.0),
                            Direction("age", rng.standard_normal((1, 512)), scale=6.0),
                            Direction("pose", rng.standard_normal((1, 512)), scale=6.0, layers=(0, 4))])
    return {"generator": make_generator(), "encoder": CountingEncoder(), "directions": lib}


@pytest.fixture()
def gan(monkeypatch: pytest.MonkeyPatch, networks: dict) -> GanEngine:
    engine = GanEngine(device="cpu", **networks)
    parses = []
    monkeypatch.setattr(engine, "parse", lambda crop: parses.append(1) or np.zeros(crop.shape[:2], np.uint8))
    engine.parses = parses  # type: ignore[attr-defined]
    monkeypatch.setattr(base, "_capabilities", lambda: {"random": True, "attributes": True})
    monkeypatch.setitem(base._engines, "gan", engine)
    monkeypatch.delenv("FACEEDIT_ENGINE", raising=False)
    return engine


def _reset() -> None:
    CountingGenerator.calls = 0
    CountingEncoder.calls = 0


CHILD = textwrap.dedent("""
    import sys, numpy as np, torch
    from faceedit.models.stylegan2 import Generator
    from faceedit.random_faces import random_face
    torch.manual_seed(0)
    g = Generator({size}, channel_multiplier=1).eval().requires_grad_(False)
    np.save(sys.argv[1], random_face(g, 42, 0.7))
""")


def test_a_seed_gives_bit_identical_faces_across_runs_and_processes(networks, tmp_path) -> None:
    g = networks["generator"]
    first = rf.random_face(g, 42, 0.7)
    assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8
    assert np.array_equal(first, rf.random_face(g, 42, 0.7))
    assert not np.array_equal(first, rf.random_face(g, 43, 0.7))
    out = tmp_path / "child.npy"
    done = subprocess.run([sys.executable, "-c", CHILD.format(size=SIZE), str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert np.array_equal(np.load(out), first)
    # z is NVIDIA's draw for the seed (float64 RandomState, then float32)
    assert torch.equal(rf.sample_z(42), torch.from_numpy(np.random.RandomState(42).randn(1, 512)).float())


def test_psi_zero_gives_the_mean_latent_image_and_the_mean_is_computed_once(monkeypatch) -> None:
    monkeypatch.setattr(rf, "MEAN_SAMPLES", 512)  # a fresh generator: keep its mean quick
    g = make_generator()
    counted = []
    original = g.mean_latent
    monkeypatch.setattr(g, "mean_latent", lambda *a, **k: counted.append(1) or original(*a, **k))
    w_bar = rf.mean_w(g)
    assert w_bar.shape == (1, 512)
    mean_image = rf.synthesize(g, w_bar[:, None].repeat(1, g.n_latent, 1))[0]
    assert np.array_equal(rf.random_face(g, 1, 0.0), mean_image)
    centre = w_bar[:, None].repeat(1, g.n_latent, 1)
    assert torch.equal(rf.seed_w_plus(g, 2, 0.0, mix=(5, "coarse")), centre)  # every seed, mixed or not
    assert not torch.allclose(rf.seed_w_plus(g, 1, 0.5), centre)
    assert len(counted) == 1  # once per generator, then cached
    # a checkpoint's latent_avg is the centre instead
    avg = torch.randn(1, 512)
    g.register_buffer("latent_avg", avg, persistent=False)
    w0 = rf.seed_w_plus(g, 7, 0.0)
    assert torch.equal(w0, avg[:, None].repeat(1, g.n_latent, 1)) and len(counted) == 1
    with pytest.raises(InvalidArgumentError, match="0..1"):
        rf.seed_w_plus(g, 7, 1.5)
    with pytest.raises(InvalidArgumentError, match="seed"):
        rf.seed_w_plus(g, -1, 0.7)


def test_style_mixing_changes_only_the_chosen_layer_range(shared_dir) -> None:
    from tests.layouts import random_state_dict

    layout = REPO / "tests" / "data" / "stylegan2" / "layout_64_cm1.json"
    g = Generator(64, channel_multiplier=1)
    # 1/lr_mul on the mapping weights, as the official init does, so that w depends on z
    scale = lambda name, shape=None: 100.0 if name.startswith("style.") and name.endswith(".weight") else 1.0  # noqa: E731
    g.load_state_dict(random_state_dict(layout, seed=0, scale=scale), strict=True)
    g.eval().requires_grad_(False)
    assert g.n_latent == 10
    plain = rf.seed_w_plus(g, 3, 0.7)
    donor = rf.seed_w_plus(g, 11, 0.7)
    expected_rows = {"coarse": range(0, 4), "middle": range(4, 8), "fine": range(8, 10)}
    for layers, rows in expected_rows.items():
        mixed = rf.seed_w_plus(g, 3, 0.7, mix=rf.StyleMix(11, layers))
        for i in range(g.n_latent):
            source = donor if i in rows else plain
            assert torch.equal(mixed[0, i], source[0, i]), (layers, i)
        assert not torch.allclose(mixed[0, rows.start], plain[0, rows.start], atol=1e-3)
    with pytest.raises(InvalidArgumentError, match="coarse, middle, fine"):
        rf.StyleMix(11, "everything")
    small = make_generator()  # 16 px: 6 layers, so no fine layers to mix
    with pytest.raises(InvalidArgumentError, match="no fine layers"):
        rf.seed_w_plus(small, 3, 0.7, mix=(11, "fine"))


def test_session_from_seed_edits_the_exact_latent_with_one_generator_call(gan, networks) -> None:
    _reset()
    s = Session.from_seed(42, truncation=0.7)
    assert isinstance(s, rf.GeneratedSession) and s.engine_name != "lite" and s.engines["attributes"] == "gan"
    face = s.current.image
    assert face.shape == (SIZE, SIZE, 3) and np.array_equal(s.current.crop, face)
    assert np.array_equal(face, rf.random_face(networks["generator"], 42, 0.7))
    assert torch.equal(s.w_plus, rf.seed_w_plus(networks["generator"], 42, 0.7))
    assert "seed 42" in s.current.message and CountingEncoder.calls == 0
    assert s.attribute_names() == ["smile", "age", "pose"]

    _reset()
    parses = len(gan.parses)
    assert np.array_equal(s.set_attributes({"smile": 0.0}).image, face)  # slider 0: the face, unchanged
    assert CountingGenerator.calls == 0
    moved = s.set_attributes({"smile": 1.5})
    assert CountingGenerator.calls == 1 and CountingEncoder.calls == 0 and len(gan.parses) == parses
    lib = networks["directions"]
    expected = rf.synthesize(networks["generator"], lib.apply(s.w_plus, {"smile": 1.5}))[0]
    assert np.array_equal(moved.image, expected)  # the generated image itself, no paste-back
    assert moved.engine == "gan" and moved.device == "cpu" and not np.array_equal(moved.image, face)

    keep = s.set_attributes({"smile": 1.5}, conditions={"smile": ["age"]})
    cond = rf.synthesize(networks["generator"], lib.apply(s.w_plus, {"smile": 1.5}, {"smile": ["age"]}))[0]
    assert np.array_equal(keep.image, cond) and not np.array_equal(keep.image, moved.image)
    assert "keep age" in keep.message and s.conditions == {"smile": ("age",)}
    assert np.array_equal(s.undo().image, moved.image) and s.conditions == {}
    assert np.array_equal(s.redo().image, keep.image)
    assert np.array_equal(s.set_attributes({"smile": 0.0}).image, face)
    with pytest.raises(InvalidArgumentError, match="itself"):
        s.set_attributes({"age": 1.0}, conditions={"age": ["age"]})
    with pytest.raises(InvalidArgumentError, match="No direction"):
        s.set_attributes({"beard": 1.0})
    with pytest.raises(UnsupportedEditError, match="No face was found"):  # random weights draw no face
        s.edit_mask(np.zeros((SIZE, SIZE), np.uint8))


def test_mixed_session_matches_the_mixed_latent(gan, networks) -> None:
    s = Session.from_seed(42, truncation=0.7, mix=(7, "coarse"))
    assert torch.equal(s.w_plus, rf.seed_w_plus(networks["generator"], 42, 0.7, mix=(7, "coarse")))
    assert "coarse layers from seed 7" in s.current.message
    assert not np.array_equal(s.current.image, rf.random_face(networks["generator"], 42, 0.7))


def test_entanglement_strips_show_what_conditioning_removes(gan, networks) -> None:
    g, lib = networks["generator"], networks["directions"]
    w = rf.seed_w_plus(g, 42, 0.7)
    face = rf.random_face(g, 42, 0.7)
    assert rf.STRIP_ALPHAS == (-3.0, -2.0, -1.0, 0.0, 1.0, 2.0, 3.0)
    view = rf.entanglement_strips(g, w, lib, "smile", "age", alphas=(-3, 0, 3))
    assert view.alphas == (-3.0, 0.0, 3.0) and len(view.plain) == len(view.conditioned) == 3
    assert np.array_equal(view.plain[1], face) and np.array_equal(view.conditioned[1], face)
    smile = rf.synthesize(g, lib.apply(w, {"smile": 3.0}))[0]
    assert np.array_equal(view.plain[2], smile)  # a frame is the slider edit at that value
    assert not np.array_equal(view.plain[2], view.conditioned[2])
    assert not np.array_equal(view.plain[0], view.conditioned[0])
    assert abs(view.cosine_after) < 1e-6 and abs(view.cosine) > 1e-3
    assert view.image.shape[0] > 2 * SIZE and view.image.shape[1] >= 3 * SIZE
    with pytest.raises(InvalidArgumentError, match="itself"):
        rf.entanglement_strips(g, w, lib, "smile", "smile")


def test_cli_random_face_edit_and_grid(gan, networks, tmp_path, capsys) -> None:
    out = tmp_path / "face.png"
    assert main(["random", "--seed", "42", "--truncation", "0.7", "--smile", "1.5", "-o", str(out)]) == 0
    img = np.asarray(Image.open(out).convert("RGB"))
    lib = networks["directions"]
    w = rf.seed_w_plus(networks["generator"], 42, 0.7)
    assert img.shape == (SIZE, SIZE, 3)
    assert np.array_equal(img, rf.synthesize(networks["generator"], lib.apply(w, {"smile": 1.5}))[0])
    assert "gan engine" in capsys.readouterr().out

    sheet_path = tmp_path / "sheet.png"
    assert main(["random", "--seed", "5", "--grid", "1x2", "-o", str(sheet_path)]) == 0
    sheet = np.asarray(Image.open(sheet_path).convert("RGB"))
    assert sheet.shape[1] == 2 * SIZE + 2 and SIZE < sheet.shape[0] < 2 * SIZE
    assert np.array_equal(sheet[:SIZE, :SIZE], rf.random_face(networks["generator"], 5, 0.7))
    assert np.array_equal(sheet[:SIZE, SIZE + 2:], rf.random_face(networks["generator"], 6, 0.7))
    assert main(["random", "--grid", "9x9", "-o", str(sheet_path)]) == 2
    assert "1..64" in capsys.readouterr().err


def test_app_tab_handlers_generate_send_and_explain(gan, networks, monkeypatch) -> None:
    import gradio as gr

    from faceedit.ui import MAX_SLIDERS, UserState
    from faceedit.ui_random import build_random_tab, make_random_handlers, send_to_editor

    monkeypatch.setattr(rf, "STRIP_ALPHAS", (0.0, 2.0))  # a short strip keeps the test quick
    h = make_random_handlers()
    assert h["available"]() and "StyleGAN2" in h["status"]()
    image, note = h["generate"](42, 0.7, "none", 0)
    assert image.shape == (SIZE, SIZE, 3) and "seed 42" in note
    assert np.array_equal(image, rf.random_face(networks["generator"], 42, 0.7))
    session = h["session"](42, 0.7, "middle", 9)
    assert isinstance(session, rf.GeneratedSession) and session.mix == rf.StyleMix(9, "middle")
    assert session.current.image.shape == (SIZE, SIZE, 3)
    assert 0 <= h["dice"]() <= rf.MAX_SEED
    strip, text = h["entangle"](42, 0.7, "none", 0, "smile", "age")
    assert strip.shape[1] >= 2 * SIZE and "cosine" in text
    with pytest.raises(gr.Error, match="seed"):
        h["generate"](-5, 0.7, "none", 0)
    sent = send_to_editor(session)  # the app's /parse outputs, for the generated face
    assert len(sent) == 7 + MAX_SLIDERS and isinstance(sent[0], UserState) and sent[0].session is session
    assert np.array_equal(np.asarray(Image.open(sent[2]).convert("RGB")), session.current.image)
    with gr.Blocks():
        parts = build_random_tab(gr.State(None))
    assert parts["direction"].choices and parts["generate"].interactive


def test_without_generator_weights_the_lite_message_names_the_fetch_command(monkeypatch, tmp_path, capsys) -> None:
    import gradio as gr

    from faceedit.ui_random import build_random_tab, make_random_handlers

    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.delitem(base._engines, "gan", raising=False)
    monkeypatch.delenv("FACEEDIT_ENGINE", raising=False)
    command = "python -m faceedit weights fetch stylegan2.ffhq"
    with pytest.raises(WeightsMissingError) as err:
        Session.from_seed(1)
    assert command in str(err.value)
    assert main(["random", "--seed", "1", "-o", str(tmp_path / "x.png")]) == 2
    assert command in capsys.readouterr().err
    h = make_random_handlers()
    assert not h["available"]() and command in h["status"]()
    with gr.Blocks() as demo:
        parts = build_random_tab(gr.State(None))
    assert command in parts["status"].value and demo is not None


class InvertingEncoder(nn.Module):
    """Stands for e4e after a mask edit: returns a fixed W+ (the edited face is no longer the seed's)."""

    calls = 0

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = w

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        type(self).calls += 1
        return self.w.clone()


def test_a_generated_face_takes_mask_edits_undo_and_sliders_like_a_photo(gan, networks, astronaut,
                                                                         monkeypatch) -> None:
    """A face the generator drew (here the astronaut's aligned crop stands for it: random weights draw no
    face): the lite engine repaints it, the result is the image itself (no paste-back), sliders afterwards
    re-invert once, undo walks back to the generated face."""
    from faceedit.engines.lite import LiteEngine
    from faceedit.labels import INDEX
    from faceedit.session import prepare_photo

    photo = prepare_photo(astronaut, size=256, parse=LiteEngine())
    w = rf.seed_w_plus(networks["generator"], 42, 0.7)
    encoder = InvertingEncoder(w + 0.1)
    monkeypatch.setattr(gan, "encoder", encoder)
    face = photo.face
    face.cache.update({"gan": {"w": w}, "random": {"exact": True}})
    s = rf.GeneratedSession(face, {"attributes": "gan", "mask_edit": "lite", "swap": "lite"}, seed=42,
                            truncation=0.7, mix=None, directions=networks["directions"], face_found=True)
    start = s.current.image
    assert np.array_equal(start, face.crop)
    new = s.labels.copy()
    hair = s.labels == INDEX["hair"]
    new[np.roll(hair, 6, axis=0) & (s.labels == INDEX["background"])] = INDEX["hair"]
    edited = s.edit_mask(new)
    assert edited.engine == "lite" and np.array_equal(edited.image, edited.crop)
    assert edited.image.shape == face.crop.shape and not np.array_equal(edited.image, start)
    _reset()
    moved = s.set_attributes({"smile": 1.0})
    assert InvertingEncoder.calls == 1 and CountingGenerator.calls == 1  # the edited face is inverted once
    assert np.array_equal(moved.image, moved.crop) and not np.array_equal(moved.image, edited.image)
    assert np.array_equal(s.undo().image, edited.image) and np.array_equal(s.undo().image, start)
