"""Supervoxel quality against ground-truth segments: boundary recall, under-segmentation error, count.

All functions take batched integer volumes ``(B, T, H, W)`` (or ``(B, H, W)`` images) as torch tensors or
numpy arrays and return one value per clip as a ``(B,)`` float64 tensor.

* Boundary recall (3-D): the fraction of ground-truth boundary voxels that have a segmentation boundary
  voxel within ``tolerance`` pixels in y/x and ``temporal_tolerance`` frames in t (Chebyshev distance).
  A voxel is a boundary voxel when one of its 6 face neighbours has another label. Higher is better.
* Under-segmentation error, the form of Neubert & Protzel (2012) that is not dominated by tiny leaks:
  ``USE = (1/N) * sum_g sum_{s : s & g != 0} min(|s & g|, |s - g|)``. Lower is better. ``kind="classic"``
  gives the Levinshtein/Achanta form ``(sum_g sum_{s & g != 0} |s| - N) / N``.
* Achieved count: the number of distinct labels per clip.
* Adjusted Rand index between two segmentations (Hubert & Arabie 1985; sklearn's ``adjusted_rand_score``):
  1 for the same partition up to label names, about 0 for unrelated ones.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import ShapeError

__all__ = ["boundary_map", "boundary_recall", "undersegmentation_error", "achieved_count", "adjusted_rand_index"]


def _as_volume(labels) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(labels) if not isinstance(labels, torch.Tensor) else labels)
    if t.ndim == 3:  # (B, H, W) images
        t = t.unsqueeze(1)
    if t.ndim != 4:
        raise ShapeError(f"expected labels (B, T, H, W) or (B, H, W), got {tuple(t.shape)}")
    return t.long()


def boundary_map(labels) -> torch.Tensor:
    """Boolean ``(B, T, H, W)``: voxels with a face neighbour (t, y or x) of another label."""
    lab = _as_volume(labels)
    out = torch.zeros(lab.shape, dtype=torch.bool, device=lab.device)
    for dim in (1, 2, 3):
        n = lab.shape[dim]
        if n < 2:
            continue
        diff = lab.narrow(dim, 0, n - 1) != lab.narrow(dim, 1, n - 1)
        out.narrow(dim, 0, n - 1).logical_or_(diff)
        out.narrow(dim, 1, n - 1).logical_or_(diff)
    return out


def boundary_recall(labels, gt, tolerance: int = 2, temporal_tolerance: int = 1) -> torch.Tensor:
    """Fraction of ground-truth boundary voxels near a segmentation boundary, per clip ``(B,)``.

    Clips whose ground truth has no boundary get recall 1.
    """
    seg_b, gt_b = boundary_map(labels), boundary_map(gt)
    if seg_b.shape != gt_b.shape:
        raise ShapeError(f"labels {tuple(seg_b.shape)} and ground truth {tuple(gt_b.shape)} differ in shape")
    tt = temporal_tolerance if seg_b.shape[1] > 1 else 0
    kernel = (2 * tt + 1, 2 * tolerance + 1, 2 * tolerance + 1)
    near = F.max_pool3d(seg_b.unsqueeze(1).float(), kernel, stride=1,
                        padding=(tt, tolerance, tolerance)).squeeze(1) > 0
    hits = (gt_b & near).flatten(1).sum(1).double()
    total = gt_b.flatten(1).sum(1).double()
    return torch.where(total > 0, hits / total.clamp_min(1), torch.ones_like(total))


def _contingency(x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Dense ids of two flat labelings and their float64 contingency table ``(n_x, n_y)`` (voxels per pair)."""
    xi = torch.unique(x, return_inverse=True)[1]
    yi = torch.unique(y, return_inverse=True)[1]
    nx, ny = int(xi.max()) + 1, int(yi.max()) + 1
    return xi, yi, torch.bincount(xi * ny + yi, minlength=nx * ny).view(nx, ny).double()


def undersegmentation_error(labels, gt, kind: str = "np") -> torch.Tensor:
    """Under-segmentation error per clip ``(B,)`` (``kind="np"``: Neubert & Protzel; ``"classic"``)."""
    seg, g = _as_volume(labels), _as_volume(gt)
    if seg.shape != g.shape:
        raise ShapeError(f"labels {tuple(seg.shape)} and ground truth {tuple(g.shape)} differ in shape")
    if kind not in ("np", "classic"):
        raise ShapeError(f"kind must be 'np' or 'classic', got {kind!r}")
    out = []
    for s_c, g_c in zip(seg.flatten(1), g.flatten(1)):
        _, _, joint = _contingency(s_c, g_c)
        size_s = joint.sum(1, keepdim=True)
        n = float(s_c.numel())
        if kind == "np":
            err = torch.minimum(joint, size_s - joint)[joint > 0].sum() / n
        else:
            err = ((size_s.expand_as(joint)[joint > 0]).sum() - n) / n
        out.append(err)
    return torch.stack(out)


def achieved_count(labels) -> torch.Tensor:
    """Number of distinct labels in each clip, ``(B,)``."""
    lab = _as_volume(labels).flatten(1)
    return torch.tensor([float(torch.unique(row).numel()) for row in lab], dtype=torch.float64)


def _comb2(x: torch.Tensor) -> torch.Tensor:
    return x * (x - 1) / 2


def adjusted_rand_index(labels_a, labels_b) -> torch.Tensor:
    """Adjusted Rand index of two segmentations of the same clips, per clip ``(B,)`` float64.

    Same value as ``sklearn.metrics.adjusted_rand_score`` on the flattened labels of each clip (the labels'
    values do not matter, only which voxels share one), computed from the contingency table with torch.

    Args:
        labels_a: ``(B, T, H, W)`` (or ``(B, H, W)``) integer labels, tensor or array.
        labels_b: labels of the same shape.

    Returns:
        ``(B,)`` float64: 1 for identical partitions; 1 also when both are a single segment.

    Example:
        >>> import torch
        >>> a = torch.tensor([[[0, 0, 1, 1]]])
        >>> adjusted_rand_index(a, a + 5).tolist()
        [1.0]
        >>> round(adjusted_rand_index(a, torch.tensor([[[0, 1, 0, 1]]])).item(), 3)
        -0.5
    """
    a, b = _as_volume(labels_a), _as_volume(labels_b)
    if a.shape != b.shape:
        raise ShapeError(f"labels {tuple(a.shape)} and {tuple(b.shape)} differ in shape")
    out = []
    for x, y in zip(a.flatten(1), b.flatten(1)):
        xi, yi, joint = _contingency(x, y)
        nx, ny = joint.shape
        n = float(x.numel())
        sum_joint = _comb2(joint).sum()
        sum_a = _comb2(torch.bincount(xi, minlength=nx).double()).sum()
        sum_b = _comb2(torch.bincount(yi, minlength=ny).double()).sum()
        expected = sum_a * sum_b / (n * (n - 1) / 2) if n > 1 else sum_a.new_tensor(0.0)
        top = (sum_a + sum_b) / 2
        if float(top - expected) == 0.0:  # both trivial (one segment or all singletons): sklearn returns 1
            out.append(sum_a.new_tensor(1.0))
        else:
            out.append((sum_joint - expected) / (top - expected))
    return torch.stack(out)
