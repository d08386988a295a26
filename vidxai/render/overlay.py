"""Drawing on frames: heatmap overlays, text labels, supervoxel boundaries and boxes.

Every function takes and returns uint8 RGB videos ``(T, H, W, 3)`` (numpy); maps and labels may be numpy
arrays or torch tensors. Whole-video work is vectorised; text is drawn once per distinct label (Pillow) and
composited with numpy; only OpenCV box drawing runs per frame.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ShapeError
from . import colormaps
from . import text as textmod
from .colormaps import colorize, to_numpy

Color = tuple[int, int, int]
#: frames at least this wide never get a label cut off (below, a label would cover the thumbnail)
MIN_UNCUT_WIDTH = 100


def as_frames(frames) -> np.ndarray:
    """Check and return uint8 frames ``(T, H, W, 3)`` as numpy (a single ``(H, W, 3)`` frame is promoted)."""
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim == 3 and frames.shape[-1] == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ShapeError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    return frames


def resize_maps(maps, size: tuple[int, int], mode: str = "bilinear") -> np.ndarray:
    """Resize ``(T, h, w)`` maps to ``size`` = (H, W) (bilinear for heatmaps, ``nearest`` for labels)."""
    arr = to_numpy(maps) if mode != "nearest" else np.asarray(maps.cpu() if isinstance(maps, torch.Tensor) else maps)
    if arr.shape[-2:] == tuple(size):
        return arr
    t = torch.from_numpy(np.ascontiguousarray(arr)).unsqueeze(1)
    if mode == "nearest":
        out = F.interpolate(t.float(), size=size, mode="nearest-exact").to(t.dtype)
    else:
        out = F.interpolate(t.float(), size=size, mode=mode, align_corners=False)
    return out.squeeze(1).numpy()


def blend(frames, colors, alpha: float | np.ndarray = 0.5) -> np.ndarray:
    """``round((1 - alpha) * frames + alpha * colors)`` as uint8; ``alpha`` a scalar or per-pixel ``(T, H, W)``."""
    frames = as_frames(frames)
    colors = as_frames(colors)
    if frames.shape != colors.shape:
        raise ShapeError(f"cannot blend frames {frames.shape} with colours {colors.shape}")
    a = np.asarray(alpha, dtype=np.float32)
    if a.ndim == 0:
        # scalar opacity: one saturating OpenCV pass over the video seen as a 2-D image (rounds to nearest)
        w = frames.shape[2] * 3
        out = cv2.addWeighted(frames.reshape(-1, w), 1.0 - float(a), colors.reshape(-1, w), float(a), 0.0)
        return out.reshape(frames.shape)
    if a.ndim == 3:
        a = a[..., None]
    out = frames.astype(np.float32) * (1.0 - a) + colors.astype(np.float32) * a
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def overlay(frames, maps, alpha: float = 0.5, colormap: str = "jet", normalize: bool | str = False,
            weighted: bool = False, method: str | None = None) -> np.ndarray:
    """Blend colour-mapped ``maps`` (``(T, h, w)`` in [0, 1]) onto ``frames`` (``(T, H, W, 3)`` uint8).

    Maps at another resolution are resized bilinearly to the frames' size (to undo a resize *and* a crop,
    map them with :meth:`vidxai.io.ClipGeometry.to_original` first). ``normalize`` scales the maps over the
    whole video first: True (min-max) or a :func:`vidxai.render.normalize_maps` mode (``"auto"`` decides by
    ``method``); ``weighted`` scales the opacity by the map value, so cold regions keep the original pixels.

    Example::

        video = overlay(frames, exp.saliency, alpha=0.5, normalize="auto", method=exp.method)
    """
    frames = as_frames(frames)
    if not 0.0 <= alpha <= 1.0:
        raise ShapeError(f"alpha must lie in [0, 1], got {alpha}")
    m = to_numpy(maps)
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[0] != frames.shape[0]:
        raise ShapeError(f"maps {tuple(m.shape)} do not match {frames.shape[0]} frames")
    m = resize_maps(m, frames.shape[1:3])
    if normalize:
        m = colormaps.normalize_maps(m, mode="minmax" if normalize is True else normalize, method=method)
    a = alpha * np.clip(np.nan_to_num(m), 0, 1) if weighted else alpha
    return blend(frames, colorize(m, colormap), a)


def boundary_mask(labels) -> np.ndarray:
    """Bool ``(T, H, W)``: True where a pixel's label differs from its right or lower neighbour."""
    lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if lab.ndim == 2:
        lab = lab[None]
    edge = np.zeros(lab.shape, dtype=bool)
    edge[..., :, :-1] |= lab[..., :, :-1] != lab[..., :, 1:]
    edge[..., :-1, :] |= lab[..., :-1, :] != lab[..., 1:, :]
    return edge


def draw_boundaries(frames, labels, color: Color = (255, 255, 255), alpha: float = 1.0) -> np.ndarray:
    """Draw the borders between supervoxels (``labels`` ``(T, H, W)`` ints) onto ``frames``.

    Labels at another resolution are resized with nearest neighbours. A border pixel is one whose label
    differs from its right or lower neighbour; it is painted ``color`` (blended with ``alpha``).
    """
    frames = as_frames(frames)
    lab = labels.detach().cpu().numpy() if isinstance(labels, torch.Tensor) else np.asarray(labels)
    if lab.ndim == 2:
        lab = lab[None]
    if lab.shape[0] != frames.shape[0]:
        raise ShapeError(f"labels {tuple(lab.shape)} do not match {frames.shape[0]} frames")
    lab = resize_maps(lab, frames.shape[1:3], mode="nearest")
    edge = boundary_mask(lab)
    out = frames.copy()
    c = np.asarray(color, dtype=np.float32)
    if alpha >= 1.0:
        out[edge] = c.astype(np.uint8)
    else:
        out[edge] = np.clip(np.rint(out[edge] * (1 - alpha) + c * alpha), 0, 255).astype(np.uint8)
    return out


def label_frames(frames, text: str | Sequence[str], position: str = "top", color: Color = (255, 255, 255),
                 background: Color | None = (0, 0, 0), scale: float | None = None,
                 max_lines_share: float = 1 / 4) -> np.ndarray:
    """Write ``text`` (one string, or one per frame) on each frame in a TrueType font (Pillow).

    The font size follows the frame height (about 1/25 of it: 43 px at 1080p, at least 10 px); a label
    too wide for the frame is shrunk, then wrapped (at most ``max_lines_share`` of the height), so it is never
    cut off: a text that fits that band at no size takes up to half the frame. Only thumbnails narrower than
    :data:`MIN_UNCUT_WIDTH` px keep a one-band label and shorten it with "...". Each distinct label is drawn
    once and composited onto all its frames with numpy.

    Args:
        frames: uint8 ``(T, H, W, 3)``.
        text: one label for every frame, or one per frame (``""``: none).
        position: ``"top"`` or ``"bottom"``.
        color: text colour; ``background``: the colour of the box behind the text (None: no box).
        scale: font size relative to the default (1.0); None: the default.

    Returns:
        A labelled copy of ``frames``.

    Example::

        out = label_frames(frames, "gradcam: throwing axe (p=0.91)")
        out = label_frames(out, [f"frame {i}" for i in range(len(out))], position="bottom")
    """
    frames = as_frames(frames).copy()
    t, h, w = frames.shape[:3]
    texts = [text] * t if isinstance(text, str) else [str(s) for s in text]
    if len(texts) != t:
        raise ShapeError(f"got {len(texts)} labels for {t} frames")
    if position not in ("top", "bottom"):
        raise ShapeError(f"position must be 'top' or 'bottom', got {position!r}")
    size = max(textmod.MIN_FONT_PX, int(round(textmod.font_size_for(h, w) * (scale or 1.0))))
    pad = max(1, size // 5)
    groups: dict[str, list[int]] = {}
    for i, line in enumerate(texts):
        if line:
            groups.setdefault(line, []).append(i)
    for line, idx in groups.items():
        lay = textmod.fit_text(line, w - 2 * pad, max(1, int(h * max_lines_share)) - pad, size)
        if lay.cut and w >= MIN_UNCUT_WIDTH:  # too long for its band even in the smallest font: grow the band
            lay = textmod.fit_text(line, w - 2 * pad, h // 2 - pad, textmod.MIN_FONT_PX)
        bw, bh = min(w, lay.width + 2 * pad), min(h, lay.height + pad)
        alpha = textmod.text_mask(lay, bw, bh, align="left", pad=pad)
        patch = np.empty((bh, bw, 3), np.float32)
        patch[:] = color
        if background is not None:  # text over an opaque box: one composite of both
            patch = patch * alpha[..., None] + np.asarray(background, np.float32) * (1.0 - alpha[..., None])
            alpha = np.ones_like(alpha)
        y = 0 if position == "top" else h - bh
        textmod.paste_label(frames, np.asarray(idx), y, patch, alpha)
    return frames


def draw_boxes(frames, boxes, color: Color = (0, 255, 0), thickness: int = 2) -> np.ndarray:
    """Draw one xyxy box per frame (``boxes`` ``(T, 4)``, x2/y2 exclusive, NaN rows = no box)."""
    frames = as_frames(frames).copy()
    b = to_numpy(boxes)
    if b.ndim != 2 or b.shape != (frames.shape[0], 4):
        raise ShapeError(f"expected boxes of shape ({frames.shape[0]}, 4), got {tuple(b.shape)}")
    for i, box in enumerate(b):
        if np.isnan(box).any():
            continue
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        frame = np.ascontiguousarray(frames[i])
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), tuple(int(c) for c in color), thickness)
        frames[i] = frame
    return frames


def labels_to_original(labels, geometry) -> torch.Tensor:
    """Map model-resolution labels ``(T, h, w)`` to the original frames ``(T, H0, W0)`` (nearest; -1 outside crop).

    Undoes the short-side resize and the crop recorded in ``geometry`` (a :class:`vidxai.io.ClipGeometry`):
    each original pixel takes the label of the model pixel its centre falls in.
    """
    lab = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(np.asarray(labels))
    h0, w0 = (int(v) for v in geometry.original_size)
    h1, w1 = (int(v) for v in geometry.resized_size)
    top, left, ch, cw = (int(v) for v in geometry.crop_box)
    if tuple(lab.shape[-2:]) != (ch, cw):
        # maps at another resolution than the crop (e.g. CAM grids) are first brought to crop size
        lab = torch.from_numpy(resize_maps(lab, (ch, cw), mode="nearest"))
    rows = torch.floor((torch.arange(h0, dtype=torch.float64) + 0.5) * h1 / h0).long() - top
    cols = torch.floor((torch.arange(w0, dtype=torch.float64) + 0.5) * w1 / w0).long() - left
    valid = ((rows >= 0) & (rows < ch))[:, None] & ((cols >= 0) & (cols < cw))[None, :]
    out = lab[..., rows.clamp(0, ch - 1)[:, None], cols.clamp(0, cw - 1)[None, :]].long()
    return torch.where(valid, out, torch.full_like(out, -1))


__all__ = ["overlay", "blend", "draw_boundaries", "boundary_mask", "label_frames", "draw_boxes",
           "labels_to_original", "resize_maps", "as_frames"]
