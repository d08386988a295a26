"""Colour conversion in torch: sRGB in [0, 1] -> CIELAB (D65, 2 degree observer).

Same constants as :func:`skimage.color.rgb2lab`, so SLIC on our Lab matches scikit-image's, but it
runs batched on the tensor's device and keeps the video layout ``(B, 3, T, H, W)``.
"""
from __future__ import annotations

import torch

from ..errors import ShapeError

__all__ = ["rgb_to_lab", "XYZ_FROM_RGB", "D65_WHITE"]

#: sRGB (linear) -> CIE XYZ, the matrix scikit-image uses.
XYZ_FROM_RGB = ((0.412453, 0.357580, 0.180423),
                (0.212671, 0.715160, 0.072169),
                (0.019334, 0.119193, 0.950227))
#: Reference white D65, 2 degree observer.
D65_WHITE = (0.95047, 1.0, 1.08883)


def rgb_to_lab(rgb: torch.Tensor, channel_dim: int = 1) -> torch.Tensor:
    """Convert sRGB values in [0, 1] to CIELAB (L in [0, 100], a and b roughly in [-128, 127]).

    Args:
        rgb: a float tensor with 3 colour channels along ``channel_dim`` (default 1, i.e. ``(B, 3, T, H, W)``
            or ``(B, 3, H, W)``); values are clamped to [0, 1].
        channel_dim: the colour axis.

    Returns:
        A tensor of the same shape, dtype (float32 at least) and device with channels (L, a, b).
    """
    if rgb.ndim == 0 or rgb.shape[channel_dim] != 3:
        raise ShapeError(f"rgb_to_lab expects 3 colour channels along dim {channel_dim}, got shape {tuple(rgb.shape)}")
    dtype = rgb.dtype if rgb.is_floating_point() and rgb.dtype != torch.float16 and rgb.dtype != torch.bfloat16 \
        else torch.float32
    # Channels are mixed with einsum in the given layout (no channels-last copy, no (N, 3) @ (3, 3) matmul,
    # which is several times slower on CPU).
    x = rgb.to(dtype)
    x = x.unsqueeze(0) if x.ndim == 1 else x.movedim(channel_dim, 1)
    x = x.clamp(0, 1)
    # sRGB gamma -> linear light
    lin = torch.where(x > 0.04045, x.add(0.055).div_(1.055).pow_(2.4), x / 12.92)
    m = torch.tensor(XYZ_FROM_RGB, dtype=dtype, device=x.device)
    m = m / torch.tensor(D65_WHITE, dtype=dtype, device=x.device).view(3, 1)
    xyz = torch.einsum("ij,bj...->bi...", m, lin)
    f = torch.where(xyz > 0.008856, xyz.clamp_min(1e-12).pow_(1.0 / 3.0), xyz.mul(7.787).add_(16.0 / 116.0))
    # (L, a, b) = M_lab f + (-16, 0, 0)
    m_lab = torch.tensor(((0.0, 116.0, 0.0), (500.0, -500.0, 0.0), (0.0, 200.0, -200.0)), dtype=dtype, device=x.device)
    lab = torch.einsum("ij,bj...->bi...", m_lab, f)
    lab[:, 0] -= 16.0
    return lab.squeeze(0) if rgb.ndim == 1 else lab.movedim(1, channel_dim)
