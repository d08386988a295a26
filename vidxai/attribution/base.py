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
from ..core.tensor import minmax_per_clip as normalize_maps  # noqa: F401  (re-exported under the methods' name)
from ..core.tensor import upsample_to  # noqa: F401  (re-exported)
from ..errors import InputError, ShapeError
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
    """Base class of every registered method: one template, ``validate -> prepare -> compute -> finish``.

    A method subclasses it, registers under a name and implements :meth:`compute` (the part that is its own);
    :meth:`attribute` is the same for all (captum's call, TorchRay's one pipeline): the keyword parameters are
    checked against ``compute``'s own signature (plus ``forwarded_params``) and the class's declarative checks
    before any forward pass, the clips are validated and moved to the model's device, the targets resolved,
    ``compute`` runs under the model-state guard (eval mode, no parameter gradients, restored also on errors),
    and the result's shape is checked.

    Example::

        @vidxai.methods.register("gradient-squared", description="squared gradient", family="gradient")
        class GradientSquared(Attribution):
            choices = {"reduction": REDUCTIONS}

            def compute(self, x, target, logits, reduction: str = "max_abs") -> AttributionResult:
                grad = input_gradient(self.model, x, target)
                return AttributionResult(reduce_channels(grad * grad, reduction))

        GradientSquared(model).attribute(clips, target=3, reduction="l2").saliency   # (B, T, H, W)
    """

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
    #: keyword parameters ``compute`` takes through ``**params`` and hands on (SLIC settings, LRP rule settings):
    #: name -> default (``inspect.Parameter.empty``: the default of the function they are handed to)
    forwarded_params: ClassVar[dict[str, Any]] = {}
    #: ``compute`` resolves the targets from its own forward pass (CAMs, Saliency Tubes, attention), so
    #: :meth:`prepare` hands the target on as given and never runs a forward pass
    resolves_target: ClassVar[bool] = False
    #: named presets (name -> the settings it changes; ``"default"`` changes nothing): a method with presets
    #: takes ``preset=`` and returns the settings it ran with in ``extras["params"]``
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    #: declarative checks run before any forward pass: parameter -> its allowed values
    choices: ClassVar[dict[str, Sequence]] = {}
    #: parameters that must be positive integers (checked before any forward pass)
    positive_ints: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def capabilities(cls) -> dict[str, Any]:
        """What the method is and needs, declared on the class or read from its ``compute()`` signature.

        Example::

            vidxai.methods.get("gradcam").capabilities()
            # {"family": "cam", "output": "layer", "slow": False, "stochastic": False, "takes_layer": True, ...}
        """
        params = list(parameter_defaults(cls)) if cls.name else []
        output = cls.output or _FAMILY_OUTPUT.get(cls.family, "map")
        return {"family": cls.family, "output": output, "slow": cls.slow, "stochastic": "seed" in params,
                "takes_layer": "layer" in params, "requires": cls.requires, "parameters": params}

    def __init__(self, model: VideoModel) -> None:
        if not isinstance(model, VideoModel):
            from ..models.wrap import wrap

            model = wrap(model)
        self.model = model

    def attribute(self, inputs: torch.Tensor, target=None, **params) -> AttributionResult:
        """Attribute each clip's target class to the voxels of ``inputs``.

        Args:
            inputs: ``(B, C, T, H, W)`` clips in the model's input space (normalised).
            target: the class per clip: None (the predicted class), an index, a class name, or a list of those.
            **params: the method's parameters (its ``compute()`` signature; ``vidxai methods NAME`` lists them).

        Returns:
            :class:`AttributionResult` with ``saliency`` ``(B, T, H, W)`` on the model's device.

        Raises:
            InputError: unknown parameters (with close matches), values outside their allowed set, bad clips.
            TargetError: a target index out of range or an unknown class name.

        Example::

            result = vidxai.methods.get("gradient")(model).attribute(clips, target=[3, "archery"])
            result.saliency.shape   # (2, T, H, W)
        """
        settings = self.validate(params)
        x, target, logits = self.prepare(inputs, target)
        with model_state(self.model):
            result = self.compute(x, target, logits, **{k: v for k, v in settings.items() if k != "preset"})
        return self.finish(result, x, logits, settings)

    def compute(self, x: torch.Tensor, target, logits: torch.Tensor | None, **params) -> AttributionResult:
        """The method's own work on validated clips ``x`` on the model's device (run under the model-state guard).

        ``target`` is a ``(B,)`` long tensor (as given when the class sets ``resolves_target``); ``logits`` are
        the clean clips' logits when :meth:`prepare` computed them to infer the target, else None.
        """
        raise NotImplementedError

    # the template's steps ------------------------------------------------------------------------
    def validate(self, params: dict[str, Any]) -> dict[str, Any]:
        """The settings ``compute`` runs with: defaults, then the preset's values, then ``params``.

        Rejects unknown names (with close matches) and values outside ``choices`` / ``positive_ints`` before
        any forward pass; a subclass adds its own checks by extending this step.
        """
        settings = self.resolve_params(**params)
        for key, allowed in self.choices.items():
            if key in settings and settings[key] not in allowed:
                raise InputError(f"{self.name}: unknown {key} {settings[key]!r}; choose from "
                                 f"{', '.join(map(str, allowed))}")
        for key in self.positive_ints:
            value = settings.get(key)
            if key in settings and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise InputError(f"{key} must be a positive integer, got {value!r}")
        return settings

    @classmethod
    def resolve_params(cls, preset: str = "default", **params) -> dict[str, Any]:
        """The settings a call with ``params`` (and ``preset``, for a method with presets) runs with, unrun.

        Raises:
            UnknownPresetError: an unknown preset.
            InputError: an unknown parameter.
        """
        defaults = {k: v for k, v in parameter_defaults(cls).items()
                    if v is not inspect.Parameter.empty and k != "preset"}
        if not cls.presets:
            if preset != "default":
                params["preset"] = preset  # reported as unknown below
            check_params(cls, params)
            return {**defaults, **params}
        names = tuple(dict.fromkeys(("default", *cls.presets)))
        if preset not in names:
            from ..errors import UnknownPresetError

            raise UnknownPresetError(str(preset), names, hint=f"method {cls.name}")
        check_params(cls, params)
        return {**defaults, **cls.presets.get(preset, {}), **params, "preset": preset}

    def prepare(self, inputs: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Validate inputs, move them to the model's device and resolve targets.

        Returns ``(x, target (B,), logits or None)``; the logits are computed only when a target must be
        inferred (top-1), and are then handed on so the method does not forward twice. With ``resolves_target``
        the target is handed on as given.
        """
        x = self.model.check_input(inputs).to(self.model.device, dtype=_param_dtype(self.model))
        if self.resolves_target:
            return x, target, None
        logits = None
        if target is None or (isinstance(target, (list, tuple)) and any(t is None for t in target)):
            with torch.no_grad(), model_state(self.model):
                logits = self.model(x)
        probe = logits if logits is not None else torch.empty(x.shape[0], self.model.num_classes, device=x.device)
        return x, self.model.resolve_targets(target, probe), logits

    def finish(self, result: AttributionResult, x: torch.Tensor, logits: torch.Tensor | None,
               settings: dict[str, Any]) -> AttributionResult:
        """Check the map's shape, hand on the logits prepare computed and record a preset method's settings."""
        expected = (x.shape[0], *x.shape[2:])
        got = tuple(result.saliency.shape)
        if got != expected:
            folded = got[0] != expected[0] and got[0] % expected[0] == 0
            hint = ("; the model seems to fold frames into the batch: wrap it with frames_in_batch=True"
                    if folded else "")
            raise ShapeError(f"method {self.name!r} returned a map of shape {got} for clips of shape "
                             f"{tuple(x.shape)}; expected {expected}{hint}")
        if result.logits is None and logits is not None:
            result.logits = logits
        if self.presets:
            result.extras["params"] = {**settings, **result.extras.get("params", {})}
        return result


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
    "max_abs": lambda g: g.abs().amax(dim=1),  # SWAG-V's choice: max over colour of |G|
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


def parameter_defaults(cls: type) -> dict[str, Any]:
    """``{name: default}`` of method class ``cls``'s keyword parameters, read from its ``compute()`` signature.

    ``preset`` comes first for a method with presets; ``forwarded_params`` follow (``inspect.Parameter.empty``
    where the default is that of the function they are handed to).

    Example::

        parameter_defaults(vidxai.methods.get("gradient"))   # {"reduction": "max_abs"}
    """
    out: dict[str, Any] = {"preset": "default"} if cls.presets else {}
    for p in inspect.signature(cls.compute).parameters.values():
        if p.name not in ("self", "x", "target", "logits") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            out[p.name] = p.default
    for name, default in cls.forwarded_params.items():
        out.setdefault(name, default)
    return out


def method_parameters(method: str) -> list[str]:
    """The named keyword parameters of the registered method ``method`` (found by its signature); [] for a name
    that is not a registered :class:`Attribution`."""
    from .. import methods

    if method not in methods.list():
        return []
    cls = methods.get(method)
    return list(parameter_defaults(cls)) if isinstance(cls, type) and issubclass(cls, Attribution) else []


def check_params(cls: type, params: dict) -> None:
    """Reject keyword parameters method class ``cls`` does not take (:func:`parameter_defaults`) with a clear error
    listing what it accepts, with close matches for typos."""
    accepted = sorted(parameter_defaults(cls))
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        close = [c for u in unknown for c in difflib.get_close_matches(u, accepted, n=1, cutoff=0.6)]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InputError(f"method {cls.name!r} got unknown parameter(s) {', '.join(unknown)}{hint} "
                         f"(it accepts {', '.join(accepted) or 'no parameters'})")
