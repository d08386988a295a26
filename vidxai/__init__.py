"""vidxai: explain what video action-recognition networks look at, and measure how good the explanations are.

Quick use::

    import vidxai
    model = vidxai.models.load("synthetic-tiny")
    exp = vidxai.explain(model, "clip.mp4", method="swagv-ig")
    exp.saliency  # (T, H, W) at model-input resolution
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
           "methods", "models", "__version__"]
