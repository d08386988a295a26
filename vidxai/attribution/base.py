"""Shared machinery of all attribution methods.

Every method is a class with captum's small interface::

    method = GuidedBackprop(model)          # model: a vidxai VideoModel
    result = method.attribute(x, target=t, **params)   # x: (B, C, T, H, W) normalised clips

and returns an :class:`AttributionResult` whose ``saliency`` is ``(B, T, H, W)`` on the model's device.
This module holds what they share: the model-state guard (eval mode, no parameter gradients, flags
restored), a hook set that is always removed, input gradients through ``torch.autograd.grad``, the
reduction from (C, T, H, W) to (T, H, W), and per-clip normalisation.
"""
from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
from torch import nn

from ..core.runtime import model_state  # noqa: F401  (re-exported: methods import it from here)
from ..errors import InputError
from ..models.base import VideoModel


@dataclass
class AttributionResult:
    """What a method returns for a batch.

    Attributes:
        saliency: ``(B, T, H, W)`` float map at model-input resolution (larger = more important).
        raw: the map before upsampling/reduction (e.g. the CAM at feature resolution), or None.
        segmentation: ``(B, T, H, W)`` int64 region labels (SWAG-V, LIME...), or None.
        logits: ``(B, K)`` logits of the unperturbed clips when the method computed them, or None.
        extras: per-method extras (per-pathway maps, per-feature tables...), each batched along dim 0
            when it is a tensor.
    """

    saliency: torch.Tensor
    raw: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    extras: dict[str, Any] = field(default_factory=dict)


class Attribution:
    """Base class of every registered method."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: "gradient", "cam", "perturbation", "baseline", "supervoxel", "relevance", "attention"
    family: ClassVar[str] = ""
    #: many model passes per clip (sampling, sliding windows, optimisation): left out of the benchmark's default
    #: set, and shown with a progress bar by the pipeline
    slow: ClassVar[bool] = False
    #: what one value of the map stands for: "pixel" (gradients, relevance), "layer" (a CAM at a layer's
    #: resolution), "segment" (supervoxels, perturbation windows), "map" (baselines); None: from ``family``
    output: ClassVar[str | None] = None
    #: the kind of model the method needs (``"transformer"`` for attention methods); None: any video model
    requires: ClassVar[str | None] = None

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """What the method is and needs, declared on the class or read from its ``attribute()`` signature.

        Example::

            vidxai.methods.get("gradcam").capabilities()
            # {"family": "cam", "output": "layer", "slow": False, "stochastic": False, "takes_layer": True, ...}
        """
        params = method_parameters(cls.name) if cls.name else []
        output = cls.output or _FAMILY_OUTPUT.get(cls.family, "map")
        return {"family": cls.family, "output": output, "slow": cls.slow, "stochastic": "seed" in params,
                "takes_layer": "layer" in params, "requires": cls.requires, "parameters": params}

    def __init__(self, model: VideoModel) -> None:
        if not isinstance(model, VideoModel):
            from ..models.wrap import wrap

            model = wrap(model)
        self.model = model

    def attribute(self, inputs: torch.Tensor, target=None, **params) -> AttributionResult:
        raise NotImplementedError

    # helpers for subclasses ----------------------------------------------------------------------
    def prepare(self, inputs: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Validate inputs, move them to the model's device and resolve targets.

        Returns ``(x, target (B,), logits or None)``; the logits are computed only when a target must
        be inferred (top-1), and are then handed back so the caller does not forward twice.
        """
        x = self.model.check_input(inputs).to(self.model.device, dtype=_param_dtype(self.model))
        logits = None
        if target is None or (isinstance(target, (list, tuple)) and any(t is None for t in target)):
            with torch.no_grad(), model_state(self.model):
                logits = self.model(x)
        probe = logits if logits is not None else torch.empty(x.shape[0], self.model.num_classes, device=x.device)
        return x, self.model.resolve_targets(target, probe), logits


_FAMILY_OUTPUT = {"gradient": "pixel", "relevance": "pixel", "cam": "layer", "attention": "layer",
                  "supervoxel": "segment", "perturbation": "segment", "baseline": "map"}


def _param_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


class HookSet:
    """Forward/backward hooks that are removed on ``__exit__``, also when an exception is raised."""

    def __init__(self) -> None:
        self.handles: list[torch.utils.hooks.RemovableHandle] = []

    def forward(self, module: nn.Module, fn: Callable) -> None:
        self.handles.append(module.register_forward_hook(fn))

    def forward_pre(self, module: nn.Module, fn: Callable) -> None:
        self.handles.append(module.register_forward_pre_hook(fn))

    def full_backward(self, module: nn.Module, fn: Callable) -> None:
        self.handles.append(module.register_full_backward_hook(fn))

    def remove(self) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()

    def __enter__(self) -> HookSet:
        return self

    def __exit__(self, *exc) -> None:
        self.remove()


class ActivationRecorder(HookSet):
    """Records the outputs of some layers during a forward pass (kept in the graph for gradients)."""

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.layers = list(layers)
        self.activations: list[torch.Tensor | None] = [None] * len(self.layers)
        for i, layer in enumerate(self.layers):
            self.forward(layer, self._make_hook(i))

    def _make_hook(self, i: int) -> Callable:
        def hook(module, args, output):
            if isinstance(output, (tuple, list)):
                output = output[0]
            self.activations[i] = output

        return hook


def target_scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The logit of each clip's target class, shape (B,)."""
    return logits.gather(1, target.view(-1, 1)).squeeze(1)


def input_gradient(model: nn.Module, x: torch.Tensor, target: torch.Tensor,
                   return_logits: bool = False):
    """Gradient of each clip's target logit w.r.t. the input clip ``x``; parameters get no ``.grad``."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        logits = model(x)
        (grad,) = torch.autograd.grad(target_scores(logits, target).sum(), x)
    return (grad, logits.detach()) if return_logits else grad


REDUCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "max_abs": lambda g: g.abs().amax(dim=1),  # SWAG-V's choice (method.md section 1)
    "sum_abs": lambda g: g.abs().sum(dim=1),
    "l2": lambda g: g.pow(2).sum(dim=1).sqrt(),
    "sum": lambda g: g.sum(dim=1),
    "mean_abs": lambda g: g.abs().mean(dim=1),
    "max": lambda g: g.amax(dim=1),
}


def reduce_channels(attr: torch.Tensor, reduction: str = "max_abs") -> torch.Tensor:
    """Reduce a ``(B, C, T, H, W)`` attribution over colour channels to ``(B, T, H, W)``."""
    if reduction not in REDUCTIONS:
        from ..errors import UnknownNameError

        raise UnknownNameError(reduction, REDUCTIONS, hint="channel reduction")
    return REDUCTIONS[reduction](attr)


def normalize_maps(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Min-max normalise each map of a batch ``(B, ...)`` to [0, 1] (constant maps become 0)."""
    flat = maps.flatten(1)
    lo = flat.amin(dim=1, keepdim=True)
    hi = flat.amax(dim=1, keepdim=True)
    out = (flat - lo) / (hi - lo).clamp_min(eps)
    return out.view_as(maps)


def upsample_to(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Resize ``(B, *spatial)`` maps to ``size`` with (tri/bi)linear interpolation, rank-agnostic."""
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    mode = {1: "linear", 2: "bilinear", 3: "trilinear"}[len(size)]
    return nn.functional.interpolate(maps.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


def method_parameters(method: str) -> list[str]:
    """The named keyword parameters of the registered method ``method``'s ``attribute()`` (found by its signature)."""
    seen, todo = set(), list(Attribution.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo += cls.__subclasses__()
        if cls.name == method:
            # a preset method's settings are the parameters of the _attribute() it hands them to
            funcs = [cls.attribute] + ([cls._attribute] if hasattr(cls, "_attribute") else [])
            names = [p.name for f in funcs for p in inspect.signature(f).parameters.values()
                     if p.name not in ("self", "inputs", "target")
                     and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            return list(dict.fromkeys(names))
    return []


def check_params(method: str, params: dict, allowed: Sequence[str]) -> None:
    """Reject unknown keyword parameters with a clear error listing what the method takes (its signature's named
    parameters plus ``allowed``), with close matches for typos."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        accepted = sorted(set(allowed) | set(method_parameters(method)))
        close = [c for u in unknown for c in difflib.get_close_matches(u, accepted, n=1, cutoff=0.6)]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InputError(f"method {method!r} got unknown parameter(s) {', '.join(unknown)}{hint} "
                         f"(it accepts {', '.join(accepted) or 'no parameters'})")
