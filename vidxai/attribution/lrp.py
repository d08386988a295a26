"""Layer-wise relevance propagation (Bach et al. 2015; Montavon et al. 2019) for 3-D (and 2-D) CNNs.

Relevance starts as the target logit ``f_c(x)`` and is redistributed layer by layer down to the input
voxels. Rules, applied to every linear operation (conv, linear, average pooling, mean/sum, folded or
unfolded batch norm, residual additions, scaling by constants):

- ``lrp-epsilon``: ``R_i = x_i * sum_j w_ij R_j / (z_j + eps * sign(z_j))`` with ``z_j = sum_i x_i w_ij + b_j``
  (the bias absorbs its share; ``eps`` absorbs weak, contradictory relevance).
- ``lrp-alphabeta``: positive and negative contributions are propagated apart,
  ``R_i = sum_j (alpha * (x_i w_ij)^+ / z_j^+ - beta * (x_i w_ij)^- / z_j^-) R_j`` (biases ignored); conserves
  relevance when ``alpha - beta = 1``. Defaults alpha=2, beta=1; alpha=1, beta=0 is Deep Taylor's z+ on ReLU inputs.
- ``lrp-zplus``: ``R_i = sum_j x_i^+ w_ij^+ / sum_i' x_i'^+ w_i'j^+ R_j`` (positive inputs and weights only,
  biases ignored).

Element-wise rectifiers (ReLU, ``clamp(min=0)``) pass relevance through unchanged, and max pooling (or an
element-wise maximum) gives all of a window's relevance to its winner (both via their ordinary gradients);
reshapes, slicing, concatenation and dropout (eval) move relevance around without changing it.

How: the forward pass runs under a :class:`torch.overrides.TorchFunctionMode` that sees every torch
call (module or functional, so ``nn.Sequential`` models, torchvision's R3D/R(2+1)D/MC3 with their
``out += identity`` residuals, and hand-written ``forward`` methods all work). Each linear operation is
replaced by an autograd function with the same forward value whose backward applies the rule; then one
``torch.autograd.grad`` of the logits with seed ``onehot * logit`` yields the input relevance. Batch norm is
folded into the conv/linear layer that feeds it (found by a first, no-grad pass that tracks which tensor
came from where); ``fold_batchnorm=False`` treats it as its own per-channel affine layer instead.

Operations with no LRP rule here (softmax, sigmoid/tanh gates, GELU/SiLU/Swish, layer/group norm,
attention, products of two activations...) raise :class:`~vidxai.errors.UnsupportedModelError` naming the
operation; nothing is written into the model, and the mode is popped even when the forward raises.
"""
from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .. import methods
from ..errors import InputError, UnsupportedModelError
from .base import REDUCTIONS, Attribution, AttributionResult, reduce_channels, target_scores
from .guided import clamp_is_relu

__all__ = ["LRPEpsilon", "LRPAlphaBeta", "LRPZPlus", "lrp_relevance", "LRPRule", "unsupported_lrp_modules"]

_STAB = 1e-9  # stabiliser of the alpha-beta / z+ denominators (only guards 0/0)


@dataclass(frozen=True)
class LRPRule:
    """A propagation rule: ``kind`` in ``epsilon | alphabeta | zplus`` and its constants."""

    kind: str = "epsilon"
    epsilon: float = 1e-6
    alpha: float = 2.0
    beta: float = 1.0


def _stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """``z + eps * sign(z)`` with sign(0) = +1 (captum's convention)."""
    return z + eps * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)


# ------------------------------------------------------------------------------------------------------------
# linear operations and the rules applied to them
# ------------------------------------------------------------------------------------------------------------
@dataclass
class _LinearOp:
    """A linear (affine) map of one or more graph tensors.

    ``apply(xs, part)`` evaluates it with the full weights plus bias (``"full"``), with the positive part of
    the weights and no bias (``"pos"``) or with the negative part and no bias (``"neg"``). ``nonneg`` marks
    maps whose weights are all >= 0 (pooling, sums), which skips the ``"neg"`` terms.
    """

    name: str
    apply: Callable[[Sequence[torch.Tensor], str], torch.Tensor]
    nonneg: bool = False
    #: optional ``transpose(cot, part, input_shape) -> J^T cot`` for one-input maps (conv, linear): saves the
    #: forward pass that an autograd vector-Jacobian product would need.
    transpose: Callable[[torch.Tensor, str, torch.Size], torch.Tensor] | None = None


def _vjp(op: _LinearOp, xs: Sequence[torch.Tensor], part: str, cot: torch.Tensor) -> list[torch.Tensor]:
    """``J^T cot`` of the linear map ``op`` (weights ``part``) for each input; exact because the map is linear."""
    if op.transpose is not None:
        return [op.transpose(cot, part, xs[0].shape)]
    leaves = [x.detach().requires_grad_(True) for x in xs]
    with torch.enable_grad():
        out = op.apply(leaves, part)
        grads = torch.autograd.grad(out, leaves, cot, allow_unused=True)
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, xs)]


def _relevance(op: _LinearOp, xs: Sequence[torch.Tensor], rel: torch.Tensor, rule: LRPRule) -> list[torch.Tensor]:
    """Input relevances of ``op`` given its output relevance ``rel`` under ``rule``."""
    if rule.kind == "epsilon":
        z = op.apply(xs, "full")
        s = rel / _stabilize(z, rule.epsilon)
        return [x * g for x, g in zip(xs, _vjp(op, xs, "full", s))]
    pos = [x.clamp(min=0) for x in xs]
    neg = [x.clamp(max=0) for x in xs]
    if rule.kind == "zplus":
        zp = op.apply(pos, "pos")
        sp = rel / _stabilize(zp, _STAB)
        return [p * g for p, g in zip(pos, _vjp(op, pos, "pos", sp))]
    # alpha-beta: z+ collects the positive contributions (W+ x+ and W- x-), z- the negative ones.
    # Most layers read ReLU outputs (no negative inputs): their x- terms are skipped, halving the work.
    has_neg = any(bool((n < 0).any()) for n in neg)
    zp = op.apply(pos, "pos")
    zn = op.apply(neg, "pos") if has_neg else torch.zeros_like(zp)
    if not op.nonneg:
        if has_neg:
            zp = zp + op.apply(neg, "neg")
        zn = zn + op.apply(pos, "neg")
    # Where an output has contributions of one sign only (always so for pooling or adding ReLU outputs), the
    # textbook rule would hand on alpha*R (or -beta*R); we hand on R there instead, so relevance is conserved
    # whenever alpha - beta = 1 and is lost only where z+ = z- = 0.
    alpha = torch.where(zn == 0, 1.0, rule.alpha).to(zp.dtype)
    beta = torch.where(zp == 0, -1.0, rule.beta).to(zp.dtype)
    sp = alpha * rel / _stabilize(zp, _STAB)
    out = [p * g for p, g in zip(pos, _vjp(op, xs, "pos", sp))]
    if not op.nonneg and has_neg:
        out = [o + n * g for o, n, g in zip(out, neg, _vjp(op, xs, "neg", sp))]
    sn = beta * rel / _stabilize(zn, _STAB)
    if has_neg:
        out = [o - n * g for o, n, g in zip(out, neg, _vjp(op, xs, "pos", sn))]
    if not op.nonneg:
        out = [o - p * g for o, p, g in zip(out, pos, _vjp(op, xs, "neg", sn))]
    return out


class _RuleFunction(torch.autograd.Function):
    """Forward: the linear op's ordinary output. Backward: the LRP rule instead of the gradient.

    With ``inplace`` the result is written into the first input (``x += y``, ``add_``), which autograd is
    told about with ``mark_dirty``; the pre-update inputs are kept as copies for the backward.
    """

    @staticmethod
    def forward(ctx, op: _LinearOp, rule: LRPRule, inplace: bool, *xs: torch.Tensor):  # type: ignore[override]
        ctx.op, ctx.rule, ctx.inplace = op, rule, inplace
        with torch.no_grad():
            if inplace:
                saved = [x.clone() for x in xs]
                z = op.apply(saved, "full")
                ctx.kept = saved
                ctx.mark_dirty(xs[0])
                return xs[0].copy_(z)
            ctx.save_for_backward(*xs)
            return op.apply(xs, "full")

    @staticmethod
    def backward(ctx, rel: torch.Tensor):  # type: ignore[override]
        xs = ctx.kept if ctx.inplace else ctx.saved_tensors
        with torch.no_grad():
            rels = _relevance(ctx.op, xs, rel, ctx.rule)
        return (None, None, None, *rels)


# ------------------------------------------------------------------------------------------------------------
# classifying torch calls
# ------------------------------------------------------------------------------------------------------------
def _name(func) -> str:
    return getattr(func, "__name__", str(func))


_CONV = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}
_AVG = {"avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "adaptive_avg_pool2d",
        "adaptive_avg_pool3d", "mean", "sum"}
_ADD = {"add", "__add__", "__radd__", "add_", "__iadd__"}
_SUB = {"sub", "__sub__", "sub_", "__isub__", "subtract"}
_MUL = {"mul", "__mul__", "__rmul__", "mul_", "__imul__", "multiply"}
_DIV = {"div", "__truediv__", "div_", "__itruediv__", "divide", "true_divide"}
# Calls that move relevance without changing it (reshapes, selection, rectifiers, max pooling, dropout).
_PASS = {
    "relu", "relu_", "threshold", "threshold_", "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices",
    "max_pool2d_with_indices", "max_pool3d_with_indices", "_max_pool1d", "_max_pool2d", "_max_pool3d",
    "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d", "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d_with_indices", "adaptive_max_pool3d_with_indices", "amax", "max", "maximum",
    "view", "view_as", "reshape", "reshape_as", "flatten", "unflatten", "permute", "transpose", "t", "contiguous",
    "squeeze", "unsqueeze", "expand", "expand_as", "__getitem__", "narrow", "select", "index_select", "split",
    "split_with_sizes", "chunk", "unbind", "cat", "concat", "concatenate", "stack", "clone", "to", "float", "double",
    "half", "type", "type_as", "dropout", "dropout1d", "dropout2d", "dropout3d", "feature_dropout", "alpha_dropout",
    "movedim", "moveaxis", "swapaxes", "swapdims", "repeat", "tile", "roll", "flip", "detach", "requires_grad_",
    "__setstate__", "as_strided", "tensor_split", "hsplit", "vsplit", "dsplit", "pad", "constant_pad_nd",
}


def _graph(v) -> bool:
    return isinstance(v, torch.Tensor) and v.requires_grad


def _tensors(args, kwargs) -> list[torch.Tensor]:
    out = []
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, torch.Tensor):
            out.append(v)
        elif isinstance(v, (list, tuple)):
            out.extend(t for t in v if isinstance(t, torch.Tensor))
    return out


def _arg(args, kwargs, i: int, key: str, default=None):
    return args[i] if len(args) > i else kwargs.get(key, default)


def _split(w: torch.Tensor | None, part: str) -> torch.Tensor | None:
    if w is None:
        return None
    return w if part == "full" else w.clamp(min=0) if part == "pos" else w.clamp(max=0)


def _bn_affine(args, kwargs) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel ``(scale, shift)`` of an eval-mode ``F.batch_norm`` call."""
    x = args[0]
    mean = _arg(args, kwargs, 1, "running_mean")
    var = _arg(args, kwargs, 2, "running_var")
    weight = _arg(args, kwargs, 3, "weight")
    bias = _arg(args, kwargs, 4, "bias")
    training = _arg(args, kwargs, 5, "training", False)
    eps = _arg(args, kwargs, 7, "eps", 1e-5)
    if training or mean is None or var is None:
        raise UnsupportedModelError("LRP needs batch norm with running statistics in eval mode (a batch-statistics "
                                    "normalisation has no linear LRP rule)")
    scale = torch.rsqrt(var.to(x.dtype) + eps)
    if weight is not None:
        scale = scale * weight
    shift = -mean.to(x.dtype) * scale
    if bias is not None:
        shift = shift + bias
    return scale, shift


def _weighted_op(name: str, kind: str, args, kwargs, fold: tuple[torch.Tensor, torch.Tensor] | None) -> _LinearOp:
    """conv / linear, optionally with a following batch norm ``(scale, shift)`` folded in."""
    weight = _arg(args, kwargs, 1, "weight")
    bias = _arg(args, kwargs, 2, "bias")
    if fold is not None:
        scale, shift = fold
        weight = weight * scale.view(-1, *([1] * (weight.ndim - 1)))
        bias = shift if bias is None else bias * scale + shift
    parts: dict[str, torch.Tensor] = {}

    def w(part: str) -> torch.Tensor:  # the weight splits are made once per layer, not once per use
        if part not in parts:
            parts[part] = _split(weight, part)
        return parts[part]

    transpose = None
    if kind == "linear":
        def apply(xs, part):
            return F.linear(xs[0], w(part), bias if part == "full" else None)

        def transpose(cot, part, shape):
            return (cot @ w(part)).reshape(shape)
    else:
        conv = _CONV[kind]
        stride, padding, dilation, groups = [_arg(args, kwargs, i, k, d) for i, (k, d) in
                                             enumerate([("stride", 1), ("padding", 0), ("dilation", 1),
                                                        ("groups", 1)], start=3)]

        def apply(xs, part):
            return conv(xs[0], w(part), bias if part == "full" else None, stride, padding, dilation, groups)

        if not isinstance(padding, str):  # "same"/"valid" padding: leave it to autograd
            n = weight.ndim - 2
            tup = (lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v,) * n)

            def transpose(cot, part, shape):
                dummy = cot.new_empty(1).expand(shape)
                return torch.ops.aten.convolution_backward(
                    cot, dummy, w(part), None, tup(stride), tup(padding), tup(dilation), False, [0] * n, groups,
                    (True, False, False))[0]
    return _LinearOp(name + ("+batch_norm" if fold is not None else ""), apply, transpose=transpose)


def _const_operand(v, like: torch.Tensor) -> torch.Tensor | float:
    return v.to(like.dtype) if isinstance(v, torch.Tensor) else float(v)


class _LRPMode(TorchFunctionMode):
    """Runs a forward with every linear op replaced by its LRP rule (see the module docstring).

    ``plan``: indices of the conv/linear calls that absorb the next batch norm, and of the batch-norm
    calls that then become identities (from :class:`_FoldPlanner`).
    """

    def __init__(self, rule: LRPRule, fold_convs: dict[int, int], folded_bns: set[int]) -> None:
        super().__init__()
        self.rule = rule
        self.fold_convs = fold_convs  # conv call index -> batch-norm call index
        self.folded_bns = folded_bns
        self.bn_affines: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        self.weighted_calls = 0
        self.bn_calls = 0
        self.pending: dict[int, tuple] = {}

    def _rule_call(self, op: _LinearOp, graph_inputs: Sequence[torch.Tensor], inplace: bool = False) -> torch.Tensor:
        return _RuleFunction.apply(op, self.rule, inplace, *graph_inputs)

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        tensors = _tensors(args, kwargs)
        if not any(_graph(t) for t in tensors):
            return func(*args, **kwargs)  # constants and metadata: nothing to propagate
        if name in _CONV or name == "linear":
            idx = self.weighted_calls
            self.weighted_calls += 1
            if not _graph(args[0]) or any(_graph(t) for t in tensors[1:]):
                raise UnsupportedModelError(f"LRP: {name} with weights computed from the input has no rule")
            fold = self.bn_affines.get(self.fold_convs[idx]) if idx in self.fold_convs else None
            return self._rule_call(_weighted_op(name, name, args, kwargs, fold), [args[0]])
        if name == "batch_norm":
            idx = self.bn_calls
            self.bn_calls += 1
            if idx in self.folded_bns:
                return args[0]  # already folded into the conv/linear that produced its input
            scale, shift = _bn_affine(args, kwargs)
            view = (1, -1) + (1,) * (args[0].ndim - 2)

            def apply(xs, part, s=scale.view(view), b=shift.view(view)):
                return xs[0] * _split(s, part) + (b if part == "full" else 0)
            return self._rule_call(_LinearOp("batch_norm", apply), [args[0]])
        if name in _AVG:
            if name in ("mean", "sum") and kwargs.get("dtype") is not None:
                kwargs = {k: v for k, v in kwargs.items() if k != "dtype"}
            rest, kw = args[1:], kwargs

            def apply(xs, part, func=func, rest=rest, kw=kw):
                return func(xs[0], *rest, **kw)
            return self._rule_call(_LinearOp(name, apply, nonneg=True), [args[0]])
        if name in _ADD or name in _SUB or name in _MUL or name in _DIV:
            return self._arithmetic(func, name, args, kwargs)
        if name in ("clamp", "clip", "clamp_min", "clamp_", "clip_", "clamp_min_") and clamp_is_relu(func, args, kwargs):
            return func(*args, **kwargs)
        if name in ("max", "amax") and len([t for t in tensors if _graph(t)]) > 1:
            raise UnsupportedModelError(f"LRP has no rule for an element-wise {name} of two activations")
        out = func(*args, **kwargs)
        if name in _PASS or not any(_graph(t) for t in _tensors(out if isinstance(out, (tuple, list)) else [out], {})):
            return out  # relevance-preserving moves, or metadata / comparisons that carry no relevance
        raise UnsupportedModelError(
            f"LRP has no rule for the operation {name}() in this model (supported: conv, linear, batch norm, ReLU, "
            "max/avg pooling, residual additions, reshapes); explain it with a gradient or CAM method instead")

    def _arithmetic(self, func, name: str, args, kwargs) -> torch.Tensor:
        a = args[0]
        b = args[1] if len(args) > 1 else kwargs.get("other")
        alpha = kwargs.get("alpha", 1)
        inplace = name.endswith("_") and not name.endswith("__") or name.startswith("__i")
        ga, gb = _graph(a), _graph(b)
        if ga and gb:
            if name in _ADD:
                # Residual connection: relevance is shared in proportion to each branch's contribution.
                def apply(xs, part, alpha=alpha):
                    return xs[0] + alpha * xs[1]
                if alpha < 0:
                    raise UnsupportedModelError("LRP: a subtraction of two activations has no rule")
                return self._rule_call(_LinearOp("add", apply, nonneg=True), [a, b], inplace=inplace)
            raise UnsupportedModelError(f"LRP has no rule for {name}() of two activations (a gate or attention "
                                        "product); explain this model with a gradient or CAM method instead")
        if not ga:  # constant op activation: only c + x and c * x have a rule
            if name in ("__radd__", "add") and gb:
                a, b = b, a
            elif name in ("__rmul__", "mul", "multiply") and gb:
                a, b = b, a
            else:
                raise UnsupportedModelError(f"LRP has no rule for {name}() with the activation as second operand")
        c = _const_operand(b, a)
        if name in _ADD or name in _SUB:
            sign = alpha if name in _ADD else -alpha

            def apply(xs, part, c=c, sign=sign):
                return xs[0] + sign * c if part == "full" else xs[0]
            return self._rule_call(_LinearOp("bias", apply, nonneg=True), [a], inplace=inplace)
        if name in _DIV:
            c = 1.0 / c
        nonneg = (c >= 0) if isinstance(c, float) else bool((c >= 0).all())

        def apply(xs, part, c=c):
            return xs[0] * (c if part == "full" else _split(c, part) if isinstance(c, torch.Tensor)
                            else (max(c, 0.0) if part == "pos" else min(c, 0.0)))
        return self._rule_call(_LinearOp("scale", apply, nonneg=nonneg), [a], inplace=inplace)


class _FoldPlanner(TorchFunctionMode):
    """No-grad pass that finds each batch norm fed directly by a conv/linear output used nowhere else."""

    def __init__(self) -> None:
        super().__init__()
        self.weighted_calls = 0
        self.bn_calls = 0
        self.origin: dict[int, tuple[weakref.ref, int]] = {}  # id(output) -> (ref, conv call index)
        self.uses: dict[int, int] = {}
        self.bn_inputs: list[tuple[int, int | None]] = []  # (bn call index, conv call index or None)
        self.bn_affines: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def _source(self, t: torch.Tensor) -> int | None:
        entry = self.origin.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        return None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = _name(func)
        if name == "batch_norm":
            src = self._source(args[0])
            self.bn_inputs.append((self.bn_calls, src))
            if src is not None:
                self.bn_affines[self.bn_calls] = _bn_affine(args, kwargs)
            self.bn_calls += 1
        out = func(*args, **kwargs)
        if isinstance(out, torch.Tensor) or (isinstance(out, (tuple, list)) and out
                                             and isinstance(out[0], torch.Tensor)):
            for t in _tensors(args, kwargs):
                src = self._source(t)
                if src is not None:
                    self.uses[src] = self.uses.get(src, 0) + 1
        if name in _CONV or name == "linear":
            self.origin[id(out)] = (weakref.ref(out), self.weighted_calls)
            self.weighted_calls += 1
        return out

    def plan(self) -> tuple[dict[int, int], set[int]]:
        fold_convs, folded = {}, set()
        for bn, src in self.bn_inputs:
            if src is not None and self.uses.get(src, 0) == 1:
                fold_convs[src] = bn
                folded.add(bn)
        return fold_convs, folded


# Module types with no LRP rule (checked up front so the error names where they are).
_UNSUPPORTED_MODULES: tuple[type[nn.Module], ...] = (
    nn.GELU, nn.SiLU, nn.Hardswish, nn.Mish, nn.ELU, nn.SELU, nn.CELU, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.Softplus,
    nn.ReLU6, nn.Hardtanh, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Softmax, nn.LogSoftmax, nn.GLU, nn.LayerNorm,
    nn.GroupNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LocalResponseNorm,
    nn.MultiheadAttention, nn.RNNBase, nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d, nn.Upsample,
)
_UNSUPPORTED_NAMES = ("swish", "gelu", "silu", "mish", "hardswish", "layernorm", "attention")


def unsupported_lrp_modules(model: nn.Module) -> list[tuple[str, str]]:
    """``(module path, class name)`` of every module LRP has no rule for."""
    found = []
    for path, m in model.named_modules():
        cls = type(m).__name__
        if isinstance(m, _UNSUPPORTED_MODULES) or any(k in cls.lower() for k in _UNSUPPORTED_NAMES):
            found.append((path, cls))
    return found


def _has_batchnorm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def lrp_relevance(model: nn.Module, x: torch.Tensor, target: torch.Tensor, rule: LRPRule,
                  fold_batchnorm: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Input relevance ``(B, C, T, H, W)`` of each clip's target logit, and the logits.

    The model should be in eval mode with parameter gradients off (:func:`~vidxai.attribution.base.model_state`).
    """
    bad = unsupported_lrp_modules(model)
    if bad:
        kinds = sorted({c for _, c in bad})
        where = ", ".join(p or "<root>" for p, _ in bad[:3]) + (" ..." if len(bad) > 3 else "")
        raise UnsupportedModelError(f"LRP has no rule for {'/'.join(kinds)} layers ({len(bad)} in the model: {where}); "
                                    "it supports conv, linear, batch norm, ReLU and pooling layers")
    fold_convs: dict[int, int] = {}
    folded: set[int] = set()
    affines: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    if fold_batchnorm and _has_batchnorm(model):
        planner = _FoldPlanner()
        with torch.no_grad(), planner:
            model(x)
        fold_convs, folded = planner.plan()
        affines = planner.bn_affines
    mode = _LRPMode(rule, fold_convs, folded)
    mode.bn_affines = affines
    xg = x.detach().requires_grad_(True)
    with torch.enable_grad():
        with mode:
            logits = model(xg)
        if not logits.requires_grad:
            raise UnsupportedModelError("LRP: the model's output does not depend on its input through supported layers")
        seed = torch.zeros_like(logits).scatter_(1, target.view(-1, 1), target_scores(logits, target).detach().view(-1, 1))
        (rel,) = torch.autograd.grad(logits, xg, seed)
    return rel, logits.detach()


class _LRP(Attribution):
    """Shared ``compute`` of the three LRP methods; each declares its rule's settings as ``forwarded_params``."""

    rule_kind = "epsilon"
    choices = {"reduction": REDUCTIONS}

    def _rule(self, params: dict) -> LRPRule:
        return LRPRule(self.rule_kind)

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        self._rule(settings)  # the rule's settings are checked before any forward pass
        return settings

    def compute(self, x: torch.Tensor, target, logits, reduction: str = "sum", fold_batchnorm: bool = True,
                **rule_params) -> AttributionResult:
        """``rule_params``: the rule's settings (``epsilon``; ``alpha``, ``beta``)."""
        rel, logits = lrp_relevance(self.model, x, target, self._rule(rule_params), fold_batchnorm=fold_batchnorm)
        return AttributionResult(reduce_channels(rel, reduction), raw=rel, logits=logits,
                                 extras={"relevance_sum": rel.flatten(1).sum(1),
                                         "target_score": target_scores(logits, target)})


@methods.register("lrp-epsilon", description="LRP epsilon rule (BatchNorm folded), relevance summed over colour",
                  family="relevance")
class LRPEpsilon(_LRP):
    """LRP-epsilon. Params: ``epsilon`` (default 1e-6), ``reduction`` (default ``"sum"``: relevance is additive, so
    the map sums to the target logit minus what biases and epsilon absorb), ``fold_batchnorm`` (default True).

    Example::

        res = LRPEpsilon(model).attribute(clips, target=3, epsilon=1e-3)
        res.extras["relevance_sum"], res.extras["target_score"]   # conservation check per clip
    """

    rule_kind = "epsilon"
    forwarded_params = {"epsilon": 1e-6}

    def _rule(self, params: dict) -> LRPRule:
        eps = float(params.get("epsilon", 1e-6))
        if not eps >= 0 or math.isinf(eps):
            raise InputError(f"epsilon must be a finite number >= 0, got {params.get('epsilon')!r}")
        return LRPRule("epsilon", epsilon=eps)


@methods.register("lrp-alphabeta", description="LRP alpha-beta rule (default alpha=2, beta=1), relevance summed "
                  "over colour", family="relevance")
class LRPAlphaBeta(_LRP):
    """LRP-alpha-beta. Params: ``alpha`` (default 2), ``beta`` (default 1); conservation needs alpha - beta = 1
    (anything else is accepted but scales the total); ``reduction``, ``fold_batchnorm`` as for LRP-epsilon.

    Example::

        res = LRPAlphaBeta(model).attribute(clips, target=3, alpha=1.0, beta=0.0)
    """

    rule_kind = "alphabeta"
    forwarded_params = {"alpha": 2.0, "beta": 1.0}

    def _rule(self, params: dict) -> LRPRule:
        alpha = float(params.get("alpha", 2.0))
        beta = float(params.get("beta", 1.0))
        if alpha < 0 or beta < 0:
            raise InputError(f"alpha and beta must be >= 0, got alpha={alpha}, beta={beta}")
        return LRPRule("alphabeta", alpha=alpha, beta=beta)


@methods.register("lrp-zplus", description="LRP z+ rule (positive inputs and weights only), relevance summed over "
                  "colour", family="relevance")
class LRPZPlus(_LRP):
    """LRP-z+ (Deep Taylor on ReLU inputs). Params: ``reduction``, ``fold_batchnorm`` as for LRP-epsilon.

    Example::

        res = LRPZPlus(model).attribute(clips, target=3)
    """

    rule_kind = "zplus"
