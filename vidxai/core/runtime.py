"""Runtime helpers shared across layers: model state, timing, atomic files, devices, JSON-friendly values."""
from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch
from torch import nn

from ..errors import InputError


@contextlib.contextmanager
def model_state(model: nn.Module, train: bool = False) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode with parameter gradients off; restore both on exit (even on error).

    Args:
        model: any module; each sub-module's own training flag is restored (not just the root's).
        train: the mode to set inside the block (False: eval).

    Yields:
        ``model``.

    Example::

        with model_state(net):
            logits = net(x)
    """
    # Per-module flags: model.train(flag) would overwrite sub-modules that were deliberately in another mode.
    modes = [(m, m.training) for m in model.modules()]
    flags = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.train(train)
        for p, _ in flags:
            p.requires_grad_(False)
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        for m, mode in modes:
            m.training = mode


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued CUDA work on ``device`` (every device when None); no-op without CUDA.

    Example::

        synchronize(model.device)
    """
    if device is not None and torch.device(device).type != "cuda":
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize(device)


class Timer:
    """``with Timer(device) as t: ...`` then ``t.seconds`` (CUDA-synchronised at both ends).

    Example::

        with Timer(model.device) as t:
            model(x)
        print(t.seconds)
    """

    def __init__(self, device: torch.device | str | None = None) -> None:
        self.device = device
        self.seconds = float("nan")

    def __enter__(self) -> Timer:
        synchronize(self.device)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        synchronize(self.device)
        self.seconds = time.perf_counter() - self._t0


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any], single_writer: bool = True) -> Path:
    """Write ``path`` through a temporary file, fsync and a rename, so readers see the whole file or none.

    Args:
        path: the file to write; its folder is created.
        write: called with the temporary file opened in binary mode.
        single_writer: only this process ever writes ``path``, so other temporary files of ``path`` are
            leftovers of a writer killed mid-write, and are removed first. Files that several processes write
            at once (the same content) must pass False.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Example::

        atomic_write("out/result.json", lambda f: f.write(text.encode("utf-8")))
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if single_writer:
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def check_device(device: str | None) -> str | None:
    """Check a device name (``cpu``, ``cuda``, ``cuda:N``...) before any work; returns it unchanged.

    Raises:
        InputError: the name is not a torch device, or names CUDA on a machine without it.

    Example::

        check_device("cpu")   # -> "cpu"; check_device("gpu") raises InputError
    """
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"bad --device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    return device


def resolve_device(device: str | torch.device, local_rank: int = 0, distributed: bool = False) -> torch.device:
    """The torch device for a setting: ``auto`` -> this rank's GPU when CUDA is available, else the CPU.

    Args:
        device: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or a :class:`torch.device`.
        local_rank: this process's GPU index on its host (``LOCAL_RANK`` under torchrun).
        distributed: under torchrun, ``cuda`` also means this rank's GPU.

    Example::

        resolve_device("auto")   # device('cuda:0') on a GPU machine, device('cpu') elsewhere
    """
    if device == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    if device == "cuda" and distributed:
        return torch.device(f"cuda:{local_rank}")
    return torch.device(device)


def to_jsonable(obj: Any) -> Any:
    """Convert tensors and numpy values inside dicts/lists to JSON-friendly values (others via ``str``).

    Example::

        >>> to_jsonable({"a": torch.tensor([1, 2]), 3: np.float32(0.5)})
        {'a': [1, 2], '3': 0.5}
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu().tolist()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return str(obj)


__all__ = ["model_state", "synchronize", "Timer", "atomic_write", "check_device", "resolve_device", "to_jsonable"]
