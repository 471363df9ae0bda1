"""Train L2M-GAN (Yang et al., CVPR 2021) on an ImageFolder data set: ``python -m faceedit.train.l2m``.

The authors released no training code (rucmlcv/L2M-GAN @ ad2f7067 is evaluation only), so the losses follow the
paper and the hyper-parameters are those its ``main.py`` declares.  Choices the paper leaves open, and where
each one comes from:

* **Adversarial**: non-saturating logistic loss with R1 on real images, ``lambda_reg = 1`` (main.py; StarGAN v2,
  whose networks and ``--lambda_reg`` L2M keeps).  The edit is ``s_edit = s1 + s3`` towards a target domain that
  differs from the source (``metrics/eval.py`` with degree 1).
* **Style reconstruction** (``lambda_sty = 1``): re-encoding the fake in the target domain must give back the
  edited relevant code and the kept irrelevant code, ``|s2(fake) - s3| + |s1(fake) - s1|`` (our reading of the
  paper's factorised style reconstruction).
* **Cycle consistency** (``lambda_cyc = 1``): ``|G(fake, s) - x|`` with ``s`` the source code, as the official
  ``translate_and_reconstruct`` does.
* **Perceptual** (``lambda_per = 1``; main.py declares no weight): L1 between the ResNet-18 ``layer1..layer4``
  features of real and fake (the checkpoint's ``vgg`` entry is an ImageNet ResNet-18), ImageNet-normalised.  Needs
  ``--vgg``: a ``nets_ema`` file with a ``vgg`` entry, or torchvision's ``resnet18-f37072fd.pth``; without it the
  term is off and the log says so.
* **Identity** (``lambda_id = 1``): ``1 - cos(phi(x), phi(fake))`` with a face-recognition embedding ``phi``
  (main.py declares ArcFace IR-SE50 ``model_ir_se50.pth``): ``--arcface PATH`` (:class:`ArcFaceIRSE50`, face
  region pooled to 112² as pSp's ID loss does); without it the term is off and the log says so.
* **Orthogonality** (``lambda_ort = 1``): the abstract's constraint between the irrelevant code and both the
  relevant and the edited relevant code, as ``|cos(s1, s2)| + |cos(s1, s3)|`` (zero exactly when orthogonal; the
  element-wise ``|s1 * s2|`` of the unofficial songquanpeng/L2M-GAN is not zero for orthogonal codes).
* Adam ``lr = 1e-4``, ``betas = (0, 0.99)``, ``weight_decay = 1e-4``, batch 8, 100k iterations, random resized
  crop with probability 0.5 (main.py); crop scale [0.8, 1], ratio [0.9, 1.1], horizontal flips, domain-balanced
  sampling and EMA 0.999 of G and E are StarGAN v2's (``core/data_loader.py``, ``core/solver.py``).
* High-pass masks: with ``w_hpf > 0`` the generator is trained with ``fan.get_heatmap`` masks as StarGAN v2 does;
  pass ``--fan`` (a ``nets_ema`` file with a ``fan`` entry); without it masks are off (logged).
* Several GPUs or machines through ``torchrun``: one process per device, a data stream per rank, and
  DistributedDataParallel around each objective (``DiscriminatorStep``: D with R1; ``GeneratorStep``: G and E with
  all their losses), so DDP sees one forward per backward although each step calls G and E twice; the
  ``GeneratorStep`` uses ``find_unused_parameters`` for the official never-used parameters (``attention``, the
  decoder's ``conv1x1`` with w_hpf > 0).  ``nccl`` on CUDA, ``gloo`` on CPU.
* AMP (``--amp``, CUDA only): bfloat16 autocast around the network forwards; R1 and the losses in float32.

Output folder: ``options.json``, ``log.csv`` (one row per ``print_every`` steps), ``samples/{step:06d}.png``
(rows: input, edit alpha=1, cycle reconstruction) and checkpoints ``{step:06d}_nets_ema.ckpt`` (the official
format: generator, style_encoder, [fan], vgg), ``{step:06d}_nets.ckpt`` and ``{step:06d}_optims.ckpt`` (resume).
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from faceedit.errors import FaceEditError, InvalidArgumentError
from faceedit.models.l2m import Discriminator, Generator, ResNet18Features, StyleEncoder, load_strict
from faceedit.train._distributed import setup_distributed

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Options:
    """Training options (defaults: the official main.py, plus StarGAN v2's where main.py is silent)."""

    data: str = ""  # ImageFolder root: one sub-folder per domain, labels in sorted folder order
    out: str = "runs/l2m"  # output folder (checkpoints, log.csv, samples)
    img_size: int = 256
    style_dim: int = 64
    max_conv_dim: int = 512
    base_dim: int | None = None  # None: official 2**14 // img_size (smaller only for smoke tests)
    w_hpf: float = 1.0
    lambda_reg: float = 1.0  # R1
    lambda_cyc: float = 1.0
    lambda_sty: float = 1.0
    lambda_per: float = 1.0  # not declared by main.py
    lambda_id: float = 1.0
    lambda_ort: float = 1.0
    lr: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.99
    weight_decay: float = 1e-4
    ema_beta: float = 0.999  # StarGAN v2
    batch_size: int = 8  # per process
    total_iters: int = 100_000
    randcrop_prob: float = 0.5
    resume_iter: int = 0  # 0: start fresh; -1: latest checkpoint in out
    seed: int = 777
    num_workers: int = 2
    print_every: int = 10
    sample_every: int = 5000
    save_every: int = 10_000
    amp: bool = False  # bfloat16 autocast (CUDA only)
    fan: str | None = None  # nets_ema file whose 'fan' entry gives the masks
    vgg: str | None = None  # nets_ema file whose 'vgg' entry is the perceptual network
    arcface: str | None = None  # model_ir_se50.pth (ArcFace IR-SE50 state dict) for the identity loss
    device: str | None = None  # None: cuda:LOCAL_RANK when available, else cpu
    check_sync: bool = False  # at the end, verify that all ranks hold identical weights


# ----------------------------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------------------------


class ImageFolderDomains(torch.utils.data.Dataset):
    """Images of ``root/<domain>/*``; returns (image [3, S, S] in [-1, 1], domain index)."""

    def __init__(self, root: str | Path, img_size: int, randcrop_prob: float) -> None:
        root = Path(root)
        if not root.is_dir():
            raise InvalidArgumentError(f"training data folder {root} does not exist")
        self.domains = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.items = [
            (p, i)
            for i, d in enumerate(self.domains)
            for p in sorted((root / d).iterdir())
            if p.suffix.lower() in IMAGE_EXTS
        ]
        if len(self.domains) < 2 or not self.items:
            raise InvalidArgumentError(
                f"{root} must hold one sub-folder of images per domain (at least two); found {self.domains}"
            )
        self.img_size = img_size
        self.randcrop_prob = randcrop_prob

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> list[int]:
        return [y for _, y in self.items]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        from PIL import Image

        path, y = self.items[i]
        img = Image.open(path).convert("RGB")
        if random.random() < self.randcrop_prob:  # StarGAN v2: RandomResizedCrop(scale 0.8-1, ratio 0.9-1.1)
            w, h = img.size
            for _ in range(10):
                area = w * h * random.uniform(0.8, 1.0)
                ratio = math.exp(random.uniform(math.log(0.9), math.log(1.1)))
                cw, ch = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
                if 0 < cw <= w and 0 < ch <= h:
                    x0, y0 = random.randint(0, w - cw), random.randint(0, h - ch)
                    img = img.crop((x0, y0, x0 + cw, y0 + ch))
                    break
        img = img.resize((self.img_size, self.img_size), Image.BILINEAR)
        if random.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.float32).copy()).permute(2, 0, 1) / 127.5 - 1
        return x, y


def _loader(ds: ImageFolderDomains, opts: Options, rank: int) -> torch.utils.data.DataLoader:
    """Domain-balanced sampling (StarGAN v2), an independent stream per rank."""
    labels = np.array(ds.labels())
    weights = 1.0 / np.bincount(labels)[labels]
    g = torch.Generator().manual_seed(opts.seed + 1000 * rank)
    sampler = torch.utils.data.WeightedRandomSampler(torch.as_tensor(weights), len(ds), generator=g)
    return torch.utils.data.DataLoader(
        ds, batch_size=opts.batch_size, sampler=sampler, num_workers=opts.num_workers, drop_last=False,
        worker_init_fn=lambda w: random.seed(opts.seed + 1000 * rank + w), persistent_workers=opts.num_workers > 0,
    )


def _forever(loader):
    while True:
        yield from loader


# ----------------------------------------------------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------------------------------------------------


def orthogonality_loss(s1: torch.Tensor, s2: torch.Tensor, s3: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """``mean(|cos(s1, s2)| + |cos(s1, s3)|)``: irrelevant code orthogonal to the relevant and edited codes."""
    return (F.cosine_similarity(s1, s2, dim=1, eps=eps).abs() + F.cosine_similarity(s1, s3, dim=1, eps=eps).abs()).mean()


def r1_penalty(d_out: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """R1: ``0.5 * E ||grad_x D(x)||^2`` on real images (StarGAN v2's scaling)."""
    (grad,) = torch.autograd.grad(d_out.sum(), x_in, create_graph=True)
    return 0.5 * grad.float().pow(2).flatten(1).sum(1).mean()


def perceptual_loss(net: nn.Sequential, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """L1 between ResNet-18 layer1..layer4 features (indices 4-7 of the Sequential) of two [-1, 1] batches."""
    mean = torch.tensor(IMAGENET_MEAN, device=a.device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=a.device).view(1, 3, 1, 1)
    ha, hb = ((a + 1) / 2 - mean) / std, ((b + 1) / 2 - mean) / std
    loss = a.new_zeros(())
    for i, layer in enumerate(net):
        if i == 8:
            break
        ha, hb = layer(ha), layer(hb)
        if i >= 4:
            loss = loss + (ha.float() - hb.float()).abs().mean()
    return loss


class ArcFaceIRSE50(nn.Module):
    """ArcFace IR-SE50 embedding (TreB1eN/InsightFace_Pytorch ``Backbone(50, 0.6, 'ir_se')``, the
    ``model_ir_se50.pth`` that L2M's main.py and pSp's identity loss load): 512-d, L2-normalised.

    Input: [-1, 1] faces of any size; as pSp's ``IDLoss`` the face region (rows 35-223, columns 32-220 of 256²,
    scaled to the input size) is pooled to 112².  Layout: ``input_layer``, ``body`` (faceedit's IR-SE50 units),
    ``output_layer`` = BN2d, Dropout, Flatten, Linear(512*7*7, 512), BN1d (unverified against the real file).
    """

    def __init__(self) -> None:
        from faceedit.models.encoders import ir_se_body

        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        self.body = ir_se_body()
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512), nn.Dropout(0.6), nn.Flatten(), nn.Linear(512 * 7 * 7, 512), nn.BatchNorm1d(512)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.shape[2] / 256
        x = x[:, :, round(35 * h) : round(223 * h), round(32 * h) : round(220 * h)]
        x = F.adaptive_avg_pool2d(x, (112, 112))
        return F.normalize(self.output_layer(self.body(self.input_layer(x))), dim=1)


def identity_loss(net: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - cos(phi(a), phi(b))`` of face embeddings."""
    return (1 - F.cosine_similarity(net(a).flatten(1).float(), net(b).flatten(1).float(), dim=1)).mean()


# ----------------------------------------------------------------------------------------------------------------
# Distributed helpers
# ----------------------------------------------------------------------------------------------------------------


@torch.no_grad()
def _ema(model: nn.Module, ema: nn.Module, beta: float) -> None:
    for p, q in zip(model.parameters(), ema.parameters()):
        q.lerp_(p, 1 - beta)


# ----------------------------------------------------------------------------------------------------------------
# The training loop
# ----------------------------------------------------------------------------------------------------------------


class DiscriminatorStep(nn.Module):
    """The discriminator's objective as one module (so that DDP sees one forward per backward)."""

    def __init__(self, D: Discriminator, opts: Options, autocast) -> None:
        super().__init__()
        self.D = D
        self.opts = opts
        self._autocast = autocast

    def forward(self, x: torch.Tensor, y: torch.Tensor, x_fake: torch.Tensor, y_trg: torch.Tensor):
        x = x.detach().requires_grad_(True)
        with self._autocast():
            out_real = self.D(x, y)
            out_fake = self.D(x_fake, y_trg)
        d_real = F.softplus(-out_real.float()).mean()
        d_fake = F.softplus(out_fake.float()).mean()
        d_reg = r1_penalty(out_real, x)
        loss = d_real + d_fake + self.opts.lambda_reg * d_reg
        return loss, torch.stack([d_real, d_fake, d_reg])


class GeneratorStep(nn.Module):
    """The generator's and style encoder's objective as one module; D, FAN, ResNet-18 and the identity net are
    held outside its parameters (D is updated by its own step)."""

    def __init__(self, G: Generator, E: StyleEncoder, trainer: Trainer) -> None:
        super().__init__()
        self.G, self.E = G, E
        self._trainer = [trainer]  # a list: not registered as a submodule

    def forward(self, x: torch.Tensor, y: torch.Tensor, y_trg: torch.Tensor, masks):
        t = self._trainer[0]
        o = t.opts
        with t._autocast():
            s, s1, s2, s3 = self.E(x, y, y_trg)
            x_fake = self.G(x, s1 + s3, masks=masks)
            g_adv = F.softplus(-t.D(x_fake, y_trg).float()).mean()
            _, s1_f, s2_f, _ = self.E(x_fake, y_trg, y)
            g_sty = (s2_f.float() - s3.float()).abs().mean() + (s1_f.float() - s1.float()).abs().mean()
            masks_f = t._masks(x_fake.float()) if t.fan is not None else None
            x_rec = self.G(x_fake, s, masks=masks_f)
            g_cyc = (x_rec.float() - x).abs().mean()
            g_per = perceptual_loss(t.vgg, x, x_fake) if t.vgg is not None else x.new_zeros(())
            g_id = identity_loss(t.id_net, x, x_fake) if t.id_net is not None else x.new_zeros(())
        g_ort = orthogonality_loss(s1.float(), s2.float(), s3.float())
        loss = (
            g_adv + o.lambda_sty * g_sty + o.lambda_cyc * g_cyc + o.lambda_per * g_per + o.lambda_id * g_id
            + o.lambda_ort * g_ort
        )
        return loss, torch.stack([g_adv, g_sty, g_cyc, g_per.float(), g_id.float(), g_ort])


class Trainer:
    """Networks, optimisers and one training step; also saving and resuming."""

    def __init__(
        self,
        opts: Options,
        num_domains: int,
        device: torch.device,
        fan: nn.Module | None = None,  # frozen FAN giving the masks (w_hpf > 0)
        vgg: nn.Sequential | None = None,  # frozen ResNet-18 features for the perceptual loss
        id_net: nn.Module | None = None,  # frozen face-embedding network for the identity loss
        world: int = 1,
    ) -> None:
        self.opts, self.device, self.world = opts, device, world
        self.num_domains = num_domains
        torch.manual_seed(opts.seed)
        kw = {"base_dim": opts.base_dim}
        self.G = Generator(opts.img_size, opts.style_dim, opts.max_conv_dim, opts.w_hpf, **kw).to(device)
        self.E = StyleEncoder(opts.img_size, opts.style_dim, num_domains, opts.max_conv_dim, **kw).to(device)
        self.D = Discriminator(opts.img_size, num_domains, opts.max_conv_dim, **kw).to(device)
        for net in (self.G, self.E, self.D):
            net.apply(_he_init)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.E_ema = copy.deepcopy(self.E).eval().requires_grad_(False)
        self.fan = fan.to(device).eval().requires_grad_(False) if fan is not None and opts.w_hpf > 0 else None
        self.vgg = vgg.to(device).eval().requires_grad_(False) if vgg is not None else None
        self.id_net = id_net.to(device).eval().requires_grad_(False) if id_net is not None else None
        adam = {"lr": opts.lr, "betas": (opts.beta1, opts.beta2), "weight_decay": opts.weight_decay}
        self.optims = {
            "generator": torch.optim.Adam(self.G.parameters(), **adam),
            "style_encoder": torch.optim.Adam(self.E.parameters(), **adam),
            "discriminator": torch.optim.Adam(self.D.parameters(), **adam),
        }
        self.step = 0
        d_step: nn.Module = DiscriminatorStep(self.D, opts, self._autocast)
        g_step: nn.Module = GeneratorStep(self.G, self.E, self)
        if world > 1:  # DDP broadcasts rank 0's weights and averages the gradients in backward
            from torch.nn.parallel import DistributedDataParallel as DDP

            ids = [device.index] if device.type == "cuda" else None
            d_step = DDP(d_step, device_ids=ids)
            # never used: the 'attention' modules, and with w_hpf > 0 the decoder's conv1x1 shortcuts
            g_step = DDP(g_step, device_ids=ids, find_unused_parameters=True)
            for m in (self.G_ema, self.E_ema):
                for t in m.state_dict().values():
                    dist.broadcast(t, 0)
        self.d_step, self.g_step = d_step, g_step

    def _autocast(self):
        on = self.opts.amp and self.device.type == "cuda"
        return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16, enabled=on)

    def _masks(self, x: torch.Tensor):
        return self.fan.get_heatmap(x) if self.fan is not None else None

    def _targets(self, y: torch.Tensor) -> torch.Tensor:
        """A random domain different from each source (for two domains: the other one)."""
        shift = torch.randint(1, self.num_domains, y.shape, device=y.device)
        return (y + shift) % self.num_domains

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
        """One discriminator and one generator/encoder update; returns the losses."""
        x, y = x.to(self.device), y.to(self.device)
        y_trg = self._targets(y)
        masks = self._masks(x)
        with torch.no_grad(), self._autocast():
            _, s1, _, s3 = self.E(x, y, y_trg)
            x_fake = self.G(x, s1 + s3, masks=masks).float()
        self.optims["discriminator"].zero_grad(set_to_none=True)
        d_loss, d_parts = self.d_step(x, y, x_fake, y_trg)
        d_loss.backward()  # under DDP: gradients averaged over the ranks
        self.optims["discriminator"].step()

        for k in ("generator", "style_encoder", "discriminator"):
            self.optims[k].zero_grad(set_to_none=True)
        g_loss, g_parts = self.g_step(x, y, y_trg, masks)
        g_loss.backward()
        self.optims["generator"].step()
        self.optims["style_encoder"].step()
        _ema(self.G, self.G_ema, self.opts.ema_beta)
        _ema(self.E, self.E_ema, self.opts.ema_beta)
        self.step += 1
        names = ("D/real", "D/fake", "D/r1", "G/adv", "G/sty", "G/cyc", "G/per", "G/id", "G/ort")
        values = torch.cat([d_parts.detach().float(), g_parts.detach().float()]).tolist()
        return {**dict(zip(names, values)), "D/total": float(d_loss.detach()), "G/total": float(g_loss.detach())}

    # --- checkpoints -------------------------------------------------------------------------------------------

    def nets_ema_state(self) -> dict[str, dict[str, torch.Tensor]]:
        """The official ``nets_ema`` layout: generator, style_encoder, [fan], vgg."""
        out = {"generator": self.G_ema.state_dict(), "style_encoder": self.E_ema.state_dict()}
        if self.opts.w_hpf > 0 and self.fan is not None:
            out["fan"] = self.fan.state_dict()
        out["vgg"] = (self.vgg if self.vgg is not None else ResNet18Features()).state_dict()
        return out

    def save(self, out: Path) -> None:
        out.mkdir(parents=True, exist_ok=True)
        cpu = lambda sd: {k: v.detach().cpu() for k, v in sd.items()}  # noqa: E731
        torch.save({k: cpu(v) for k, v in self.nets_ema_state().items()}, out / f"{self.step:06d}_nets_ema.ckpt")
        nets = {"generator": self.G, "style_encoder": self.E, "discriminator": self.D}
        torch.save({k: cpu(m.state_dict()) for k, m in nets.items()}, out / f"{self.step:06d}_nets.ckpt")
        optims = {k: v.state_dict() for k, v in self.optims.items()}
        torch.save({"step": self.step, "optims": optims}, out / f"{self.step:06d}_optims.ckpt")

    def load(self, out: Path, step: int) -> None:
        """Resume from ``{step:06d}_*.ckpt`` in ``out`` (strict, weights_only)."""
        load = lambda name: torch.load(out / f"{step:06d}_{name}.ckpt", map_location=self.device, weights_only=True)  # noqa: E731
        nets, ema, optims = load("nets"), load("nets_ema"), load("optims")
        load_strict(self.G, nets["generator"], "generator")
        load_strict(self.E, nets["style_encoder"], "style_encoder")
        load_strict(self.D, nets["discriminator"], "discriminator")
        load_strict(self.G_ema, ema["generator"], "generator")
        load_strict(self.E_ema, ema["style_encoder"], "style_encoder")
        for k, opt in self.optims.items():
            opt.load_state_dict(optims["optims"][k])
        self.step = int(optims["step"])

    @torch.no_grad()
    def sample_grid(self, x: torch.Tensor, y: torch.Tensor, path: Path) -> None:
        """PNG grid: inputs, edits (alpha = 1, EMA nets), cycle reconstructions."""
        from PIL import Image

        x, y = x.to(self.device), y.to(self.device)
        y_trg = self._targets(y)
        masks = self._masks(x)
        s, s1, _, s3 = self.E_ema(x, y, y_trg)
        fake = self.G_ema(x, s1 + s3, masks=masks)
        rec = self.G_ema(fake, s, masks=self._masks(fake))
        rows = [torch.cat(list(t.clamp(-1, 1)), dim=2) for t in (x, fake, rec)]  # each [3, S, N*S]
        grid = ((torch.cat(rows, dim=1) + 1) * 127.5).round().byte().permute(1, 2, 0).cpu().numpy()
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(grid).save(path)


def _he_init(m: nn.Module) -> None:
    """The official ``he_init``: Kaiming-normal (fan_in, ReLU) conv/linear weights, zero biases."""
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
        if m.bias is not None:
            nn.init.zeros_(m.bias)


def _latest_step(out: Path) -> int:
    steps = [int(m.group(1)) for p in out.glob("*_optims.ckpt") if (m := re.match(r"(\d+)_optims", p.name))]
    return max(steps, default=0)


def _load_entry(path: str, entry: str, module: nn.Module) -> nn.Module:
    """The ``entry`` of a ``nets_ema`` file, or a plain state dict (for ``vgg`` also torchvision's resnet18)."""
    from faceedit.models.l2m import resnet18_from_torchvision

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(ckpt, dict) and entry in ckpt:
        ckpt = ckpt[entry]
    if entry == "vgg" and isinstance(ckpt, dict) and "conv1.weight" in ckpt:
        ckpt = resnet18_from_torchvision(ckpt)
    return load_strict(module, ckpt, entry)


def train(opts: Options, id_net: nn.Module | None = None) -> Path:
    """Run (or resume) a training; returns the output folder (``id_net`` overrides ``opts.arcface``)."""
    for flag in ("fan", "vgg", "arcface"):
        path = getattr(opts, flag)
        if path and not Path(path).is_file():
            raise InvalidArgumentError(f"--{flag} {path}: no such file")
    rank, world, device = setup_distributed(opts.device)
    random.seed(opts.seed + rank)
    np.random.seed(opts.seed + rank)
    out = Path(opts.out)
    ds = ImageFolderDomains(opts.data, opts.img_size, opts.randcrop_prob)
    fan = vgg = None
    notes = []
    if opts.w_hpf > 0:
        if opts.fan:
            from faceedit.models.wing import FAN

            fan = _load_entry(opts.fan, "fan", FAN())
        else:
            notes.append("no --fan: high-pass masks off during training")
    if opts.vgg:
        vgg = _load_entry(opts.vgg, "vgg", ResNet18Features())
    else:
        notes.append("no --vgg: perceptual loss off")
    if id_net is None and opts.arcface:
        id_net = _load_entry(opts.arcface, "arcface", ArcFaceIRSE50())
    if id_net is None:
        notes.append("no --arcface: identity loss off")
    if opts.amp and device.type != "cuda":
        notes.append("--amp needs CUDA: training in float32")
    trainer = Trainer(opts, len(ds.domains), device, fan=fan, vgg=vgg, id_net=id_net, world=world)
    torch.manual_seed(opts.seed + 1 + rank)  # per-rank target domains
    resume = _latest_step(out) if opts.resume_iter < 0 else opts.resume_iter
    if resume > 0:
        trainer.load(out, resume)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        meta = {**asdict(opts), "domains": ds.domains, "world_size": world, "device": str(device), "notes": notes}
        (out / "options.json").write_text(json.dumps(meta, indent=2))
        for n in notes:
            print(f"[l2m] {n}", flush=True)
    log_path = out / "log.csv"
    batches = _forever(_loader(ds, opts, rank))
    fixed = next(batches)
    t0 = time.time()
    writer = None
    while trainer.step < opts.total_iters:
        x, y = next(batches)
        losses = trainer.train_step(x, y)
        if not all(math.isfinite(v) for v in losses.values()):
            raise FaceEditError(f"L2M training diverged at step {trainer.step}: {losses}")
        if rank != 0:
            continue
        if trainer.step % opts.print_every == 0 or trainer.step == opts.total_iters:
            row = {"step": trainer.step, "seconds": round(time.time() - t0, 3), **losses}
            if writer is None:
                new = not log_path.exists()
                fh = log_path.open("a", newline="")
                writer = csv.DictWriter(fh, fieldnames=list(row))
                if new:
                    writer.writeheader()
            writer.writerow(row)
            fh.flush()
            print(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
        if trainer.step % opts.sample_every == 0 or trainer.step == opts.total_iters:
            trainer.sample_grid(fixed[0][:4], fixed[1][:4], out / "samples" / f"{trainer.step:06d}.png")
        if trainer.step % opts.save_every == 0 or trainer.step == opts.total_iters:
            trainer.save(out)
    if opts.check_sync and world > 1:
        total = torch.stack([p.detach().double().sum() for m in (trainer.G, trainer.E, trainer.D)
                             for p in m.parameters()]).sum().to(device)
        gathered = [torch.zeros_like(total) for _ in range(world)]
        dist.all_gather(gathered, total)
        if len({float(t) for t in gathered}) != 1:
            raise FaceEditError(f"ranks hold different weights after training: {[float(t) for t in gathered]}")
        if rank == 0:
            print(f"[l2m] weights identical on all {world} ranks", flush=True)
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    return out


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m faceedit.train.l2m", description=__doc__.splitlines()[0])
    defaults = Options()
    for name, value in asdict(defaults).items():
        flag = f"--{name}"
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true", default=value)
        elif value is None:
            parser.add_argument(flag, type=int if name == "base_dim" else str, default=None)
        else:
            parser.add_argument(flag, type=type(value), default=value, required=name == "data")
    return Options(**vars(parser.parse_args(argv)))


def main(argv: list[str] | None = None) -> int:
    try:
        train(parse_args(argv))
    except FaceEditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
