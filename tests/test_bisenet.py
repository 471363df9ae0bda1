"""BiSeNet face parser: strict layout of ``79999_iter.pth``, parity with the official code, the parser."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from faceedit.errors import CheckpointLayoutError, InvalidImageError
from faceedit.models.bisenet import BiSeNet, fold_batchnorm, load_bisenet
from faceedit.parsing import Parser
from faceedit.parsing.bisenet import BiSeNetParser

DATA = Path(__file__).parent / "data" / "bisenet"


def seeded_state_dict(layout: list[dict]) -> dict[str, torch.Tensor]:
    """The deterministic weights the references were made with (recipe in tests/data/bisenet/README.md)."""
    g = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}
    for entry in layout:
        name, shape = entry["name"], entry["shape"]
        if name.endswith("num_batches_tracked"):
            sd[name] = torch.tensor(0, dtype=torch.int64)
            continue
        t = torch.randn(shape, generator=g)
        if name.endswith("running_var"):
            t = t.abs() * 0.5 + 0.5
        elif name.endswith("running_mean"):
            t = t * 0.1
        elif len(shape) == 1 and name.endswith(".weight"):
            t = 1.0 + 0.1 * t
        elif len(shape) == 1 and name.endswith(".bias"):
            t = 0.1 * t
        else:
            t = t / math.sqrt(math.prod(shape[1:]))
        sd[name] = t
    return sd


@pytest.fixture(scope="module")
def layout(shared_dir: Path) -> list[dict]:
    return json.loads((shared_dir / "official-layouts" / "bisenet" / "79999_iter.json").read_text())


@pytest.fixture(scope="module")
def net(layout: list[dict]) -> BiSeNet:
    return load_bisenet(seeded_state_dict(layout))


def test_state_dict_matches_official_layout(layout: list[dict]) -> None:
    sd = BiSeNet().state_dict()
    assert [e["name"] for e in layout] == list(sd)
    for e in layout:
        assert list(sd[e["name"]].shape) == e["shape"], e["name"]
        assert str(sd[e["name"]].dtype) == f"torch.{e['dtype']}", e["name"]


def test_missing_or_extra_key_fails_loudly(layout: list[dict]) -> None:
    sd = seeded_state_dict(layout)
    missing = dict(sd)
    del missing["ffm.conv1.weight"]
    with pytest.raises(CheckpointLayoutError, match="ffm.conv1.weight"):
        load_bisenet(missing)
    extra = dict(sd, **{"sp.conv1.conv.weight": torch.zeros(64, 3, 7, 7)})
    with pytest.raises(CheckpointLayoutError, match="sp.conv1.conv.weight"):
        load_bisenet(extra)
    wrong = dict(sd, **{"conv_out.conv_out.weight": torch.zeros(11, 256, 1, 1)})
    with pytest.raises(CheckpointLayoutError, match="size mismatch"):
        load_bisenet(wrong)


#: max |ours - official| / max |official|: 10x the float32-vs-float64 error, 8.1e-7 (tests/data/bisenet/README.md).
PARITY_TOL = 1e-5


def _assert_parity(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=PARITY_TOL * expected.abs().max().item())


def test_parity_with_official_code(net: BiSeNet) -> None:
    ref = load_file(DATA / "reference_128.safetensors")
    with torch.inference_mode():
        out, out16, out32 = net(ref["x1"])
        main = net.parse_logits(ref["x1"])
    _assert_parity(out, ref["out1"])
    _assert_parity(main, ref["out1"])
    _assert_parity(out16[:, :, ::4, ::4], ref["out16_1_stride4"])
    _assert_parity(out32[:, :, ::4, ::4], ref["out32_1_stride4"])
    fused = fold_batchnorm(net)  # the parser's inference copy: same numbers to float32 precision
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fused.modules())
    with torch.inference_mode():
        x = ref["x1"].contiguous(memory_format=torch.channels_last)
        _assert_parity(fused.parse_logits(x), ref["out1"])
    ref2 = load_file(DATA / "reference_96x80_parser.safetensors")
    with torch.inference_mode():
        _assert_parity(net.parse_logits(ref2["x2"]), ref2["out2"])


def test_parser_matches_official_pipeline_on_a_photo(net: BiSeNet, astronaut: np.ndarray) -> None:
    """Official preprocessing (PIL bilinear to 512, ImageNet norm) + argmax; labels back at the crop size."""
    crop = np.ascontiguousarray(astronaut[10:310, 110:410])
    parser = BiSeNetParser(model=net, device="cpu")
    assert isinstance(parser, Parser) and parser.name == "bisenet"
    ref512 = load_file(DATA / "reference_96x80_parser.safetensors")["astronaut_labels512"].numpy()
    with torch.inference_mode():
        ours512 = net.parse_logits(parser.preprocess(crop))[0].argmax(0).numpy()
    assert (ours512 != ref512).mean() < 1e-4  # identical up to float ties
    labels = parser.parse(crop)
    assert labels.shape == (300, 300) and labels.dtype == np.uint8
    # each output pixel takes the class of the 512-grid pixel nearest its centre
    idx = np.minimum(((np.arange(300) + 0.5) * 512 / 300).astype(int), 511)
    assert (labels != ref512[np.ix_(idx, idx)]).mean() < 1e-3
    # a 512 crop is not resampled: only scaled to [0, 1] and normalised
    x = parser.preprocess(np.ascontiguousarray(astronaut))
    mean, std = torch.tensor((0.485, 0.456, 0.406)), torch.tensor((0.229, 0.224, 0.225))
    direct = (torch.from_numpy(astronaut).float() / 255 - mean) / std
    torch.testing.assert_close(x[0].permute(1, 2, 0), direct)


@pytest.mark.parametrize("bad", [np.zeros((64, 64), np.uint8), np.zeros((64, 64, 3), np.float32), np.zeros((4, 4, 3), np.uint8)])
def test_parser_rejects_bad_input(net: BiSeNet, bad: np.ndarray) -> None:
    with pytest.raises(InvalidImageError):
        BiSeNetParser(model=net, device="cpu").parse(bad)
