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
from ..defaults import DEFAULT_PERCENTILE, NORMALIZE_MODES
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
    """Min-max normalise ``maps`` to [0, 1] over the whole video (or per frame when ``per_frame``).

    Example::

        normalize(np.array([[1.0, 3.0]]))  # array([[0., 1.]], dtype=float32)
    """
    x = to_numpy(maps)
    t = torch.from_numpy(x if x.flags.writeable else x.copy())
    rows = t.reshape((-1,) + x.shape[-2:]) if per_frame and x.ndim >= 3 else t.reshape(1, -1)
    return minmax_per_clip(rows, eps).reshape(x.shape).numpy()


# -- display normalisation ---------------------------------------------------------------------------
#: what a method's maps are, by its ``output`` class attribute: per-pixel maps are clipped at a percentile
#: (a few huge gradients would otherwise leave everything else black); coarse maps are min-max scaled.
PIXEL_OUTPUTS = ("pixel", "voxel")
COARSE_OUTPUTS = ("segment", "layer", "region", "cam", "supervoxel", "window")
#: fallback when a method has no ``output`` attribute (or is not registered): the per-pixel methods by name
PIXEL_METHODS = frozenset({
    "gradient", "saliency", "vanilla-gradient", "guided-backprop", "guided-backpropagation", "deconvnet",
    "deconvnet-like", "input-x-gradient", "integrated-gradients", "smoothgrad", "guided-gradcam",
    "lrp", "lrp-epsilon", "lrp-alphabeta", "lrp-zplus", "deeplift",
})
#: registry families whose maps are per pixel (``cam``, ``supervoxel``, ``perturbation``, ``baseline`` are not)
PIXEL_FAMILIES = ("gradient", "relevance")


def _method_output(name: str) -> str | None:
    """The ``output`` / ``family`` capability of registered method ``name`` ("pixel", "segment"...), or None."""
    try:
        from .. import methods

        cls = methods.get(name)
    except Exception:  # noqa: BLE001 - unknown names (or a broken registry) fall back to the name table
        return None
    out = getattr(cls, "output", None)
    if isinstance(out, str) and out in PIXEL_OUTPUTS + COARSE_OUTPUTS:
        return "pixel" if out in PIXEL_OUTPUTS else "segment"
    return "pixel" if getattr(cls, "family", None) in PIXEL_FAMILIES else None


def default_normalization(method: str | None) -> str:
    """The display normalisation ``mode="auto"`` picks for ``method``: ``"percentile"`` or ``"minmax"``.

    Pixel-level maps (gradients, guided backprop, input x gradient, integrated gradients, SmoothGrad, LRP,
    guided Grad-CAM) are percentile-clipped; CAMs, supervoxel (``swagv-*``), perturbation and baseline maps
    are min-max scaled. The method's ``output`` class attribute decides when the registry has one
    (``"pixel"`` -> percentile), else its name (and registry family).

    Example::

        default_normalization("guided-backprop")  # 'percentile'
        default_normalization("gradcam")          # 'minmax'
    """
    if not method:
        return "minmax"
    name = str(method).lower()
    if name in PIXEL_METHODS or name.startswith(("lrp-", "guided-backprop")):
        return "percentile"
    return "percentile" if _method_output(name) == "pixel" else "minmax"


def describe_normalization(mode: str, percentile: float = DEFAULT_PERCENTILE) -> str:
    """The ``result.json`` form of a (resolved) normalisation: ``"minmax"``, ``"percentile:99.5"``, ``"none"``.

    Example::

        describe_normalization("percentile", 99.5)  # 'percentile:99.5'
    """
    _check_mode(mode, allow_auto=False)
    return f"percentile:{percentile:g}" if mode == "percentile" else mode


def _check_mode(mode: str, allow_auto: bool = True) -> None:
    from ..core.checks import check_choice

    check_choice(mode, NORMALIZE_MODES if allow_auto else NORMALIZE_MODES[1:], "display normalisation")


def percentile_range(x: np.ndarray, percentile: float = DEFAULT_PERCENTILE) -> tuple[float, float]:
    """``(lo, hi)`` display range of ``x``: its ``100 - p`` and ``p`` percentiles (linear interpolation).

    When they coincide (more than ``percentile`` % of the values are equal, e.g. a map that is zero almost
    everywhere) the range falls back to the values above ``lo`` (their ``p``-th percentile), then to the max.
    """
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must lie in (0, 100], got {percentile}")
    flat = x.reshape(-1)
    lo, hi = (float(v) for v in np.percentile(flat, [100.0 - percentile, percentile]))
    if lo > hi:
        lo, hi = hi, lo
    if hi <= lo:
        above = flat[flat > lo]
        hi = float(np.percentile(above, percentile)) if above.size else lo
    return lo, hi


def normalize_maps(maps, mode: str = "auto", percentile: float = DEFAULT_PERCENTILE, method: str | None = None):
    """Scale saliency maps to [0, 1] for display; the same type (numpy or torch) and shape come back.

    Args:
        maps: maps of any shape (e.g. ``(T, H, W)``), numpy or torch; one scale for the whole array.
        mode: ``"minmax"`` (lowest -> 0, highest -> 1), ``"percentile"`` (clip to the ``100 - p`` and ``p``
            percentiles, then min-max: a few extreme values no longer wash the rest out), ``"none"`` (the values
            clipped to [0, 1]) or ``"auto"`` (:func:`default_normalization` of ``method``; min-max without one).
        percentile: ``p`` of the percentile mode, in (0, 100].
        method: the method name ``"auto"`` decides by.

    Returns:
        float32 maps in [0, 1] (NaN -> 0); torch in -> torch out (on the input's device).

    Example::

        heat = normalize_maps(exp.saliency, mode="auto", method="guided-backprop")  # percentile:99.5
        normalize_maps(np.array([0.0, 1.0, 2.0, 4.0]), "minmax")  # [0, 0.25, 0.5, 1]
    """
    _check_mode(mode)
    if mode == "auto":
        mode = default_normalization(method)
    x = np.nan_to_num(to_numpy(maps), nan=0.0, posinf=0.0, neginf=0.0)
    if x.size == 0 or mode == "none":
        out = np.clip(x, 0.0, 1.0)
    elif mode == "percentile":  # clipped to [lo, hi], whose min and max are then exactly lo and hi
        out = normalize(np.clip(x, *percentile_range(x, percentile)))
    else:
        out = normalize(x)
    out = out.astype(np.float32, copy=False)
    if isinstance(maps, torch.Tensor):
        return torch.from_numpy(out).to(maps.device)
    return out


__all__ = ["lut", "colorize", "normalize", "available", "indices", "UnknownColormapError", "normalize_maps",
           "default_normalization", "describe_normalization", "percentile_range", "NORMALIZE_MODES",
           "DEFAULT_PERCENTILE"]
