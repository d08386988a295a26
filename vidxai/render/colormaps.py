"""Colour maps as uint8 lookup tables.

A matplotlib colour map is sampled once into a ``(256, 3)`` uint8 table; colouring a whole video is then a
single vectorised indexing operation (``lut[index]``), with the same quantisation matplotlib uses
(``index = floor(value * 256)``, clipped to 0..255), so ``colorize(v)`` equals ``cmap(v, bytes=True)[..., :3]``.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from ..core.tensor import minmax_per_clip
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


def indices(maps) -> np.ndarray:
    """Quantise values in [0, 1] to uint8 table indices exactly as matplotlib does (NaN -> 0).

    matplotlib multiplies by N=256 in the input's float type, sends v == 1 to the last entry, truncates
    toward zero and clamps out-of-range values to the end entries.
    """
    x = np.multiply(to_numpy(maps), np.float32(LUT_SIZE), dtype=np.float32)
    np.nan_to_num(x, copy=False, nan=0.0, posinf=LUT_SIZE - 1, neginf=0.0)
    np.clip(x, 0, LUT_SIZE - 1, out=x)
    return x.astype(np.uint8)


def colorize(maps, colormap: str = "jet") -> np.ndarray:
    """Colour maps ``(..., H, W)`` with values in [0, 1] into uint8 RGB ``(..., H, W, 3)``."""
    idx = indices(maps)
    if idx.ndim < 2 or idx.size == 0:
        return lut(colormap)[idx]
    # cv2.LUT maps each channel of a 3-channel image through its own column of the table: feed it the
    # same indices three times. About 5x faster than numpy fancy indexing on HD video.
    import cv2

    flat = idx.reshape(-1, idx.shape[-1])
    out = cv2.LUT(cv2.merge([flat, flat, flat]), lut(colormap)[None])
    return out.reshape(idx.shape + (3,))


def normalize(maps, per_frame: bool = False, eps: float = 1e-12) -> np.ndarray:
    """Min-max normalise ``maps`` to [0, 1] over the whole video (or per frame when ``per_frame``)."""
    x = to_numpy(maps)
    t = torch.from_numpy(x if x.flags.writeable else x.copy())
    rows = t.reshape((-1,) + x.shape[-2:]) if per_frame and x.ndim >= 3 else t.reshape(1, -1)
    return minmax_per_clip(rows, eps).reshape(x.shape).numpy()


__all__ = ["lut", "colorize", "normalize", "available", "indices", "UnknownColormapError"]
