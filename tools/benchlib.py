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


def rotated(items: list, shift: int) -> list:
    """``items`` rotated left by ``shift``: who goes first changes every repeat, so cache and allocator warmth
    does not always favour the same side of a side-by-side comparison."""
    if not items:
        return []
    k = shift % len(items)
    return items[k:] + items[:k]


def interleaved(fns: dict, repeats: int, device: str, warmup: bool = True) -> tuple[dict, dict]:
    """Time several callables side by side: ``repeats`` rounds, each calling every callable once, in an order
    rotated every round. Returns ``(seconds, errors)``: ``{label: [s, ...]}`` for the callables that ran and
    ``{label: exception}`` for those that raised (in the warm-up call when ``warmup``, else in
    any timed call; a callable that failed is not called again)."""
    seconds: dict = {k: [] for k in fns}
    errors: dict = {}

    def call(label, timing: bool) -> None:
        try:
            if timing:
                seconds[label].append(timed(fns[label], device))
            else:
                fns[label]()
        except Exception as e:  # noqa: BLE001  (recorded in the benchmark's table instead of ending the run)
            errors[label] = e
            seconds.pop(label, None)

    if warmup:
        for label in list(fns):
            call(label, timing=False)
    for r in range(repeats):
        for label in rotated([k for k in fns if k not in errors], r):
            call(label, timing=True)
    return seconds, errors


def count_hooks(module: torch.nn.Module) -> int:
    """Number of forward / backward hooks registered on ``module`` and its children (0 after a clean run)."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, n, {}) or {}) for m in module.modules() for n in names)
