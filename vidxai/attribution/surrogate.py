"""Methods over features (supervoxels by default): LIME, KernelSHAP and Norton's feature occlusion.

A *feature* is a region of the clip: a supervoxel from :func:`vidxai.supervoxels.slic3d` (default), a given
segmentation, or a connected region of high gradient relevance. A coalition ``z`` in {0,1}^K keeps the features
with z_k = 1 and replaces the others with a fill (default a blurred clip, sigma 5 px; or a constant in
normalised space, seeded noise, or a pixelised clip); perturbed clips are scored in chunks. Feature weights are spread back over their voxels to give the
saliency volume, and the segmentation is returned with it.
"""
from __future__ import annotations

import inspect
import math
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from .. import methods
from ..errors import InputError, UnknownNameError
from ..models.base import resolve_chunk_size
from .baselines import clip_seed
from .base import Attribution, AttributionResult, input_gradient, model_state, reduce_channels
from .perturbation import OUTPUTS, chunked_scores, occlusion_fill, scores_of

FEATURES = ("supervoxels", "relevance")
FILLS = ("constant", "noise", "blur", "pixelate")


def feature_segmentation(model, x: torch.Tensor, target: torch.Tensor, features: str = "supervoxels",
                         n_segments: int = 64, compactness: float = 10.0, relevance_quantile: float = 0.9,
                         relevance_sigma: float = 2.0, min_feature_fraction: float = 0.002,
                         **slic_params) -> torch.Tensor:
    """``(B, T, H, W)`` feature ids 0..K_b-1 for each clip.

    ``supervoxels``: SLIC supervoxels of the clip colour. ``relevance`` (Norton's features): the input-gradient
    magnitude, smoothed per frame with a Gaussian of ``relevance_sigma`` pixels, is thresholded at its
    ``relevance_quantile``; each 6-connected region above it with at least ``min_feature_fraction`` of the
    clip's voxels is a feature, and everything else (low relevance and tiny fragments) is feature 0.
    """
    from ..core.tensor import blur_frames as gaussian_blur
    from ..supervoxels import connected_components, relabel_contiguous, slic3d

    if features == "supervoxels":
        return slic3d(model.to_unit_rgb(x), n_segments=n_segments, compactness=compactness, **slic_params)
    if features == "relevance":
        if slic_params:
            raise InputError(f"{sorted(slic_params)} only apply to supervoxel features")
        if not 0 < relevance_quantile < 1:
            raise InputError(f"relevance_quantile must be in (0, 1), got {relevance_quantile}")
        with model_state(model):
            rel = reduce_channels(input_gradient(model, x, target), "max_abs")
        rel = gaussian_blur(rel.unsqueeze(1), relevance_sigma)[:, 0]
        cut = rel.flatten(1).quantile(relevance_quantile, dim=1).view(-1, 1, 1, 1)
        high = rel > cut
        comp = connected_components(high.long())
        b = comp.shape[0]
        span = int(comp.max()) + 1
        keyed = comp + torch.arange(b, device=comp.device).view(b, 1, 1, 1) * span
        sizes = torch.bincount(keyed.flatten(), minlength=b * span)[keyed]
        keep = high & (sizes >= min_feature_fraction * comp[0].numel())
        # feature 0 = the rest; relabel so each clip's ids are 0..K_b-1 with 0 first
        return relabel_contiguous(torch.where(keep, comp + 1, torch.zeros_like(comp)))
    raise UnknownNameError(features, FEATURES, hint="feature kind")


def pixelate(x: torch.Tensor, block: int = 8) -> torch.Tensor:
    """Each frame of ``x (B, C, T, H, W)`` averaged over ``block x block`` pixel blocks."""
    b, c, t, h, w = x.shape
    small = F.adaptive_avg_pool3d(x, (t, max(1, h // block), max(1, w // block)))
    return F.interpolate(small, size=(t, h, w), mode="nearest")


def fill_clip(x: torch.Tensor, fill: str, generator: torch.Generator, value: float = 0.0) -> torch.Tensor:
    if fill == "pixelate":
        return pixelate(x)
    if fill not in FILLS:
        raise UnknownNameError(fill, FILLS, hint="fill")
    return occlusion_fill(x, fill, generator, value)


def coalition_clips(x: torch.Tensor, base: torch.Tensor, seg: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """Clips ``(N, C, T, H, W)``: ``x`` where the coalition ``z (N, K)`` keeps a feature, ``base`` elsewhere."""
    keep = z[:, seg.flatten()].view(z.shape[0], 1, *seg.shape).to(x.dtype)
    return x * keep + base * (1 - keep)


def weighted_linear_fit(z: torch.Tensor, y: torch.Tensor, w: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """Weighted least squares ``y ~ b0 + z @ b`` (tiny ridge for stability); returns the ``K`` coefficients."""
    a = torch.cat([torch.ones_like(z[:, :1]), z], 1).double()
    sw = w.double().sqrt()[:, None]
    aw, yw = a * sw, y.double()[:, None] * sw.squeeze(1)[:, None]
    reg = ridge * torch.eye(a.shape[1], dtype=torch.float64, device=a.device)
    reg[0, 0] = 0
    coef = torch.linalg.solve(aw.T @ aw + reg, aw.T @ yw)
    return coef[1:, 0].float()


def shapley_kernel_samples(k: int, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Coalitions and weights for KernelSHAP. All ``2^k`` coalitions with the exact Shapley kernel when they fit
    in ``n``; otherwise sizes drawn in proportion to the kernel mass of each size (weights 1). The empty and full
    coalitions are always included with a large weight (they pin the intercept and the sum)."""
    big = 1e6
    if 2 ** k <= n:
        z = ((torch.arange(2 ** k)[:, None] >> torch.arange(k)) & 1).float()
        s = z.sum(1)
        w = torch.tensor([(k - 1) / (math.comb(k, int(v)) * v * (k - v)) if 0 < v < k else big for v in s.tolist()])
        return z, w
    sizes = torch.arange(1, k)
    mass = (k - 1) / (sizes * (k - sizes)).float()
    draw = sizes[torch.multinomial(mass / mass.sum(), n - 2, replacement=True, generator=generator)]
    order = torch.rand((n - 2, k), generator=generator).argsort(1)
    z = (order < draw[:, None]).float()
    z = torch.cat([torch.zeros(1, k), torch.ones(1, k), z])
    w = torch.cat([torch.full((2,), big), torch.ones(n - 2)])
    return z, w


def lime_kernel(distance: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """LIME's exponential kernel ``sqrt(exp(-d^2 / width^2))`` (``lime_base.LimeBase``'s default, used by
    ``lime_image``; note the square root: the weight is ``exp(-d^2 / (2 width^2))``)."""
    return torch.exp(-(distance ** 2) / kernel_width ** 2).sqrt()


def lime_samples(k: int, n: int, generator: torch.Generator, kernel_width: float) -> tuple[torch.Tensor, torch.Tensor]:
    """LIME coalitions (each feature kept with probability 1/2; the full clip first) and their weights
    :func:`lime_kernel` of d, the cosine distance to the full coalition (as ``lime_image``)."""
    z = (torch.rand((n, k), generator=generator) < 0.5).float()
    z[0] = 1
    cos = z.sum(1) / (z.norm(dim=1) * math.sqrt(k)).clamp_min(1e-12)
    return z, lime_kernel(1 - cos, kernel_width)


#: options handed on to :func:`feature_segmentation` (their defaults are its own)
SEGMENTATION_OPTIONS = ("compactness", "temporal_ratio", "max_iter", "relevance_quantile", "relevance_sigma",
                        "min_feature_fraction")


class FeatureMethod(Attribution):
    """Shared parameters and the per-clip loop of the feature-based methods.

    A subclass draws coalitions (:meth:`samples`) or overrides :meth:`feature_weights`; its own options, with
    their defaults, are its ``feature_options`` (handed on to :meth:`feature_weights`).
    """

    positive_ints = ("n_samples", "n_segments")
    choices = {"features": FEATURES, "fill": FILLS, "output": OUTPUTS}
    #: method-specific keyword parameters handed on to :meth:`feature_weights`, with their defaults
    feature_options: ClassVar[dict[str, Any]] = {}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        own = inspect.signature(feature_segmentation).parameters  # the rest go on to slic3d
        cls.forwarded_params = {**{k: own[k].default if k in own else inspect.Parameter.empty
                                   for k in SEGMENTATION_OPTIONS}, **cls.feature_options}

    def compute(self, x: torch.Tensor, target, logits, segmentation: torch.Tensor | None = None,
                features: str = "supervoxels", n_segments: int = 64, n_samples: int = 512, fill: str = "blur",
                value: float = 0.0, kernel_width: float = 0.25, chunk_size: int | str = "auto", output: str = "logit",
                seed: int = 0, progress: bool = False, **options) -> AttributionResult:
        """``options``: :data:`SEGMENTATION_OPTIONS` given for :func:`feature_segmentation`, and the method's
        ``feature_options``."""
        slic = {k: v for k, v in options.items() if k in SEGMENTATION_OPTIONS}
        extra = {k: v for k, v in options.items() if k not in SEGMENTATION_OPTIONS}
        chunk_size = resolve_chunk_size(chunk_size, x.shape, x.device)
        seg = (feature_segmentation(self.model, x, target, features, n_segments, **slic) if segmentation is None
               else torch.as_tensor(segmentation, device=x.device).long().reshape(x.shape[0], *x.shape[2:]))
        saliency = torch.zeros(x.shape[0], *x.shape[2:], device=x.device)
        tables = []
        for j in range(x.shape[0]):
            # one generator per clip (seed + a digest of the clip): a clip's map is the same alone or in a batch
            gen = torch.Generator().manual_seed(clip_seed(x[j], seed))
            base = fill_clip(x[j:j + 1], fill, gen, value)
            k = int(seg[j].max()) + 1
            weights, table = self.feature_weights(x[j:j + 1], base, seg[j], k, target[j], gen,
                                                  n_samples=n_samples, kernel_width=kernel_width,
                                                  chunk_size=chunk_size, output=output, progress=progress, **extra)
            saliency[j] = weights.to(x.device)[seg[j]]
            tables.append(table)
        settings = {"features": features, "n_segments": n_segments, "n_samples": n_samples, "fill": fill,
                    "value": value, "kernel_width": kernel_width, "chunk_size": chunk_size, "output": output,
                    "seed": seed, "given_segmentation": segmentation is not None, **slic, **extra}
        return AttributionResult(saliency, segmentation=seg, logits=logits,
                                 extras={"features": tables, "params": settings})

    def feature_weights(self, x, base, seg, k, target, gen, n_samples, kernel_width, chunk_size, output, progress):
        z, w = self.samples(k, n_samples, gen, kernel_width)
        z, w = z.to(x.device), w.to(x.device)
        y = chunked_scores(self.model, lambda lo, hi: coalition_clips(x, base, seg, z[lo:hi]), len(z), target,
                           chunk_size, output, progress, self.name)
        coef = weighted_linear_fit(z, y, w)
        return coef, {"features": [{"feature": i, "weight": float(c), "voxels": int((seg == i).sum())}
                                   for i, c in enumerate(coef)]}

    def samples(self, k, n, gen, kernel_width):
        raise NotImplementedError


@methods.register("lime", description="LIME over supervoxels: a weighted linear fit to random coalitions",
                  family="perturbation")
class Lime(FeatureMethod):
    """LIME (Ribeiro et al. 2016, "Why Should I Trust You?") with supervoxels as features (``n_samples``
    coalitions; weights :func:`lime_kernel` of the cosine distance, kernel width 0.25, as ``lime_image``).

    Example::

        res = Lime(model).attribute(clips, target=3, n_segments=120, n_samples=256, seed=0)
        res.extras["features"][0]["features"][:3]   # per-supervoxel weights of clip 0
    """

    slow = True

    def samples(self, k, n, gen, kernel_width):
        return lime_samples(k, n, gen, kernel_width)


@methods.register("kernelshap", description="KernelSHAP over supervoxels: Shapley-kernel-weighted linear fit",
                  family="perturbation")
class KernelShap(FeatureMethod):
    """KernelSHAP (Lundberg & Lee 2017) over supervoxels; exact Shapley values when ``2^K <= n_samples``.

    Example::

        res = KernelShap(model).attribute(clips, target=3, n_segments=8, n_samples=256)  # 2^8 <= 256: exact
    """

    slow = True

    def samples(self, k, n, gen, kernel_width):
        return shapley_kernel_samples(k, n, gen)


@methods.register("feature-occlusion",
                  description="Norton's feature occlusion: occlude each supervoxel alone and in combinations",
                  family="perturbation")
class FeatureOcclusion(FeatureMethod):
    """Feature occlusion (Norton): each feature is occluded alone (its importance = the drop of the class
    score); then features are occluded cumulatively in order of importance until the prediction changes (the
    smallest deleting set), and restored in that order onto the fully occluded clip until the class returns (the
    smallest restoring set). ``extras["features"]`` holds per clip a table of the features plus
    ``most_important``, ``deleting_set`` and ``restoring_set``.

    Params (besides those of the feature methods): ``sets`` (default True): also search the deleting and
    restoring sets (about 2k more forwards); ``sets=False`` gives the single-feature drops only, like captum's
    ``FeatureAblation`` (the sets are then None).

    Example::

        res = FeatureOcclusion(model).attribute(clips, target=3, n_segments=32, sets=False)
    """

    slow = True

    feature_options = {"sets": True}

    def feature_weights(self, x, base, seg, k, target, gen, n_samples, kernel_width, chunk_size, output, progress,
                        sets=True):
        eye = torch.ones(k, k, device=x.device) - torch.eye(k, device=x.device)
        full = scores_of(self.model, x, target.view(1), output)
        alone = chunked_scores(self.model, lambda lo, hi: coalition_clips(x, base, seg, eye[lo:hi]), k, target,
                               chunk_size, output, progress, self.name)
        drop = (full - alone).float()
        order = drop.argsort(descending=True)
        table = {"features": [{"feature": int(i), "drop": float(drop[i]), "voxels": int((seg == i).sum())}
                              for i in range(k)],
                 "most_important": int(order[0]), "deleting_set": None, "restoring_set": None}
        if not sets:
            return drop, table
        # cumulative coalitions: delete the top-i features / keep only the top-i features, i = 1..k
        steps = torch.arange(1, k + 1, device=x.device)
        top = (torch.arange(k, device=x.device)[None] < steps[:, None]).float()
        ranked = torch.zeros(k, k, device=x.device).scatter_(1, order.expand(k, k), top)
        with torch.no_grad():
            pred_del = torch.cat([self.model(coalition_clips(x, base, seg, 1 - ranked[i:i + chunk_size])).argmax(1)
                                  for i in range(0, k, chunk_size)])
            pred_keep = torch.cat([self.model(coalition_clips(x, base, seg, ranked[i:i + chunk_size])).argmax(1)
                                   for i in range(0, k, chunk_size)])
        flip = (pred_del != target).nonzero()
        back = (pred_keep == target).nonzero()
        table["deleting_set"] = order[: int(flip[0]) + 1].tolist() if len(flip) else None
        table["restoring_set"] = order[: int(back[0]) + 1].tolist() if len(back) else None
        return drop, table

    def samples(self, k, n, gen, kernel_width):  # not sampled
        raise NotImplementedError


__all__ = ["Lime", "KernelShap", "FeatureOcclusion", "feature_segmentation", "coalition_clips", "weighted_linear_fit",
           "shapley_kernel_samples", "lime_samples", "lime_kernel", "pixelate"]
