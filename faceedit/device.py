"""Device and dtype, chosen once for the whole process."""

from __future__ import annotations

import functools
import os


@functools.lru_cache(maxsize=1)
def default_device() -> "torch.device":  # noqa: F821, UP037
    """CUDA when present (``FACEEDIT_DEVICE`` overrides), else CPU."""
    import torch

    wanted = os.environ.get("FACEEDIT_DEVICE")
    if wanted:
        return torch.device(wanted)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def describe_device() -> str:
    """A short human-readable name of the device, e.g. ``cpu`` or ``cuda (NVIDIA H100)``."""
    import torch

    dev = default_device()
    if dev.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(dev)})"
    return dev.type
