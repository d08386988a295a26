"""Temporal localisation: does the explanation's importance over time match the annotated action interval?

The temporal weak-localisation metric that Hartley's thesis on gradient-weighted superpixels names as future work. A clip's **frame importance** is the
(non-negative) saliency mass of each frame. Against the action interval ``[start, end)`` (frame indices
of the clip, end exclusive; UCF101-24 tubes and the synthetic benchmark give them):

- ``mass_in_interval``: fraction of the clip's mass inside the interval (chance: ``(end - start) / T``,
  reported as ``chance_mass``);
- ``peak_hit``: 1 when the most important frame lies inside the interval (first maximum on ties);
- ``tiou``: temporal IoU of the extent the curve selects (from the first to the last frame whose
  min-max-normalised importance is >= ``threshold``) with the interval.

All are higher-is-better.
"""
from __future__ import annotations

from typing import Any

import torch

from ..core.tensor import minmax_per_clip
from ..errors import InputError
from .base import Metric, as_batch


def frame_importance(saliency: torch.Tensor, normalize: bool = False) -> torch.Tensor:
    """Saliency mass per frame ``(B, T)`` (negative values clipped to 0); ``normalize``: sum to 1 per clip."""
    saliency, squeeze = as_batch(torch.as_tensor(saliency))
    imp = saliency.float().clamp_min(0).flatten(2).sum(2)
    if normalize:
        imp = imp / imp.sum(1, keepdim=True).clamp_min(1e-30)
    return imp[0] if squeeze else imp


def _interval(v, b: int, t: int, what: str, device) -> torch.Tensor:
    x = torch.as_tensor(v, dtype=torch.long, device=device).reshape(-1)
    if x.numel() == 1:
        x = x.expand(b)
    if x.numel() != b:
        raise InputError(f"got {x.numel()} values of {what} for a batch of {b} clips")
    return x


def temporal_iou(a_start: torch.Tensor, a_end: torch.Tensor, b_start: torch.Tensor, b_end: torch.Tensor) -> torch.Tensor:
    """IoU of frame intervals ``[start, end)`` (element-wise); 0 when both are empty."""
    inter = (torch.minimum(a_end, b_end) - torch.maximum(a_start, b_start)).clamp_min(0).float()
    union = (a_end - a_start).clamp_min(0) + (b_end - b_start).clamp_min(0) - inter
    return torch.where(union > 0, inter / union.clamp_min(1e-12), torch.zeros_like(inter))


def temporal_localization(saliency: torch.Tensor, start, end, threshold: float = 0.5) -> dict[str, torch.Tensor]:
    """Temporal localisation scores of ``saliency (B, T, H, W)`` against action intervals ``[start, end)``.

    ``start``/``end`` are ints or ``(B,)`` frame indices of the clip. Returns a dict of ``(B,)`` tensors:
    ``mass_in_interval``, ``peak_hit``, ``tiou``, ``chance_mass``, and ``extent_start``/``extent_end`` (the
    selected segment). A clip with no mass gets NaN for ``mass_in_interval`` and ``tiou`` and 0 for ``peak_hit``.
    """
    imp = frame_importance(saliency)
    if imp.ndim == 1:
        imp = imp.unsqueeze(0)
    b, t = imp.shape
    s = _interval(start, b, t, "start", imp.device)
    e = _interval(end, b, t, "end", imp.device)
    if (s < 0).any() or (e > t).any() or (s >= e).any():
        raise InputError(f"action intervals must satisfy 0 <= start < end <= {t}; got start={s.tolist()} end={e.tolist()}")
    frames = torch.arange(t, device=imp.device).view(1, -1)
    inside = (frames >= s.view(-1, 1)) & (frames < e.view(-1, 1))
    total = imp.sum(1)
    has_mass = total > 0
    nan = torch.full_like(total, float("nan"))
    mass_in_interval = torch.where(has_mass, (imp * inside).sum(1) / total.clamp_min(1e-30), nan)
    peak = imp.argmax(1)
    peak_hit = (inside.gather(1, peak.view(-1, 1)).squeeze(1) & has_mass).float()
    norm = minmax_per_clip(imp, eps=1e-30)
    sel = norm >= threshold
    big = t + 1
    ext_s = torch.where(sel, frames, big).amin(1)
    ext_e = torch.where(sel, frames, -1).amax(1) + 1
    tiou = torch.where(has_mass, temporal_iou(ext_s, ext_e, s, e), nan)
    return {"mass_in_interval": mass_in_interval, "peak_hit": peak_hit, "tiou": tiou,
            "chance_mass": (e - s).float() / t, "extent_start": ext_s, "extent_end": ext_e}


class TemporalLocalization(Metric):
    """Dataset means of :func:`temporal_localization` (primary score ``"tiou"``, higher is better)."""

    name = "tiou"
    higher_is_better = True
    directions = {"tiou": True, "mass_in_interval": True, "peak_hit": True}

    def __init__(self, threshold: float = 0.5) -> None:
        self.threshold = threshold
        super().__init__()

    def update(self, saliency: torch.Tensor, start, end) -> dict[str, torch.Tensor]:
        r = temporal_localization(saliency, start, end, self.threshold)
        self._add(**{k: r[k] for k in ("tiou", "mass_in_interval", "peak_hit", "chance_mass")})
        return r

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": int(self.values("tiou").numel()), "threshold": self.threshold}
        for k in ("tiou", "mass_in_interval", "peak_hit", "chance_mass"):
            v = self.values(k)
            v = v[~torch.isnan(v)]
            out[k] = float(v.mean()) if v.numel() else float("nan")
        return out
