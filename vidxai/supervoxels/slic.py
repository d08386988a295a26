"""Batched 3-D SLIC supervoxels in torch (CPU or GPU).

Each voxel of a clip ``(C, T, H, W)`` is described by its colour (CIELAB by default), optional extra
channels (SWAG-V adds the gradient map scaled to [0, 100]) and its position (t, y, x). SLIC clusters
these features with k-means restricted to a neighbourhood; the distance is (SWAG, "Gradient Weighted Superpixels for Interpretability in CNNs")::

    D' = sqrt((dc / wc)^2 + (ds / ws)^2 + (dg / wg)^2)

with ``wc = compactness`` (colour weight), ``ws`` the spatial seed interval, ``wg = extra_weight`` and
``ds^2 = (temporal_scale * dt)^2 + dy^2 + dx^2``. Every feature is divided by its weight once, so the
distance is a plain Euclidean distance between scaled feature vectors.

Seeds and search regions
    Seeds sit on a 3-D grid of ``nt x nh x nw`` cells (see :func:`seed_grid`). Each voxel belongs to one
    cell and is compared only with the seeds of its cell and of the neighbouring cells (3 x 3 x 3, fewer
    along an axis with one cell). Voxels are laid out once as ``(cells, voxels per cell, features)``, so
    an assignment step is one batched matrix product ``(cells, V, F) @ (cells, F, 27)`` plus an argmin,
    and an update step is one ``index_add_`` (scatter mean). There is no Python loop over voxels or seeds.

Time
    scikit-image's ``slic`` chooses an isotropic grid; for 120 segments on 16 x 112 x 112 it has a step
    of 12 voxels in every axis, so it places a single seed along time (1 x 9 x 9 = 81 seeds) and every
    "supervoxel" is a superpixel extruded through all 16 frames. ``temporal_ratio=None`` reproduces that
    grid (the thesis setting). Our default ``temporal_ratio=0.5`` spaces seeds half as far apart in
    frames as in pixels (a 16-frame clip at 112 x 112 and K=120 gets 2 x 8 x 8 = 128 seeds),
    and ``temporal_scale`` (default: spatial interval / temporal interval) makes one temporal seed
    interval cost as much as one spatial interval. Supervoxels last longer than ``T / nt`` frames: a voxel is
    compared with the seeds of both neighbouring temporal cells, so a supervoxel grows across the cell boundary
    where the colour goes on (measured at the defaults on real 16-frame clips: median 10-12 frames, quartiles
    about [9, 12-16]; docs/supervoxels.md). ``mode="exact"`` is scikit-image's ``slic`` (see :mod:`.exact`).
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import InputError, ShapeError
from .color import rgb_to_lab
from .connectivity import enforce_connectivity as _enforce_connectivity
from .connectivity import relabel_contiguous

__all__ = ["slic3d", "seed_grid", "SeedGrid", "DEFAULT_TEMPORAL_RATIO", "skimage_grid_axes"]

#: Default seed spacing in frames relative to the spacing in pixels (see the module docstring).
DEFAULT_TEMPORAL_RATIO = 0.5
#: Frames larger than this (short side, pixels) count spatial seed spacing at this resolution when the grid
#: is chosen from ``temporal_ratio`` (the thesis' 112 x 112), so the grid does not depend on the resolution.
REFERENCE_SIZE = 112
#: The coarse level computes item-to-every-centre products when items x centres is at most this (a few MB:
#: it stays in cache); above, the per-sub-cell products of ``_kmeans``.
ITEMS_DENSE_LIMIT = 2 ** 20


@dataclass(frozen=True)
class SeedGrid:
    """Where the seeds start and which cell every voxel belongs to.

    Attributes:
        seeds: per axis (t, y, x), the integer seed coordinates (n_axis,).
        cell_of: per axis, the cell index of every coordinate (L_axis,).
        spacing: per axis, the seed interval in voxels.
    """

    seeds: tuple[np.ndarray, np.ndarray, np.ndarray]
    cell_of: tuple[np.ndarray, np.ndarray, np.ndarray]
    spacing: tuple[float, float, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(len(s) for s in self.seeds)  # type: ignore[return-value]

    @property
    def num_seeds(self) -> int:
        return int(np.prod(self.shape))


def skimage_grid_axes(shape: tuple[int, ...], n_points: int) -> list[tuple[int, int]]:
    """``(start, step)`` per axis of scikit-image's ``regular_grid`` (used by its ``slic``)."""
    ar_shape = np.asarray(shape)
    ndim = len(ar_shape)
    unsort = np.argsort(np.argsort(ar_shape))
    sorted_dims = np.sort(ar_shape)
    space = float(np.prod(ar_shape))
    if space <= n_points:
        return [(0, 1)] * ndim
    steps = (space / n_points) ** (1.0 / ndim) * np.ones(ndim)
    if (sorted_dims < steps).any():
        for dim in range(ndim):
            steps[dim] = sorted_dims[dim]
            space = float(np.prod(sorted_dims[dim + 1:]))
            steps[dim + 1:] = (space / n_points) ** (1.0 / (ndim - dim - 1))
            if (sorted_dims >= steps).all():
                break
    starts = (steps // 2).astype(int)
    steps = np.round(steps).astype(int)
    return [(int(starts[unsort[i]]), int(steps[unsort[i]])) for i in range(ndim)]


def _uniform_axis(length: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n near-equal cells over ``length`` voxels: seeds at the cell centres, cell index per coordinate."""
    n = max(1, min(n, length))
    cell_of = (np.arange(length) * n) // length
    bounds = np.searchsorted(cell_of, np.arange(n + 1))  # first coordinate of each cell (+ end)
    seeds = (bounds[:-1] + bounds[1:] - 1) // 2
    return seeds, cell_of


def _nearest_axis(length: int, seeds: np.ndarray) -> np.ndarray:
    """Cell index per coordinate = the nearest seed along the axis (first on ties)."""
    return np.abs(np.arange(length)[:, None] - seeds[None, :]).argmin(axis=1)


def _choose_counts(shape: tuple[int, int, int], n_segments: int, ratio: float) -> tuple[int, int, int]:
    """Integer (nt, nh, nw) close to ``n_segments`` seeds with temporal spacing ~= ratio * spatial spacing.

    Spatial spacing is counted in pixels of a frame at most REFERENCE_SIZE pixels on its short side, so a
    larger frame gets the same grid (and supervoxels as long in frames) as the same clip at 112 x 112.
    """
    t, h0, w0 = shape
    zoom = min(1.0, REFERENCE_SIZE / min(h0, w0))
    h, w = h0 * zoom, w0 * zoom
    s = (t * h * w / (ratio * n_segments)) ** (1.0 / 3.0)
    if t / (ratio * s) < 1.0:  # too short for more than one seed in time: a 2-D grid per clip
        s = math.sqrt(h * w / n_segments)
        ideal = (1.0, h / s, w / s)
    else:
        ideal = (t / (ratio * s), h / s, w / s)
    options = []
    for axis, (length, v) in enumerate(zip(shape, ideal)):  # shape: the real lengths bound the counts
        cands = {min(max(int(math.floor(v)), 1), length), min(max(int(math.ceil(v)), 1), length)}
        options.append(sorted(cands))
    best, best_cost = None, float("inf")
    for nt in options[0]:
        for nh in options[1]:
            for nw in options[2]:
                # Mainly the count; then how far each axis is from its ideal (log scale).
                cost = abs(math.log(nt * nh * nw / n_segments)) + 0.25 * sum(
                    abs(math.log(n / v)) for n, v in zip((nt, nh, nw), ideal))
                if cost < best_cost - 1e-12:
                    best, best_cost = (nt, nh, nw), cost
    return best  # type: ignore[return-value]


def seed_grid(shape: tuple[int, int, int], n_segments: int, temporal_ratio: float | None = DEFAULT_TEMPORAL_RATIO,
              grid: tuple[int, int, int] | None = None) -> SeedGrid:
    """The seed grid for a ``(T, H, W)`` volume.

    Args:
        shape: ``(T, H, W)``.
        n_segments: requested number of supervoxels.
        temporal_ratio: seed spacing in frames divided by seed spacing in pixels (pixels of the frame scaled
            to at most :data:`REFERENCE_SIZE` on its short side). ``None`` reproduces
            scikit-image's isotropic ``regular_grid`` (the thesis setting: 1 x 9 x 9 seeds for K=120 on
            16 x 112 x 112).
        grid: explicit ``(nt, nh, nw)``; overrides ``n_segments``/``temporal_ratio``.
    """
    t, h, w = (int(v) for v in shape)
    if grid is not None:
        if len(grid) != 3 or any(int(g) < 1 for g in grid):
            raise InputError(f"grid must be three positive counts (nt, nh, nw), got {grid!r}")
        counts = tuple(int(g) for g in grid)
    elif temporal_ratio is None:
        axes = skimage_grid_axes((t, h, w), n_segments)
        seeds = tuple(np.arange(start, length, step) for (start, step), length in zip(axes, (t, h, w)))
        cell_of = tuple(_nearest_axis(length, s) for length, s in zip((t, h, w), seeds))
        return SeedGrid(seeds, cell_of, tuple(float(step) for _, step in axes))  # type: ignore[arg-type]
    else:
        if not temporal_ratio > 0:
            raise InputError(f"temporal_ratio must be > 0 or None, got {temporal_ratio!r}")
        counts = _choose_counts((t, h, w), n_segments, float(temporal_ratio))
    axes = [_uniform_axis(length, n) for length, n in zip((t, h, w), counts)]
    seeds = tuple(a[0] for a in axes)
    cell_of = tuple(a[1] for a in axes)
    spacing = tuple(length / len(s) for length, s in zip((t, h, w), seeds))
    return SeedGrid(seeds, cell_of, spacing)  # type: ignore[arg-type]


def _gradient_at(feat: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
    """Squared central-difference gradient of ``(B, F, T, H, W)`` features at positions ``(B, P, 3)``.

    Summed over features and axes; an axis contributes 0 where the position is on its border. Only the
    seeds' neighbourhoods need it, so it is gathered there instead of computed over the whole volume.
    """
    b, nf, t, h, w = feat.shape
    flat = feat.reshape(b, nf, -1)
    sizes = torch.tensor([t, h, w], device=pos.device)
    strides = torch.tensor([h * w, w, 1], device=pos.device)
    lin = (pos * strides).sum(-1)  # (B, P)
    g = torch.zeros(pos.shape[:2], dtype=feat.dtype, device=feat.device)
    for axis in range(3):
        inside = (pos[..., axis] > 0) & (pos[..., axis] < sizes[axis] - 1)
        step = strides[axis]
        hi = torch.where(inside, lin + step, lin)
        lo = torch.where(inside, lin - step, lin)
        d = flat.gather(2, hi.unsqueeze(1).expand(-1, nf, -1)) - flat.gather(2, lo.unsqueeze(1).expand(-1, nf, -1))
        g += d.pow(2).sum(1)
    return g


@torch.no_grad()
def _check_slic_args(volume, n_segments: int, compactness: float, extra_weight: float, merge: str, search: str,
                     mode: str, grid) -> None:
    """One-line errors for :func:`slic3d`'s arguments, before any work."""
    if not isinstance(volume, torch.Tensor) or not volume.is_floating_point():
        raise ShapeError("slic3d expects a float tensor (B, C, T, H, W)")
    if volume.ndim != 5:
        raise ShapeError(f"slic3d expects (B, C, T, H, W) or (B, C, H, W), got {tuple(volume.shape)}")
    if n_segments < 1:
        raise InputError(f"n_segments must be >= 1, got {n_segments}")
    if compactness <= 0 or extra_weight <= 0:
        raise InputError("compactness and extra_weight must be > 0")
    if merge not in ("nearest", "largest"):
        raise InputError(f"merge must be 'nearest' or 'largest', got {merge!r}")
    if search not in ("local", "wide"):
        raise InputError(f"search must be 'local' or 'wide', got {search!r}")
    if mode not in ("fast", "exact"):
        raise InputError(f"mode must be 'fast' or 'exact', got {mode!r}")
    if mode == "exact" and grid is not None:
        raise InputError("mode='exact' uses scikit-image's seed grid: grid must be None")


def _appearance(volume: torch.Tensor, extra: torch.Tensor | None, compactness: float, extra_weight: float,
                lab: bool, dtype: torch.dtype) -> torch.Tensor:
    """The appearance features ``(B, Fa, T, H, W)``: colour / compactness, then extra / extra_weight."""
    b, c, t, h, w = volume.shape
    feats = []
    if c:
        colour = rgb_to_lab(volume) if (lab and c == 3) else volume.to(dtype)
        feats.append(colour.to(dtype) / compactness)
    if extra is not None:
        if extra.ndim != 5 or extra.shape[0] != b or tuple(extra.shape[2:]) != (t, h, w):
            raise ShapeError(f"extra must be (B, E, T, H, W) matching the volume {tuple(volume.shape)}, "
                             f"got {tuple(extra.shape)}")
        feats.append(extra.to(volume.device, dtype) / extra_weight)
    if not feats:
        raise ShapeError("slic3d needs at least one feature channel (volume or extra)")
    return torch.cat(feats, dim=1)


def _candidates(sg, size: tuple[int, int, int], search: str, device) -> tuple[list[np.ndarray], torch.Tensor]:
    """Sub-cells and their candidate seeds: ``(sub_axes, cand (8 * n_cells, Q))``.

    Every axis cell is cut in two at its seed (2 x 2 x 2 sub-cells per cell); each sub-cell has a fixed list
    of candidate seeds (product of the per-axis options; ``n_cells`` is a dummy seed with infinite distance
    standing for neighbours outside the grid).
    """
    nt, nh, nw = sg.shape
    n_cells = nt * nh * nw
    sub_axes, cand_axes = [], []
    for length, seeds, cell_of, ncell in zip(size, sg.seeds, sg.cell_of, (nt, nh, nw)):
        coord = np.arange(length)
        sub_axes.append(2 * cell_of + (coord > seeds[cell_of]))
        k = np.arange(2 * ncell) // 2
        if ncell == 1:
            opts = k[:, None]
        elif search == "local":  # the seed of this cell and of the neighbour cell on this half's side
            opts = np.stack((k, k + np.where(np.arange(2 * ncell) % 2 == 0, -1, 1)), axis=1)
        else:  # "wide": both neighbours
            opts = np.stack((k - 1, k, k + 1), axis=1)
        cand_axes.append(torch.as_tensor(np.where((opts >= 0) & (opts < ncell), opts, -1), device=device))
    ct, cy, cx = cand_axes
    qt, qy, qx = ct.shape[1], cy.shape[1], cx.shape[1]
    combo = ((ct.view(-1, 1, 1, qt, 1, 1) * nh + cy.view(1, -1, 1, 1, qy, 1)) * nw + cx.view(1, 1, -1, 1, 1, qx))
    outside = (ct.view(-1, 1, 1, qt, 1, 1) < 0) | (cy.view(1, -1, 1, 1, qy, 1) < 0) | (cx.view(1, 1, -1, 1, 1, qx) < 0)
    return sub_axes, torch.where(outside, n_cells, combo).reshape(8 * n_cells, -1)


def _initial_centres(sg, feat: torch.Tensor, appearance: torch.Tensor, move_seeds: bool) -> torch.Tensor:
    """Seed features ``(B, K, F)``: grid positions, optionally moved to the lowest-gradient voxel of their
    3x3x3 neighbourhood."""
    b, nf, t, h, w = feat.shape
    device = feat.device
    st, sy, sx = (torch.as_tensor(s_, device=device, dtype=torch.long) for s_ in sg.seeds)
    seed_pos = torch.stack(torch.meshgrid(st, sy, sx, indexing="ij"), dim=-1).reshape(-1, 3)
    seed_pos = seed_pos.unsqueeze(0).expand(b, -1, -1)
    if move_seeds:
        limits = torch.tensor([t - 1, h - 1, w - 1], device=device)
        nb = torch.tensor([(0, 0, 0)] + [(i, j, k) for i in (-1, 0, 1) for j in (-1, 0, 1) for k in (-1, 0, 1)
                                         if (i, j, k) != (0, 0, 0)], device=device)
        moved = (seed_pos.unsqueeze(2) + nb.view(1, 1, -1, 3)).clamp(min=torch.zeros_like(limits), max=limits)
        g = _gradient_at(appearance, moved.reshape(b, -1, 3)).view(moved.shape[:3])  # (B, K, 27)
        pick = g.argmin(dim=2)  # first minimum: the grid position wins ties
        seed_pos = moved.gather(2, pick.view(b, -1, 1, 1).expand(-1, -1, 1, 3)).squeeze(2)
    seed_lin = (seed_pos[..., 0] * h + seed_pos[..., 1]) * w + seed_pos[..., 2]
    return feat.reshape(b, nf, t * h * w).gather(2, seed_lin.unsqueeze(1).expand(-1, nf, -1)).transpose(1, 2)


def _coarse_iterations(appearance: torch.Tensor, sg, sub_axes, cand: torch.Tensor, seg_index: torch.Tensor,
                       centres: torch.Tensor, coarse: int, iterations: int, pos_scale: tuple, nf: int) -> torch.Tensor:
    """The first k-means iterations on voxels pooled ``coarse`` x ``coarse`` (pooling is linear, so the centre
    updates use exact sums); returns the centres for the full-resolution iterations."""
    b, _, t, h, w = appearance.shape
    device, dtype = appearance.device, appearance.dtype
    nt, nh, nw = sg.shape
    n_cells = nt * nh * nw
    # Time is pooled too, keeping at least two pooled frames per temporal cell.
    kt = max(1, min(coarse, int(sg.spacing[0] / 2)))
    k = (kt, coarse, coarse)
    # Pooled sums: appearance per clip; positions and voxel counts depend only on the geometry (cached).
    app_sums = F.avg_pool3d(appearance, k, stride=k, ceil_mode=True, divisor_override=1)
    geo_sums = _pooled_positions((t, h, w), pos_scale, k, dtype, str(device))
    sums = torch.cat((app_sums, geo_sums.expand(b, -1, -1, -1, -1)), 1)
    mean = sums[:, :nf] / sums[:, nf:]
    first = [np.arange(0, length, kk) for length, kk in zip((t, h, w), k)]
    sub = [ax[f] for ax, f in zip(sub_axes, first)]
    ny, nx = 2 * nh, 2 * nw
    sub_t, sub_y, sub_x = (torch.as_tensor(a, device=device) for a in sub)
    item_sub = ((sub_t.view(-1, 1, 1) * ny + sub_y.view(1, -1, 1)) * nx + sub_x.view(1, 1, -1)).reshape(-1)
    # Decided per clip (not per batch), so a clip gets the same labels alone and in a batch.
    if item_sub.numel() * (n_cells + 1) <= ITEMS_DENSE_LIMIT:
        return _kmeans_items(mean, sums, cand[item_sub], centres, iterations)
    centres, _ = _kmeans(mean, sums, sub, cand, seg_index, centres, iterations, n_cells,
                         update_last=True, sub_shape=(ny, nx))
    return centres


def _labels_from_choice(cand: torch.Tensor, choice: torch.Tensor, layout, sub_axes, shape: tuple[int, ...],
                        sub_grid: tuple[int, int]) -> torch.Tensor:
    """Voxel labels ``(B, T, H, W)`` from each sub-cell voxel's chosen candidate seed."""
    b, t, h, w = shape
    n_vox = t * h * w
    seg = cand.view(1, *cand.shape).expand(b, -1, -1).gather(2, choice.view(b, cand.shape[0], -1))
    box = _equal_subcells(_axes_key(sub_axes), (2 * sub_grid[0], 2 * sub_grid[1]), cand.shape[0])
    if box is not None:  # the inverse of the layout's reshape + permute
        (st, lt), (sy, ly), (sx, lx) = box
        return seg.view(b, st, sy, sx, lt, ly, lx).permute(0, 1, 4, 2, 5, 3, 6).reshape(b, t, h, w)
    labels = torch.empty(b, n_vox + 1, dtype=torch.long, device=cand.device)
    labels.scatter_(1, layout.view(1, -1).expand(b, -1), seg.reshape(b, -1))
    return labels[:, :n_vox].view(b, t, h, w)


def slic3d(volume: torch.Tensor, n_segments: int = 120, compactness: float = 10.0,
           temporal_ratio: float | None = DEFAULT_TEMPORAL_RATIO, temporal_scale: float | None = None,
           grid: tuple[int, int, int] | None = None, extra: torch.Tensor | None = None,
           extra_weight: float = 10.0, max_iter: int = 10, enforce_connectivity: bool = True,
           min_size_factor: float = 0.5, lab: bool = True, move_seeds: bool = True,
           search: str = "local", coarse: int | str = "auto", refine: int = 1, merge: str = "nearest",
           connectivity_backend: str = "auto", chunk_voxels: int | str | None = "auto",
           return_info: bool = False, mode: str = "fast"):
    """SLIC supervoxels for a batch of clips.

    Args:
        volume: ``(B, C, T, H, W)`` float. With ``lab=True`` and C == 3 it is RGB in [0, 1] and is converted
            to CIELAB; otherwise the channels are used as they are (e.g. a gradient map in [0, 100]).
            ``(B, C, H, W)`` images are treated as T = 1.
        n_segments: requested number of supervoxels (seeds); the result has about this many.
        compactness: the colour weight wc (larger = more compact, less colour-driven supervoxels).
        temporal_ratio: seed spacing in frames / seed spacing in pixels (default 0.5; pixels of the frame
            scaled to at most 112 on its short side, so the grid does not change with the resolution); ``None``
            gives scikit-image's isotropic grid (thesis setting, a single seed along time for 16 x 112 x 112).
        temporal_scale: pixels one frame counts as in the spatial distance. Default: spatial seed interval /
            temporal seed interval (1 with ``temporal_ratio=None``, as scikit-image). Larger = shorter
            supervoxels in time.
        grid: explicit seed grid ``(nt, nh, nw)``.
        extra: optional ``(B, E, T, H, W)`` extra feature channels (SWAG-V: the gradient map in [0, 100]).
        extra_weight: their weight wg (smaller = they matter more).
        max_iter: k-means iterations (stops earlier when no label changes).
        enforce_connectivity: split disconnected supervoxels and merge fragments smaller than
            ``min_size_factor * N / n_seeds`` voxels into a neighbour.
        lab: convert 3-channel RGB to CIELAB.
        move_seeds: move each seed to the lowest-gradient voxel of its 3 x 3 x 3 neighbourhood.
        search: ``"local"`` (default) compares a voxel with the 2 x 2 x 2 seeds around it (original SLIC's
            2S x 2S window); ``"wide"`` with the 3 x 3 x 3 seeds of its cell's neighbourhood.
        coarse: run the first ``max_iter - refine`` iterations on voxels pooled ``coarse x coarse`` in (y, x)
            (and by ``min(coarse, temporal interval / 2)`` frames in t), the last ``refine`` at full resolution
            (the last one only assigns). ``"auto"``: spatial seed interval / 3.5, rounded down (4 for the
            default grid on 112 x 112, 8 on 224 x 224; 1 = every iteration at full resolution).
        refine: full-resolution iterations after the coarse ones (default 1).
        merge: where a fragment smaller than the minimum size goes: ``"nearest"`` (default), the touching
            segment with the closest mean colour/extra features; ``"largest"``, the largest touching segment.
        connectivity_backend: connected components by ``"skimage"`` (CPU default), ``"torch"`` (GPU default)
            or ``"auto"``; both give the same labels.
        chunk_voxels: process the batch in chunks of at most this many voxels (whole clips, at least one);
            ``"auto"``: 2**18 on CPU (one 16 x 112 x 112 clip), where large working sets fall out of the caches
            and big batches ran slower per clip than single clips; no chunking on GPUs; ``None``: never chunk.
            The labels do not depend on it.
        return_info: also return a dict with the seed grid shape and spacing.
        mode: ``"fast"`` (default) the grid-cell SLIC described in the module docstring; ``"exact"``
            scikit-image's ``slic`` step by step (:mod:`vidxai.supervoxels.exact`: its seed grid, colour-0 seeds,
            4S + 1 windows, float64 means, its fragment merging), for comparisons with the thesis' scikit-image
            runs. ``"exact"`` uses ``n_segments``, ``compactness``, ``extra``/``extra_weight``, ``max_iter``,
            ``enforce_connectivity``, ``min_size_factor``, ``lab``, ``temporal_scale`` (scikit-image's spacing
            along t, default 1), ``connectivity_backend``, ``chunk_voxels`` and ``return_info``; the grid is
            always scikit-image's (``temporal_ratio`` is ignored, ``grid`` is an error) and the fast mode's
            options (``move_seeds``, ``search``, ``coarse``, ``refine``, ``merge``) do not apply.

    Returns:
        ``(B, T, H, W)`` long labels, contiguous 0..K_b-1 in each clip (and the info dict when asked).
    """
    image_mode = isinstance(volume, torch.Tensor) and volume.ndim == 4
    if image_mode:
        volume = volume.unsqueeze(2)
        extra = None if extra is None else extra.unsqueeze(2)
    _check_slic_args(volume, n_segments, compactness, extra_weight, merge, search, mode, grid)
    b, c, t, h, w = volume.shape
    device = volume.device
    if chunk_voxels == "auto":
        chunk_voxels = 2 ** 18 if device.type == "cpu" else None
    per_chunk = b if chunk_voxels is None else max(1, int(chunk_voxels) // (t * h * w))
    if per_chunk < b:  # whole clips per chunk: the labels do not depend on the chunking
        kwargs = dict(n_segments=n_segments, compactness=compactness, temporal_ratio=temporal_ratio,
                      temporal_scale=temporal_scale, grid=grid, extra_weight=extra_weight, max_iter=max_iter,
                      enforce_connectivity=enforce_connectivity, min_size_factor=min_size_factor, lab=lab,
                      move_seeds=move_seeds, search=search, coarse=coarse, refine=refine, merge=merge,
                      connectivity_backend=connectivity_backend, chunk_voxels=None, return_info=True, mode=mode)
        runs = [slic3d(volume[i:i + per_chunk], extra=None if extra is None else extra[i:i + per_chunk], **kwargs)
                for i in range(0, b, per_chunk)]
        labels = torch.cat([r[0] for r in runs])
        labels = labels[:, 0] if image_mode else labels
        return (labels, runs[-1][1]) if return_info else labels
    if mode == "exact":
        return _run_exact(volume, extra, image_mode, return_info, n_segments=n_segments, compactness=compactness,
                          extra_weight=extra_weight, max_iter=max_iter, enforce_connectivity=enforce_connectivity,
                          min_size_factor=min_size_factor, lab=lab, temporal_scale=temporal_scale,
                          connectivity_backend=connectivity_backend)
    dtype = torch.float64 if volume.dtype == torch.float64 else torch.float32
    appearance = _appearance(volume, extra, compactness, extra_weight, lab, dtype)  # (B, Fa, T, H, W)

    sg = seed_grid((t, h, w), n_segments, temporal_ratio, grid)
    nt, nh, nw = sg.shape
    ws = max(sg.spacing[1], sg.spacing[2]) if (h > 1 or w > 1) else 1.0
    if temporal_scale is None:
        temporal_scale = 1.0 if (temporal_ratio is None and grid is None) else ws / sg.spacing[0]
    pos_scale = torch.tensor([temporal_scale / ws, 1.0 / ws, 1.0 / ws], dtype=dtype, device=device)

    # Voxel features (B, F, T, H, W): appearance then scaled position (t, y, x).
    n_vox = t * h * w
    pos = _positions((t, h, w), tuple(pos_scale.tolist()), dtype, str(device))
    feat = torch.cat((appearance, pos.unsqueeze(0).expand(b, -1, -1, -1, -1)), dim=1)
    nf = feat.shape[1]
    n_cells = nt * nh * nw

    sub_axes, cand = _candidates(sg, (t, h, w), search, device)
    seg_index = (cand.reshape(1, -1) + (torch.arange(b, device=device) * (n_cells + 1)).view(b, 1)).reshape(-1)
    centres = _initial_centres(sg, feat, appearance, move_seeds)

    # Coarse-to-fine: the first iterations run on pooled voxels (about 3.5 per seed interval; pooling is
    # linear, so the centre updates use exact sums), the last full-resolution ones refine the boundaries.
    if coarse == "auto":
        spacing = min(sg.spacing[1], sg.spacing[2])
        # About 3.5 pooled voxels per seed interval: as good as finer pooling on both quality measures
        # (tools/bench_supervoxels.py), and the coarse iterations become nearly free.
        coarse = max(1, int(spacing / 3.5))
        coarse = coarse if max_iter > refine else 1
    coarse = int(coarse)
    max_iter = max(1, int(max_iter))
    fine_iter = max_iter if coarse == 1 else max(1, min(max_iter, int(refine)))
    if coarse > 1:
        centres = _coarse_iterations(appearance, sg, sub_axes, cand, seg_index, centres, coarse,
                                     max_iter - fine_iter, tuple(pos_scale.tolist()), nf)
    sum_full = torch.cat((feat, feat.new_ones(b, 1, t, h, w)), 1) if fine_iter > 1 else None
    centres, (choice, layout) = _kmeans(feat, sum_full, sub_axes, cand, seg_index, centres,
                                        fine_iter, n_cells, update_last=False, sub_shape=(2 * nh, 2 * nw))

    labels = _labels_from_choice(cand, choice, layout, sub_axes, (b, t, h, w), (nh, nw))
    if enforce_connectivity:
        min_size = int(min_size_factor * n_vox / n_cells)
        labels = _enforce_connectivity(labels, min_size, features=appearance if merge == "nearest" else None,
                                       backend=connectivity_backend)
    else:
        labels = relabel_contiguous(labels)
    if image_mode:
        labels = labels[:, 0]
    if return_info:
        return labels, {"grid": sg.shape, "spacing": sg.spacing, "temporal_scale": float(temporal_scale),
                        "ws": float(ws), "num_seeds": sg.num_seeds, "coarse": int(coarse)}
    return labels


def _run_exact(volume: torch.Tensor, extra: torch.Tensor | None, image_mode: bool, return_info: bool,
               temporal_scale: float | None, **kw):
    """``mode="exact"``: checks ``extra`` and calls :func:`vidxai.supervoxels.exact.slic3d_exact`."""
    from .exact import slic3d_exact  # imported here: exact.py imports this module

    b, c, t, h, w = volume.shape
    if extra is not None and (extra.ndim != 5 or extra.shape[0] != b or tuple(extra.shape[2:]) != (t, h, w)):
        raise ShapeError(f"extra must be (B, E, T, H, W) matching the volume {tuple(volume.shape)}, "
                         f"got {tuple(extra.shape)}")
    if c == 0 and extra is None:
        raise ShapeError("slic3d needs at least one feature channel (volume or extra)")
    spacing = (1.0 if temporal_scale is None else float(temporal_scale), 1.0, 1.0)
    out = slic3d_exact(volume, extra=extra, spacing=spacing, return_info=True, **kw)
    labels, info = out
    if image_mode:
        labels = labels[:, 0]
    return (labels, info) if return_info else labels


def _axes_key(sub_axes: list[np.ndarray]) -> tuple[tuple[int, ...], ...]:
    """The per-axis sub-cell indices as a hashable key for the cached layout helpers."""
    return tuple(tuple(int(v) for v in ax) for ax in sub_axes)


@functools.lru_cache(maxsize=16)
def _equal_subcells(sub_axes: tuple[tuple[int, ...], ...], sub_shape: tuple[int, int], n_sub: int):
    """``((n_t, len_t), (n_y, len_y), (n_x, len_x))`` when every axis is cut into equal sub-cells (the default
    grids on 16 x 112 x 112 and 16 x 224 x 224), else None. Then grouping voxels by sub-cell is a reshape +
    permute: one strided copy, ~3x faster than a gather. Depends only on the grid, so it is cached."""
    sub_counts = (n_sub // (sub_shape[0] * sub_shape[1]), *sub_shape)
    counts = [np.bincount(np.asarray(ax), minlength=n) for ax, n in zip(sub_axes, sub_counts)]
    if not all((c == c[0]).all() and c[0] > 0 for c in counts):
        return None
    return tuple((len(c), int(c[0])) for c in counts)


def _kmeans_items(dist_feat: torch.Tensor, sum_feat: torch.Tensor, item_cand: torch.Tensor, centres: torch.Tensor,
                  n_iter: int) -> torch.Tensor:
    """Restricted k-means on few items (the pooled coarse level): distances to all centres by one small
    matrix product per clip, then each item's candidates are gathered from it. With a few thousand items
    this is several times faster than the per-sub-cell batched products of :func:`_kmeans`, whose cost
    there is the overhead of a thousand tiny matrices.

    Args:
        dist_feat: ``(B, F, t, h, w)`` item features (means of pooled voxels).
        sum_feat: ``(B, F + 1, t, h, w)`` their feature sums and voxel counts.
        item_cand: ``(N, q)`` candidate seeds of every item (raster order); ``K`` = a dummy, never chosen.
        centres: ``(B, K, F)`` initial centres.

    Returns the ``(B, K, F)`` centres after ``n_iter`` assignment + update steps (fewer if converged).
    """
    b, nf = dist_feat.shape[:2]
    k = centres.shape[1]
    x = dist_feat.reshape(b, nf, -1).transpose(1, 2).contiguous()  # (B, N, F)
    xs = sum_feat.reshape(b, nf + 1, -1).transpose(1, 2).reshape(-1, nf + 1).to(torch.float64)
    n_items, q = item_cand.shape
    flat_cand = item_cand.reshape(1, -1).expand(b, -1)
    cand_b = item_cand.expand(b, -1, -1)
    offsets = (torch.arange(b, device=x.device) * (k + 1)).view(b, 1)
    choice = None
    for _ in range(max(0, n_iter)):
        cpad = torch.cat((centres, centres.new_zeros(b, 1, nf)), dim=1)  # (B, K+1, F); row K: dummy
        norms = cpad.pow(2).sum(-1)
        norms[:, k] = float("inf")
        # |x - c|^2 - |x|^2 = |c|^2 - 2 x.c ; |x|^2 does not change the argmin.
        dots = torch.bmm(x, cpad.transpose(1, 2))  # (B, N, K+1)
        dist = norms.gather(1, flat_cand).view(b, n_items, q) - 2.0 * dots.gather(2, cand_b)
        new_choice = cand_b.gather(2, dist.argmin(dim=2, keepdim=True)).squeeze(2)
        if choice is not None and torch.equal(new_choice, choice):
            break
        choice = new_choice
        sums = torch.zeros(b * (k + 1), nf + 1, dtype=torch.float64, device=x.device)
        sums.index_add_(0, (choice + offsets).view(-1), xs)
        sums = sums.view(b, k + 1, nf + 1)[:, :k]
        counts = sums[..., nf:]
        centres = torch.where(counts > 0, (sums[..., :nf] / counts.clamp_min(1)).to(centres.dtype), centres)
    return centres


def _kmeans(dist_feat: torch.Tensor, sum_feat: torch.Tensor | None, sub_axes: list[np.ndarray], cand: torch.Tensor,
            seg_index: torch.Tensor, centres: torch.Tensor, n_iter: int, n_cells: int, update_last: bool,
            sub_shape: tuple[int, int]):
    """Restricted k-means steps on a feature volume.

    Args:
        dist_feat: ``(B, F, t, h, w)`` features compared with the centres.
        sum_feat: ``(B, F + 1, t, h, w)`` feature sums and voxel counts that each item adds to its centre
            (None when no update happens: ``n_iter == 1`` and not ``update_last``).
        sub_axes: per axis, the sub-cell index (0..2n-1) of every coordinate of this volume.
        sub_shape: ``(2nh, 2nw)``, the y and x extents of the sub-cell grid.
        cand: ``(8 * n_cells, q)`` candidate seeds of each sub-cell (row-major over the ``(2nt, 2nh, 2nw)``
            sub-cell grid); ``seg_index`` the same flattened with clip offsets ``b * (n_cells + 1)``.
        centres: ``(B, K, F)`` initial centres.
        n_iter: assignment steps; each one but the last (every one with ``update_last``) updates the centres.

    Returns ``(centres, (choice (B * n_sub, vmax), layout (n_sub, vmax)))``: the candidate each item chose
    and, per sub-cell, its item indices (row-major over ``(t, h, w)``; padding slots hold the item count).
    """
    b, nf = dist_feat.shape[:2]
    device = dist_feat.device
    n_sub, q = cand.shape
    key = _axes_key(sub_axes)
    layout, valid = _layout(key, tuple(sub_shape), n_sub, str(device))
    vmax = layout.shape[1]
    flat_idx = layout.view(-1)
    box = _equal_subcells(key, tuple(sub_shape), n_sub)

    def grouped(vol: torch.Tensor) -> torch.Tensor:
        """(B, F, t, h, w) -> (B * n_sub, vmax, F), items in layout order. Padding slots repeat item 0 and
        are zeroed in the sums, so they add nothing to any centre (and their own assignment is never used).
        The result is contiguous: BLAS rounds differently for other strides, and a clip must get
        bit-identical labels alone and in a batch."""
        nv = vol.shape[1]
        if box is not None:
            (st, lt), (sy, ly), (sx, lx) = box
            split = vol.reshape(b, nv, st, lt, sy, ly, sx, lx)
            return split.permute(0, 2, 4, 6, 3, 5, 7, 1).reshape(b * n_sub, vmax, nv)
        picked = vol.reshape(b, nv, -1)[:, :, flat_idx]
        return picked.view(b, nv, n_sub, vmax).permute(0, 2, 3, 1).reshape(b * n_sub, vmax, nv).contiguous()

    xd = grouped(dist_feat)
    if n_iter > 1 or update_last:
        xs = (grouped(sum_feat).view(b, n_sub, vmax, nf + 1) * valid.view(1, n_sub, vmax, 1)).view(b * n_sub, vmax, nf + 1)
    choice = None
    for it in range(n_iter):
        cpad = torch.cat((centres, centres.new_zeros(b, 1, nf)), dim=1)  # (B, K+1, F); row K: dummy
        norms = cpad.pow(2).sum(-1)
        norms[:, n_cells] = float("inf")
        cc = cpad[:, cand.view(-1)].view(b * n_sub, q, nf)
        cn = norms[:, cand.view(-1)].view(b * n_sub, 1, q)
        # |x - c|^2 - |x|^2 = |c|^2 - 2 x.c ; |x|^2 does not change the argmin.
        dist = torch.baddbmm(cn, xd, cc.transpose(1, 2), alpha=-2.0)
        new_choice = dist.argmin(dim=2)  # (B * n_sub, vmax): which candidate (the first on ties)
        converged = choice is not None and torch.equal(new_choice, choice)
        choice = new_choice
        if converged or (it == n_iter - 1 and not update_last):
            break
        # Scatter mean as matrix products: per sub-cell, sum features (and counts) per chosen candidate,
        # then add the q partial sums of each sub-cell into their seeds.
        onehot = torch.zeros_like(dist).scatter_(2, choice.unsqueeze(2), 1.0)
        part = torch.bmm(onehot.transpose(1, 2), xs)  # (B * n_sub, q, F + 1)
        sums = torch.zeros(b * (n_cells + 1), nf + 1, dtype=torch.float64, device=device)
        sums.index_add_(0, seg_index, part.reshape(-1, nf + 1).to(torch.float64))
        sums = sums.view(b, n_cells + 1, nf + 1)[:, :n_cells]
        counts = sums[..., nf:]
        centres = torch.where(counts > 0, (sums[..., :nf] / counts.clamp_min(1)).to(centres.dtype), centres)
    return centres, (choice, torch.where(valid, layout, int(np.prod(dist_feat.shape[2:]))))


@functools.lru_cache(maxsize=16)
def _positions(shape: tuple[int, int, int], scale: tuple[float, float, float], dtype: torch.dtype,
               device: str) -> torch.Tensor:
    """``(3, T, H, W)`` scaled voxel coordinates (t, y, x); cached, callers must not modify it."""
    axes = [torch.arange(n, device=device, dtype=dtype) * sc for n, sc in zip(shape, scale)]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=0)


@functools.lru_cache(maxsize=16)
def _pooled_positions(shape: tuple[int, int, int], scale: tuple[float, float, float], kernel: tuple[int, int, int],
                      dtype: torch.dtype, device: str) -> torch.Tensor:
    """``(1, 4, t, h, w)`` sums of the scaled coordinates and voxel counts over ``kernel``-pooled blocks."""
    pos = _positions(shape, scale, dtype, device)
    ones = pos.new_ones(1, *shape)
    return F.avg_pool3d(torch.cat((pos, ones)).unsqueeze(0), kernel, stride=kernel, ceil_mode=True,
                        divisor_override=1)


@functools.lru_cache(maxsize=16)
def _layout(sub_axes: tuple[tuple[int, ...], ...], sub_shape: tuple[int, int], n_sub: int,
            device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Items grouped by sub-cell: ``(n_sub, vmax)`` item indices (padding: 0) and the mask of real slots.

    Depends only on the volume shape and the seed grid, so it is cached across calls.
    """
    sub_t, sub_y, sub_x = (torch.tensor(ax, dtype=torch.long, device=device) for ax in sub_axes)
    ny, nx = sub_shape
    sub = ((sub_t.view(-1, 1, 1) * ny + sub_y.view(1, -1, 1)) * nx + sub_x.view(1, 1, -1)).reshape(-1)
    n_items = sub.numel()
    order = torch.argsort(sub, stable=True)
    sizes = torch.bincount(sub, minlength=n_sub)
    vmax = max(int(sizes.max()), 1)
    starts = torch.cumsum(sizes, 0) - sizes
    slot = torch.arange(n_items, device=device) - starts[sub[order]]
    layout = torch.zeros((n_sub, vmax), dtype=torch.long, device=device)
    valid = torch.zeros((n_sub, vmax), dtype=torch.bool, device=device)
    layout[sub[order], slot] = order
    valid[sub[order], slot] = True
    return layout, valid
