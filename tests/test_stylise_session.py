"""Art styles through the Session and the composer: GAN styles on synthetic official-layout networks (16 px
StyleGAN2 G_A and a fine-tuned copy G_B, toy e4e), lite styles offline, the style picker, artworks, training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import CountingGenerator, gan_composer
from test_gan_engine import STYLE_DIM, SmallEncoder

from faceedit.align import face_region
from faceedit.art import available_styles, open_artwork, style_gallery, stylise, train_style
from faceedit.directions import Direction, DirectionLibrary
from faceedit.editors import lite_texture as tex
from faceedit.editors.composer import Composer
from faceedit.editors.gan_runtime import image_at
from faceedit.editors.lite import lite_editors
from faceedit.editors.stylise_editors import GanStylise, trained_styles
from faceedit.errors import InvalidArgumentError, NoFaceFoundError, WeightsMissingError
from faceedit.session import Session, prepare_photo

pytestmark = pytest.mark.usefixtures("one_thread")
SIZE = 256


@pytest.fixture(scope="module")
def nets() -> dict:
    torch.manual_seed(0)
    g_a = CountingGenerator(16, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g_b = CountingGenerator(16, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g_b.load_state_dict(g_a.state_dict())
    with torch.no_grad():  # a style fine-tuned from G_A, as NADA / JoJoGAN / DiFa styles are
        for name, p in g_b.named_parameters():
            if name.startswith(("convs.", "conv1.", "input.")):
                p.add_(0.5 * torch.randn_like(p))
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction("smile", rng.standard_normal((1, STYLE_DIM)), scale=4.0)])
    enc = SmallEncoder(3, g_a.n_latent).eval().requires_grad_(False)
    return {"g_a": g_a, "g_b": g_b, "encoder": enc, "directions": lib}


@pytest.fixture(scope="module")
def composer(nets) -> Composer:
    return gan_composer(generator=nets["g_a"], encoder=nets["encoder"], directions=nets["directions"],
                        styles={"style.test.toon": nets["g_b"]})


def _synth(g, w) -> np.ndarray:
    with torch.inference_mode():
        return image_at(g.synthesis(w, noise_mode="const"), SIZE)


def test_stylise_then_sliders_one_generator_pass_each_and_one_inversion(composer, nets, astronaut) -> None:
    enc, lib = nets["encoder"], nets["directions"]
    enc.calls = 0
    s = Session.from_photo(astronaut, composer=composer, size=SIZE)
    assert enc.calls == 1, "the photo is inverted once, when the session opens"
    CountingGenerator.calls = 0
    r = stylise(s, "toon", strength=1.0)
    assert CountingGenerator.calls == 1 and r.engine == "gan" and "toon" in r.message
    face = prepare_photo(s).face.cache["stylise"]["source"]
    w = face.cache["gan"]["w"]
    region = face_region(face.labels)
    assert np.array_equal(r.crop, tex.blend(face.crop, _synth(nets["g_b"], w), region)), "G_B renders the W+"
    styled = r.crop
    for value in (1.0, 2.0, -1.5):  # each slider move: one pass, in G_B
        CountingGenerator.calls = 0
        r = s.set_attributes({"smile": value})
        assert CountingGenerator.calls == 1 and "toon" in r.message, "the badge still names the style"
        moved = lib.apply(w, {"smile": value})
        assert np.array_equal(r.crop, tex.blend(styled, _synth(nets["g_b"], moved), region))
    assert enc.calls == 1, "no second inversion: the stylise editor reuses the InterfaceGAN editor's W+"
    assert not np.array_equal(r.image, astronaut) and np.array_equal(r.image[:60, :60], astronaut[:60, :60])
    # another style choice starts from the photo again, never from the stylised face
    r0 = stylise(s, "style.test.toon", strength=0.0, values={"smile": 0.0})
    assert np.array_equal(r0.crop, tex.blend(face.crop, _synth(nets["g_a"], w), region)), "strength 0 is G_A"
    assert enc.calls == 1
    s.undo()  # the sliders set after the restyle, then the restyle itself
    assert np.array_equal(s.undo().crop, r.crop), "undo goes back to the last slider move in G_B"


def test_strength_0_equals_the_g_a_result_and_strength_is_checked(composer, nets, astronaut) -> None:
    s = Session.from_photo(astronaut, composer=composer, size=SIZE)
    r0 = stylise(s, "toon", strength=0.0)
    r1 = stylise(s, "toon", strength=1.0)
    face = prepare_photo(s).face.cache["stylise"]["source"]
    g_a_result = tex.blend(face.crop, _synth(nets["g_a"], face.cache["gan"]["w"]), face_region(face.labels))
    assert np.array_equal(r0.crop, g_a_result) and not np.array_equal(r1.crop, g_a_result)
    with pytest.raises(InvalidArgumentError, match="0..1"):
        stylise(s, "toon", strength=1.5)


def test_unknown_style_lists_the_available_ones(composer, astronaut) -> None:
    s = Session.from_photo(astronaut, composer=composer, size=SIZE)
    with pytest.raises(InvalidArgumentError, match=r"'van_gogh' is not available.*style\.test\.toon.*lite:cartoon"):
        stylise(s, "van_gogh")
    offline = Session.from_photo(astronaut, composer=Composer(lite_editors()), size=SIZE)
    with pytest.raises(InvalidArgumentError, match="--preset art"):
        stylise(offline, "anime")


def test_a_lite_engine_choice_offers_only_the_lite_styles(composer) -> None:
    assert [i.engine for i in available_styles(composer)] == ["gan", "lite", "lite", "lite"]
    assert [i.engine for i in available_styles(composer, "lite")] == ["lite"] * 3
    with pytest.raises(WeightsMissingError, match="--preset art"):
        open_artwork(np.zeros((64, 64, 3), np.uint8), "toon", composer, engine="lite")


def test_lite_styles_work_offline_through_the_session(astronaut) -> None:
    s = Session.from_photo(astronaut, composer=Composer(lite_editors()), size=SIZE)
    assert [i.id for i in available_styles(s.composer)] == ["lite:edge_preserving", "lite:pencil", "lite:cartoon"]
    r = stylise(s, "lite:pencil")
    assert r.engine == "lite" and "pencil" in r.message
    face = r.crop.astype(int)
    assert np.abs(face - s.crop).mean() > 10, "the face is redrawn"
    assert np.array_equal(r.image[:60, :60], astronaut[:60, :60]), "the photo around the face is untouched"
    inner = face_region(s.initial_labels) > 0.99
    grey = np.abs(face[inner] - face[inner].mean(-1, keepdims=True)).max()
    assert grey <= 1, "a pencil sketch is grey inside the face"
    assert np.array_equal(stylise(s, "cartoon", strength=0.0).image, astronaut), "strength 0 is the photo"
    plain = stylise(s, "cartoon")
    smiled = stylise(s, "cartoon", values={"smile": 1.0})  # the lite sliders run on the stylised face
    assert smiled.engine == "lite" and not np.array_equal(smiled.crop, plain.crop) and s.values == {"smile": 1.0}
    moved = s.set_attributes({"smile": 2.0})  # a slider on the Attributes tab: the face stays a cartoon
    assert "cartoon" in moved.message and moved.message.count("cartoon") == 1


def test_gallery_shows_the_photo_in_every_style_without_history(composer, astronaut) -> None:
    s = Session.from_photo(astronaut, composer=composer, size=SIZE)
    items = style_gallery(s, strength=1.0)
    assert [label.split(" [")[1] for _, label in items] == ["gan]", "lite]", "lite]", "lite]"]
    assert all(img.shape == (SIZE, SIZE, 3) for img, _ in items)
    assert len({img.tobytes() for img, _ in items}) == 4 and not s.can_undo


def test_trained_styles_are_listed_and_load_strictly(tmp_path, nets, astronaut) -> None:
    from safetensors.torch import save_file

    run = tmp_path / "runs" / "my-style"
    (run / "samples").mkdir(parents=True)
    save_file({f"g_ema.{k}": v.contiguous() for k, v in nets["g_b"].state_dict().items()},
              str(run / "generator.safetensors"))
    (run / "samples" / "000000.png").write_bytes(b"")
    (run / "style.json").write_text(json.dumps({"name": "my-style", "label": "DiFa: my art", "operations": ["stylise"],
                                                "generator": "generator.safetensors",
                                                "thumbnail": "samples/000000.png"}))
    (tmp_path / "runs" / "half-written").mkdir()
    (tmp_path / "runs" / "half-written" / "style.json").write_text("{")
    found = trained_styles(tmp_path)
    assert [(i.id, i.label, i.engine) for i in found] == [("trained:my-style", "DiFa: my art", "gan")]
    assert found[0].thumbnail and found[0].thumbnail.endswith("000000.png")
    comp = gan_composer(generator=nets["g_a"], encoder=nets["encoder"], styles_root=tmp_path)
    s = Session.from_photo(astronaut, composer=comp, size=SIZE)
    r = stylise(s, "my-style")
    face = prepare_photo(s).face.cache["stylise"]["source"]
    assert np.array_equal(r.crop, tex.blend(face.crop, _synth(nets["g_b"], face.cache["gan"]["w"]),
                                            face_region(face.labels)))


def test_an_artwork_is_compared_in_g_a_and_g_b_and_a_non_face_is_refused(composer, nets, astronaut) -> None:
    from faceedit.editors.stylise import lite_stylise

    cartoon = lite_stylise(astronaut, "cartoon").image  # a drawn face
    s, (a, b) = open_artwork(cartoon, "toon", composer, size=SIZE)
    w = prepare_photo(s).face.cache["stylise"]["source"].cache["gan"]["w"]
    assert np.array_equal(a, _synth(nets["g_a"], w)) and np.array_equal(b, _synth(nets["g_b"], w))
    assert s.current.engine == "gan" and s.current.image.shape == cartoon.shape
    strip = s.attribute_strip("smile", (-3.0, 3.0))  # the animation frames render in G_B
    assert not np.array_equal(strip[0], strip[1])
    rng = np.random.default_rng(1)
    texture = (rng.random((256, 256, 3)) * 255).astype(np.uint8)
    with pytest.raises(NoFaceFoundError, match="No face was found in this artwork"):
        open_artwork(texture, "toon", composer)
    with pytest.raises(WeightsMissingError, match="--preset art"):
        open_artwork(cartoon, None, Composer(lite_editors()))


def test_training_on_cpu_answers_with_an_estimate_and_starts_nothing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FACEEDIT_STYLES_DIR", str(tmp_path))
    answer = train_style(tmp_path / "art.png", cuda=False)
    assert isinstance(answer, str) and "an estimate" in answer and "hours" in answer and "GPU" in answer
    assert not any(tmp_path.iterdir()), "nothing was written"


def test_training_with_cuda_writes_into_the_styles_folder(tmp_path, monkeypatch) -> None:
    """The button's CUDA path, wired to DiFa (its loading and training stand in here: no GPU in the tests)."""
    from faceedit.train import difa

    monkeypatch.setenv("FACEEDIT_STYLES_DIR", str(tmp_path / "styles"))
    target = tmp_path / "my art.png"
    target.write_bytes(b"")
    loaded, steps = [], []
    monkeypatch.setattr(difa, "_load", lambda name, kind, dev: loaded.append((name, kind, dev.type)) or
                        type("E", (), {"encode": None})())

    def fake_train(opts, g_a, encoder, clips, progress=None):
        for i in range(3):
            progress(i, 3, {"loss": 1.0 / (i + 1)})
        return Path(opts.out) / "style.json"

    monkeypatch.setattr(difa, "train", fake_train)
    done = train_style(target, progress=lambda i, n, m: steps.append((i, n)), cuda=True)
    assert done.parent.parent == tmp_path / "styles" / "runs" and done.parent.name.startswith("my art-")
    assert [k for _, k, _ in loaded] == ["generator", "encoder", "clip", "clip"] and {d for *_, d in loaded} == {"cuda"}
    assert steps == [(0, 3), (1, 3), (2, 3)]


def test_gan_stylise_is_built_only_with_the_encoder_and_a_style(monkeypatch, tmp_path) -> None:
    from faceedit.editors.gan_runtime import GanRuntime

    monkeypatch.setenv("FACEEDIT_STYLES_DIR", str(tmp_path))
    monkeypatch.setattr("faceedit.editors.stylise_editors.installed", lambda req: False)
    assert GanStylise.from_registry(GanRuntime(device="cpu")) is None
