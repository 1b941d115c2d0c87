"""Several processes (GPUs or machines) under ``torchrun`` / ``accelerate launch``.

Every process runs the same evaluation; the trainer gives each process a slice of every batch and
averages gradients across processes, so all hold the same weights and make the same predictions.
Only the main process writes files.
"""
from __future__ import annotations

import os
from functools import lru_cache


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


@lru_cache(maxsize=1)
def init() -> bool:
    """Join the process group when launched with several processes; True when distributed."""
    if world_size() <= 1:
        return False
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(local_rank())
    return True


def average_gradients(parameters) -> None:
    """All-reduce the gradients so every process takes the same optimizer step."""
    import torch
    import torch.distributed as dist

    n = world_size()
    for p in parameters:
        if not p.requires_grad:
            continue
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)
        p.grad /= n
