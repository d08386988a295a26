"""Guided-backpropagation machinery (Springenberg et al. 2015) for any PyTorch video network.

Guided backprop changes only the backward pass of each ReLU: a gradient passes back through a unit
only when the unit's forward input was positive (the usual ReLU rule) AND the gradient arriving
from above is positive. Nothing about the forward pass changes.

Networks apply ReLUs in many ways: ``nn.ReLU`` modules (``inplace`` or not), ``F.relu``/``torch.relu``/
``relu_``/``Tensor.relu`` calls inside a block's ``forward`` (pytorchvideo, user code), and now and then
``clamp(min=0)``. Swapping modules misses the functional calls, so :func:`guided_relus` instead runs the
forward under a :class:`torch.overrides.TorchFunctionMode` that sees *every* torch call (``nn.ReLU``
itself calls ``F.relu``) and routes each ReLU through :class:`GuidedReLUFunction`. Nothing is written
into the model, so there is nothing to undo; the mode is popped by the ``with`` statement even when the
forward raises.

Activations that guided backprop is not defined for (GELU, SiLU/Swish as in X3D, Hardswish,
LeakyReLU, ELU, Mish, ...) are detected before the forward (by module type) and during it (by
functional call). By default (``strict=True``) that raises :class:`~vidxai.errors.UnsupportedModelError`
naming the activation and where it is; ``strict=False`` warns once and lets plain gradients pass
through those activations (the ReLUs are still guided). Gates such as ``sigmoid``/``tanh``/``softmax``
(squeeze-excitation, attention) are not rectifiers and are left alone.
"""
from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ..errors import UnsupportedModelError

__all__ = ["GuidedReLUFunction", "guided_gradient", "guided_relu", "guided_relus", "unguidable_activations", "UNGUIDABLE_MODULES"]


class GuidedReLUFunction(torch.autograd.Function):
    """ReLU whose backward is ``grad.clamp(min=0) * (output > 0)`` (captum's GuidedBackprop rule).

    Like the native ReLU it saves its output (so an in-place call costs no extra memory, and a later in-place
    change of that output is reported by autograd exactly as it would be for ``torch.relu``); the backward is
    two kernels (clamp, threshold_backward), the same work as captum's hooked ReLU.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, inplace: bool = False) -> torch.Tensor:  # type: ignore[override]
        if inplace:
            ctx.mark_dirty(x)
            out = torch.relu_(x)
        else:
            out = torch.relu(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        (out,) = ctx.saved_tensors
        return torch.ops.aten.threshold_backward(grad.clamp(min=0), out, 0), None


def guided_relu(x: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """Functional guided ReLU (same forward as :func:`torch.relu`)."""
    return GuidedReLUFunction.apply(x, inplace)


# Module types with no guided-backprop rule. Matched by isinstance, plus class names for third-party
# activations that are not torch.nn classes (pytorchvideo's Swish, timm's QuickGELU...).
UNGUIDABLE_MODULES: tuple[type[nn.Module], ...] = (
    nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU, nn.PReLU, nn.RReLU,
    nn.Softplus, nn.ReLU6, nn.Hardtanh, nn.Hardsigmoid, nn.GLU, nn.Softsign, nn.Tanhshrink,
)
_UNGUIDABLE_NAMES = ("swish", "gelu", "silu", "mish", "hardswish", "hswish", "leakyrelu", "elu", "selu", "celu")



def _unguidable_name(cls_name: str) -> bool:
    """A class name of an activation guided backprop is not defined for, also with the prefixes and suffixes
    libraries add (transformers' ``FastGELUActivation``, ``QuickGELUActivation``, timm's ``GELUTanh``...)."""
    return _UNGUIDABLE_PATTERN.fullmatch(cls_name.lower()) is not None


_UNGUIDABLE_PATTERN = re.compile(r"(?:fast|quick|new|accurate|pytorch|memoryefficient)?"
                                 rf"(?:{'|'.join(_UNGUIDABLE_NAMES)})(?:tanh|approx|activation)?")


_UNGUIDABLE_FUNCS = {
    F.gelu, F.silu, F.hardswish, F.mish, F.elu, F.selu, F.celu, F.leaky_relu, F.rrelu, F.prelu, F.softplus,
    F.relu6, F.hardtanh, F.hardsigmoid, F.glu, F.elu_, F.leaky_relu_, F.rrelu_, F.hardtanh_, F.selu_, F.celu_,
}

_RELU_OUT = {torch.relu, F.relu, torch.Tensor.relu}
_RELU_INPLACE = {torch.relu_, torch.Tensor.relu_}
_CLAMP_OUT = {torch.clamp, torch.clip, torch.Tensor.clamp, torch.Tensor.clip, torch.clamp_min, torch.Tensor.clamp_min}
_CLAMP_INPLACE = {torch.clamp_, torch.clip_, torch.Tensor.clamp_, torch.Tensor.clip_, torch.clamp_min_,
                  torch.Tensor.clamp_min_}


def _is_zero(v) -> bool:
    if isinstance(v, torch.Tensor):
        return v.numel() == 1 and float(v) == 0.0
    return isinstance(v, (int, float)) and v == 0


def clamp_is_relu(func, args, kwargs) -> bool:
    """True for ``clamp(x, min=0)`` / ``clamp_min(x, 0)`` with no upper bound."""
    rest = list(args[1:])
    if func in (torch.clamp_min, torch.Tensor.clamp_min, torch.clamp_min_, torch.Tensor.clamp_min_):
        lo = rest[0] if rest else kwargs.get("min")
        return _is_zero(lo)
    lo = rest[0] if rest else kwargs.get("min")
    hi = rest[1] if len(rest) > 1 else kwargs.get("max")
    return hi is None and _is_zero(lo)


class _GuidedMode(TorchFunctionMode):
    """Routes every ReLU call of a forward through :class:`GuidedReLUFunction`."""

    def __init__(self, strict: bool) -> None:
        super().__init__()
        self.strict = strict
        self.unguided: set[str] = set()
        self.guided_calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _RELU_OUT:
            self.guided_calls += 1
            return guided_relu(args[0], bool(kwargs.get("inplace", args[1] if len(args) > 1 else False)))
        if func in _RELU_INPLACE:
            self.guided_calls += 1
            return guided_relu(args[0], True)
        if (func in _CLAMP_OUT or func in _CLAMP_INPLACE) and clamp_is_relu(func, args, kwargs):
            self.guided_calls += 1
            return guided_relu(args[0], func in _CLAMP_INPLACE)
        if func in _UNGUIDABLE_FUNCS:
            name = getattr(func, "__name__", str(func))
            if self.strict:
                raise UnsupportedModelError(
                    f"guided backprop cannot guide the activation {name}() called inside the model; "
                    "pass strict=False to let plain gradients through it")
            self.unguided.add(name)
        return func(*args, **kwargs)


def unguidable_activations(model: nn.Module) -> list[tuple[str, str]]:
    """``(module path, class name)`` of every activation module guided backprop has no rule for."""
    found = []
    for path, m in model.named_modules():
        cls = type(m).__name__
        if isinstance(m, UNGUIDABLE_MODULES) or _unguidable_name(cls):
            found.append((path, cls))
    return found


@contextlib.contextmanager
def guided_relus(model: nn.Module | None = None, strict: bool = True) -> Iterator[_GuidedMode]:
    """Run the forward passes inside the block with guided ReLUs.

    Args:
        model: checked up front for activation modules that cannot be guided (None skips the check).
        strict: raise :class:`UnsupportedModelError` for an unguidable activation (default); with False,
            warn and back-propagate the ordinary gradient through it.

    Yields the active mode; its ``guided_calls`` counts the ReLUs that were guided.
    """
    if model is not None:
        bad = unguidable_activations(model)
        if bad:
            kinds = sorted({c for _, c in bad})
            where = ", ".join(p or "<root>" for p, _ in bad[:3]) + (" ..." if len(bad) > 3 else "")
            msg = (f"guided backprop cannot guide {'/'.join(kinds)} activations ({len(bad)} in the model: {where}); "
                   "only ReLUs have a guided rule")
            if strict:
                raise UnsupportedModelError(msg + "; pass strict=False to let plain gradients through them")
            warnings.warn(msg + "; plain gradients pass through them (strict=False)", stacklevel=3)
    mode = _GuidedMode(strict)
    with mode:
        yield mode
    if mode.unguided and model is None:
        warnings.warn(f"guided backprop let plain gradients through {', '.join(sorted(mode.unguided))}",
                      stacklevel=3)


def guided_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                    strict: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Guided-backprop gradient of each clip's target logit w.r.t. ``x``: ``(grad (B,C,T,H,W), logits)``.

    Used by the guided-backprop method and by SWAG-V. The model should already be in eval mode with
    parameter gradients off (see :func:`vidxai.attribution.base.model_state`).
    """
    from .base import input_gradient

    with guided_relus(model, strict=strict):
        grad, logits = input_gradient(model, x, target, return_logits=True)
    return grad, logits
