"""vidxai: explain what video action-recognition networks look at, and measure how good the explanations are.

Quick use::

    import vidxai
    model = vidxai.models.load("synthetic-tiny")
    exp = vidxai.explain(model, "clip.mp4", method="swagv-ig")
    exp.saliency  # (T, H, W) at model-input resolution

The whole ``vidxai explain`` pipeline (videos, curves, result.json) is :func:`vidxai.explain_video`
(:mod:`vidxai.pipeline`, imported on first use)::

    result = vidxai.explain_video("clip.mp4", "synthetic-tiny", methods=["gradcam"], out="out/")
"""
from __future__ import annotations

__version__ = "0.1.0"

from . import errors, methods, models  # noqa: E402
from .api import explain, explain_batch, predict  # noqa: E402
from .errors import VidxaiError  # noqa: E402
from .explanation import Explanation  # noqa: E402
from .models.base import InputSpec, VideoModel  # noqa: E402
from .models.wrap import wrap  # noqa: E402

__all__ = ["explain", "explain_batch", "predict", "Explanation", "InputSpec", "VideoModel", "wrap", "errors", "VidxaiError",
           "methods", "models", "__version__", "pipeline", "explain_video", "ExplainOptions", "ExplainResult"]

_LAZY = {"explain_video": "pipeline", "ExplainOptions": "pipeline", "ExplainResult": "pipeline"}


def __getattr__(name: str):
    """Import :mod:`vidxai.pipeline` (and what it exposes here) on first use, so ``import vidxai`` stays light."""
    import importlib

    if name == "pipeline":
        return importlib.import_module(".pipeline", __name__)
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
