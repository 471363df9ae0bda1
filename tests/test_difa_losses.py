"""DiFa's losses reproduce the official functions' values (YBYBZhang/DiFa @277ce9b) on fixed inputs."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from faceedit.errors import InvalidArgumentError
from faceedit.models.clip import load_clip
from faceedit.train.difa_losses import (
    ClipDomainLoss,
    SelectiveConsistencyLoss,
    clip_input,
    directional_loss,
    remd_loss,
)
from tests.layouts import random_state_dict

DATA = Path(__file__).resolve().parent / "data" / "difa"

pytestmark = pytest.mark.usefixtures("one_thread")


def inputs() -> dict:
    """The fixed inputs of tests/data/difa/README.md, drawn in the same order."""
    g = torch.Generator().manual_seed(11)
    img_a = torch.tanh(torch.randn(2, 3, 64, 64, generator=g))
    img_b = torch.tanh(img_a + 0.5 * torch.randn(2, 3, 64, 64, generator=g))
    reference = torch.randn(1, 3, 224, 224, generator=g)
    clip_mean = 0.1 * torch.randn(32, generator=g)
    codes = [(torch.randn(2, 18, 512, generator=g), torch.randn(2, 18, 512, generator=g)) for _ in range(8)]
    return {"a": img_a, "b": img_b, "reference": reference, "clip_mean": clip_mean, "codes": codes}


def close(value: torch.Tensor, ref: dict, key: str) -> None:
    tol = 10 * ref[f"{key}.fp32_err"].item() + 1e-6
    err = (value.double() - ref[key]).abs().max().item()
    assert err <= tol, f"{key}: {err:.2e} > {tol:.2e}"


@pytest.fixture(scope="module")
def ref() -> dict:
    return load_file(str(DATA / "losses-ref.safetensors"))


def test_clip_losses_match_official(ref):
    x = inputs()
    clip = load_clip(random_state_dict(DATA / "tiny_clip.json", seed=7, fan_in=True))
    loss = ClipDomainLoss(clip, x["reference"], x["clip_mean"], lambda_local=1.5, token_layer=3)
    close(loss.direction, ref, "direction")
    total, parts = loss(x["a"], x["b"])
    close(total, ref, "total")
    close(torch.tensor(parts["dir"]), ref, "dir")
    close(torch.tensor(parts["local"]), ref, "local")


def test_selective_consistency_matches_official_sequence(ref):
    scc = SelectiveConsistencyLoss(window=3, alpha=0.8, keep_first=7, iters=10)
    values = torch.stack([scc(cb, ca, i) * torch.ones(()) for i, (cb, ca) in enumerate(inputs()["codes"])])
    close(values, ref, "scc")
    assert values[:4].abs().max() == 0 and values[4:].min() > 0  # ramp: off for the first `window` steps
    assert scc.mask().sum().item() == int(0.8 * 7 * 512)


def test_loss_behaviour():
    torch.manual_seed(0)
    d = torch.nn.functional.normalize(torch.randn(1, 8), dim=1)
    a = torch.randn(3, 8)
    toward, away = directional_loss(a, a + 5 * d, d).item(), directional_loss(a, a - 5 * d, d).item()
    assert toward < 0.5 < 1.5 < away  # moving G_B along the domain direction is what the loss rewards
    t = torch.randn(2, 10, 16)
    assert remd_loss(t[:1], t[:1]).item() == pytest.approx(0.0, abs=1e-6)  # same tokens: nothing to move
    assert remd_loss(t[:1], t[1:]).item() > 0.3
    x = clip_input(torch.zeros(1, 3, 64, 64))
    assert x.shape == (1, 3, 224, 224)
    with pytest.raises(InvalidArgumentError, match="alpha"):
        SelectiveConsistencyLoss(alpha=0)
