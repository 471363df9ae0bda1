"""L2M-GAN training: losses, a few CPU steps on a tiny two-domain data set, checkpoints, torchrun with gloo."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.errors import InvalidArgumentError
from faceedit.models.l2m import ResNet18Features, load_l2m
from faceedit.train.l2m import Options, Trainer, main, orthogonality_loss, train

REPO = Path(__file__).resolve().parents[1]
TINY = ["--img_size", "32", "--style_dim", "8", "--max_conv_dim", "32", "--base_dim", "8", "--batch_size", "2",
        "--num_workers", "0"]

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Two domains of 40x40 noisy colour images (4 + 3 files)."""
    root = tmp_path_factory.mktemp("l2m_data")
    rng = np.random.default_rng(0)
    for name, colour, n in (("not_smiling", (200, 80, 60), 4), ("smiling", (60, 120, 200), 3)):
        (root / name).mkdir()
        for i in range(n):
            img = np.clip(np.array(colour) + rng.normal(0, 30, (40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    (root / "smiling" / "notes.txt").write_text("not an image")
    return root


def test_orthogonality_loss_is_zero_exactly_for_orthogonal_parts():
    s1 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    s2 = torch.tensor([[0.0, 3.0, 0.0], [1.0, 0.0, 1.0]])
    s3 = torch.tensor([[0.0, 1.0, 5.0], [0.0, 0.0, -2.0]])
    assert orthogonality_loss(s1, s2, s3).item() == pytest.approx(0.0, abs=1e-7)
    assert orthogonality_loss(s1, s2 + 0.1 * s1, s3).item() > 0.01
    assert orthogonality_loss(s1, s2, s3 - s1).item() > 0.01
    assert orthogonality_loss(s1, s1, s1).item() == pytest.approx(2.0)  # parallel: the maximum


def test_every_loss_term_is_finite_and_active(tmp_path):
    opts = Options(img_size=32, style_dim=8, max_conv_dim=32, base_dim=8, w_hpf=1)
    id_net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, 2), torch.nn.AdaptiveAvgPool2d(1))
    trainer = Trainer(opts, 2, torch.device("cpu"), vgg=ResNet18Features(), id_net=id_net)
    g0 = [p.clone() for p in trainer.G.parameters()]
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 1])
    for _ in range(2):
        losses = trainer.train_step(x, y)
    assert all(np.isfinite(v) for v in losses.values()), losses
    for k in ("D/r1", "G/sty", "G/cyc", "G/per", "G/id", "G/ort"):
        assert losses[k] > 0, k
    assert trainer.step == 2
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G.parameters()))  # it learns
    # EMA nets move too, slowly
    assert any(not torch.equal(a, b) for a, b in zip(g0, trainer.G_ema.parameters()))


def test_training_step_with_fan_masks():
    from faceedit.models.wing import FAN

    opts = Options(img_size=32, style_dim=8, max_conv_dim=32, base_dim=8, w_hpf=1)
    torch.manual_seed(0)
    trainer = Trainer(opts, 2, torch.device("cpu"), fan=FAN())
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 1])
    m0, m1 = trainer._masks(x)
    assert m0.shape == (2, 1, 256, 256)  # FAN masks at 256², resized inside the generator
    losses = trainer.train_step(x, y)
    assert all(np.isfinite(v) for v in losses.values()), losses
    assert "fan" in trainer.nets_ema_state()


def test_cli_smoke_run_logs_samples_and_official_checkpoints(data, tmp_path):
    out = tmp_path / "run"
    args = ["--data", str(data), "--out", str(out), *TINY, "--total_iters", "2", "--print_every", "1",
            "--sample_every", "2", "--save_every", "2"]
    assert main(args) == 0
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2"]
    assert all(np.isfinite(float(r["G/total"])) and np.isfinite(float(r["D/total"])) for r in rows)
    grid = Image.open(out / "samples" / "000002.png")
    assert grid.size == (32 * 2, 32 * 3)  # inputs, edits, reconstructions
    ckpt = torch.load(out / "000002_nets_ema.ckpt", weights_only=True)
    assert list(ckpt) == ["generator", "style_encoder", "vgg"]  # no FAN given: no 'fan' entry
    nets = load_l2m(ckpt, img_size=32, style_dim=8, max_conv_dim=32, base_dim=8, w_hpf=1)
    assert nets.style_encoder.num_domains == 2
    # resume from the latest checkpoint and go on to step 3
    assert main([*args[:-6], "--total_iters", "3", "--print_every", "1", "--resume_iter", "-1",
                 "--sample_every", "100", "--save_every", "100"]) == 0
    assert [r["step"] for r in csv.DictReader((out / "log.csv").open())] == ["1", "2", "3"]
    assert (out / "000003_nets_ema.ckpt").exists()


def test_checkpoint_round_trip_is_identical(tmp_path):
    opts = Options(img_size=32, style_dim=8, max_conv_dim=32, base_dim=8, w_hpf=0)
    a = Trainer(opts, 2, torch.device("cpu"))
    x, y = torch.rand(2, 3, 32, 32) * 2 - 1, torch.tensor([0, 1])
    a.train_step(x, y)
    a.save(tmp_path)
    b = Trainer(Options(**{**opts.__dict__, "seed": 1}), 2, torch.device("cpu"))
    b.load(tmp_path, 1)
    assert b.step == 1
    for m, n in ((a.G, b.G), (a.E, b.E), (a.D, b.D), (a.G_ema, b.G_ema), (a.E_ema, b.E_ema)):
        for (k, t), (k2, t2) in zip(m.state_dict().items(), n.state_dict().items()):
            assert k == k2 and torch.equal(t, t2), k
    assert str(a.optims["generator"].state_dict()) == str(b.optims["generator"].state_dict())
    nets = load_l2m(torch.load(tmp_path / "000001_nets_ema.ckpt", weights_only=True), img_size=32, style_dim=8,
                    max_conv_dim=32, base_dim=8, w_hpf=0)
    with torch.inference_mode():
        s = nets.style_encoder(x, y, 1 - y)[0]
        torch.testing.assert_close(nets.generator(x, s), a.G_ema(x, a.E_ema(x, y, 1 - y)[0]), rtol=0, atol=0)


def test_perceptual_network_from_torchvision_layout(tmp_path):
    from faceedit.train.l2m import _load_entry

    ours = ResNet18Features().state_dict()
    names = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
    tv = {names[k.split(".")[0]] + k[len(k.split(".")[0]):]: v.clone() + 1 for k, v in ours.items()}
    tv["fc.weight"], tv["fc.bias"] = torch.zeros(1000, 512), torch.zeros(1000)
    torch.save(tv, tmp_path / "resnet18.pth")
    net = _load_entry(str(tmp_path / "resnet18.pth"), "vgg", ResNet18Features())
    assert torch.equal(net.state_dict()["5.0.downsample.0.weight"], tv["layer2.0.downsample.0.weight"])


def test_arcface_identity_network_loads_strictly_and_scores_identity(tmp_path):
    from faceedit.train.l2m import ArcFaceIRSE50, _load_entry, identity_loss

    torch.manual_seed(0)
    path = tmp_path / "model_ir_se50.pth"
    torch.save(ArcFaceIRSE50().state_dict(), path)
    net = _load_entry(str(path), "arcface", ArcFaceIRSE50()).eval()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert identity_loss(net, x, x).item() == pytest.approx(0.0, abs=1e-5)
        assert identity_loss(net, x, x.flip(0)).item() > 1e-4


def test_bad_data_folder_is_reported(tmp_path):
    (tmp_path / "only_one").mkdir()
    with pytest.raises(InvalidArgumentError, match="one sub-folder of images per domain"):
        train(Options(data=str(tmp_path), out=str(tmp_path / "o")))
    assert main(["--data", str(tmp_path), "--vgg", str(tmp_path / "missing.pth")]) == 2  # a message, no traceback


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo_stay_in_sync(data, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "faceedit.train.l2m", "--data", str(data), "--out", str(tmp_path / "ddp"), *TINY,
           "--total_iters", "2", "--print_every", "1", "--sample_every", "100", "--save_every", "2", "--check_sync"]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "weights identical on all 2 ranks" in proc.stdout
    assert '"world_size": 2' in (tmp_path / "ddp" / "options.json").read_text()
    assert (tmp_path / "ddp" / "000002_nets_ema.ckpt").exists()
