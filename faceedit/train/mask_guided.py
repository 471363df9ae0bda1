"""Train the mask-guided portrait editor of Gu et al. 2019: ``python -m faceedit.train.mask_guided``.

The default recipe is what the authors' code does (cientgu/Mask_Guided_Portrait_Editing @ 8bbf8258,
``train.py`` + ``Pix2PixHD_mask_Model.forward_vae_net``, ``scripts/train.sh``), not what the paper's
text suggests.  One iteration on a batch (image x, grown Helen map L, original map L0, centres c):

1. crop the five components (eyes unmasked 32x48, mouth 80x144 masked, skin and hair full-size
   masked), encode each to (mu, logvar), sample ``z = mu + eps * exp(logvar / 2)``;
2. image decoders reconstruct the crops -> ``L2_mask_image`` = sum of 10 * MSE (skin, hair and mouth
   reconstructions multiplied by their masks; the eyes not);
3. feature decoders -> feature maps; the **unpaired** image uses the features permuted within the
   (per-process) batch, placed at this sample's centres, with this sample's mask and background;
   the **paired** image uses the sample's own features;
4. losses (name: definition x multiplier in the code):

   ===============  ==============================================================  ==============
   L2_mask_image    local autoencoder loss (above)                                  x 500
   L2_image         10 MSE eyes, 5 skin, 5 hair, 10 mouth (masked) + 10 MSE whole;   x 2, paired
                    summed once **per sample of the batch** (a loop without indexing)
   G_VGG            masked VGG19 L1 (relu1_1..relu5_1 weights 1/4,1/4,1/4,1/8,1/8;   x 10 x 3, paired
                    part weights 10,10,5,5,10), no ImageNet normalisation
   G_GAN            BCE-with-logits of D(one-hot, paired), 2 scales                  x 1, paired
   G_GAN_Feat       L1 of D's penultimate features, 0.5 x 1 x 10 per scale           x 1, paired
   ParsingLoss      cross entropy (class weights 0.2,1,5,5,5,5,3,8,8,8,1) of P(unpaired)  x 10 x 10
                    against the *un-grown* map; P already ends in a softmax and the
                    cross entropy applies log-softmax again
   G2_GAN           BCE-with-logits of D2(one-hot, unpaired)                         x 1
   KL_embed         computed and logged, **not** optimised
   D / D2           (real + fake) / 2; D only on paired iterations, D2 always
   ===============  ==============================================================  ==============

   "paired" terms are multiplied by ``a_weight``, which alternates 1, 0, 1, ... (reset each epoch).
5. one Adam (2e-4, betas 0.5/0.999) over G + all encoders, feature and image decoders; one Adam
   each for D and D2 (stepped even when their loss is 0); 10 epochs at 2e-4 then 45 epochs of
   linear decay to 0; batch 4 on 2 GPUs (2 per GPU: the permutation and BatchNorm act per GPU).
   P is loaded if available, otherwise random, **never trained and left in train mode** (dropout
   active, batch statistics).  Conv weights N(0, 0.02), BN weights N(1, 0.02), biases 0.

The paper (Sec. 3-4) describes the same three sub-networks with loss weights lambda_local = 10,
lambda_global = 1, lambda_GD = 1, lambda_GP = 1 and a VAE-style local embedding; the code's
multipliers above differ from those values (and drop the KL term), and they are what produced the
released weights, so they are the default here.

``--fix-code-bugs`` changes exactly the places where the code evidently does not do what it means:
the parsing loss uses NLL on log P (one softmax, not two); ``L2_image`` is counted once, not B times;
P runs in eval mode; D is not stepped on iterations whose D loss is multiplied by 0.

Data: ``--data DIR`` with ``DIR/images/<name>.{png,jpg}`` (aligned faces, resized to 256x256 if
square and another size) and ``DIR/labels/<name>.png`` label maps in ``--label-format`` ``helen``
(11 classes, image-left eyes), ``canonical`` (the project's 19 classes) or ``celebamask``
(CelebAMask-HQ's own 19-class order); the last two are converted with ``faceedit.helen.to_helen``.

Runs on CPU, one GPU, or several processes via ``torchrun --nproc_per_node N -m
faceedit.train.mask_guided ...`` (DistributedDataParallel; NCCL on CUDA, gloo on CPU); AMP on CUDA
with ``--amp``.  Outputs in ``--out``: ``checkpoints/latest_net_<label>.safetensors`` (the official
per-network layout, loadable with ``faceedit.models.mask_guided.load_official``) and
``checkpoints/training_state.pt`` (optimisers, counters; ``--resume`` continues from them),
``log.csv`` (every loss, every iteration), ``samples/step_*.png`` (real | map | paired | unpaired |
P's parse of the unpaired image), ``options.json``, ``summary.json``.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from faceedit import mask_guided_official as official
from faceedit.errors import CheckpointLayoutError, FaceEditError, InvalidArgumentError, WeightsMissingError
from faceedit.helen import from_helen, to_helen
from faceedit.labels import FROM_CELEBAMASK, labels_to_color
from faceedit.models import mask_guided as mg
from faceedit.train._distributed import setup_distributed

LOSS_NAMES = ("KL_embed", "L2_mask_image", "G_GAN", "G_GAN_Feat", "G_VGG", "D_real", "D_fake", "L2_image",
              "ParsingLoss", "G2_GAN", "D2_real", "D2_fake")
PARSING_CLASS_WEIGHTS = (0.2, 1, 5, 5, 5, 5, 3, 8, 8, 8, 1)
VGG_LAYER_WEIGHTS = (1 / 4, 1 / 4, 1 / 4, 1 / 8, 1 / 8)
PART_WEIGHTS = (10, 10, 5, 5, 10)  # left eye, right eye, skin, hair, mouth
CHECKPOINT_LABELS = (*mg.ALL_LABELS, "D", "D2")


@dataclass(frozen=True)
class Recipe:
    """Multipliers of ``train.py`` (outer) x ``forward_vae_net`` (inner); see the module docstring."""

    lambda_feat: float = 10.0  # --lambda_feat, used inside the VGG, feature-matching and parsing terms
    mask_image: float = 500.0
    l2_image: float = 2.0
    vgg: float = 1.0
    parsing: float = 10.0
    kl: float = 0.0  # computed, not optimised by the official code


# ----------------------------------------------------------------------------------------------------
# Data


class FaceLabelDataset(Dataset):
    """Aligned faces and label maps -> image [-1, 1], grown and original Helen maps, centres."""

    def __init__(self, root: str | Path, label_format: str = "helen") -> None:
        root = Path(root)
        if label_format not in ("helen", "canonical", "celebamask"):
            raise InvalidArgumentError(f"Unknown label format {label_format!r}; use helen, canonical or celebamask.")
        self.label_format = label_format
        img_dir, lab_dir = root / "images", root / "labels"
        if not img_dir.is_dir() or not lab_dir.is_dir():
            raise InvalidArgumentError(f"{root} must contain images/ and labels/ folders.")
        labels = {p.stem: p for p in lab_dir.iterdir() if p.suffix.lower() == ".png"}
        self.items = sorted((p, labels[p.stem]) for p in img_dir.iterdir()
                            if p.suffix.lower() in (".png", ".jpg", ".jpeg") and p.stem in labels)
        if not self.items:
            raise InvalidArgumentError(f"No image in {img_dir} has a label map of the same name in {lab_dir}.")

    def __len__(self) -> int:
        return len(self.items)

    def _read(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        img_path, lab_path = self.items[index]
        image = Image.open(img_path).convert("RGB")
        lab_img = Image.open(lab_path)
        if lab_img.mode not in ("L", "P"):
            raise InvalidArgumentError(f"{lab_path} must be a single-channel label PNG (mode L or P).")
        if image.size != lab_img.size or image.size[0] != image.size[1]:
            raise InvalidArgumentError(f"{img_path.name}: image and label map must be the same square size.")
        if image.size != (mg.IMAGE_SIZE, mg.IMAGE_SIZE):  # as the official loader: NEAREST / BICUBIC
            lab_img = lab_img.resize((mg.IMAGE_SIZE, mg.IMAGE_SIZE), Image.NEAREST)
            image = image.resize((mg.IMAGE_SIZE, mg.IMAGE_SIZE), Image.BICUBIC)
        lab = np.asarray(lab_img).astype(np.uint8)
        if self.label_format == "celebamask":
            lab = to_helen(FROM_CELEBAMASK[np.minimum(lab, 18)])
        elif self.label_format == "canonical":
            lab = to_helen(lab)
        return np.array(image), lab

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        image, lab = self._read(index)
        try:
            lab = official.check_helen_labels(lab)
            grown, centres = official.prepare_labels(lab)
        except FaceEditError as exc:
            raise InvalidArgumentError(f"{self.items[index][1].name}: {exc}") from None
        return {
            "image": official.image_to_tensor(image)[0],
            "label": torch.from_numpy(grown).long(),
            "ori_label": torch.from_numpy(lab).long(),
            "centres": torch.from_numpy(centres),
        }


# ----------------------------------------------------------------------------------------------------
# Networks only training uses


class VGG19Features(nn.Module):
    """VGG19 ``features`` up to relu5_1 in torchvision's key layout (``features.<i>.weight``)."""

    CFG = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512)
    SLICES = (2, 7, 12, 21, 30)  # end indices of relu1_1, relu2_1, relu3_1, relu4_1, relu5_1

    def __init__(self) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=False)]
                c = v
        self.features = nn.Sequential(*layers[:30])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out, start = [], 0
        for end in self.SLICES:
            x = self.features[start:end](x)
            out.append(x)
            start = end
        return out


def load_vgg19(source: str | Path) -> VGG19Features:
    """VGG19 from a torchvision ``vgg19`` state dict file (path) or a weights-registry name."""
    path = Path(source)
    if not path.is_file():
        try:
            from faceedit import weights  # the registry (weights helper); optional here
        except ImportError:
            raise WeightsMissingError(f"VGG19 weights {str(source)!r}: no such file, and the weights registry is "
                                      "not available.") from None
        if str(source) not in weights.registry():
            raise WeightsMissingError(f"VGG19 weights {str(source)!r}: no such file, and no weights-registry entry "
                                      "of that name (see `python -m faceedit weights list`).")
        found = weights.local_path(str(source))
        if found is None:
            raise WeightsMissingError(f"VGG19 weights {source!r} are not in the local weights cache; import "
                                      "them with `python -m faceedit weights import`.")
        path = Path(found)
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if k.startswith("features.") and int(k.split(".")[1]) < 30}
    vgg = VGG19Features()
    mg.load_network(vgg, state, path.name)
    return vgg.eval().requires_grad_(False)


def official_init(module: nn.Module) -> None:
    """``weights_init`` of the official code: conv N(0, 0.02); BatchNorm2d weight N(1, 0.02), bias 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class GeneratorSide(nn.Module):
    """Everything ``optimizer_G_together`` trains, with the forward of one iteration (DDP unit)."""

    def __init__(self, editor: mg.MaskGuidedNetworks) -> None:
        super().__init__()
        self.editor = editor

    def forward(self, image: torch.Tensor, label: torch.Tensor, centres: torch.Tensor, perm: torch.Tensor,
                noise: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        ed, G = self.editor, self.editor.G
        crops = mg.component_crops(image, label, centres)
        stats = ed.embed(crops)
        z = {c: noise[c] * torch.exp(0.5 * stats[c][1]) + stats[c][0] for c in mg.COMPONENTS}
        masks = {"left_eye": None, "right_eye": None, "skin": crops["skin_mask"], "hair": crops["hair_mask"],
                 "mouth": crops["mouth_mask"]}
        loss_mask_image = image.new_zeros(())
        kl = image.new_zeros(())
        for c in mg.COMPONENTS:
            rec = getattr(ed, f"decoder_{c}_image")(z[c])
            if masks[c] is not None:
                rec = masks[c] * rec
            loss_mask_image = loss_mask_image + F.mse_loss(rec, crops[c]) * 10
            mu, logvar = stats[c]
            kl = kl - 0.5 * torch.sum(-logvar.exp() - mu.pow(2) + logvar + 1)
        feats = ed.decode_features(z)
        one_hot = mg.one_hot(label)
        mask_features = G.encode_mask(one_hot)
        background = (label == 0).unsqueeze(1).float() * G.encode_background(image)
        swapped = {c: feats[c][perm] for c in mg.COMPONENTS}
        transfer = G.fuse_background(G.synthesize_face(mask_features, mg.place_features(swapped, centres)), background)
        paired = G.fuse_background(G.synthesize_face(mask_features, mg.place_features(feats, centres)), background)
        return {"paired": paired, "transfer": transfer, "one_hot": one_hot, "L2_mask_image": loss_mask_image,
                "KL_embed": kl}


class DiscriminatorSide(nn.Module):
    """D's (or D2's) own loss on a detached fake and the real image (DDP unit); also returns D(real)."""

    def __init__(self, disc: mg.MultiscaleDiscriminator) -> None:
        super().__init__()
        self.disc = disc

    def forward(self, one_hot: torch.Tensor, fake: torch.Tensor,
                real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list]:
        pred_fake = self.disc(torch.cat([one_hot, fake.detach()], 1))
        pred_real = self.disc(torch.cat([one_hot, real], 1))
        return gan_loss(pred_fake, False), gan_loss(pred_real, True), [[t.detach() for t in s] for s in pred_real]


def gan_loss(preds: list[list[torch.Tensor]], real: bool) -> torch.Tensor:
    """pix2pixHD GANLoss with ``--no_lsgan``: BCE-with-logits on each scale's last output, summed."""
    return sum(F.binary_cross_entropy_with_logits(p[-1], torch.full_like(p[-1], float(real))) for p in preds)


def vgg_loss(vgg: VGG19Features, x: torch.Tensor, y: torch.Tensor, part_masks: torch.Tensor) -> torch.Tensor:
    """Official ``VGGLoss``: per layer and part, L1 of masked features (masks max-pooled per layer)."""
    fx, fy = vgg(x), vgg(y)
    mask = part_masks.detach()
    loss = x.new_zeros(())
    for i, (a, b) in enumerate(zip(fx, fy)):
        if i > 0:
            mask = F.max_pool2d(mask, 2)
        for k, w in enumerate(PART_WEIGHTS):
            m = mask[:, k:k + 1]
            loss = loss + VGG_LAYER_WEIGHTS[i] * F.l1_loss(a * m, (b * m).detach()) * w
    return loss


# ----------------------------------------------------------------------------------------------------
# Training


@dataclass
class Options:
    data: str
    out: str
    label_format: str = "helen"
    batch_size: int = 2  # per process (official: 4 on 2 GPUs = 2 per GPU)
    niter: int = 10
    niter_decay: int = 45
    lr: float = 2e-4
    beta1: float = 0.5
    max_steps: int = 0  # 0 = run all epochs
    fix_code_bugs: bool = False
    vgg19: str | None = None
    init_from: str | None = None
    resume: bool = False
    amp: bool = False
    device: str | None = None
    seed: int = 0
    div: int = 1
    workers: int = 2
    save_every: int = 1000
    sample_every: int = 500
    log_every: int = 1


def _save_networks(folder: Path, nets: dict[str, nn.Module]) -> None:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    for label, net in nets.items():
        state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
        tmp = folder / f".latest_net_{label}.safetensors.tmp"
        save_file(state, str(tmp))
        tmp.replace(folder / f"latest_net_{label}.safetensors")


def _load_networks(folder: Path, nets: dict[str, nn.Module], required: bool) -> list[str]:
    """Strictly load every ``latest_net_<label>.{safetensors,pth}`` found (all of them if ``required``)."""
    loaded = []
    for label, net in nets.items():
        for suffix in (".safetensors", ".pth"):
            path = folder / f"latest_net_{label}{suffix}"
            if path.is_file():
                mg.load_network(net, mg._read_state_dict(path), path.name)
                loaded.append(label)
                break
        else:
            if required:
                raise WeightsMissingError(f"{folder} lacks latest_net_{label}.safetensors; cannot resume.")
    return loaded


def _grid(batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor], parse: torch.Tensor, n: int = 4) -> np.ndarray:
    def img(t: torch.Tensor) -> np.ndarray:
        return ((t.detach().float().cpu().permute(1, 2, 0).numpy() + 1) / 2 * 255).clip(0, 255).astype(np.uint8)

    def lab(t: torch.Tensor) -> np.ndarray:
        return labels_to_color(from_helen(t.cpu().numpy().astype(np.uint8)))

    rows = []
    for b in range(min(n, batch["image"].shape[0])):
        rows.append(np.concatenate([img(batch["image"][b]), lab(batch["label"][b]), img(out["paired"][b]),
                                    img(out["transfer"][b]), lab(parse[b])], 1))
    return np.concatenate(rows, 0)


def train(opts: Options) -> dict:
    """Run the training loop; returns the summary written to ``summary.json``."""
    rank, world, device = setup_distributed(opts.device)
    distributed = world > 1
    amp = opts.amp and device.type == "cuda"
    dataset = FaceLabelDataset(opts.data, opts.label_format)  # bad folders fail before any network is built
    out_dir = Path(opts.out)
    ckpt_dir = out_dir / "checkpoints"
    if rank == 0:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        (out_dir / "options.json").write_text(json.dumps(vars(opts), indent=2))

    # identical initial weights on every rank, then per-rank randomness
    torch.manual_seed(opts.seed)
    editor = mg.MaskGuidedNetworks(with_image_decoders=True, with_parser=True, div=opts.div)
    d_net = mg.MultiscaleDiscriminator(ndf=64 // opts.div)
    d2_net = mg.MultiscaleDiscriminator(ndf=64 // opts.div)
    for net in (editor, d_net, d2_net):
        official_init(net)
    nets = {label: editor.network(label) for label in editor.labels()} | {"D": d_net, "D2": d2_net}
    if opts.init_from:
        loaded = _load_networks(Path(opts.init_from), nets, required=False)
        if "G" not in loaded:
            raise WeightsMissingError(f"--init-from {opts.init_from}: no latest_net_G found there.")
    vgg = load_vgg19(opts.vgg19).to(device) if opts.vgg19 else None
    torch.manual_seed(opts.seed + 1000 * rank)

    P = editor.P
    P.requires_grad_(False)
    P.train(not opts.fix_code_bugs)  # official: never switched to eval
    gen = GeneratorSide(editor).to(device)
    d_side, d2_side = DiscriminatorSide(d_net).to(device), DiscriminatorSide(d2_net).to(device)
    gen_params = [p for n, p in gen.named_parameters() if not n.startswith("editor.P.")]
    opt_g = torch.optim.Adam(gen_params, lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d = torch.optim.Adam(d_net.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    opt_d2 = torch.optim.Adam(d2_net.parameters(), lr=opts.lr, betas=(opts.beta1, 0.999))
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    start_epoch, step = 1, 0
    state_path = ckpt_dir / "training_state.pt"
    if opts.resume and state_path.is_file():
        _load_networks(ckpt_dir, nets, required=True)
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        for o, key in ((opt_g, "opt_g"), (opt_d, "opt_d"), (opt_d2, "opt_d2")):
            o.load_state_dict(state[key])
        scaler.load_state_dict(state["scaler"])
        start_epoch, step = int(state["epoch"]) + 1, int(state["step"])
    for o in (opt_g, opt_d, opt_d2):  # optimiser state follows the parameters' device
        for s in o.state.values():
            for k, v in s.items():
                if isinstance(v, torch.Tensor) and k != "step":
                    s[k] = v.to(device)

    ddp_kw = {"device_ids": [device.index]} if device.type == "cuda" else {}
    # DDP broadcasts rank 0's parameters and buffers (P's included) and averages the gradients
    gen_ddp = nn.parallel.DistributedDataParallel(gen, **ddp_kw) if distributed else gen
    d_ddp = nn.parallel.DistributedDataParallel(d_side, **ddp_kw) if distributed else d_side
    d2_ddp = nn.parallel.DistributedDataParallel(d2_side, **ddp_kw) if distributed else d2_side

    sampler = DistributedSampler(dataset, world, rank, shuffle=True, seed=opts.seed, drop_last=True) \
        if distributed else None
    loader = DataLoader(dataset, batch_size=opts.batch_size, shuffle=sampler is None, sampler=sampler,
                        drop_last=True, num_workers=opts.workers, generator=torch.Generator().manual_seed(opts.seed))
    if len(loader) == 0:
        raise InvalidArgumentError(f"{len(dataset)} images are too few for batch size {opts.batch_size} "
                                   f"on {world} process(es).")
    recipe = Recipe()
    class_w = torch.tensor(PARSING_CLASS_WEIGHTS, device=device)
    log_file = None
    writer = None
    if rank == 0:
        log_path = out_dir / "log.csv"
        new = not (opts.resume and log_path.is_file())
        log_file = open(log_path, "a" if not new else "w", newline="")  # noqa: SIM115
        writer = csv.writer(log_file)
        if new:
            writer.writerow(["step", "epoch", "epoch_iter", "lr", "a_weight", *LOSS_NAMES, "paired_mse",
                             "loss_G", "loss_D", "loss_D2", "seconds"])
    total_epochs = opts.niter + opts.niter_decay
    done = False
    epoch = start_epoch - 1
    for epoch in range(start_epoch, total_epochs + 1):
        lr = opts.lr * (1 - max(0, epoch - 1 - opts.niter) / max(1, opts.niter_decay))
        for o in (opt_g, opt_d, opt_d2):
            for group in o.param_groups:
                group["lr"] = lr
        if sampler is not None:
            sampler.set_epoch(epoch)
        a_count = 0
        for epoch_iter, batch in enumerate(loader, 1):
            t0 = time.perf_counter()
            a_weight = 1.0 if a_count == 0 else 0.0
            a_count = 1 - a_count
            batch = {k: v.to(device) for k, v in batch.items()}
            image, label, centres = batch["image"], batch["label"], batch["centres"].cpu()
            n = image.shape[0]
            perm = torch.randperm(n)
            noise = {c: torch.randn(n, mg.EMBED_DIM // opts.div, device=device) for c in mg.COMPONENTS}
            with torch.autocast(device.type, dtype=torch.float16, enabled=amp):
                out = gen_ddp(image, label, centres, perm.to(device), noise)
                one_hot = out["one_hot"]
                d_fake, d_real, pred_real = d_ddp(one_hot, out["paired"], image)
                d2_fake, d2_real, _ = d2_ddp(one_hot, out["transfer"], image)
                d_net.requires_grad_(False)
                d2_net.requires_grad_(False)
                # unpaired
                probs = P(out["transfer"]).float()
                if opts.fix_code_bugs:
                    parsing = F.nll_loss(torch.log(probs.clamp_min(1e-8)), batch["ori_label"], weight=class_w)
                else:
                    parsing = F.cross_entropy(probs, batch["ori_label"], weight=class_w)
                parsing = parsing * recipe.lambda_feat
                g2_gan = gan_loss(d2_net(torch.cat([one_hot, out["transfer"]], 1)), True)
                # paired
                x, y = out["paired"].float(), image
                lab = label.unsqueeze(1)
                part_masks = torch.cat([(lab == 4), (lab == 5), torch.isin(lab, torch.tensor(mg.SKIN_LABELS, device=device)),
                                        (lab == 10), torch.isin(lab, torch.tensor(mg.MOUTH_LABELS, device=device))],
                                       1).float()
                l2 = sum(w * F.mse_loss(part_masks[:, k:k + 1] * x, part_masks[:, k:k + 1] * y)
                         for k, w in enumerate(PART_WEIGHTS)) + 10 * F.mse_loss(x, y)
                l2_image = l2 if opts.fix_code_bugs else l2 * n
                pred_fake = d_net(torch.cat([one_hot, out["paired"]], 1))
                g_gan = gan_loss(pred_fake, True)
                feat_w = (1.0 / d_net.num_d) * (4.0 / (d_net.n_layers + 1))
                g_feat = sum(feat_w * F.l1_loss(pf[0], pr[0]) * recipe.lambda_feat
                             for pf, pr in zip(pred_fake, pred_real))
                g_vgg = vgg_loss(vgg, x, y, part_masks) * recipe.lambda_feat * 3 if vgg is not None \
                    else x.new_zeros(())
                d_net.requires_grad_(True)
                d2_net.requires_grad_(True)
                loss_g = (g_gan * a_weight + g2_gan + g_feat * a_weight + g_vgg * recipe.vgg * a_weight
                          + l2_image * recipe.l2_image * a_weight + out["L2_mask_image"] * recipe.mask_image
                          + parsing * recipe.parsing + out["KL_embed"] * recipe.kl)
                loss_d = (d_fake + d_real) * 0.5 * a_weight
                loss_d2 = (d2_fake + d2_real) * 0.5
            opt_g.zero_grad(set_to_none=True)
            scaler.scale(loss_g).backward()
            scaler.step(opt_g)
            opt_d.zero_grad(set_to_none=True)
            scaler.scale(loss_d).backward()
            if a_weight or not opts.fix_code_bugs:
                scaler.step(opt_d)
            opt_d2.zero_grad(set_to_none=True)
            scaler.scale(loss_d2).backward()
            scaler.step(opt_d2)
            scaler.update()
            step += 1
            values = dict(zip(LOSS_NAMES, (out["KL_embed"], out["L2_mask_image"], g_gan, g_feat, g_vgg, d_real,
                                           d_fake, l2_image, parsing, g2_gan, d2_real, d2_fake)))
            if writer is not None and step % opts.log_every == 0:
                with torch.no_grad():
                    paired_mse = F.mse_loss(out["paired"].float(), image).item()
                writer.writerow([step, epoch, epoch_iter, f"{lr:.6g}", a_weight,
                                 *(f"{float(v.detach()) if torch.is_tensor(v) else v:.6g}" for v in values.values()),
                                 f"{paired_mse:.6g}",
                                 f"{loss_g.item():.6g}", f"{loss_d.item():.6g}", f"{loss_d2.item():.6g}",
                                 f"{time.perf_counter() - t0:.3f}"])
                log_file.flush()
            if rank == 0 and opts.sample_every and step % opts.sample_every == 0:
                Image.fromarray(_grid(batch, out, probs.argmax(1))).save(out_dir / "samples" / f"step_{step:07d}.png")
            if rank == 0 and opts.save_every and step % opts.save_every == 0:
                _save_networks(ckpt_dir, nets)
            if not all(math.isfinite(float(v.detach())) for v in (loss_g, loss_d, loss_d2)):
                raise FaceEditError(f"Training diverged at step {step}: a loss is not finite (see log.csv).")
            if opts.max_steps and step >= opts.max_steps:
                done = True
                break
        if rank == 0:
            _save_networks(ckpt_dir, nets)
            torch.save({"epoch": epoch, "step": step, "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                        "opt_d2": opt_d2.state_dict(), "scaler": scaler.state_dict()}, state_path)
        if done:
            break
    summary = {"steps": step, "epochs": epoch, "world_size": world, "device": str(device), "amp": amp}
    if distributed:  # every rank must hold the same generator after DDP's gradient averaging
        flat = torch.cat([p.detach().flatten() for p in gen_params]).float()
        lo, hi = flat.clone(), flat.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        summary["max_param_diff_across_ranks"] = float((hi - lo).abs().max())
        dist.barrier()
    if rank == 0:
        (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        if log_file is not None:
            log_file.close()
    if distributed:
        dist.destroy_process_group()
    return summary


def parse_args(argv: Sequence[str] | None = None) -> Options:
    ap = argparse.ArgumentParser(prog="python -m faceedit.train.mask_guided",
                                 description="Train the Gu et al. 2019 mask-guided editor (official recipe by default).")
    ap.add_argument("--data", required=True, help="folder with images/ and labels/")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, log.csv, samples)")
    ap.add_argument("--label-format", default="helen", choices=("helen", "canonical", "celebamask"))
    ap.add_argument("--batch-size", type=int, default=2, help="per process (official: 2 per GPU)")
    ap.add_argument("--niter", type=int, default=10, help="epochs at the initial learning rate")
    ap.add_argument("--niter-decay", type=int, default=45, help="epochs of linear decay to 0")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--beta1", type=float, default=0.5)
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many iterations (0: all epochs)")
    ap.add_argument("--fix-code-bugs", action="store_true", help="fix the official code's evident bugs")
    ap.add_argument("--vgg19", default=None, help="torchvision VGG19 weights (path or registry name); "
                                                   "without it the G_VGG term is off")
    ap.add_argument("--init-from", default=None, help="folder of latest_net_<label> files to start from")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    ap.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    ap.add_argument("--device", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--div", type=int, default=1, help="divide every width (smoke tests only; 1 = official)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--save-every", type=int, default=1000)
    ap.add_argument("--sample-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=1)
    return Options(**{k.replace("-", "_"): v for k, v in vars(ap.parse_args(argv)).items()})


def main(argv: Sequence[str] | None = None) -> int:
    try:
        train(parse_args(argv))
    except (FaceEditError, CheckpointLayoutError) as exc:
        print(f"error: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
