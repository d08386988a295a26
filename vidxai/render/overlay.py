"""Drawing on frames: heatmap overlays, text labels, supervoxel boundaries and boxes.

Every function takes and returns uint8 RGB videos ``(T, H, W, 3)`` (numpy); maps and labels may be numpy
arrays or torch tensors. Whole-video work is vectorised; only OpenCV text/box drawing runs per frame.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ShapeError
from . import colormaps
from .colormaps import colorize, to_numpy

Color = tuple[int, int, int]


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


def overlay(frames, maps, alpha: float = 0.5, colormap: str = "jet", normalize: bool = False,
            weighted: bool = False) -> np.ndarray:
    """Blend colour-mapped ``maps`` (``(T, h, w)`` in [0, 1]) onto ``frames`` (``(T, H, W, 3)`` uint8).

    Maps at another resolution are resized bilinearly to the frames' size (to undo a resize *and* a crop,
    map them with :meth:`vidxai.io.ClipGeometry.to_original` first). ``normalize`` min-max scales the maps
    over the whole video first; ``weighted`` scales the opacity by the map value, so cold regions keep the
    original pixels.
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
        m = colormaps.normalize(m)
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


def _font_scale(width: int) -> float:
    return max(0.3, min(1.2, width / 480.0))


def label_frames(frames, text: str | Sequence[str], position: str = "top", color: Color = (255, 255, 255),
                 background: Color | None = (0, 0, 0), scale: float | None = None) -> np.ndarray:
    """Write ``text`` (one string, or one per frame) on each frame with ``cv2.putText``.

    ``position`` is ``"top"`` or ``"bottom"``; a filled ``background`` box keeps the text readable.
    """
    frames = as_frames(frames).copy()
    t, h, w = frames.shape[:3]
    texts = [text] * t if isinstance(text, str) else list(text)
    if len(texts) != t:
        raise ShapeError(f"got {len(texts)} labels for {t} frames")
    scale = scale or _font_scale(w)
    thickness = max(1, int(round(scale * 1.5)))
    font = cv2.FONT_HERSHEY_SIMPLEX
    for i, line in enumerate(texts):
        if not line:
            continue
        (tw, th), base = cv2.getTextSize(line, font, scale, thickness)
        pad = max(2, int(4 * scale))
        y = th + pad if position == "top" else h - base - pad
        frame = np.ascontiguousarray(frames[i])
        if background is not None:
            cv2.rectangle(frame, (0, y - th - pad), (min(w, tw + 2 * pad), min(h, y + base + pad // 2)),
                          tuple(int(c) for c in background), thickness=-1)
        cv2.putText(frame, line, (pad, y), font, scale, tuple(int(c) for c in color), thickness, cv2.LINE_AA)
        frames[i] = frame
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
