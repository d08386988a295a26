"""Deletion/insertion curve plots (matplotlib, Agg canvas: no display and no pyplot global state)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .colormaps import to_numpy


def _curves(result: Any) -> dict[str, np.ndarray]:
    """Fractions, mean deletion/insertion curves and mean AUCs from a CurveResult-like object or dict."""
    get = (lambda k: result[k]) if isinstance(result, Mapping) else (lambda k: getattr(result, k))
    out = {k: to_numpy(get(k)) for k in ("fractions", "deletion", "insertion")}
    for k in ("deletion", "insertion"):
        if out[k].ndim == 2:  # (B, S+1): plot the mean over the batch
            out[k] = out[k].mean(axis=0)
    for k in ("deletion_auc", "insertion_auc"):
        try:
            out[k] = float(np.mean(to_numpy(get(k))))
        except (KeyError, AttributeError):
            out[k] = float(np.trapezoid(out[k.split("_")[0]], out["fractions"]))
    return out


def plot_curves(curve_result: Any, path: str | os.PathLike, title: str | None = None,
                dpi: int = 100) -> Path:
    """Plot deletion and insertion curves to a PNG at ``path``.

    Args:
        curve_result: a :class:`vidxai.metrics.CurveResult` (or a dict with the same fields), or a mapping
            ``{label: CurveResult}`` to draw several methods in the same two panels.
        path: output file (PNG; other suffixes matplotlib knows also work).
        title: figure title.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if isinstance(curve_result, Mapping) and "fractions" not in curve_result:
        series = {str(k): _curves(v) for k, v in curve_result.items()}
    else:
        series = {"": _curves(curve_result)}
    fig = Figure(figsize=(10, 4), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, kind, note in ((axes[0], "deletion", "lower is better"), (axes[1], "insertion", "higher is better")):
        for label, c in series.items():
            name = f"{label} " if label else ""
            ax.plot(c["fractions"], c[kind], marker=".", label=f"{name}AUC={c[kind + '_auc']:.3f}")
        ax.set_title(f"{kind.capitalize()} ({note})")
        ax.set_xlabel("fraction of pixels " + ("removed" if kind == "deletion" else "inserted"))
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper right" if kind == "deletion" else "lower right")
    axes[0].set_ylabel("target class probability")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


def plot_frame_importance(importance: Mapping[str, Any], path: str | os.PathLike, dpi: int = 100) -> Path:
    """Bar-free line plot of per-frame saliency mass ``{label: (T,)}`` (where in time each method looks)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 2.5), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for label, v in importance.items():
        v = to_numpy(v)
        ax.plot(np.arange(len(v)), v, marker=".", label=label)
    ax.set_xlabel("frame")
    ax.set_ylabel("saliency share")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return path


__all__ = ["plot_curves", "plot_frame_importance"]
