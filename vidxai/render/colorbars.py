"""Colour bars: the scale of a heatmap (gradient strip, colour-map name, end labels) under a grid or in HTML.

The strip is sampled from the same lookup table the overlays use (:func:`vidxai.render.colormaps.lut`), so
the bar shows exactly the colours of the video.
"""
from __future__ import annotations

import numpy as np

from . import text as textmod
from .colormaps import LUT_SIZE, lut
from .overlay import as_frames


def colorbar_labels(normalization: str | None) -> tuple[str, str]:
    """What the two ends of the bar mean for a display normalisation (see ``MethodResult.normalization``).

    Example::

        colorbar_labels("percentile:99.5")  # ('p0.5', 'p99.5+')
        colorbar_labels("minmax")           # ('min', 'max')
    """
    norm = (normalization or "minmax").lower()
    if norm.startswith("percentile"):
        p = float(norm.split(":", 1)[1]) if ":" in norm else 99.5
        return f"p{100 - p:g}", f"p{p:g}+"
    if norm == "none":
        return "0", "1"
    return "min", "max"


def colorbar_title(colormap: str, normalization: str | None = None) -> str:
    """The caption under the strip, e.g. ``"jet, percentile:99.5"``."""
    return f"{colormap}, {normalization}" if normalization else colormap


def colorbar(width: int, colormap: str = "jet", normalization: str | None = None, height: int | None = None,
             color=(255, 255, 255), background=(32, 32, 32)) -> np.ndarray:
    """A ``(height, width, 3)`` uint8 colour bar: the gradient strip above the end labels and the map's name.

    Args:
        width: bar width in pixels (the strip leaves a small margin on both sides).
        colormap: matplotlib colour map name (as in the overlays).
        normalization: the display normalisation (``"minmax"``, ``"percentile:99.5"``, ``"none"``), which
            names the ends of the scale and is printed next to the colour map name.
        height: bar height (default: 5 % of the width, 28 to 90 px).

    Example::

        bar = colorbar(640, "jet", "percentile:99.5")  # (32, 640, 3)
    """
    width = int(width)
    height = int(height or min(90, max(28, round(width * 0.05))))
    bar = np.empty((height, width, 3), np.uint8)
    bar[:] = background
    margin = max(2, width // 50)
    strip_h = max(4, int(height * 0.4))
    top = max(1, height // 12)
    xs = np.linspace(0, LUT_SIZE - 1, max(1, width - 2 * margin)).round().astype(np.intp)
    bar[top:top + strip_h, margin:width - margin] = lut(colormap)[xs][None]
    row_y, row_h = top + strip_h, height - top - strip_h
    size = max(textmod.MIN_FONT_PX, int(row_h * 0.7))
    low, high = colorbar_labels(normalization)
    out = bar.astype(np.float32)
    for label, align, share in ((low, "left", 0.25), (high, "right", 0.25),
                                (colorbar_title(colormap, normalization), "center", 0.45)):
        lay = textmod.fit_text(label, int(width * share), row_h, size)
        alpha = textmod.text_mask(lay, width, row_h, align=align, pad=margin)[..., None]
        region = out[row_y:row_y + row_h]
        out[row_y:row_y + row_h] = region * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    return np.rint(out).astype(np.uint8)


def add_colorbar(frames, colormap: str = "jet", normalization: str | None = None, height: int | None = None,
                 background=(32, 32, 32)) -> np.ndarray:
    """``frames`` ``(T, H, W, 3)`` with a colour bar appended below (the same on every frame; height kept even).

    Example::

        g = add_colorbar(render.grid(cells, titles=names), "jet", "percentile:99.5")
    """
    frames = as_frames(frames)
    t, h, w = frames.shape[:3]
    bar = colorbar(w, colormap, normalization, height, background=background)
    bh = bar.shape[0] + (h + bar.shape[0]) % 2  # H.264 needs an even height
    out = np.empty((t, h + bh, w, 3), np.uint8)
    out[:, :h] = frames
    out[:, h:] = np.asarray(background, np.uint8)
    out[:, h:h + bar.shape[0]] = bar[None]
    return out


def colorbar_css(colormap: str = "jet", stops: int = 16) -> str:
    """A CSS ``linear-gradient`` (left to right) of ``colormap`` with ``stops`` colour stops, for HTML bars.

    Example::

        f'<div style="background: {colorbar_css("jet")}"></div>'
    """
    table = lut(colormap)
    idx = np.linspace(0, LUT_SIZE - 1, max(2, stops)).round().astype(int)
    parts = [f"#{r:02x}{g:02x}{b:02x} {100 * k / (len(idx) - 1):.1f}%"
             for k, (r, g, b) in enumerate(table[idx].tolist())]
    return "linear-gradient(to right, " + ", ".join(parts) + ")"


__all__ = ["colorbar", "add_colorbar", "colorbar_css", "colorbar_labels", "colorbar_title"]
