"""Logging explanations to TensorBoard (or anything with ``add_video`` / ``add_scalar``).

Works with :class:`torch.utils.tensorboard.SummaryWriter` but does not import it: any writer object with the
two methods will do (``tensorboardX`` too).
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .display import explanation_frames

#: the scalar names logged when the explanation (or ``scores``) carries them
SCORE_KEYS = ("deletion_auc", "insertion_auc", "combined", "on_target", "probability")


def _scores(exp, scores: Mapping[str, Any] | None) -> dict[str, float]:
    """AUCs and friends from ``scores`` (a dict or a MethodResult-like object) or ``exp.metadata``."""
    found: dict[str, float] = {}
    sources = [exp.metadata or {}, {"probability": exp.probability}]
    if scores is not None:
        sources.append(scores if isinstance(scores, Mapping) else {k: getattr(scores, k, None) for k in SCORE_KEYS})
    for src in sources:
        for k in SCORE_KEYS:
            v = src.get(k)
            if isinstance(v, (int, float, np.floating)) and math.isfinite(float(v)):
                found[k] = float(v)
    return found


def log_explanation(writer, tag: str, exp, step: int = 0, frames=None, scores: Mapping[str, Any] | None = None,
                    fps: float | None = None, colormap: str = "jet", alpha: float = 0.5,
                    normalize: str = "auto") -> dict[str, float]:
    """Log ``exp``'s overlay as a video and its scores as scalars under ``tag``.

    Args:
        writer: e.g. ``torch.utils.tensorboard.SummaryWriter``; needs ``add_video`` and ``add_scalar``.
        tag: the video's tag; scalars go to ``tag/deletion_auc``, ``tag/insertion_auc``...
        exp: a :class:`vidxai.Explanation`.
        step: the global step.
        frames: uint8 ``(T, H, W, 3)`` to draw on (see :meth:`vidxai.Explanation.to_video`).
        scores: AUCs to log (a dict or a :class:`vidxai.result.MethodResult`); also read from ``exp.metadata``.

    Returns:
        The scalars logged.

    Example::

        from torch.utils.tensorboard import SummaryWriter
        log_explanation(SummaryWriter("runs/x"), "gradcam", exp, frames=clip, scores=result.method("gradcam"))
    """
    import torch

    video = explanation_frames(exp, frames, colormap, alpha, normalize)  # (T, H, W, 3) uint8
    tensor = torch.from_numpy(np.ascontiguousarray(video.transpose(0, 3, 1, 2)))[None]  # (N, T, C, H, W)
    rate = fps or (getattr(exp.geometry, "fps", None) if exp.geometry is not None else None) or 8
    writer.add_video(tag, tensor, global_step=step, fps=max(1, int(round(rate))))
    found = _scores(exp, scores)
    for k, v in found.items():
        writer.add_scalar(f"{tag}/{k}", v, global_step=step)
    return found


__all__ = ["log_explanation"]
