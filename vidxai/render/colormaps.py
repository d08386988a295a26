"""Colour maps as uint8 lookup tables.

A matplotlib colour map is sampled once into a ``(256, 3)`` uint8 table; colouring a whole video is then a
single vectorised indexing operation (``lut[index]``), with the same quantisation matplotlib uses
(``index = floor(value * 256)``, clipped to 0..255), so ``colorize(v)`` equals ``cmap(v, bytes=True)[..., :3]``.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ..errors import UnknownNameError

LUT_SIZE = 256


class UnknownColormapError(UnknownNameError):
    kind = "colour map"


def available() -> list[str]:
    """Names of the colour maps matplotlib provides (``jet``, ``viridis``, ``inferno``...)."""
    import matplotlib

    return sorted(matplotlib.colormaps)


@functools.lru_cache(maxsize=32)
def lut(name: str = "jet") -> np.ndarray:
    """The ``(256, 3)`` uint8 RGB lookup table of matplotlib colour map ``name`` (cached, read-only)."""
    import matplotlib

    try:
        cmap = matplotlib.colormaps[name]
    except KeyError:
        raise UnknownColormapError(name, matplotlib.colormaps) from None
    table = cmap.resampled(LUT_SIZE)(np.arange(LUT_SIZE), bytes=True)[:, :3]
    table = np.ascontiguousarray(table, dtype=np.uint8)
    table.setflags(write=False)
    return table


def to_numpy(maps) -> np.ndarray:
    """A float32 numpy view of ``maps`` (torch tensor or array-like)."""
    if isinstance(maps, torch.Tensor):
        return maps.detach().float().cpu().numpy()
    return np.asarray(maps, dtype=np.float32)


def indices(maps, n: int = LUT_SIZE) -> np.ndarray:
    """Quantise values in [0, 1] to table indices exactly as matplotlib does (NaN -> 0)."""
    x = np.nan_to_num(to_numpy(maps), nan=0.0, posinf=1.0, neginf=0.0) * np.float32(n)
    # matplotlib: v == 1 lands on the last entry, everything is truncated toward zero, then clipped
    return np.clip(x, 0, n - 1).astype(np.intp)


def colorize(maps, colormap: str = "jet") -> np.ndarray:
    """Colour maps ``(..., H, W)`` with values in [0, 1] into uint8 RGB ``(..., H, W, 3)``."""
    return lut(colormap)[indices(maps)]


def normalize(maps, per_frame: bool = False, eps: float = 1e-12) -> np.ndarray:
    """Min-max normalise ``maps`` to [0, 1] over the whole video (or per frame when ``per_frame``)."""
    x = to_numpy(maps)
    if per_frame and x.ndim >= 3:
        axes = tuple(range(x.ndim - 2, x.ndim))
        lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    else:
        lo, hi = x.min(), x.max()
    return ((x - lo) / np.maximum(hi - lo, eps)).astype(np.float32)


__all__ = ["lut", "colorize", "normalize", "available", "indices", "UnknownColormapError"]
