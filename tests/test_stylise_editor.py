"""Stylise editor (aligned space): G_A/G_B strength blend, one generator pass per slider move, lite styles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.editors.stylise import LITE_STYLES, GanStyliser, check_artwork, lite_stylise
from faceedit.errors import CheckpointLayoutError, InvalidArgumentError, InvalidImageError, NoFaceFoundError
from faceedit.imaging import from_tensor
from faceedit.models.stylegan2 import Generator

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def gens() -> tuple[Generator, Generator]:
    torch.manual_seed(0)
    g_a = Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g_b = Generator(32, style_dim=64, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)
    g_b.load_state_dict(g_a.state_dict())
    with torch.no_grad():  # the "art" generator: G_A fine-tuned, as DiFa/NADA/JoJoGAN styles are
        for name, p in g_b.named_parameters():
            if name.startswith(("convs.", "conv1.", "input.")):
                p.add_(0.3 * torch.randn_like(p))
    return g_a, g_b


def codes(n: int, g: Generator, seed: int = 1) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(g.n_latent, g.style_dim, generator=gen) for _ in range(n)]


def test_strength_0_is_exactly_ga_and_1_exactly_gb(gens):
    g_a, g_b = gens
    st = GanStyliser(g_a, g_b, "style.test")
    (w,) = codes(1, g_a)
    with torch.inference_mode():
        ref_a = from_tensor(g_a.synthesis(w[None]))
        ref_b = from_tensor(g_b.synthesis(w[None]))
    r0, r1, rh = st.render(w, 0.0), st.render(w.numpy(), 1.0), st.render(w, 0.5)
    assert np.array_equal(r0.image, ref_a) and np.array_equal(r1.image, ref_b)
    assert r0.image.shape == (32, 32, 3) and r0.label == "style.test @ 0.00"
    d_a = np.abs(rh.image.astype(int) - ref_a).mean()
    d_b = np.abs(rh.image.astype(int) - ref_b).mean()
    d_ab = np.abs(ref_a.astype(int) - ref_b).mean()
    assert d_ab > 5 and 0 < d_a < d_ab and 0 < d_b < d_ab  # half-way really is between the two
    a, b = st.compare(w)
    assert np.array_equal(a, ref_a) and np.array_equal(b, ref_b)


def test_one_generator_pass_per_slider_move(gens, monkeypatch):
    g_a, g_b = gens
    st = GanStyliser(g_a, g_b)
    calls = {"synth": 0, "blend": 0}
    real_synth, real_load = Generator._synthesize, Generator.load_state_dict

    def count_synth(self, *a, **k):
        calls["synth"] += 1
        return real_synth(self, *a, **k)

    def count_load(self, *a, **k):
        calls["blend"] += 1
        return real_load(self, *a, **k)

    monkeypatch.setattr(Generator, "_synthesize", count_synth)
    monkeypatch.setattr(Generator, "load_state_dict", count_load)
    ws = codes(4, g_a, seed=3)
    st.render(ws[0], 0.7)
    assert calls == {"synth": 1, "blend": 1}
    for w in ws[1:]:  # attribute sliders at a fixed strength: one pass each, no new blend
        st.render(w, 0.7)
    assert calls == {"synth": 4, "blend": 1}
    st.render(ws[0], 0.4)  # strength slider: one blend and one pass
    st.render(ws[0], 1.0)  # the end points need no blend
    assert calls == {"synth": 6, "blend": 2} and st.passes == 6


def test_strength_and_architecture_are_checked(gens):
    g_a, g_b = gens
    st = GanStyliser(g_a, g_b)
    with pytest.raises(InvalidArgumentError, match="between 0"):
        st.render(codes(1, g_a)[0], 1.5)
    other = Generator(64, style_dim=64, n_mlp=2, channel_multiplier=1)
    with pytest.raises(CheckpointLayoutError, match="does not match the source generator"):
        GanStyliser(g_a, other, "style.wrong")


def face_like(size: int = 128) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    img = np.zeros((size, size, 3), np.uint8)
    img[...] = (200, 170, 150)
    img[((xx - size / 2) ** 2 / 0.6 + (yy - size / 2) ** 2) < (size / 3) ** 2] = (220, 180, 160)
    for cx in (0.38, 0.62):
        img[((xx - cx * size) ** 2 + (yy - 0.42 * size) ** 2) < 25] = (40, 30, 30)
    img[(abs(yy - 0.7 * size) < 3) & (abs(xx - size / 2) < 15)] = (150, 40, 50)
    return img


@pytest.mark.parametrize("style", sorted(LITE_STYLES))
def test_lite_styles_change_the_face_and_keep_its_size(style):
    img = face_like()
    r = lite_stylise(img, style)
    assert r.image.shape == img.shape and r.image.dtype == np.uint8
    assert np.abs(r.image.astype(int) - img).mean() > 3
    assert r.label.startswith("lite: ")
    assert np.array_equal(lite_stylise(img, style).image, r.image)  # deterministic


def test_lite_bad_input():
    with pytest.raises(InvalidArgumentError, match="one of: edge_preserving, pencil, cartoon"):
        lite_stylise(face_like(), "oil")
    with pytest.raises(InvalidImageError, match="uint8"):
        lite_stylise(face_like().astype(np.float32), "pencil")


def test_non_face_artwork_gets_a_clear_error():
    yy, xx = np.mgrid[:256, :256]
    abstract = np.stack([(xx * 7 % 256), (yy * 3 % 256), ((xx + yy) % 256)], axis=2).astype(np.uint8)
    with pytest.raises(NoFaceFoundError, match="No face was found in this artwork"):
        check_artwork(abstract)
    sentinel = object()
    assert check_artwork(abstract, detect=lambda img: [sentinel]) is sentinel
