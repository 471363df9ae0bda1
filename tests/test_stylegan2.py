"""StyleGAN2 generator: building blocks against direct computations, parity with rosinality's code, layout."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from layouts import random_state_dict, stylegan_scale
from safetensors.torch import load_file

from faceedit.errors import InvalidArgumentError
from faceedit.models.ops import FusedLeakyReLU, fused_leaky_relu, make_kernel, upfirdn2d
from faceedit.models.stylegan2 import Blur, Generator, ModulatedConv2d, ToRGB, Upsample

DATA = Path(__file__).parent / "data" / "stylegan2"


def max_rel_err(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


# --------------------------------------------------------------------------- building blocks
def explicit_upfirdn2d(x, kernel, up, down, pad):
    """Zero-insert, pad, then sum kernel taps one shifted slice at a time (true convolution), subsample."""
    x0, x1, y0, y1 = pad
    n, c, h, w = x.shape
    z = torch.zeros(n, c, h * up, w * up, dtype=torch.float64)
    z[:, :, ::up, ::up] = x.double()
    z = F.pad(z, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    z = z[:, :, max(-y0, 0) : z.shape[2] - max(-y1, 0), max(-x0, 0) : z.shape[3] - max(-x1, 0)]
    kh, kw = kernel.shape
    oh, ow = z.shape[2] - kh + 1, z.shape[3] - kw + 1
    out = torch.zeros(n, c, oh, ow, dtype=torch.float64)
    for i in range(kh):
        for j in range(kw):
            out += kernel[kh - 1 - i, kw - 1 - j].double() * z[:, :, i : i + oh, j : j + ow]
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize(
    "up,down,pad",
    [
        (1, 1, (1, 1, 1, 1)),  # ModulatedConv2d upsample blur
        (2, 1, (2, 1, 2, 1)),  # ToRGB skip upsampling
        (1, 2, (2, 1, 2, 1)),  # downsampling (discriminator-style)
        (2, 1, (0, 3, 1, 0)),  # asymmetric pads
        (1, 1, (-1, 2, 0, -1)),  # negative pads crop
        (2, 2, (1, 2, 1, 2)),
        (3, 1, (1, 1, 2, 0)),
    ],
)
def test_upfirdn2d_matches_explicit_convolution(up, down, pad):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 7, 9, generator=g)
    kernel = torch.randn(4, 3, generator=g)  # asymmetric and non-square: a missing flip or transpose shows
    out = upfirdn2d(x, kernel, up=up, down=down, pad=pad)
    ref = explicit_upfirdn2d(x, kernel, up, down, pad)
    assert out.shape == ref.shape
    torch.testing.assert_close(out.double(), ref, atol=1e-5, rtol=1e-5)


def test_blur_kernel_normalisation_keeps_flat_images_flat():
    k = make_kernel((1, 3, 3, 1))
    assert k.shape == (4, 4)
    assert k.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(k, torch.outer(torch.tensor([1.0, 3, 3, 1]), torch.tensor([1.0, 3, 3, 1])) / 64)
    up = Upsample((1, 3, 3, 1))
    assert up.kernel.sum().item() == pytest.approx(4.0)  # ×factor² compensates the inserted zeros
    flat = torch.full((1, 2, 8, 8), 0.7)
    y = up(flat)
    assert y.shape == (1, 2, 16, 16)
    torch.testing.assert_close(y[:, :, 2:-2, 2:-2], torch.full_like(y[:, :, 2:-2, 2:-2], 0.7))
    blur = Blur((1, 3, 3, 1), pad=(1, 1), upsample_factor=2)
    assert blur.kernel.sum().item() == pytest.approx(4.0)
    b = Blur((1, 3, 3, 1), pad=(1, 2))(flat)
    assert b.shape == (1, 2, 8, 8)
    torch.testing.assert_close(b[:, :, 2:-2, 2:-2], torch.full_like(b[:, :, 2:-2, 2:-2], 0.7))


def test_fused_leaky_relu_formula_and_no_input_mutation():
    x = torch.randn(2, 5, 3, 3)
    bias = torch.randn(5)
    ref = torch.where(x + bias.view(1, 5, 1, 1) >= 0, 1.0, 0.2) * (x + bias.view(1, 5, 1, 1)) * math.sqrt(2)
    before = x.clone()
    with torch.inference_mode():
        torch.testing.assert_close(fused_leaky_relu(x, bias), ref)
        torch.testing.assert_close(fused_leaky_relu(x), torch.where(x >= 0, 1.0, 0.2) * x * math.sqrt(2))
    assert torch.equal(x, before)
    act = FusedLeakyReLU(5)
    act.bias.data.copy_(bias)
    xg = x.clone().requires_grad_(True)
    y = act(xg)
    torch.testing.assert_close(y, ref)
    y.sum().backward()
    assert xg.grad is not None and act.bias.grad is not None


def per_sample_modulated_conv(mod: ModulatedConv2d, x, style):
    """Direct reference: one conv per sample with w' = s·w (demodulated)."""
    outs = []
    w = mod.weight[0]  # [out, in, k, k]
    for i in range(x.shape[0]):
        s = F.linear(style[i : i + 1], mod.modulation.weight * mod.modulation.scale, mod.modulation.bias)[0]
        wi = w * mod.scale * s.view(1, -1, 1, 1)
        if mod.demodulate:
            wi = wi / torch.sqrt((wi**2).sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
        xi = x[i : i + 1]
        if mod.upsample:
            yi = F.conv_transpose2d(xi, wi.transpose(0, 1), stride=2)
            yi = explicit_upfirdn2d(yi, mod.blur.kernel, 1, 1, (1, 1, 1, 1)).float()
        else:
            yi = F.conv2d(xi, wi, padding=mod.padding)
        outs.append(yi)
    return torch.cat(outs)


@pytest.mark.parametrize("upsample,demodulate,k", [(False, True, 3), (True, True, 3), (False, False, 1)])
def test_modulated_conv_matches_per_sample_conv(upsample, demodulate, k):
    torch.manual_seed(0)
    mod = ModulatedConv2d(6, 5, k, 16, demodulate=demodulate, upsample=upsample)
    with torch.no_grad():
        mod.modulation.bias.normal_()
        if upsample:
            mod.blur.kernel.normal_()  # any kernel, not only the symmetric default
    x = torch.randn(3, 6, 8, 8)
    style = torch.randn(3, 16)
    with torch.no_grad():
        out = mod(x, style)
        ref = per_sample_modulated_conv(mod, x, style)
    assert out.shape == ref.shape == (3, 5, 16 if upsample else 8, 16 if upsample else 8)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_to_rgb_adds_upsampled_skip():
    torch.manual_seed(1)
    rgb = ToRGB(8, 16)
    x, style, skip = torch.randn(2, 8, 8, 8), torch.randn(2, 16), torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        out = rgb(x, style, skip)
        ref = per_sample_modulated_conv(rgb.conv, x, style) + rgb.bias + explicit_upfirdn2d(
            skip, rgb.upsample.kernel, 2, 1, (2, 1, 2, 1)
        ).float()
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


# --------------------------------------------------------------------------- generator fixtures
@pytest.fixture(scope="module")
def g64() -> Generator:
    """64 px, channel multiplier 1, weights from the recipe the references were recorded with (seed 1)."""
    layout = json.loads((DATA / "layout_64_cm1.json").read_text())
    g = Generator(64, channel_multiplier=1).eval().requires_grad_(False)
    assert [e["name"] for e in layout] == list(g.state_dict())
    g.load_state_dict(random_state_dict(layout, seed=1, scale=stylegan_scale), strict=True)
    return g


@pytest.fixture(scope="module")
def tiny() -> Generator:
    """An 8 px generator with 32-d latents for behaviour tests (cheap on 2 cores)."""
    g = Generator(8, style_dim=32, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g.load_state_dict(random_state_dict(g.state_dict(), seed=0, scale=stylegan_scale), strict=True)
    return g


@pytest.fixture(scope="module")
def tiny_w(tiny) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(11)
    return {
        "w_plus": torch.randn(2, tiny.n_latent, 32, generator=gen),
        "w_avg": torch.randn(1, 32, generator=gen),
        "z": torch.randn(2, 32, generator=gen),
        "z2": torch.randn(2, 32, generator=gen),
    }


@pytest.fixture(scope="module")
def ref64() -> dict[str, torch.Tensor]:
    return load_file(DATA / "rosinality_64_cm1.safetensors")


# --------------------------------------------------------------------------- parity with the official code
#: Limits, max |ours - official| / max |official|: 10x (helpers.HEADROOM) the float32 error against faceedit's
#: generator in float64 on the same weights (tests/measure_parity_error.py; numbers in tests/data/stylegan2/README.md).
IMAGE_TOL = 4e-5  # images: float32 error up to 3.2e-6 of max |image|
LATENT_TOL = 8e-6  # mapping network: up to 7.3e-7 of max |w|
def test_parity_64_cm1_all_call_modes(g64, ref64):
    t = ref64
    with torch.inference_mode():
        img, lat = g64([t["z"]], randomize_noise=False, return_latents=True)
        assert max_rel_err(img, t["img_z"]) < IMAGE_TOL
        assert not torch.allclose(img[0], img[1], rtol=0.01)  # z matters (the mapping weights are not tiny)
        # batch 1 modulates the weights at high resolution, batch 2 the activations: same numbers
        single = g64([t["z"][:1]], randomize_noise=False)[0]
        assert max_rel_err(single, img[:1]) < IMAGE_TOL
        assert max_rel_err(lat, t["latent_z"]) < LATENT_TOL
        assert max_rel_err(g64.get_latent(t["z"]), t["w_of_z"]) < LATENT_TOL
        img = g64([t["z"][:1]], randomize_noise=False, truncation=0.7, truncation_latent=t["truncation_latent"])[0]
        assert max_rel_err(img, t["img_trunc"]) < IMAGE_TOL
        img, lat = g64([t["z"][:1], t["z2"]], randomize_noise=False, inject_index=3, return_latents=True)
        assert max_rel_err(img, t["img_mix"]) < IMAGE_TOL
        assert max_rel_err(lat, t["latent_mix"]) < LATENT_TOL
        assert torch.equal(lat[:, :3], lat[:, :1].expand(-1, 3, -1)) and not torch.equal(lat[:, 2], lat[:, 3])
        img = g64([t["w_plus"]], input_is_latent=True, randomize_noise=False)[0]
        assert max_rel_err(img, t["img_wplus"]) < IMAGE_TOL
        img = g64(
            [t["w_plus"]], input_is_latent=True, randomize_noise=False, truncation=0.5,
            truncation_latent=t["truncation_latent"],
        )[0]
        assert max_rel_err(img, t["img_wplus_trunc"]) < IMAGE_TOL
        # synthesis() with constant noise is the official forward on a W+ code
        assert max_rel_err(g64.synthesis(t["w_plus"]), t["img_wplus"]) < IMAGE_TOL


def test_parity_256_cm2_official_layout(shared_dir):
    layout = shared_dir / "official-layouts" / "stylegan2" / "generator_256_cm2.json"
    g = Generator(256).eval().requires_grad_(False)
    g.load_state_dict(random_state_dict(layout, seed=2, scale=stylegan_scale), strict=True)
    t = load_file(DATA / "rosinality_256_cm2.safetensors")
    with torch.inference_mode():
        img = g([t["z"]], randomize_noise=False)[0]
    assert img.shape == (1, 3, 256, 256)
    assert max_rel_err(img, t["img"]) < IMAGE_TOL


# --------------------------------------------------------------------------- behaviour
def test_truncation_pulls_towards_the_average(tiny, tiny_w):
    w = tiny_w["w_plus"][:1]
    w_avg = tiny_w["w_avg"]
    with torch.inference_mode():
        at_zero = tiny([w], input_is_latent=True, randomize_noise=False, truncation=0.0, truncation_latent=w_avg)[0]
        avg_img = tiny.synthesis(w_avg.unsqueeze(1).expand(1, tiny.n_latent, -1))
        torch.testing.assert_close(at_zero, avg_img)
        half = tiny([w], input_is_latent=True, randomize_noise=False, truncation=0.5, truncation_latent=w_avg)[0]
        torch.testing.assert_close(half, tiny.synthesis(w_avg + 0.5 * (w - w_avg)))
    with pytest.raises(InvalidArgumentError, match="truncation_latent"):
        tiny([w], input_is_latent=True, truncation=0.5)


def test_determinism_and_noise_modes(tiny, tiny_w):
    w = tiny_w["w_plus"]
    with torch.inference_mode():
        a = tiny.synthesis(w)
        assert torch.equal(a, tiny.synthesis(w))
        # randomize_noise=False means exactly the stored noises.noise_i buffers
        assert torch.equal(tiny([w], input_is_latent=True, randomize_noise=False)[0], a)
        assert torch.equal(tiny.synthesis(w, noise=tiny.stored_noise()), a)
        r1 = tiny.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r2 = tiny.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(5))
        r3 = tiny.synthesis(w, noise_mode="random", generator=torch.Generator().manual_seed(6))
        assert torch.equal(r1, r2) and not torch.allclose(r1, r3) and not torch.allclose(r1, a)
        f1 = tiny([w], input_is_latent=True, generator=torch.Generator().manual_seed(5))[0]
        assert torch.equal(f1, r1)
        none = tiny.synthesis(w, noise_mode="none")
        zeros = [torch.zeros_like(n) for n in tiny.stored_noise()]
        torch.testing.assert_close(none, tiny.synthesis(w, noise=zeros))
        assert not torch.allclose(none, a)
    with pytest.raises(InvalidArgumentError, match="noise_mode"):
        tiny.synthesis(w, noise_mode="sometimes")
    with pytest.raises(InvalidArgumentError, match="w_plus must have shape"):
        tiny.synthesis(w[:, :2])
    with pytest.raises(InvalidArgumentError, match="styles must give"):
        tiny([w[:, :2]], input_is_latent=True)


def test_changing_a_stored_noise_buffer_changes_the_image(tiny, tiny_w):
    g = Generator(8, style_dim=32, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g.load_state_dict(tiny.state_dict())
    w = tiny_w["w_plus"][:1]
    with torch.inference_mode():
        before = g.synthesis(w)
        g.noises.noise_2.mul_(-1)
        after = g.synthesis(w)
    assert not torch.allclose(before, after)


def test_mean_latent_randomness_is_an_argument(tiny):
    m1 = tiny.mean_latent(64, generator=torch.Generator().manual_seed(3))
    m2 = tiny.mean_latent(64, generator=torch.Generator().manual_seed(3))
    m3 = tiny.mean_latent(64, generator=torch.Generator().manual_seed(4))
    assert m1.shape == (1, 32)
    assert torch.equal(m1, m2) and not torch.equal(m1, m3)
    assert torch.equal(tiny.mean_latent(64), tiny.mean_latent(64))  # seeded by default, no global RNG
    z = torch.randn(64, 32, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(m1, tiny.get_latent(z).mean(0, keepdim=True))


def test_mixing_index_drawn_from_the_generator(tiny, tiny_w):
    z, z2 = tiny_w["z"], tiny_w["z2"]
    with torch.inference_mode():
        _, l1 = tiny([z, z2], randomize_noise=False, return_latents=True, generator=torch.Generator().manual_seed(9))
        _, l2 = tiny([z, z2], randomize_noise=False, return_latents=True, generator=torch.Generator().manual_seed(9))
    assert torch.equal(l1, l2)


def test_bfloat16_forward_runs_and_stays_close(tiny, tiny_w):
    g = Generator(8, style_dim=32, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g.load_state_dict(tiny.state_dict())
    g = g.to(torch.bfloat16)
    w = tiny_w["w_plus"][:1]
    with torch.inference_mode():
        out = g.synthesis(w.to(torch.bfloat16))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()
    with torch.inference_mode():
        ref = tiny.synthesis(w)
    assert max_rel_err(out.float(), ref) < 0.1
    # mixed precision: fp32 weights under autocast (what the engines do on CUDA), here with CPU bf16 autocast
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = tiny.synthesis(w)
    assert torch.isfinite(mixed.float()).all() and max_rel_err(mixed.float(), ref) < 0.1


# --------------------------------------------------------------------------- layout
@pytest.mark.parametrize(
    "size,json_name,n_keys",
    [(256, "generator_256_cm2.json", 135), (1024, "generator_1024_cm2_g_ema.json", 171)],
)
def test_state_dict_layout_is_the_official_one(shared_dir, size, json_name, n_keys):
    layout = json.loads((shared_dir / "official-layouts" / "stylegan2" / json_name).read_text())
    with torch.device("meta"):
        g = Generator(size)
    sd = g.state_dict()
    assert len(layout) == len(sd) == n_keys
    assert [(e["name"], tuple(e["shape"])) for e in layout] == [(k, tuple(v.shape)) for k, v in sd.items()]
    assert g.n_latent == int(math.log2(size)) * 2 - 2


def test_strict_load_refuses_missing_or_extra_keys(tiny):
    sd = dict(tiny.state_dict())
    g = Generator(8, style_dim=32, n_mlp=2, channel_multiplier=1)
    missing = {k: v for k, v in sd.items() if k != "noises.noise_2"}
    with pytest.raises(RuntimeError, match="noises.noise_2"):
        g.load_state_dict(missing, strict=True)
    with pytest.raises(RuntimeError, match="convs.99.bias"):
        g.load_state_dict({**sd, "convs.99.bias": torch.zeros(3)}, strict=True)


def test_any_size_and_channel_multiplier_forward():
    for size, cm in ((8, 2), (32, 1)):
        g = Generator(size, style_dim=32, n_mlp=2, channel_multiplier=cm).eval()
        with torch.inference_mode():
            img, _ = g([torch.randn(1, 32)], randomize_noise=False)
        assert img.shape == (1, 3, size, size) and torch.isfinite(img).all()
    with pytest.raises(InvalidArgumentError, match="power of two"):
        Generator(100)
