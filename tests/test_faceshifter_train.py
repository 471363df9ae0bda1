"""FaceShifter training (faceedit.train.faceshifter) at 1/16 width on the CPU: both stages learn, write GHOST's
layout, and resume."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from faceedit.models import load_strict
from faceedit.models.aei_net import AEINet, HEARNet
from faceedit.train.faceshifter import Options, Trainer, parse_args, train
from tests import ghost_fixtures as GF
from tests.conftest import REPO

TINY = dict(channel_div=16, c_id=32, ndf=64, batch_size=2, workers=0, print_every=1)


class TinyIdentity(nn.Sequential):
    """A stand-in for IResNet-100: 112×112 → 32-d raw embedding."""

    def __init__(self) -> None:
        torch.manual_seed(1)
        super().__init__(nn.Conv2d(3, 4, 8, stride=8), nn.Flatten(), nn.Linear(4 * 14 * 14, 32))


@pytest.fixture(scope="module")
def faces(tmp_path_factory, astronaut):
    folder = tmp_path_factory.mktemp("faces")
    for i, (y, x) in enumerate(((0, 0), (100, 120), (200, 60), (60, 200))):
        Image.fromarray(astronaut[y : y + 300, x : x + 300]).save(folder / f"{i}.png")
    return folder


def _layout_keys(name: str) -> list[str]:
    return [e["name"] for e in json.loads((GF.DATA / f"{name}.json").read_text())]


def test_aei_step_learns_with_every_loss_and_keeps_ghost_keys(one_thread):
    torch.manual_seed(0)
    trainer = Trainer(Options(**TINY, same_prob=0.5), TinyIdentity(), torch.device("cpu"))
    before = [p.detach().clone() for p in trainer.G.parameters()]
    x = torch.rand(4, 3, 256, 256) * 2 - 1
    torch.manual_seed(5)  # one same pair and three different ones at same_prob 0.5
    losses = trainer.train_step(x.roll(1, 0), x)
    assert all(np.isfinite(v) for v in losses.values()), losses
    for k in ("G/adv", "G/id", "G/att", "G/rec", "D/total"):
        assert losses[k] > 0, k
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.G.parameters()))
    assert list(trainer.G.state_dict()) == _layout_keys("G_unet_2blocks")
    assert list(trainer.D.state_dict()) == _layout_keys("D_unet_2blocks")


def test_run_writes_ghost_files_resumes_and_trains_hear(faces, tmp_path, one_thread):
    out = tmp_path / "run"
    opts = Options(data=str(faces), out=str(out), total_iters=2, save_every=2, **TINY)
    train(opts, id_net=TinyIdentity())
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [r["step"] for r in rows] == ["1", "2"]
    g = torch.load(out / "G_latest.pth", weights_only=True)
    net = load_strict(AEINet(2, c_id=32, channel_div=16), g, "trained G")  # GHOST's keys, strictly
    assert isinstance(net, AEINet)
    # resume: the step counter continues from the saved state
    train(Options(**{**opts.__dict__, "total_iters": 3, "resume": True}), id_net=TinyIdentity())
    assert [r["step"] for r in csv.DictReader((out / "log.csv").open())] == ["1", "2", "3"]
    assert not torch.equal(
        torch.load(out / "G_latest.pth", weights_only=True)["generator.up1.weight"], g["generator.up1.weight"]
    )
    # stage 2: HEAR-Net on the frozen generator
    hear_out = tmp_path / "hear"
    train(
        Options(
            **{**opts.__dict__, "out": str(hear_out), "stage": "hear", "generator": str(out / "G_latest.pth")}
        ),
        id_net=TinyIdentity(),
    )
    rows = list(csv.DictReader((hear_out / "log.csv").open()))
    assert rows and all(np.isfinite(float(r["HEAR/total"])) for r in rows)
    load_strict(HEARNet(16), torch.load(hear_out / "HEAR_latest.pth", weights_only=True), "trained HEAR-Net")


def test_command_line_options():
    opts = parse_args(["--data", "faces", "--num_blocks", "3", "--w_id", "20", "--resume", "--stage", "hear"])
    assert (opts.num_blocks, opts.w_id, opts.resume, opts.stage, opts.lr_g) == (3, 20.0, True, "hear", 4e-4)
    with pytest.raises(ValueError, match="stage"):
        Trainer(Options(**{**TINY, "stage": "both"}), TinyIdentity(), torch.device("cpu"))


@pytest.mark.slow
def test_torchrun_two_cpu_processes_gloo_stay_in_sync(faces, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        str(REPO / "tests" / "faceshifter_ddp_run.py"),
        str(faces),
        str(tmp_path / "ddp"),
    ]
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "weights identical on all 2 ranks" in proc.stdout
    assert '"world_size": 2' in (tmp_path / "ddp" / "options.json").read_text()
    assert (tmp_path / "ddp" / "G_latest.pth").exists() and (tmp_path / "ddp" / "D_latest.pth").exists()
