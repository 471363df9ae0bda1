"""Safe loading: ``torch.load(weights_only=True)`` with no extra allowed types, ``np.load(allow_pickle=False)``,
safetensors; and the safetensors copy (+ JSON sidecar) written after the first verified load.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from faceedit.errors import (
    WeightsMissingError,
    WeightsVerificationError,
)

#: Non-tensor types that ``torch.load(weights_only=True)`` may rebuild beyond its built-in containers and
#: primitives.  Empty on purpose: every published file in the manifest holds only tensors, dicts, lists and
#: primitives.  pSp and e4e save ``'opts': vars(opts)`` (a plain dict, see eladrich/pixel2style2pixel and
#: omertov/encoder4editing ``training/coach.py`` ``__get_save_dict``), rosinality's ``convert_weight.py``
#: saves ``{'g_ema', 'latent_avg'}``; ``argparse.Namespace`` only appears in rosinality's *training*
#: checkpoints (``'args'``), which are not published weights, so it is refused.
EXTRA_SAFE_GLOBALS: tuple[Any, ...] = ()


# ----------------------------------------------------------------------------------------------------------
# Safe loading
# ----------------------------------------------------------------------------------------------------------


def _torch_load(path: Path) -> Any:
    import pickle

    import torch

    mmap = zipfile.is_zipfile(path)  # only the zip format can be memory-mapped
    try:
        with torch.serialization.safe_globals(list(EXTRA_SAFE_GLOBALS)):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        text = str(err)
        found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
        if found:
            detail = f"it refers to {found.group(1)}, which is not allowed"
        else:
            found = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\n\n|$)", text, re.S)
            detail = found.group(1).strip() if found else text.splitlines()[0]
        raise WeightsVerificationError(
            f"refused to load {path.name}: it holds Python objects beyond tensors and plain containers, and "
            f"unpickling them could run code from the file ({detail}). Use the published checkpoint or a "
            "safetensors file."
        ) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile) as err:
        raise WeightsVerificationError(f"{path.name} is not a readable PyTorch checkpoint: {err}") from None


def load_checkpoint(path: str | Path) -> Any:
    """Load a checkpoint without running code from it.

    ``.safetensors`` (+ a ``.json`` sidecar of non-tensor fields when present) through safetensors' memory
    map; ``.npy`` with ``allow_pickle=False``; anything else with ``torch.load(weights_only=True)``.  Returns
    what the file holds: usually a dict (a state dict, or ``{'state_dict', 'opts', 'latent_avg'}``), a
    tensor for e4e direction files, an array for ``.npy``.
    """
    path = Path(path)
    if not path.is_file():
        raise WeightsMissingError(f"checkpoint file {path} does not exist")
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    if path.suffix == ".npy":
        import numpy as np

        try:
            return np.load(path, allow_pickle=False)
        except ValueError as err:
            raise WeightsVerificationError(f"refused to load {path.name}: not a plain numpy array ({err})") from None
    return _torch_load(path)


# --- safetensors copy of pickle checkpoints: tensors in the .safetensors, the rest in a JSON skeleton -----


def _flatten(obj: Any, prefix: str, tensors: dict[str, Any]) -> Any:
    """JSON skeleton of ``obj``; tensors go to ``tensors`` under their path and leave a placeholder."""
    import torch

    if isinstance(obj, torch.Tensor):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, Mapping):
        if all(isinstance(k, str) for k in obj):
            return {"__dict__": [[k, _flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
        if all(isinstance(k, (int, str)) and not isinstance(k, bool) for k in obj):
            return {"__dict__": [[k, _flatten(v, f"{prefix}/{k}", tensors)] for k, v in obj.items()]}
        raise TypeError(f"dict keys of type {sorted({type(k).__name__ for k in obj})}")
    if isinstance(obj, (list, tuple)):
        items = [_flatten(v, f"{prefix}/{i}", tensors) for i, v in enumerate(obj)]
        return {"__tuple__": items} if isinstance(obj, tuple) else items
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"value of type {type(obj).__name__}")


def _unflatten(skel: Any, tensors: Mapping[str, Any]) -> Any:
    if isinstance(skel, dict):
        if "__tensor__" in skel:
            return tensors[skel["__tensor__"]]
        if "__tuple__" in skel:
            return tuple(_unflatten(v, tensors) for v in skel["__tuple__"])
        return {k: _unflatten(v, tensors) for k, v in skel["__dict__"]}
    if isinstance(skel, list):
        return [_unflatten(v, tensors) for v in skel]
    return skel


def save_safetensors_copy(obj: Any, path: Path) -> Path:
    """Write ``obj`` (nested dicts/lists of tensors and primitives) as safetensors + a JSON sidecar."""
    from safetensors.torch import save_file

    tensors: dict[str, Any] = {}
    skeleton = _flatten(obj, "", tensors)
    seen: set[tuple[int, int]] = set()
    out = {}
    for k, t in tensors.items():
        t = t.detach().cpu()
        key = (t.untyped_storage().data_ptr(), t.storage_offset()) if t.numel() else (0, id(t))
        if key in seen or not t.is_contiguous():
            t = t.contiguous().clone()
        seen.add(key)
        out[k] = t
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    save_file(out, str(tmp), metadata={"format": "faceedit.checkpoint/1"})
    path.with_suffix(".json").write_text(json.dumps({"format": "faceedit.checkpoint/1", "skeleton": skeleton}))
    tmp.replace(path)
    return path


def _load_safetensors(path: Path) -> Any:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is not a Mapping
    except Exception as err:  # noqa: BLE001 - any parse failure is a bad file
        raise WeightsVerificationError(f"{path.name} is not a readable safetensors file: {err}") from None
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        data = json.loads(sidecar.read_text())
        return _unflatten(data["skeleton"], tensors)
    return tensors

