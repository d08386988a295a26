"""Text on frames with Pillow and a real TrueType font: shrunk to fit, wrapped when still too long.

A label is rendered once into an alpha mask (anti-aliased, :func:`text_mask`) and composited onto every frame
that carries it with numpy (:func:`paste_label`), so a title on 300 frames costs one Pillow call.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: TrueType fonts tried in turn (Pillow searches the system font folders for bare names); the last resort
#: is Pillow's own scalable default font (Pillow >= 10.1), so text works without any system font.
FONT_FILES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "LiberationSans-Regular.ttf",
              "Arial.ttf", "arial.ttf", "Helvetica.ttc")
MIN_FONT_PX = 7  # below this nothing is readable; text that still does not fit is wrapped, then cut with "..."


@functools.lru_cache(maxsize=64)
def font(size: int):
    """A TrueType font of pixel ``size`` (DejaVu Sans when installed, else Pillow's bundled scalable font).

    Example::

        f = font(24); f.getlength("frame 12")
    """
    from PIL import ImageFont

    size = max(1, int(size))
    for name in FONT_FILES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def line_height(f) -> int:
    """Pixels from the top of the tallest glyph to the bottom of the lowest descender."""
    ascent, descent = f.getmetrics()
    return int(ascent + descent)


def font_size_for(height: int, width: int | None = None) -> int:
    """The label font size for frames ``height`` px high: about 1/25 of it (43 px at 1080p), at least 10 px."""
    size = max(10, int(round(height / 25)))
    if width is not None:  # very wide, flat frames: do not let the text take the whole height
        size = min(size, max(MIN_FONT_PX, int(width / 8)))
    return size


def _split_long(word: str, f, width: float) -> list[str]:
    """Hard-split a word wider than ``width`` into pieces that fit (at least one character each)."""
    pieces, cur = [], ""
    for ch in word:
        if cur and f.getlength(cur + ch) > width:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    return pieces + [cur] if cur else pieces


def wrap(text: str, f, width: float) -> list[str]:
    """Greedy word wrap of ``text`` to lines no wider than ``width`` px in font ``f`` (long words are split).

    Example::

        wrap("guided-backprop on i3d: throwing axe p=0.91", font(12), 80)
    """
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        cur = ""
        for word in para.split(" "):
            trial = f"{cur} {word}" if cur else word
            if f.getlength(trial) <= width:
                cur = trial
                continue
            if cur:
                lines.append(cur)
            parts = _split_long(word, f, width) if f.getlength(word) > width else [word]
            lines += parts[:-1]
            cur = parts[-1] if parts else ""
        lines.append(cur)
    return lines


@dataclass(frozen=True)
class Layout:
    """Lines of text laid out in one font: ``size`` px, ``width`` x ``height`` px of ink box; ``cut`` when the
    text did not fit even at the smallest size and was shortened."""

    lines: tuple[str, ...]
    size: int
    width: int
    height: int
    cut: bool = False


def _layout(lines: Sequence[str], size: int, cut: bool = False) -> Layout:
    f = font(size)
    w = max((int(np.ceil(f.getlength(s))) for s in lines), default=0)
    return Layout(tuple(lines), size, w, line_height(f) * len(lines), cut)


def fit_text(text: str, max_width: int, max_height: int, size: int) -> Layout:
    """Lay ``text`` out in at most ``max_width`` x ``max_height`` px, starting from font ``size``.

    First the single line is shrunk (down to 60 % of ``size``, at least :data:`MIN_FONT_PX`); if it still does
    not fit it is wrapped, shrinking further until the lines fit the height. Only text that fits no way at
    :data:`MIN_FONT_PX` is cut (last line ends in "...").

    Example::

        lay = fit_text("a very long method title", 112, 20, 14); lay.lines, lay.size
    """
    max_width, max_height = max(1, int(max_width)), max(1, int(max_height))
    size = max(MIN_FONT_PX, int(size))

    def fits(lay: Layout) -> bool:
        return lay.width <= max_width and lay.height <= max_height

    one = _layout([text], size)
    s = size if one.width <= max_width else max(MIN_FONT_PX, int(size * max_width / max(one.width, 1)))
    one = _layout([text], s)
    while s > MIN_FONT_PX and not fits(one):
        s -= 1
        one = _layout([text], s)
    if fits(one) and s >= max(MIN_FONT_PX, int(0.6 * size)):
        return one
    for s in range(size, MIN_FONT_PX - 1, -1):  # the largest size at which the wrapped lines fit
        lay = _layout(wrap(text, font(s), max_width), s)
        if fits(lay):
            return one if fits(one) and one.size >= s else lay
    if fits(one):
        return one
    f = font(MIN_FONT_PX)
    lines = wrap(text, f, max_width)[:max(1, max_height // line_height(f))]
    while len(lines[-1]) > 1 and f.getlength(lines[-1] + "...") > max_width:
        lines[-1] = lines[-1][:-1]
    if f.getlength(lines[-1] + "...") <= max_width:
        lines[-1] += "..."
    return _layout(lines, MIN_FONT_PX, cut=True)


def text_mask(layout: Layout, width: int, height: int, align: str = "left", pad: int = 0) -> np.ndarray:
    """The anti-aliased alpha mask ``(height, width)`` float32 in [0, 1] of ``layout``'s lines.

    ``align`` is ``"left"`` / ``"right"`` (``pad`` px from that edge) or ``"center"``; lines are centred vertically.
    """
    from PIL import Image, ImageDraw

    img = Image.new("L", (max(1, width), max(1, height)), 0)
    draw = ImageDraw.Draw(img)
    f = font(layout.size)
    lh = line_height(f)
    y = (height - layout.height) // 2
    for line in layout.lines:
        lw = f.getlength(line)
        x = {"left": pad, "right": width - pad - lw}.get(align, (width - lw) / 2)
        draw.text((x, y), line, font=f, fill=255, anchor="la")
        y += lh
    return np.asarray(img, dtype=np.float32) / 255.0


def paste_label(frames: np.ndarray, index, y: int, patch: np.ndarray, alpha: np.ndarray) -> None:
    """Composite ``patch`` ``(h, w, 3)`` with per-pixel ``alpha`` ``(h, w)`` at row ``y`` of ``frames[index]``.

    In place and vectorised over all the frames ``index`` selects (an int array or a slice).
    """
    h, w = alpha.shape
    region = frames[index, y:y + h, :w].astype(np.float32)
    a = alpha[..., None]
    frames[index, y:y + h, :w] = np.rint(region * (1.0 - a) + patch.astype(np.float32) * a).astype(np.uint8)


__all__ = ["font", "fit_text", "wrap", "text_mask", "paste_label", "font_size_for", "line_height", "Layout"]
