"""Train FaceShifter (Li et al. 2020) in GHOST's layout: ``python -m faceedit.train.faceshifter``.

Stage 1 trains AEI-Net (:class:`faceedit.models.aei_net.AEINet`) against GHOST's multi-scale discriminator with the
paper's losses; stage 2 (``--stage hear``) freezes AEI-Net and trains HEAR-Net. Where each choice comes from:

* **Adversarial** (λ 1): multi-scale hinge loss, pix2pixHD ``MultiscaleDiscriminator`` (n_layers 5, InstanceNorm,
  3 scales; GHOST ``train.py`` / ``utils/training/losses.py``), on pairs of different faces only (as GHOST).
* **Identity** (λ_id 5, the paper; GHOST uses 20): ``1 − cos(z_id(X_s), z_id(Ŷ))`` with the frozen ArcFace
  IResNet-100, both images resized to 112 (``align_corners=False``, GHOST's training resize), raw embeddings.
* **Attributes** (λ_att 10): ½ Σ_k mean ‖z_att^k(X_t) − z_att^k(Ŷ)‖² over the eight attribute maps.
* **Reconstruction** (λ_rec 10): ½ mean ‖Ŷ − X_t‖² on the pairs where X_s = X_t (probability ``same_prob``
  0.2, GHOST's default; the paper's "X_s = X_t" case).
* Adam lr 4e-4, betas (0, 0.999), weight decay 1e-4, batch 16 (GHOST; the paper's lr and betas).
* **HEAR-Net** (stage 2, paper §3.2): Y = HEAR(Ŷ_{s,t}, X_t − AEI(X_t, X_t)); loss L_id(Y, X_s) +
  L_chg = |Ŷ_{s,t} − Y|₁ + L_rec = ½‖Y − X_t‖² on X_s = X_t pairs, weights 1 (the paper; taotaonice's
  ``train_HEAR.py``). No HEAR-Net weights are published anywhere.
* Data: a folder of aligned 256×256 faces (GHOST's 224-then-256 crops of VGGFace2; any image is resized to 256),
  searched recursively. X_s and X_t are two random images, or the same one with probability ``same_prob``.
* Several GPUs / machines: ``torchrun``, one process per device, a data shard per rank, DDP around the generator
  objective (one forward per backward: Ŷ and z_att(Ŷ) in one module) and around the discriminator.

Output folder: ``options.json``, ``log.csv`` (one row per ``print_every`` steps), and the GHOST layout:
``G_latest.pth`` / ``D_latest.pth`` (plain state dicts, loadable by ``faceedit.models.aei_net.load_aei_net``),
``HEAR_latest.pth`` in stage 2, plus ``state_latest.pt`` (optimisers and step) for ``--resume``.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from faceedit.models.aei_net import IMAGE_SIZE, AEINet, HEARNet, MultiscaleDiscriminator
from faceedit.train._distributed import setup_distributed

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")


@dataclass
class Options:
    """Command-line options (``--name value``)."""

    data: str = ""  # folder of aligned 256×256 face crops (searched recursively)
    out: str = "runs/faceshifter"  # run folder
    arcface: str = ""  # GHOST's backbone.pth (IResNet-100); required unless an identity net is passed in
    stage: str = "aei"  # "aei" (AEI-Net + discriminator) | "hear" (HEAR-Net on a frozen AEI-Net)
    generator: str = ""  # stage hear: the trained G_latest.pth (or a published G_unet_*.pth)
    num_blocks: int = 2  # AAD triples per ResBlk (GHOST: 1, 2, 3)
    channel_div: int = 1  # 1 = the published width (tests use 16)
    c_id: int = 512  # identity size (the IResNet-100's)
    ndf: int = 64  # discriminator width
    batch_size: int = 16
    lr_g: float = 4e-4
    lr_d: float = 4e-4
    weight_decay: float = 1e-4
    w_adv: float = 1.0
    w_att: float = 10.0
    w_id: float = 5.0
    w_rec: float = 10.0
    same_prob: float = 0.2
    total_iters: int = 300000
    print_every: int = 100
    save_every: int = 5000
    workers: int = 4
    seed: int = 0
    device: str = ""  # force a device; default: this rank's GPU, else the CPU
    resume: bool = False  # continue from the folder's *_latest files
    check_sync: bool = False  # at the end, print whether every rank holds the same weights (DDP check)


class FaceFolder(torch.utils.data.Dataset):
    """Every image under a folder, as ``[3, 256, 256]`` RGB in [-1, 1]."""

    def __init__(self, root: str | Path) -> None:
        self.paths = sorted(p for p in Path(root).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.paths:
            raise FileNotFoundError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}")

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        img = Image.open(self.paths[i]).convert("RGB")
        if img.size != (IMAGE_SIZE, IMAGE_SIZE):
            img = img.resize((IMAGE_SIZE, IMAGE_SIZE), Image.BILINEAR)
        return torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float() / 127.5 - 1


def hinge(x: torch.Tensor, positive: bool) -> torch.Tensor:
    """Per-sample hinge loss of one score map: mean relu(1 ∓ x) over the map, ``[N]``."""
    return F.relu(1 - x if positive else 1 + x).mean(dim=(1, 2, 3))


def masked_mean(per_sample: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``per_sample`` over the samples where ``mask`` is 1 (0 when there are none)."""
    return (per_sample * mask).sum() / mask.sum().clamp(min=1e-4)


def embed(id_net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Raw identity embeddings of 256 images, resized to 112 as GHOST's training does."""
    return id_net(F.interpolate(x, size=(112, 112), mode="bilinear", align_corners=False))


def attribute_loss(a: tuple[torch.Tensor, ...], b: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """½ Σ_k mean over the batch of the per-sample mean squared difference of the k-th attribute maps."""
    return 0.5 * sum((x - y).pow(2).flatten(1).mean(1).mean() for x, y in zip(a, b, strict=True))


class GeneratorObjective(nn.Module):
    """Ŷ, z_att(X_t) and z_att(Ŷ) in one forward (so DDP sees one forward per backward)."""

    def __init__(self, G: AEINet) -> None:
        super().__init__()
        self.G = G

    def forward(self, x_t: torch.Tensor, z_id: torch.Tensor):
        y, att_t = self.G(x_t, z_id)
        return y, att_t, self.G.get_attr(y)


class Trainer:
    """Both stages' networks, optimisers and one training step each; saves and resumes in GHOST's layout."""

    def __init__(self, opts: Options, id_net: nn.Module, device: torch.device, world: int = 1) -> None:
        self.opts, self.device, self.world, self.step = opts, device, world, 0
        self.id_net = id_net.to(device).eval().requires_grad_(False)
        self.G = AEINet(opts.num_blocks, opts.c_id, channel_div=opts.channel_div).to(device)
        adam = dict(betas=(0.0, 0.999), weight_decay=opts.weight_decay)
        if opts.stage == "aei":
            self.D = MultiscaleDiscriminator(max(opts.ndf // opts.channel_div, 4)).to(device)
            self.g_step = self._ddp(GeneratorObjective(self.G))
            self.d_step = self._ddp(self.D)
            self.optims = {
                "G": torch.optim.Adam(self.G.parameters(), lr=opts.lr_g, **adam),
                "D": torch.optim.Adam(self.D.parameters(), lr=opts.lr_d, **adam),
            }
        elif opts.stage == "hear":
            self.G.eval().requires_grad_(False)
            self.H = HEARNet(opts.channel_div).to(device)
            self.h_step = self._ddp(self.H)
            self.optims = {"HEAR": torch.optim.Adam(self.H.parameters(), lr=opts.lr_g, **adam)}
        else:
            raise ValueError(f"stage must be 'aei' or 'hear'; got {opts.stage!r}")

    def _ddp(self, module: nn.Module) -> nn.Module:
        if self.world == 1:
            return module
        ids = [self.device.index] if self.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(module, device_ids=ids)

    def _pairs(self, x_s: torch.Tensor, x_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """X_s replaced by X_t with probability ``same_prob``; returns X_s and the same-pair mask (float)."""
        same = (torch.rand(x_t.shape[0], device=x_t.device) < self.opts.same_prob).float()
        return torch.where(same[:, None, None, None] > 0, x_t, x_s), same

    def train_step(self, x_s: torch.Tensor, x_t: torch.Tensor) -> dict[str, float]:
        """One step of the current stage on a batch of source and target images; the losses."""
        x_s, same = self._pairs(x_s.to(self.device), x_t.to(self.device))
        x_t = x_t.to(self.device)
        with torch.no_grad():
            z_s = embed(self.id_net, x_s)
        self.step += 1
        return (
            self._aei_step(x_s, x_t, z_s, same)
            if self.opts.stage == "aei"
            else self._hear_step(x_s, x_t, z_s, same)
        )

    def _aei_step(self, x_s, x_t, z_s, same) -> dict[str, float]:
        o, diff = self.opts, 1 - same
        y, att_t, att_y = self.g_step(x_t, z_s)
        self.D.requires_grad_(False)  # the generator's adversarial term must not touch D's gradients
        l_adv = masked_mean(sum(hinge(d, True) for d in self.D(y)), diff)
        self.D.requires_grad_(True)
        l_id = (1 - F.cosine_similarity(z_s, embed(self.id_net, y), dim=1)).mean()
        l_att = attribute_loss(att_t, att_y)
        l_rec = masked_mean(0.5 * (y - x_t).pow(2).flatten(1).mean(1), same)
        loss_g = o.w_adv * l_adv + o.w_att * l_att + o.w_id * l_id + o.w_rec * l_rec
        self._optimise("G", loss_g)
        scores = self.d_step(torch.cat((x_s, y.detach())))
        n = x_s.shape[0]
        real = sum(hinge(d[:n], True) for d in scores)
        fake = sum(hinge(d[n:], False) for d in scores)
        loss_d = 0.5 * (masked_mean(real, diff) + masked_mean(fake, diff))
        self._optimise("D", loss_d)
        terms = {
            "G/total": loss_g,
            "G/adv": l_adv,
            "G/id": l_id,
            "G/att": l_att,
            "G/rec": l_rec,
            "D/total": loss_d,
        }
        return {k: v.item() for k, v in terms.items()}

    def _hear_step(self, x_s, x_t, z_s, same) -> dict[str, float]:
        with torch.no_grad():
            y_st = self.G(x_t, z_s)[0]
            error = x_t - self.G(x_t, embed(self.id_net, x_t))[0]
        y = self.h_step(y_st, error)
        l_id = (1 - F.cosine_similarity(z_s, embed(self.id_net, y), dim=1)).mean()
        l_chg = (y_st - y).abs().mean()
        l_rec = masked_mean(0.5 * (y - x_t).pow(2).flatten(1).mean(1), same)
        loss = l_id + l_chg + l_rec
        self._optimise("HEAR", loss)
        terms = {"HEAR/total": loss, "HEAR/id": l_id, "HEAR/chg": l_chg, "HEAR/rec": l_rec}
        return {k: v.item() for k, v in terms.items()}

    def _optimise(self, name: str, loss: torch.Tensor) -> None:
        """One optimiser step of ``self.optims[name]`` on ``loss``."""
        self.optims[name].zero_grad(set_to_none=True)
        loss.backward()
        self.optims[name].step()

    def nets(self) -> dict[str, nn.Module]:
        """The trained networks by file prefix (GHOST's names: G, D; HEAR for stage 2)."""
        return {"G": self.G, "D": self.D} if self.opts.stage == "aei" else {"HEAR": self.H}

    def save(self, out: Path) -> None:
        for name, net in self.nets().items():
            torch.save(net.state_dict(), out / f"{name}_latest.pth")
        state = {"step": self.step, "optims": {k: v.state_dict() for k, v in self.optims.items()}}
        torch.save(state, out / "state_latest.pt")

    def load(self, out: Path) -> None:
        for name, net in self.nets().items():
            net.load_state_dict(
                torch.load(out / f"{name}_latest.pth", map_location=self.device, weights_only=True)
            )
        state = torch.load(out / "state_latest.pt", map_location=self.device, weights_only=True)
        self.step = int(state["step"])
        for k, v in state["optims"].items():
            self.optims[k].load_state_dict(v)


def _load_identity(path: str) -> nn.Module:
    from faceedit.models.arcface import load_arcface

    if not path:
        raise SystemExit("--arcface PATH (GHOST's backbone.pth) is required: the identity loss needs it")
    return load_arcface(torch.load(path, map_location="cpu", weights_only=True))


def train(opts: Options, id_net: nn.Module | None = None) -> Path:
    """Run (or resume) training; returns the run folder."""
    rank, world, device = setup_distributed(opts.device or None)
    torch.manual_seed(opts.seed + rank)
    random.seed(opts.seed + rank)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    trainer = Trainer(opts, id_net if id_net is not None else _load_identity(opts.arcface), device, world)
    if opts.stage == "hear":
        if not opts.generator:
            raise SystemExit("--generator PATH (a trained G_latest.pth) is required for --stage hear")
        state = torch.load(opts.generator, map_location=device, weights_only=True)
        trainer.G.load_state_dict(state, strict=True)
    if opts.resume and (out / "state_latest.pt").exists():
        trainer.load(out)
    if rank == 0:
        (out / "options.json").write_text(json.dumps({**asdict(opts), "world_size": world}, indent=2))
    data = FaceFolder(opts.data)
    sampler = torch.utils.data.DistributedSampler(data, world, rank, seed=opts.seed) if world > 1 else None
    loader = torch.utils.data.DataLoader(
        data,
        batch_size=opts.batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=opts.workers,
        drop_last=len(data) >= opts.batch_size,
    )
    log = out / "log.csv"
    epoch = 0
    while trainer.step < opts.total_iters:
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x_t in loader:
            x_s = x_t[torch.randperm(x_t.shape[0])]  # another face of the batch as the source
            losses = trainer.train_step(x_s, x_t)
            if rank == 0 and trainer.step % opts.print_every == 0:
                new = not log.exists()
                with log.open("a", newline="") as f:
                    w = csv.DictWriter(f, fieldnames=["step", *losses])
                    if new:
                        w.writeheader()
                    w.writerow({"step": trainer.step, **{k: f"{v:.6g}" for k, v in losses.items()}})
            if rank == 0 and (trainer.step % opts.save_every == 0 or trainer.step == opts.total_iters):
                trainer.save(out)
            if trainer.step >= opts.total_iters:
                break
        epoch += 1
    if world > 1:
        if opts.check_sync:
            _report_sync(trainer, rank, world)
        dist.barrier()
    return out


def _report_sync(trainer: Trainer, rank: int, world: int) -> None:
    """Rank 0 prints whether the trained networks' weights are identical on every rank."""
    flat = torch.cat([p.detach().flatten() for net in trainer.nets().values() for p in net.parameters()])
    gathered = [torch.empty_like(flat) for _ in range(world)]
    dist.all_gather(gathered, flat)
    if rank == 0:
        same = all(torch.equal(gathered[0], g) for g in gathered[1:])
        print(f"weights {'identical' if same else 'DIFFERENT'} on all {world} ranks", flush=True)


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m faceedit.train.faceshifter", description=__doc__.splitlines()[0]
    )
    for f in fields(Options):
        flag = f"--{f.name}"
        if f.type in ("bool", bool):
            parser.add_argument(flag, action="store_true", default=f.default)
        else:
            kind = {"int": int, "float": float, "str": str}[str(f.type)]
            parser.add_argument(flag, type=kind, default=f.default, required=f.name == "data")
    return Options(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    train(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
