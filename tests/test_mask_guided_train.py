"""Training script of the mask-guided editor: a few CPU steps, checkpoints, resume, DDP, VGG switch."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from mask_guided_fixtures import layout, synthetic_face_labels, write_training_set
from PIL import Image
from safetensors.torch import load_file

from faceedit import mask_guided_official as mgo
from faceedit.errors import InvalidArgumentError, WeightsMissingError
from faceedit.helen import from_helen
from faceedit.models import mask_guided as mg
from faceedit.train import mask_guided as tr

REPO = Path(__file__).resolve().parents[1]
DIV = 32  # narrow networks: the recipe, shapes at 256x256 and file layout are the official ones

pytestmark = pytest.mark.usefixtures("one_thread")


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_few_cpu_steps_learn_and_checkpoints_round_trip(tmp_path, shared_dir):
    data = write_training_set(tmp_path / "data", n=2)
    run = tmp_path / "run"
    opts = tr.Options(data=str(data), out=str(run), div=DIV, niter=2, niter_decay=0, lr=1e-3, workers=0,
                      sample_every=2, batch_size=2)
    summary = tr.train(opts)
    assert summary["steps"] == 2
    rows = _rows(run / "log.csv")
    assert len(rows) == 2
    for row in rows:  # every loss logged and finite
        assert all(math.isfinite(float(row[name])) for name in tr.LOSS_NAMES)
    assert float(rows[1]["paired_mse"]) < float(rows[0]["paired_mse"])  # paired reconstruction falls
    assert float(rows[1]["L2_image"]) < float(rows[0]["L2_image"])
    grid = np.asarray(Image.open(run / "samples" / "step_0000002.png"))
    assert grid.shape == (512, 256 * 5, 3)

    # checkpoints: official file names and keys (safetensors stores them sorted); load_official reads them
    ckpt = run / "checkpoints"
    for label in tr.CHECKPOINT_LABELS:
        state = load_file(ckpt / f"latest_net_{label}.safetensors")
        assert sorted(state) == sorted(e["name"] for e in layout(shared_dir, label))
    model = mg.load_official(ckpt, device="cpu", div=DIV)
    assert model.labels() == mg.ALL_LABELS
    for label in model.labels():
        saved = load_file(ckpt / f"latest_net_{label}.safetensors")
        assert all(torch.equal(saved[k], v) for k, v in model.network(label).state_dict().items())

    # resume: continues at the next step with the saved optimiser state, keeps learning
    tr.train(tr.Options(**{**vars(opts), "niter": 3, "resume": True}))
    rows = _rows(run / "log.csv")
    assert [r["step"] for r in rows] == ["1", "2", "3"]
    assert float(rows[2]["paired_mse"]) < float(rows[1]["paired_mse"])
    state = torch.load(ckpt / "training_state.pt", weights_only=True)
    assert state["step"] == 3 and state["opt_g"]["state"][0]["step"] == 3


def test_ddp_with_two_gloo_processes_keeps_ranks_in_sync(tmp_path):
    data = write_training_set(tmp_path / "data", n=2)
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "faceedit.train.mask_guided", "--data", str(data), "--out", str(run), "--div", str(DIV),
           "--batch-size", "1", "--max-steps", "1", "--workers", "0", "--sample-every", "0", "--niter", "1",
           "--niter-decay", "0"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["steps"] == 1
    assert summary["max_param_diff_across_ranks"] == 0.0  # gradients averaged: identical weights
    rows = _rows(run / "log.csv")
    assert len(rows) == 1 and all(math.isfinite(float(rows[0][n])) for n in tr.LOSS_NAMES)


def test_vgg19_loads_torchvision_layout_strictly_and_gives_a_masked_loss(tmp_path):
    vgg = tr.VGG19Features()
    state = {f"features.{k}": v for k, v in vgg.features.state_dict().items()}
    state |= {"features.30.weight": torch.zeros(1), "classifier.0.weight": torch.zeros(1)}  # rest of vgg19
    torch.save(state, tmp_path / "vgg19.pth")
    loaded = tr.load_vgg19(str(tmp_path / "vgg19.pth"))
    x = torch.rand(1, 3, 64, 64, requires_grad=True) * 2 - 1
    y = torch.rand(1, 3, 64, 64) * 2 - 1
    masks = torch.zeros(1, 5, 64, 64)
    masks[:, 2, 16:48, 16:48] = 1
    loss = tr.vgg_loss(loaded, x, y, masks)
    assert loss.item() > 0
    assert tr.vgg_loss(loaded, x, x.detach(), masks).item() == 0
    assert tr.vgg_loss(loaded, x, y, torch.zeros_like(masks)).item() == 0  # masked out entirely
    del state["features.28.weight"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(Exception, match="features.28.weight|28.weight"):
        tr.load_vgg19(str(tmp_path / "broken.pth"))
    with pytest.raises(WeightsMissingError):
        tr.load_vgg19(str(tmp_path / "absent.pth"))


def test_dataset_converts_19_class_maps_and_rejects_bad_folders(tmp_path):
    root = tmp_path / "data"
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    helen = synthetic_face_labels()
    canonical = from_helen(helen)
    Image.fromarray(np.zeros((512, 512, 3), np.uint8)).save(root / "images" / "a.png")
    Image.fromarray(np.kron(canonical, np.ones((2, 2), np.uint8))).save(root / "labels" / "a.png")
    item = tr.FaceLabelDataset(root, "canonical")[0]
    assert item["image"].shape == (3, 256, 256) and item["label"].shape == (256, 256)
    assert np.array_equal(item["ori_label"].numpy(), helen)  # 512 -> 256 NEAREST, then 19 -> 11
    assert item["centres"].tolist() == mgo.component_centres(helen).tolist()
    # CelebAMask-HQ's own order goes through the same conversion
    from faceedit.labels import TO_CELEBAMASK

    Image.fromarray(np.kron(TO_CELEBAMASK[canonical], np.ones((2, 2), np.uint8))).save(root / "labels" / "a.png")
    assert np.array_equal(tr.FaceLabelDataset(root, "celebamask")[0]["ori_label"].numpy(), helen)
    with pytest.raises(InvalidArgumentError, match="images/ and labels/"):
        tr.FaceLabelDataset(tmp_path)
    with pytest.raises(InvalidArgumentError, match="Unknown label format"):
        tr.FaceLabelDataset(root, "pascal")


def test_fix_code_bugs_switch_changes_only_the_buggy_terms(tmp_path):
    data = write_training_set(tmp_path / "data", n=2)
    base = dict(data=str(data), div=DIV, niter=1, niter_decay=0, workers=0, sample_every=0, batch_size=2,
                max_steps=1, amp=True)  # --amp is ignored without CUDA
    official = tr.train(tr.Options(out=str(tmp_path / "official"), **base))
    tr.train(tr.Options(out=str(tmp_path / "fixed"), fix_code_bugs=True, **base))
    assert official["amp"] is False
    a, b = _rows(tmp_path / "official" / "log.csv")[0], _rows(tmp_path / "fixed" / "log.csv")[0]
    # same seed, same first paired image: the official L2_image counts the batch loss B = 2 times
    assert float(a["paired_mse"]) == pytest.approx(float(b["paired_mse"]), rel=1e-6)
    assert float(a["L2_image"]) == pytest.approx(2 * float(b["L2_image"]), rel=1e-5)
    # the parsing loss differs (second softmax and P in train mode in the official code)
    assert float(a["ParsingLoss"]) != float(b["ParsingLoss"])
    assert float(a["L2_mask_image"]) == pytest.approx(float(b["L2_mask_image"]), rel=1e-6)
    # --init-from starts from a folder of latest_net_<label> files (here the first run's), strictly
    tr.train(tr.Options(out=str(tmp_path / "finetune"), init_from=str(tmp_path / "official" / "checkpoints"),
                        **base))
    c = _rows(tmp_path / "finetune" / "log.csv")[0]
    assert float(c["L2_mask_image"]) != float(a["L2_mask_image"])  # not the random initialisation
    with pytest.raises(WeightsMissingError, match="no latest_net_G"):
        tr.train(tr.Options(out=str(tmp_path / "x"), init_from=str(tmp_path), **base))
