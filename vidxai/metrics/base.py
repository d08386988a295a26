"""The streaming-accumulator base shared by every metric.

Each metric in :mod:`vidxai.metrics` is a plain function that scores a batch, plus a :class:`Metric`
subclass that accumulates those scores over a dataset::

    acc = PointingGame()
    for saliency, boxes, labels in loader:
        acc.update(saliency, boxes, labels=labels)
    acc.summary()    # {"pointing_game": 0.62, "n": 1234, ...}

``higher_is_better`` says which way the primary score (``summary()[acc.name]``) goes; ``directions``
gives the direction of every score the summary reports, so a runner can rank methods on any of them.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch

from ..errors import ShapeError


class Metric:
    """Base class of the accumulators: ``update()`` a batch at a time, ``summary()`` at the end."""

    #: key of the primary score in :meth:`summary`
    name: ClassVar[str] = ""
    #: direction of the primary score
    higher_is_better: ClassVar[bool] = True
    #: direction of every score reported by :meth:`summary` (keys not listed are counts or settings)
    directions: ClassVar[dict[str, bool]] = {}

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything accumulated so far."""
        self._values: dict[str, list[torch.Tensor]] = {}

    def _add(self, **values: torch.Tensor) -> None:
        for key, v in values.items():
            t = torch.as_tensor(v).detach().float().cpu()
            self._values.setdefault(key, []).append(t.reshape(1) if t.ndim == 0 else t)

    def values(self, key: str) -> torch.Tensor:
        """Every per-item value accumulated under ``key``, concatenated along dim 0."""
        chunks = self._values.get(key, [])
        return torch.cat(chunks) if chunks else torch.empty(0)

    def update(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        raise NotImplementedError

    def summary(self) -> dict[str, Any]:
        raise NotImplementedError

    def __repr__(self) -> str:
        n = len(self.values(next(iter(self._values)))) if self._values else 0
        return f"{type(self).__name__}(n={n})"


def nanmean(x: torch.Tensor) -> float:
    """Mean of the finite-or-not-NaN entries as a Python float (NaN when there are none)."""
    x = x.reshape(-1)
    x = x[~torch.isnan(x)]
    return float(x.mean()) if x.numel() else float("nan")


def as_batch(saliency: torch.Tensor, ndim: int = 4, what: str = "saliency") -> tuple[torch.Tensor, bool]:
    """Accept ``(T, H, W)`` or ``(B, T, H, W)`` (``ndim`` = batched rank); return the batched tensor and
    whether a batch axis was added (so results can be squeezed back)."""
    if not isinstance(saliency, torch.Tensor):
        saliency = torch.as_tensor(saliency)
    if saliency.ndim == ndim - 1:
        return saliency.unsqueeze(0), True
    if saliency.ndim != ndim:
        raise ShapeError(f"expected {what} of shape {'(T, H, W) or (B, T, H, W)' if ndim == 4 else f'{ndim - 1}-D or {ndim}-D'}, "
                         f"got {tuple(saliency.shape)}")
    return saliency, False
