"""L2M-GAN networks: strict loading of every official layout, the checkpoint file, and the slider editor."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.editors.l2m import L2MEditor
from faceedit.errors import CheckpointLayoutError, InvalidArgumentError, WeightsVerificationError
from faceedit.models.l2m import (
    Discriminator,
    Generator,
    L2MNets,
    ResNet18Features,
    StyleEncoder,
    edit_style,
    load_l2m,
    load_l2m_file,
    load_strict,
)
from faceedit.models.wing import FAN


def _zeros(layout: Path) -> dict[str, torch.Tensor]:
    dtypes = {"float32": torch.float32, "int64": torch.int64}
    return {e["name"]: torch.zeros(e["shape"], dtype=dtypes[e["dtype"]]) for e in json.loads(layout.read_text())}


@pytest.fixture(scope="module")
def layouts(shared_dir: Path) -> Path:
    return shared_dir / "official-layouts" / "l2m"


@pytest.mark.parametrize(
    ("file", "make"),
    [
        ("generator.json", lambda: Generator(256, 64, 512, w_hpf=1)),
        ("generator_whpf0.json", lambda: Generator(256, 64, 512, w_hpf=0)),
        ("style_encoder.json", lambda: StyleEncoder(256, 64, 2, 512)),
        ("discriminator.json", lambda: Discriminator(256, 2, 512)),
        ("fan_keys.json", FAN),
    ],
)
def test_every_official_layout_loads_strictly_and_fails_loudly(layouts, file, make):
    net, sd = make(), _zeros(layouts / file)
    assert list(net.state_dict()) == list(sd)  # same keys in the same order
    load_strict(net, sd, file)
    first = next(iter(sd))
    with pytest.raises(CheckpointLayoutError, match=f"1 missing: {first}"):
        load_strict(net, {k: v for k, v in sd.items() if k != first}, file)
    with pytest.raises(CheckpointLayoutError, match="1 unexpected: extra.weight"):
        load_strict(net, {**sd, "extra.weight": torch.zeros(1)}, file)
    with pytest.raises(CheckpointLayoutError, match="mis-shaped"):
        load_strict(net, {**sd, first: torch.zeros(7)}, file)


def test_vgg_entry_is_torchvision_resnet18_without_fc():
    keys = list(ResNet18Features().state_dict())
    assert len(keys) == 120
    for k in ("0.weight", "1.running_var", "4.0.conv1.weight", "5.0.downsample.0.weight", "5.0.downsample.1.bias",
              "7.1.bn2.num_batches_tracked"):
        assert k in keys


@pytest.fixture(scope="module")
def official_file(layouts, tmp_path_factory) -> Path:
    """A nets_ema checkpoint in the published format (zeros), written with torch.save like the official code."""
    ckpt = {
        "generator": _zeros(layouts / "generator.json"),
        "style_encoder": _zeros(layouts / "style_encoder.json"),
        "fan": _zeros(layouts / "fan_keys.json"),
        "vgg": ResNet18Features().state_dict(),
    }
    path = tmp_path_factory.mktemp("l2m") / "100000_nets_ema.ckpt"
    torch.save(ckpt, path)
    return path


def test_official_checkpoint_file_loads(official_file):
    nets = load_l2m_file(official_file)
    assert nets.generator.w_hpf == 1 and nets.fan is not None and nets.vgg is not None
    assert nets.style_encoder.num_domains == 2 and nets.domains == ("domain_0", "domain_1")
    named = load_l2m(torch.load(official_file, weights_only=True), domains=["not_smiling", "smiling"])
    assert L2MEditor(named).name == "smiling"
    assert not nets.generator.training and not any(p.requires_grad for p in nets.generator.parameters())
    # round trip: what we would save is the official format, key for key
    ckpt = torch.load(official_file, weights_only=True)
    assert {k: list(v) for k, v in nets.state_dict().items()} == {k: list(v) for k, v in ckpt.items()}


def test_checkpoint_with_a_missing_entry_or_key_is_refused(official_file):
    ckpt = torch.load(official_file, weights_only=True)
    no_fan = load_l2m({k: v for k, v in ckpt.items() if k != "fan"})  # masks must then come from landmarks
    assert no_fan.generator.w_hpf == 1 and no_fan.fan is None and no_fan.masks(torch.zeros(1, 3, 256, 256)) is None
    with pytest.raises(CheckpointLayoutError, match="generator.*17 unexpected: encode.6"):
        load_l2m(ckpt, w_hpf=0)  # the w_hpf=0 generator is one level shallower
    broken = dict(ckpt, style_encoder={k: v for k, v in ckpt["style_encoder"].items() if "transform2.1" not in k})
    with pytest.raises(CheckpointLayoutError, match="style_encoder.*missing: transform2.1.0.weight"):
        load_l2m(broken)
    with pytest.raises(CheckpointLayoutError, match="unexpected entries"):
        load_l2m({**ckpt, "discriminator": {}})


def test_unsafe_pickle_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"generator": {}, "style_encoder": {}, "x": Fraction(1, 3)}, path)
    with pytest.raises(WeightsVerificationError, match="could not be loaded safely"):
        load_l2m_file(path)


# ---- slider editing on a tiny model ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> L2MNets:
    torch.manual_seed(0)
    gen = Generator(img_size=64, style_dim=16, max_conv_dim=64, w_hpf=1, base_dim=16).eval()
    enc = StyleEncoder(img_size=64, style_dim=16, num_domains=2, max_conv_dim=64, base_dim=16).eval()
    with torch.no_grad():  # make the transformer move the code noticeably
        for p in enc.transform2.parameters():
            p.mul_(4)
    return L2MNets(gen, enc, fan=None, vgg=None)


class Counter:
    def __init__(self, module: torch.nn.Module) -> None:
        self.n = 0
        module.register_forward_hook(lambda *_: setattr(self, "n", self.n + 1))


def test_slider_zero_is_the_reconstruction_and_one_the_official_edit(one_thread, tiny):
    editor = L2MEditor(tiny, ("not_smiling", "smiling"))
    assert editor.name == "smiling"
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    m = (torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))
    state = editor.encode(x, source=0, masks=m)
    with torch.inference_mode():
        s, s1, s2, s3 = tiny.style_encoder(x, torch.tensor([0]), torch.tensor([1]))
        recon = tiny.generator(x, s, masks=m)
        official = tiny.generator(x, s1 + s2 + 1.0 * (s3 - s2), masks=m)
    torch.testing.assert_close(editor.render(state, 0.0), recon, atol=1e-4, rtol=0)
    torch.testing.assert_close(editor.render(state, 1.0), official, atol=0, rtol=0)
    assert (editor.render(state, 1.0) - recon).abs().max() > 0.05  # the slider does something
    # from the other domain, "more smiling" is the negative official degree
    state1 = editor.encode(x, source=1, masks=m)
    codes = state1.codes
    with torch.inference_mode():
        back = tiny.generator(x, edit_style(codes, 1.0), masks=m)
    torch.testing.assert_close(editor.render(state1, -1.0), back, atol=0, rtol=0)


def test_slider_move_runs_only_the_generator(one_thread, tiny):
    editor = L2MEditor(tiny, ("not_smiling", "smiling"))
    enc, gen = Counter(tiny.style_encoder), Counter(tiny.generator)
    state = editor.encode(torch.zeros(1, 3, 64, 64))
    assert (enc.n, gen.n) == (1, 0)
    for v in (0.25, 0.5, -0.5):
        editor.render(state, v)
    assert (enc.n, gen.n) == (1, 3)
    ref = editor.encode(torch.ones(1, 3, 64, 64), source=1)
    out = editor.render_reference(state, ref)
    assert out.shape == (1, 3, 64, 64) and torch.isfinite(out).all()


def test_editor_rejects_bad_input(one_thread, tiny):
    editor = L2MEditor(tiny, ("a", "b"))
    with pytest.raises(InvalidArgumentError, match=r"\(N, 3, 64, 64\)"):
        editor.encode(torch.zeros(1, 3, 32, 32))
    with pytest.raises(InvalidArgumentError, match="source domain"):
        editor.encode(torch.zeros(1, 3, 64, 64), source=2)
    with pytest.raises(InvalidArgumentError, match="domain indices in 0..1"):
        tiny.style_encoder(torch.zeros(1, 3, 64, 64), torch.tensor([3]), torch.tensor([0]))


def test_editor_on_an_aligned_photo_uses_landmark_masks_without_fan(one_thread, tiny, astronaut):
    from faceedit.align import align_face
    from faceedit.landmarks import select_face

    crop, _ = align_face(astronaut, select_face(astronaut), size=128)
    editor = L2MEditor(tiny, ("not_smiling", "smiling"))
    state = editor.encode_crop(crop)
    assert state.masks is not None and state.masks[0].shape == (1, 1, 64, 64)  # FAN-less: landmark masks
    out = editor.render_crop(state, 0.5, size=128)
    assert out.shape == (128, 128, 3) and out.dtype == np.uint8
    with pytest.raises(InvalidArgumentError, match="square uint8"):
        editor.encode_crop(crop[:, :100])


def test_registry_entry_loads_the_official_file(official_file, tmp_path, monkeypatch):
    from faceedit import weights

    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    weights.clear_model_cache()
    weights.import_file(official_file, "l2m.celebahq")
    nets = weights.load_model("l2m.celebahq", device="cpu")
    weights.clear_model_cache()
    assert isinstance(nets, L2MNets) and nets.fan is not None and nets.generator.w_hpf == 1
    editor = L2MEditor(nets)
    assert editor.domains == ("not_smiling", "smiling")  # the manifest's (unverified) domain names
