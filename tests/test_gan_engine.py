"""The GAN engine's orchestration with small synthesized networks (no published weights needed).

The generator is the project's StyleGAN2 (rosinality layout) at 16 px with a 64-wide
latent, seeded; the encoders are small modules with the pSp/e4e interface
(``encode(x in [-1, 1], 256x256) -> W+`` including the latent average).  Each counts
its calls, so the tests see what a slider move, a mask edit and a swap run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer, run_in_threads
from torch import nn

from faceedit.directions import Direction, DirectionLibrary
from faceedit.editors.composer import Composer
from faceedit.editors.lite_texture import dilate
from faceedit.errors import InvalidArgumentError, UnsupportedEditError, WeightsMissingError
from faceedit.labels import COMPONENTS, INDEX
from faceedit.session import Session

STYLE_DIM = 64
SIZE = 16


class SmallEncoder(nn.Module):
    """pSp/e4e interface at toy size: image (or one-hot map) -> W+ around ``latent_avg``."""

    def __init__(self, in_channels: int, n_latent: int) -> None:
        super().__init__()
        self.n_latent = n_latent
        self.body = nn.Sequential(nn.Conv2d(in_channels, 8, 8, stride=8), nn.LeakyReLU(0.2), nn.AdaptiveAvgPool2d(4))
        self.head = nn.Linear(8 * 16, n_latent * STYLE_DIM)
        self.register_buffer("latent_avg", torch.randn(STYLE_DIM) * 0.1)
        self.calls = 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-2:] == (256, 256)
        self.calls += 1
        w = self.head(self.body(x).flatten(1)).view(x.shape[0], self.n_latent, STYLE_DIM)
        return w + self.latent_avg


@pytest.fixture(scope="module")
def networks() -> dict:
    torch.manual_seed(0)
    gen = CountingGenerator(SIZE, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    enc = SmallEncoder(3, gen.n_latent).eval().requires_grad_(False)
    seg = SmallEncoder(19, gen.n_latent).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction("smile", rng.standard_normal((1, STYLE_DIM)), scale=4.0),
                            Direction("age", rng.standard_normal((1, STYLE_DIM)), scale=4.0, layers=(0, 4))])
    return {"generator": gen, "encoder": enc, "seg2face": seg, "directions": lib}


@pytest.fixture()
def gan(networks: dict) -> Composer:
    """The GAN editors of the small networks (InterfaceGAN, seg-to-face, re-encode swap, random) + lite."""
    return gan_composer(**networks)


def _reset(networks: dict) -> None:
    CountingGenerator.calls = 0
    networks["encoder"].calls = networks["seg2face"].calls = 0


def test_a_slider_move_runs_the_generator_once_and_no_encoder(gan, networks, astronaut) -> None:
    s = Session.from_photo(astronaut, engine="gan", composer=gan)
    assert s.engine_name == "gan" and set(s.attribute_names()) == {"smile", "age"}
    assert networks["encoder"].calls == 1  # inverted once, when the photo was opened
    _reset(networks)
    first = s.set_attributes({"smile": 1.0})
    second = s.set_attributes({"smile": -2.0, "age": 1.0})
    assert CountingGenerator.calls == 2 and networks["encoder"].calls == 0
    for r in (first, second):
        assert r.engine == "gan" and r.device == "cpu"
        assert r.image.shape == astronaut.shape and r.crop.shape == (512, 512, 3)
        assert not np.array_equal(r.image, astronaut)
        assert np.array_equal(r.image[:, :40], astronaut[:, :40])  # only the face region is pasted
    assert not np.array_equal(first.crop, second.crop)
    assert np.array_equal(s.set_attributes({"smile": 0.0, "age": 0.0}).image, astronaut)
    assert np.array_equal(s.undo().image, second.image)


def test_two_sessions_in_threads_do_not_mix_state(gan, networks, astronaut) -> None:
    photos = [astronaut, np.ascontiguousarray(astronaut[:, ::-1])]
    values = [{"smile": 1.5}, {"age": -1.0}]
    expected = [Session.from_photo(p, engine="gan", composer=gan).set_attributes(v).image for p, v in zip(photos, values)]
    sessions = [Session.from_photo(p, engine="gan", composer=gan) for p in photos]
    w0 = sessions[0]._history[0].base.cache["gan"]["w"]
    w1 = sessions[1]._history[0].base.cache["gan"]["w"]
    assert not torch.equal(w0, w1)
    results: list = [None, None]

    def work(i: int) -> None:
        for _ in range(3):
            results[i] = sessions[i].set_attributes(values[i])

    run_in_threads(work, 2)
    for i in range(2):
        assert np.array_equal(results[i].image, expected[i])
        assert sessions[i].values == values[i]


def test_mask_edit_by_seg_to_face_shows_only_over_the_change(gan, networks, astronaut) -> None:
    s = Session.from_photo(astronaut, engine="gan", composer=gan)
    new = s.labels.copy()
    mouth = np.isin(new, COMPONENTS["mouth"])
    new[dilate(mouth, 6) & (new == INDEX["skin"])] = INDEX["u_lip"]
    _reset(networks)
    r = s.edit_mask(new)
    assert networks["seg2face"].calls == 1 and CountingGenerator.calls == 1
    assert "segmentation-to-face" in r.message and r.engine == "gan"
    changed = np.any(r.crop != s.crop, -1)
    assert changed.any() and not (changed & ~dilate(new != s.initial_labels, 40)).any()
    s.composer = gan_composer(**{**networks, "seg2face": None})  # a server without seg-to-face weights
    with pytest.raises(UnsupportedEditError, match="lite engine"):
        s.edit_mask(_paint_more(new))


def _paint_more(labels: np.ndarray) -> np.ndarray:
    out = labels.copy()
    out[dilate(labels == INDEX["hair"], 10) & (labels == INDEX["background"])] = INDEX["hair"]
    return out


def test_swap_reencodes_the_composite_and_keeps_the_rest(gan, networks, astronaut) -> None:
    s = Session.from_photo(astronaut, engine="gan", composer=gan)
    reference = np.ascontiguousarray(astronaut[:, ::-1])
    _reset(networks)
    r = s.swap(reference, ["mouth"])
    # The reference is aligned and parsed (no inversion), the composite encoded once, generated once;
    # the new face's W+ is reused for the next slider move.
    assert networks["encoder"].calls == 1 and CountingGenerator.calls == 1
    assert "re-encoded composite" in r.message and r.image.shape == astronaut.shape
    changed = np.any(r.crop != s.crop, -1)
    near = dilate(np.isin(s.initial_labels, COMPONENTS["mouth"]) | np.isin(s.labels, COMPONENTS["mouth"]), 40)
    assert changed.any() and not (changed & ~near).any()
    _reset(networks)
    s.set_attributes({"smile": 1.0})
    assert networks["encoder"].calls == 0 and CountingGenerator.calls == 1


# The mask-guided generator in this engine is tested with the real model class: tests/test_gan_integration.py.


# ---------------------------------------------------------------------------- random faces (issue 14)


def test_a_seed_gives_the_same_face_in_every_run_and_process(gan, networks, tmp_path) -> None:
    import subprocess
    import sys

    a = Session.from_seed(42, truncation=0.7, composer=gan)
    b = Session.from_seed(42, truncation=0.7, composer=gan)
    assert a.current.image.shape == (SIZE, SIZE, 3) and a.current.engine == "gan"
    assert np.array_equal(a.current.image, b.current.image)
    assert not np.array_equal(a.current.image, Session.from_seed(43, truncation=0.7, composer=gan).current.image)
    torch.save(networks["generator"].state_dict(), tmp_path / "g.pt")
    script = f"""
import numpy as np, torch
from faceedit.editors.gan_runtime import GanRuntime, StyleSpace
from faceedit.editors.random_face import RandomFaces
from faceedit.models.stylegan2 import Generator
g = Generator({SIZE}, style_dim={STYLE_DIM}, n_mlp=2, channel_multiplier=1)
g.load_state_dict(torch.load(r"{tmp_path / 'g.pt'}", weights_only=True), strict=True)
e = RandomFaces(StyleSpace(GanRuntime("cpu"), g.eval()))
np.save(r"{tmp_path / 'face.npy'}", e.generate(e.sample(42, 0.7), {SIZE}))
"""
    subprocess.run([sys.executable, "-c", script], check=True, cwd=str(tmp_path), timeout=120,
                   env={**__import__("os").environ, "PYTHONPATH": str(__import__("pathlib").Path(__file__).parents[1])})
    alone = gan_composer(generator=networks["generator"]).random()  # no encoder: mean latent from samples
    assert np.array_equal(np.load(tmp_path / "face.npy"), alone.generate(alone.sample(42, 0.7), SIZE))


def test_truncation_zero_gives_the_mean_face_and_sliders_move_it(gan, networks) -> None:
    s = Session.from_seed(7, truncation=0.0, composer=gan)
    mean = gan.random().mean_latent()[:, None].expand(1, networks["generator"].n_latent, STYLE_DIM)
    assert np.array_equal(s.current.image, gan.random().generate(mean, SIZE))
    s = Session.from_seed(7, truncation=0.8, composer=gan)
    _reset(networks)
    moved = s.set_attributes({"smile": 2.0})
    assert CountingGenerator.calls == 1 and networks["encoder"].calls == 0
    assert moved.image.shape == (SIZE, SIZE, 3) and not np.array_equal(moved.image, s.undo().image)
    assert np.array_equal(s.set_attributes({"smile": 0.0}).image, s.history_start().image)


def test_style_mixing_changes_only_the_chosen_layers(gan) -> None:
    faces = gan.random()
    own, other = faces.sample(11, 0.7), faces.sample(12, 0.7)
    s = Session.from_seed(11, truncation=0.7, mix=("coarse", 12), composer=gan)
    w = s._history[0].base.cache["gan"]["w"]
    assert torch.equal(w[:, :4], other[:, :4]) and torch.equal(w[:, 4:], own[:, 4:])
    with pytest.raises(InvalidArgumentError, match="coarse, middle, fine"):
        faces.mix(own, other, "everything")


def test_random_command_writes_generator_sized_images(gan, tmp_path, capsys) -> None:
    from PIL import Image

    from faceedit.cli import main

    assert main(["random", "--seed", "42", "--truncation", "0.7", "--smile", "1.5", "-o", str(tmp_path / "f.png")],
                composer=gan) == 0
    assert "gan engine" in capsys.readouterr().out
    assert np.asarray(Image.open(tmp_path / "f.png")).shape == (SIZE, SIZE, 3)
    assert main(["random", "--seed", "1", "--grid", "2x3", "-o", str(tmp_path / "g.png")], composer=gan) == 0
    assert np.asarray(Image.open(tmp_path / "g.png")).shape == (2 * SIZE, 3 * SIZE, 3)


def test_random_faces_without_a_generator_say_how_to_get_one(monkeypatch, capsys, tmp_path) -> None:
    from faceedit.cli import main

    lite = gan_composer()  # what a server without GAN weights has
    with pytest.raises(WeightsMissingError, match="weights fetch stylegan2.ffhq"):
        Session.from_seed(1, composer=lite)
    assert main(["random", "--seed", "1", "-o", str(tmp_path / "x.png")], composer=lite) == 2
    assert "lite engine cannot draw new faces" in capsys.readouterr().err


def test_conditional_editing_and_the_entanglement_strip(gan, networks) -> None:
    s = Session.from_seed(5, truncation=0.7, composer=gan)
    _reset(networks)
    plain = s.attribute_strip("smile", (-2.0, 0.0, 2.0))
    kept = s.attribute_strip("smile", (-2.0, 0.0, 2.0), conditions=["age"])
    assert CountingGenerator.calls == 4  # alpha 0 is the face itself, no generator pass
    assert np.array_equal(plain[1], s.current.image) and np.array_equal(kept[1], plain[1])
    assert not np.array_equal(plain[2], kept[2])  # conditioning on age changes the smile direction
    r = s.set_attributes({"smile": 2.0}, conditions={"smile": ["age"]})
    assert np.array_equal(r.image, kept[2])
    with pytest.raises(InvalidArgumentError, match="beard"):
        s.set_attributes({"smile": 1.0}, conditions={"smile": ["beard"]})


def test_from_registry_wires_the_published_models(monkeypatch, networks) -> None:
    """e4e by default (pSp with FACEEDIT_ENCODER=psp); its decoder is the generator; loaded via the registry."""
    from faceedit import directions as directions_module
    from faceedit import weights

    class Wrapper:
        def __init__(self, name: str) -> None:
            self.name, self.decoder, self.latent_avg = name, networks["generator"], None

    present = {"e4e.ffhq_encode", "psp.ffhq_encode", "psp.celebs_seg_to_face", "interfacegan.stylegan2_ffhq_w.smile"}
    loaded: list[str] = []

    def load_model(name: str, device=None):
        loaded.append(name)
        return Wrapper(name)

    monkeypatch.setattr(weights, "registry", lambda: dict.fromkeys(present | {"stylegan2.ffhq"}))
    monkeypatch.setattr(weights, "local_path", lambda name: __import__("pathlib").Path(name) if name in present else None)
    monkeypatch.setattr(weights, "load_model", load_model)
    monkeypatch.setattr(directions_module.DirectionLibrary, "from_registry", classmethod(lambda cls: networks["directions"]))
    monkeypatch.delenv("FACEEDIT_ENCODER", raising=False)
    composer = Composer.from_registry(device="cpu")
    sliders, mask_edit = composer.pick("attributes", "gan"), composer.pick("mask_edit", "gan")
    assert sliders.style.encoder.name == "e4e.ffhq_encode" and sliders.style.generator is networks["generator"]
    assert mask_edit.seg2face.name == "psp.celebs_seg_to_face" and mask_edit.style is sliders.style
    assert [e.name for e in composer.editors_for("swap", "gan")] == ["re-encode swap"]  # no mask-guided weights
    assert composer.parser is None and composer.can("random", "gan")
    assert composer.attributes("gan").names() == ["smile", "age"] and "stylegan2.ffhq" not in loaded
    monkeypatch.setenv("FACEEDIT_ENCODER", "psp")
    assert Composer.from_registry(device="cpu").pick("attributes", "gan").style.encoder.name == "psp.ffhq_encode"


def test_forced_gan_with_some_weights_fails_only_where_they_are_missing(networks, astronaut) -> None:
    encoder_only = gan_composer(generator=networks["generator"], encoder=networks["encoder"],
                                directions=networks["directions"], forced="gan")
    s = Session.from_photo(astronaut, composer=encoder_only)
    assert s.engines == {"attributes": "gan", "mask_edit": "gan", "swap": "gan"}
    assert s.set_attributes({"smile": 1.0}).engine == "gan"
    with pytest.raises(WeightsMissingError, match="mask edit"):
        s.edit_mask(s.labels)
    encoder_only.forced = None
    auto = Session.from_photo(astronaut, composer=encoder_only)  # the encoder alone serves swaps (re-encode)
    assert auto.engines == {"attributes": "gan", "mask_edit": "lite", "swap": "gan"}
