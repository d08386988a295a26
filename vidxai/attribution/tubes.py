"""Saliency Tubes (Stergiou et al. 2019): class activation maps for 3-D CNNs with a pooling + linear head.

For a network whose logits are ``W . mean_{t,h,w} A(:, t, h, w) + b`` (global average pooling of the last
feature map ``A`` (C, T', H', W') followed by ONE linear map: an ``nn.Linear``, or a 1x1x1 convolution
whose outputs are averaged, as I3D's windowed average pool + 1x1x1 conv + mean over time), the map for
class ``c`` is

    tube_c(t, h, w) = sum_k W[c, k] * A(k, t, h, w)

at every time slice ``t`` of the feature map; it is then rectified (``relu=True``, default) and upsampled
trilinearly to the clip's (T, H, W). With global average pooling this is Grad-CAM up to the constant
``1 / (T' H' W')`` (Grad-CAM's channel weights are ``W[c, k] / (T' H' W')``), so both rank voxels the same.

Layers are found automatically from one forward pass: the classifier is the last ``nn.Linear`` that runs
(its output must hold one score per class), and the feature map is the last module output with the
classifier's ``in_features`` channels whose spatial mean equals the classifier's input (so the pooling may
be a module or a functional ``mean``; max pooling, extra fully-connected layers as in C3D, or a conv
between pool and classifier as in X3D are recognised as "not pooling + linear" and rejected with
:class:`~vidxai.errors.UnsupportedModelError`). ``layer=`` / ``linear=`` (module paths or modules) override
the search.
"""
from __future__ import annotations

import torch
from torch import nn

from .. import methods
from ..errors import UnsupportedModelError
from ..models.base import VideoModel
from .base import Attribution, AttributionResult, HookSet, upsample_to

__all__ = ["SaliencyTubes", "find_pool_linear_head", "is_linear_map", "class_weights"]


def _path_of(model: VideoModel, module: nn.Module) -> str:
    for path, m in model.net.named_modules():
        if m is module:
            return path
    return type(module).__name__


def is_linear_map(module: nn.Module) -> bool:
    """An ``nn.Linear`` or a 1 x ... x 1 convolution without groups (I3D's logits layer): one linear map of
    the channels, applied at every position."""
    if isinstance(module, nn.Linear):
        return True
    return (isinstance(module, nn.modules.conv._ConvNd) and not module.transposed and module.groups == 1
            and all(k == 1 for k in module.kernel_size))


def _in_width(module: nn.Module) -> int:
    return module.in_features if isinstance(module, nn.Linear) else module.in_channels


def _out_width(module: nn.Module) -> int:
    return module.out_features if isinstance(module, nn.Linear) else module.out_channels


def class_weights(module: nn.Module) -> torch.Tensor:
    """The classifier's weight as a ``(classes, channels)`` matrix (a 1x1x1 conv kernel flattened)."""
    return module.weight.detach().flatten(1)


def _linear_input(inp: torch.Tensor, module: nn.Module) -> torch.Tensor | None:
    """The classifier input as (B, C) when it is one feature vector per clip, else None."""
    b, width = inp.shape[0], _in_width(module)
    if not isinstance(module, nn.Linear):
        inp = inp.movedim(1, -1)  # a conv reads channels at dim 1
    if inp.shape[-1] != width or inp.numel() != b * width:
        return None
    return inp.reshape(b, width)


def find_pool_linear_head(model: VideoModel, x: torch.Tensor, layer=None, linear=None,
                          atol: float = 1e-4) -> tuple[nn.Module, nn.Linear, torch.Tensor, torch.Tensor]:
    """Run one forward pass and return ``(feature layer, linear layer, activations (B, C, T', H', W'), logits)``.

    ``layer`` / ``linear`` (paths relative to ``model.net``, or modules) skip the search for that part.
    Raises :class:`UnsupportedModelError` when the head is not global average pooling + one linear layer.
    """
    linear_mod = model.layer(linear) if linear is not None else None
    layer_mod = model.layer(layer) if layer is not None else None
    if linear_mod is not None and not is_linear_map(linear_mod):
        raise UnsupportedModelError(f"Saliency Tubes needs an nn.Linear or 1x1x1 convolution classifier; {linear!r} "
                                    f"is a {type(linear_mod).__name__}")
    linears: list[tuple[nn.Module, torch.Tensor, torch.Tensor]] = []  # (module, input, output) in call order
    candidates: list[tuple[nn.Module, torch.Tensor]] = []
    maps_of = [m for m in model.net.modules() if is_linear_map(m)]
    heads_only = [m for m in maps_of if _out_width(m) == model.num_classes]
    widths = {_in_width(m) for m in (heads_only or maps_of)}

    pooled_at: list[int] = []  # number of candidates recorded when each pooling module finished
    pool_before: dict[int, int | None] = {}  # per linear call: the pooling mark when it ran

    def on_linear(module, args, output):
        pool_before[len(linears)] = pooled_at[-1] if pooled_at else None
        linears.append((module, args[0], output))

    pools = (nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd, nn.modules.pooling._AvgPoolNd,
             nn.modules.pooling._MaxPoolNd, nn.Flatten)

    def on_module(module, args, output):
        # A pooling layer's own output trivially "pools" to the classifier input; the map is what it pools.
        if layer_mod is None and isinstance(module, pools):
            pooled_at.append(len(candidates))
            return
        if isinstance(output, torch.Tensor) and output.ndim >= 3 and output.shape[1] in widths:
            candidates.append((module, output))

    with HookSet() as hooks, torch.no_grad():
        for m in model.net.modules():
            if is_linear_map(m) and (linear_mod is None or m is linear_mod):
                hooks.forward(m, on_linear)
            if m is not model.net and (layer_mod is None or m is layer_mod):
                hooks.forward(m, on_module)
        logits = model(x)

    k = logits.shape[1]
    heads = [(m, i, o, pool_before[j]) for j, (m, i, o) in enumerate(linears) if _out_width(m) == k]
    if not heads:
        raise UnsupportedModelError(
            f"Saliency Tubes needs a classifier head of global average pooling + one linear layer with "
            f"{k} outputs; {model.name} has none" + (f" ({linear!r} did not run)" if linear is not None else ""))
    lin, lin_in, lin_out, mark = heads[-1]
    if layer_mod is not None:
        if not candidates:
            raise UnsupportedModelError(f"Saliency Tubes: layer {layer!r} produced no (B, {_in_width(lin)}, ...) "
                                        "feature map")
        return layer_mod, lin, candidates[-1][1], logits
    # A 1 x 1 x 1 output (a container ending in the pool, a 1x1x1 conv after it) matches trivially: never a tube.
    maps = [(m, a) for m, a in reversed(candidates)
            if a.shape[1] == _in_width(lin) and a.shape[0] == x.shape[0] and a[0, 0].numel() > 1]
    # A map already pooled to one spatial position (e.g. I3D's pooled features before its conv head, pooled
    # functionally so no pooling module marks it) is no tube when a map with a spatial extent exists.
    spatial = [(m, a) for m, a in maps if a[0, 0].shape[-2:].numel() > 1]
    maps = spatial or maps
    vec = _linear_input(lin_in, lin) if lin_out.numel() == logits.numel() else None
    if vec is not None:
        # Fast path: the classifier input is the spatio-temporal mean of a feature map.
        for module, act in maps:
            if torch.allclose(act.flatten(2).mean(2), vec, atol=atol, rtol=1e-4):
                return module, lin, act, logits
    # General path (windowed average pooling, a classifier applied per position and then averaged, as in
    # pytorchvideo's heads): the head is "average pooling + linear" exactly when the gradient of each logit
    # w.r.t. the feature map factorises as W[c, k] * pi(position) with pi >= 0.
    # Outputs after the pooling that precedes the classifier (dropout, pooled maps) pass too: the map is its input.
    before_pool = maps if mark is None else [(m, a) for m, a in maps if any(a is c for _, c in candidates[:mark])]
    # The last pooling module may sit inside the backbone (I3D's MaxPool3d_5a, its head pooling functionally):
    # maps after it are tried next, and the gradient test decides.
    ordered = before_pool + [(m, a) for m, a in maps if not any(a is b for _, b in before_pool)]
    for module, act in ordered[:3]:
        if _pools_linearly(model, x, module, class_weights(lin), logits):
            return module, lin, act, logits
    raise UnsupportedModelError(
        f"Saliency Tubes needs a head of average pooling + one linear layer, but {model.name}'s classifier "
        f"({_path_of(model, lin)}) does not read an average of any feature map with more than one position "
        "(max pooling, extra fully-connected or conv layers in the head?); use gradcam instead")


def _pools_linearly(model: VideoModel, x: torch.Tensor, module: nn.Module, weight: torch.Tensor,
                    logits: torch.Tensor, rtol: float = 1e-3) -> bool:
    """True when d logit_c / d A(k, p) = weight[c, k] * pi(p), pi >= 0, for the top class and one other."""
    box: dict[str, torch.Tensor] = {}

    def swap(mod, args, out):
        if not isinstance(out, torch.Tensor) or "a" in box:
            return None
        box["a"] = out.detach().requires_grad_(True)
        return box["a"] * 1.0  # a non-leaf, so in-place ops downstream stay legal

    with HookSet() as hooks, torch.enable_grad():
        hooks.forward(module, swap)
        out = model(x)
        if "a" not in box or not out.requires_grad:
            return False
        a = box["a"]
        top = int(logits[0].argmax())
        for c in dict.fromkeys([top, (top + 1) % logits.shape[1]]):
            (g,) = torch.autograd.grad(out[:, c].sum(), a, retain_graph=True)
            w = weight[c].to(g.dtype).view(1, -1, *([1] * (g.ndim - 2)))
            pi = (g * w).sum(1, keepdim=True) / w.pow(2).sum().clamp_min(1e-30)
            resid = (g - w * pi).norm()
            if not (resid <= rtol * g.norm()) or float(g.norm()) == 0 or float(pi.min()) < -rtol * float(pi.abs().max()):
                return False
    return True


@methods.register("saliency-tubes", description="Saliency Tubes: final linear layer's class weights x last conv "
                  "activations per time slice (pool+linear heads)", family="cam")
class SaliencyTubes(Attribution):
    """Saliency Tubes. Params: ``layer`` (feature layer path/module; default: found automatically), ``linear``
    (classifier path/module; default: found automatically), ``relu`` (rectify the map, default True).

    ``raw`` is the map at feature resolution ``(B, T', H', W')``; ``extras["layer"]`` / ``extras["linear"]`` name
    the layers used.

    Example::

        res = SaliencyTubes(model).attribute(clips, target=3)
        res.extras["layer"], res.extras["linear"]   # e.g. "Mixed_5c", "logits.conv3d" on I3D
    """

    resolves_target = True  # the targets come from the one forward pass that records the features

    def compute(self, x: torch.Tensor, target, logits, layer=None, linear=None, relu: bool = True
                ) -> AttributionResult:
        feat_mod, lin, acts, logits = find_pool_linear_head(self.model, x, layer=layer, linear=linear)
        target = self.model.resolve_targets(target, logits)
        weights = class_weights(lin)[target].to(acts.dtype)  # (B, C)
        tubes = torch.einsum("bc...,bc->b...", acts, weights)
        if relu:
            tubes = tubes.clamp(min=0)
        spatial = tubes.shape[1:]
        if len(spatial) == 2:  # a 2-D network on (B, C, H', W'): one slice
            tubes = tubes.unsqueeze(1)
        saliency = upsample_to(tubes, tuple(x.shape[2:]))
        return AttributionResult(saliency, raw=tubes, logits=logits,
                                 extras={"layer": _path_of(self.model, feat_mod), "linear": _path_of(self.model, lin)})
