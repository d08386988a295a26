"""Wall-clock time per explanation (Hartley's thesis on gradient-weighted superpixels, Table 4.4: mean seconds per explanation).

GPU work is asynchronous, so the timer synchronises the CUDA device before reading the clock at both ends;
on CPU it is a plain :func:`time.perf_counter`.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch

from .base import Metric


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued CUDA work on ``device`` (every device when None); no-op without CUDA."""
    if device is not None and torch.device(device).type != "cuda":
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize(device)


class Timer:
    """``with Timer(device) as t: ...`` then ``t.seconds`` (CUDA-synchronised at both ends)."""

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


def time_per_clip(fn: Callable[..., Any], *args: Any, n_clips: int = 1, repeats: int = 1, warmup: int = 0,
                  device: torch.device | str | None = None, **kwargs: Any) -> tuple[Any, float]:
    """Run ``fn(*args, **kwargs)`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns ``(last result, mean seconds per clip)`` where one call processes ``n_clips`` clips.
    """
    result = None
    for _ in range(int(warmup)):
        result = fn(*args, **kwargs)
    with Timer(device) as t:
        for _ in range(max(1, int(repeats))):
            result = fn(*args, **kwargs)
    return result, t.seconds / (max(1, int(repeats)) * max(1, int(n_clips)))


class Timing(Metric):
    """Mean seconds per clip over a dataset (lower is better)."""

    name = "seconds_per_clip"
    higher_is_better = False
    directions = {"seconds_per_clip": False}

    def update(self, seconds: float, n_clips: int = 1) -> None:
        self._add(seconds=torch.tensor([float(seconds)]), clips=torch.tensor([float(n_clips)]))

    def summary(self) -> dict[str, Any]:
        s, c = self.values("seconds"), self.values("clips")
        total = float(s.sum()) if s.numel() else 0.0
        n = int(c.sum()) if c.numel() else 0
        return {"seconds_per_clip": total / n if n else float("nan"), "n": n, "total_seconds": total}
