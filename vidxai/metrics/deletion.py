"""Deletion and insertion (Petsiuk et al., RISE; spatio-temporal as in Hartley's thesis on gradient-weighted superpixels, ch. 4).

Every voxel ``(t, y, x)`` of a clip is ranked by the explanation, most important first (ties broken by a
seeded random order). **Deletion** removes the voxels in ``steps`` equal chunks (all colour channels of a
voxel together) and records the softmax probability of the explained class after each step; **insertion**
starts from the fully removed clip and puts the voxels back in the same order. The score is the area under
each curve (trapezoid rule, x = fraction of voxels removed/inserted in [0, 1]): deletion lower is better,
insertion higher is better, combined = deletion + (1 - insertion), lower is better (the thesis' score).

The thesis setting is 16x112x112 clips, 28 steps of 7,168 voxels, removed voxels set to 0 in the
model's normalised input space (``baseline="zero"``). ``"mean"`` uses each clip's per-channel mean,
``"blur"`` a Gaussian blur of each frame, and a tensor gives the removed clip explicitly.

Modes: ``"voxel"`` ranks single voxels; ``"supervoxel"`` removes whole segments of ``segmentation`` in
order of their mean saliency (a segment is removed in the step where the middle of its share of the
ranking falls, so no segment is split and the x axis is the fraction actually removed); ``"grid"`` does
the same with a coarse regular grid of ``grid`` cells along (T, H, W).

Forwards are batched ``chunk_size`` clips at a time (``"auto"``: fewer for large clips on the CPU, see
:func:`resolve_chunk_size`) and perturbed clips are built per chunk, so memory stays at one chunk whatever
``steps`` is. Each clip needs ``2 * steps`` forwards (the intact and the
fully removed clip are shared by both curves).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.checks import check_choice
from ..core.tensor import blur_frames
from ..errors import InputError, ShapeError, TargetError, UnknownNameError
from ..models.base import resolve_chunk_size
from .base import Metric, as_batch

BASELINES = ("zero", "blur", "mean")
MODES = ("voxel", "supervoxel", "grid")


@dataclass
class CurveResult:
    """Deletion and insertion curves of a batch.

    Attributes:
        fractions: ``(S+1,)`` nominal fraction of voxels removed (deletion) / inserted (insertion) per step.
        deletion: ``(B, S+1)`` softmax probability of the target after each deletion step (step 0 = intact).
        insertion: ``(B, S+1)`` the same for insertion (step 0 = fully removed clip).
        deletion_auc, insertion_auc, combined: ``(B,)`` areas under the curves and deletion + 1 - insertion.
        target: ``(B,)`` the explained class of each clip.
        removed: ``(B, S+1)`` fraction actually removed at each step (differs from ``fractions`` only in
            the segment modes); the AUCs integrate over it.
    """

    fractions: torch.Tensor
    deletion: torch.Tensor
    insertion: torch.Tensor
    deletion_auc: torch.Tensor
    insertion_auc: torch.Tensor
    combined: torch.Tensor
    target: torch.Tensor | None = None
    removed: torch.Tensor | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain lists, for JSON."""
        out: dict[str, Any] = {k: v.tolist() for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        out["settings"] = dict(self.settings)
        return out


def auc(curve: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
    """Trapezoid-rule area under ``curve (..., S+1)`` over ``x`` (default: S+1 evenly spaced points in [0, 1])."""
    curve = torch.as_tensor(curve, dtype=torch.float32)
    if x is None:
        x = torch.linspace(0, 1, curve.shape[-1], dtype=curve.dtype, device=curve.device)
    return torch.trapezoid(curve, torch.as_tensor(x, dtype=curve.dtype, device=curve.device), dim=-1)


# -- rankings -------------------------------------------------------------------------------------------
def _tie_broken_order(scores: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Indices of ``scores (N,)`` from highest to lowest; equal scores in a seeded random order.

    One sort of unique int64 keys (the float's order-preserving bit pattern, then a random priority)
    instead of a stable float sort after a shuffle: several times faster on 200k voxels.
    """
    n = scores.numel()
    if n >= 2 ** 31:
        raise InputError(f"cannot rank {n} voxels (at most 2**31 - 1)")
    priority = torch.randperm(n, generator=generator).to(scores.device)
    bits = (scores.float().reshape(-1) + 0.0).view(torch.int32).long()  # + 0.0 turns -0.0 into +0.0
    mono = torch.where(bits < 0, bits ^ 0x7FFFFFFF, bits)  # ordered like the floats, in [-2**31, 2**31)
    desc = (2 ** 31 - 1) - mono  # high scores first, in [0, 2**32)
    return torch.sort(desc * 2 ** 31 + priority).indices


def voxel_order(saliency: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Voxel indices of each flattened map ``(B, T, H, W)`` -> ``(B, N)``, most important first (ties: seeded random)."""
    saliency, _ = as_batch(saliency)
    flat = saliency.flatten(1).float()
    g = torch.Generator().manual_seed(int(seed))
    return torch.stack([_tie_broken_order(flat[b], g) for b in range(flat.shape[0])])


def voxel_ranks(saliency: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Rank of every voxel, ``(B, T, H, W)`` -> ``(B, N)`` long with 0 = most important (ties: seeded random)."""
    order = voxel_order(saliency, seed)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(order.shape[1], device=order.device).expand_as(order))
    return ranks


def grid_segmentation(shape: Sequence[int], grid: Sequence[int], device=None) -> torch.Tensor:
    """Labels ``(T, H, W)`` of a regular grid of ``grid = (gt, gh, gw)`` cells (cells as equal as possible)."""
    if len(grid) != 3 or any(int(g) < 1 for g in grid):
        raise InputError(f"grid must be three positive cell counts (T, H, W), got {tuple(grid)}")
    idx = [torch.div(torch.arange(n, device=device) * min(int(g), n), n, rounding_mode="floor")
           for n, g in zip(shape, grid)]
    gt, gh, gw = (min(int(g), n) for g, n in zip(grid, shape))
    return (idx[0].view(-1, 1, 1) * gh * gw + idx[1].view(1, -1, 1) * gw + idx[2].view(1, 1, -1)).long()


def segment_schedule(saliency: torch.Tensor, segmentation: torch.Tensor, steps: int,
                     seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Step at which each voxel is removed when whole segments go in order of mean saliency.

    Returns ``(step (B, N) long in 1..steps, removed (B, steps+1) fraction actually removed)``. A segment
    occupies a stretch of the voxel ranking; it is removed at the first step whose nominal voxel count
    reaches the middle of that stretch.
    """
    b, n = saliency.shape[0], saliency[0].numel()
    sal = saliency.flatten(1).float()
    seg = segmentation.flatten(1).long()
    g = torch.Generator().manual_seed(int(seed))
    step = torch.empty(b, n, dtype=torch.long, device=sal.device)
    removed = torch.zeros(b, steps + 1, device=sal.device)
    for i in range(b):
        labels, inv = torch.unique(seg[i], return_inverse=True)
        k = labels.numel()
        size = torch.zeros(k, device=sal.device).index_add_(0, inv, torch.ones(n, device=sal.device))
        mean = torch.zeros(k, device=sal.device).index_add_(0, inv, sal[i]) / size
        order = _tie_broken_order(mean, g)
        end = size[order].cumsum(0)
        mid = end - size[order] / 2
        # smallest step s with s * n / steps >= mid  (mid > 0, so s >= 1)
        seg_step = torch.empty(k, dtype=torch.long, device=sal.device)
        seg_step[order] = torch.ceil(mid * steps / n - 1e-9).long().clamp(1, steps)
        step[i] = seg_step[inv]
        counts = torch.zeros(steps + 1, device=sal.device).index_add_(0, step[i], torch.ones(n, device=sal.device))
        removed[i] = counts.cumsum(0) / n
    return step, removed


# -- baselines ------------------------------------------------------------------------------------------
#: the frame blur of the ``"blur"`` baseline, now :func:`vidxai.core.tensor.blur_frames`; this name is kept
#: for callers that import it from here (the attribution methods).
gaussian_blur = blur_frames


def removed_clip(x: torch.Tensor, baseline: str | torch.Tensor = "zero", blur_sigma: float = 10.0) -> torch.Tensor:
    """The fully removed version of ``x (B, C, T, H, W)`` (in the model's input space)."""
    if isinstance(baseline, torch.Tensor):
        base = baseline.to(x)
        if base.ndim == 4:
            base = base.unsqueeze(0)
        try:
            return base.expand_as(x)
        except RuntimeError:
            raise ShapeError(f"baseline tensor of shape {tuple(baseline.shape)} does not match clips "
                             f"{tuple(x.shape)}") from None
    if not isinstance(baseline, str):
        raise InputError(f"baseline must be one of {', '.join(BASELINES)} or a tensor, got {type(baseline).__name__}")
    if baseline == "zero":
        return torch.zeros_like(x)
    if baseline == "mean":
        return x.mean(dim=(2, 3, 4), keepdim=True).expand_as(x)
    if baseline == "blur":
        return blur_frames(x, blur_sigma)
    raise UnknownNameError(str(baseline), BASELINES, hint="deletion baseline")


# -- the metric -----------------------------------------------------------------------------------------
def _resolve_target(model: nn.Module, target, logits: torch.Tensor) -> torch.Tensor:
    if hasattr(model, "resolve_targets"):
        return model.resolve_targets(target, logits)
    b, k = logits.shape
    if target is None:
        return logits.argmax(1)
    t = torch.as_tensor(target, dtype=torch.long, device=logits.device).reshape(-1)
    if t.numel() == 1:
        t = t.expand(b)
    if t.numel() != b or (t < 0).any() or (t >= k).any():
        raise TargetError(f"targets {t.tolist()} do not fit a batch of {b} clips and {k} classes")
    return t.clone()


def deletion_insertion(
    model: nn.Module,
    x: torch.Tensor,
    saliency: torch.Tensor,
    target=None,
    steps: int = 28,
    baseline: str | torch.Tensor = "zero",
    mode: str = "voxel",
    segmentation: torch.Tensor | None = None,
    chunk_size: int | str = "auto",
    seed: int = 0,
    progress: bool = False,
    grid: Sequence[int] = (4, 8, 8),
    blur_sigma: float = 10.0,
) -> CurveResult:
    """Deletion and insertion curves and AUCs of ``saliency`` for ``model`` on clips ``x``.

    Args:
        model: a :class:`~vidxai.VideoModel` or any module mapping ``(B, C, T, H, W)`` to logits.
        x: ``(B, C, T, H, W)`` (or one ``(C, T, H, W)``) clips in the model's normalised input space.
        saliency: ``(B, T, H, W)`` maps at the clip's resolution (larger = more important).
        target: class per clip (index, name, list); None = the class the model predicts on the intact clip.
        steps: number of removal steps S (curves have S+1 points).
        baseline: value of removed voxels: ``"zero"`` (0 in normalised space), ``"mean"``, ``"blur"`` or a tensor.
        mode: ``"voxel"``, ``"supervoxel"`` (needs ``segmentation (B, T, H, W)``) or ``"grid"``.
        chunk_size: clips per forward pass, or ``"auto"`` (:func:`resolve_chunk_size`: 16 on a GPU, fewer
            for large clips on the CPU). The curves do not depend on it.
        seed: seeds the order of equally salient voxels/segments.
        progress: show a tqdm bar over forward chunks.
        grid: cell counts (T, H, W) of the ``"grid"`` mode.
        blur_sigma: Gaussian sigma in pixels of the ``"blur"`` baseline.
    """
    check_choice(mode, MODES, hint="deletion mode")
    if int(steps) < 1:
        raise InputError(f"steps must be >= 1, got {steps}")
    steps = int(steps)
    if hasattr(model, "check_input"):
        x = model.check_input(x)
    elif x.ndim == 4:
        x = x.unsqueeze(0)
    if x.ndim != 5:
        raise ShapeError(f"expected clips of shape (B, C, T, H, W), got {tuple(x.shape)}")
    device = next((p.device for p in model.parameters()), x.device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x = x.detach().to(device, dtype)
    saliency, _ = as_batch(torch.as_tensor(saliency))
    bsz, _, t, h, w = x.shape
    if tuple(saliency.shape) != (bsz, t, h, w):
        raise ShapeError(f"saliency of shape {tuple(saliency.shape)} does not match clips {tuple(x.shape)} "
                         f"(expected {(bsz, t, h, w)}; upsample maps to the clip first)")
    saliency = saliency.detach().to(device).float()
    if torch.isnan(saliency).any():
        raise InputError("saliency contains NaN")
    order, counts, removed = _removal_schedule(saliency, segmentation, mode, steps, grid, seed)
    jobs, logits = _curve_logits(model, x, order, counts, removed_clip(x, baseline, blur_sigma), steps, chunk_size,
                                 progress, dtype)
    target_t = _resolve_target(model, target, logits[:bsz])
    probs = torch.softmax(logits, dim=1).gather(1, target_t[jobs[:, 0]].view(-1, 1)).squeeze(1)
    deletion = torch.empty(bsz, steps + 1, device=device)
    insertion = torch.empty(bsz, steps + 1, device=device)
    is_del = jobs[:, 1] == 0
    deletion[jobs[is_del, 0], jobs[is_del, 2]] = probs[is_del]
    insertion[jobs[~is_del, 0], jobs[~is_del, 2]] = probs[~is_del]
    insertion[:, 0] = deletion[:, steps]
    insertion[:, steps] = deletion[:, 0]
    del_auc = auc(deletion, removed)
    ins_auc = auc(insertion, removed)
    fractions = torch.linspace(0, 1, steps + 1)
    return CurveResult(fractions, deletion.cpu(), insertion.cpu(), del_auc.cpu(), ins_auc.cpu(),
                       (del_auc + 1 - ins_auc).cpu(), target_t.cpu(), removed.cpu(),
                       dict(steps=steps, baseline=baseline if isinstance(baseline, str) else "tensor", mode=mode,
                            seed=seed, grid=tuple(grid) if mode == "grid" else None,
                            blur_sigma=blur_sigma if isinstance(baseline, str) and baseline == "blur" else None))


def _removal_schedule(saliency: torch.Tensor, segmentation, mode: str, steps: int, grid: Sequence[int],
                      seed: int) -> tuple[torch.Tensor, list[list[int]], torch.Tensor]:
    """``order (B, N)``: voxels in removal order; ``counts``: how many are removed after each step (per clip);
    ``removed (B, S+1)``: the fraction actually removed at each step."""
    bsz, t, h, w = saliency.shape
    n, device = t * h * w, saliency.device
    if mode == "voxel":
        order = voxel_order(saliency, seed)
        counts = torch.div(torch.arange(steps + 1, device=device) * n, steps, rounding_mode="floor")
        counts = counts.expand(bsz, -1)
        return order, counts.tolist(), (counts.float() / n).clone()
    if mode == "grid":
        segmentation = grid_segmentation((t, h, w), grid, device).expand(bsz, -1, -1, -1)
    elif segmentation is None:
        raise InputError("mode='supervoxel' needs a segmentation (B, T, H, W) of integer labels")
    segmentation, _ = as_batch(torch.as_tensor(segmentation))
    if tuple(segmentation.shape) != (bsz, t, h, w):
        raise ShapeError(f"segmentation of shape {tuple(segmentation.shape)} does not match maps {(bsz, t, h, w)}")
    step, removed = segment_schedule(saliency, segmentation.to(device), steps, seed)
    order = torch.argsort(step, dim=1, stable=True)
    return order, torch.round(removed * n).long().tolist(), removed


def _curve_logits(model: nn.Module, x: torch.Tensor, order: torch.Tensor, counts: list[list[int]],
                  base: torch.Tensor, steps: int, chunk_size, progress: bool, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits of every clip the curves need: ``(jobs (J, 3) = (clip, 0 deletion / 1 insertion, step), logits)``.

    Deletion k=0 is the intact clip and equals insertion k=S; deletion k=S is the fully removed clip and equals
    insertion k=0: each is forwarded once. Perturbed clips are built per chunk, so memory stays at one chunk.
    """
    bsz, c = x.shape[:2]
    n = x[0, 0].numel()
    device = x.device
    jobs = [(b, 0, 0) for b in range(bsz)] + [(b, 0, k) for b in range(bsz) for k in range(1, steps + 1)]
    jobs += [(b, 1, k) for b in range(bsz) for k in range(1, steps)]
    chunk_size = min(resolve_chunk_size(chunk_size, x.shape, device), len(jobs))
    buf = torch.empty((chunk_size, *x.shape[1:]), device=device, dtype=dtype)
    x_flat = x.reshape(bsz, c, n)
    base_flat = base.reshape(bsz, c, n).contiguous()  # what removed voxels take
    state = torch.empty((c, n), device=device, dtype=dtype)  # the current clip of the curve being built
    prev: tuple[int, int, int] | None = None
    logits_all: list[torch.Tensor] = []
    chunks = range(0, len(jobs), chunk_size)
    if progress:
        from tqdm.auto import tqdm

        chunks = tqdm(chunks, desc="deletion/insertion", unit="chunk")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            for c0 in chunks:
                sel = jobs[c0:c0 + chunk_size]
                for i, (b, kind, k) in enumerate(sel):
                    # deletion: x with the first counts[k] voxels taken from the removed clip;
                    # insertion: the removed clip with the first counts[k] voxels taken from x.
                    # Consecutive steps of one curve only add voxels, so one running clip per curve is
                    # updated in place (also across chunks) and copied into the batch.
                    if prev is not None and prev[:2] == (b, kind) and prev[2] <= k:
                        lo = counts[b][prev[2]]
                    else:
                        state.copy_(base_flat[b] if kind == 1 else x_flat[b])
                        lo = 0
                    idx = order[b, lo:counts[b][k]]
                    if idx.numel():
                        source = x_flat[b] if kind == 1 else base_flat[b]
                        state.index_copy_(1, idx, source.index_select(1, idx))
                    buf[i].view(c, n).copy_(state)
                    prev = (b, kind, k)
                logits_all.append(model(buf[:len(sel)]).float())
    finally:
        for m, flag in modes:
            m.training = flag
    return torch.tensor(jobs, dtype=torch.long, device=device).view(-1, 3), torch.cat(logits_all)


class DeletionInsertion(Metric):
    """Dataset accumulator of deletion/insertion: mean AUCs, mean curves, per-class means.

    ``update`` takes a :class:`CurveResult` (optionally with ``labels``), or the arguments of
    :func:`deletion_insertion` (``update(model, x, saliency, target=..., **options)``) and computes it
    with the options given to the constructor. The primary score is the combined score (lower is better).
    """

    name = "combined"
    higher_is_better = False
    directions = {"deletion_auc": False, "insertion_auc": True, "combined": False}

    def __init__(self, **options: Any) -> None:
        self.options = options
        super().__init__()

    def reset(self) -> None:
        super().reset()
        self._curves: dict[str, list[torch.Tensor]] = {"deletion": [], "insertion": []}
        self.fractions: torch.Tensor | None = None

    def update(self, result_or_model: CurveResult | nn.Module, x: torch.Tensor | None = None,
               saliency: torch.Tensor | None = None, target=None, labels=None, **options: Any) -> CurveResult:
        if isinstance(result_or_model, CurveResult):
            result = result_or_model
        else:
            if x is None or saliency is None:
                raise InputError("DeletionInsertion.update(model, x, saliency, ...) needs clips and saliency")
            result = deletion_insertion(result_or_model, x, saliency, target=target, **{**self.options, **options})
        if self.fractions is not None and self.fractions.shape != result.fractions.shape:
            raise ShapeError(f"curves of {result.fractions.numel()} points cannot join curves of "
                             f"{self.fractions.numel()} points")
        self.fractions = result.fractions
        self._curves["deletion"].append(result.deletion.float().cpu())
        self._curves["insertion"].append(result.insertion.float().cpu())
        label = result.target if labels is None else torch.as_tensor(labels).reshape(-1)
        self._add(deletion_auc=result.deletion_auc, insertion_auc=result.insertion_auc, combined=result.combined,
                  label=label if label is not None else torch.full_like(result.combined, -1))
        return result

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"n": int(self.values("combined").numel())}
        for key in ("deletion_auc", "insertion_auc", "combined"):
            v = self.values(key)
            out[key] = float(v.mean()) if v.numel() else float("nan")
        if out["n"]:
            out["fractions"] = self.fractions.tolist()
            out["deletion_curve"] = torch.cat(self._curves["deletion"]).mean(0).tolist()
            out["insertion_curve"] = torch.cat(self._curves["insertion"]).mean(0).tolist()
            labels = self.values("label").long()
            per_class = {}
            for c in labels.unique().tolist():
                sel = labels == c
                per_class[int(c)] = {k: float(self.values(k)[sel].mean()) for k in ("deletion_auc", "insertion_auc", "combined")}
            out["per_class"] = per_class
        return out
