"""pSp / e4e wrappers and the checkpoint loaders: parity with the official wrappers, published file formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from layouts import (
    cached_random_state_dict,
    placeholder_state_dict,
    psp_scale,
    random_state_dict,
    save_in_format,
    stylegan_scale,
)
from safetensors.torch import load_file

from faceedit.errors import CheckpointLayoutError
from faceedit.models.psp import PSP, generator_config, load_e4e, load_psp, load_stylegan2
from faceedit.models.stylegan2 import Generator

DATA = Path(__file__).parent / "data"
PSP_OPTS = {"encoder_type": "GradualStyleEncoder", "output_size": 1024, "input_nc": 3, "label_nc": 0,
            "start_from_latent_avg": True, "learn_in_w": False, "device": "cuda:0", "lpips_lambda": 0.8}
E4E_OPTS = {"encoder_type": "Encoder4Editing", "stylegan_size": 1024, "start_from_latent_avg": True,
            "device": "cuda:0", "progressive_start": 20000}


def layouts(shared_dir: Path, name: str) -> Path:
    return shared_dir / "official-layouts" / name


def safe_load(path: Path) -> dict:
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        with safe_open(str(path), "pt") as f:
            out = {k: f.get_tensor(k) for k in f.keys()}
            out.update(f.metadata() or {})
        return out
    return torch.load(path, map_location="cpu", weights_only=True)


# --------------------------------------------------------------------------- parity (256 px decoder, 14 styles)
@pytest.mark.parametrize("kind", ["psp", "e4e"])
def test_wrapper_parity_with_official_psp_forward(shared_dir, kind):
    """Official ``net(x, randomize_noise=False, resize=True, return_latents=True)`` on the same weights."""
    ref = load_file(DATA / "psp" / f"{kind}_reference.safetensors")
    enc = cached_random_state_dict(str(layouts(shared_dir, "e4e/encoder_Encoder4Editing_ir_se50.json")), 3, psp_scale)
    dec = random_state_dict(layouts(shared_dir, "stylegan2/generator_256_cm2.json"), seed=4, scale=stylegan_scale)
    sd = {f"encoder.{k}": v for k, v in enc.items() if not any(k.startswith(f"styles.{i}.") for i in range(14, 18))}
    sd.update({f"decoder.{k}": v for k, v in dec.items()})
    if kind == "psp":
        opts = {**PSP_OPTS, "output_size": 256}
        net = load_psp({"state_dict": sd, "opts": opts, "latent_avg": ref["latent_avg_256"]})
    else:
        opts = {**E4E_OPTS, "stylegan_size": 256}
        net = load_e4e({"state_dict": sd, "opts": opts, "latent_avg": ref["latent_avg_256"]})
    assert isinstance(net, PSP) and net.n_styles == 14 and not net.training
    with torch.inference_mode():
        image, latents = net(ref["x"], return_latents=True)
    lat_err = (latents - ref["latents_256"]).abs().max().item()
    img_err = (image - ref["image_256"]).abs().max().item()
    # 10x the float32-vs-float64 error (tests/data/psp/README.md): latents 2.6e-6, images 6.0e-6 of the max
    assert lat_err < 3e-5 * ref["latents_256"].abs().max().item(), lat_err
    assert img_err < 6e-5 * ref["image_256"].abs().max().item(), img_err
    assert image.shape == (1, 3, 256, 256) and latents.shape == (1, 14, 512)


# --------------------------------------------------------------------------- published layouts and formats
def full_checkpoint(shared_dir: Path, kind: str, latent_avg_shape: tuple[int, ...]) -> dict:
    name = "psp/psp_ffhq_encode_state_dict.json" if kind == "psp" else "e4e/e4e_ffhq_encode_state_dict.json"
    sd = placeholder_state_dict(layouts(shared_dir, name))
    assert len(sd) == 792
    return {"state_dict": sd, "opts": PSP_OPTS if kind == "psp" else E4E_OPTS,
            "latent_avg": torch.full(latent_avg_shape, 0.25)}


@pytest.mark.parametrize("kind,avg_shape", [("psp", (18, 512)), ("e4e", (512,)), ("psp", (512,))])
def test_published_file_loads_strictly_from_pt(shared_dir, tmp_path, kind, avg_shape):
    ckpt = full_checkpoint(shared_dir, kind, avg_shape)
    extra = {"global_step": 100000, "best_val_loss": 0.1} if kind == "e4e" else None
    path = save_in_format(tmp_path / f"{kind}.pt", "psp", ckpt["state_dict"], ckpt["latent_avg"], ckpt["opts"], extra)
    assert path.stat().st_size < 5_000_000  # placeholders keep the 1.2 GB layout tiny on disk
    loaded = safe_load(path)
    net = (load_psp if kind == "psp" else load_e4e)(loaded)
    assert net.n_styles == 18 and net.decoder.size == 1024 and len(net.encoder.styles) == 18
    assert net.latent_avg.shape == (1 if avg_shape == (512,) else 18, 512)
    # the checkpoint values really are in the network (state dict round trip, key for key)
    back = net.state_dict()
    assert list(back) == list(ckpt["state_dict"])
    assert all(torch.equal(back[k], v) for k, v in ckpt["state_dict"].items())


def test_flat_safetensors_style_keys_are_accepted(shared_dir):
    ckpt = full_checkpoint(shared_dir, "e4e", (18, 512))
    flat = {f"state_dict.{k}": v for k, v in ckpt["state_dict"].items()}
    flat.update(latent_avg=ckpt["latent_avg"], opts=json.dumps(ckpt["opts"]))  # metadata is a JSON string
    assert load_e4e(flat).n_styles == 18
    bare = {**ckpt["state_dict"], "latent_avg": ckpt["latent_avg"]}  # "encoder.*"/"decoder.*" at top level
    assert load_e4e(bare).latent_avg.shape == (18, 512)


def test_psp_seg2face_input19(shared_dir):
    sd = placeholder_state_dict(layouts(shared_dir, "psp/psp_ffhq_encode_state_dict.json"))
    sd["encoder.input_layer.0.weight"] = torch.zeros(64, 19, 3, 3)
    net = load_psp({"state_dict": sd, "opts": {**PSP_OPTS, "input_nc": 19, "label_nc": 19},
                    "latent_avg": torch.zeros(18, 512)})
    assert net.encoder.input_nc == 19


def test_missing_extra_and_misshaped_keys_fail_loudly(shared_dir):
    ckpt = full_checkpoint(shared_dir, "psp", (18, 512))
    sd = dict(ckpt["state_dict"])
    del sd["encoder.styles.17.linear.bias"]
    with pytest.raises(CheckpointLayoutError, match=r"pSp encoder.*1 missing: styles\.17\.linear\.bias"):
        load_psp({**ckpt, "state_dict": sd})
    sd = {**ckpt["state_dict"], "decoder.convs.99.conv.weight": torch.zeros(1)}
    with pytest.raises(CheckpointLayoutError, match=r"pSp decoder.*1 unexpected: convs\.99\.conv\.weight"):
        load_psp({**ckpt, "state_dict": sd})
    sd = {**ckpt["state_dict"], "encoder.latlayer1.weight": torch.zeros(512, 128, 1, 1)}
    with pytest.raises(CheckpointLayoutError, match=r"mis-shaped: latlayer1\.weight \(512, 128, 1, 1\)"):
        load_psp({**ckpt, "state_dict": sd})
    with pytest.raises(CheckpointLayoutError, match="latent_avg has shape"):
        load_psp({**ckpt, "latent_avg": torch.zeros(17, 512)})
    with pytest.raises(CheckpointLayoutError, match="It is an e4e checkpoint"):
        load_psp({**ckpt, "opts": E4E_OPTS})
    with pytest.raises(CheckpointLayoutError, match="not a pSp checkpoint"):
        load_psp({"state_dict": {"weight": torch.zeros(1)}})
    with pytest.raises(CheckpointLayoutError, match="holds no latent_avg"):
        load_psp({"state_dict": ckpt["state_dict"], "opts": PSP_OPTS})


def test_stylegan2_1024_g_ema_file(shared_dir, tmp_path):
    sd = placeholder_state_dict(layouts(shared_dir, "stylegan2/generator_1024_cm2_g_ema.json"))
    assert len(sd) == 171
    path = save_in_format(tmp_path / "stylegan2-ffhq-config-f.pt", "rosinality", sd, torch.full((512,), 0.5))
    g = load_stylegan2(safe_load(path))
    assert (g.size, g.channel_multiplier, g.n_latent) == (1024, 2, 18)
    assert g.latent_avg.shape == (1, 512) and not g.training
    assert all(torch.equal(g.state_dict()[k], v) for k, v in sd.items())
    del sd["noises.noise_3"]
    with pytest.raises(CheckpointLayoutError, match=r"1 missing: noises\.noise_3"):
        load_stylegan2({"g_ema": sd})
    with pytest.raises(CheckpointLayoutError, match="not a StyleGAN2 generator"):
        load_stylegan2({"g_ema": {"foo": torch.zeros(1)}})


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_stylegan2_file_round_trip_keeps_the_numbers(tmp_path, suffix):
    """A real (small) generator saved in the published format renders identically after loading."""
    src = Generator(32, style_dim=64, n_mlp=3, channel_multiplier=1).eval()
    src.load_state_dict(random_state_dict(src.state_dict(), seed=7, scale=stylegan_scale))
    path = save_in_format(tmp_path / f"g{suffix}", "rosinality", src.state_dict(), torch.randn(64))
    g = load_stylegan2(safe_load(path))
    assert generator_config(src.state_dict()) == {"size": 32, "style_dim": 64, "n_mlp": 3, "channel_multiplier": 2}
    w = torch.randn(1, g.n_latent, 64)
    with torch.inference_mode():
        assert torch.equal(g.synthesis(w), src.synthesis(w))
