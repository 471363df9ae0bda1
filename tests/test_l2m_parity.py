"""Parity with the official L2M-GAN code (rucmlcv/L2M-GAN @ ad2f7067) on seeded random weights.

The reference tensors in tests/data/l2m/ were produced by the official code (see its README.md); the weights are
re-created here from the same seeds (``l2m_recipe``), so no weights are committed.  Limits, relative to each
tensor's max |value|: 10x the float32-vs-float64 error of these networks on these weights (measured with
tests/measure_parity_error.py; numbers in tests/data/l2m/README.md).
"""

from __future__ import annotations

from pathlib import Path

import l2m_recipe as R
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from faceedit.models.l2m import (
    Discriminator,
    Generator,
    StyleCodes,
    StyleEncoder,
    edit_style,
    load_strict,
    reference_style,
)
from faceedit.models.wing import FAN, heatmaps_to_masks

DATA = Path(__file__).parent / "data" / "l2m"


def _build(net: torch.nn.Module, name: str, layouts: Path) -> torch.nn.Module:
    return load_strict(net, R.weights(name, layouts), name).eval()


@pytest.fixture(scope="module")
def layouts(shared_dir: Path) -> Path:
    return shared_dir / "official-layouts" / "l2m"


@pytest.fixture(scope="module")
def ref() -> dict[str, torch.Tensor]:
    out = load_file(DATA / "codes.safetensors")
    out["xf"] = out["x"].float() / 127.5 - 1
    return out


@pytest.fixture(scope="module")
def codes(ref, layouts) -> StyleCodes:
    enc = _build(StyleEncoder(256, 64, 2), "style_encoder", layouts)
    with torch.inference_mode():
        return enc.codes(ref["xf"], ref["y"], ref["y_target"])


def _close(actual: torch.Tensor, expected: torch.Tensor, rel: float) -> None:
    """max |actual - expected| <= rel * max |expected|."""
    err = (actual.double() - expected.double()).abs().max().item()
    limit = rel * expected.double().abs().max().item()
    assert err <= limit, f"max abs difference {err:.3g} > {limit:.3g}"


CODES_TOL = 7e-6  # style codes and edits: float32 error up to 6.8e-7 of max |s|
IMAGE_TOL = 8e-5  # generator images: up to 7.3e-6 (w_hpf=1), 2.5e-6 (w_hpf=0) of max |image|
DISC_TOL = 5e-6  # discriminator logits: up to 4.9e-7
FAN_TOL = 1e-5  # raw FAN heatmaps: up to 9.5e-7


def test_style_encoder_both_heads(codes, ref):
    # batch item 0: source head 0, transformer head 1; item 1: source head 1, transformer head 0
    for key in ("s", "s1", "s2", "s3"):
        _close(getattr(codes, key), ref[key], CODES_TOL)


def test_editing_step_and_reference_guided(codes, ref):
    _close(edit_style(codes, 1.0), ref["s_edit1"], CODES_TOL)
    _close(edit_style(codes, 0.5), ref["s_edit05"], CODES_TOL)
    src = StyleCodes(*(t[0:1] for t in (codes.s, codes.s1, codes.s2, codes.s3)))
    other = StyleCodes(*(t[1:2] for t in (codes.s, codes.s1, codes.s2, codes.s3)))
    _close(reference_style(src, other), ref["s_ref"], CODES_TOL)


def test_generator_whpf1_with_and_without_masks(codes, ref, layouts):
    gen = _build(Generator(256, 64, w_hpf=1), "generator", layouts)
    out = load_file(DATA / "generator_whpf1.safetensors")
    masks = ref["masks"].float() / 255
    s_edit = edit_style(codes, 1.0)[0:1]  # end to end: our codes into our generator
    with torch.inference_mode():
        plain = gen(ref["xf"][0:1], s_edit)
        hpf = gen(ref["xf"][0:1], s_edit, masks=(masks[0:1], masks[1:2]))
    _close(plain, out["image_edit"], IMAGE_TOL)
    _close(hpf, out["image_edit_hpf"], IMAGE_TOL)
    # the masks matter: a wrong skip path would not be caught by the plain image alone
    assert (plain - hpf).abs().max() > 0.1


def test_generator_whpf0(codes, ref, layouts):
    gen = _build(Generator(256, 64, w_hpf=0), "generator_whpf0", layouts)
    out = load_file(DATA / "generator_whpf0.safetensors")
    with torch.inference_mode():
        img = gen(ref["xf"][1:2], edit_style(codes, 0.5)[1:2])
    _close(img, out["image_whpf0"], IMAGE_TOL)


def test_discriminator(ref, layouts):
    disc = _build(Discriminator(256, 2), "discriminator", layouts)
    with torch.inference_mode():
        _close(disc(ref["xf"], ref["y"]), ref["d"], DISC_TOL)
        _close(disc.logits(ref["xf"]), ref["d_all"], DISC_TOL)


def test_fan_heatmaps_and_masks(ref, layouts):
    fan = _build(FAN(), "fan", layouts)
    out = load_file(DATA / "fan.safetensors")
    with torch.inference_mode():
        raw = fan.get_heatmap(ref["xf"][0:1], b_preprocess=False)[:, :, ::2, ::2]
    _close(raw, out["fan_raw"], FAN_TOL)
    up = F.interpolate(out["heatmaps"].float(), scale_factor=4, mode="bilinear", align_corners=True)
    m0, m1 = heatmaps_to_masks(up)
    _close(m0, out["mask0"], 1e-5)  # masks: elementwise ops on given heatmaps
    _close(m1, out["mask1"], 1e-5)
    assert 0.05 < m1.mean() < m0.mean() < 0.5  # real, non-saturated masks: the second excludes jaw, mouth, brows
