"""Saving rendered videos as H.264 mp4, GIF (both through :func:`vidxai.io.write_video`) or a PNG sequence."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .overlay import as_frames

FORMATS = ("mp4", "gif", "png")


def save_video(stem: str | os.PathLike, frames, fps: float, fmt: str = "mp4", progress: bool = False) -> Path:
    """Write ``frames`` (uint8 ``(T, H, W, 3)``) to ``stem.mp4``, ``stem.gif`` or the folder ``stem/`` of PNGs.

    Every format is written atomically: a failed write leaves the previous output (or nothing) in place.
    Returns the path written (the folder for PNG sequences, frames named ``frame_00000.png``...).

    Example::

        save_video("out/overlay_gradcam", frames, fps=25, fmt="gif")  # -> out/overlay_gradcam.gif
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    frames = as_frames(frames)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        return _save_pngs(stem, frames)
    from ..io import write_video

    path = stem.with_name(f"{stem.name}.{fmt}")
    write_video(path, frames, fps=fps, progress=progress)
    return path


def _save_pngs(folder: Path, frames: np.ndarray) -> Path:
    """PNG frames into a temporary sibling folder, then swapped in for ``folder`` (old frames removed)."""
    tmp = folder.with_name(f".{folder.name}.part")
    old = folder.with_name(f".{folder.name}.old")
    for leftover in (tmp, old):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for i, frame in enumerate(frames):
            if not cv2.imwrite(str(tmp / f"frame_{i:05d}.png"), np.ascontiguousarray(frame[..., ::-1])):
                raise InputError(f"cannot write PNG frames to {folder}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return folder


__all__ = ["save_video", "FORMATS"]
