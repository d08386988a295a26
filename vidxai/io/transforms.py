"""Frames -> model input, and model-input coordinates/maps -> original frame pixels.

A clip is prepared in three steps (all batched over frames, in torch):

1. short-side resize to ``spec.short_side`` (antialiased bilinear), enlarged if needed so the crop fits;
2. centre crop to ``spec.crop`` = (h, w);
3. ``uint8 / 255`` -> ``spec.value_range`` -> ``(x - mean) / std``.

:class:`ClipGeometry` records the sizes and the crop box so that saliency maps computed on the model input
can be drawn on the full-resolution frames. Coordinates are continuous pixel coordinates: pixel ``(r, c)``
covers ``[c, c + 1) x [r, r + 1)`` and its centre is ``(c + 0.5, r + 0.5)``; ``x`` is the column. This is the
convention of :mod:`vidxai.metrics.boxes` (xyxy, x2/y2 exclusive).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError

__all__ = ["ClipGeometry", "preprocess", "resize_short_side", "centre_crop", "normalize", "denormalize",
           "resized_size_for", "crop_box_for", "frames_to_tensor"]

_CHUNK_ELEMENTS = 1 << 25  # resize at most ~32M input values at a time to bound peak memory on long/large clips


def resized_size_for(size: tuple[int, int], short_side: int | None, crop: tuple[int, int] | None = None) -> tuple[int, int]:
    """Size ``(h, w)`` after resizing ``size = (H, W)`` so its short side is ``short_side``.

    The long side is ``int(short_side * long / short)`` (truncated, as torchvision's ``Resize(int)`` and
    pytorchvideo's ``ShortSideScale`` do). The result is enlarged (keeping the aspect ratio) when it would be
    smaller than ``crop`` in either dimension, so a centre crop always fits. ``short_side=None`` or ``0``
    keeps the size (unless too small for the crop).
    """
    h, w = int(size[0]), int(size[1])
    if short_side and min(h, w) != int(short_side):
        s = int(short_side)
        nh, nw = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
    else:
        nh, nw = h, w
    if crop is not None and (nh < int(crop[0]) or nw < int(crop[1])):
        scale = max(int(crop[0]) / h, int(crop[1]) / w)
        nh, nw = max(int(crop[0]), int(round(h * scale))), max(int(crop[1]), int(round(w * scale)))
    return max(nh, 1), max(nw, 1)


def crop_box_for(size: tuple[int, int], crop: tuple[int, int] | None) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a centre crop of ``crop = (h, w)`` from frames of ``size = (H, W)``
    (torchvision's rounding). ``crop=None`` keeps the whole frame."""
    H, W = int(size[0]), int(size[1])
    if crop is None:
        return 0, 0, H, W
    ch, cw = int(crop[0]), int(crop[1])
    if ch > H or cw > W:
        raise InputError(f"crop {ch}x{cw} does not fit in frames of {H}x{W}")
    return int(round((H - ch) / 2.0)), int(round((W - cw) / 2.0)), ch, cw


def _interp(x: torch.Tensor, size: tuple[int, int], mode: str = "bilinear") -> torch.Tensor:
    """Resize ``(N, C, H, W)`` to ``size`` in chunks along N (antialiased when bilinear)."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    kw = dict(mode=mode, align_corners=False, antialias=True) if mode in ("bilinear", "bicubic") else dict(mode=mode)
    per = max(1, _CHUNK_ELEMENTS // max(1, x[0].numel()))
    if x.shape[0] <= per:
        return F.interpolate(x, size=tuple(size), **kw)
    return torch.cat([F.interpolate(x[i:i + per], size=tuple(size), **kw) for i in range(0, x.shape[0], per)])


def resize_short_side(x: torch.Tensor, short_side: int, crop: tuple[int, int] | None = None) -> torch.Tensor:
    """Resize float frames ``(..., C, H, W)`` so the short side is ``short_side`` (antialiased bilinear).
    With ``crop`` the frames are enlarged if needed so that the crop fits."""
    lead = x.shape[:-3]
    size = resized_size_for(tuple(x.shape[-2:]), short_side, crop)
    y = _interp(x.reshape(-1, *x.shape[-3:]), size)
    return y.reshape(*lead, *y.shape[-3:])


def centre_crop(x: torch.Tensor, crop: tuple[int, int] | None) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
    """Centre crop ``(..., H, W)`` to ``crop = (h, w)``; returns the crop and its box ``(top, left, h, w)``."""
    top, left, ch, cw = crop_box_for(tuple(x.shape[-2:]), crop)
    return x[..., top:top + ch, left:left + cw], (top, left, ch, cw)


def _norm_params(x: torch.Tensor, spec, channel_dim: int) -> tuple[float, float, torch.Tensor, torch.Tensor]:
    """``(lo, hi, mean, std)`` of ``spec``, mean/std shaped to broadcast along ``channel_dim`` of ``x``."""
    lo, hi = (float(v) for v in spec.value_range)
    shape = [1] * x.ndim
    shape[channel_dim] = 3
    mean = torch.as_tensor(spec.mean, dtype=x.dtype, device=x.device).reshape(shape)
    std = torch.as_tensor(spec.std, dtype=x.dtype, device=x.device).reshape(shape)
    return lo, hi, mean, std


def normalize(x: torch.Tensor, spec, channel_dim: int = 0) -> torch.Tensor:
    """Map pixels in ``[0, 255]`` to ``spec.value_range`` then apply ``(x - mean) / std`` per channel."""
    lo, hi, mean, std = _norm_params(x, spec, channel_dim)
    return (x * ((hi - lo) / 255.0) + lo - mean) / std


def denormalize(x: torch.Tensor, spec, channel_dim: int = 0) -> torch.Tensor:
    """Inverse of :func:`normalize`: model input -> pixels in ``[0, 255]`` (float, not clamped)."""
    lo, hi, mean, std = _norm_params(x, spec, channel_dim)
    return (x * std + mean - lo) * (255.0 / (hi - lo))


def frames_to_tensor(frames) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` numpy array or tensor -> uint8 tensor ``(T, H, W, 3)`` (no copy when possible)."""
    if isinstance(frames, torch.Tensor):
        t = frames
    else:
        arr = np.asarray(frames)
        t = torch.from_numpy(np.ascontiguousarray(arr)) if arr.dtype == np.uint8 else None
        if t is None:
            raise ShapeError(f"expected uint8 frames of shape (T, H, W, 3), got {arr.dtype} {tuple(arr.shape)}")
    if t.dtype != torch.uint8 or t.ndim != 4 or t.shape[-1] != 3:
        raise ShapeError(f"expected uint8 frames of shape (T, H, W, 3), got {t.dtype} {tuple(t.shape)}".replace(
            "torch.", ""))
    if t.shape[0] == 0 or t.shape[1] == 0 or t.shape[2] == 0:
        raise ShapeError(f"expected non-empty frames (T, H, W, 3), got {tuple(t.shape)}")
    return t


@dataclass
class ClipGeometry:
    """How a clip was cut from its video: sizes, crop and frames.

    Attributes:
        original_size: ``(H0, W0)`` of the decoded frames.
        resized_size: ``(H1, W1)`` after the short-side resize.
        crop_box: ``(top, left, h, w)`` of the centre crop in resized pixels; ``(h, w)`` is the model input size.
        frame_indices: the video frame of each clip frame (repeats when padded).
        fps: the video's frame rate (None when unknown).
    """

    original_size: tuple[int, int]
    resized_size: tuple[int, int]
    crop_box: tuple[int, int, int, int]
    frame_indices: list[int] = field(default_factory=list)
    fps: float | None = None

    def __post_init__(self) -> None:
        self.original_size = tuple(int(v) for v in self.original_size)
        self.resized_size = tuple(int(v) for v in self.resized_size)
        self.crop_box = tuple(int(v) for v in self.crop_box)
        self.frame_indices = [int(i) for i in self.frame_indices]

    # -- sizes -------------------------------------------------------------------------------------
    @property
    def model_size(self) -> tuple[int, int]:
        """``(h, w)`` of the model input."""
        return self.crop_box[2], self.crop_box[3]

    @property
    def scale(self) -> tuple[float, float]:
        """``(sy, sx)``: resized pixels per original pixel."""
        return self.resized_size[0] / self.original_size[0], self.resized_size[1] / self.original_size[1]

    # -- points ------------------------------------------------------------------------------------
    def model_to_original_xy(self, x, y):
        """Continuous model-input coordinates -> original frame coordinates. Accepts numbers, numpy arrays or
        tensors (returned as the same type)."""
        top, left = self.crop_box[0], self.crop_box[1]
        sy, sx = self.scale
        return (x + left) / sx, (y + top) / sy

    def original_to_model_xy(self, x, y):
        """Original frame coordinates -> continuous model-input coordinates (may fall outside the crop)."""
        top, left = self.crop_box[0], self.crop_box[1]
        sy, sx = self.scale
        return x * sx - left, y * sy - top

    def original_to_model_pixel(self, rows, cols):
        """Integer model pixel ``(row, col)`` that holds the centre of original pixel ``(rows, cols)``
        (may fall outside the crop). This is the sampling used by ``to_original(mode="nearest")``."""
        x, y = self.original_to_model_xy(np.asarray(cols, np.float64) + 0.5, np.asarray(rows, np.float64) + 0.5)
        return np.floor(y).astype(np.int64), np.floor(x).astype(np.int64)

    def inside_crop_mask(self, device=None) -> torch.Tensor:
        """Bool ``(H0, W0)``: original pixels whose centre lies inside the crop (what the model sees)."""
        r, c = self.original_to_model_pixel(np.arange(self.original_size[0]), np.arange(self.original_size[1]))
        ch, cw = self.model_size
        rows = torch.as_tensor((r >= 0) & (r < ch), device=device)
        cols = torch.as_tensor((c >= 0) & (c < cw), device=device)
        return rows[:, None] & cols[None, :]

    # -- maps --------------------------------------------------------------------------------------
    def to_original(self, maps, mode: str = "bilinear"):
        """Bring maps on the model input back onto the original frames.

        Args:
            maps: ``(T, h, w)`` or ``(B, T, h, w)`` (any leading dims) torch tensor or numpy array. Maps whose
                ``(h, w)`` is not the model input size (e.g. raw CAMs) are first resized to it.
            mode: ``"bilinear"`` (smooth: the crop is placed into the resized canvas, which is resized to the
                original size; the map is not faded along the crop border) or ``"nearest"`` (each original pixel takes the model pixel holding its centre).

        Returns:
            float32 maps ``(..., H0, W0)`` of the same type (and device); 0 outside the crop.
        """
        is_np = not isinstance(maps, torch.Tensor)
        m = torch.as_tensor(np.asarray(maps)) if is_np else maps
        if m.ndim < 2:
            raise ShapeError(f"expected maps (..., h, w), got shape {tuple(m.shape)}")
        if mode not in ("bilinear", "nearest"):
            raise InputError(f"mode must be 'bilinear' or 'nearest', got {mode!r}")
        lead = m.shape[:-2]
        m = m.detach().to(torch.float32).reshape(-1, 1, *m.shape[-2:])
        top, left, ch, cw = self.crop_box
        H0, W0 = self.original_size
        if tuple(m.shape[-2:]) != (ch, cw):
            m = _interp(m, (ch, cw), "bilinear" if mode == "bilinear" else "nearest-exact")
        if mode == "nearest":
            r, c = self.original_to_model_pixel(np.arange(H0), np.arange(W0))
            valid = self.inside_crop_mask(m.device)
            rr = torch.as_tensor(np.clip(r, 0, ch - 1), device=m.device)
            cc = torch.as_tensor(np.clip(c, 0, cw - 1), device=m.device)
            out = m[:, :, rr][:, :, :, cc] * valid
        else:
            H1, W1 = self.resized_size
            # The crop goes back into the resized canvas; the canvas outside it repeats the crop's edge (not
            # zeros) so that interpolation does not fade the map along the crop border, and everything outside
            # the crop is zeroed after resizing to the original size.
            canvas = F.pad(m, (left, W1 - left - cw, top, H1 - top - ch), mode="replicate")
            out = _interp(canvas, (H0, W0), "bilinear") * self.inside_crop_mask(m.device)
        out = out.reshape(*lead, H0, W0)
        return out.cpu().numpy() if is_np else out

    def crop_original(self, frames):
        """The part of original frames ``(..., H0, W0, C)`` that the model sees (the crop box mapped back)."""
        x0, y0 = self.model_to_original_xy(0.0, 0.0)
        x1, y1 = self.model_to_original_xy(float(self.crop_box[3]), float(self.crop_box[2]))
        return frames[..., int(round(y0)):int(round(y1)), int(round(x0)):int(round(x1)), :]

    # -- serialisation -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"original_size": list(self.original_size), "resized_size": list(self.resized_size),
                "crop_box": list(self.crop_box), "frame_indices": list(self.frame_indices),
                "fps": None if self.fps is None else float(self.fps)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ClipGeometry":
        return cls(original_size=tuple(d["original_size"]), resized_size=tuple(d["resized_size"]),
                   crop_box=tuple(d["crop_box"]), frame_indices=list(d.get("frame_indices") or []),
                   fps=d.get("fps"))

    @classmethod
    def identity(cls, size: tuple[int, int], num_frames: int = 0, fps: float | None = None) -> "ClipGeometry":
        """Geometry of frames used as they are."""
        return cls(tuple(size), tuple(size), (0, 0, int(size[0]), int(size[1])), list(range(num_frames)), fps)


def preprocess(frames, spec, device: str | torch.device | None = None, frame_indices=None,
               fps: float | None = None) -> tuple[torch.Tensor, ClipGeometry]:
    """uint8 frames ``(T, H, W, 3)`` (numpy or torch) -> model input ``(3, T, h, w)`` float32 and its geometry.

    Resizes the short side to ``spec.short_side`` (enlarging if the crop would not fit, which is what
    fixed-size models such as MViT/Swin3D need), centre-crops to ``spec.crop`` and normalises with
    ``spec.value_range``, ``spec.mean``, ``spec.std``. Frames already at the resized size are not resampled.
    ``spec.fixed_frames`` models must get exactly ``spec.num_frames`` frames.
    """
    t = frames_to_tensor(frames)
    if device is not None:
        t = t.to(device)
    T, H, W = (int(v) for v in t.shape[:3])
    if getattr(spec, "fixed_frames", False) and T != spec.num_frames:
        raise ShapeError(f"this model takes exactly {spec.num_frames} frames, got {T}")
    if T < getattr(spec, "min_frames", 1):
        raise ShapeError(f"this model needs at least {spec.min_frames} frames, got {T}")
    crop = tuple(spec.crop) if getattr(spec, "crop", None) else None
    resized = resized_size_for((H, W), getattr(spec, "short_side", None), crop)
    box = crop_box_for(resized, crop)
    if getattr(spec, "fixed_size", False) and crop is not None and (box[2], box[3]) != crop:
        raise ShapeError(f"this model takes exactly {crop[0]}x{crop[1]} frames")
    x = t.permute(0, 3, 1, 2)  # (T, 3, H, W) uint8
    top, left, ch, cw = box
    if resized == (H, W):  # no resampling: crop first, then convert only the pixels we keep
        x = x[..., top:top + ch, left:left + cw].to(torch.float32)
    else:
        per = max(1, _CHUNK_ELEMENTS // (3 * H * W))
        x = torch.cat([_interp(x[i:i + per].to(torch.float32), resized)[..., top:top + ch, left:left + cw]
                       for i in range(0, T, per)])
    x = normalize(x.permute(1, 0, 2, 3), spec, channel_dim=0).contiguous()  # (3, T, h, w)
    indices = list(range(T)) if frame_indices is None else [int(i) for i in frame_indices]
    return x, ClipGeometry((H, W), resized, box, indices, fps)
