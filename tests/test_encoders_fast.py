"""The fast CPU runtime of the pSp / e4e encoders: same codes as the official code and the modules, modules untouched."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from layouts import psp_scale, random_state_dict
from safetensors.torch import load_file

from faceedit.models import load_strict
from faceedit.models.encoders import Encoder4Editing, GradualStyleEncoder
from faceedit.models.encoders_fast import (
    conv3x3_s1,
    conv3x3_s1_4x4,
    conv3x3_s2,
    fast_encoder,
    s1_weight,
    s1_weight4,
    s2_weight,
)

DATA = Path(__file__).parent / "data" / "psp"


@pytest.mark.parametrize("shape", [(2, 5, 16, 12), (1, 3, 8, 8), (1, 4, 12, 20)])
def test_fast_convolutions_equal_conv2d(shape: tuple[int, ...]) -> None:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(*shape, generator=g, dtype=torch.float64)
    w = torch.randn(7, shape[1], 3, 3, generator=g, dtype=torch.float64)
    b = torch.randn(7, generator=g, dtype=torch.float64)
    variants = [(1, conv3x3_s1, s1_weight), (1, conv3x3_s1_4x4, s1_weight4),
                (2, conv3x3_s2, lambda w: s2_weight(w, 2)), (2, conv3x3_s2, lambda w: s2_weight(w, 4))]
    for stride, conv, transform in variants:
        ref = F.conv2d(x, w, b, stride=stride, padding=1)
        for bias in (b, None):
            out = conv(x, transform(w), bias)
            expected = ref if bias is not None else ref - b.view(1, -1, 1, 1)
            assert out.shape == ref.shape and (out - expected).abs().max() < 1e-12 * ref.abs().max()


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    """The seed-3 weights the official reference codes were recorded with (tests/data/psp/README.md)."""
    with torch.device("meta"):
        layout = Encoder4Editing(1024).state_dict()  # the official layout (asserted in test_encoders.py)
    return random_state_dict(layout, 3, psp_scale)


@pytest.mark.parametrize("kind", ["psp", "e4e"])
def test_fast_codes_equal_official_and_module(weights, kind: str, one_thread: None) -> None:
    ref = load_file(DATA / f"{kind}_reference.safetensors")
    enc = GradualStyleEncoder(3, 18) if kind == "psp" else Encoder4Editing(1024)
    load_strict(enc, weights, f"{kind} encoder")
    enc.eval()
    before = {k: v.clone() for k, v in enc.state_dict().items()}
    with torch.inference_mode():
        fast = fast_encoder(enc)(ref["x"])
        module = enc(ref["x"])
    scale = ref["codes18"].abs().max().item()
    assert fast.shape == (1, 18, 512)
    assert (fast - ref["codes18"]).abs().max().item() < 1e-5 * scale  # the official code's codes
    assert (fast - module).abs().max().item() < 1e-5 * scale
    assert not torch.equal(fast, module)  # it is another computation, not the module called again
    after = enc.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)


def test_changed_weights_rebuild_the_runtime(one_thread: None) -> None:
    torch.manual_seed(0)
    enc = GradualStyleEncoder(3, 18).eval()
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    first = fast_encoder(enc)
    assert fast_encoder(enc) is first  # cached
    with torch.no_grad():
        enc.styles[10].convs[0].weight.mul_(2)
        enc.body[3].res_layer[0].running_mean.add_(0.5)
    second = fast_encoder(enc)
    assert second is not first
    with torch.no_grad():
        out, ref = second(x), enc(x)
    assert (out - ref).abs().max() < 1e-5 * ref.abs().max()
    with torch.no_grad():
        enc.styles[0].linear.bias.add_(1.0)
    with pytest.raises(ValueError, match="eval"):
        fast_encoder(enc.train())  # a weight changed since, so it would rebuild: refused in training mode


def test_heads_in_parallel_threads(monkeypatch) -> None:
    """With two torch threads the 18 heads run on two Python threads (one intra-op thread each): same codes,
    no autograd graph, and torch's thread count is back to what it was."""
    import faceedit.models.encoders_fast as ef

    workers = []
    pool = ef._pool
    monkeypatch.setattr(ef, "_pool", lambda n: workers.append(n) or pool(n))
    before = torch.get_num_threads()
    torch.manual_seed(0)
    enc = GradualStyleEncoder(3, 18).eval()  # parameters require grad, as a loaded module's do
    x = torch.rand(1, 3, 256, 256) * 2 - 1
    try:
        torch.set_num_threads(2)
        with torch.no_grad():
            ref = enc(x)
            parallel = fast_encoder(enc)(x)
            assert workers == [2] and torch.get_num_threads() == 2
            monkeypatch.setattr(ef, "PARALLEL_HEADS", False)
            serial = fast_encoder(enc)(x)
    finally:
        torch.set_num_threads(before)
    assert workers == [2] and not parallel.requires_grad
    assert (parallel - ref).abs().max() < 1e-5 * ref.abs().max()
    assert (parallel - serial).abs().max() < 1e-5 * ref.abs().max()


def test_a_batch_gives_each_image_its_codes(one_thread: None) -> None:
    """Two images in one call: the tile layouts keep images apart (batch and tile axes are merged in the matrix
    products), each row equals the module's codes."""
    torch.manual_seed(1)
    enc = Encoder4Editing(1024).eval()
    x = torch.rand(2, 3, 256, 256) * 2 - 1
    with torch.no_grad():
        out, ref = fast_encoder(enc)(x), enc(x)
    assert out.shape == ref.shape == (2, 18, 512)
    assert (out - ref).abs().max() < 1e-5 * ref.abs().max()
    assert (out[0] - out[1]).abs().max() > 1e-2 * ref.abs().max()  # two different images, two different codes


def test_maps_the_winograd_tiles_do_not_fit(one_thread: None) -> None:
    """On 30² and 15² maps (the 4×4 / 2×2 tiles don't fit) a unit's convs fall back to conv2d with the folded
    weights, which the runtime makes only then (not kept for the encoders' 256² input): same output as the
    module's unit."""
    torch.manual_seed(2)
    enc = GradualStyleEncoder(3, 18).eval()
    fast = fast_encoder(enc)
    assert all(u.w2 is None for u in fast.units if u.u2 is not None)
    for i, c, side in ((8, 256, 30), (22, 512, 15)):
        x = torch.randn(1, c, side, side)
        with torch.no_grad():
            out, ref = fast.units[i](x), enc.body[i](x)
        assert fast.units[i].w2 is not None
        assert (out - ref).abs().max() < 1e-5 * ref.abs().max()
    assert sum(u.w2 is not None for u in fast.units if u.u2 is not None) == 2
