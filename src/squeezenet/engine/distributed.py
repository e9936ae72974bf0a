"""Multi-process training through PyTorch's own engine (torchrun + DistributedDataParallel).

Launch with `torchrun --nproc-per-node N -m squeezenet train ...`. Every rank builds the same
loader (same seed, same order) and takes its slice of each global batch, so the global batch
does not depend on the number of processes, and without BatchNorm neither does the result (up
to float order). BatchNorm normalises each rank's slice on its own, as DDP does without
SyncBatchNorm. Rank 0 alone evaluates and writes.
Without torchrun's environment everything here is a no-op.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as torch_dist
from torch import nn


def setup() -> tuple[int, int]:
    """Join the process group when launched by torchrun; returns (rank, world_size)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not torch_dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch_dist.init_process_group(backend=backend)
    return torch_dist.get_rank(), torch_dist.get_world_size()


def device_for(device: torch.device) -> torch.device:
    """One GPU per process: cuda:LOCAL_RANK under torchrun."""
    if device.type == "cuda" and torch_dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return device


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `model` when distributed, else `model` itself."""
    if not torch_dist.is_initialized():
        return model
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def is_main(rank: int) -> bool:
    return rank == 0


def barrier() -> None:
    if torch_dist.is_initialized():
        torch_dist.barrier()


def cleanup() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def world_size() -> int:
    return torch_dist.get_world_size() if torch_dist.is_initialized() else 1


def broadcast_object(value: object, src: int = 0) -> object:
    """Rank `src`'s `value` on every rank (the value itself when not distributed)."""
    if not torch_dist.is_initialized():
        return value
    box = [value]
    torch_dist.broadcast_object_list(box, src=src)
    return box[0]
