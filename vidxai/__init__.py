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

# Everything below is imported on first use (PEP 562): `import vidxai` and `vidxai --help` stay fast
# because torch is only imported when a model, a method or the pipeline is actually touched.
_LAZY = {
    "explain": "api", "explain_batch": "api", "predict": "api",
    "Explanation": "explanation", "VidxaiError": "errors",
    "InputSpec": "models.base", "VideoModel": "models.base", "wrap": "models.wrap",
    "explain_video": "pipeline", "ExplainOptions": "pipeline", "ExplainResult": "result",
}
_SUBMODULES = ("errors", "methods", "models", "pipeline", "render", "metrics", "attribution", "io", "data",
               "supervoxels", "core", "api", "result", "explanation")

__all__ = ["explain", "explain_batch", "predict", "Explanation", "InputSpec", "VideoModel", "wrap", "errors",
           "VidxaiError", "methods", "models", "__version__", "pipeline", "explain_video", "ExplainOptions",
           "ExplainResult"]


def __getattr__(name: str):
    """Import a submodule, or the module holding a public name, on first use."""
    import importlib

    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))
