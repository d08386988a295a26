"""Side-by-side layouts of several videos (e.g. one overlay per method) with a title above each."""
from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import ShapeError
from . import text as textmod
from .overlay import as_frames


def fit(frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` frames to fit inside ``size`` = (H, W) keeping the aspect ratio, centred on black."""
    t, h, w = frames.shape[:3]
    th, tw = size
    if (h, w) == (th, tw):
        return frames
    s = min(th / h, tw / w)
    nh, nw = max(1, int(round(h * s))), max(1, int(round(w * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    out = np.zeros((t, th, tw, 3), dtype=np.uint8)
    y, x = (th - nh) // 2, (tw - nw) // 2
    for i in range(t):  # one cv2 call per frame: cv2 resizes 2-D images only
        out[i, y:y + nh, x:x + nw] = cv2.resize(frames[i], (nw, nh), interpolation=interp)
    return out


def pad_time(frames: np.ndarray, length: int) -> np.ndarray:
    """Extend a video to ``length`` frames by repeating its last frame."""
    if frames.shape[0] >= length:
        return frames[:length]
    return np.concatenate([frames, np.repeat(frames[-1:], length - frames.shape[0], axis=0)])


def title_bar(text: str, width: int, height: int, color=(255, 255, 255), background=(32, 32, 32)) -> np.ndarray:
    """An ``(height, width, 3)`` uint8 bar with ``text`` centred in a TrueType font (shrunk, then wrapped, to fit).

    Example::

        bar = title_bar("guided-backprop (percentile:99.5)", 224, 28)
    """
    bar = np.empty((height, width, 3), dtype=np.uint8)
    bar[:] = background
    if not text:
        return bar
    lay = textmod.fit_text(text, width - 4, height - 2, max(textmod.MIN_FONT_PX, int(height * 0.6)))
    alpha = textmod.text_mask(lay, width, height, align="center")[..., None]
    out = bar.astype(np.float32) * (1.0 - alpha) + np.asarray(color, np.float32) * alpha
    return np.rint(out).astype(np.uint8)


def grid(videos: Sequence, cols: int | None = None, titles: Sequence[str] | None = None, pad: int = 4,
         cell_size: tuple[int, int] | None = None, title_height: int | None = None,
         background: tuple[int, int, int] = (0, 0, 0)) -> np.ndarray:
    """Tile videos ``(T_i, H_i, W_i, 3)`` into one ``(T, H, W, 3)`` video, row-major.

    Args:
        videos: uint8 videos; each is fitted into the cell (aspect kept) and shorter ones hold their last frame.
        cols: columns (default: all in one row up to 4, then a near-square grid).
        titles: one title per video, drawn in a bar above its cell.
        pad: pixels between cells.
        cell_size: (H, W) of a cell (default: the first video's size).
        title_height: height of the title bars (default: about 1/8 of the cell height, at least 16 px).

    Returns:
        The tiled video; its height and width are even, as H.264 needs.
    """
    vids = [as_frames(v) for v in videos]
    if not vids:
        raise ShapeError("grid() needs at least one video")
    if titles is not None and len(titles) != len(vids):
        raise ShapeError(f"got {len(titles)} titles for {len(vids)} videos")
    n = len(vids)
    cols = cols or (n if n <= 4 else math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    ch, cw = cell_size or vids[0].shape[1:3]
    tb = 0 if titles is None else (title_height or max(16, ch // 8))
    length = max(v.shape[0] for v in vids)
    height = rows * (ch + tb) + (rows - 1) * pad
    width = cols * cw + (cols - 1) * pad
    height += height % 2
    width += width % 2
    out = np.empty((length, height, width, 3), dtype=np.uint8)
    out[:] = np.asarray(background, dtype=np.uint8)
    for k, v in enumerate(vids):
        r, c = divmod(k, cols)
        y, x = r * (ch + tb + pad), c * (cw + pad)
        if tb:
            out[:, y:y + tb, x:x + cw] = title_bar(titles[k], cw, tb)[None]
        out[:, y + tb:y + tb + ch, x:x + cw] = pad_time(fit(v, (ch, cw)), length)
    return out


__all__ = ["grid", "fit", "pad_time", "title_bar"]
