"""DiFa training on CPU: a tiny generator (32 px) and CLIP for a few steps; the loss goes down and the style loads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file
from torch import nn

from faceedit.editors.stylise import GanStyliser
from faceedit.errors import InvalidArgumentError
from faceedit.models.clip import load_clip
from faceedit.models.style_generators import load_style_generator
from faceedit.models.stylegan2 import Generator
from faceedit.train.difa import (
    TRAINABLE_PREFIXES,
    Options,
    parse_args,
    reference_tensor,
    train,
    trainable_parameters,
)
from faceedit.train.difa_losses import ClipDomainLoss
from tests.layouts import random_state_dict

DATA = Path(__file__).resolve().parent / "data" / "difa"

pytestmark = pytest.mark.usefixtures("one_thread")


class TinyEncoder(nn.Module):
    """Stands in for e4e: [N, 3, 256, 256] → W+ [N, n_latent, style_dim]."""

    def __init__(self, n_latent: int, style_dim: int) -> None:
        super().__init__()
        self.n_latent, self.style_dim = n_latent, style_dim
        self.net = nn.Sequential(nn.AvgPool2d(16), nn.Conv2d(3, 8, 3, stride=2), nn.Flatten(),
                                 nn.LazyLinear(n_latent * style_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(-1, self.n_latent, self.style_dim)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.manual_seed(0)
    # 32 px keeps the test to seconds (StyleGAN2 has 512 channels up to 32 px whatever the size)
    g_a = Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    with torch.no_grad():  # a trained generator's noise strengths are non-zero (rosinality initialises them to 0)
        for name, p in g_a.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.1)
    clip = load_clip(random_state_dict(DATA / "tiny_clip.json", seed=7, fan_in=True))
    enc = TinyEncoder(g_a.n_latent, g_a.style_dim)
    enc(torch.zeros(1, 3, 256, 256))
    enc.eval().requires_grad_(False)
    root = tmp_path_factory.mktemp("difa")
    rng = np.random.default_rng(0)
    art = np.clip(rng.normal(128, 60, (300, 240, 3)), 0, 255).astype(np.uint8)  # a non-square "artwork"
    Image.fromarray(art).save(root / "art.png")
    return g_a, clip, enc, root


def eval_loss(g_b: Generator, g_a: Generator, loss: ClipDomainLoss) -> float:
    """CLIP loss on fixed z with fixed (different) noise for G_A and G_B."""
    z = torch.randn(4, g_a.style_dim, generator=torch.Generator().manual_seed(123))
    with torch.no_grad():
        w = g_a.get_latent(z)[:, None].repeat(1, g_a.n_latent, 1)
        a = g_a.synthesis(w, noise=g_a.make_noise(4, torch.Generator().manual_seed(5)))
        b = g_b.synthesis(w, noise=g_b.make_noise(4, torch.Generator().manual_seed(6)))
        return float(loss(a, b)[0])


def test_a_few_steps_lower_the_loss_and_write_a_loadable_style(setup):
    g_a, clip, enc, root = setup
    before = {k: v.clone() for k, v in g_a.state_dict().items()}
    opts = Options(target=str(root / "art.png"), out=str(root / "run"), iters=8, window=3, batch=2,
                   lr=0.01, source_samples=4, sample_every=4, clip_models=("tiny",))
    seen = []
    style_path = train(opts, g_a, enc, [clip], progress=lambda i, n, m: seen.append((i, n)))
    assert seen[-1] == (7, 8)
    assert all(torch.equal(v, g_a.state_dict()[k]) for k, v in before.items())  # G_A untouched

    style = json.loads(style_path.read_text())
    assert style["generator"] == "generator.safetensors" and style["iterations"] == 8
    assert style["generator_config"]["size"] == 32 and style["operations"] == ["stylise"]
    assert (root / "run" / style["thumbnail"]).is_file()
    g_b = load_style_generator(load_file(str(root / "run" / style["generator"])))  # strict, rosinality layout

    # only DiFa's layer subset moved
    sa, sb = g_a.state_dict(), g_b.state_dict()
    moved = {k for k in sa if not torch.equal(sa[k], sb[k])}
    assert moved and all(k.startswith(TRAINABLE_PREFIXES) for k in moved)
    assert any(k.startswith("convs.") for k in moved)

    mean = load_file(str(root / "run" / "source_mean.safetensors"))["clip0"]
    loss = ClipDomainLoss(clip, reference_tensor(root / "art.png"), mean, lambda_local=1.5)
    after, before_training = eval_loss(g_b, g_a, loss), eval_loss(g_a, g_a, loss)
    print("eval CLIP loss", before_training, "->", after)
    assert after < before_training - 0.02

    log = [json.loads(line) for line in (root / "run" / "log.jsonl").read_text().splitlines()]
    assert len(log) == 8 and log[0]["scc"] == 0.0 and log[-1]["scc"] > 0  # SCC ramps in after the window
    # the trained style plugs straight into the stylise editor
    st = GanStyliser(g_a, g_b, "runs/difa")
    w = torch.randn(g_a.n_latent, g_a.style_dim)
    assert st.render(w, 1.0).image.shape == (32, 32, 3)


def test_layer_subset_and_options():
    g = Generator(32, style_dim=32, n_mlp=1, channel_multiplier=1)
    params = trainable_parameters(g)
    names = {n for n, p in g.named_parameters() if p.requires_grad}
    assert len(params) == len(names) and "input.input" in names and "conv1.conv.weight" in names
    assert not any(n.startswith(("style.", "to_rgb")) for n in names)
    opts = parse_args(["--target", "a.png", "--out", "runs/x"])
    assert (opts.iters, opts.batch, opts.lambda_local, opts.lambda_scc, opts.alpha, opts.window) == (301, 2, 1.5, 7.0, 0.8, 30)
    assert opts.clip_models == ("clip.openai.vit_b32", "clip.openai.vit_b16") and opts.seed == 2
    with pytest.raises(InvalidArgumentError, match="must exceed the SCC window"):
        train(Options(target="a.png", out="/tmp/never", iters=5, window=30), g, lambda x: x, [])


def test_reference_preprocessing_matches_clip_transform(tmp_path):
    img = np.zeros((300, 200, 3), np.uint8)
    img[:, :100] = 255
    x = reference_tensor(img)
    assert x.shape == (1, 3, 224, 224)
    white = (1 - torch.tensor((0.48145466, 0.4578275, 0.40821073))) / torch.tensor((0.26862954, 0.26130258, 0.27577711))
    assert torch.allclose(x[0, :, 112, 10], white, atol=1e-4)  # left half white after short-side resize + crop


def test_cli_missing_target_is_one_plain_error(tmp_path, capsys):
    from faceedit.train.difa import main

    assert main(["--target", str(tmp_path / "nope.png"), "--out", str(tmp_path / "run")]) == 2
    assert "no such image file" in capsys.readouterr().out
