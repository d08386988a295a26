"""Layers shared by the model ports (I3D, C3D) and given to the hub models.

:class:`MaxPool3d` is ``nn.MaxPool3d`` with faster CPU paths and the same numbers. PyTorch's CPU kernel for
channels-first 3-D max pooling is slow: in an I3D 16x224x224 forward it took a third of the time (173 of
509 ms, 2 threads). So, on CPU, for channels-first inputs:

- with no gradient through the pool, the max over a box is taken as a max over each axis in turn, each a
  running ``torch.maximum`` over ``k`` strided views (:func:`separable_max_pool3d`): bit-identical values,
  no argmax indices;
- with a gradient, the pool runs in channels-last memory order (a fast kernel) and its indices are handed to
  torch's channels-first backward: bit-identical values and gradients (same argmax, same tie rule).

``tools/bench_attribution.py`` times the I3D forward and forward + input gradient both ways side by side
(its floor rows; docs/models.md has the numbers). Other devices, channels-last inputs and other settings
(dilation, ``ceil_mode``, ``return_indices``, padding over half the kernel) use ``nn.MaxPool3d`` itself.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.utils import _triple


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


class _ChannelsLastMaxPool(torch.autograd.Function):
    """Max pool computed in channels-last order, indices kept for torch's channels-first backward."""

    @staticmethod
    def forward(ctx, x, kernel, stride, padding):
        out, indices = F.max_pool3d(x.contiguous(memory_format=torch.channels_last_3d), kernel, stride, padding,
                                    return_indices=True)
        indices = indices.contiguous()  # flat (T, H, W) positions: the same numbers in either memory order
        ctx.save_for_backward(x, indices)
        ctx.settings = (kernel, stride, padding)
        return out.contiguous()

    @staticmethod
    def backward(ctx, grad):
        x, indices = ctx.saved_tensors
        kernel, stride, padding = ctx.settings
        grad_x = torch.ops.aten.max_pool3d_with_indices_backward(grad.contiguous(), x, kernel, stride, padding,
                                                                [1, 1, 1], False, indices)
        return grad_x, None, None, None


class MaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d`` with the fast CPU paths described in :mod:`vidxai.models.layers` (same numbers)."""

    def _fast_path(self, x: torch.Tensor) -> bool:
        # Settings torch rejects (padding over half the kernel) go to torch, for its error message.
        pad_ok = all(2 * p <= k for p, k in zip(_triple(self.padding), _triple(self.kernel_size)))
        return (x.device.type == "cpu" and x.dim() == 5 and not self.return_indices and not self.ceil_mode
                and _triple(self.dilation) == (1, 1, 1) and pad_ok
                and not x.is_contiguous(memory_format=torch.channels_last_3d))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._fast_path(x):
            return super().forward(x)
        kernel, stride = _triple(self.kernel_size), _triple(self.stride)
        padding = _triple(self.padding)
        if torch.is_grad_enabled() and x.requires_grad:
            return _ChannelsLastMaxPool.apply(x, list(kernel), list(stride), list(padding))
        return separable_max_pool3d(x, kernel, stride, padding)


def use_fast_max_pools(net: nn.Module) -> nn.Module:
    """Turn every plain ``nn.MaxPool3d`` in ``net`` into :class:`MaxPool3d` in place (same settings, same
    numbers, faster on CPU). Returns ``net``."""
    for module in net.modules():
        if type(module) is nn.MaxPool3d:
            module.__class__ = MaxPool3d  # a subclass with no state of its own
    return net


__all__ = ["MaxPool3d", "separable_max_pool3d", "use_fast_max_pools"]
