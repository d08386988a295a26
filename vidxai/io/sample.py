"""Clip samplers: which frame indices of a video of ``n_total`` frames make up a clip.

All samplers return int64 numpy arrays of 0-based frame indices. A clip of ``n`` frames taken every
``step`` frames spans ``(n - 1) * step + 1`` frames. When the video is shorter than that, samplers raise
:class:`vidxai.errors.TooFewFramesError` unless ``pad`` is given:

* ``pad=True`` or ``"repeat"``: indices past the last frame repeat the last frame;
* ``pad="loop"``: indices wrap around to the start of the video.
"""
from __future__ import annotations

import numpy as np

from ..errors import EmptyVideoError, InputError, TooFewFramesError

__all__ = ["centre_indices", "uniform_indices", "sliding_windows", "range_indices", "start_indices",
           "clip_span", "PAD_MODES"]

PAD_MODES = (False, True, "repeat", "loop")


def _check(n_total: int, n: int, step: int = 1) -> None:
    if int(n_total) <= 0:
        raise EmptyVideoError("the video has no frames")
    if int(n) < 1:
        raise InputError(f"a clip needs at least 1 frame, got num_frames={n}")
    if int(step) < 1:
        raise InputError(f"step must be >= 1, got {step}")


def _pad_mode(pad) -> str | None:
    if pad is False or pad is None:
        return None
    if pad is True or pad == "repeat":
        return "repeat"
    if pad == "loop":
        return "loop"
    raise InputError(f"pad must be False, True, 'repeat' or 'loop', got {pad!r}")


def clip_span(n: int, step: int = 1) -> int:
    """Number of video frames covered by ``n`` frames taken every ``step`` frames."""
    return (int(n) - 1) * int(step) + 1


def _too_few(needed: int, n_total: int, n: int, step: int) -> TooFewFramesError:
    what = f"{n} frames" + (f" every {step} frames" if step > 1 else "")
    return TooFewFramesError(f"the clip needs {needed} frames ({what}) but the video has only {n_total}; "
                             "pass pad=True to repeat the last frame (or pad='loop' to loop the video)")


def _fit(idx: np.ndarray, n_total: int, mode: str | None, needed: int, n: int, step: int) -> np.ndarray:
    if idx.size and (idx.max() >= n_total or idx.min() < 0):
        if mode is None:
            raise _too_few(needed, n_total, n, step)
        idx = np.minimum(idx, n_total - 1) if mode == "repeat" else np.mod(idx, n_total)
    return idx.astype(np.int64)


def centre_indices(n_total: int, n: int, step: int = 1, pad=False) -> np.ndarray:
    """``n`` frames every ``step`` frames, centred in the video.

    Too short: with ``pad`` the clip starts at frame 0 and is padded (see module doc), else TooFewFramesError.
    """
    _check(n_total, n, step)
    span = clip_span(n, step)
    start = max((int(n_total) - span) // 2, 0)
    idx = start + np.arange(n, dtype=np.int64) * int(step)
    return _fit(idx, int(n_total), _pad_mode(pad), span, n, step)


def start_indices(n_total: int, start: int, n: int, step: int = 1, pad=False) -> np.ndarray:
    """``n`` frames every ``step`` frames from frame ``start`` (negative: counted from the end)."""
    _check(n_total, n, step)
    start = int(start) + int(n_total) if int(start) < 0 else int(start)
    if not 0 <= start < n_total:
        raise TooFewFramesError(f"start frame {start} is outside the video (0..{int(n_total) - 1})")
    idx = start + np.arange(n, dtype=np.int64) * int(step)
    return _fit(idx, int(n_total), _pad_mode(pad), start + clip_span(n, step), n, step)


def uniform_indices(n_total: int, n: int) -> np.ndarray:
    """``n`` frames spread evenly over the whole video: the middle frame of each of ``n`` equal segments.

    When ``n > n_total`` frames repeat (each frame about ``n / n_total`` times), never an error.
    """
    _check(n_total, n)
    return np.floor((np.arange(n, dtype=np.float64) + 0.5) * (int(n_total) / int(n))).astype(np.int64)


def sliding_windows(n_total: int, n: int, stride: int, step: int = 1, pad=False) -> list[np.ndarray]:
    """Windows of ``n`` frames (every ``step`` frames) starting every ``stride`` frames.

    The tail is covered: when the last regular window stops short of the last frame, one more window
    ending exactly at the last frame is added. A video shorter than one window gives one padded window
    with ``pad``, else TooFewFramesError.
    """
    _check(n_total, n, step)
    if int(stride) < 1:
        raise InputError(f"stride must be >= 1, got {stride}")
    span = clip_span(n, step)
    offsets = np.arange(n, dtype=np.int64) * int(step)
    if span > n_total:
        return [_fit(offsets, int(n_total), _pad_mode(pad), span, n, step)]
    starts = np.arange(0, int(n_total) - span + 1, int(stride), dtype=np.int64)
    if starts[-1] + span < n_total:
        starts = np.append(starts, int(n_total) - span)
    return list(starts[:, None] + offsets[None, :])


def range_indices(start: int, end: int | None, step: int = 1, n_total: int | None = None,
                  pad=False) -> np.ndarray:
    """Frames ``start, start+step, ... < end`` (``end`` exclusive).

    With ``n_total`` the range is checked against the video (``end=None`` means its end; negative values
    count from the end); past the end it raises TooFewFramesError unless ``pad``.
    """
    if int(step) < 1:
        raise InputError(f"step must be >= 1, got {step}")
    if n_total is not None:
        if int(n_total) <= 0:
            raise EmptyVideoError("the video has no frames")
        start = int(start) + int(n_total) if int(start) < 0 else int(start)
        end = int(n_total) if end is None else (int(end) + int(n_total) if int(end) < 0 else int(end))
    elif end is None:
        raise InputError("range_indices needs end (or n_total)")
    start, end = int(start), int(end)
    if start < 0 or end <= start:
        raise InputError(f"empty or invalid frame range [{start}, {end})")
    idx = np.arange(start, end, int(step), dtype=np.int64)
    if n_total is None:
        return idx
    if start >= n_total:
        raise TooFewFramesError(f"start frame {start} is past the end of the video ({int(n_total)} frames)")
    return _fit(idx, int(n_total), _pad_mode(pad), end, idx.size, step)
