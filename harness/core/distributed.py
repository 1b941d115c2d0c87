"""Several processes (GPUs or machines) under ``torchrun`` / ``accelerate launch``.

Every process runs the same evaluation. The trainer gives each process a slice of every global
batch and wraps the step in torch's DistributedDataParallel (:func:`wrap`), which averages the
gradients across processes during the backward pass, so all hold the same weights and make the
same predictions. Only the main process writes files.
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


def wrap(module):
    """``module`` under DistributedDataParallel when several processes run, else itself.

    DDP broadcasts rank 0's weights when it wraps, then all-reduces gradients during backward.
    ``find_unused_parameters``: a router's step need not touch every weight (Lookahead-MLM's token
    head at lam = 0), and DDP must not wait for their gradients."""
    if not init():
        return module
    from torch.nn.parallel import DistributedDataParallel

    device = next(module.parameters()).device
    ids = [device.index] if device.type == "cuda" and device.index is not None else None
    return DistributedDataParallel(module, device_ids=ids, find_unused_parameters=True)
