"""Saving rendered videos as H.264 mp4, GIF (both through :func:`vidxai.io.write_video`) or a PNG sequence."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError
from .overlay import as_frames

FORMATS = ("mp4", "gif", "png")


def save_video(stem: str | os.PathLike, frames, fps: float, fmt: str = "mp4") -> Path:
    """Write ``frames`` (uint8 ``(T, H, W, 3)``) to ``stem.mp4``, ``stem.gif`` or the folder ``stem/`` of PNGs.

    Returns the path written (the folder for PNG sequences, frames named ``frame_00000.png``...).
    """
    if fmt not in FORMATS:
        raise InputError(f"unknown output format {fmt!r}; choose from {', '.join(FORMATS)}")
    frames = as_frames(frames)
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "png":
        stem.mkdir(parents=True, exist_ok=True)
        for old in stem.glob("frame_*.png"):
            old.unlink()
        for i, frame in enumerate(frames):
            cv2.imwrite(str(stem / f"frame_{i:05d}.png"), np.ascontiguousarray(frame[..., ::-1]))
        return stem
    from ..io import write_video

    path = stem.with_name(f"{stem.name}.{fmt}")
    write_video(path, frames, fps=fps)
    return path


__all__ = ["save_video", "FORMATS"]
