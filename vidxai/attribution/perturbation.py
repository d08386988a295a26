"""Perturbation methods for video: sliding-window occlusion, RISE and spatio-temporal extremal perturbation.

All of them only query the model: they build many perturbed clips, score them in chunks of ``chunk_size``
clips per forward (memory bounded; occlusion's default ``"auto"`` takes fewer clips per forward for large clips
on the CPU, see :func:`vidxai.models.base.resolve_chunk_size`), and are seeded. See docs/perturbation.md.

Extremal perturbation has named presets (``preset="paper"``: the settings of the method's paper, see
:attr:`vidxai.attribution.base.Attribution.presets`) and reports the settings of each map in ``extras["params"]``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from .. import methods
from ..errors import InputError, UnknownNameError
from ..models.base import resolve_chunk_size
from .base import Attribution, AttributionResult, target_scores

OUTPUTS = ("logit", "prob")
FILLS = ("constant", "noise", "blur")


def _triple(v: int | Sequence[int], what: str) -> tuple[int, int, int]:
    t = (int(v),) * 3 if isinstance(v, (int, float)) else tuple(int(a) for a in v)
    if len(t) != 3 or min(t) < 1:
        raise InputError(f"{what} must be a positive int or (t, h, w), got {v!r}")
    return t


def scores_of(model: nn.Module, clips: torch.Tensor, target: torch.Tensor, output: str = "logit") -> torch.Tensor:
    """Scores ``(N,)`` of the clips ``(N, C, T, H, W)`` for the classes ``target (N,)`` (logit or probability)."""
    logits = model(clips)
    if output == "prob":
        return logits.softmax(1).gather(1, target.view(-1, 1)).squeeze(1)
    return target_scores(logits, target)


def chunked_scores(model: nn.Module, make: Callable[[int, int], torch.Tensor], count: int, target: int | torch.Tensor,
                   chunk_size: int, output: str = "logit", progress: bool = False, desc: str = "") -> torch.Tensor:
    """Score ``count`` perturbed clips built by ``make(start, stop) -> (stop-start, C, T, H, W)``, chunk by chunk."""
    from tqdm.auto import tqdm

    out = []
    with torch.no_grad(), tqdm(total=count, disable=not progress, desc=desc, leave=False) as bar:
        for start in range(0, count, chunk_size):
            stop = min(count, start + chunk_size)
            clips = make(start, stop)
            t = torch.as_tensor(target, device=clips.device).reshape(-1).expand(clips.shape[0])
            out.append(scores_of(model, clips, t, output).float())
            bar.update(stop - start)
    return torch.cat(out)


# -- occlusion ----------------------------------------------------------------------------------------------
def window_starts(size: int, window: int, stride: int) -> list[int]:
    """Start offsets of a sliding window along one axis (captum's rule: the last window may overhang)."""
    if window > size:
        raise InputError(f"occlusion window {window} is larger than the clip axis {size}")
    return [i * stride for i in range(math.ceil((size - window) / stride) + 1)]


def window_masks(starts: torch.Tensor, window: tuple[int, int, int], size: tuple[int, int, int]) -> torch.Tensor:
    """Boolean masks ``(N, T, H, W)`` of the 3-D windows with corners ``starts (N, 3)`` and shape ``window``."""
    axes = []
    for i, (k, n) in enumerate(zip(window, size)):
        pos = torch.arange(n, device=starts.device)
        axes.append((pos >= starts[:, i:i + 1]) & (pos < starts[:, i:i + 1] + k))  # (N, n)
    return axes[0][:, :, None, None] & axes[1][:, None, :, None] & axes[2][:, None, None, :]


def occlusion_fill(x: torch.Tensor, fill: str, generator: torch.Generator | None = None,
                   value: float = 0.0, blur_sigma: float = 5.0) -> torch.Tensor:
    """What occluded voxels of ``x (B, C, T, H, W)`` are replaced with."""
    if fill == "constant":
        return torch.full_like(x, value)
    if fill == "noise":
        return torch.randn(x.shape, generator=generator, device="cpu").to(x) * x.std() + x.mean()
    if fill == "blur":
        from ..core.tensor import blur_frames as gaussian_blur

        return gaussian_blur(x, blur_sigma)
    raise UnknownNameError(fill, FILLS, hint="occlusion fill")


@methods.register("occlusion", description="Sliding 3-D window occlusion: drop in the class score per voxel",
                  family="perturbation")
class Occlusion(Attribution):
    """Occlusion (Zeiler & Fergus 2014) with a 3-D window.

    Each window (size ``window`` = (t, h, w), moved by ``stride``) is filled with ``fill`` (default ``"blur"``: the
    clip blurred with a Gaussian of 5 pixels; or a constant ``value`` in normalised space, or seeded noise); a voxel's importance is the mean over the windows that
    cover it of ``score(x) - score(occluded x)``. With ``fill="constant"`` and ``output="logit"`` this equals
    captum's ``Occlusion`` with a sliding window of shape ``(C, t, h, w)``.

    Example::

        res = Occlusion(model).attribute(clips, target=3, window=(4, 32, 32), stride=(4, 16, 16))
        res.extras["num_windows"]
    """

    slow = True
    choices = {"output": OUTPUTS, "fill": FILLS}

    def compute(self, x: torch.Tensor, target, logits, window=(4, 16, 16), stride=(2, 8, 8), fill: str = "blur",
                value: float = 0.0, output: str = "logit", chunk_size: int | str = "auto", seed: int = 0,
                progress: bool = False) -> AttributionResult:
        chunk_size = resolve_chunk_size(chunk_size, x.shape, x.device)
        window, stride = _triple(window, "window"), _triple(stride, "stride")
        b, _, t, h, w = x.shape
        starts = [window_starts(n, k, s) for n, k, s in zip((t, h, w), window, stride)]
        boxes = torch.cartesian_prod(*[torch.tensor(v, device=x.device) for v in starts]).view(-1, 3)
        gen = torch.Generator().manual_seed(seed)
        fill_clip = occlusion_fill(x, fill, gen, value)
        # window masks are built per chunk (all of them at once would be n_windows x T x H x W)
        saliency = torch.zeros(b, t, h, w, device=x.device)
        coverage = window_masks(boxes, window, (t, h, w)).sum(0).float()
        for j in range(b):
            xj, fj = x[j:j + 1], fill_clip[j:j + 1]

            def make(lo: int, hi: int, xj=xj, fj=fj) -> torch.Tensor:
                m = window_masks(boxes[lo:hi], window, (t, h, w))[:, None].to(x.dtype)
                return xj * (1 - m) + fj * m

            with torch.no_grad():
                full = scores_of(self.model, xj, target[j:j + 1], output)
            occluded = chunked_scores(self.model, make, len(boxes), target[j], chunk_size, output, progress,
                                      "occlusion")
            drop = full - occluded
            for lo in range(0, len(boxes), chunk_size):  # spread each window's drop over its voxels
                m = window_masks(boxes[lo:lo + chunk_size], window, (t, h, w)).to(x.dtype)
                saliency[j] += torch.einsum("n,nthw->thw", drop[lo:lo + chunk_size], m)
        saliency = saliency / coverage.clamp_min(1)
        return AttributionResult(saliency, logits=logits, extras={"num_windows": len(boxes)})


# -- RISE ---------------------------------------------------------------------------------------------------
def rise_masks(n: int, size: tuple[int, int, int], grid: tuple[int, int, int], p: float,
               generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """``n`` RISE masks ``(n, T, H, W)``: binary cells on ``grid`` (on with probability ``p``), upsampled
    trilinearly to one cell more than the clip and cropped at a random shift (Petsiuk et al. 2018)."""
    cells = (torch.rand((n, 1, *grid), generator=generator) < p).float().to(device)
    cell = [math.ceil(s / g) for s, g in zip(size, grid)]
    up = nn.functional.interpolate(cells, size=tuple((g + 1) * c for g, c in zip(grid, cell)), mode="trilinear",
                                   align_corners=False)[:, 0]
    shifts = torch.stack([torch.randint(0, c, (n,), generator=generator) for c in cell], 1).tolist()
    return torch.stack([up[i, a:a + size[0], b:b + size[1], c:c + size[2]] for i, (a, b, c) in enumerate(shifts)])


@methods.register("rise", description="RISE: score-weighted average of random low-resolution space-time masks",
                  family="perturbation")
class RISE(Attribution):
    """RISE for video: ``n_masks`` random binary masks on a ``grid`` of (t, h, w) cells, kept with probability
    ``p``, smoothly upsampled with random shifts; saliency = sum_i score_i * M_i / (n_masks * p). Masks blend the
    clip with ``fill`` (default ``"blur"``; the paper's is ``fill="constant"``, 0 in normalised space).

    ``centre=True`` (default) subtracts the mean score first: sum_i (score_i - mean) * M_i / (n_masks * p). In
    expectation this differs from the paper's estimator only by a constant (masks are uniform on average), but
    its variance is far lower, so fewer masks give the same ranking of voxels. ``centre=False`` is the paper's.

    Example::

        res = RISE(model).attribute(clips, target=3, n_masks=200, seed=1)
    """

    slow = True
    choices = {"output": OUTPUTS, "fill": FILLS}
    positive_ints = ("n_masks", "chunk_size")

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        if not 0 < settings["p"] < 1:
            raise InputError(f"RISE keep probability p must be in (0, 1), got {settings['p']}")
        return settings

    def compute(self, x: torch.Tensor, target, logits, n_masks: int = 500, grid=(4, 7, 7), p: float = 0.5,
                fill: str = "blur", output: str = "prob", centre: bool = True, chunk_size: int = 32,
                seed: int = 0, progress: bool = False) -> AttributionResult:
        b, _, t, h, w = x.shape
        gen = torch.Generator().manual_seed(seed)
        grid = tuple(min(g, s) for g, s in zip(_triple(grid, "grid"), (t, h, w)))
        fill_clip = occlusion_fill(x, fill, gen)
        weighted = torch.zeros(b, t, h, w, device=x.device)  # sum_i score_i * M_i
        coverage = torch.zeros(t, h, w, device=x.device)  # sum_i M_i (the same masks for every clip)
        score_sum = torch.zeros(b, device=x.device)
        from tqdm.auto import tqdm

        with tqdm(total=n_masks, disable=not progress, desc="rise", leave=False) as bar:
            for start in range(0, n_masks, chunk_size):
                m = rise_masks(min(chunk_size, n_masks - start), (t, h, w), grid, p, gen, x.device)
                coverage += m.sum(0)
                for j in range(b):
                    clips = x[j:j + 1] * m[:, None] + fill_clip[j:j + 1] * (1 - m[:, None])
                    s = chunked_scores(self.model, lambda lo, hi, c=clips: c[lo:hi], len(m), target[j], chunk_size,
                                       output)
                    weighted[j] += (s.view(-1, 1, 1, 1) * m).sum(0)
                    score_sum[j] += s.sum()
                bar.update(len(m))
        if centre:
            weighted = weighted - (score_sum / n_masks).view(-1, 1, 1, 1) * coverage
        return AttributionResult(weighted / (n_masks * p), logits=logits)


# -- extremal perturbation ----------------------------------------------------------------------------------
def blur_stack(x: torch.Tensor, sigma_max: float, levels: int, temporal: bool = False) -> torch.Tensor:
    """``(levels, B, C, T, H, W)``: ``x`` blurred with sigmas ``sigma_max * l / (levels - 1)``."""
    from ..core.tensor import blur_frames as gaussian_blur

    out = []
    for sigma in torch.linspace(0, sigma_max, levels).tolist():
        y = gaussian_blur(x, sigma)
        if temporal and sigma > 0:  # blur along time with the same sigma in frames, scaled down
            y = gaussian_blur(y.transpose(2, 4), sigma / 4).transpose(2, 4)
        out.append(y)
    return torch.stack(out)


def blur_perturbation(stack: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-voxel blur with sigma = sigma_max * (1 - m), by interpolating between the levels of ``stack``.

    ``stack``: ``(L, 1, C, T, H, W)`` for one clip; ``mask``: ``(A, 1, T, H, W)`` in [0, 1] -> ``(A, C, T, H, W)``.
    """
    levels = stack.shape[0]
    pos = (1 - mask) * (levels - 1)  # fractional level of each voxel
    lo = pos.floor().clamp(max=levels - 2).long()
    frac = pos - lo
    s = stack[:, 0]  # (L, C, T, H, W)
    idx = lo.expand(-1, s.shape[1], -1, -1, -1)  # (A, C, T, H, W)
    flat = s.unsqueeze(0).expand(mask.shape[0], *s.shape)  # (A, L, C, T, H, W)
    a = flat.gather(1, idx.unsqueeze(1)).squeeze(1)
    b = flat.gather(1, (idx + 1).unsqueeze(1)).squeeze(1)
    return a + (b - a) * frac


def smooth_mask(params: torch.Tensor, size: tuple[int, int, int], sigma_cells: float = 1.0,
                temperature: float = 1 / 20, voxels_per_cell: int | None = 4) -> torch.Tensor:
    """Smooth-max-of-Gaussians upsampling (Fong et al. 2019) of mask parameters ``(A, 1, t, h, w)`` to ``size``.

    Each output voxel takes a soft maximum (temperature ``temperature``) over the parameters of its neighbouring
    cells, each weighted by a Gaussian of the distance to the cell centre, so masks are smooth by construction.
    The operator is evaluated with at most ``voxels_per_cell`` samples per cell along each axis and then
    upsampled trilinearly (the mask is smooth at the cell scale, and 27 neighbours per voxel of a full clip are
    costly); ``None`` evaluates at every voxel.
    """
    grid = params.shape[2:]
    if voxels_per_cell is not None:
        coarse = tuple(min(s, g * voxels_per_cell) for s, g in zip(size, grid))
        if coarse != tuple(size):
            m = smooth_mask(params, coarse, sigma_cells, temperature, None)
            return nn.functional.interpolate(m, size=tuple(size), mode="trilinear", align_corners=False)
    dev, dtype = params.device, params.dtype
    pick, wts = [], []
    for axis, (s, g) in enumerate(zip(size, grid)):
        c = (torch.arange(s, device=dev, dtype=dtype) + 0.5) * g / s - 0.5  # voxel centres in cell units
        near = c.round()[:, None] + torch.tensor([-1.0, 0.0, 1.0], device=dev, dtype=dtype)  # (S, 3) neighbours
        # one-hot (S*3, g): row (voxel, neighbour) selects the neighbour's cell
        pick.append(nn.functional.one_hot(near.clamp(0, g - 1).long().flatten(), g).to(dtype))
        shape = [1] * 6
        shape[axis], shape[3 + axis] = s, 3
        wts.append(torch.exp(-((c[:, None] - near) ** 2) / (2 * sigma_cells ** 2)).view(shape))
    # (A, T, H, W, 3, 3, 3): the parameters of the 27 neighbouring cells of every voxel, Gaussian-weighted.
    # Selected by one-hot products, not by advanced indexing: indexing's backward accumulates into the cells
    # with index_put_(accumulate=True), whose CPU kernel adds with atomics in a thread-dependent order (maps
    # differed between runs with 2 threads). The products add exact zeros to one exact term, so the forward
    # values are those of indexing bit for bit, and the backward is a matrix product (a fixed order).
    t, h, w = size
    v = torch.einsum("atuv,kv->atuk", params[:, 0], pick[2])  # (A, gt, gh, W*3)
    v = torch.einsum("atuk,ju->atjk", v, pick[1])  # (A, gt, H*3, W*3)
    v = torch.einsum("atjk,it->aijk", v, pick[0])  # (A, T*3, H*3, W*3)
    v = v.view(-1, t, 3, h, 3, w, 3).permute(0, 1, 3, 5, 2, 4, 6) * (wts[0] * wts[1] * wts[2])
    v = v.flatten(4)
    soft = torch.softmax(v / temperature, dim=-1)
    return (soft * v).sum(-1).unsqueeze(1).clamp(0, 1)


def area_penalty(mask: torch.Tensor, areas: torch.Tensor) -> torch.Tensor:
    """``|| sort(vec(m)) - r_a ||^2`` per mask (mean over voxels): ``r_a`` has a fraction ``a`` of ones."""
    flat = mask.flatten(1)
    n = flat.shape[1]
    ref = (torch.arange(n, device=mask.device)[None] >= (n * (1 - areas))[:, None].round()).to(flat)
    return ((flat.sort(dim=1).values - ref) ** 2).mean(1)


#: Fong, Patrick & Vedaldi, "Understanding Deep Networks via Extremal Perturbations and Smooth Masks" (ICCV 2019),
#: as TorchRay implements it: 1,600 iterations, lambda from 300 growing by 1.0035 per iteration (doubling about
#: every 200), the six areas of the paper and a mask cell every 7 pixels (time: a cell every 2 frames).
EXTREMAL_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {"iterations": 1600, "lambda_start": 300.0, "lambda_growth": 1.0035,
              "areas": (0.05, 0.1, 0.2, 0.4, 0.6, 0.8), "grid": "paper"},
}


def extremal_grid(grid, size: tuple[int, int, int]) -> tuple[int, int, int]:
    """The mask grid for a clip of ``size = (T, H, W)``: ``"paper"`` is a cell every 2 frames and 7 pixels
    (TorchRay's step), otherwise ``grid`` capped at the clip size."""
    t, h, w = size
    if grid == "paper":
        return max(1, t // 2), math.ceil(h / 7), math.ceil(w / 7)
    return tuple(min(g, s) for g, s in zip(_triple(grid, "grid"), size))


def _check_extremal(areas: Sequence[float], iterations: int, learning_rate: float, variant: str) -> None:
    if variant not in ("preserve", "delete"):
        raise UnknownNameError(variant, ("preserve", "delete"), hint="extremal perturbation variant")
    if any(not 0 < float(a) < 1 for a in areas):
        raise InputError(f"areas must lie in (0, 1), got {list(areas)}")
    if iterations < 1 or learning_rate <= 0:
        raise InputError(f"extremal perturbation needs iterations >= 1 and learning_rate > 0, got "
                         f"{iterations} and {learning_rate}")


@methods.register("extremal-perturbation",
                  description="Spatio-temporal extremal perturbation: smooth masks of fixed volume that keep the class",
                  family="perturbation")
class ExtremalPerturbation(Attribution):
    """Extremal perturbations (Fong, Patrick & Vedaldi 2019) on a coarse T x H x W grid.

    For every ``area`` a (a fraction of the whole volume) a smooth mask is optimised, all areas in one batch:
    ``preserve`` maximises the class score of the clip blurred outside the mask (``delete`` minimises it with the
    mask's region blurred), plus ``lambda * ||sort(m) - r_a||^2`` with lambda growing geometrically from
    ``lambda_start`` to ``lambda_end`` over the iterations (or by the factor ``lambda_growth`` per iteration).
    Perturbation: per-voxel blur with sigma = ``sigma_max * (1 - m)`` (spatial; ``temporal_blur=True`` also blurs in time). The saliency is the sum of the masks over the areas;
    the masks are in ``extras["masks"]`` ``(B, A, T, H, W)``, the reached areas (fraction of voxels with m > 0.5)
    in ``extras["areas"]`` and the mean mask values in ``extras["mean_mask"]`` (both ``(B, A)``; soft edges make the
    mean a little larger than the area).
    The final preserved/deleted clip scores per area are in ``extras["scores"]`` ``(B, A)``, the settings used
    (after the preset, with the grid and lambda growth resolved) in ``extras["params"]``.

    Defaults are short for CPU (100 iterations; the constraint starts weak, ``lambda_start=30``, so the class score
    shapes the mask before the area is enforced; it ends at the weight TorchRay reaches after 800 iterations).
    ``preset="paper"`` (:data:`EXTREMAL_PRESETS`) runs the paper's schedule: ``iterations=1600, lambda_start=300,
    lambda_growth=1.0035`` (lambda doubles about every 200 iterations), areas (0.05, 0.1, 0.2, 0.4, 0.6, 0.8) and
    ``grid="paper"`` (a cell every 7 pixels, TorchRay's step, and every 2 frames); it is 16 x the default's
    iterations and 1.5 x its areas, so it is not the default on the CPU. The learning rate stays vidxai's (SGD,
    momentum 0.9): TorchRay's 0.01 with dampening 0.9 is a different parametrisation of the step.
    Masks start at 0.5 everywhere, so the result is deterministic and ``seed`` has no effect.

    Example::

        res = ExtremalPerturbation(model).attribute(clips, target=3, preset="paper")
        res.extras["masks"].shape   # (B, 6, T, H, W): one mask per area
    """

    slow = True

    presets = EXTREMAL_PRESETS

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        _check_extremal(settings["areas"], settings["iterations"], settings["learning_rate"], settings["variant"])
        return settings

    def compute(self, x: torch.Tensor, target, logits, areas: Sequence[float] = (0.05, 0.1, 0.2, 0.4),
                grid=(4, 7, 7), iterations: int = 100, learning_rate: float = 0.5, variant: str = "preserve",
                sigma_max: float = 10.0, blur_levels: int = 8, temporal_blur: bool = False,
                lambda_start: float = 30.0, lambda_end: float = 300 * 1.0035 ** 800,
                lambda_growth: float | None = None, smooth_temperature: float = 1 / 20,
                seed: int = 0, progress: bool = False) -> AttributionResult:
        b, _, t, h, w = x.shape
        grid = extremal_grid(grid, (t, h, w))
        area = torch.tensor([float(a) for a in areas], dtype=x.dtype, device=x.device)
        if lambda_growth is None:  # geometric from lambda_start to lambda_end over the iterations
            lambda_growth = (lambda_end / lambda_start) ** (1 / iterations)
        masks_out, scores_out = [], []
        for j in range(b):
            m, score = self._optimise(x[j:j + 1], target[j], area, grid, iterations, learning_rate, variant,
                                      sigma_max, blur_levels, temporal_blur, lambda_start, lambda_growth,
                                      smooth_temperature, progress)
            masks_out.append(m)
            scores_out.append(score)
        masks = torch.stack(masks_out)  # (B, A, T, H, W)
        return AttributionResult(masks.sum(1), logits=logits,
                                 extras={"masks": masks, "areas": (masks > 0.5).flatten(2).float().mean(2),
                                         "mean_mask": masks.flatten(2).mean(2),
                                         "scores": torch.stack(scores_out),
                                         "params": {"grid": tuple(grid), "lambda_growth": float(lambda_growth)}})

    def _optimise(self, xj: torch.Tensor, target: torch.Tensor, area: torch.Tensor, grid, iterations: int,
                  learning_rate: float, variant: str, sigma_max: float, blur_levels: int, temporal_blur: bool,
                  lam: float, lambda_growth: float, smooth_temperature: float,
                  progress: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The masks ``(A, T, H, W)`` of one clip ``(1, C, T, H, W)`` and their final scores ``(A,)``."""
        from tqdm.auto import tqdm

        size = tuple(xj.shape[2:])
        stack = blur_stack(xj, sigma_max, blur_levels, temporal_blur)
        # all 0.5: deterministic, and a clip's masks do not depend on the others in the batch
        param = torch.full((len(area), 1, *grid), 0.5, dtype=xj.dtype, device=xj.device, requires_grad=True)
        opt = torch.optim.SGD([param], lr=learning_rate, momentum=0.9)
        sign = 1.0 if variant == "preserve" else -1.0
        targets = target.expand(len(area))
        for _ in tqdm(range(iterations), disable=not progress, desc="extremal perturbation", leave=False):
            with torch.enable_grad():
                m = smooth_mask(param, size, temperature=smooth_temperature)
                clips = blur_perturbation(stack, m if variant == "preserve" else 1 - m)
                score = scores_of(self.model, clips, targets, "logit")
                loss = (-sign * score + lam * area_penalty(m, area)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                param.clamp_(0, 1)
            lam *= lambda_growth
        with torch.no_grad():
            m = smooth_mask(param, size, temperature=smooth_temperature)
            clips = blur_perturbation(stack, m if variant == "preserve" else 1 - m)
            return m[:, 0], scores_of(self.model, clips, targets, "logit")


__all__ = ["Occlusion", "RISE", "ExtremalPerturbation", "EXTREMAL_PRESETS", "extremal_grid", "rise_masks", "window_starts", "smooth_mask", "area_penalty",
           "blur_perturbation", "chunked_scores"]
