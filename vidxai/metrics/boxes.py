"""Bounding boxes in ONE convention, and the conversions to reach it.

vidxai boxes are ``xyxy`` float pixel coordinates: ``x`` is the column, ``y`` the row, ``(x1, y1)`` is the
inclusive top-left corner and ``(x2, y2)`` the exclusive bottom-right one, so ``width = x2 - x1``. Pixel
``(row r, column c)`` covers ``[c, c+1) x [r, r+1)`` and belongs to a box when its centre ``(c+0.5, r+0.5)``
lies in ``[x1, x2) x [y1, y2)``; for integer boxes that is exactly columns ``x1..x2-1`` and rows ``y1..y2-1``.
A frame without ground truth has a box of four NaNs.

All functions take ``(..., 4)`` torch tensors or numpy arrays and return the same kind (float).
UCF101-24 gives ``[x, y, w, h]`` at 320x240: ``xywh_to_xyxy`` then :func:`resize_crop_boxes` (or
:func:`boxes_to_model` with a :class:`vidxai.io.ClipGeometry`) bring them onto the model's input pixels.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import ShapeError

BoxLike = Any  # torch.Tensor | np.ndarray | sequence, shape (..., 4)


def _as_float(boxes: BoxLike) -> tuple[torch.Tensor, bool]:
    """Boxes as a float tensor (..., 4) and whether the input was numpy (to give numpy back)."""
    is_np = isinstance(boxes, np.ndarray) or not isinstance(boxes, torch.Tensor)
    t = torch.as_tensor(np.asarray(boxes) if is_np else boxes)
    if not t.is_floating_point():
        t = t.float()
    if t.ndim == 0 or t.shape[-1] != 4:
        raise ShapeError(f"expected boxes of shape (..., 4), got {tuple(t.shape)}")
    return t, is_np


def _out(t: torch.Tensor, is_np: bool):
    return t.numpy() if is_np else t


def _split(b: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return b[..., 0], b[..., 1], b[..., 2], b[..., 3]


def xywh_to_xyxy(boxes: BoxLike):
    """``[x, y, w, h]`` (top-left corner + size, e.g. UCF101-24) -> ``xyxy``."""
    b, is_np = _as_float(boxes)
    x, y, w, h = _split(b)
    return _out(torch.stack([x, y, x + w, y + h], -1), is_np)


def xyxy_to_xywh(boxes: BoxLike):
    """``xyxy`` -> ``[x, y, w, h]``."""
    b, is_np = _as_float(boxes)
    x1, y1, x2, y2 = _split(b)
    return _out(torch.stack([x1, y1, x2 - x1, y2 - y1], -1), is_np)


def cxcywh_to_xyxy(boxes: BoxLike):
    """``[cx, cy, w, h]`` (centre + size, e.g. detector outputs) -> ``xyxy``."""
    b, is_np = _as_float(boxes)
    cx, cy, w, h = _split(b)
    return _out(torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], -1), is_np)


def xyxy_to_cxcywh(boxes: BoxLike):
    """``xyxy`` -> ``[cx, cy, w, h]``."""
    b, is_np = _as_float(boxes)
    x1, y1, x2, y2 = _split(b)
    return _out(torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1], -1), is_np)


CONVERTERS = {"xywh": (xywh_to_xyxy, xyxy_to_xywh), "cxcywh": (cxcywh_to_xyxy, xyxy_to_cxcywh),
              "xyxy": (lambda b: b, lambda b: b)}


def convert(boxes: BoxLike, src: str, dst: str = "xyxy"):
    """Convert between ``"xyxy"``, ``"xywh"`` and ``"cxcywh"``."""
    from ..errors import UnknownNameError

    for f in (src, dst):
        if f not in CONVERTERS:
            raise UnknownNameError(f, CONVERTERS, hint="box format")
    return CONVERTERS[dst][1](CONVERTERS[src][0](boxes))


def box_area(boxes: BoxLike):
    """Area of ``xyxy`` boxes (0 for empty or inverted boxes, NaN for NaN boxes)."""
    b, is_np = _as_float(boxes)
    x1, y1, x2, y2 = _split(b)
    return _out((x2 - x1).clamp_min(0) * (y2 - y1).clamp_min(0), is_np)


def box_iou(a: BoxLike, b: BoxLike):
    """Element-wise IoU of ``xyxy`` boxes (broadcast over leading dims).

    NaN when either box is NaN (no ground truth: callers skip the frame); 0 when the union is empty
    (e.g. an empty predicted box against an empty target).
    """
    ta, is_np = _as_float(a)
    tb, _ = _as_float(b)
    ta, tb = torch.broadcast_tensors(ta, tb.to(ta))
    ax1, ay1, ax2, ay2 = _split(ta)
    bx1, by1, bx2, by2 = _split(tb)
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp_min(0)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp_min(0)
    inter = iw * ih
    union = (ax2 - ax1).clamp_min(0) * (ay2 - ay1).clamp_min(0) + (bx2 - bx1).clamp_min(0) * (by2 - by1).clamp_min(0) - inter
    iou = torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))
    nan = torch.isnan(ta).any(-1) | torch.isnan(tb).any(-1)
    return _out(torch.where(nan, torch.full_like(iou, float("nan")), iou), is_np)


def clip_boxes(boxes: BoxLike, size: Sequence[int]):
    """Clamp ``xyxy`` boxes to a frame of ``size = (H, W)`` (NaN stays NaN)."""
    b, is_np = _as_float(boxes)
    h, w = size
    x1, y1, x2, y2 = _split(b)
    return _out(torch.stack([x1.clamp(0, w), y1.clamp(0, h), x2.clamp(0, w), y2.clamp(0, h)], -1), is_np)


def scale_boxes(boxes: BoxLike, from_size: Sequence[int], to_size: Sequence[int]):
    """Rescale ``xyxy`` boxes from frames of ``from_size = (H, W)`` to ``to_size = (H, W)``.

    x scales with the widths and y with the heights (separately, since rounding makes them differ).
    """
    b, is_np = _as_float(boxes)
    sy, sx = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return _out(b * b.new_tensor([sx, sy, sx, sy]), is_np)


def resize_crop_boxes(boxes: BoxLike, original_size: Sequence[int], resized_size: Sequence[int],
                      crop_box: Sequence[int], clip: bool = True):
    """Map ``xyxy`` boxes through a resize then a crop (how clips are prepared for a model).

    Args:
        original_size: ``(H0, W0)`` of the frames the boxes are given in (UCF101-24: ``(240, 320)``).
        resized_size: ``(h, w)`` after the short-side resize.
        crop_box: ``(top, left, height, width)`` of the crop in resized pixels.
        clip: clamp to the crop (parts of a box outside the crop are not visible to the model).
    """
    top, left, ch, cw = crop_box
    b = scale_boxes(boxes, original_size, resized_size)
    t, is_np = _as_float(b)
    t = t - t.new_tensor([left, top, left, top])
    if clip:
        t = clip_boxes(t, (ch, cw))
    return _out(t, is_np)


def uncrop_resize_boxes(boxes: BoxLike, original_size: Sequence[int], resized_size: Sequence[int],
                        crop_box: Sequence[int]):
    """Inverse of :func:`resize_crop_boxes` (without clamping): model-input pixels -> original frame pixels."""
    top, left, _, _ = crop_box
    t, is_np = _as_float(boxes)
    t = t + t.new_tensor([left, top, left, top])
    return _out(scale_boxes(t, resized_size, original_size), is_np)


def _geometry_fields(geometry) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int, int, int]]:
    keys = ("original_size", "resized_size", "crop_box")
    vals = [geometry.get(k) if isinstance(geometry, dict) else getattr(geometry, k, None) for k in keys]
    missing = [k for k, v in zip(keys, vals) if v is None]
    if missing:
        raise ShapeError(f"clip geometry lacks {', '.join(missing)} (expected original_size, resized_size, crop_box)")
    return tuple(vals[0]), tuple(vals[1]), tuple(vals[2])


def boxes_to_model(boxes: BoxLike, geometry, clip: bool = True):
    """Map boxes in original-frame pixels onto model-input pixels through a :class:`vidxai.io.ClipGeometry`
    (or a dict with ``original_size``, ``resized_size``, ``crop_box``)."""
    return resize_crop_boxes(boxes, *_geometry_fields(geometry), clip=clip)


def boxes_to_original(boxes: BoxLike, geometry):
    """Map boxes in model-input pixels back to original-frame pixels through a clip geometry."""
    return uncrop_resize_boxes(boxes, *_geometry_fields(geometry))


def masks_to_boxes(masks: torch.Tensor) -> torch.Tensor:
    """Tight ``xyxy`` box of the True pixels of each mask ``(..., H, W)`` -> ``(..., 4)``; NaN when empty."""
    masks = torch.as_tensor(masks).bool()
    return boxes_from_any(masks.any(-1), masks.any(-2))


def boxes_from_any(rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """Tight boxes from "this row has a kept pixel" ``(..., H)`` and "this column has one" ``(..., W)``.

    Working from the row/column projections is what lets thresholds be swept without building every
    mask: a row holds a pixel >= t exactly when the row maximum is >= t.

    Example::

        >>> boxes_from_any(torch.tensor([False, True, True]), torch.tensor([True, True, False, False]))
        tensor([0., 1., 2., 3.])
    """
    h, w = rows.shape[-1], cols.shape[-1]
    ar_h = torch.arange(h, device=rows.device)
    ar_w = torch.arange(w, device=cols.device)
    big = max(h, w) + 1
    y1 = torch.where(rows, ar_h, big).amin(-1)
    y2 = torch.where(rows, ar_h, -1).amax(-1) + 1
    x1 = torch.where(cols, ar_w, big).amin(-1)
    x2 = torch.where(cols, ar_w, -1).amax(-1) + 1
    boxes = torch.stack([x1, y1, x2, y2], -1).float()
    empty = ~rows.any(-1)
    return torch.where(empty.unsqueeze(-1), torch.full_like(boxes, float("nan")), boxes)


def boxes_to_masks(boxes: BoxLike, size: Sequence[int]) -> torch.Tensor:
    """Boolean masks ``(..., H, W)`` of the pixels whose centres lie in each ``xyxy`` box (NaN -> empty)."""
    b, _ = _as_float(boxes)
    h, w = size
    cy = torch.arange(h, device=b.device, dtype=b.dtype) + 0.5
    cx = torch.arange(w, device=b.device, dtype=b.dtype) + 0.5
    x1, y1, x2, y2 = (v.unsqueeze(-1) for v in _split(b))
    rows = (cy >= y1) & (cy < y2)  # comparisons with NaN are False -> empty mask
    cols = (cx >= x1) & (cx < x2)
    return rows.unsqueeze(-1) & cols.unsqueeze(-2)


__all__ = ["xywh_to_xyxy", "xyxy_to_xywh", "cxcywh_to_xyxy", "xyxy_to_cxcywh", "convert", "box_area", "box_iou",
           "clip_boxes", "scale_boxes", "resize_crop_boxes", "uncrop_resize_boxes", "boxes_to_model",
           "boxes_to_original", "masks_to_boxes", "boxes_to_masks"]
