"""One-shot adaptation of StyleGAN2 to an artwork with DiFa: ``python -m faceedit.train.difa --target art.png --out DIR``.

DiFa: Zhang et al., NeurIPS 2022, "Towards Diverse and Faithful One-shot Adaption of Generative Adversarial Networks";
the recipe of YBYBZhang/DiFa @277ce9b (``ZSSGAN/train.py``, ``model/ZSSGAN.py``, ``scripts/train.sh``):

* G_A (FFHQ config-f, rosinality layout) frozen; G_B a copy of it of which only ``input``, ``conv1`` and the 16
  ``convs`` train (mapping network, ToRGBs and noise buffers frozen; NADA's adaptive layer choice off).
* Each step: z ~ N(0, I) [batch 2], w = G_A's mapping (no truncation), the same w through G_A and G_B with
  *different* random noise maps (``randomize_noise=True`` in both), then
  ``loss = Σ_{ViT-B/32, ViT-B/16} (L_dir + λ_local·L_local) + λ_scc·ramp(i)·L_scc`` (:mod:`faceedit.train.difa_losses`).
* Adam over G_B's trainable parameters, lr 0.002·4/5 = 0.0016, betas (0, 0.99^0.8) (rosinality's lazy-regularisation
  correction, kept by the official code), 301 iterations (i = 0…300), seed 2.
* Settings of ``train.sh`` at the pin: λ_local 1.5, λ_scc 7, α 0.8, window 30, first 7 W+ rows, CLIP block 3.
  (The README's older values are 1, 6, 0.6 and 50; pass them with the flags.)
* The reference goes through CLIP's own preprocessing (short side to 224, bicubic, centre crop); generated images
  are mapped to [0, 1] and resized to 224 (bicubic, no antialias, as torchvision 0.9 did), then CLIP-normalised.

Choices where the official code gives no usable answer, and why:

* **μ_A (source CLIP mean).** The official ``weights/clip_mean/ffhq_{32,16}_samples.pkl`` are unpublished and
  their recipe undocumented. We regenerate μ_A with the recipe of the official ``get_samples_clip_mean``: the mean of
  the L2-normalised CLIP embeddings of ``--source-samples`` (1000) G_A samples at truncation ψ = 0.7 (not
  re-normalised), seeded; it is cached in the output folder as ``source_mean.safetensors`` and can be reused with
  ``--source-mean``.
* **e4e in eval mode.** The official ``net.train()`` also switches the e4e encoder's BatchNorms to batch statistics and
  updates their running means (a side effect on a shared network); we keep e4e in eval mode, frozen.
* **Window entries from previews.** The official preview renders every 50 steps also push entries into the SCC
  window; ours do not (previews never change training).
* **CLIP precision.** On CUDA the official ``clip`` package runs CLIP in fp16; we run CLIP in fp32 on every device
  (``--clip-fp16`` restores the official behaviour on CUDA).

Output folder: ``options.json``, ``log.jsonl`` (one line per step), ``source_mean.safetensors``,
``samples/{step:06d}.png`` (G_B on 4 fixed z at ψ = 0.5, every ``--sample-every`` steps), and at the end
``generator.safetensors`` (G_B's state dict as ``g_ema.*``: rosinality layout, loads strictly with
:func:`faceedit.models.style_generators.load_style_generator`) plus ``style.json``, the entry a style picker lists.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import hashlib
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from faceedit.errors import FaceEditError, InvalidArgumentError
from faceedit.models.clip import CLIP, CLIP_MEAN, CLIP_STD
from faceedit.models.stylegan2 import Generator
from faceedit.train.difa_losses import ClipDomainLoss, SelectiveConsistencyLoss, clip_input

__all__ = [
    "TRAINABLE_PREFIXES",
    "Options",
    "main",
    "reference_tensor",
    "source_clip_mean",
    "train",
    "trainable_parameters",
]

#: G_B's parameters that DiFa trains (``get_training_layers(None)``: the constant input, conv1, all convs).
TRAINABLE_PREFIXES = ("input.", "conv1.", "convs.")


@dataclass
class Options:
    target: str  # the reference artwork (any image file)
    out: str  # output folder
    generator: str = "stylegan2.ffhq"  # G_A: registry name or a rosinality .pt / safetensors file
    encoder: str = "e4e.ffhq_encode"  # e4e for L_scc: registry name or file
    clip_models: tuple[str, ...] = ("clip.openai.vit_b32", "clip.openai.vit_b16")  # registry names or files
    iters: int = 301  # --iter 301 (steps 0..300)
    batch: int = 2  # --batch 2
    lr: float = 0.002  # --lr; the optimiser uses lr · 4/5 (g_reg_ratio)
    lambda_local: float = 1.5  # λ_partial
    lambda_scc: float = 7.0  # psp_model_weight
    alpha: float = 0.8  # psp_alpha
    window: int = 30  # sliding_window_size
    keep_first: int = 7  # num_keep_first
    clip_layer: int = 3  # CLIP ViT block whose tokens L_local matches
    source_mean: str | None = None  # reuse a source_mean.safetensors
    source_samples: int = 1000  # G_A samples for μ_A
    source_truncation: float = 0.7  # ψ for the μ_A samples
    sample_every: int = 50  # preview grid interval (0: none)
    seed: int = 2  # torch.manual_seed(2) / np.random.seed(2)
    device: str | None = None  # default: CUDA when present, else CPU
    clip_fp16: bool = False  # CLIP in fp16 on CUDA, as the official package does


# ---------------------------------------------------------------------------------------------- pieces
def reference_tensor(path_or_image: str | Path | np.ndarray, resolution: int = 224) -> torch.Tensor:
    """The reference artwork as CLIP's own preprocessing gives it: short side to 224 (bicubic), centre crop,
    [0, 1], CLIP mean/std → [1, 3, 224, 224]."""
    from faceedit.imaging import load_image, to_pil

    img = to_pil(load_image(path_or_image) if not isinstance(path_or_image, np.ndarray) else path_or_image)
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_long = int(resolution * long / short)
    size = (resolution, new_long) if w <= h else (new_long, resolution)
    img = img.resize(size, Image.BICUBIC)
    left = int(round((img.size[0] - resolution) / 2.0))
    top = int(round((img.size[1] - resolution) / 2.0))
    img = img.crop((left, top, left + resolution, top + resolution))
    x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)[None]
    return (x - torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)) / torch.tensor(CLIP_STD).view(1, 3, 1, 1)


@torch.no_grad()
def source_clip_mean(
    g_a: Generator,
    clip: CLIP,
    n: int = 1000,  # samples
    truncation: float = 0.7,  # ψ
    batch: int = 8,
    generator: torch.Generator | None = None,  # randomness (z); seed 0 when None
) -> torch.Tensor:
    """μ_A [embed_dim]: mean of the L2-normalised CLIP embeddings of ``n`` G_A samples at truncation ψ."""
    gen = generator or torch.Generator().manual_seed(0)
    dev = g_a.input.input.device
    w_avg = g_a.mean_latent(4096, generator=torch.Generator().manual_seed(1))
    total = None
    done = 0
    while done < n:
        b = min(batch, n - done)
        z = torch.randn(b, g_a.style_dim, generator=gen).to(dev)
        w = w_avg + truncation * (g_a.get_latent(z) - w_avg)
        img = g_a.synthesis(w[:, None].repeat(1, g_a.n_latent, 1), noise_mode="const")
        emb = clip.encode_image(clip_input(img, clip.visual.input_resolution).to(clip.dtype)).float()
        emb = emb / emb.norm(dim=-1, keepdim=True)
        total = emb.sum(0) if total is None else total + emb.sum(0)
        done += b
    assert total is not None
    return (total / n).cpu()


def trainable_parameters(g_b: Generator) -> list[torch.nn.Parameter]:
    """Unfreeze DiFa's layer subset of G_B (everything else frozen) and return those parameters."""
    g_b.requires_grad_(False)
    params = []
    for name, p in g_b.named_parameters():
        if name.startswith(TRAINABLE_PREFIXES):
            p.requires_grad_(True)
            params.append(p)
    return params


def _encoder_input(images: torch.Tensor) -> torch.Tensor:
    """G images [-1, 1] → 256×256 for e4e (bilinear, no antialias: the official tensor ``Resize``)."""
    if images.shape[-1] == 256:
        return images
    return F.interpolate(images, size=(256, 256), mode="bilinear", align_corners=False, antialias=False)


def _grid(images: torch.Tensor) -> np.ndarray:
    from faceedit.imaging import from_tensor

    return np.concatenate([from_tensor(im) for im in images], axis=1)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------- training loop
def train(
    opts: Options,
    g_a: Generator,  # frozen source generator (on the training device)
    encoder: Callable[[torch.Tensor], torch.Tensor],  # [N, 3, 256, 256] → W+ [N, n_latent, 512] (e4e .encode)
    clips: Sequence[CLIP],  # frozen CLIP models (ViT-B/32 and ViT-B/16 for the recipe)
    reference: torch.Tensor | None = None,  # [1, 3, 224, 224] CLIP input; default: reference_tensor(opts.target)
    source_means: Sequence[torch.Tensor] | None = None,  # μ_A per CLIP model; default: regenerated
    progress: Callable[[int, int, dict[str, float]], None] | None = None,  # (step, iters, metrics) per step
) -> Path:
    """Run DiFa and write the output folder; returns the path of ``style.json``."""
    if opts.iters <= opts.window:
        raise InvalidArgumentError(f"iters ({opts.iters}) must exceed the SCC window ({opts.window})")
    out = Path(opts.out)
    (out / "samples").mkdir(parents=True, exist_ok=True)
    (out / "options.json").write_text(json.dumps(dataclasses.asdict(opts), indent=2))
    dev = g_a.input.input.device
    if reference is None:
        reference = reference_tensor(opts.target)
    reference = reference.to(dev)

    if source_means is None:
        if opts.source_mean:
            from safetensors.torch import load_file

            stored = load_file(opts.source_mean)
            source_means = [stored[f"clip{i}"] for i in range(len(clips))]
        else:
            source_means = [
                source_clip_mean(g_a, c, opts.source_samples, opts.source_truncation,
                                 generator=torch.Generator().manual_seed(opts.seed))
                for c in clips
            ]
    from safetensors.torch import save_file

    save_file({f"clip{i}": m.float().contiguous().cpu() for i, m in enumerate(source_means)},
              str(out / "source_mean.safetensors"),
              metadata={"recipe": f"mean of L2-normalised CLIP embeddings of {opts.source_samples} G_A samples "
                                  f"at truncation {opts.source_truncation}, seed {opts.seed}"})

    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed)
    rng = torch.Generator().manual_seed(opts.seed)  # z and noise, drawn on the CPU: same run on any device
    g_a = g_a.eval().requires_grad_(False)
    g_b = copy.deepcopy(g_a)
    params = trainable_parameters(g_b)
    g_b.train()
    ratio = 4 / 5  # g_reg_every = 4
    optim = torch.optim.Adam(params, lr=opts.lr * ratio, betas=(0.0, 0.99**ratio))

    clip_losses = [
        ClipDomainLoss(c, reference.to(c.dtype), m.to(dev), opts.lambda_local, opts.clip_layer)
        for c, m in zip(clips, source_means)
    ]
    scc = SelectiveConsistencyLoss(opts.window, opts.alpha, opts.keep_first, opts.iters)
    sample_z = torch.randn(4, g_a.style_dim, generator=torch.Generator().manual_seed(opts.seed + 1)).to(dev)
    w_avg = g_a.mean_latent(4096, generator=torch.Generator().manual_seed(1))

    log = (out / "log.jsonl").open("w")
    t0 = time.perf_counter()
    for i in range(opts.iters):
        z = torch.randn(opts.batch, g_a.style_dim, generator=rng).to(dev)
        with torch.no_grad():
            w = g_a.get_latent(z)[:, None].repeat(1, g_a.n_latent, 1)
            img_a = g_a.synthesis(w, noise=[n.to(dev) for n in g_a.make_noise(opts.batch, rng)])
        img_b = g_b.synthesis(w, noise=[n.to(dev) for n in g_b.make_noise(opts.batch, rng)])
        loss = img_b.new_zeros(())
        metrics: dict[str, float] = {}
        for k, cl in enumerate(clip_losses):
            part, m = cl(img_a, img_b)
            loss = loss + part
            metrics.update({f"clip{k}_{key}": v for key, v in m.items()})
        if opts.lambda_scc > 0:
            codes_b = encoder(_encoder_input(img_b))
            with torch.no_grad():
                codes_a = encoder(_encoder_input(img_a))
            l_scc = scc(codes_b, codes_a, i)
            loss = loss + opts.lambda_scc * l_scc
            metrics["scc"] = float(l_scc.detach())
        optim.zero_grad(set_to_none=True)
        loss.backward()
        optim.step()
        metrics.update(step=i, loss=float(loss.detach()), seconds=round(time.perf_counter() - t0, 3))
        log.write(json.dumps(metrics) + "\n")
        log.flush()
        if progress is not None:
            progress(i, opts.iters, metrics)
        if opts.sample_every and (i % opts.sample_every == 0 or i == opts.iters - 1):
            _save_samples(g_b, sample_z, w_avg, out / "samples" / f"{i:06d}.png")
    log.close()
    return _write_style(opts, g_b.eval().requires_grad_(False), out, i + 1)


@torch.no_grad()
def _save_samples(g: Generator, z: torch.Tensor, w_avg: torch.Tensor, path: Path) -> None:
    from faceedit.imaging import save_image

    w = w_avg + 0.5 * (g.get_latent(z) - w_avg)
    save_image(_grid(g.synthesis(w[:, None].repeat(1, g.n_latent, 1), noise_mode="const")), path)


def _write_style(opts: Options, g_b: Generator, out: Path, steps: int) -> Path:
    from safetensors.torch import save_file

    from faceedit.models.psp import generator_config

    sd = {f"g_ema.{k}": v.detach().float().contiguous().cpu() for k, v in g_b.state_dict().items()}
    save_file(sd, str(out / "generator.safetensors"), metadata={"format": "rosinality g_ema", "method": "DiFa"})
    target = Path(opts.target)
    samples = sorted((out / "samples").glob("*.png"))
    style = {
        "name": out.name,
        "label": f"DiFa: {target.stem}",
        "method": "DiFa (Zhang et al., NeurIPS 2022), recipe of YBYBZhang/DiFa @277ce9b",
        "generator": "generator.safetensors",
        "loader": "faceedit.models.style_generators:load_style_generator",
        "generator_config": generator_config({k[6:]: v for k, v in sd.items()}),
        "source_generator": opts.generator,
        "target": target.name,
        "target_sha256": _sha256(target) if target.is_file() else None,
        "iterations": steps,
        "thumbnail": f"samples/{samples[-1].name}" if samples else None,
        "operations": ["stylise"],
    }
    path = out / "style.json"
    path.write_text(json.dumps(style, indent=2))
    return path


# ---------------------------------------------------------------------------------------------- CLI
def _load(name_or_path: str, kind: str, device: torch.device) -> Any:
    from faceedit import weights

    p = Path(name_or_path)
    if not p.is_file():
        return weights.load_model(name_or_path, device=device)
    if kind == "clip":
        from faceedit.models.clip import load_clip_file

        return load_clip_file(p, device=device)
    obj = weights.load_checkpoint(p)
    if kind == "generator":
        from faceedit.models.style_generators import load_style_generator

        return load_style_generator(obj, device=device)
    from faceedit.models.psp import load_e4e

    return load_e4e(obj, device=device)


def estimate_minutes(seconds_per_step: float, iters: int = 301) -> float:
    """Wall time of a full run from a measured step time (plus μ_A sampling, about 10 steps' worth)."""
    return seconds_per_step * (iters + 10) / 60


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m faceedit.train.difa", description=__doc__.splitlines()[0])
    parser.add_argument("--target", required=True, help="the reference artwork")
    parser.add_argument("--out", required=True, help="output folder")
    for f in dataclasses.fields(Options):
        if f.name in ("target", "out"):
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.type == "bool" or isinstance(f.default, bool):
            parser.add_argument(flag, action="store_true")
        elif f.name == "clip_models":
            parser.add_argument(flag, nargs="+", default=list(f.default))
        else:
            typ = {int: int, float: float}.get(type(f.default), str)
            parser.add_argument(flag, type=typ, default=f.default)
    ns = parser.parse_args(argv)
    values = vars(ns)
    values["clip_models"] = tuple(values["clip_models"])
    return Options(**values)


def main(argv: list[str] | None = None) -> int:
    from faceedit.device import default_device

    try:
        opts = parse_args(argv)
        if not Path(opts.target).is_file():
            raise InvalidArgumentError(f"--target {opts.target}: no such image file")
        dev = torch.device(opts.device) if opts.device else default_device()
        g_a = _load(opts.generator, "generator", dev)
        e4e = _load(opts.encoder, "encoder", dev)
        clips = [_load(c, "clip", dev) for c in opts.clip_models]
        if opts.clip_fp16 and dev.type == "cuda":
            clips = [c.half() for c in clips]

        def report(i: int, n: int, m: dict[str, float]) -> None:
            if i % 10 == 0 or i == n - 1:
                eta = m["seconds"] / (i + 1) * (n - i - 1)
                print(f"step {i + 1}/{n}  loss {m['loss']:.4f}  ~{math.ceil(eta)} s left", flush=True)

        path = train(opts, g_a, e4e.encode, clips, progress=report)
    except FaceEditError as err:
        print(f"error: {err}")
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
