"""torchrun support: rank/world from the environment, gloo on CPU and nccl on GPU."""
from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from ..core.runtime import resolve_device as core_resolve_device
from .watchdog import launched_by_torchrun, watch_parent

_watching = False


def start_watchdog(interval: float = 1.0) -> None:
    """Watch the launcher once per process (a second :func:`init_distributed` does not start a second thread)."""
    global _watching
    if not _watching:
        watch_parent(interval)
        _watching = True


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
    """Join the process group when started by ``torchrun`` (WORLD_SIZE > 1); a no-op otherwise.

    Under ``torchrun`` (any world size) the worker also watches its launcher and exits when it dies
    (:mod:`.watchdog`), so a killed launcher does not leave workers writing into the output folder.
    """
    if launched_by_torchrun():
        start_watchdog()
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
    """``auto`` -> this rank's GPU when CUDA is available, else the CPU (:func:`vidxai.core.resolve_device`).

    Example::

        device = resolve_device(config.device, init_distributed(config.device))
    """
    return core_resolve_device(device, info.local_rank, distributed=info.initialised)


def broadcast_text(info: DistInfo, text: str) -> str:
    """Rank 0's ``text`` on every rank (a no-op without torchrun).

    Used where rank 0 alone decides whether the run can go on (the output lock): a rank that learns of the
    failure ends too, instead of waiting forever in a barrier for a rank 0 that has given up.
    """
    if not info.initialised:
        return text
    # nccl moves the pickled object through this rank's GPU; the current CUDA device may not be that one
    device = torch.device("cuda", info.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
    box = [text]
    dist.broadcast_object_list(box, src=0, device=device)
    return str(box[0])
