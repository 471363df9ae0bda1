"""Build seeded random checkpoints in an official layout (tests/data/official-layouts/*.json) for tests.

The recipe is fixed so that reference tensors recorded once from the official code can be re-created here:

1. ``g = torch.Generator().manual_seed(seed)``;
2. for each entry in layout order: integer dtypes (BatchNorm's ``num_batches_tracked``) → zeros, no draw;
   floating entries → ``torch.randn(shape, generator=g) * scale`` (``scale(name, shape)`` if callable), divided by √fan_in (product of all dims
   but the first) for entries of rank ≥ 2 when ``fan_in=True``; then entries whose name ends in
   ``running_var`` → ``abs() + 0.5`` (a variance must be positive);
3. cast to the entry's dtype.

``save_in_format`` writes such a state dict the way the published files are stored (rosinality ``g_ema`` dict,
pSp/e4e ``{"state_dict", "opts", "latent_avg"}``, plain state dict) as ``.pt`` or safetensors.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import torch

Layout = list[dict[str, Any]]

_DTYPES = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def read_layout(layout: str | Path | Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> Layout:
    """A layout JSON path, a list of ``{"name", "shape", "dtype"}`` or a state dict → list of entries."""
    if isinstance(layout, str | Path):
        return json.loads(Path(layout).read_text())
    if isinstance(layout, Mapping):
        return [
            {"name": k, "shape": list(v.shape), "dtype": str(v.dtype).removeprefix("torch.")}
            for k, v in layout.items()
        ]
    return [dict(e) for e in layout]


def layout_of(state_dict: Mapping[str, torch.Tensor]) -> Layout:
    """The layout entries of a state dict (same format as the JSON files)."""
    return read_layout(state_dict)


def random_state_dict(
    layout: str | Path | Iterable[Mapping[str, Any]] | Mapping[str, Any],
    seed: int = 0,
    scale: float | Callable[[str, tuple[int, ...]], float] = 1.0,
    fan_in: bool = False,
    prefix: str = "",
) -> dict[str, torch.Tensor]:
    """Seeded random tensors for every entry of ``layout`` (see the module docstring for the recipe).

    ``prefix`` keeps only the entries starting with it and strips it (e.g. ``"encoder."``); entries are still
    drawn in full-layout order, so the values do not depend on which part is kept.
    """
    g = torch.Generator().manual_seed(seed)
    out: dict[str, torch.Tensor] = {}
    for e in read_layout(layout):
        name, shape, dtype = e["name"], tuple(e["shape"]), _DTYPES[e["dtype"]]
        if not dtype.is_floating_point:
            t = torch.zeros(shape, dtype=dtype)
        else:
            t = torch.randn(shape, generator=g) * (scale(name, shape) if callable(scale) else scale)
            if fan_in and len(shape) >= 2:
                t = t / math.sqrt(math.prod(shape[1:]))
            if name.endswith("running_var"):
                t = t.abs() + 0.5
            t = t.to(dtype)
        if name.startswith(prefix):
            out[name[len(prefix) :]] = t
    return out


@functools.lru_cache(maxsize=2)
def cached_random_state_dict(layout_path: str, seed: int, scale: Callable | float = 1.0) -> dict:
    """:func:`random_state_dict` of a layout file, kept for the test session (big encoder layouts)."""
    return random_state_dict(layout_path, seed=seed, scale=scale)


def stylegan_scale(name: str, shape: tuple[int, ...] = ()) -> float:
    """Recipe scale for StyleGAN2 generators: ×100 for the mapping-network weights (``style.i.weight``).

    Official checkpoints store those weights divided by lr_mul = 0.01, so plain ``randn`` would make the
    mapping network ignore z; every other entry keeps scale 1 (equalised learning rate does the rest).
    """
    return 100.0 if (name.startswith("style.") or ".style." in name) and name.endswith(".weight") else 1.0


def psp_scale(name: str, shape: tuple[int, ...] = ()) -> float:
    """Recipe scale for pSp / e4e (bare encoder or whole ``encoder.*`` + ``decoder.*`` layouts).

    ``decoder.*`` → :func:`stylegan_scale`; plain conv weights of the encoder → 1/√fan_in (keeps activations
    O(1) through the 50 layers); the equalised ``*.linear.weight`` and all rank-1 entries → 1.
    """
    if name.startswith("decoder."):
        return stylegan_scale(name)
    if len(shape) >= 2 and not name.endswith("linear.weight"):
        return 1.0 / math.sqrt(math.prod(shape[1:]))
    return 1.0


def placeholder_state_dict(layout: str | Path | Iterable[Mapping[str, Any]] | Mapping[str, Any]) -> dict:
    """Every entry as a stride-0 view of one value: the exact keys, shapes and dtypes at almost no memory.

    ``torch.save`` stores only the one-element storage, so even the 1.2 GB pSp layout makes a tiny file.
    """
    out = {}
    for i, e in enumerate(read_layout(layout)):
        dtype = _DTYPES[e["dtype"]]
        value = torch.tensor(0 if not dtype.is_floating_point else 0.01 * (i % 7), dtype=dtype)
        out[e["name"]] = value.expand(*e["shape"]) if e["shape"] else value.clone()
    return out


def save_in_format(
    path: str | Path,
    fmt: Literal["rosinality", "psp", "plain"],
    state_dict: Mapping[str, torch.Tensor],
    latent_avg: torch.Tensor | None = None,
    opts: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``state_dict`` as a published checkpoint file.

    * ``rosinality``: ``{"g_ema": sd, "latent_avg": (512,)}`` (``convert_weight.py``);
    * ``psp``: ``{"state_dict": sd, "opts": dict, "latent_avg": ...}`` (pSp / e4e ``coach.py``);
    * ``plain``: the bare state dict.

    A ``.safetensors`` suffix writes safetensors instead: nested dicts are flattened to ``"g_ema.<key>"`` /
    ``"state_dict.<key>"`` tensors plus ``latent_avg``, and ``opts`` goes to the JSON metadata under ``"opts"``.
    """
    path = Path(path)
    sd = dict(state_dict)
    if fmt == "rosinality":
        obj: dict[str, Any] = {"g_ema": sd}
        if latent_avg is not None:
            obj["latent_avg"] = latent_avg
    elif fmt == "psp":
        obj = {"state_dict": sd, "opts": dict(opts or {})}
        if latent_avg is not None:
            obj["latent_avg"] = latent_avg
    elif fmt == "plain":
        obj = sd
    else:
        raise ValueError(f"unknown format {fmt!r}")
    obj.update(extra or {})
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        flat: dict[str, torch.Tensor] = {}
        meta: dict[str, str] = {}
        for k, v in obj.items():
            if isinstance(v, Mapping) and k != "opts":
                flat.update({f"{k}.{kk}": vv.contiguous() for kk, vv in v.items()})
            elif isinstance(v, torch.Tensor):
                flat[k] = v.contiguous()
            else:
                meta[k] = json.dumps(v)
        save_file(flat, str(path), metadata=meta)
    else:
        torch.save(obj, path)
    return path
