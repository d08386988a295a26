"""Jitter-CAM: higher-resolution CAMs from shifted crops of an upscaled clip (Hartley's thesis on gradient-weighted superpixels, ch. 5), in space
and - our extension - in time.

A CAM taken at a layer with an ``m x m`` feature grid can only place evidence in ``m x m`` cells of ``k = p/m``
pixels (``p`` = input size). Jitter-CAM (Hartley et al., BMVC 2021) upscales the input to ``p + d*k`` pixels so the
same field of view spans ``m + d`` cells, runs the CAM on each ``p x p`` crop of the upscaled input on a grid of
stride ``k`` (``(d+1)^2`` crops), pastes every crop's CAM back where the crop came from, and divides the sum by
the number of crops that covered each position. The result resolves ``m + d`` cells across the view.

Video extension (not in the thesis): the same along time. The clip is
resampled in time (trilinear) so its ``T`` frames span ``T' + d_t`` CAM time steps instead of ``T'``, and
``T``-frame windows are taken at ``d_t + 1`` offsets, one CAM time step apart. This raises the temporal
resolution of 3-D CNN CAMs, whose last block is usually 2-8x downsampled in time. Resampling slows the clip
by ``(T' + d_t) / T'`` inside each window, a mild change of speed for small ``d_t``.

Implementation: the crops' CAMs are computed batched (``chunk_size`` clip-crops per forward/backward pass),
upsampled (trilinear) to the crop size, and accumulated on the model's device on the upscaled canvas
together with a visit count; ``J / C`` is then area-averaged back to the input's ``(T, H, W)``. Pasting at
pixel level rather than at feature level works for any target layer (multi-pathway fusion, strides that do
not divide the input) and gives the same map up to interpolation. With zero shifts the method is exactly
the chosen CAM.
"""
from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import ClassVar

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .. import methods
from ..errors import InputError
from .base import Attribution, AttributionResult, normalize_maps
from .cam import CAM_VARIANTS, WEIGHTINGS, Reshape, assemble, layer_cams, resolve_layers

__all__ = ["JitterCAM", "jitter_grid"]


def _per_axis(value: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    vals = (value,) * n if isinstance(value, (int, float)) else tuple(value) if isinstance(value, (list, tuple)) else ()
    if (len(vals) != n or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or v != int(v)
                              for v in vals)):
        raise InputError(f"{name} must be a non-negative integer or {n} of them, got {value!r}")
    return tuple(int(v) for v in vals)


def jitter_grid(size: Sequence[int], cells: Sequence[int], shifts: Sequence[int],
                scale: Sequence[float | None] | None = None) -> tuple[tuple[int, ...], list[tuple[int, ...]]]:
    """Upscaled canvas size and crop offsets, per axis.

    Args:
        size: the input's size along each axis (e.g. ``(T, H, W)``).
        cells: the CAM's feature grid along each axis (``(T', H', W')``).
        shifts: ``d`` per axis: the number of extra cells (``d + 1`` crop positions).
        scale: optional upscale factor per axis (None entries take the default); default ``(m + d) / m``
            (the thesis: the crops step by one feature cell of the upscaled input).

    Returns:
        ``(canvas, offsets)``: the upscaled size per axis, and the list of crop offsets (one tuple per crop,
        the product of ``d + 1`` evenly spaced offsets from 0 to ``canvas - size`` per axis).
    """
    canvas, per_axis = [], []
    for i, (n, m, d) in enumerate(zip(size, cells, shifts)):
        s = (m + d) / m if scale is None or scale[i] is None else float(scale[i])
        if s < 1:
            raise InputError(f"Jitter-CAM scale must be >= 1, got {s}")
        big = max(n, int(round(n * s)))
        if d == 0 or big == n:
            per_axis.append([0])
        else:
            per_axis.append(sorted({int(round(j * (big - n) / d)) for j in range(d + 1)}))
        canvas.append(big)
    return tuple(canvas), list(itertools.product(*per_axis))


def _feature_grid(raw: torch.Tensor) -> tuple[int, int, int]:
    """(T', H', W') of a raw CAM batch (B, *S); a 2-D CAM has one time cell."""
    shape = tuple(raw.shape[1:])
    return (1, *shape) if len(shape) == 2 else shape  # type: ignore[return-value]


@methods.register("jitter-cam", description="Jitter-CAM: CAMs of shifted crops of an upscaled clip, averaged, for "
                  "finer spatial and temporal resolution", family="cam")
class JitterCAM(Attribution):
    """Jitter-CAM ("Jitter-CAM: Improving the Spatial Resolution of CAM-Based Explanations", Hartley et al.,
    BMVC 2021) with a temporal extension.

    Parameters of :meth:`attribute` (besides the clip batch and ``target``):
        cam: the CAM computed on every crop: ``"gradcam"`` (default), ``"gradcam++"``, ``"xgradcam"``,
            ``"layercam"``.
        shifts: spatial ``d``: extra feature cells across the view; ``(d+1)^2`` crops. An int or ``(dh, dw)``.
            Default 2.
        temporal_shifts: ``d_t``: extra CAM time steps along the clip; ``d_t + 1`` windows. Default 1
            (ignored for single-frame clips). ``shifts=0, temporal_shifts=0`` is the plain CAM.
        scale: optional upscale factor: a float for both spatial axes (time keeps its default) or ``(t, h, w)``;
            default ``(m + d) / m`` per axis, the thesis' choice, so neighbouring crops are one feature cell apart.
            A larger scale with the same shifts spreads the crops further apart.
        layer, weighting, relu, reshape, pathway_weights: as for the CAM methods (:mod:`vidxai.attribution.cam`).
        normalize: min-max normalise each map to [0, 1] (default False).
        chunk_size: clip-crops per forward/backward pass (default 8); lower it to save memory.
        progress: show a tqdm bar over the passes (default False).

    Cost: ``1 + (d_t+1)(dh+1)(dw+1)`` forward+backward passes (the first is the plain CAM, which also fixes the
    target and the feature grid); the defaults make 19 passes.

    The result's ``raw`` is the accumulated map ``J / C`` on the upscaled canvas; ``extras`` hold the plain CAM
    at input resolution (``"cam"``), the canvas size, crop offsets and visit counts (``"canvas"``,
    ``"offsets"``, ``"counts"``) and the resolved targets.

    Example::

        res = JitterCAM(model).attribute(clips, target=3, cam="gradcam++", shifts=1, temporal_shifts=0)
        res.extras["cam"]   # the plain Grad-CAM++ for comparison
    """

    family: ClassVar[str] = "cam"
    resolves_target = True  # the plain CAM's forward pass fixes the targets
    choices = {"cam": CAM_VARIANTS, "weighting": WEIGHTINGS}
    positive_ints = ("chunk_size",)

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        if not CAM_VARIANTS[settings["cam"]].uses_weighting and settings["weighting"] != "global":
            raise InputError(f"{settings['cam']} weights every position by its own gradient; "
                             f"weighting={settings['weighting']!r} does not apply")
        _per_axis(settings["shifts"], 2, "shifts")
        _per_axis(settings["temporal_shifts"], 1, "temporal_shifts")
        return settings

    def compute(self, x: torch.Tensor, target, logits, cam: str = "gradcam",
                shifts: int | Sequence[int] = 2, temporal_shifts: int = 1,
                scale: float | Sequence[float] | None = None, layer=None, weighting: str = "global",
                relu: bool = True, normalize: bool = False, pathway_weights: Sequence[float] | None = None,
                reshape: Reshape = None, chunk_size: int = 8, progress: bool = False) -> AttributionResult:
        dh, dw = _per_axis(shifts, 2, "shifts")
        (dt,) = _per_axis(temporal_shifts, 1, "temporal_shifts")
        if scale is not None:
            scale = _per_axis_float(scale)

        model = self.model
        b, _, t, h, w = x.shape
        if t == 1:
            dt = 0
        layers = resolve_layers(model, layer)

        # The plain CAM: fixes the targets (top-1 of the un-jittered clip) and the feature grid.
        raws, logits, target = layer_cams(model, x, target, layers, cam, weighting, relu, reshape)
        plain, _, _ = assemble(model, x, raws, pathway_weights)
        canvas, offsets = jitter_grid((t, h, w), _feature_grid(raws[-1]), (dt, dh, dw), scale)

        big = x if canvas == (t, h, w) else F.interpolate(x, size=canvas, mode="trilinear", align_corners=False)
        acc = torch.zeros(b, *canvas, device=x.device, dtype=plain.dtype)
        counts = torch.zeros(canvas, device=x.device, dtype=plain.dtype)
        per_pass = max(1, int(chunk_size) // b)
        chunks = [offsets[i:i + per_pass] for i in range(0, len(offsets), per_pass)]
        for chunk in tqdm(chunks, desc="jitter-cam", disable=not progress, leave=False):
            n = len(chunk)
            crops = torch.stack([big[:, :, ot:ot + t, oh:oh + h, ow:ow + w] for ot, oh, ow in chunk], dim=1)
            crop_raws, _, _ = layer_cams(model, crops.flatten(0, 1), target.repeat_interleave(n), layers, cam,
                                         weighting, relu, reshape)
            maps, _, _ = assemble(model, crops.flatten(0, 1), crop_raws, pathway_weights)
            maps = maps.view(b, n, t, h, w)
            for j, (ot, oh, ow) in enumerate(chunk):
                acc[:, ot:ot + t, oh:oh + h, ow:ow + w] += maps[:, j]
                counts[ot:ot + t, oh:oh + h, ow:ow + w] += 1
        jmap = acc / counts  # every canvas position is covered: the offsets run from 0 to canvas - size
        saliency = jmap if canvas == (t, h, w) else F.interpolate(jmap.unsqueeze(1), size=(t, h, w),
                                                                  mode="area").squeeze(1)
        if normalize:
            saliency = normalize_maps(saliency)
        # every tensor extra is batched along dim 0 (explain() splits extras per clip)
        extras = {"cam": plain, "canvas": canvas, "offsets": offsets, "counts": counts.expand(b, *canvas),
                  "target": target}
        return AttributionResult(saliency, raw=jmap, logits=logits, extras=extras)


def _per_axis_float(scale: float | Sequence[float | None]) -> tuple[float | None, ...]:
    if isinstance(scale, (int, float)):
        return (None, float(scale), float(scale))
    vals = tuple(None if v is None else float(v) for v in scale)
    if len(vals) != 3:
        raise InputError(f"scale must be a float (spatial) or (t, h, w), got {scale!r}")
    return vals  # type: ignore[return-value]
