"""Process-group and device set-up shared by the training scripts (plain run or ``torchrun``)."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def setup_distributed(device: str | None) -> tuple[int, int, torch.device]:
    """``(rank, world_size, device)`` from torchrun's environment; joins the process group when world > 1.

    ``device`` forces a device; otherwise this process's GPU (``LOCAL_RANK``) when CUDA is present, else the CPU.
    The group uses NCCL on CUDA and gloo on the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if device:
        dev = torch.device(device)
    elif torch.cuda.is_available():
        dev = torch.device("cuda", local)
    else:
        dev = torch.device("cpu")
    if dev.type == "cuda":
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    return rank, world, dev
