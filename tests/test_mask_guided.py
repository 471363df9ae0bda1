"""Mask-guided generator (Gu et al. 2019): official layouts, strict loading, preprocessing, input checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from mask_guided_fixtures import synthetic_face_labels
from PIL import Image

from faceedit import mask_guided_official as mgo
from faceedit.errors import CheckpointLayoutError, InvalidArgumentError, WeightsMissingError
from faceedit.models import mask_guided as mg

LAYOUT_FILES = [f"latest_net_{lab}" for lab in mg.ALL_LABELS] + ["net_D_and_D2_training_only"]


def _module(name: str) -> torch.nn.Module:
    label = name.removeprefix("latest_net_")
    if name == "net_D_and_D2_training_only":
        return mg.MultiscaleDiscriminator()
    if label == "G":
        return mg.Generator()
    if label == "P":
        return mg.ParsingNetwork()
    kind, part = label.split("_", 1)
    if kind == "encoder":
        return mg.ComponentEncoder(part)
    if part.endswith("_image"):
        return mg.ImageDecoder(part.removesuffix("_image"))
    return mg.FeatureDecoder(part)


def _zeros(entries: list[dict]) -> dict[str, torch.Tensor]:
    return {e["name"]: torch.zeros(e["shape"], dtype=getattr(torch, e["dtype"])) for e in entries}


@pytest.mark.parametrize("name", LAYOUT_FILES)
def test_official_layout_loads_strictly_and_fails_loudly(shared_dir, name):
    entries = json.loads((shared_dir / "official-layouts" / "gu2019" / f"{name}.json").read_text())
    with torch.device("meta"):
        module = _module(name)
    # same keys, same order, same shapes and dtypes as the official network
    own = module.state_dict()
    assert list(own) == [e["name"] for e in entries]
    assert all(list(own[e["name"]].shape) == e["shape"] for e in entries)
    state = _zeros(entries)
    mg.load_network(module, state, name, assign=True)

    missing = dict(state)
    dropped = next(k for k in missing if k.endswith("weight"))
    del missing[dropped]
    with pytest.raises(CheckpointLayoutError, match="1 missing") as err:
        mg.load_network(module, missing, name, assign=True)
    assert dropped in str(err.value) and name in str(err.value)

    extra = dict(state, **{"module.extra.weight": torch.zeros(3)})
    with pytest.raises(CheckpointLayoutError, match="1 unexpected: module.extra.weight"):
        mg.load_network(module, extra, name, assign=True)

    first = entries[0]["name"]
    bad = dict(state, **{first: torch.zeros(7)})
    with pytest.raises(CheckpointLayoutError, match="mis-shaped"):
        mg.load_network(module, bad, name, assign=True)


def test_missing_num_batches_tracked_is_filled_like_old_torch():
    enc = mg.ComponentEncoder("left_eye")
    state = {k: v.clone() for k, v in enc.state_dict().items() if not k.endswith("num_batches_tracked")}
    mg.load_network(enc, state, "latest_net_encoder_left_eye.pth")
    assert int(enc.conv[0].bn.num_batches_tracked) == 0


def test_load_official_names_the_missing_and_malformed_files(tmp_path):
    with pytest.raises(WeightsMissingError, match="does not exist"):
        mg.load_official(tmp_path / "nope")
    with pytest.raises(WeightsMissingError, match="latest_net_G.pth.*latest_net_decoder_mouth.pth"):
        mg.load_official(tmp_path)
    for label in mg.INFERENCE_LABELS:
        (tmp_path / f"latest_net_{label}.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointLayoutError, match=r"latest_net_\w+\.pth could not be read"):
        mg.load_official(tmp_path)
    with pytest.raises(WeightsMissingError, match="latest_net_P.pth"):
        mg.load_official(tmp_path, with_parser=True)
    torch.save([torch.zeros(1)], tmp_path / "latest_net_G.pth")
    with pytest.raises(CheckpointLayoutError, match="latest_net_G.pth is not a plain state dict"):
        mg.load_official(tmp_path)


@pytest.mark.parametrize(("n_in", "n_out"), [(256, 281), (512, 563), (200, 220), (300, 330), (256, 200)])
def test_nearest_index_matches_pil_bit_exactly(n_in, n_out):
    rng = np.random.default_rng(n_in + n_out)
    img = rng.integers(0, 11, size=(n_in, n_in + 7), dtype=np.uint8)
    expect = np.asarray(Image.fromarray(img).resize((int(1.1 * (n_in + 7)), n_out), Image.NEAREST))
    assert np.array_equal(mgo.pil_nearest_resize(img, int(1.1 * (n_in + 7)), n_out), expect)


def test_centres_are_box_midpoints_with_fallbacks():
    lab = np.zeros((256, 256), np.uint8)
    lab[100:111, 80:121] = 4  # box rows 100..110, cols 80..120
    lab[100, 80] = 4
    lab[150:152, 90:93] = 8  # mouth only as inner mouth
    lab[160, 180] = 9  # widens the mouth box to cols 90..180, rows 150..160
    c = mgo.component_centres(lab)
    assert c.tolist() == [105, 100, 116, 160, 155, 135]  # right eye absent -> (116, 160)
    assert mgo.component_centres(np.zeros((256, 256), np.uint8)).tolist() == [116, 96, 116, 160, 184, 128]


def test_centre_too_close_to_the_border_is_a_clear_error():
    lab = synthetic_face_labels()
    lab[lab == 4] = 1
    lab[5:12, 2:20] = 4
    with pytest.raises(InvalidArgumentError, match="left eye .* too close to the border"):
        mgo.component_centres(lab)


def test_growth_enlarges_eyes_and_mouth_about_their_centres():
    lab = synthetic_face_labels()
    grown, centres = mgo.prepare_labels(lab)
    for group in ((4,), (5,), (7, 8, 9)):
        before, after = np.isin(lab, group).sum(), np.isin(grown, group).sum()
        assert 1.15 * before < after < 1.3 * before  # ~ 1.1^2 in area
    # other classes only lose pixels to the grown parts; nothing else changes
    changed = grown != lab
    assert np.isin(grown[changed], (4, 5, 7, 8, 9)).all()
    # the centres are those of the map as read, and stay centred after growth
    assert np.abs(mgo.component_centres(grown) - centres).max() <= 1


def test_place_features_uses_int_c_over_4_plus_half():
    feats = {
        "left_eye": torch.ones(1, 256, 8, 12),
        "right_eye": 2 * torch.ones(1, 256, 8, 12),
        "mouth": 3 * torch.ones(1, 256, 20, 36),
        "skin": torch.zeros(1, 256, 64, 64),
        "hair": torch.zeros(1, 256, 64, 64),
    }
    centres = torch.tensor([[110, 97, 114, 158, 182, 130]])
    placed = mg.place_features(feats, centres)
    # int(110/4+0.5)=28, int(97/4+0.5)=24 -> rows 24..31, cols 18..29
    nz = placed["left_eye"][0, 0].nonzero()
    assert (nz[:, 0].min(), nz[:, 0].max(), nz[:, 1].min(), nz[:, 1].max()) == (24, 31, 18, 29)
    nz = placed["mouth"][0, 0].nonzero()  # r = 46, c = 33
    assert (nz[:, 0].min(), nz[:, 0].max(), nz[:, 1].min(), nz[:, 1].max()) == (36, 55, 15, 50)
    assert placed["skin"] is feats["skin"]


def test_bad_inputs_raise_typed_errors():
    with torch.device("meta"):
        model = mgo.MaskGuidedEditor(with_image_decoders=False, with_parser=False)
    lab = synthetic_face_labels()
    img = np.zeros((256, 256, 3), np.uint8)
    with pytest.raises(InvalidArgumentError, match="256x256 RGB uint8"):
        model.encode(np.zeros((128, 128, 3), np.uint8), lab)
    with pytest.raises(InvalidArgumentError, match="Helen classes 0..10"):
        model.encode(img, np.full((256, 256), 17, np.uint8))
    with pytest.raises(InvalidArgumentError, match="must be 256x256"):
        model.generate({}, np.zeros((300, 300), np.uint8), img)
    with pytest.raises(InvalidArgumentError, match="missing for: left_eye"):
        model.generate({}, lab, img)
    with pytest.raises(WeightsMissingError, match="latest_net_P.pth"):
        model.parse(img)
