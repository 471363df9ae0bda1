"""Train an InterfaceGAN boundary from generator samples: ``python -m faceedit.train.boundary``.

The procedure of InterfaceGAN (Shen et al., CVPR 2020, Sec. 3): sample ``N`` codes ``z``, map them to
``w`` with the generator's mapping network, render each image, score it with an attribute scorer,
fit a linear SVM on the top / bottom scored latents (:func:`faceedit.directions.train_boundary`) and
save the unit normal as a faceedit direction (safetensors + metadata).

The run folder gets ``<name>.safetensors``, ``options.json`` (every option of the run), ``metrics.jsonl``
(one JSON line per rendered batch, then the final numbers), ``latents.npy`` and ``scores.npy``
(to retrain or condition later without rendering again).

The generator is anything with the :class:`LatentGenerator` shape: rosinality's StyleGAN2 ``Generator``
(``faceedit.models.stylegan2``) has ``style`` (the mapping network), ``style_dim``, ``n_latent`` and
faceedit's ``synthesis(w_plus, noise_mode="const")``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from faceedit.directions import BoundaryResult, Direction, sample_w, save_direction, train_boundary
from faceedit.errors import FaceEditError, InvalidArgumentError, WeightsMissingError

Scorer = Callable[[np.ndarray], float]


class LatentGenerator(Protocol):
    """What boundary training needs from a generator."""

    style_dim: int  # width of z and w
    n_latent: int  # number of W+ layers

    def style(self, z: torch.Tensor) -> torch.Tensor:  # mapping: [N, style_dim] z -> [N, style_dim] w
        ...

    def synthesis(self, w_plus: torch.Tensor, noise_mode: str = "const") -> torch.Tensor:
        ...  # [N, n_latent, style_dim] -> [N, 3, H, W] in [-1, 1]


@dataclass(frozen=True, eq=False)
class TrainedBoundary:
    """A finished run: the direction, the SVM numbers and where things were written."""

    direction: Direction
    result: BoundaryResult
    path: Path | None  # the saved direction (None when no out_dir was given)


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    """[N, 3, H, W] in [-1, 1] -> [N, H, W, 3] uint8."""
    x = ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


@torch.inference_mode()
def sample_and_score(
    generator: LatentGenerator,
    scorer: Scorer,
    num_samples: int = 10000,  # latents to draw
    batch_size: int = 8,  # images rendered at once
    seed: int = 0,  # seeds z (drawn in float64 on the CPU, so any device gives the same codes)
    truncation: float = 1.0,  # psi: render w_avg + psi (w - w_avg), w_avg = mean of the sampled w
    device: torch.device | str | None = None,
    log: Callable[[dict], None] | None = None,  # receives one dict per rendered batch
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``z``, map to ``w``, render and score.

    Returns ``(w_rendered [N, dim], scores [N], w_untruncated [N, dim])`` as float32 / float64 arrays;
    a score is NaN where the scorer could not tell.
    """
    if num_samples < 2 or batch_size < 1:
        raise InvalidArgumentError(f"num_samples must be >= 2 and batch_size >= 1, got {num_samples}, {batch_size}")
    if not 0 < truncation <= 1:
        raise InvalidArgumentError(f"truncation must lie in (0, 1], got {truncation}")
    device = torch.device(device) if device is not None else next(iter(_parameters(generator)), torch.empty(0)).device
    dim, layers = int(generator.style_dim), int(generator.n_latent)
    w = sample_w(generator.style, num_samples, dim, seed=seed, batch_size=256, device=device)
    w_avg = w.mean(0, keepdim=True)
    w_render = w_avg + truncation * (w - w_avg) if truncation < 1 else w
    scores = np.full(num_samples, np.nan)
    for start in range(0, num_samples, batch_size):
        t0 = time.perf_counter()
        wb = w_render[start : start + batch_size].to(device)
        images = _to_uint8(generator.synthesis(wb[:, None].expand(-1, layers, -1), noise_mode="const"))
        for j, img in enumerate(images):
            scores[start + j] = float(scorer(img))
        if log is not None:
            log({"rendered": min(start + batch_size, num_samples), "seconds": time.perf_counter() - t0})
    return w_render.numpy(), scores, w.numpy()


def _parameters(module: object) -> list[torch.Tensor]:
    params = getattr(module, "parameters", None)
    return list(params()) if callable(params) else []


def train_from_generator(
    generator: LatentGenerator,
    scorer: Scorer,
    name: str,  # direction name, e.g. "smile"
    num_samples: int = 10000,  # latents to draw (InterfaceGAN used 500k; 10k suffices for strong attributes)
    batch_size: int = 8,  # images rendered at once
    seed: int = 0,  # seeds z and the SVM split
    truncation: float = 1.0,  # psi for rendering (the boundary is fitted on the rendered w)
    chosen_ratio: float = 0.02,  # top / bottom fraction taken as positives / negatives
    split_ratio: float = 0.7,  # training share of the chosen samples
    layers: tuple[int, int] | None = None,  # W+ layers the direction will edit (None: all)
    generator_name: str = "",  # the weights-registry name of the generator, stored with the direction
    scorer_name: str = "",  # stored with the direction
    out_dir: str | Path | None = None,  # run folder; None writes nothing
    device: torch.device | str | None = None,
) -> TrainedBoundary:
    """Sample, render, score, fit and (with ``out_dir``) save one boundary."""
    options = {
        "name": name,
        "num_samples": num_samples,
        "batch_size": batch_size,
        "seed": seed,
        "truncation": truncation,
        "chosen_ratio": chosen_ratio,
        "split_ratio": split_ratio,
        "layers": list(layers) if layers else None,
        "generator": generator_name,
        "scorer": scorer_name,
    }
    metrics_file = None
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "options.json").write_text(json.dumps(options, indent=2) + "\n")
        metrics_file = (out / "metrics.jsonl").open("w")

    def log(entry: dict) -> None:
        if metrics_file is not None:
            metrics_file.write(json.dumps(entry) + "\n")
            metrics_file.flush()

    try:
        w, scores, w_full = sample_and_score(
            generator, scorer, num_samples, batch_size, seed, truncation, device=device, log=log
        )
        result = train_boundary(w, scores, chosen_ratio=chosen_ratio, split_ratio=split_ratio, seed=seed)
        # slider unit: std of the untruncated W distribution along the normal
        scale = float(np.std(w_full.astype(np.float64) @ result.normal[0].astype(np.float64)))
        log({"final": True, **result.to_dict(), "scale": scale})
    finally:
        if metrics_file is not None:
            metrics_file.close()

    direction = Direction(
        name=name,
        vector=result.normal,
        layers=layers,
        scale=scale,
        source=f"trained by faceedit.train.boundary (scorer {scorer_name or 'custom'}, {num_samples} samples)",
        kind="user",
        generator=generator_name,
        accuracy=result.accuracy,
        scale_source="samples",
        metadata={"scorer": scorer_name, "num_dropped": str(result.num_dropped), "seed": str(seed)},
    )
    path = None
    if out_dir is not None:
        out = Path(out_dir)
        np.save(out / "latents.npy", w)
        np.save(out / "scores.npy", scores)
        path = save_direction(direction, out / f"{name}.safetensors")
    return TrainedBoundary(direction=direction, result=result, path=path)


# ---------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------


def _import_attr(spec: str) -> object:
    module, _, attr = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise InvalidArgumentError(f"cannot import {spec!r}: {err}") from None


def _resolve_scorer(spec: str) -> Scorer:
    if ":" in spec:
        return _import_attr(spec)  # type: ignore[return-value]
    from faceedit.scorers import get_scorer

    return get_scorer(spec)


def _resolve_generator(spec: str, device: str | None) -> LatentGenerator:
    """``module:factory`` (called with no arguments) or a weights-registry name."""
    if ":" in spec:
        return _import_attr(spec)()  # type: ignore[operator]
    try:
        from faceedit import weights
    except ImportError:
        raise WeightsMissingError(
            f"cannot load generator {spec!r}: this install has no weights registry (faceedit.weights)"
        ) from None
    return weights.load_model(spec, device=device)


def _layers(text: str) -> tuple[int, int]:
    start, _, stop = text.partition(":")
    try:
        return int(start), int(stop)
    except ValueError:
        raise argparse.ArgumentTypeError(f"layers must be START:STOP, e.g. 0:4, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m faceedit.train.boundary", description=__doc__.split("\n")[0])
    p.add_argument("--generator", required=True, help="weights-registry name (e.g. stylegan2.ffhq) or module:factory")
    p.add_argument("--scorer", required=True, help="smile | yaw | pitch, or module:function (image -> float)")
    p.add_argument("--name", help="direction name (default: the scorer's)")
    p.add_argument("--out", required=True, type=Path, help="run folder")
    p.add_argument("--num-samples", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--truncation", type=float, default=1.0)
    p.add_argument("--chosen-ratio", type=float, default=0.02)
    p.add_argument("--split-ratio", type=float, default=0.7)
    p.add_argument("--layers", type=_layers, default=None, help="W+ layers to edit, START:STOP (default all)")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the generator's)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    name = args.name or args.scorer.rpartition(":")[2]
    try:
        generator = _resolve_generator(args.generator, args.device)
        scorer = _resolve_scorer(args.scorer)
        run = train_from_generator(
            generator,
            scorer,
            name=name,
            num_samples=args.num_samples,
            batch_size=args.batch_size,
            seed=args.seed,
            truncation=args.truncation,
            chosen_ratio=args.chosen_ratio,
            split_ratio=args.split_ratio,
            layers=args.layers,
            generator_name=args.generator,
            scorer_name=args.scorer,
            out_dir=args.out,
            device=args.device,
        )
    except FaceEditError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    r = run.result
    print(
        f"{name}: validation accuracy {r.accuracy:.4f} ({2 * r.num_val} samples), "
        f"{r.num_dropped} of {r.num_samples} scores dropped, scale {run.direction.scale:.4f}; saved {run.path}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
