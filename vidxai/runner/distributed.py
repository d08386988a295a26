"""torchrun support: rank/world from the environment, gloo on CPU and nccl on GPU."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    initialised: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1); a no-op otherwise."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device != "cpu"
    if not dist.is_initialized():
        # long explain phases happen between barriers: the default 30-minute timeout is too short
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=datetime.timedelta(hours=12))
    return DistInfo(rank, world, local, True)


def barrier(info: DistInfo) -> None:
    if info.initialised:
        dist.barrier()


def shutdown(info: DistInfo) -> None:
    if info.initialised and dist.is_initialized():
        dist.destroy_process_group()


def resolve_device(device: str, info: DistInfo) -> torch.device:
    """``auto`` -> this rank's GPU when CUDA is available, else the CPU."""
    if device == "auto":
        return torch.device(f"cuda:{info.local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if device == "cuda" and info.initialised:
        return torch.device(f"cuda:{info.local_rank}")
    return torch.device(device)
