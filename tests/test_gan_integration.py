"""The GAN engine with the real L2M-GAN and mask-guided model classes (small seeded weights), through Session.

No stand-ins for the models under test: the L2M ``Generator`` / ``StyleEncoder`` (at 64 px, narrow) and
Gu et al.'s ``MaskGuidedEditor`` (``div=32``: the official keys, widths divided by 32) run for real; forward
hooks count their passes.  The StyleGAN2 side reuses the small networks of ``test_gan_engine``.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from helpers import gan_composer
from l2m_recipe import he_weights, perturb
from mask_guided_fixtures import seeded_state_dict
from test_gan_engine import STYLE_DIM, CountingGenerator, SmallEncoder

from faceedit.directions import Direction, DirectionLibrary
from faceedit.editors.composer import Composer
from faceedit.editors.lite_texture import dilate
from faceedit.errors import InvalidArgumentError
from faceedit.labels import COMPONENTS, INDEX
from faceedit.session import Session

L2M = "smiling (L2M)"


def _entries(module: torch.nn.Module) -> list[dict]:
    """A module's own state-dict layout, in the official layout files' format."""
    return [{"name": k, "shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
            for k, v in module.state_dict().items()]


class Counter:
    """Counts forward passes of a real module."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.n = 0
        module.register_forward_hook(lambda *_: setattr(self, "n", self.n + 1))


@pytest.fixture(scope="module")
def l2m_nets():
    """Real L2M networks at 64 px, He-initialised like the official code (tests/l2m_recipe.py), loaded strictly
    through the registry's loader with the manifest's keyword arguments (the domain names)."""
    from faceedit import weights
    from faceedit.models.l2m import Generator, StyleEncoder, load_l2m

    shape = dict(img_size=64, style_dim=16, max_conv_dim=32)
    gen = Generator(w_hpf=1, base_dim=8, **shape)
    enc = StyleEncoder(num_domains=2, base_dim=8, **shape)
    ckpt = {"generator": perturb(he_weights(_entries(gen), 1), 101),
            "style_encoder": perturb(he_weights(_entries(enc), 3), 103)}
    for k, v in ckpt["style_encoder"].items():  # make the attribute transformer move the code visibly
        if k.startswith("transform2."):
            v.mul_(3)
    nets = load_l2m(ckpt, base_dim=8, **shape, **weights.spec_for("l2m.celebahq").kwargs)
    return nets, Counter(nets.generator), Counter(nets.style_encoder)


@pytest.fixture(scope="module")
def stylegan() -> dict:
    torch.manual_seed(0)
    gen = CountingGenerator(16, style_dim=STYLE_DIM, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    enc = SmallEncoder(3, gen.n_latent).eval().requires_grad_(False)
    rng = np.random.default_rng(0)
    lib = DirectionLibrary([Direction("smile", rng.standard_normal((1, STYLE_DIM)), scale=4.0)])
    return {"generator": gen, "encoder": enc, "directions": lib}




def _photo_mask(mask: np.ndarray, session: Session) -> np.ndarray:
    """A crop-space mask carried into the original photo (nearest, so nothing is lost at its border)."""
    h, w = session.original.shape[:2]
    m = np.asarray(session.alignment.matrix, np.float64)
    out = cv2.warpAffine(mask.astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return dilate(out > 0, 2)


# ---------------------------------------------------------------------------- L2M-GAN sliders (issue 13)


def test_l2m_slider_runs_only_the_l2m_generator_and_pastes_back(monkeypatch, l2m_nets, stylegan, astronaut) -> None:
    from faceedit.ui import badge

    nets, g_calls, e_calls = l2m_nets
    gan = gan_composer(l2m=nets, forced="gan", **stylegan)
    e_calls.n = 0
    s = Session.from_photo(astronaut, composer=gan)
    assert s.attribute_names() == ["smile", L2M] and s.attribute_range(L2M) == (-2.0, 2.0)
    l2m = gan.editors_for("attributes", "gan")[1]
    assert l2m.direction().kind == "l2m" and l2m.direction().metadata["domains"] == "not_smiling / smiling"
    assert e_calls.n == 1  # encoded once, when the photo was opened
    g_calls.n = e_calls.n = stylegan["encoder"].calls = CountingGenerator.calls = 0

    up = s.set_attributes({L2M: 1.0})
    assert (g_calls.n, e_calls.n, CountingGenerator.calls, stylegan["encoder"].calls) == (1, 0, 0, 0)
    assert up.engine == "gan" and up.image.shape == astronaut.shape and up.crop.shape == (512, 512, 3)
    assert "L2M-GAN not_smiling / smiling" in up.message and "L2M-GAN" in badge(up.engine, up.device, up.message)
    changed = np.any(up.image != astronaut, -1)
    assert changed.sum() > 5000 and not changed[:, :40].any()  # the face region only
    down = s.set_attributes({L2M: -1.0})
    assert g_calls.n == 2 and e_calls.n == 0 and not np.array_equal(down.crop, up.crop)

    zero = s.set_attributes({L2M: 0.0})
    assert np.array_equal(zero.image, astronaut) and g_calls.n == 2  # slider 0: the photo, bit for bit

    both = s.set_attributes({"smile": 1.5, L2M: 1.0})  # one pass of each generator, nothing encoded
    assert (g_calls.n, e_calls.n, CountingGenerator.calls, stylegan["encoder"].calls) == (3, 0, 1, 0)
    assert "StyleGAN2" in both.message and "L2M-GAN" in both.message and both.image.shape == astronaut.shape
    assert np.array_equal(s.undo().image, zero.image)
    with pytest.raises(InvalidArgumentError, match="-2..2"):
        s.set_attributes({L2M: 2.5})
    with pytest.raises(InvalidArgumentError, match="cannot be conditioned"):
        s.set_attributes({L2M: 1.0}, conditions={L2M: ["smile"]})


def test_l2m_preview_is_one_bfloat16_pass_close_to_the_release_and_not_kept(l2m_nets, astronaut) -> None:
    nets, g_calls, _ = l2m_nets
    gan = gan_composer(l2m=nets, forced="gan")
    s = Session.from_photo(astronaut, composer=gan)
    l2m = gan.editors_for("attributes", "gan")[0]
    l2m.runtime.preview_dtype = "bf16"  # what a CPU with native bfloat16 picks (preview_dtype)
    autocast: list[bool] = []
    hook = nets.generator.register_forward_hook(lambda *_: autocast.append(torch.is_autocast_enabled("cpu")))
    try:
        g_calls.n = 0
        p = s.preview_attributes({L2M: 1.0})
        assert g_calls.n == 1 and autocast == [True] and "preview" in p.message
        assert not s.can_undo and s.values == {}, "a preview is not a history step"
        full = s.set_attributes({L2M: 1.0})
        assert g_calls.n == 2 and autocast == [True, False], "the release runs float32, not the preview's result"
    finally:
        hook.remove()
    face = s._history[0].base.crop.astype(int)
    moved = np.any(full.crop != face, -1)
    assert moved.sum() > 5000
    err = np.abs(p.crop.astype(int) - full.crop)[moved].mean()
    change = np.abs(face - full.crop)[moved].mean()
    assert err < 0.25 * change, (err, change)


def test_the_imported_l2m_checkpoint_alone_offers_its_slider(monkeypatch, astronaut, tmp_path, shared_dir) -> None:
    """The whole chain at the published size: a nets_ema file in the official layout (seeded, no FAN) imported
    into the registry -> capabilities -> GanEngine.from_registry -> Session: the slider moves the face."""
    import l2m_recipe

    from faceedit import directions as directions_module
    from faceedit import weights

    layouts = shared_dir / "official-layouts" / "l2m"
    ckpt = {"generator": l2m_recipe.weights("generator", layouts),
            "style_encoder": l2m_recipe.weights("style_encoder", layouts)}
    torch.save(ckpt, tmp_path / "100000_nets_ema.ckpt")
    del ckpt
    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("FACEEDIT_ENGINE", raising=False)
    weights.clear_model_cache()
    weights.import_file(tmp_path / "100000_nets_ema.ckpt")  # found by its file name
    caps = weights.capabilities()
    assert caps["attributes"] and not caps["invert"] and not caps["mask_edit"] and not caps["swap"]
    monkeypatch.setattr(directions_module.DirectionLibrary, "from_registry", classmethod(lambda cls: None))
    try:
        composer = Composer.from_registry(device="cpu")
    finally:
        weights.clear_model_cache()
    assert [e.name for e in composer.editors if e.engine == "gan"] == ["L2M-GAN slider"]
    assert composer.attributes("gan").names() == ["smile", "age", "pose", "pitch", L2M]
    l2m = composer.pick("attributes", "gan").l2m
    assert l2m.nets.generator.img_size == 256 and l2m.nets.fan is None
    g_calls, e_calls = Counter(l2m.nets.generator), Counter(l2m.nets.style_encoder)
    s = Session.from_photo(astronaut, composer=composer)
    assert s.engines == {"attributes": "gan", "mask_edit": "lite", "swap": "lite"} and e_calls.n == 1
    r = s.set_attributes({L2M: 1.0})
    assert (g_calls.n, e_calls.n) == (1, 1) and r.engine == "gan" and r.image.shape == astronaut.shape
    assert np.any(r.image != astronaut, -1).sum() > 5000 and np.array_equal(r.image[:, :40], astronaut[:, :40])


def test_l2m_alone_keeps_the_lite_sliders_beside_its_own(monkeypatch, l2m_nets, astronaut) -> None:
    """Only the L2M checkpoint: the sliders are the lite engine's plus L2M's; each runs on its own model,
    L2M first on the aligned crop, the lite warp on its output; 0 everywhere is the photo; undo is exact."""
    from faceedit.editors.base import FaceState
    from faceedit.editors.lite import LiteSliders
    from faceedit.errors import UnsupportedEditError
    from faceedit.ui import badge

    nets, g_calls, e_calls = l2m_nets
    composer = gan_composer(l2m=nets)  # what l2m.celebahq alone gives
    s = Session.from_photo(astronaut, composer=composer)
    assert s.engines["attributes"] == "gan"
    assert s.attribute_names() == ["smile", "age", "pose", "pitch", L2M]
    assert s.attribute_range("pose") == (-3.0, 3.0) and s.attribute_range(L2M) == (-2.0, 2.0)
    g_calls.n = e_calls.n = 0

    smile = s.set_attributes({"smile": 1.5})  # a lite slider: the lite engine alone, no L2M network
    assert (g_calls.n, e_calls.n) == (0, 0) and smile.engine == "lite" and smile.device == "cpu"
    alone = Session.from_photo(astronaut, engine="lite", composer=composer).set_attributes({"smile": 1.5})
    assert np.array_equal(smile.image, alone.image) and "L2M" not in smile.message

    l2m = s.set_attributes({"smile": 0.0, L2M: 1.0})  # the L2M slider: its generator once, no style encoder
    assert (g_calls.n, e_calls.n) == (1, 0) and l2m.engine == "gan"
    assert "L2M-GAN" in l2m.message and "lite" not in l2m.message

    both = s.set_attributes({"smile": 1.5})  # L2M stays at 1 (its image cached), the lite warp on top
    assert (g_calls.n, e_calls.n) == (1, 0)
    assert both.engine == "gan+lite" and "L2M-GAN" in both.message and "lite engine smile" in both.message
    assert "gan+lite engines" in badge(both.engine, both.device, both.message)
    on_l2m = FaceState(crop=l2m.crop, labels=s.initial_labels, landmarks=s._history[0].base.landmarks)
    assert np.array_equal(both.crop, LiteSliders().apply(on_l2m, {"smile": 1.5}).crop)  # the order
    assert not np.array_equal(both.image, l2m.image) and not np.array_equal(both.image, smile.image)
    turned = s.set_attributes({"pose": 1.0, L2M: -1.0})
    assert (g_calls.n, e_calls.n) == (2, 0) and turned.engine == "gan+lite" and "pose" in turned.message

    zero = s.set_attributes({"smile": 0.0, "pose": 0.0, L2M: 0.0})
    assert np.array_equal(zero.image, astronaut) and g_calls.n == 2  # 0 everywhere: the photo, bit for bit
    assert np.array_equal(s.undo().image, turned.image) and np.array_equal(s.undo().image, both.image)
    assert np.array_equal(s.redo().image, turned.image) and g_calls.n == 2
    with pytest.raises(InvalidArgumentError, match="-3..3"):
        s.set_attributes({"age": 3.5})
    with pytest.raises(UnsupportedEditError, match="no conditions"):
        s.set_attributes({"smile": 1.0}, conditions={"smile": ["age"]})


# ---------------------------------------------------------------------------- mask-guided generator (issue 12)


@pytest.fixture(scope="module")
def mask_guided():
    """Gu et al.'s model class at 1/32 width (the official keys), seeded weights loaded strictly."""
    from faceedit.mask_guided_official import MaskGuidedEditor
    from faceedit.models.mask_guided import load_network

    model = MaskGuidedEditor(with_image_decoders=False, with_parser=False, div=32)
    for i, label in enumerate(model.labels()):
        net = model.network(label)
        load_network(net, seeded_state_dict(_entries(net), 7000 + i), label)
    model.eval().requires_grad_(False)
    return model, Counter(model.G.bg_decoder[0]), Counter(model.encoder_mouth)


def test_painting_bigger_lips_with_the_mask_guided_model(monkeypatch, mask_guided, astronaut) -> None:
    from faceedit.imaging import from_tensor

    model, g_passes, encodes = mask_guided
    gan = gan_composer(mask_guided=model)
    s = Session.from_photo(astronaut, composer=gan)
    assert s.engines["mask_edit"] == "gan"
    new = s.labels.copy()
    lips = np.isin(new, COMPONENTS["mouth"])
    new[dilate(lips, 7) & (new == INDEX["skin"])] = INDEX["l_lip"]
    g_passes.n = encodes.n = 0
    r = s.edit_mask(new)
    assert g_passes.n == 1 and encodes.n == 1 and "mask-guided" in r.message and r.engine == "gan"
    assert r.image.shape == astronaut.shape and r.crop.shape == (512, 512, 3)

    painted = new != s.initial_labels
    changed_crop = np.any(r.crop != s.crop, -1)
    assert (changed_crop & painted).sum() > 0.5 * painted.sum()  # the lips' surroundings are redrawn
    assert not (changed_crop & ~dilate(painted, 40)).any()  # changed region + margin only
    changed_photo = np.any(r.image != astronaut, -1)
    assert (changed_photo & _photo_mask(painted, s)).any()
    assert not (changed_photo & ~_photo_mask(dilate(painted, 40), s)).any()  # the rest: the original bytes

    # the cached app path gives the official edit (Gu et al.'s inference) where the edit shows fully
    helen = gan.pick("mask_edit", "gan").helen_inputs
    small, old_h = helen(s.crop, s.initial_labels)
    official = from_tensor(model.edit(small, old_h, helen(s.crop, new)[1]))
    official = cv2.resize(official, (512, 512), interpolation=cv2.INTER_LINEAR)
    assert np.abs(r.crop[painted].astype(int) - official[painted]).max() <= 2

    # the original face's features stay cached: another painting of it runs one G pass, no encoder
    s.undo()
    more = s.labels.copy()
    more[dilate(lips, 4) & (more == INDEX["skin"])] = INDEX["u_lip"]
    g_passes.n = encodes.n = 0
    s.edit_mask(more)
    assert g_passes.n == 1 and encodes.n == 0


def test_swapping_eyes_with_the_mask_guided_model(monkeypatch, mask_guided, astronaut) -> None:
    model, g_passes, encodes = mask_guided
    s = Session.from_photo(astronaut, composer=gan_composer(mask_guided=model))
    reference = np.ascontiguousarray(cv2.resize(astronaut, (400, 400))[:, ::-1])
    g_passes.n = encodes.n = 0
    r = s.swap(reference, ["eyes"])
    assert g_passes.n == 1 and encodes.n == 2  # the face prepared once, the reference encoded once
    assert "mask-guided" in r.message and r.image.shape == astronaut.shape and r.engine == "gan"
    eyes = np.isin(s.initial_labels, COMPONENTS["eyes"])
    changed = np.any(r.crop != s.crop, -1)
    assert (changed & eyes).any() and not (changed & ~dilate(eyes, 40)).any()
    assert not (np.any(r.image != astronaut, -1) & ~_photo_mask(dilate(eyes, 40), s)).any()
