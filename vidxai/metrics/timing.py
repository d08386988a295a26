"""Wall-clock time per explanation (Hartley's thesis on gradient-weighted superpixels, Table 4.4: mean seconds per explanation).

GPU work is asynchronous, so the timer synchronises the CUDA device before reading the clock at both ends;
on CPU it is a plain :func:`time.perf_counter`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ..core.runtime import Timer, synchronize  # noqa: F401  (the canonical timer; re-exported here)
from .base import Metric


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
