"""The one-call API: ``vidxai.explain(model, clip, method=..., target=...)``."""
from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from . import methods as _methods
from .core.runtime import check_device
from .errors import InputError, ShapeError
from .explanation import Explanation
from .models.base import VideoModel

ClipLike = str | os.PathLike | np.ndarray | torch.Tensor


def as_model(model: VideoModel | nn.Module | str, device: str | torch.device | None = None) -> VideoModel:
    """Accept a registry name, a :class:`VideoModel` or a plain ``nn.Module``."""
    check_device(device)
    if isinstance(model, (str, os.PathLike)):
        from .models import load

        return load(str(model), device=device)
    if not isinstance(model, VideoModel):
        from .models.wrap import wrap

        model = wrap(model)
    return model.to(device) if device is not None else model


def prepare_input(model: VideoModel, clip: ClipLike, /, **clip_options) -> tuple[torch.Tensor, Any]:
    """Turn a path, uint8 frames ``(T, H, W, 3)`` or a tensor into a model-ready ``(1, C, T, H, W)``.

    Returns the tensor and the :class:`vidxai.io.ClipGeometry` (None for tensors, which are used as is).
    ``clip_options`` go to :func:`vidxai.io.load_clip` (``clip="centre"``, ``start=...``, ``pad=...``).
    """
    x, geometry, _ = _prepare(model, clip, **clip_options)
    return x, geometry


def _prepare(model: VideoModel, clip: ClipLike, /, **clip_options) -> tuple[torch.Tensor, Any, np.ndarray | None]:
    """:func:`prepare_input` plus the uint8 frames the clip came from (None for tensors), for drawing."""
    if isinstance(clip, (str, os.PathLike)):
        import inspect

        from .io import load_clip

        options = [p for p in inspect.signature(load_clip).parameters if p not in ("path", "spec")]
        unknown = sorted(set(clip_options) - set(options))
        if unknown:
            raise InputError(f"unknown clip option(s) {', '.join(unknown)}; choose from {', '.join(options)}")
        prepared = load_clip(clip, model.spec, **clip_options)
        return prepared.tensor.unsqueeze(0), prepared.geometry, prepared.frames
    if isinstance(clip, torch.Tensor) and clip.dtype != torch.uint8:
        x = clip if clip.ndim == 5 else clip.unsqueeze(0)
        return model.check_input(x), None, None
    frames = clip.cpu().numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ShapeError(f"expected uint8 frames of shape (T, H, W, 3), got {frames.dtype} {tuple(frames.shape)}")
    from .io import preprocess

    tensor, geometry = preprocess(frames, model.spec)
    return tensor.unsqueeze(0), geometry, frames


def explain(model: VideoModel | nn.Module | str, clip: ClipLike, method: str | None = None, target=None,
            topk: int = 5, device: str | torch.device | None = None, clip_options: dict | None = None,
            **params) -> Explanation:
    """Explain one clip.

    Args:
        model: a :class:`VideoModel`, a registry name, or any ``nn.Module`` taking ``(B, C, T, H, W)``.
        clip: a video path, uint8 frames ``(T, H, W, 3)``, or a normalised tensor ``(C, T, H, W)``.
        method: a registered method name (see ``vidxai.methods.list()``); default SWAG-V I+G.
        target: None (top-1), a class index or a class name.
        topk: how many top predictions to record.
        clip_options: how to sample a clip from a video (see :func:`vidxai.io.load_clip`).
        **params: method parameters.

    Returns:
        An :class:`Explanation` with the saliency at model-input resolution; for a video path or frames it
        also holds the source frames (``exp.frames``, display only), so ``exp.to_video(path)`` and the
        notebook view draw on them.

    Example::

        exp = vidxai.explain("synthetic-tiny", "clip.mp4", method="gradcam")
        exp.to_video("gradcam.mp4")   # the heat on the clip's own frames
        exp                           # in a notebook: an inline animation with a colour bar
    """
    model = as_model(model, device)
    x, geometry, frames = _prepare(model, clip, **(clip_options or {}))
    if x.shape[0] != 1:
        raise ShapeError(f"explain() takes one clip, got a batch of {x.shape[0]}; use explain_batch()")
    exp = explain_batch(model, x, method=method, target=target, topk=topk, geometries=[geometry], **params)[0]
    exp.frames = frames
    return exp


def explain_batch(model: VideoModel | nn.Module | str, clips: torch.Tensor, method: str | None = None,
                  target=None, topk: int = 5, geometries: Sequence[Any] | None = None,
                  **params) -> list[Explanation]:
    """Explain a batch ``(B, C, T, H, W)`` of model-ready clips with one method call.

    ``target`` is None, one index/name for all clips, or one per clip. Method extras that are tensors with a
    batch dimension or lists with one entry per clip are split per clip into each ``Explanation.metadata``.

    Example::

        clips = torch.stack([load_clip(p, model.spec).tensor for p in paths])   # (B, 3, T, H, W)
        exps = vidxai.explain_batch(model, clips, method="gradcam", target=labels)
        exps[0].saliency.shape, exps[0].target_name
    """
    model = as_model(model)
    method = method or _methods.default_method()
    cls = _methods.get(method)
    _check_topk(topk)
    x = model.check_input(clips).to(model.device)
    start = time.perf_counter()
    try:
        result = cls(model).attribute(x, target=target, **params)
    except RuntimeError as e:
        _check_runs(model, x, e)
        raise
    if model.device.type == "cuda":
        torch.cuda.synchronize(model.device)
    elapsed = time.perf_counter() - start
    logits = result.logits
    if logits is None:
        from .core.runtime import model_state

        with torch.no_grad(), model_state(model):
            logits = model(x)
    logits = logits.detach().float()
    targets = model.resolve_targets(target, logits)
    probs = logits.softmax(dim=1)
    k = min(topk, model.num_classes)
    top_p, top_i = probs.topk(k, dim=1)
    out = []
    for b in range(x.shape[0]):
        t = int(targets[b])
        extras = {key: (val[b].detach().cpu() if isinstance(val, torch.Tensor) and val.ndim and val.shape[0] == x.shape[0]
                        else val[b] if isinstance(val, list) and len(val) == x.shape[0]  # a per-clip list
                        else val) for key, val in result.extras.items()}
        out.append(Explanation(
            saliency=result.saliency[b].detach().float().cpu(),
            raw=None if result.raw is None else result.raw[b].detach().float().cpu(),
            segmentation=None if result.segmentation is None else result.segmentation[b].detach().cpu(),
            method=method, target=t, target_name=model.class_names[t], score=float(logits[b, t]),
            probability=float(probs[b, t]), params=dict(params), timing=elapsed / x.shape[0], model=model.name,
            geometry=None if geometries is None else geometries[b],
            topk=[(int(i), model.class_names[int(i)], float(p)) for p, i in zip(top_p[b], top_i[b])],
            metadata=extras,
        ))
    return out


def _check_topk(topk) -> None:
    if isinstance(topk, bool) or not isinstance(topk, (int, np.integer)) or topk < 1:
        raise InputError(f"topk must be a whole number >= 1, got {topk!r}")


def _check_runs(model: VideoModel, x: torch.Tensor, error: RuntimeError) -> None:
    """After a method failed: when the model cannot even run on ``x`` (clip too small for its kernels, wrong dtype...),
    say so in one line; otherwise the method's error stands."""
    if isinstance(error, torch.cuda.OutOfMemoryError):
        return
    from .core.runtime import model_state

    try:
        with torch.no_grad(), model_state(model):
            model(x.to(next(model.parameters()).dtype))
    except RuntimeError as e:
        reason = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ShapeError(f"{model.name} cannot run on clips of shape {tuple(x.shape)}: {reason}") from None


@torch.no_grad()
def predict(model: VideoModel | nn.Module | str, clip: ClipLike, topk: int = 5,
            clip_options: dict | None = None) -> list[tuple[int, str, float]]:
    """Top-k ``(index, name, probability)`` predictions for one clip.

    Example::

        vidxai.predict("i3d", "clip.mp4", topk=3)
        # [(6, 'archery', 0.98), (...), (...)]
    """
    from .core.runtime import model_state

    model = as_model(model)
    _check_topk(topk)
    x, _ = prepare_input(model, clip, **(clip_options or {}))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    with model_state(model):
        probs = model(x.to(model.device, dtype=dtype)).float().softmax(1)[0]
    p, i = probs.topk(min(topk, model.num_classes))
    return [(int(a), model.class_names[int(a)], float(b)) for b, a in zip(p, i)]
