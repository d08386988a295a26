"""Tensor operations shared across layers: per-clip min-max normalisation, Gaussian blurs, upsampling."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError


def minmax_per_clip(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max normalise each entry of a batch ``(B, ...)`` to [0, 1] over all its other dimensions.

    Args:
        x: a batch of maps or clips; entry ``b`` is normalised by its own minimum and maximum.
        eps: the smallest range divided by, so constant entries become 0. ``eps=0`` divides by the exact
            range, and by 1 where the range is 0 (constant entries still become 0).

    Returns:
        A tensor of the shape and dtype of ``x``.

    Example::

        >>> minmax_per_clip(torch.tensor([[1.0, 3.0], [2.0, 2.0]]))
        tensor([[0., 1.],
                [0., 0.]])
    """
    flat = x.flatten(1)
    lo = flat.amin(dim=1, keepdim=True)
    hi = flat.amax(dim=1, keepdim=True)
    span = hi - lo
    if eps > 0:
        span = span.clamp_min(eps)
    else:
        span = torch.where(span > 0, span, torch.ones_like(span))
    return ((flat - lo) / span).view(x.shape)


def gaussian_blur(x: torch.Tensor, sigma: float | tuple[float, float, float] = (0.0, 5.0, 5.0)) -> torch.Tensor:
    """Separable Gaussian blur of ``(B, C, T, H, W)`` clips with per-axis ``sigma`` = (t, h, w) in voxels.

    A single number blurs space only (time untouched). Each kernel has radius ``ceil(3 sigma)``; borders are
    reflected (replicated when a clip is too short to reflect). Depthwise ``conv3d``, on the clip's device.

    Args:
        x: clips ``(B, C, T, H, W)``.
        sigma: one number (space only) or a ``(t, h, w)`` triple; 0 leaves that axis untouched.

    Returns:
        The blurred clips, shape of ``x``.

    Raises:
        InputError: ``sigma`` is negative or not a number or triple.

    Example::

        >>> gaussian_blur(torch.rand(1, 3, 4, 16, 16), (1.0, 2.0, 2.0)).shape
        torch.Size([1, 3, 4, 16, 16])
    """
    if isinstance(sigma, (int, float)):
        sigma = (0.0, float(sigma), float(sigma))
    if len(sigma) != 3 or any(s < 0 for s in sigma):
        raise InputError(f"blur sigma must be a non-negative number or (t, h, w) triple, got {sigma!r}")
    out = x
    c = x.shape[1]
    for axis, s in enumerate(sigma):
        if s <= 0:
            continue
        radius = max(1, int(math.ceil(3 * s)))
        coords = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        kernel = torch.exp(-0.5 * (coords / s) ** 2)
        kernel = kernel / kernel.sum()
        shape = [1, 1, 1]
        shape[axis] = kernel.numel()
        weight = kernel.view(1, 1, *shape).repeat(c, 1, 1, 1, 1)
        pad = [0, 0, 0, 0, 0, 0]  # (w_lo, w_hi, h_lo, h_hi, t_lo, t_hi)
        pad[2 * (2 - axis)] = pad[2 * (2 - axis) + 1] = radius
        mode = "reflect" if out.shape[2 + axis] > radius else "replicate"
        out = F.conv3d(F.pad(out, pad, mode=mode), weight, groups=c)
    return out


def blur_frames(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Blur each frame of ``x (B, C, T, H, W)`` with a 2-D Gaussian of ``sigma`` pixels (the blur baseline).

    The kernel has radius ``round(3 sigma)``; on frames smaller than the kernel it is cut to the frame and
    renormalised, so borders are always reflected (replicated on 1-pixel frames). ``sigma <= 0`` returns a
    copy. This is the deletion/insertion and perturbation blur; :func:`gaussian_blur` is the per-axis one.

    Args:
        x: clips ``(B, C, T, H, W)``.
        sigma: the Gaussian's standard deviation in pixels (same along H and W; time is never blurred).

    Returns:
        The blurred clips, shape of ``x``.

    Example::

        >>> blur_frames(torch.rand(1, 3, 4, 16, 16), 2.0).shape
        torch.Size([1, 3, 4, 16, 16])
    """
    if sigma <= 0:
        return x.clone()
    radius = max(1, int(round(3 * sigma)))
    t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    b, c, tt, h, w = x.shape
    y = x.reshape(b * c * tt, 1, h, w)
    pad_h, pad_w = min(radius, h - 1), min(radius, w - 1)
    y = F.pad(y, (pad_w, pad_w, pad_h, pad_h), mode="reflect" if min(h, w) > 1 else "replicate")
    kh = k[radius - pad_h: radius + pad_h + 1]
    kw = k[radius - pad_w: radius + pad_w + 1]
    y = F.conv2d(y, (kh / kh.sum()).view(1, 1, -1, 1))
    y = F.conv2d(y, (kw / kw.sum()).view(1, 1, 1, -1))
    return y.reshape(b, c, tt, h, w)


def upsample_to(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``(B, *spatial)`` maps to ``size`` with (tri/bi)linear interpolation, rank-agnostic.

    Args:
        maps: a batch of 1-, 2- or 3-D maps.
        size: the target spatial size, one entry per spatial dimension.

    Returns:
        ``(B, *size)`` maps (``maps`` itself when it already has that size).

    Example::

        >>> upsample_to(torch.ones(2, 2, 3, 3), (8, 12, 12)).shape
        torch.Size([2, 8, 12, 12])
    """
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


__all__ = ["minmax_per_clip", "gaussian_blur", "blur_frames", "upsample_to"]
