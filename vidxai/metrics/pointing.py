"""Pointing games: does the saliency peak land on the ground truth, and how much mass falls inside it.

- :func:`pointing_game` (Zhang et al., "Top-down neural attention by excitation backprop"): the maximum of
  each frame's saliency is a *hit* when it lies inside the ground-truth region or within ``tolerance``
  pixels of it (TorchRay uses 15 px at 224 px; ``tolerance="auto"`` scales that to the frame:
  ``int(15 * min(H, W) / 224)``, i.e. 7 px at 112). Frames without ground truth (a NaN box, an empty mask,
  or a box wholly outside the cropped frame) are skipped, not counted as misses. ``per="frame"`` scores each clip by the fraction of its annotated frames hit; ``per="clip"``
  uses the single maximum of the whole volume (a hit when it is on the ground truth of its frame).
  Ties: piecewise-constant maps (SWAG-V supervoxels, LIME, KernelSHAP, feature occlusion) have plateaus of
  equal maxima. The peak is a seeded, uniformly random voxel among the maxima (``ties="random"``, the
  default; ``seed`` makes it reproducible); ``ties="plateau"`` scores the expected hit of that choice (the
  fraction of the maxima that are hits) and ``ties="first"`` keeps the old first-in-raster-order rule, which
  favours the top-left of a plateau (the same maps of 4 synthetic clips: SWAG-V G 0.45 with it, 0.61 with
  random ties; LIME, KernelSHAP and feature occlusion 0.75 -> 0.83).
- :func:`energy_pointing` (Score-CAM's energy-based pointing game): the fraction of the (non-negative)
  saliency mass of the annotated frames that lies inside the ground truth.

Ground truth is either boolean masks ``(B, T, H, W)`` or ``xyxy`` boxes ``(B, T, 4)`` (NaN = no box), in
the saliency's pixels; a pixel belongs to a box when its centre does (see :mod:`vidxai.metrics.boxes`).
"""
from __future__ import annotations

from typing import Any

import torch

from ..errors import InputError, ShapeError
from .base import Metric, as_batch
from .boxes import boxes_to_masks


def default_tolerance(size) -> int:
    """The pointing-game tolerance for frames of ``size = (H, W)``: 15 px at 224, scaled (7 at 112)."""
    return int(15 * min(size) / 224)


def _as_masks(gt: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """Masks ``(B, T, H, W)`` from masks or boxes, matching a saliency batch of ``shape``."""
    gt = torch.as_tensor(gt)
    b, t, h, w = shape
    is_boxes = gt.dtype != torch.bool and gt.ndim in (2, 3) and gt.shape[-1] == 4 \
        and tuple(gt.shape[:-1]) in ((t,), (b, t))  # boolean tensors are always masks
    if is_boxes:
        boxes = gt.float()
        if boxes.ndim == 2:
            boxes = boxes.unsqueeze(0)
        if boxes.shape != (b, t, 4):
            raise ShapeError(f"expected boxes of shape {(b, t, 4)}, got {tuple(gt.shape)}")
        return boxes_to_masks(boxes, (h, w))
    if gt.ndim == 3:
        gt = gt.unsqueeze(0)
    if tuple(gt.shape) != (b, t, h, w):
        raise ShapeError(f"expected ground-truth masks {(b, t, h, w)} or boxes {(b, t, 4)}, got {tuple(gt.shape)}")
    return gt.bool()


def _tolerance(tolerance, size) -> float:
    if tolerance == "auto":
        return float(default_tolerance(size))
    if tolerance is None:
        return 0.0
    tol = float(tolerance)
    if tol < 0:
        raise InputError(f"tolerance must be >= 0 pixels, got {tolerance}")
    return tol


def _hits_at(peaks_r: torch.Tensor, peaks_c: torch.Tensor, masks: torch.Tensor, tol: float) -> torch.Tensor:
    """Whether a ground-truth pixel lies within ``tol`` px of each peak: masks ``(F, H, W)``, peaks ``(F,)``."""
    h, w = masks.shape[-2:]
    rr = torch.arange(h, device=masks.device).view(1, -1, 1)
    cc = torch.arange(w, device=masks.device).view(1, 1, -1)
    d2 = (rr - peaks_r.view(-1, 1, 1)) ** 2 + (cc - peaks_c.view(-1, 1, 1)) ** 2
    return (masks & (d2 <= tol * tol)).flatten(1).any(1)


TIES = ("random", "plateau", "first")


def _near_truth(masks: torch.Tensor, tol: float) -> torch.Tensor:
    """Pixels within ``tol`` px of a ground-truth pixel: ``masks (F, H, W)`` dilated by a disk (one conv2d)."""
    r = int(tol)
    if r < 1:
        return masks
    off = torch.arange(-r, r + 1, device=masks.device, dtype=torch.float32)
    disk = ((off.view(-1, 1) ** 2 + off.view(1, -1) ** 2) <= tol * tol).float()
    grown = torch.nn.functional.conv2d(masks.float().unsqueeze(1), disk.view(1, 1, 2 * r + 1, 2 * r + 1), padding=r)
    return grown.squeeze(1) > 0.5


def _tie_keys(shape: tuple[int, ...], seed: int, device: torch.device) -> torch.Tensor:
    """Seeded uniform keys ``(T, H, W)`` that rank tied maxima (drawn on the CPU: the same on every device)."""
    gen = torch.Generator().manual_seed(int(seed))
    return torch.rand(shape[1:], generator=gen).to(device)


def _peaks(saliency: torch.Tensor, dims: int, ties: str, seed: int) -> torch.Tensor:
    """Flat index of the peak over the last ``dims`` dimensions of ``(B, T, H, W)`` (``ties``: random/first)."""
    flat = saliency.flatten(-dims)
    if ties == "first":
        return flat.argmax(-1)
    keys = _tie_keys(tuple(saliency.shape), seed, saliency.device).expand_as(saliency).flatten(-dims)
    is_max = flat == flat.amax(-1, keepdim=True)
    return torch.where(is_max, keys, torch.full_like(keys, -1.0)).argmax(-1)


def _plateau_hits(saliency: torch.Tensor, near: torch.Tensor, annotated: torch.Tensor, per: str) -> torch.Tensor:
    """Expected hit of a uniformly random maximum: the fraction of the maxima near the ground truth.

    ``per="frame"``: ``(B, T)`` per frame; ``per="clip"``: ``(B,)`` over the maxima of the volume that lie in
    annotated frames (NaN when none does).
    """
    b, t = saliency.shape[:2]
    if per == "frame":
        flat = saliency.flatten(2)
        is_max = flat == flat.amax(2, keepdim=True)
        return (is_max & near.flatten(2)).sum(2) / is_max.sum(2).clamp_min(1)
    flat = saliency.flatten(1)
    is_max = (flat == flat.amax(1, keepdim=True)) & annotated.view(b, t, 1).expand(b, t, flat.shape[1] // t).flatten(1)
    n = is_max.sum(1)
    frac = (is_max & near.flatten(1)).sum(1) / n.clamp_min(1)
    return torch.where(n > 0, frac, torch.full_like(frac, float("nan")))


def pointing_game(saliency: torch.Tensor, masks_or_boxes: torch.Tensor, tolerance: float | str = 0,
                  per: str = "frame", ties: str = "random", seed: int = 0) -> torch.Tensor:
    """Pointing-game hits ``(B,)`` (float; NaN for a clip without ground truth).

    Args:
        saliency: ``(B, T, H, W)`` maps (or one ``(T, H, W)``).
        masks_or_boxes: boolean masks ``(B, T, H, W)`` or ``xyxy`` boxes ``(B, T, 4)`` (NaN = none).
        tolerance: radius in pixels around the peak (``"auto"``: 15 px at 224, scaled).
        per: ``"frame"`` (fraction of annotated frames hit) or ``"clip"`` (1/0 for the volume's maximum).
        ties: how a peak is chosen among tied maxima (piecewise-constant maps such as SWAG-V's, LIME's or
            KernelSHAP's have plateaus of them): ``"random"`` (default) a seeded, uniformly random maximum;
            ``"plateau"`` the expected hit of that random choice, i.e. the fraction of the maxima that are
            hits (deterministic, fractional); ``"first"`` the first maximum in raster order (the old rule,
            biased towards the top-left of a plateau).
        seed: seed of the ``"random"`` tie-break. The keys are drawn once per call for a ``(T, H, W)``
            volume and shared by the clips of the batch, so a clip's peak depends on the seed and its own
            map only (not on its position in the batch or the device).

    Raises:
        InputError: an unknown ``per`` or ``ties``, or a negative tolerance.
    """
    if ties not in TIES:
        raise InputError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
    if per not in ("frame", "clip"):
        raise InputError(f"per must be 'frame' or 'clip', got {per!r}")
    saliency, squeeze = as_batch(torch.as_tensor(saliency))
    b, t, h, w = saliency.shape
    masks = _as_masks(masks_or_boxes, (b, t, h, w)).to(saliency.device)
    tol = _tolerance(tolerance, (h, w))
    annotated = masks.flatten(2).any(2)  # (B, T)
    nan = float("nan")
    if per == "frame":
        if ties == "plateau":
            hit = _plateau_hits(saliency, _near_truth(masks.view(-1, h, w), tol).view(b, t, h, w), annotated, per)
        else:
            peak = _peaks(saliency, 2, ties, seed).view(-1)  # (B*T,)
            hit = _hits_at(peak // w, peak % w, masks.view(-1, h, w), tol).view(b, t)
        hit = torch.where(annotated, hit.float(), torch.full_like(hit, nan, dtype=torch.float32))
        n = annotated.sum(1)
        out = torch.where(n > 0, torch.nan_to_num(hit, nan=0.0).sum(1) / n.clamp_min(1),
                          torch.full((b,), nan, device=hit.device))
    elif ties == "plateau":
        out = _plateau_hits(saliency, _near_truth(masks.view(-1, h, w), tol).view(b, t, h, w), annotated, per).float()
    else:
        peak = _peaks(saliency, 3, ties, seed)
        f, rc = peak // (h * w), peak % (h * w)
        rows = torch.arange(b, device=masks.device)
        hit = _hits_at(rc // w, rc % w, masks[rows, f], tol).float()
        out = torch.where(annotated[rows, f], hit, torch.full_like(hit, nan))
    return out[0] if squeeze else out


def energy_pointing(saliency: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """Fraction of saliency mass inside the ground truth ``(B,)`` over the annotated frames.

    Negative saliency is clipped to 0 (mass is non-negative); NaN for a clip without ground truth or
    without mass in its annotated frames. ``masks`` may also be ``xyxy`` boxes ``(B, T, 4)``.
    """
    saliency, squeeze = as_batch(torch.as_tensor(saliency))
    m = _as_masks(masks, tuple(saliency.shape)).to(saliency.device)
    mass = saliency.float().clamp_min(0)
    annotated = m.flatten(2).any(2)  # (B, T)
    total = (mass.flatten(2).sum(2) * annotated).sum(1)
    inside = (mass * m).flatten(1).sum(1)
    out = torch.where(total > 0, inside / total.clamp_min(1e-30), torch.full_like(total, float("nan")))
    return out[0] if squeeze else out


class PointingGame(Metric):
    """Pointing-game accuracy over a dataset, overall and as the mean of per-class accuracies.

    ``update(saliency, masks_or_boxes, labels=None)`` scores a batch with :func:`pointing_game` and
    :func:`energy_pointing`; clips without ground truth are left out. Primary score: ``"pointing_game"``
    (mean hit rate over clips; higher is better). ``"pointing_game_class_mean"`` averages per-class rates
    (TorchRay's protocol) when labels are given. ``ties`` and ``seed`` are those of :func:`pointing_game`.
    """

    name = "pointing_game"
    higher_is_better = True
    directions = {"pointing_game": True, "pointing_game_class_mean": True, "energy_pointing": True}

    def __init__(self, tolerance: float | str = 0, per: str = "frame", ties: str = "random", seed: int = 0) -> None:
        if ties not in TIES:
            raise InputError(f"ties must be one of {', '.join(TIES)}, got {ties!r}")
        self.tolerance = tolerance
        self.per = per
        self.ties = ties
        self.seed = int(seed)
        super().__init__()

    def update(self, saliency: torch.Tensor, masks_or_boxes: torch.Tensor, labels=None) -> torch.Tensor:
        hits = pointing_game(saliency, masks_or_boxes, self.tolerance, self.per, self.ties, self.seed).reshape(-1)
        energy = energy_pointing(saliency, masks_or_boxes).reshape(-1)
        lab = torch.full_like(hits, -1) if labels is None else torch.as_tensor(labels, dtype=torch.float32).reshape(-1)
        self._add(hit=hits, energy=energy, label=lab)
        return hits

    def summary(self) -> dict[str, Any]:
        hits, energy, labels = self.values("hit"), self.values("energy"), self.values("label")
        ok = ~torch.isnan(hits)
        out: dict[str, Any] = {"n": int(ok.sum()), "n_without_ground_truth": int((~ok).sum()),
                               "tolerance": self.tolerance, "per": self.per,
                               "ties": self.ties, "seed": self.seed}
        out["pointing_game"] = float(hits[ok].mean()) if ok.any() else float("nan")
        e = energy[~torch.isnan(energy)]
        out["energy_pointing"] = float(e.mean()) if e.numel() else float("nan")
        per_class = {int(c): float(hits[ok & (labels == c)].mean()) for c in labels[ok].unique().tolist() if c >= 0}
        if per_class:
            out["per_class"] = per_class
            out["pointing_game_class_mean"] = sum(per_class.values()) / len(per_class)
        return out
