"""Boundary training pipeline end to end on a tiny generator, and the landmark scorers."""

from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from faceedit.directions import DirectionLibrary, load_direction
from faceedit.errors import InvalidArgumentError
from faceedit.scorers import (
    face_landmarks,
    get_scorer,
    pitch_from_landmarks,
    pitch_score,
    smile_from_landmarks,
    smile_score,
    yaw_from_landmarks,
    yaw_score,
)
from faceedit.train import boundary

DIM, LAYERS, SIDE = 16, 6, 16


class TinyGenerator(torch.nn.Module):
    """A generator with StyleGAN's call points: ``style`` (mapping) and ``synthesis`` (W+ -> image).

    The image's left half shows ``tanh(0.4 * w . u)`` (the "attribute"), its right half
    ``tanh(w . v)`` (a nuisance the stub scorer uses to refuse some images, like a missed face).
    """

    style_dim = DIM
    n_latent = LAYERS

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.mapping = torch.nn.Linear(DIM, DIM)
        with torch.no_grad():
            self.mapping.weight.copy_(torch.eye(DIM) + 0.3 * torch.randn(DIM, DIM, generator=g))
            self.mapping.bias.copy_(0.1 * torch.randn(DIM, generator=g))
        u, v = torch.randn(2, DIM, generator=g)
        self.register_buffer("u", u / u.norm())
        self.register_buffer("v", v / v.norm())

    def style(self, z: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.leaky_relu(self.mapping(z), 0.2)

    def synthesis(self, w_plus: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        assert w_plus.shape[1:] == (LAYERS, DIM) and noise_mode == "const"
        w = w_plus.mean(1)
        img = torch.zeros(w.shape[0], 3, SIDE, SIDE)
        img[..., : SIDE // 2] = torch.tanh(0.4 * w @ self.u)[:, None, None, None]
        img[..., SIDE // 2 :] = torch.tanh(w @ self.v)[:, None, None, None]
        return img


def tiny_generator() -> TinyGenerator:
    return TinyGenerator()


def stub_score(image: np.ndarray) -> float:
    """Brightness of the left half; NaN when the right half is nearly white (a "missed face")."""
    assert image.dtype == np.uint8 and image.shape == (SIDE, SIDE, 3)
    if image[0, -1, 0] > 230:
        return float("nan")
    return float(image[:, : SIDE // 2].mean())


def _effective_truth(gen: TinyGenerator) -> np.ndarray:
    return gen.u.numpy().astype(np.float64)


def test_pipeline_end_to_end_on_tiny_generator(tmp_path):
    gen = tiny_generator()
    run = boundary.train_from_generator(
        gen,
        stub_score,
        name="brightness",
        num_samples=3000,
        batch_size=64,
        seed=1,
        chosen_ratio=0.05,
        layers=(0, 3),
        generator_name="tiny",
        scorer_name="stub",
        out_dir=tmp_path,
    )
    r = run.result
    # the stub refuses some images; they are dropped and counted
    scores = np.load(tmp_path / "scores.npy")
    assert r.num_dropped == int(np.isnan(scores).sum()) > 20
    assert r.num_samples == 3000 and r.num_chosen == int((3000 - r.num_dropped) * 0.05)
    # the trained normal is the generator's attribute axis in W
    cos = float(run.direction.vector[0].astype(np.float64) @ _effective_truth(gen))
    assert cos > 0.95, cos
    assert r.accuracy > 0.95
    # scale: std of the sampled W along the normal
    latents = np.load(tmp_path / "latents.npy")
    assert latents.shape == (3000, DIM)
    assert run.direction.scale == pytest.approx(float(np.std(latents @ run.direction.vector[0])), rel=1e-5)

    saved = load_direction(tmp_path / "brightness.safetensors")
    np.testing.assert_array_equal(saved.vector, run.direction.vector)
    assert saved.layers == (0, 3) and saved.generator == "tiny" and saved.kind == "user"
    assert saved.accuracy == pytest.approx(r.accuracy) and saved.scale_source == "samples"
    options = json.loads((tmp_path / "options.json").read_text())
    assert options["num_samples"] == 3000 and options["seed"] == 1 and options["layers"] == [0, 3]
    lines = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert lines[-1]["final"] and lines[-1]["accuracy"] == pytest.approx(r.accuracy)

    # the saved direction moves the attribute: +alpha brightens the left half, on its layers only
    lib = DirectionLibrary([saved])
    w = gen.style(torch.randn(4, DIM, generator=torch.Generator().manual_seed(5)))
    w_plus = w[:, None].expand(-1, LAYERS, -1).contiguous()
    up, down = lib.apply(w_plus, {"brightness": 2.0}), lib.apply(w_plus, {"brightness": -2.0})
    assert torch.equal(up[:, 3:], w_plus[:, 3:])
    with torch.no_grad():
        left = [gen.synthesis(x)[:, 0, 0, 0] for x in (down, w_plus, up)]
    assert bool((left[0] < left[1]).all() and (left[1] < left[2]).all())


def test_pipeline_is_reproducible_and_cli_writes_the_run(tmp_path, capsys):
    argv = [
        "--generator", "test_boundary_training:tiny_generator",
        "--scorer", "test_boundary_training:stub_score",
        "--name", "bright", "--num-samples", "600", "--batch-size", "100",
        "--chosen-ratio", "0.1", "--seed", "3", "--layers", "1:4",
    ]  # fmt: skip
    assert boundary.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert "validation accuracy" in capsys.readouterr().out
    assert boundary.main([*argv, "--out", str(tmp_path / "b")]) == 0
    a = load_direction(tmp_path / "a" / "bright.safetensors")
    b = load_direction(tmp_path / "b" / "bright.safetensors")
    np.testing.assert_array_equal(a.vector, b.vector)
    assert a.layers == (1, 4) and a.metadata["scorer"] == "test_boundary_training:stub_score"
    # a bad option is one plain error line and status 2, no traceback
    assert boundary.main([*argv[:4], "--scorer", "nosuch", "--out", str(tmp_path / "c")]) == 2
    assert "known scorers: smile, yaw, pitch" in capsys.readouterr().err


def test_truncation_renders_closer_to_the_mean_but_keeps_the_full_scale():
    gen = tiny_generator()
    w, scores, w_full = boundary.sample_and_score(gen, stub_score, num_samples=200, batch_size=50, truncation=0.5)
    np.testing.assert_allclose(w - w_full.mean(0), 0.5 * (w_full - w_full.mean(0)), atol=1e-5)
    assert scores.shape == (200,)
    with pytest.raises(InvalidArgumentError, match="truncation"):
        boundary.sample_and_score(gen, stub_score, num_samples=10, truncation=0)


# ---------------------------------------------------------------------------- scorers


@pytest.fixture(scope="module")
def astronaut_landmarks(astronaut):
    lm = face_landmarks(astronaut)
    assert lm is not None and lm.shape[0] >= 468
    return lm


def _rotate(lm: np.ndarray, yaw_deg: float = 0.0, pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate the mesh in 3-D about its centroid (x right, y down, z away from the camera)."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    ry = np.array([[math.cos(a), 0, -math.sin(a)], [0, 1, 0], [math.sin(a), 0, math.cos(a)]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), math.sin(b)], [0, -math.sin(b), math.cos(b)]])
    c = lm.mean(0)
    return ((lm - c) @ (rx @ ry).T + c).astype(np.float32)


def test_yaw_and_pitch_follow_a_known_head_rotation(astronaut_landmarks):
    lm = astronaut_landmarks
    yaw0, pitch0 = yaw_from_landmarks(lm), pitch_from_landmarks(lm)
    turned = _rotate(lm, yaw_deg=20)
    # the nose tip (mesh point 1) moves to the image right, and the yaw grows by the rotation
    assert turned[1, 0] > lm[1, 0]
    assert yaw_from_landmarks(turned) - yaw0 == pytest.approx(20, abs=2)
    up = _rotate(lm, pitch_deg=15)
    assert up[1, 1] < lm[1, 1]  # nose tip moves up the image: looking up
    assert pitch_from_landmarks(up) - pitch0 == pytest.approx(15, abs=2)


def test_smile_score_rises_when_mouth_corners_rise_and_widen(astronaut_landmarks):
    lm = astronaut_landmarks.copy()
    d = float(np.linalg.norm(lm[263, :2] - lm[33, :2]))
    base = smile_from_landmarks(lm)
    raised = lm.copy()
    raised[[61, 291], 1] -= 0.05 * d  # both corners up by 5 % of the eye distance (face is upright)
    assert smile_from_landmarks(raised) - base == pytest.approx(0.1, abs=0.01)
    wider = lm.copy()
    wider[61, 0] -= 0.05 * d
    wider[291, 0] += 0.05 * d
    assert smile_from_landmarks(wider) - base == pytest.approx(0.1, abs=0.01)


def test_scorers_on_a_photo(astronaut):
    smile, yaw, pitch = smile_score(astronaut), yaw_score(astronaut), pitch_score(astronaut)
    assert all(np.isfinite([smile, yaw, pitch]))
    assert abs(yaw) < 15  # the astronaut faces the camera
    # mirroring the photo mirrors the yaw and keeps smile and pitch
    flipped = np.ascontiguousarray(astronaut[:, ::-1])
    assert yaw_score(flipped) == pytest.approx(-yaw, abs=3)
    assert smile_score(flipped) == pytest.approx(smile, rel=0.05)
    assert pitch_score(flipped) == pytest.approx(pitch, abs=3)
    # size does not matter (lengths are in eye distances)
    half = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    assert smile_score(half) == pytest.approx(smile, rel=0.08)
    # no face: NaN, which train_boundary drops
    assert math.isnan(smile_score(np.full((128, 128, 3), 127, np.uint8)))
    with pytest.raises(InvalidArgumentError, match="uint8"):
        smile_score(astronaut.astype(np.float32))
    assert get_scorer("yaw") is yaw_score


def test_pipeline_drives_the_stylegan2_generator(tmp_path):
    """The real generator class (tiny, seeded random weights) plugs into the pipeline as it is."""
    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    gen = Generator(8, style_dim=32, n_mlp=2, channel_multiplier=1).eval().requires_grad_(False)

    def redness(image: np.ndarray) -> float:
        return float(image[..., 0].mean()) - float(image[..., 1:].mean())

    run = boundary.train_from_generator(
        gen, redness, name="red", num_samples=160, batch_size=80, chosen_ratio=0.25, seed=0, out_dir=tmp_path
    )
    assert run.direction.vector.shape == (1, 32) and run.result.num_dropped == 0
    assert run.result.accuracy > 0.8
    # moving fresh samples along the trained direction makes them redder, on average and for most
    lib = DirectionLibrary([load_direction(run.path)])
    w = gen.style(torch.randn(24, 32, generator=torch.Generator().manual_seed(99)))
    w_plus = w[:, None].expand(-1, gen.n_latent, -1).contiguous()
    with torch.no_grad():
        scores = [
            np.array([redness(im) for im in boundary._to_uint8(gen.synthesis(lib.apply(w_plus, {"red": a})))])
            for a in (-2.0, 2.0)
        ]
    assert (scores[1] > scores[0]).mean() > 0.8
