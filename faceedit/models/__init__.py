"""Published networks re-implemented in plain PyTorch, one file each, loading the official state dicts strictly.

:func:`load_strict` is the one place where a state dict meets a module: it lists every missing, unexpected
and mis-shaped key in a :class:`~faceedit.errors.CheckpointLayoutError` instead of loading partially.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from faceedit.errors import CheckpointLayoutError

__all__ = ["load_strict"]


def _preview(keys: list[str], n: int = 6) -> str:
    shown = ", ".join(keys[:n])
    return shown + (f", … (+{len(keys) - n} more)" if len(keys) > n else "")


def _shape(value: object) -> tuple[int, ...] | str:
    """A checkpoint entry's shape, or its type name when it is not a tensor (never a match)."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    what: str,  # names the checkpoint in the message, e.g. "pSp encoder"
    assign: bool = False,  # adopt the checkpoint tensors instead of copying (for modules built on "meta")
) -> nn.Module:
    """``module.load_state_dict(state_dict, strict=True)`` after checking keys and shapes ourselves.

    Raises :class:`CheckpointLayoutError` naming the missing, unexpected and mis-shaped entries.
    """
    expected = module.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshaped = [
        f"{k} {_shape(state_dict[k])} (expected {tuple(v.shape)})"
        for k, v in expected.items()
        if k in state_dict and _shape(state_dict[k]) != tuple(v.shape)
    ]
    if missing or unexpected or misshaped:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing: {_preview(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected: {_preview(unexpected)}")
        if misshaped:
            parts.append(f"{len(misshaped)} mis-shaped: {_preview(misshaped)}")
        raise CheckpointLayoutError(
            f"The {what} checkpoint does not match the network ({'; '.join(parts)}). "
            "Is it the right file for this model?"
        )
    try:
        module.load_state_dict(dict(state_dict), strict=True, assign=assign)
    except RuntimeError as exc:  # e.g. a tensor that cannot be copied (wrong dtype kind)
        raise CheckpointLayoutError(f"The {what} checkpoint could not be loaded: {exc}") from exc
    return module
