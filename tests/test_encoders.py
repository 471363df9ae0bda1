"""IR-SE50 + pSp GradualStyleEncoder + e4e Encoder4Editing: official layouts and parity with the official code."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from layouts import cached_random_state_dict, psp_scale
from safetensors.torch import load_file

from faceedit.errors import InvalidArgumentError
from faceedit.models import load_strict
from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder, n_styles_for

DATA = Path(__file__).parent / "data" / "psp"


def layout_path(shared_dir: Path, name: str) -> Path:
    return shared_dir / "official-layouts" / name


def as_listing(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...], str]]:
    return [(k, tuple(v.shape), str(v.dtype).removeprefix("torch.")) for k, v in module.state_dict().items()]


@pytest.mark.parametrize(
    "build,json_name",
    [
        (lambda: GradualStyleEncoder(3, 18), "psp/encoder_GradualStyleEncoder_ir_se50_input3.json"),
        (lambda: GradualStyleEncoder(19, 18), "psp/encoder_GradualStyleEncoder_ir_se50_input19_seg2face.json"),
        (lambda: Encoder4Editing(1024), "e4e/encoder_Encoder4Editing_ir_se50.json"),
    ],
)
def test_encoder_state_dict_is_the_official_layout(shared_dir, build, json_name):
    layout = json.loads(layout_path(shared_dir, json_name).read_text())
    with torch.device("meta"):
        enc = build()
    assert len(layout) == 621
    assert as_listing(enc) == [(e["name"], tuple(e["shape"]), e["dtype"]) for e in layout]


def test_n_styles():
    assert n_styles_for(1024) == 18 and n_styles_for(256) == 14
    with torch.device("meta"):
        assert len(Encoder4Editing(256).styles) == 14
    with pytest.raises(InvalidArgumentError):
        GradualStyleEncoder(3, 6)


@pytest.fixture(scope="module")
def encoder_sd(shared_dir) -> dict[str, torch.Tensor]:
    """The seed-3 weights the references were recorded with (same layout for pSp and e4e encoders)."""
    return cached_random_state_dict(
        str(layout_path(shared_dir, "e4e/encoder_Encoder4Editing_ir_se50.json")), 3, psp_scale
    )


@pytest.mark.parametrize("kind", ["psp", "e4e"])
def test_encoder_parity_with_official_code(encoder_sd, kind):
    ref = load_file(DATA / f"{kind}_reference.safetensors")
    with torch.device("meta"):
        enc = GradualStyleEncoder(3, 18) if kind == "psp" else Encoder4Editing(1024)
    load_strict(enc, encoder_sd, f"{kind} encoder", assign=True)
    enc.eval()
    with torch.inference_mode():
        codes = enc(ref["x"])
    assert codes.shape == (1, 18, 512)
    err = (codes - ref["codes18"]).abs().max().item()
    assert err < 3e-5 * ref["codes18"].abs().max().item(), err  # 10x the float32 error (tests/data/psp/README.md)
    if kind == "e4e":  # every entry is w0 + its own delta: entries differ
        assert not torch.allclose(codes[:, 0], codes[:, 17])


def test_encoder_rejects_wrong_input_shape():
    with torch.device("meta"):
        enc = GradualStyleEncoder(3, 8)  # the shape check comes before any computation
    with pytest.raises(InvalidArgumentError, match=r"\[N, 3, 256, 256\]"):
        enc(torch.zeros(1, 3, 128, 128))
    with pytest.raises(InvalidArgumentError, match=r"\[N, 3, 256, 256\]"):
        enc(torch.zeros(1, 19, 256, 256))
