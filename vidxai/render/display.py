"""One :class:`vidxai.Explanation` as pictures: overlay frames, an inline animated GIF for notebooks, a file.

``Explanation._repr_html_`` and ``Explanation.to_video`` call these (the record sits below render).
"""
from __future__ import annotations

import base64
import html
import io
import os
from pathlib import Path

import numpy as np

from ..defaults import DEFAULT_PERCENTILE
from .colormaps import colorize, describe_normalization, default_normalization, normalize_maps, to_numpy
from .overlay import as_frames, blend, label_frames, resize_maps

MAX_INLINE_BYTES = 2_000_000  # notebooks stay responsive: the inline GIF is shrunk below this
MAX_INLINE_SIDE = 256


def caption(exp) -> str:
    """``"gradcam: arm wrestling (#6, p=0.998)"`` for an explanation."""
    p = exp.probability
    prob = f", p={p:.3f}" if p == p else ""  # NaN: unknown
    name = f"{exp.target_name} " if exp.target_name else ""
    return f"{exp.method}: {name}(#{exp.target}{prob})"


def _maps_for(exp, frames: np.ndarray | None, mode: str, percentile: float) -> np.ndarray:
    """The normalised map at the frames' resolution (original frames: through the clip geometry)."""
    maps = normalize_maps(to_numpy(exp.saliency), mode=mode, percentile=percentile)
    if frames is None:
        return maps
    size = tuple(frames.shape[1:3])
    g = exp.geometry
    if g is not None and size != tuple(maps.shape[-2:]) and size == tuple(g.original_size):
        import torch

        return np.clip(g.to_original(torch.from_numpy(maps)).numpy(), 0, 1)
    return np.clip(resize_maps(maps, size), 0, 1)


def explanation_frames(exp, frames=None, colormap: str = "jet", alpha: float = 0.5, normalize: str = "auto",
                       percentile: float = DEFAULT_PERCENTILE, label: bool = True) -> np.ndarray:
    """The overlay video ``(T, H, W, 3)`` uint8 of ``exp``: its map on ``frames`` (or alone when None).

    Args:
        exp: a :class:`vidxai.Explanation`.
        frames: uint8 ``(T, H, W, 3)`` at model resolution, or the original frames when ``exp.geometry`` maps
            back to them; None: ``exp.frames`` if set, else the colour-mapped heat alone.
        normalize: display normalisation (``"auto"`` decides by ``exp.method``, see
            :func:`vidxai.render.normalize_maps`).
        label: burn the caption (method, class, probability) into the frames.

    Example::

        video = explanation_frames(exp, frames, colormap="inferno")
    """
    frames = getattr(exp, "frames", None) if frames is None else frames
    frames = None if frames is None else as_frames(frames)
    mode = default_normalization(exp.method) if normalize == "auto" else normalize
    maps = _maps_for(exp, frames, mode, percentile)
    heat = colorize(maps, colormap)
    out = heat if frames is None else blend(frames, heat, alpha)
    return label_frames(out, caption(exp)) if label else out


def _shrink(frames: np.ndarray, factor: float) -> np.ndarray:
    import cv2

    t, h, w = frames.shape[:3]
    nh, nw = max(2, int(h * factor)), max(2, int(w * factor))
    return np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])


def gif_bytes(frames: np.ndarray, fps: float = 8.0) -> bytes:
    """An animated, looping GIF of uint8 ``frames`` ``(T, H, W, 3)`` (Pillow, adaptive palette per frame)."""
    from PIL import Image

    images = [Image.fromarray(f) for f in as_frames(frames)]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], loop=0,
                   duration=max(20, int(round(1000 / max(fps, 1e-3)))), optimize=False)
    return buf.getvalue()


def inline_gif(frames: np.ndarray, fps: float = 8.0, max_bytes: int = MAX_INLINE_BYTES,
               max_side: int = MAX_INLINE_SIDE) -> bytes:
    """:func:`gif_bytes` of ``frames`` shrunk (size, then every other frame) until it is at most ``max_bytes``."""
    frames = as_frames(frames)
    side = max(frames.shape[1:3])
    if side > max_side:
        frames = _shrink(frames, max_side / side)
    data = gif_bytes(frames, fps)
    while len(data) > max_bytes and (frames.shape[0] > 1 or max(frames.shape[1:3]) > 16):
        if max(frames.shape[1:3]) > 64:
            frames = _shrink(frames, 0.7)
        else:
            frames, fps = frames[::2], fps / 2
        data = gif_bytes(frames, fps)
    return data


def explanation_html(exp, frames=None, colormap: str = "jet", alpha: float = 0.5, normalize: str = "auto",
                     fps: float | None = None, max_bytes: int = MAX_INLINE_BYTES) -> str:
    """A self-contained HTML figure: the animated overlay (base64 GIF, <= ``max_bytes``), colour bar, caption.

    Example::

        from IPython.display import HTML; HTML(explanation_html(exp, frames))
    """
    video = explanation_frames(exp, frames, colormap, alpha, normalize, label=False)
    geometry_fps = getattr(exp.geometry, "fps", None) if exp.geometry is not None else None
    data = inline_gif(video, fps or geometry_fps or 8.0, max_bytes)
    mode = default_normalization(exp.method) if normalize == "auto" else normalize
    note = describe_normalization(mode, DEFAULT_PERCENTILE)
    src = "data:image/gif;base64," + base64.b64encode(data).decode("ascii")
    return _figure(src, exp, colormap, note, frames)


def _figure(src: str, exp, colormap: str, note: str, frames) -> str:
    from .report import colorbar_html

    hint = "" if frames is not None or getattr(exp, "frames", None) is not None else \
        " (map only: pass the clip's frames to see it on the video)"
    return (f'<figure style="display:inline-block;margin:0.4em;max-width:100%">'
            f'<img src="{src}" alt="{html.escape(caption(exp))}" style="max-width:100%">'
            f'<div style="max-width:{MAX_INLINE_SIDE}px">{colorbar_html(colormap, note)}</div>'
            f'<figcaption style="font:0.85em sans-serif">{html.escape(caption(exp) + hint)}</figcaption></figure>')


def save_explanation_video(exp, path: str | os.PathLike, frames=None, colormap: str = "jet", alpha: float = 0.5,
                           normalize: str = "auto", fps: float | None = None, label: bool = True) -> Path:
    """Write ``exp``'s overlay to ``path``: ``.mp4``/``.gif`` (written atomically), or a folder of PNG frames
    (any other name; filled atomically: a temporary folder renamed into place). Returns the path written.

    Example::

        save_explanation_video(exp, "gradcam.mp4", frames)
    """
    from .output import save_video

    video = explanation_frames(exp, frames, colormap, alpha, normalize, label=label)
    rate = fps or (getattr(exp.geometry, "fps", None) if exp.geometry is not None else None) or 8.0
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    if suffix in ("mp4", "gif"):
        return save_video(path.with_suffix(""), video, fps=rate, fmt=suffix)
    return save_video(path.with_suffix("") if suffix == "png" else path, video, fps=rate, fmt="png")


__all__ = ["explanation_frames", "explanation_html", "save_explanation_video", "inline_gif", "gif_bytes", "caption"]
