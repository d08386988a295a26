"""Layers shared by the model ports (I3D, C3D).

:class:`MaxPool3d` is ``nn.MaxPool3d`` with a faster CPU path for forwards that need no gradient through it.
PyTorch's CPU kernel for channels-first 3-D max pooling computes argmax indices even under ``no_grad`` and
is slow: it took a third of an I3D 16x224x224 forward (173 of 509 ms, 2 threads). A max over a box is a max
over each axis in turn, and each of those is a running ``torch.maximum`` over ``k`` strided views, so the
pooled values are bit-identical while the time drops 5-20x per layer (``tools/bench_attribution.py`` rows
``forward (no grad)``). Forward-only work benefits: CAMs (no graph before the target layer), perturbation
methods, deletion/insertion. Whenever autograd must go through the pool, or on other devices or
channels-last inputs (whose kernels are fast), the layer is plain ``nn.MaxPool3d``, so gradients keep
PyTorch's exact max-pool semantics.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def separable_max_pool3d(x: torch.Tensor, kernel: tuple[int, int, int], stride: tuple[int, int, int],
                         padding: tuple[int, int, int] = (0, 0, 0)) -> torch.Tensor:
    """``F.max_pool3d(x, kernel, stride, padding)`` (no dilation, floor mode) as one max per axis.

    Values are identical to ``F.max_pool3d`` (a maximum is exact); meant for tensors that need no gradient.
    """
    if any(padding):
        p_t, p_h, p_w = padding
        x = F.pad(x, (p_w, p_w, p_h, p_h, p_t, p_t), value=float("-inf"))
    dims = range(x.dim() - 3, x.dim())
    # Strided axes first: they shrink the tensor the most for the axes after them.
    for dim, k, s in sorted(zip(dims, kernel, stride), key=lambda a: -a[2]):
        if k == 1 and s == 1:
            continue
        steps = (x.shape[dim] - k) // s + 1
        if steps < 1:
            raise ValueError(f"max pool kernel {tuple(kernel)} is larger than the input {tuple(x.shape[-3:])}")
        index: list[slice] = [slice(None)] * x.dim()
        out = None
        for offset in range(k):
            index[dim] = slice(offset, offset + (steps - 1) * s + 1, s)
            view = x[tuple(index)]
            out = view if out is None else torch.maximum(out, view)
        x = out
    return x.contiguous()


class MaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d`` whose gradient-free CPU forward is :func:`separable_max_pool3d` (same values)."""

    def _fast_path(self, x: torch.Tensor) -> bool:
        needs_grad = torch.is_grad_enabled() and x.requires_grad
        return (not needs_grad and x.device.type == "cpu" and x.dim() == 5 and not self.return_indices
                and not self.ceil_mode and _triple(self.dilation) == (1, 1, 1)
                and not x.is_contiguous(memory_format=torch.channels_last_3d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fast_path(x):
            return separable_max_pool3d(x, _triple(self.kernel_size), _triple(self.stride or self.kernel_size),
                                        _triple(self.padding))
        return super().forward(x)


def use_fast_max_pools(net: nn.Module) -> nn.Module:
    """Turn every plain ``nn.MaxPool3d`` in ``net`` into :class:`MaxPool3d` in place (same settings, same
    values; only gradient-free CPU forwards change, and get faster). Returns ``net``."""
    for module in net.modules():
        if type(module) is nn.MaxPool3d:
            module.__class__ = MaxPool3d  # a subclass with no state of its own
    return net


def _triple(v) -> tuple[int, int, int]:
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v, v)


__all__ = ["MaxPool3d", "separable_max_pool3d", "use_fast_max_pools"]
