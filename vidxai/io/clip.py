"""From a video file to a model-ready clip: sample frame indices, decode only those, preprocess."""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, ShapeError, TooFewFramesError
from .decode import read_frames, video_info
from .sample import centre_indices, range_indices, start_indices, uniform_indices
from .transforms import ClipGeometry, preprocess

__all__ = ["PreparedClip", "load_clip", "clip_indices", "iter_windows"]

CLIP_MODES = ("centre", "center", "uniform", "all")


@dataclass
class PreparedClip:
    """A clip ready for a model, with what is needed to draw on the original frames.

    ``tensor`` ``(3, T, h, w)`` float32 (add a batch dim for the model), ``frames`` the decoded original
    uint8 frames ``(T, H0, W0, 3)``, ``geometry`` the mapping between the two.
    """

    tensor: torch.Tensor
    frames: np.ndarray
    geometry: ClipGeometry
    fps: float
    path: str

    @property
    def frame_indices(self) -> list[int]:
        return self.geometry.frame_indices


def clip_indices(n_total: int, num_frames: int, clip="centre", start: int | None = None, step: int = 1,
                 pad=False, fixed_frames: bool = False) -> np.ndarray:
    """Frame indices of a clip (see :func:`load_clip` for the arguments)."""
    if start is not None:
        return start_indices(n_total, start, num_frames, step, pad)
    if isinstance(clip, str):
        mode = clip.lower()
        if mode in ("centre", "center"):
            return centre_indices(n_total, num_frames, step, pad)
        if mode == "uniform":
            return uniform_indices(n_total, num_frames)
        if mode == "all":
            idx = range_indices(0, None, step, n_total=n_total)
            return idx[uniform_indices(idx.size, num_frames)] if fixed_frames else idx
        raise InputError(f"unknown clip mode {clip!r}; choose from 'centre', 'uniform', 'all' or (start, end)")
    seq = np.asarray(clip)
    if seq.ndim == 1 and seq.size == 2 and np.issubdtype(seq.dtype, np.integer):
        idx = range_indices(int(seq[0]), int(seq[1]), step, n_total=n_total, pad=pad)
        if fixed_frames and idx.size != num_frames:  # the range is kept, sampled to the model's frame count
            idx = idx[uniform_indices(idx.size, num_frames)]
        return idx
    if seq.ndim == 1 and seq.size and np.issubdtype(seq.dtype, np.integer):
        return seq.astype(np.int64)  # explicit frame indices
    raise InputError(f"clip must be 'centre', 'uniform', 'all', (start, end) or a list of frame indices, got {clip!r}")


def load_clip(path: str | os.PathLike, spec, clip="centre", start: int | None = None, num_frames: int | None = None,
              step: int = 1, pad=False, device: str | torch.device | None = None) -> PreparedClip:
    """Read a clip of ``path`` and prepare it for a model with input spec ``spec``.

    Args:
        clip: ``"centre"`` (default: ``num_frames`` frames every ``step`` frames around the middle),
            ``"uniform"`` (``num_frames`` frames spread over the whole video), ``"all"`` (every ``step``-th
            frame), ``(start, end)`` (that frame range, end exclusive) or an explicit list of frame indices.
        start: take ``num_frames`` frames from this frame instead (overrides ``clip``).
        num_frames: clip length (default ``spec.num_frames``; fixed-frame models need exactly that).
        step: take every ``step``-th frame.
        pad: ``False`` (too short -> TooFewFramesError), ``True``/``"repeat"`` (repeat the last frame) or
            ``"loop"``.

    Only the needed frames are decoded (seeking to the nearest keyframe).
    """
    info = video_info(path)
    n = int(num_frames or spec.num_frames)
    if getattr(spec, "fixed_frames", False) and n != spec.num_frames:
        raise InputError(f"this model takes exactly {spec.num_frames} frames, not {n}")
    try:
        idx = clip_indices(info.num_frames, n, clip, start, step, pad, getattr(spec, "fixed_frames", False))
    except TooFewFramesError as e:
        raise TooFewFramesError(f"{path}: {e}") from None
    frames = read_frames(path, idx)
    try:
        tensor, geometry = preprocess(frames, spec, device=device, frame_indices=idx, fps=info.fps)
    except ShapeError as e:
        if "at least" in str(e) or "exactly" in str(e):
            raise TooFewFramesError(f"{path}: {e}; pass pad=True or a longer clip") from None
        raise
    return PreparedClip(tensor=tensor, frames=frames, geometry=geometry, fps=info.fps, path=str(path))


def iter_windows(path: str | os.PathLike, spec, stride: int, num_frames: int | None = None, step: int = 1,
                 pad=False, windows_per_read: int = 8, device: str | torch.device | None = None):
    """Yield a :class:`PreparedClip` for every sliding window of the video (see :func:`sliding_windows`).

    Frames are decoded ``windows_per_read`` windows at a time (each frame once, even where windows overlap),
    so memory stays bounded on long videos; the last window ends at the last frame.
    """
    from .sample import sliding_windows

    info = video_info(path)
    n = int(num_frames or spec.num_frames)
    try:
        windows = sliding_windows(info.num_frames, n, stride, step, pad)
    except TooFewFramesError as e:
        raise TooFewFramesError(f"{path}: {e}") from None
    for c in range(0, len(windows), max(1, int(windows_per_read))):
        chunk = windows[c:c + max(1, int(windows_per_read))]
        union = np.unique(np.concatenate(chunk))
        frames = read_frames(path, union)
        # fixed-frame models, and a padded window (its frames repeat: fewer distinct frames than a clip), are
        # prepared window by window; otherwise the union is prepared once and sliced
        per_window = getattr(spec, "fixed_frames", False) or len(union) < n
        tensor, geometry = (None, None) if per_window else \
            preprocess(frames, spec, device=device, frame_indices=union, fps=info.fps)
        for w in chunk:
            rows = np.searchsorted(union, w)
            if tensor is None:
                t, g = preprocess(frames[rows], spec, device=device, frame_indices=w, fps=info.fps)
            else:
                t = tensor[:, torch.as_tensor(rows, device=tensor.device)]
                g = ClipGeometry(geometry.original_size, geometry.resized_size, geometry.crop_box, list(w), info.fps)
            yield PreparedClip(tensor=t, frames=frames[rows], geometry=g, fps=info.fps, path=str(path))
