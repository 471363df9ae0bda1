"""Art-style generators: both published key conventions load strictly; the manifest rows point at the loader."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from faceedit import weights
from faceedit.errors import CheckpointLayoutError
from faceedit.models.style_generators import generator_key, load_style_generator
from faceedit.models.stylegan2 import Generator
from tests.layouts import placeholder_state_dict, read_layout

DATA = Path(__file__).resolve().parent / "data" / "stylegan2"
LAYOUT = DATA / "generator_1024_cm2_g_ema.json"  # official rosinality g_ema of stylegan2-ffhq-config-f.pt


def _optimizer_state() -> dict:
    return {"state": {0: {"step": torch.tensor(300.0), "exp_avg": torch.zeros(4)}},
            "param_groups": [{"lr": 0.0016, "betas": (0.0, 0.99), "params": [0]}]}


@pytest.mark.parametrize(
    "convention,make",
    [
        ("g_ema", lambda sd: {"g_ema": sd, "g_optim": _optimizer_state()}),  # StyleGAN-NADA / DiFa training save
        ("g", lambda sd: {"g": sd}),  # JoJoGAN
    ],
)
def test_both_key_conventions_load_strictly(tmp_path, convention, make):
    sd = placeholder_state_dict(LAYOUT)
    marker = torch.full((512,), 0.25)
    sd["style.1.bias"] = marker  # a value we can find again after loading
    path = tmp_path / f"{convention}.pt"
    torch.save(make(sd), path)
    ckpt = weights.load_checkpoint(path)  # weights_only=True
    assert generator_key(ckpt) == convention
    g = load_style_generator(ckpt)
    assert isinstance(g, Generator) and g.size == 1024 and g.channel_multiplier == 2
    assert torch.equal(g.style[1].bias, marker)
    assert set(g.state_dict()) == {e["name"] for e in read_layout(LAYOUT)}
    assert not any(p.requires_grad for p in g.parameters())


def test_flat_safetensors_keys_load(tmp_path):
    from faceedit.models.stylegan2 import Generator as G

    small = G(64, channel_multiplier=1).state_dict()
    g = load_style_generator({f"g_ema.{k}": v for k, v in small.items()})
    assert g.size == 64


def test_wrong_files_are_refused_with_a_reason():
    sd = placeholder_state_dict(LAYOUT)
    with pytest.raises(CheckpointLayoutError, match="neither a 'g_ema' nor a 'g'"):
        generator_key({"state_dict": sd})
    del sd["convs.3.conv.weight"]
    with pytest.raises(CheckpointLayoutError, match="1 missing: convs.3.conv.weight"):
        load_style_generator({"g": sd})


def test_manifest_rows_for_styles_and_clip():
    reg = weights.registry()
    styles = {k: v for k, v in reg.items() if k.startswith("style.")}
    assert {"style.nada.anime", "style.nada.ukiyoe", "style.jojogan.jojo_preserve_color"} <= set(styles)
    for spec in styles.values():
        assert spec.loader == "faceedit.models.style_generators:load_style_generator"
        assert spec.repo_id and spec.filename.endswith(".pt")
        assert spec.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", spec.sha256)
        assert spec.sha256 or {"sha256", "size"} <= set(spec.unverified)  # unknown hashes are declared, not invented
        assert weights.resolve_loader(spec) is load_style_generator
    for name in ("clip.openai.vit_b32", "clip.openai.vit_b16"):
        spec = reg[name]
        assert spec.url and spec.sha256 in spec.url and spec.loader_input == "path"
