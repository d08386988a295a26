"""SWAG-V: gradient-weighted supervoxels (Hartley, "Gradient Weighted Superpixels for Interpretability in CNNs", WACV 2021, and its video extension SWAG-V, WACV 2022; Hartley's PhD thesis, ch. 3-4).

Recipe, all batched on the model's device:

1. Guided backprop of the target class to the clip: G ``(B, 3, T, H, W)``; M = max over colour of |G|.
2. Supervoxels (:func:`vidxai.supervoxels.slic3d`) from the clip's colour (``swagv-i``), from M rescaled to
   [0, 100] acting as a greyscale volume (``swagv-g``), or from both, M as an extra feature (``swagv-ig``):
   ``D' = sqrt((dc/wc)^2 + (ds/ws)^2 + (dg/wg)^2)`` (the colour term is dropped for G).
3. Each supervoxel's weight is the mean of M inside it (one scatter mean); every voxel takes its
   supervoxel's weight. The saliency is ``(B, T, H, W)``; the segmentation is returned with it.

Presets (``preset=``; single parameters override them):

===========  ==========  =====================  ===========================================
preset       n_segments  weights                time
===========  ==========  =====================  ===========================================
"default"    120         I: wc=10; I+G: wc=20,  temporal_ratio=0.5: seeds split time (2 x 8 x 8
                         wg=9; G: wg=10         for 16 x 112 x 112); supervoxels span a median of
                                                10-12 frames (measured, docs/supervoxels.md)
"thesis"     120         same                   temporal_ratio=None: scikit-image's isotropic grid,
                                                1 x 9 x 9 seeds, supervoxels span all 16 frames
===========  ==========  =====================  ===========================================

K=120, wc=20, wg=9 for I+G are the thesis' tuned values (R(2+1)D on Kinetics-400). The thesis tuned no
weights for I and G: I uses SLIC's standard compactness 10, and G uses 10 as the weight of the gradient,
which plays the role of the greyscale image there. For a SlowFast model the gradient is taken w.r.t. the
one full-rate clip that feeds both pathways, so the supervoxels are shared by the pathways. A clip with
T = 1 gives SWAG for single images through the same code.
"""
from __future__ import annotations

import inspect
from typing import Any

import torch

from .. import methods
from ..errors import InputError, ShapeError
from ..supervoxels import slic3d
from ..supervoxels.slic import DEFAULT_TEMPORAL_RATIO
from .base import Attribution, AttributionResult, normalize_maps
from .guided import guided_gradient

__all__ = ["SwagV", "SwagVI", "SwagVG", "SwagVIG", "PRESETS", "segment_means", "gradient_map"]

PRESET = "preset"  # "not given": take the preset's value (a readable default in signatures and docs)

#: Per-variant defaults of the presets (see the module docstring).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "default": {
        "i": {"n_segments": 120, "compactness": 10.0, "temporal_ratio": DEFAULT_TEMPORAL_RATIO},
        "g": {"n_segments": 120, "gradient_weight": 10.0, "temporal_ratio": DEFAULT_TEMPORAL_RATIO},
        "ig": {"n_segments": 120, "compactness": 20.0, "gradient_weight": 9.0,
               "temporal_ratio": DEFAULT_TEMPORAL_RATIO},
    },
    "thesis": {
        "i": {"n_segments": 120, "compactness": 10.0, "temporal_ratio": None},
        "g": {"n_segments": 120, "gradient_weight": 10.0, "temporal_ratio": None},
        "ig": {"n_segments": 120, "compactness": 20.0, "gradient_weight": 9.0, "temporal_ratio": None},
    },
}

_SLIC_PARAMS = ("temporal_scale", "grid", "max_iter", "enforce_connectivity", "min_size_factor", "move_seeds",
                "search", "coarse", "merge", "mode")  # mode="exact": scikit-image's slic step by step


def gradient_map(grad: torch.Tensor) -> torch.Tensor:
    """M = max over colour of |G|: ``(B, C, T, H, W)`` -> ``(B, T, H, W)``."""
    return grad.abs().amax(dim=1)


def segment_means(values: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean of ``values`` inside each segment, per clip (one scatter mean on the values' device).

    Args:
        values: ``(B, ...)`` float.
        labels: ``(B, ...)`` long, contiguous 0..K_b-1 per clip.

    Returns:
        ``(per_voxel (B, ...), weights (B, K_max))``: every voxel's segment mean, and the segment means
        themselves (NaN-free; segments a clip does not have are 0).
    """
    b = values.shape[0]
    k = int(labels.max()) + 1
    idx = (labels.reshape(b, -1) + torch.arange(b, device=labels.device).view(b, 1) * k).reshape(-1)
    v = values.reshape(-1).to(torch.float64)
    sums = torch.zeros(b * k, dtype=torch.float64, device=values.device).index_add_(0, idx, v)
    counts = torch.bincount(idx, minlength=b * k).to(torch.float64)
    means = (sums / counts.clamp_min(1)).to(values.dtype)
    return means[idx].view(values.shape), means.view(b, k)


class SwagV(Attribution):
    """SWAG-V base class; subclasses fix ``variant`` ("i", "g" or "ig").

    Params:
        preset: ``"default"`` or ``"thesis"`` (see the module docstring).
        n_segments: supervoxels requested (default 120).
        compactness: colour weight wc (I, I+G).
        gradient_weight: gradient weight wg (G, I+G).
        temporal_ratio: seed spacing in frames / in pixels; None = scikit-image's grid (thesis).
        strict: guided-backprop strictness (see :func:`vidxai.attribution.guided.guided_gradient`).
        Any of temporal_scale, grid, max_iter, enforce_connectivity, min_size_factor, move_seeds, search,
        coarse, merge, mode is passed to :func:`vidxai.supervoxels.slic3d` (``mode="exact"``: scikit-image's
        slic step by step; docs/benchmarks/slic_modes.md measures what it changes).
    """

    family = "supervoxel"
    variant = "ig"
    #: options handed on to :func:`vidxai.supervoxels.slic3d` (its defaults apply)
    forwarded_params = dict.fromkeys(_SLIC_PARAMS, inspect.Parameter.empty)

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        cls.presets = {name: dict(per_variant[cls.variant]) for name, per_variant in PRESETS.items()}

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        for key in ("n_segments", "compactness", "gradient_weight", "temporal_ratio"):
            val = settings[key]
            if isinstance(val, str) and val != PRESET:
                raise InputError(f"{self.name}: {key} must be a number or {PRESET!r}, got {val!r}")
        if self.variant == "g" and settings["compactness"] != PRESET:
            raise InputError("swagv-g has no colour term: use gradient_weight, not compactness")
        if self.variant == "i" and settings["gradient_weight"] != PRESET:
            raise InputError("swagv-i has no gradient term: use compactness, not gradient_weight")
        if int(settings["n_segments"]) < 1:
            raise InputError(f"n_segments must be >= 1, got {settings['n_segments']}")
        return settings

    def compute(self, x: torch.Tensor, target, logits, n_segments: int | str = PRESET,
                compactness: float | str = PRESET, gradient_weight: float | str = PRESET,
                temporal_ratio: float | None | str = PRESET, strict: bool = True,
                **slic_options) -> AttributionResult:
        """Supervoxels of the clip (colour, the guided-backprop map, or both), each weighted by the mean
        guided-backprop magnitude inside it.

        Args:
            n_segments, compactness, gradient_weight, temporal_ratio: the preset's values unless given
                (``"preset"`` in the signature: a variant has only the weights it uses).
            strict: refuse models with activations guided backprop has no rule for.
            **slic_options: SLIC options passed to :func:`vidxai.supervoxels.slic3d` (``max_iter``, ``merge``...).

        Returns:
            :class:`AttributionResult` with ``saliency (B, T, H, W)``, ``segmentation`` (labels) and the
            guided-backprop map as ``raw``; ``extras["config"]``: the four SLIC settings used.
        """
        params = slic_options
        cfg = {k: v for k, v in (("n_segments", n_segments), ("compactness", compactness),
                                 ("gradient_weight", gradient_weight), ("temporal_ratio", temporal_ratio))
               if not (isinstance(v, str) and v == PRESET)}
        if self.variant != "g" and x.shape[1] != getattr(self.model, "input_channels", 3):  # two-stream: 5
            raise ShapeError(f"{self.name} segments the clip's colour and needs 3 channels, got {x.shape[1]}; "
                             "use swagv-g")
        grad, logits = guided_gradient(self.model, x, target, strict=strict)
        m = gradient_map(grad.detach())  # (B, T, H, W)
        with torch.no_grad():
            scaled = 100.0 * normalize_maps(m.float())  # the gradient on the Lab range [0, 100]
            common = dict(n_segments=int(cfg["n_segments"]), temporal_ratio=cfg["temporal_ratio"], **params)
            if self.variant == "g":
                labels = slic3d(scaled.unsqueeze(1), compactness=float(cfg["gradient_weight"]), lab=False, **common)
            else:
                rgb = self.model.to_unit_rgb(x.detach()).float()
                extra = scaled.unsqueeze(1) if self.variant == "ig" else None
                labels = slic3d(rgb, compactness=float(cfg["compactness"]), extra=extra,
                                extra_weight=float(cfg.get("gradient_weight", 10.0)), **common)
            saliency, weights = segment_means(m, labels)
        counts = labels.flatten(1).amax(1) + 1
        return AttributionResult(saliency=saliency, raw=m, segmentation=labels, logits=logits,
                                 extras={"segment_weights": weights, "num_segments": counts, "config": cfg})


@methods.register("swagv-i", description="SWAG-V I: supervoxels from the clip's colour, weighted by mean "
                  "guided-backprop magnitude", family="supervoxel")
class SwagVI(SwagV):
    """SWAG-V I: supervoxels from the clip's colour (CIELAB), weighted by mean guided-backprop magnitude.

    Example::

        res = SwagVI(model).attribute(clips, target=labels)
    """

    variant = "i"


@methods.register("swagv-g", description="SWAG-V G: supervoxels from the guided-backprop map itself, weighted by "
                  "its mean", family="supervoxel")
class SwagVG(SwagV):
    """SWAG-V G: supervoxels from the guided-backprop map itself, weighted by its mean.

    Example::

        res = SwagVG(model).attribute(clips, target=labels, gradient_weight=10.0)
    """

    variant = "g"


@methods.register("swagv-ig", description="SWAG-V I+G: supervoxels from colour + guided-backprop map, weighted by "
                  "mean guided-backprop magnitude (default method)", family="supervoxel")
class SwagVIG(SwagV):
    """SWAG-V I+G (the default method): supervoxels from colour and the guided-backprop map, weighted by mean
    guided-backprop magnitude.

    Example::

        res = SwagVIG(model).attribute(clips, target=labels, preset="thesis")
    """

    variant = "ig"
