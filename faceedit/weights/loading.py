"""Building networks: registry entry -> verified file -> loader -> object, once per (name, device)."""

from __future__ import annotations

import importlib
import importlib.util
import logging
import threading
from typing import Any

from faceedit.errors import (
    FaceEditError,
    UnsupportedEditError,
    WeightsMissingError,
    WeightsVerificationError,
)
from faceedit.weights.cache import (
    _PICKLE_SUFFIXES,
    _converted_path,
    _verified_sha,
    local_path,
)
from faceedit.weights.manifest import WeightSpec, spec_for
from faceedit.weights.serialisation import (
    _load_safetensors,
    load_checkpoint,
    save_safetensors_copy,
)

log = logging.getLogger(__name__)

_load_lock = threading.RLock()  # guards the model cache


def missing_error(spec: WeightSpec) -> WeightsMissingError:
    """The error for an entry that is not installed, saying how to get it."""
    hint = (
        f"run `python -m faceedit weights fetch {spec.name}`"
        if spec.downloadable
        else f"download it from {spec.source_url} and run `python -m faceedit weights import PATH --name {spec.name}`"
    )
    return WeightsMissingError(f"{spec.name} ({spec.description}) is not installed: {hint}.")


def load_verified(name: str) -> Any:
    """The content of entry ``name``: verified, safely loaded, from its safetensors copy when there is one."""
    spec = spec_for(name)
    path = local_path(name)
    if path is None:
        raise missing_error(spec)
    if spec.kind == "folder" or path.suffix not in _PICKLE_SUFFIXES:
        return load_checkpoint(path) if spec.kind != "folder" else path
    sha = _verified_sha(spec, path)
    converted = _converted_path(spec, sha)
    if converted.is_file() and converted.with_suffix(".json").is_file():
        return _load_safetensors(converted)
    obj = load_checkpoint(path)
    try:
        save_safetensors_copy(obj, converted)
    except (TypeError, OSError, RuntimeError) as err:  # keep working from the pickle file
        log.warning("%s: no safetensors copy written (%s)", name, err)
    return obj


# ----------------------------------------------------------------------------------------------------------
# Building networks
# ----------------------------------------------------------------------------------------------------------

_models: dict[tuple[str, str], Any] = {}


def resolve_loader(spec: WeightSpec) -> Any:
    """The loader function of ``spec``; a clear error when its module is not part of this installation."""
    module_name, _, func_name = spec.loader.partition(":")
    if not module_name or not func_name:
        raise WeightsVerificationError(f"{spec.name}: malformed loader {spec.loader!r} in the manifest")
    try:
        found = importlib.util.find_spec(module_name)
    except ModuleNotFoundError:
        found = None
    if found is None:
        raise UnsupportedEditError(
            f"{spec.name} cannot be used yet: its network code ({module_name}) is not part of this installation"
        )
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise UnsupportedEditError(f"{spec.name} cannot be used yet: {module_name} has no loader {func_name}()")
    return func


def load_model(name: str, device: Any = None) -> Any:
    """Registry → verified file → loader → object (an ``nn.Module`` is moved, put in eval mode, frozen).

    Loaded once per (name, device) and shared read-only.
    """
    import torch

    from faceedit.device import default_device

    dev = torch.device(device) if device is not None else default_device()
    key = (name, str(dev))
    with _load_lock:
        if key in _models:
            return _models[key]
        spec = spec_for(name)
        loader = resolve_loader(spec)
        if spec.loader_input == "path":
            arg = local_path(name)
            if arg is None:
                raise missing_error(spec)
        else:
            arg = load_verified(name)
        try:
            obj = loader(arg, **dict(spec.kwargs))
        except FaceEditError:
            raise
        except (RuntimeError, KeyError, ValueError, TypeError) as err:
            raise WeightsVerificationError(f"{name}: the file does not load into its network: {err}") from None
        if isinstance(obj, torch.nn.Module):
            obj = obj.to(dev).eval().requires_grad_(False)
        _models[key] = obj
        return obj


def clear_model_cache() -> None:
    """Forget loaded models (tests; after importing new weights)."""
    with _load_lock:
        _models.clear()

