"""InterfaceGAN directions: boundary training, conditional projection, editing, published files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.directions import (
    VECTOR_KINDS,
    Direction,
    DirectionLibrary,
    edit,
    load_direction,
    load_e4e_direction,
    load_ganspace_directions,
    load_ganspace_pca,
    load_interfacegan_npy,
    project_boundary,
    save_direction,
    train_boundary,
)
from faceedit.errors import (
    InvalidArgumentError,
    UnsupportedEditError,
    WeightsMissingError,
    WeightsVerificationError,
)

E4E = Path("public-weights/omertov_encoder4editing/editings")
IGAN = Path("public-weights/genforce_interfacegan/boundaries")


def _unit(rng: np.random.Generator, dim: int) -> np.ndarray:
    v = rng.standard_normal((1, dim))
    return v / np.linalg.norm(v)


def _hyperplane_data(seed: int, num: int = 20000, dim: int = 32, noise: float = 0.1):
    rng = np.random.default_rng(seed)
    truth = _unit(rng, dim)[0]
    latents = rng.standard_normal((num, dim)).astype(np.float32)
    scores = latents @ truth + noise * rng.standard_normal(num)
    return latents, scores, truth


# ---------------------------------------------------------------------------- train_boundary


def test_trained_normal_recovers_known_hyperplane():
    latents, scores, truth = _hyperplane_data(seed=3)
    result = train_boundary(latents, scores, seed=0)
    assert result.normal.shape == (1, 32) and result.normal.dtype == np.float32
    assert np.linalg.norm(result.normal) == pytest.approx(1.0, abs=1e-6)
    assert float(result.normal[0] @ truth) > 0.99  # points towards higher scores
    # 2 % of 20000 at each end, 70 / 30 split
    assert (result.num_chosen, result.num_train, result.num_val) == (400, 280, 120)
    assert result.accuracy > 0.97
    assert result.remaining_accuracy > 0.8
    # slider unit: std of N(0, I) projected on a unit vector is 1
    assert result.scale == pytest.approx(1.0, abs=0.05)


def test_training_is_reproducible_given_seed_and_varies_with_it():
    latents, scores, _ = _hyperplane_data(seed=4, num=4000)
    a = train_boundary(latents, scores, chosen_ratio=0.1, seed=7)
    b = train_boundary(latents, scores, chosen_ratio=0.1, seed=7)
    c = train_boundary(latents, scores, chosen_ratio=0.1, seed=8)
    np.testing.assert_array_equal(a.normal, b.normal)
    assert not np.array_equal(a.normal, c.normal)


def test_nan_scores_are_dropped_and_counted():
    latents, scores, truth = _hyperplane_data(seed=5)
    scores = scores.copy()
    scores[::40] = np.nan
    scores[1] = -1.0e9  # an invalid_value sentinel, as the authors' classifiers emit
    result = train_boundary(latents, scores[:, None], seed=0, invalid_value=-1.0e9)
    assert result.num_dropped == 500 + 1
    assert result.num_samples == 20000
    assert float(result.normal[0] @ truth) > 0.99


def test_training_rejects_bad_input():
    latents, scores, _ = _hyperplane_data(seed=6, num=100)
    with pytest.raises(InvalidArgumentError, match="one value per latent"):
        train_boundary(latents, scores[:50])
    with pytest.raises(InvalidArgumentError, match="too few samples"):
        train_boundary(latents, scores, chosen_ratio=0.01)
    with pytest.raises(InvalidArgumentError, match="chosen_ratio"):
        train_boundary(latents, scores, chosen_ratio=0)
    with pytest.raises(InvalidArgumentError, match="too few samples"):
        train_boundary(latents, np.full(100, np.nan), chosen_ratio=0.2)


# ---------------------------------------------------------------------------- projection


def test_projection_on_one_condition_matches_paper_closed_form():
    rng = np.random.default_rng(0)
    n1, n2 = _unit(rng, 512), _unit(rng, 512)
    n2 = (n2 + 0.6 * n1) / np.linalg.norm(n2 + 0.6 * n1)  # correlated, like age and eyeglasses
    n = project_boundary(n1, n2).astype(np.float64)
    assert abs(float(np.sum(n @ n2.T))) < 1e-6
    closed = n1 - (n1 @ n2.T) * n2
    np.testing.assert_allclose(n, closed / np.linalg.norm(closed), atol=1e-6)


def test_projection_on_two_conditions_is_orthogonal_and_closest_to_primal():
    rng = np.random.default_rng(1)
    n1 = _unit(rng, 512)
    n2 = _unit(rng, 512) + 0.5 * n1
    n3 = _unit(rng, 512) + 0.3 * n1 + 0.4 * n2
    n2, n3 = n2 / np.linalg.norm(n2), n3 / np.linalg.norm(n3)
    n = project_boundary(n1, n2, n3).astype(np.float64)
    assert abs(float(np.sum(n @ n2.T))) < 1e-6 and abs(float(np.sum(n @ n3.T))) < 1e-6
    # the least-squares residual of n1 on [n2, n3] (general case) gives the same vector
    big_n = np.concatenate([n2, n3]).T
    residual = n1[0] - big_n @ np.linalg.lstsq(big_n, n1[0], rcond=None)[0]
    np.testing.assert_allclose(n[0], residual / np.linalg.norm(residual), atol=1e-6)
    # it keeps as much of the primal as possible: cos = |n1 - P n1| and no other feasible unit
    # vector does better
    best = float(np.sum(n @ n1.T))
    assert best == pytest.approx(np.linalg.norm(residual), abs=1e-6)
    q, _ = np.linalg.qr(big_n)
    for _ in range(50):
        v = rng.standard_normal(512)
        v -= q @ (q.T @ v)
        v = 0.9 * residual / np.linalg.norm(residual) + 0.1 * v / np.linalg.norm(v)
        assert float(v @ n1[0]) / np.linalg.norm(v) < best


def test_projection_on_many_conditions():
    rng = np.random.default_rng(2)
    n1 = _unit(rng, 64)
    conds = [(_unit(rng, 64) + 0.3 * n1) for _ in range(5)]
    n = project_boundary(n1, *conds).astype(np.float64)
    for c in conds:
        assert abs(float(np.sum(n @ (c / np.linalg.norm(c)).T))) < 1e-6
    assert np.linalg.norm(n) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(InvalidArgumentError, match="span of the conditions"):
        project_boundary(n1, n1 + conds[0], conds[0])


# ---------------------------------------------------------------------------- editing


def _random_direction(name: str, seed: int, **kw) -> Direction:
    return Direction(name=name, vector=_unit(np.random.default_rng(seed), 512), **kw)


def test_alpha_zero_returns_latent_unchanged():
    lib = DirectionLibrary([_random_direction("smile", 0, scale=0.8), _random_direction("age", 1)])
    w = torch.randn(2, 18, 512)
    out = lib.apply(w, {"smile": 0.0, "age": 0})
    assert torch.equal(out, w) and out is not w
    assert torch.equal(edit(w, lib.get("smile"), 0.0), w)


def test_edit_in_w_and_w_plus_is_w_plus_alpha_scale_n():
    d = _random_direction("smile", 0, scale=0.7)
    n = torch.from_numpy(np.array(d.vector))
    w = torch.randn(3, 512)
    torch.testing.assert_close(edit(w, d, 2.0), w + 2.0 * 0.7 * n, rtol=0, atol=1e-6)
    w_plus = torch.randn(3, 18, 512)
    torch.testing.assert_close(edit(w_plus, d, -1.5), w_plus - 1.5 * 0.7 * n[None], rtol=0, atol=1e-6)
    # a vector given at another length is normalised, so the step is set by the scale alone
    longer = Direction(name="smile", vector=4.0 * np.array(d.vector), scale=0.7)
    torch.testing.assert_close(edit(w, longer, 2.0), edit(w, d, 2.0), rtol=0, atol=1e-6)
    with pytest.raises(InvalidArgumentError, match="finite"):
        edit(w, d, float("inf"))


def test_layer_limited_edit_leaves_other_layers_untouched():
    pose = _random_direction("pose", 2, layers=(0, 4), scale=1.3)
    smile = _random_direction("smile", 3, layers=(4, 6))
    lib = DirectionLibrary([pose, smile])
    w = torch.randn(2, 18, 512)
    out = lib.apply(w, {"pose": 2.5})
    assert torch.equal(out[:, 4:], w[:, 4:])
    n = torch.from_numpy(np.array(pose.vector))
    torch.testing.assert_close(out[:, :4], w[:, :4] + 2.5 * 1.3 * n, rtol=0, atol=1e-6)
    # two directions at once: each on its own layers, the rest bit-identical
    both = lib.apply(w, {"pose": 1.0, "smile": -2.0})
    assert torch.equal(both[:, 6:], w[:, 6:])
    torch.testing.assert_close(both[:, :4], lib.apply(w, {"pose": 1.0})[:, :4], rtol=0, atol=0)
    torch.testing.assert_close(both[:, 4:6], lib.apply(w, {"smile": -2.0})[:, 4:6], rtol=0, atol=0)
    with pytest.raises(InvalidArgumentError, match="per layer"):
        edit(torch.randn(1, 512), pose, 1.0)


def test_several_directions_add_up():
    lib = DirectionLibrary([_random_direction("a", 4, scale=0.5), _random_direction("b", 5, scale=2.0)])
    w = torch.randn(1, 18, 512)
    both = lib.apply(w, {"a": 1.0, "b": -0.5})
    expected = w + lib.apply(w, {"a": 1.0}) - w + lib.apply(w, {"b": -0.5}) - w
    torch.testing.assert_close(both, expected, rtol=0, atol=1e-5)


def test_library_errors_name_the_problem():
    lib = DirectionLibrary([_random_direction("smile", 0)])
    w = torch.randn(1, 18, 512)
    with pytest.raises(InvalidArgumentError, match="known directions: smile"):
        lib.apply(w, {"smyle": 1.0})
    with pytest.raises(InvalidArgumentError, match="must be a number"):
        lib.apply(w, {"smile": float("nan")})
    with pytest.raises(InvalidArgumentError, match="w_plus must be"):
        lib.apply(torch.randn(18, 512), {"smile": 1.0})
    with pytest.raises(InvalidArgumentError, match="already"):
        lib.add(_random_direction("smile", 1))
    lib.add(Direction(name="l2m_smile", vector=np.zeros((1, 512)), kind="l2m"))
    assert lib.names() == ["smile", "l2m_smile"]
    assert lib.names(VECTOR_KINDS) == ["smile"] and lib.names(["l2m"]) == ["l2m_smile"]
    with pytest.raises(UnsupportedEditError, match="l2m"):
        lib.apply(w, {"l2m_smile": 1.0})
    with pytest.raises(InvalidArgumentError, match="layers"):
        Direction(name="x", vector=np.ones((1, 512)), layers=(5, 2))
    with pytest.raises(InvalidArgumentError, match="only 8 layers"):
        DirectionLibrary([_random_direction("p", 0, layers=(0, 10))]).apply(torch.randn(1, 8, 512), {"p": 1})


def test_conditioned_edit_does_not_move_the_condition_coordinate():
    rng = np.random.default_rng(9)
    age = _unit(rng, 512)
    smile = _unit(rng, 512) + 0.5 * age
    lib = DirectionLibrary([Direction("smile", smile / np.linalg.norm(smile)), Direction("age", age)])
    w = torch.randn(2, 18, 512, dtype=torch.float64).float()
    n_age = torch.from_numpy(age[0]).float()
    plain = lib.apply(w, {"smile": 3.0})
    cond = lib.apply(w, {"smile": 3.0}, conditions={"smile": ["age"]})
    assert float(((plain - w) @ n_age).abs().max()) > 0.5  # unconditioned smile drags age along
    assert float(((cond - w) @ n_age).abs().max()) < 1e-5
    d = lib.conditioned("smile", ["age"])
    assert d.name == "smile|age" and abs(float(d.vector[0] @ age[0])) < 1e-6


# ---------------------------------------------------------------------------- files


def test_e4e_directions_load_with_shapes_and_unit_norm(data_dir):
    root = data_dir / E4E / "interfacegan_directions"
    for name in ("age", "smile", "pose"):
        d = load_e4e_direction(root / f"{name}.pt")
        assert d.name == name and d.vector.shape == (1, 512) and d.vector.dtype == np.float32
        assert np.linalg.norm(d.vector) == pytest.approx(1.0, abs=1e-5)
    # pose is stored [1, 18, 512]: the library's per-layer offset reproduces the file exactly
    raw = torch.load(root / "pose.pt", map_location="cpu", weights_only=True)
    assert raw.shape == (1, 18, 512)
    pose = load_e4e_direction(root / "pose.pt")
    torch.testing.assert_close(pose.offset(1.0, 18)[None], raw, rtol=0, atol=1e-6)


def test_interfacegan_boundaries_load(data_dir):
    files = sorted((data_dir / IGAN / "stylegan2_ffhq_w").glob("boundary_*.npy"))
    assert len(files) == 39
    names = set()
    for f in files:
        d = load_interfacegan_npy(f)
        names.add(d.name)
        assert d.vector.shape == (1, 512) and d.vector.dtype == np.float32
        assert np.linalg.norm(d.vector) == pytest.approx(1.0, abs=1e-5)
    assert {"Smiling", "Young", "Male", "Eyeglasses"} <= names
    old = load_interfacegan_npy(data_dir / IGAN / "stylegan_ffhq_smile_w_boundary.npy", name="smile_v1")
    assert np.load(data_dir / IGAN / "stylegan_ffhq_smile_w_boundary.npy").dtype == np.float64
    assert old.vector.dtype == np.float32 and old.vector.shape == (1, 512)


def test_ganspace_pca_loads_with_std_as_scale(data_dir):
    path = data_dir / E4E / "ganspace_pca" / "ffhq_pca.pt"
    pca = load_ganspace_pca(path)
    assert pca.comp.shape == (80, 512) and pca.std.shape == (80,) and pca.mean.shape == (512,)
    np.testing.assert_allclose(pca.comp @ pca.comp.T, np.eye(80), atol=1e-5)
    dirs = load_ganspace_directions(path, count=5)
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert [d.name for d in dirs] == ["pca0", "pca1", "pca2", "pca3", "pca4"]
    for i, d in enumerate(dirs):
        assert d.kind == "ganspace" and d.scale == pytest.approx(float(raw["std"][i]))
        np.testing.assert_allclose(d.vector, raw["comp"][i].numpy(), atol=1e-6)
    # the PCA's own estimate of a component's std is its std
    assert pca.projected_std(pca.comp[3]) == pytest.approx(float(pca.std[3]), rel=1e-4)


def _registry_paths(data_dir: Path) -> dict[str, Path]:
    e4e = data_dir / E4E
    paths = {
        "e4e.direction.smile": e4e / "interfacegan_directions/smile.pt",
        "e4e.direction.age": e4e / "interfacegan_directions/age.pt",
        "e4e.direction.pose": e4e / "interfacegan_directions/pose.pt",
        "ganspace.ffhq_pca": e4e / "ganspace_pca/ffhq_pca.pt",
    }
    for f in (data_dir / IGAN / "stylegan2_ffhq_w").glob("boundary_*.npy"):
        paths[f"interfacegan.stylegan2_ffhq_w.{f.stem.removeprefix('boundary_')}"] = f
    return paths


def test_library_from_registry_and_smile_edit_is_w_plus_alpha_n(data_dir):
    paths = _registry_paths(data_dir)
    lib = DirectionLibrary.from_registry(local_path=paths.get)
    assert {"smile", "age", "pose", "male", "eyeglasses", "young"} <= set(lib.names())
    smile = lib.get("smile")
    raw = torch.load(paths["e4e.direction.smile"], map_location="cpu", weights_only=True)
    # scale estimated from the same generator's GANSpace PCA: std(n^T w) of FFHQ W, about 0.86
    assert smile.scale_source == "pca" and 0.5 < smile.scale < 1.5
    w = torch.randn(2, 18, 512)
    out = lib.apply(w, {"smile": 1.5})
    torch.testing.assert_close(out, w + 1.5 * smile.scale * raw[None], rtol=0, atol=1e-6)
    # without the PCA the slider is in raw W units, exactly e4e's ``latent + factor * direction``
    plain = DirectionLibrary.from_registry(pca_name=None, local_path=paths.get)
    assert plain.get("smile").scale == 1.0 and plain.get("smile").scale_source == "unit"
    torch.testing.assert_close(plain.apply(w, {"smile": -2.0}), w - 2.0 * raw[None], rtol=0, atol=1e-6)
    # a registry with nothing present gives an empty library, not an error
    assert len(DirectionLibrary.from_registry(local_path=lambda name: None)) == 0


def test_user_direction_round_trips_through_safetensors(tmp_path):
    d = Direction(
        name="smile_mine",
        vector=_unit(np.random.default_rng(0), 512),
        layers=(4, 8),
        scale=0.93,
        source="trained by test",
        kind="user",
        generator="stylegan2.ffhq",
        accuracy=0.975,
        scale_source="samples",
        metadata={"scorer": "smile"},
    )
    path = save_direction(d, tmp_path / "smile_mine.safetensors")
    back = load_direction(path)
    np.testing.assert_array_equal(back.vector, d.vector)
    for attr in ("name", "layers", "scale", "source", "kind", "generator", "accuracy", "scale_source"):
        assert getattr(back, attr) == getattr(d, attr), attr
    assert back.metadata == {"scorer": "smile"}


def test_bad_direction_files_are_refused(tmp_path):
    with pytest.raises(WeightsMissingError, match="not found"):
        load_e4e_direction(tmp_path / "missing.pt")
    pickled = tmp_path / "evil.npy"
    np.save(pickled, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(WeightsVerificationError, match="not a plain numpy"):
        load_interfacegan_npy(pickled)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.ones((2, 512)))
    with pytest.raises(WeightsVerificationError, match=r"\[1, dim\]"):
        load_interfacegan_npy(wrong)
    evil_pt = tmp_path / "evil.pt"
    torch.save({"direction": torch.ones(1, 512), "call": math.sqrt}, evil_pt)
    with pytest.raises(WeightsVerificationError, match="loaded safely"):
        load_e4e_direction(evil_pt)
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(WeightsVerificationError, match="not a faceedit direction"):
        load_direction(tmp_path / "junk.safetensors")


def test_named_ganspace_edits_match_e4e_examples_from_the_mean(data_dir):
    paths = _registry_paths(data_dir)
    lib = DirectionLibrary.from_registry(local_path=paths.get)
    raw = torch.load(paths["ganspace.ffhq_pca"], map_location="cpu", weights_only=True)
    hair = lib.get("white_hair")
    assert hair.kind == "ganspace" and hair.layers == (7, 10)
    # e4e sets component 57 to -24 std on layers 7..9; from the PCA mean, slider +3 lands exactly there
    mean = raw["mean"].reshape(1, 1, 512).expand(1, 18, 512)
    out = lib.apply(mean, {"white_hair": 3.0})
    comp, std = raw["comp"][57].reshape(512), raw["std"][57]
    coords = ((out - mean) @ comp) / std
    torch.testing.assert_close(coords[0, 7:10], torch.full((3,), -24.0), rtol=0, atol=1e-3)
    assert torch.equal(out[:, :7], mean[:, :7]) and torch.equal(out[:, 10:], mean[:, 10:])


def test_library_through_the_weights_registry(data_dir, tmp_path, monkeypatch):
    """The published files imported into the weights cache give the sliders the app shows."""
    from faceedit import weights

    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path))
    paths = _registry_paths(data_dir)
    for name in ("e4e.direction.smile", "e4e.direction.age", "e4e.direction.pose", "ganspace.ffhq_pca",
                 "interfacegan.stylegan2_ffhq_w.Male", "interfacegan.stylegan2_ffhq_w.Eyeglasses"):  # fmt: skip
        weights.import_file(paths[name], name=name)
    lib = DirectionLibrary.from_registry()
    assert {"smile", "age", "pose", "male", "eyeglasses", "white_hair"} <= set(lib.names())
    assert "young" not in lib  # not imported: left out, no error
    raw = torch.load(paths["e4e.direction.age"], map_location="cpu", weights_only=True)
    w = torch.randn(1, 18, 512)
    age = lib.get("age")
    torch.testing.assert_close(lib.apply(w, {"age": -2.0}), w - 2.0 * age.scale * raw[None], rtol=0, atol=1e-6)
    # the registry's own loader entry point gives the same direction
    weights.clear_model_cache()
    loaded = weights.load_model("e4e.direction.smile")
    weights.clear_model_cache()
    np.testing.assert_array_equal(loaded.vector, lib.get("smile").vector)


def test_every_published_ffhq_direction_is_a_grouped_slider(data_dir):
    """All 39 InterfaceGAN StyleGAN2-FFHQ boundaries and e4e's three files reach a slider, in groups."""
    from faceedit import weights

    specs = weights.registry()
    boundaries = [n for n in specs if n.startswith("interfacegan.stylegan2_ffhq_w.")]
    assert len(boundaries) == 39
    paths = _registry_paths(data_dir)
    assert set(boundaries) <= set(paths)
    lib = DirectionLibrary.from_registry(local_path=paths.get)
    sliders = {specs[n].slider for n in specs if specs[n].slider}
    assert sliders <= set(lib.names()) and len(sliders) == 41  # 39 + 3 files, one name shared ("smile")
    # the shared name goes to the first row of the manifest: e4e's smile.pt, not boundary_Smiling.npy
    assert "e4e" in lib.get("smile").source and "Smiling" not in lib.get("smile").source
    assert lib.get("no_beard").group == "facial hair" and lib.get("eyeglasses").group == "accessories"
    assert lib.get("young").group == "age and gender" and lib.get("pose").group == "pose"
    assert lib.get("male").layers == (0, 18) and lib.get("white_hair").group == "hair"
    groups = {lib.get(n).group for n in lib.names()}
    assert {"expression", "age and gender", "hair", "accessories", "face shape", "pose"} <= groups
    # a boundary row moves the latent along its file's unit normal on the manifest's layers
    raw = np.load(paths["interfacegan.stylegan2_ffhq_w.Bangs"]).astype(np.float64)
    w = torch.zeros(1, 18, 512)
    bangs = lib.get("bangs")
    step = lib.apply(w, {"bangs": 1.0})[0] / bangs.scale
    np.testing.assert_allclose(step.numpy(), np.repeat(raw / np.linalg.norm(raw), 18, 0), atol=1e-6)


def test_directions_command_lists_registry_and_trained_files(data_dir, tmp_path, monkeypatch, capsys):
    import argparse
    import json

    from faceedit import weights
    from faceedit.commands import directions as command

    monkeypatch.setenv("FACEEDIT_WEIGHTS_DIR", str(tmp_path / "cache"))
    weights.import_file(_registry_paths(data_dir)["e4e.direction.smile"], name="e4e.direction.smile")
    mine = save_direction(
        Direction(name="grin", vector=np.ones((1, 512)), scale=0.5, kind="user", accuracy=0.9), tmp_path / "g.safetensors"
    )
    parser = argparse.ArgumentParser()
    command.register(parser.add_subparsers())
    args = parser.parse_args(["directions", "--json", "--file", str(mine)])
    assert args.func(args) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"smile", "grin"}
    assert rows["grin"]["accuracy"] == 0.9 and rows["smile"]["kind"] == "interfacegan"


def test_scales_measured_on_generator_samples():
    from faceedit.directions import sample_w

    rng = np.random.default_rng(11)
    a = torch.from_numpy(rng.standard_normal((512, 512)) * 0.05 + np.eye(512) * 0.5).float()
    mapping = torch.nn.Linear(512, 512)
    with torch.no_grad():
        mapping.weight.copy_(a)
        mapping.bias.fill_(0.3)
    w = sample_w(mapping, num_samples=20000, seed=0)
    assert w.shape == (20000, 512)
    torch.testing.assert_close(w[:5], sample_w(mapping, num_samples=5, seed=0, batch_size=2))  # batch-independent
    n = _unit(rng, 512)
    lib = DirectionLibrary([Direction("smile", n), Direction("pc", n, kind="ganspace", scale=2.0)])
    measured = lib.with_measured_scales(w)
    # W = A z + b, so std(n . w) = |A^T n|
    expected = float(np.linalg.norm(a.double().numpy().T @ n[0]))
    assert measured.get("smile").scale == pytest.approx(expected, rel=0.02)
    assert measured.get("smile").scale_source == "samples"
    assert measured.get("pc").scale == 2.0 and lib.get("smile").scale == 1.0  # copy; GANSpace kept


def test_parity_with_the_official_interfacegan_code():
    """Reference outputs of genforce/interfacegan utils/manipulator.py (see tests/data/interfacegan/README.md)."""
    from safetensors.numpy import load_file

    ref = load_file(str(Path(__file__).parent / "data" / "interfacegan" / "reference.safetensors"))
    result = train_boundary(ref["latents"], ref["scores"], chosen_ratio=0.1, split_ratio=1.0, seed=0)
    assert (result.num_chosen, result.num_train, result.num_val) == (200, 200, 0)
    assert float(np.sum(result.normal * ref["boundary"])) > 0.99999
    # limits derived in tests/data/interfacegan/README.md: the SVM's solver tolerance, 10x float32 rounding
    np.testing.assert_allclose(result.normal, ref["boundary"], atol=1e-3)
    np.testing.assert_allclose(project_boundary(ref["primal"], ref["cond1"]), ref["projected1"], atol=2e-7)
    np.testing.assert_allclose(
        project_boundary(ref["primal"], ref["cond1"], ref["cond2"]), ref["projected2"], atol=2e-7
    )
