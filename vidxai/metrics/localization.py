"""Weak localisation against ground-truth boxes (the UCF101-24 protocol after Fong & Vedaldi, "Interpretable
Explanations of Black Boxes by Meaningful Perturbation").

A saliency volume becomes one box per frame by thresholding, with three schemes, each a sweep:

- ``"value"``: normalise the map to [0, 1] (min-max over the clip); keep voxels >= alpha, alpha in
  0:0.05:0.95 (20 thresholds);
- ``"mean"``: keep voxels >= alpha * mu with mu the mean of the map itself (not of a normalised map),
  alpha in 0:0.5:10 (21);
- ``"energy"``: keep the most salient voxels that together hold alpha % of the map's total mass, alpha in
  0:5:95 (20). It is the smallest top set reaching the mass, so alpha = 0 keeps nothing; voxels tied with
  the last kept one are kept too.

Signed maps (LRP, input x gradient with ``reduction="sum"``...): ``mean`` and ``energy`` work on the
positive part ``max(map, 0)``. Negative voxels are evidence against the class, so they hold no mass, do not
lower mu, and never enter a box (at alpha = 0 the ``mean`` scheme keeps the whole frame, as before); a map
with no positive mass gives no box in these two schemes. The ``value`` scheme min-max normalises, so there
the most negative voxel is 0. ``normalize=True`` min-max normalises the map first for every scheme (the
behaviour before the spec was followed: mu and the mass then depend on the map's minimum, e.g. the offset of
an all-positive map); ``normalize=False`` normalises for no scheme (the ``value`` thresholds are then in
the map's units).

Thresholds are computed over the whole clip (the map is normalised per clip, not per frame). The box of a
frame is the tight box of its kept pixels (or of their largest 8-connected component with
``largest_component=True``); a frame with no kept pixel has no box (IoU 0). IoU is computed per frame with
the ground-truth box, frames without ground truth (NaN box) are skipped, and the clip's score is the mean
over its frames. A clip is correct when that mean is strictly greater than 0.5 (exactly 0.5 is wrong);
localisation error = 100 % - accuracy. :class:`Localization` picks the best threshold on a calibration
subset and reports the error on the rest.

Everything is vectorised over thresholds, frames and clips: a row of a frame holds a kept pixel exactly
when its maximum reaches the threshold, so boxes come from row/column maxima without building masks.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..core.checks import check_choice
from ..core.tensor import minmax_per_clip
from ..errors import InputError, ShapeError
from .base import Metric, as_batch
from .boxes import boxes_from_any, box_iou, masks_to_boxes

#: the threshold sweeps of the UCF101-24 protocol (value: fraction of the normalised map; mean: multiple of the
#: mean; energy: percent of the total mass)
THRESHOLDS: dict[str, torch.Tensor] = {
    "value": torch.arange(20, dtype=torch.float64).mul(0.05).float(),
    "mean": torch.arange(21, dtype=torch.float64).mul(0.5).float(),
    "energy": torch.arange(20, dtype=torch.float64).mul(5.0).float(),
}
SCHEMES = tuple(THRESHOLDS)


def normalize_volume(saliency: torch.Tensor) -> torch.Tensor:
    """Min-max normalise each clip's map ``(B, T, H, W)`` to [0, 1] over the whole volume (constant -> 0)."""
    return minmax_per_clip(saliency.float())


def _thresholds(scheme: str, thresholds) -> torch.Tensor:
    check_choice(scheme, SCHEMES, hint="threshold scheme")
    th = THRESHOLDS[scheme] if thresholds is None else torch.as_tensor(thresholds, dtype=torch.float32).reshape(-1)
    if th.numel() == 0:
        raise InputError("thresholds must not be empty")
    return th


def _scheme_map(saliency: torch.Tensor, scheme: str, normalize: bool | None) -> torch.Tensor:
    """The map a scheme thresholds: min-max normalised (``value`` by default, every scheme with
    ``normalize=True``) or as given (``mean``/``energy`` by default), as float."""
    if normalize is None:
        normalize = scheme == "value"
    return normalize_volume(saliency) if normalize else saliency.float()


def value_thresholds(saliency: torch.Tensor, scheme: str = "value", thresholds=None,
                     normalize: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-clip value cut-offs of a threshold sweep.

    Args:
        saliency: ``(B, T, H, W)`` maps (or one ``(T, H, W)``).
        scheme: ``"value"``, ``"mean"`` or ``"energy"`` (see the module docstring).
        thresholds: the sweep; default ``THRESHOLDS[scheme]``.
        normalize: None (default, the protocol): min-max normalise for ``value`` only; True: for every
            scheme (the old behaviour); False: for none.

    Returns:
        ``(map (B, T, H, W), tau (B, K))``: voxel v of clip b is kept at threshold k when
        ``map[b, v] >= tau[b, k]`` (``+inf`` keeps nothing). ``map`` is the (normalised) saliency for
        ``value`` and its positive part for ``mean`` and ``energy``.
    """
    saliency, _ = as_batch(torch.as_tensor(saliency))
    th = _thresholds(scheme, thresholds).to(saliency.device)
    s = _scheme_map(saliency, scheme, normalize)
    b = s.shape[0]
    if scheme == "value":
        return s, th.view(1, -1).expand(b, -1)
    mass = s.flatten(1).clamp_min(0)  # negative evidence holds no mass
    total = mass.sum(1, keepdim=True)
    inf = torch.tensor(float("inf"), device=s.device)
    if scheme == "mean":
        tau = th.view(1, -1) * total / mass.shape[1]
    else:  # energy: the smallest top set whose mass reaches alpha % of the total
        sorted_desc = mass.sort(dim=1, descending=True).values
        before = sorted_desc.cumsum(1) - sorted_desc  # mass strictly above each position
        goal = th.view(1, -1) / 100.0 * total
        # number kept = positions whose preceding mass is still short of the goal
        kept = torch.searchsorted(before.contiguous(), goal.contiguous(), right=False)
        last = sorted_desc.gather(1, (kept - 1).clamp_min(0))
        tau = torch.where(kept > 0, last, inf)
    tau = torch.where(total > 0, tau, inf)  # no positive mass: no box
    return mass.view(s.shape), tau


def _largest_component_boxes(keep: torch.Tensor) -> torch.Tensor:
    """Tight box of the largest 8-connected component of each frame mask ``(..., H, W)`` (NaN if empty)."""
    from scipy import ndimage

    shape = keep.shape
    frames = keep.reshape(-1, *shape[-2:]).cpu().numpy()
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = True  # connect within a frame only
    labels, count = ndimage.label(frames, structure=structure)
    if count == 0:
        return torch.full((*shape[:-2], 4), float("nan"))
    lab = torch.from_numpy(labels).view(frames.shape[0], -1)
    sizes = torch.bincount(lab.view(-1), minlength=count + 1)
    sizes[0] = 0
    per_pixel = sizes[lab]  # size of the component each pixel belongs to
    best_size = per_pixel.amax(1, keepdim=True)
    # the largest component of a frame; on equal sizes the one with the smallest label (first in raster order)
    cand = torch.where((per_pixel == best_size) & (lab > 0), lab, torch.full_like(lab, count + 1))
    best = cand.amin(1, keepdim=True)
    masks = (lab == best) & (lab > 0)
    return masks_to_boxes(masks.view(frames.shape)).view(*shape[:-2], 4).to(keep.device)


def saliency_boxes(saliency: torch.Tensor, scheme: str = "value", thresholds=None, largest_component: bool = False,
                   normalize: bool | None = None) -> torch.Tensor:
    """One ``xyxy`` box per frame and threshold: ``(B, T, H, W)`` -> ``(B, K, T, 4)`` (NaN = nothing kept)."""
    s, tau = value_thresholds(saliency, scheme, thresholds, normalize)
    if largest_component:
        keep = s.unsqueeze(1) >= tau.view(*tau.shape, 1, 1, 1)
        return _largest_component_boxes(keep)
    rows = s.amax(-1).unsqueeze(1) >= tau.view(*tau.shape, 1, 1)  # (B, K, T, H)
    cols = s.amax(-2).unsqueeze(1) >= tau.view(*tau.shape, 1, 1)  # (B, K, T, W)
    return boxes_from_any(rows, cols)


def frame_ious(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU per frame of predicted boxes ``(..., T, 4)`` with ground truth (broadcast): an empty prediction
    scores 0, a frame without ground truth is NaN (skipped by the clip mean)."""
    iou = box_iou(torch.nan_to_num(pred, nan=0.0), gt)  # an empty prediction is a zero-area box
    return iou


def localization_iou(saliency: torch.Tensor, gt_boxes: torch.Tensor, scheme: str = "value", thresholds=None,
                     largest_component: bool = False, normalize: bool | None = None) -> torch.Tensor:
    """Mean per-frame IoU of the thresholded-saliency boxes with ground truth, ``(B, K)`` (K thresholds).

    Args:
        saliency: ``(B, T, H, W)`` maps (or one ``(T, H, W)``).
        gt_boxes: ``(B, T, 4)`` ``xyxy`` boxes in the saliency's pixels, NaN where a frame has none.
        scheme: ``"value"``, ``"mean"`` or ``"energy"`` (see module docstring).
        thresholds: the sweep; default ``THRESHOLDS[scheme]``.
        largest_component: box the largest connected component instead of all kept pixels.
        normalize: None (default, the protocol): min-max normalise each clip's map for ``value`` only, and
            threshold ``mean``/``energy`` on the map itself (its positive part); True: normalise for every
            scheme (the old behaviour); False: for none.

    A clip without any ground-truth frame gets NaN.
    """
    saliency, squeeze = as_batch(torch.as_tensor(saliency))
    gt = torch.as_tensor(gt_boxes, dtype=torch.float32, device=saliency.device)
    if gt.ndim == 2:
        gt = gt.unsqueeze(0)
    if gt.shape != (saliency.shape[0], saliency.shape[1], 4):
        raise ShapeError(f"expected gt_boxes of shape {(saliency.shape[0], saliency.shape[1], 4)}, got {tuple(gt.shape)}")
    pred = saliency_boxes(saliency, scheme, thresholds, largest_component, normalize)
    ious = frame_ious(pred, gt.unsqueeze(1))  # (B, K, T)
    valid = ~torch.isnan(ious)
    mean = torch.where(valid, ious, 0).sum(-1) / valid.sum(-1)
    return mean[0] if squeeze else mean


def localization_accuracy(mean_iou: torch.Tensor, iou_threshold: float = 0.5) -> torch.Tensor:
    """Fraction of clips (rows of ``(M, K)`` mean IoUs) that are correct per threshold; clips with NaN are left out.

    Correct means a mean IoU strictly greater than ``iou_threshold`` (0.5: exactly one half is wrong).
    """
    valid = ~torch.isnan(mean_iou)
    correct = (torch.nan_to_num(mean_iou, nan=-1.0) > iou_threshold).float()
    return correct.sum(0) / valid.sum(0).clamp_min(1)


class Localization(Metric):
    """Localisation error (%) with the threshold chosen on a calibration subset.

    ``update(saliency, gt_boxes, calibration=None, labels=None)`` stores each clip's mean IoU at every
    threshold. Clips are marked calibration by ``calibration`` (a bool or a ``(B,)`` bool per clip);
    unmarked clips are split at :meth:`summary` time: a seeded random ``calibration`` fraction (or count)
    of them is used for calibration. The summary's primary score ``"error"`` is the held-out error at the
    threshold with the best calibration accuracy (ties: higher mean calibration IoU, then the first).
    """

    name = "error"
    higher_is_better = False
    directions = {"error": False, "error_heldout": False, "error_calibration": False, "error_all": False,
                  "error_oracle": False, "mean_iou": True}

    def __init__(self, scheme: str = "value", thresholds=None, calibration: float | int = 0.2,
                 iou_threshold: float = 0.5, seed: int = 0, largest_component: bool = False,
                 normalize: bool | None = None) -> None:
        self.scheme = scheme
        self.thresholds = _thresholds(scheme, thresholds)
        self.calibration = calibration
        self.iou_threshold = float(iou_threshold)
        self.seed = int(seed)
        self.largest_component = largest_component
        self.normalize = normalize
        super().__init__()

    def update(self, saliency: torch.Tensor, gt_boxes: torch.Tensor, calibration=None, labels=None) -> torch.Tensor:
        ious = localization_iou(saliency, gt_boxes, self.scheme, self.thresholds, self.largest_component, self.normalize)
        return self.update_ious(ious, calibration, labels)

    def update_ious(self, ious: torch.Tensor, calibration=None, labels=None) -> torch.Tensor:
        """Add precomputed mean IoUs ``(B, n_thresholds)`` (e.g. read back from a runner cache)."""
        ious = torch.as_tensor(ious, dtype=torch.float32)
        if ious.ndim == 1:
            ious = ious.unsqueeze(0)
        b = ious.shape[0]
        flag = torch.full((b,), -1.0) if calibration is None else \
            torch.as_tensor(calibration, dtype=torch.float32).reshape(-1).expand(b).clone()
        lab = torch.full((b,), -1.0) if labels is None else torch.as_tensor(labels, dtype=torch.float32).reshape(-1)
        self._add(iou=ious, calibration=flag, label=lab)
        return ious

    def split(self) -> torch.Tensor:
        """The calibration mask over every clip seen so far (explicit flags first, then a seeded split)."""
        flags = self.values("calibration")
        cal = flags == 1
        free = torch.nonzero(flags < 0).view(-1)
        c = self.calibration
        n_cal = int(round(c * free.numel())) if isinstance(c, float) and c < 1 else min(int(c), free.numel())
        if n_cal and free.numel():
            perm = torch.randperm(free.numel(), generator=torch.Generator().manual_seed(self.seed))
            cal[free[perm[:n_cal]]] = True
        return cal

    def summary(self) -> dict[str, Any]:
        ious = self.values("iou")
        th = self.thresholds.tolist()
        out: dict[str, Any] = {"scheme": self.scheme, "thresholds": th, "n": int(ious.shape[0]) if ious.ndim else 0}
        if ious.numel() == 0:
            out.update(error=float("nan"), error_calibration=float("nan"))
            return out
        valid = ~torch.isnan(ious[:, 0])
        cal = self.split() & valid
        held = ~cal & valid
        if not cal.any():  # nothing to calibrate on: choose on every clip (reported as such)
            cal = valid.clone()
            out["calibrated_on"] = "all"
        else:
            out["calibrated_on"] = "calibration subset"
        acc_cal = localization_accuracy(ious[cal], self.iou_threshold)
        miou_cal = torch.nanmean(ious[cal], 0)
        # best accuracy, ties by mean IoU, then the first threshold
        key = acc_cal * 1e6 + torch.nan_to_num(miou_cal, nan=0.0)
        best = int(torch.argmax(key))
        acc_all = localization_accuracy(ious[valid], self.iou_threshold)
        acc_held = localization_accuracy(ious[held], self.iou_threshold) if held.any() else torch.full_like(acc_cal, float("nan"))
        out.update(
            error=float(100 * (1 - acc_held[best])),
            error_heldout=float(100 * (1 - acc_held[best])),
            error_calibration=float(100 * (1 - acc_cal[best])),
            error_all=float(100 * (1 - acc_all[best])),
            error_oracle=float(100 * (1 - acc_all.max())),
            best_threshold=float(th[best]), best_index=best,
            mean_iou=float(torch.nanmean(ious[valid][:, best])),
            n_calibration=int(cal.sum()), n_heldout=int(held.sum()), n_without_boxes=int((~valid).sum()),
            error_per_threshold=(100 * (1 - acc_all)).tolist(),
            error_per_threshold_calibration=(100 * (1 - acc_cal)).tolist(),
            error_per_threshold_heldout=(100 * (1 - acc_held)).tolist(),
            mean_iou_per_threshold=torch.nanmean(ious[valid], 0).tolist(),
        )
        return out
