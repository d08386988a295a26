"""Appearance vs motion: how an explanation of a two-stream model splits between its RGB and flow streams.

A :class:`vidxai.models.two_stream.TwoStream` model's input is ``[R, G, B, dx, dy]`` (5 channels): attributions
from gradient methods (``raw`` ``(B, 5, T, H, W)``) are split by channel, CAM methods give one map per stream
(``extras["pathway0"]`` = RGB, ``extras["pathway1"]`` = flow). From those:

- :func:`stream_maps`: the RGB and the flow stream's maps ``(B, T, H, W)``, each on the clip's frames (the flow at
  index ``t`` is the motion from frame ``t`` to ``t+1``; ``align="start"`` puts it on frame ``t``, ``"split"``
  half on ``t`` and half on ``t+1``);
- :func:`stream_shares`: per clip, the fraction of the total absolute attribution on each stream,
  ``[appearance, motion]`` summing to 1;
- :func:`appearance_motion_share`: the same from a method's result or an :class:`~vidxai.Explanation`.

Absolute values are summed over channels (``sum_abs``): a share is about how much attribution a stream gets,
whatever its sign. For CAMs, the maps of the two streams are on their own layers' scales; with a logits-mean
fusion and a pooled linear head per stream, a stream's (unrectified) Grad-CAM sums to its share of the fused
score, so their sums compare.
"""
from __future__ import annotations

import torch

from ..core.checks import check_choice
from ..errors import InputError, ShapeError

ALIGNS = ("start", "split")


def _batched(x: torch.Tensor, ndim: int) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.unsqueeze(0) if x.ndim == ndim - 1 else x


def align_flow(flow_map: torch.Tensor, align: str = "start") -> torch.Tensor:
    """Put a flow-indexed map ``(B, T, H, W)`` on the frames.

    ``"start"``: unchanged (index ``t`` = the motion from frame ``t`` to ``t+1``, shown on frame ``t``);
    ``"split"``: half on frame ``t`` and half on frame ``t+1`` (the total is kept, except the last index's half,
    which has no next frame and stays on the last frame).

    Example:
        >>> align_flow(torch.tensor([[2.0, 4.0, 0.0]]).view(1, 3, 1, 1), "split").flatten().tolist()
        [1.0, 3.0, 2.0]
    """
    check_choice(align, ALIGNS, hint="flow alignment")
    if align == "start":
        return flow_map
    out = flow_map / 2
    out[:, 1:] += flow_map[:, :-1] / 2
    out[:, -1] += flow_map[:, -1] / 2  # the last flow index has no next frame: its other half stays
    return out


def stream_maps(attribution: torch.Tensor, rgb_channels: int = 3, align: str = "start"
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a channel-resolved attribution ``(B, C, T, H, W)`` into the RGB and the flow stream's maps.

    Args:
        attribution: e.g. ``AttributionResult.raw`` of a gradient method on a two-stream model (``C = 5``), or
            one clip ``(C, T, H, W)``.
        rgb_channels: the first ``rgb_channels`` channels are the RGB stream's, the rest the flow stream's.
        align: where flow attributions go on the frames (see :func:`align_flow`).

    Returns:
        ``(rgb, flow)``, each ``(B, T, H, W)``: the sum of ``|attribution|`` over the stream's channels.

    Example:
        >>> a = torch.zeros(5, 2, 1, 1); a[0, 0] = -1.0; a[3, 1] = 2.0; a[4, 1] = -3.0
        >>> rgb, flow = stream_maps(a)
        >>> rgb.flatten().tolist(), flow.flatten().tolist()
        ([1.0, 0.0], [0.0, 5.0])
    """
    attribution = _batched(attribution, 5)
    if attribution.ndim != 5 or not 0 < rgb_channels < attribution.shape[1]:
        raise ShapeError(f"expected a (B, C, T, H, W) attribution with more than {rgb_channels} channels, "
                         f"got {tuple(attribution.shape)}")
    mag = attribution.detach().abs()
    return mag[:, :rgb_channels].sum(1), align_flow(mag[:, rgb_channels:].sum(1), align)


def stream_shares(rgb_map: torch.Tensor, flow_map: torch.Tensor) -> torch.Tensor:
    """Per clip, the fraction of the total absolute attribution on each stream.

    Args:
        rgb_map, flow_map: the streams' maps ``(B, ...)`` (e.g. from :func:`stream_maps`, or a CAM's
            ``extras["pathway0"]`` / ``["pathway1"]``); they may differ in size.

    Returns:
        ``(B, 2)``: ``[appearance, motion]``, each row summing to 1; NaN where both maps are zero (no attribution).

    Example:
        >>> stream_shares(torch.tensor([[1.0, -1.0]]), torch.tensor([[6.0]]))
        tensor([[0.2500, 0.7500]])
    """
    rgb = _batched(rgb_map, 2).detach().abs().flatten(1).sum(1).double()
    flow = _batched(flow_map, 2).detach().abs().flatten(1).sum(1).double()
    if rgb.shape != flow.shape:
        raise ShapeError(f"the stream maps have different batch sizes: {rgb.shape[0]} and {flow.shape[0]}")
    total = rgb + flow
    shares = torch.stack([rgb, flow], 1) / total.unsqueeze(1)  # 0/0 = NaN: undefined, not a tie
    return shares.float()


def appearance_motion_share(result, rgb_channels: int = 3) -> torch.Tensor:
    """The ``[appearance, motion]`` share ``(B, 2)`` of a method's result on a two-stream model.

    Args:
        result: an :class:`~vidxai.attribution.base.AttributionResult` (batched) or an
            :class:`~vidxai.Explanation` (one clip, gives ``(1, 2)``). Its channel-resolved ``raw``
            (``C > rgb_channels``, gradient methods) is used when present, else the per-pathway maps of CAM
            methods (``extras`` / ``metadata`` ``"pathway0"`` and ``"pathway1"``).
        rgb_channels: see :func:`stream_maps`.

    Raises:
        InputError: the result has neither (e.g. perturbation methods and SWAG-V, whose maps mix both streams).

    Example:
        >>> from vidxai.attribution.base import AttributionResult
        >>> raw = torch.zeros(1, 5, 1, 1, 1); raw[0, 1] = 1.0; raw[0, 4] = -3.0
        >>> appearance_motion_share(AttributionResult(saliency=raw.sum(1), raw=raw))
        tensor([[0.2500, 0.7500]])
    """
    single = hasattr(result, "metadata")  # an Explanation (one clip) rather than a batched AttributionResult
    raw = getattr(result, "raw", None)
    extras = (result.metadata if single else getattr(result, "extras", None)) or {}
    # channel-resolved: (B, C, T, H, W), or (C, T, H, W) for one clip (a CAM's raw has no channel axis)
    if raw is not None and raw.ndim == (4 if single else 5) and raw.shape[-4] > rgb_channels:
        return stream_shares(*stream_maps(raw, rgb_channels))
    if "pathway0" in extras and "pathway1" in extras:
        p0, p1 = extras["pathway0"], extras["pathway1"]
        return stream_shares(p0.unsqueeze(0) if single else p0, p1.unsqueeze(0) if single else p1)
    method = getattr(result, "method", "") or "this method"
    raise InputError(f"{method} gives no per-stream attribution (no channel-resolved raw map, no per-pathway maps); "
                     "use a gradient method (gradient, integrated-gradients, ...) or a CAM with one layer per stream")


__all__ = ["stream_maps", "stream_shares", "appearance_motion_share", "align_flow", "ALIGNS"]
