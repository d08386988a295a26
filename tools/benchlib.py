"""Shared helpers of the tools/bench_*.py scripts (imported as a sibling module)."""
from __future__ import annotations

import time

import torch


def load_model(name: str, device: str, weights: str = "default"):
    """``(model, weight source)``: the entry's default weights, or random ones when asked (``weights="random"``)
    or when the default weights are not available offline (timing does not depend on the weights)."""
    import vidxai

    if weights == "random":
        return vidxai.models.load(name, weights=None, device=device), "random"
    try:
        return vidxai.models.load(name, device=device), "default"
    except vidxai.errors.VidxaiError:
        return vidxai.models.load(name, weights=None, device=device), "random"


def sync(device: str) -> None:
    """Wait for queued GPU work so wall-clock timings are right."""
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device: str) -> float:
    """Seconds one call of ``fn()`` takes, GPU work included."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start
