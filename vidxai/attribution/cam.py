"""Class activation maps for video (and image) networks: Grad-CAM, Grad-CAM++, XGrad-CAM, Layer-CAM and
Guided Grad-CAM.

Everything rests on one rank-agnostic core, :func:`cam_from_gradients`, that takes the activations ``A`` of a
layer, shape ``(B, K, *S)``, and the gradients ``dA`` of the target logit with respect to them, and returns the
map ``(B, *S)`` for any number of spatial dims ``S`` (``T' x H' x W'`` for a 3-D CNN, ``H' x W'`` for a 2-D one).
Two temporal weighting modes (``weighting=``):

- ``"global"``: one weight per channel, pooled over the whole ``T' x H' x W'`` volume (the usual 3-D Grad-CAM);
- ``"per_slice"``: one weight per channel *per time slice* ``t'`` (pooled over ``H' x W'`` only), so a channel
  can matter in some frames and not in others.

The CAM is taken at feature resolution (``AttributionResult.raw``), rectified, and upsampled with trilinear
interpolation to the input's ``(T, H, W)`` on the model's device (``base.upsample_to``).

Gradients come from ``torch.autograd.grad`` on the recorded activations: a forward hook swaps the target
layer's output for a fresh leaf tensor, so the backward pass stops at that layer (no gradient is propagated
to the input and no ``.grad`` is ever written on a parameter).

Multi-pathway networks (SlowFast) get one target layer per pathway; each pathway's CAM is upsampled to that
pathway's own input resolution (``extras["pathway0"]``, ``extras["pathway1"]``...) and the fused map
(``saliency``) is the weighted mean of the per-pathway maps, each scaled to a peak of 1, at the fast pathway's
(= the input's) resolution.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

import torch
from torch import nn

from .. import methods
from ..errors import InputError, ShapeError, UnsupportedModelError
from ..models.base import VideoModel
from .base import (REDUCTIONS, ActivationRecorder, Attribution, AttributionResult, model_state, normalize_maps,
                   parameter_defaults, reduce_channels, target_scores, upsample_to)

#: CAM variant name -> the class that computes it (each variant is one small override of
#: :meth:`CAMBase.channel_weights` or :meth:`CAMBase.cam_map`; filled as the classes below are defined).
CAM_VARIANTS: dict[str, type] = {}
WEIGHTINGS = ("global", "per_slice")
REFERENCES = ("none", "constant", "auto")

LayerSpec = str | nn.Module | Sequence[str | nn.Module] | None


# ------------------------------------------------------------------------------------------------------------
# the rank-agnostic core
# ------------------------------------------------------------------------------------------------------------
def pool_dims(acts: torch.Tensor, weighting: str) -> tuple[int, ...]:
    """Dims the channel weights are pooled over: all spatial dims, or only the last two (H', W')."""
    if weighting not in WEIGHTINGS:
        raise InputError(f"unknown CAM weighting {weighting!r}; choose from {', '.join(WEIGHTINGS)}")
    spatial = tuple(range(2, acts.ndim))
    if weighting == "per_slice":
        # For a 2-D map (H', W') there is a single "slice", so per_slice equals global there.
        return spatial[-2:]
    return spatial


def cam_weights(acts: torch.Tensor, grads: torch.Tensor, variant: str = "gradcam",
                weighting: str = "global", eps: float = 0.0) -> torch.Tensor:
    """Channel weights of a CAM variant, broadcastable against ``acts``.

    Args:
        acts: activations ``(B, K, *S)``.
        grads: gradients of the target score w.r.t. ``acts``, same shape.
        variant: ``"gradcam"`` (mean gradient), ``"gradcam++"`` (alpha-weighted positive gradients, Chattopadhay
            et al. 2018, eq. 19 with the exponential score), ``"xgradcam"`` (activation-weighted gradient
            sum / activation sum, Fu et al. 2020).
        weighting: ``"global"`` or ``"per_slice"`` (see the module docstring).
        eps: added to Grad-CAM++'s alpha denominator. 0 (default) is the paper's formula; pytorch-grad-cam adds
            1e-6, which shrinks alpha wherever ``g^2`` is not much larger than 1e-6 (common in video nets, whose
            per-position gradients are small), so pass ``eps=1e-6`` to reproduce its numbers.

    Returns:
        ``(B, K, 1, ..., 1)`` for global weighting, ``(B, K, T', 1, 1)`` per slice.
    """
    return _variant_class(variant).channel_weights(acts, grads, pool_dims(acts, weighting), eps)


def _variant_class(variant: str) -> type:
    try:
        return CAM_VARIANTS[variant]
    except KeyError:
        raise InputError(f"unknown CAM variant {variant!r}; choose from {', '.join(CAM_VARIANTS)}") from None


def cam_from_gradients(acts: torch.Tensor, grads: torch.Tensor, variant: str = "gradcam",
                       weighting: str = "global", relu: bool = True, eps: float = 0.0,
                       reference: torch.Tensor | None = None) -> torch.Tensor:
    """The CAM ``(B, *S)`` at feature resolution from activations and gradients ``(B, K, *S)``.

    Layer-CAM (Jiang et al. 2021) weights every position by its own positive gradient, so ``weighting`` has
    no effect on it. ``reference`` (activations of a reference clip, broadcastable to ``acts``) is subtracted
    from the activations that the channel weights combine; the weights themselves still come from ``acts``.
    """
    if acts.shape != grads.shape or acts.ndim < 3:
        raise ShapeError(f"CAM needs activations and gradients of the same shape (B, K, *S), got "
                         f"{tuple(acts.shape)} and {tuple(grads.shape)}")
    combined = acts if reference is None else acts - reference
    cam = _variant_class(variant).cam_map(acts, grads, combined, pool_dims(acts, weighting), eps)
    return cam.clamp_min(0) if relu else cam


# ------------------------------------------------------------------------------------------------------------
# layers, hooks and gradients
# ------------------------------------------------------------------------------------------------------------
def resolve_layers(model: VideoModel, layer: LayerSpec) -> list[nn.Module]:
    """Target layers as modules: ``None`` -> the model's defaults; a path / module / list of them."""
    if layer is None:
        if not model.target_layers:
            raise UnsupportedModelError(f"{model.name} has no default CAM target layer; pass layer='<module path>' "
                                        f"(a convolutional block of model.net)")
        layer = model.target_layers
    if isinstance(layer, (str, nn.Module)):
        layer = [layer]
    layers = [model.layer(p) for p in layer]
    if not layers:
        raise InputError("layer= is an empty list; give at least one module path")
    return layers


class LeafRecorder(ActivationRecorder):
    """Records each target layer's output as a fresh leaf that requires grad.

    The hook returns a clone of the leaf to the network, so the rest of the forward pass builds its graph on
    the leaf: ``torch.autograd.grad(score, recorder.activations)`` then stops there, which is cheaper than
    back-propagating to the input, needs no parameter gradients, and is safe with in-place ops downstream.
    When a layer returns a tuple (torchvision's MViT blocks return ``(tokens, thw)``), the other items are
    kept in ``companions`` so token layers can be reshaped to ``(B, K, T', H', W')``.
    """

    def __init__(self, layers: Sequence[nn.Module]) -> None:
        self.companions: list[tuple] = [()] * len(layers)
        super().__init__(layers)

    def _make_hook(self, i: int) -> Callable:
        def hook(module, args, output):
            rest = ()
            if isinstance(output, (tuple, list)):
                output, rest = output[0], tuple(output[1:])
            if not isinstance(output, torch.Tensor):
                raise UnsupportedModelError(f"CAM target layer {type(module).__name__} does not output a tensor")
            leaf = output.detach().requires_grad_(True)
            self.activations[i] = leaf
            self.companions[i] = rest
            return (leaf.clone(), *rest) if rest else leaf.clone()

        return hook


def layer_gradients(model: VideoModel, x: torch.Tensor, target, layers: Sequence[nn.Module],
                    return_companions: bool = False):
    """One forward and one backward pass: activations and gradients of each layer for each clip's target.

    ``target`` is anything :meth:`VideoModel.resolve_targets` accepts (``None`` = top-1, resolved from the
    same forward pass). Returns ``(activations, gradients, logits, target (B,))`` (plus, with
    ``return_companions``, the non-tensor items of tuple layer outputs); the model's train/eval mode and
    ``requires_grad`` flags are restored and every hook is removed, also on error.
    """
    with model_state(model), LeafRecorder(layers) as rec, torch.enable_grad():
        logits = model(x)
        target = model.resolve_targets(target, logits.detach())
        missing = [i for i, a in enumerate(rec.activations) if a is None]
        if missing:
            raise UnsupportedModelError(f"CAM target layer {type(layers[missing[0]]).__name__} was not used in "
                                        f"the forward pass of {model.name}")
        grads = torch.autograd.grad(target_scores(logits, target).sum(), rec.activations, allow_unused=True)
    acts = [a.detach() for a in rec.activations]
    grads = [torch.zeros_like(a) if g is None else g for a, g in zip(acts, grads)]
    if return_companions:
        return acts, list(grads), logits.detach(), target, list(rec.companions)
    return acts, list(grads), logits.detach(), target


#: Named reshapes for non-convolutional target layers (``reshape=`` of the CAM methods).
RESHAPES = ("channels_last", "tokens")
Reshape = Callable[[torch.Tensor], torch.Tensor] | str | None


def channels_last_to_first(t: torch.Tensor) -> torch.Tensor:
    """``(B, *S, K)`` (e.g. torchvision Swin3D stages: ``(B, T', H', W', K)``) -> ``(B, K, *S)``."""
    return t.movedim(-1, 1)


def tokens_to_volume(t: torch.Tensor, thw: Sequence[int]) -> torch.Tensor:
    """Transformer tokens ``(B, N, K)`` -> ``(B, K, T', H', W')``; a leading class token (N = 1 + T'H'W') is
    dropped (it has no position)."""
    n = int(torch.tensor(list(thw)).prod())
    if t.ndim != 3 or t.shape[1] not in (n, n + 1):
        raise UnsupportedModelError(f"cannot reshape tokens of shape {tuple(t.shape)} to a {tuple(thw)} grid")
    if t.shape[1] == n + 1:
        t = t[:, 1:]
    return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], *thw)


def _find_thw(companions: tuple) -> list[int] | None:
    for c in companions:
        if isinstance(c, (list, tuple, torch.Size)) and len(c) == 3 and all(isinstance(v, int) for v in c):
            return list(c)
    return None


def _as_map_tensor(t: torch.Tensor, reshape: Reshape, companions: tuple = ()) -> torch.Tensor:
    """Bring a layer output to ``(B, K, T', H', W')`` or ``(B, K, H', W')``.

    ``reshape``: a callable, ``"channels_last"``, ``"tokens"`` (needs the layer to return ``(tokens, thw)``,
    as torchvision's MViT blocks do) or None: token outputs of such tuple layers are reshaped automatically.
    """
    if callable(reshape):
        t = reshape(t)
    elif reshape == "channels_last":
        t = channels_last_to_first(t)
    elif reshape == "tokens" or (reshape is None and t.ndim == 3 and _find_thw(companions) is not None):
        thw = _find_thw(companions)
        if thw is None:
            raise UnsupportedModelError("reshape='tokens' needs a layer that returns (tokens, (T', H', W')); "
                                        "pass a callable reshape= instead")
        t = tokens_to_volume(t, thw)
    elif reshape is not None:
        raise InputError(f"unknown reshape {reshape!r}; give a callable or one of {', '.join(RESHAPES)}")
    if t.ndim not in (4, 5):
        raise UnsupportedModelError(
            f"the CAM target layer outputs shape {tuple(t.shape)}; expected (B, K, T', H', W') or (B, K, H', W') "
            f"(pick a convolutional block, or pass reshape='channels_last' / 'tokens' / a callable for "
            f"transformer layers)")
    return t


def reference_activations(model: VideoModel, x: torch.Tensor, layers: Sequence[nn.Module]) -> list[torch.Tensor]:
    """Activations ``[(1, ...)]`` of ``layers`` for a constant clip: zeros in model-input space (the mean colour
    for mean/std-normalised models, mid-grey for I3D's [-1, 1]), the same clip as deletion's zero baseline.

    What a layer outputs for a clip without content is the part of its activation that no clip content
    explains (e.g. border responses created by TF ``"SAME"`` padding); subtracting it leaves what the clip adds.
    """
    with model_state(model), LeafRecorder(layers) as rec, torch.no_grad():
        model(torch.zeros_like(x[:1]))
        acts = list(rec.activations)
    return acts


def layer_cams(model: VideoModel, x: torch.Tensor, target, layers: Sequence[nn.Module], variant: str = "gradcam",
               weighting: str = "global", relu: bool = True, reshape: Reshape = None, reference: str = "none"
               ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """Raw CAMs ``[(B, *S_l)]`` (one per layer) at feature resolution, the logits and the resolved targets.

    ``reference="constant"`` combines ``A(x) - A(constant clip)`` (see :func:`reference_activations`).
    Without ``reshape``, a model's own ``cam_reshape`` (a callable, e.g. the token layout of the Hugging Face
    video transformers, :class:`vidxai.models.hf_models.TokenLayout`) reads its token outputs.
    """
    from ..models.wrap import unfold_frames

    if reshape is None:
        reshape = getattr(model, "cam_reshape", None)
    acts, grads, logits, target, comps = layer_gradients(model, x, target, layers, return_companions=True)
    fib = getattr(model, "frames_in_batch", None)  # frames folded into the batch: (B*T, K, H', W') -> (B, K, T, ..)

    def as_map(t, c, b=x.shape[0]):
        return unfold_frames(_as_map_tensor(t, reshape, c), b, x.shape[2], fib)

    refs: list = [None] * len(acts)
    if reference == "constant":
        refs = [as_map(r, c, 1) for r, c in zip(reference_activations(model, x, layers), comps)]
    cams = [cam_from_gradients(as_map(a, c), as_map(g, c), variant, weighting, relu, reference=r)
            for a, g, c, r in zip(acts, grads, comps, refs)]
    return cams, logits, target


# ------------------------------------------------------------------------------------------------------------
# from feature maps to input-resolution maps (single and multi-pathway)
# ------------------------------------------------------------------------------------------------------------
def to_volume(raw: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Upsample a raw map ``(B, *S)`` to ``size`` = (T, H, W); a 2-D map (B, H', W') gets a time axis."""
    if raw.ndim - 1 == len(size) - 1:
        raw = raw.unsqueeze(1)
    return upsample_to(raw, tuple(size))


def _peak_normalise(maps: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each map to a maximum of 1 (keeps zero at zero, unlike min-max)."""
    peak = maps.flatten(1).amax(dim=1).clamp_min(eps)
    return maps / peak.view(-1, *([1] * (maps.ndim - 1)))


def assemble(model: VideoModel, x: torch.Tensor, raws: Sequence[torch.Tensor],
             pathway_weights: Sequence[float] | None = None) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Turn raw CAMs (one per layer) into ``(saliency (B,T,H,W), raw, extras)``.

    One layer: the CAM upsampled to the input. Several layers: each is upsampled to its pathway's own input
    ``(T_p, H, W)`` (``extras["pathway<i>"]``, i = 0 slow, 1 fast; for a single-pathway model every layer uses
    the input's size),
    and the saliency is the weighted mean (``pathway_weights``, default equal) of the maps upsampled to the
    input's ``(T, H, W)`` after scaling each to a peak of 1 - pathways have different channel counts and
    activation scales, so raw values are not comparable. ``raw`` is then the same fusion at the last
    (fast) pathway's feature resolution; the per-layer raw CAMs are in ``extras["pathway<i>_raw"]``. Every
    extra is a tensor batched along dim 0 (so ``explain`` splits them per clip) or a plain number.
    """
    size = tuple(x.shape[2:])
    if len(raws) == 1:
        return to_volume(raws[0], size), raws[0], {}
    if pathway_weights is None:
        pathway_weights = [1.0] * len(raws)
    if len(pathway_weights) != len(raws):
        raise InputError(f"pathway_weights has {len(pathway_weights)} values for {len(raws)} target layers")
    w = torch.tensor([float(v) for v in pathway_weights], device=x.device)
    if (w < 0).any() or w.sum() <= 0:
        raise InputError("pathway_weights must be non-negative with a positive sum")
    w = w / w.sum()
    if len(raws) == model.spec.pathways:
        sizes = [tuple(p.shape[2:]) for p in model.pathways(x)]
    else:
        sizes = [size] * len(raws)
    pathway_maps = [to_volume(r, s) for r, s in zip(raws, sizes)]
    fused = sum(wi * _peak_normalise(to_volume(r, size)) for wi, r in zip(w, raws))
    last = raws[-1]
    if all(r.ndim == last.ndim for r in raws):
        fused_raw = sum(wi * _peak_normalise(upsample_to(r, last.shape[1:])) for wi, r in zip(w, raws))
    else:  # a 2-D and a 3-D layer: no common feature grid
        fused_raw = None
    extras: dict = {"pathways": len(raws)}
    for i, (m, r) in enumerate(zip(pathway_maps, raws)):
        extras[f"pathway{i}"] = m
        extras[f"pathway{i}_raw"] = r
    return fused, fused_raw, extras


def check_input(model: VideoModel, inputs: torch.Tensor) -> torch.Tensor:
    """Validated clip batch on the model's device and parameter dtype."""
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return model.check_input(inputs).to(model.device, dtype=dtype)


# ------------------------------------------------------------------------------------------------------------
# registered methods
# ------------------------------------------------------------------------------------------------------------
class CAMBase(Attribution):
    """Gradient-weighted CAM of one target layer (or one per pathway).

    Parameters of :meth:`attribute`:
        layer: module path (relative to ``model.net``), a module, or a list (one per pathway); default
            ``model.target_layers``.
        weighting: ``"global"`` (default) or ``"per_slice"`` channel weights.
        relu: rectify the CAM (default True, as in Grad-CAM).
        normalize: min-max normalise each clip's map to [0, 1] (default False: keep the score scale, so maps
            of different clips stay comparable).
        pathway_weights: weights of the pathways in the fused multi-pathway map (default equal).
        reshape: how to read a non-convolutional layer: a callable mapping its output to ``(B, K, *S)``,
            ``"channels_last"`` (Swin3D stages, ``(B, T', H', W', K)``) or ``"tokens"`` (MViT blocks returning
            ``(tokens, thw)``; also detected automatically).
        reference: ``"none"`` (the published method: the weights combine the activations ``A(x)``),
            ``"constant"`` (they combine ``A(x) - A(c)``, ``c`` a constant clip; one extra forward pass) or
            ``"auto"`` (default): ``"constant"`` for variants with positive-only weights (Grad-CAM++,
            Layer-CAM) on models whose ``cam_reference`` is ``"constant"`` (I3D), else ``"none"``. Why: the
            pretrained I3D's ``Mixed_5c`` responds strongly at its last column and last time slice whatever the
            clip shows (also on a grey clip: TF "SAME" padding adds its extra zero at the end); positive-only
            weights add that response up with nothing to cancel it, so Grad-CAM++'s peak sat in that one cell on
            every real clip. ``extras["reference"]`` records the choice.
    """

    family: ClassVar[str] = "cam"
    variant: ClassVar[str] = "gradcam"
    uses_weighting: ClassVar[bool] = True
    #: positive-only weights: a content-independent response cannot be cancelled by negative weights.
    positive_weights: ClassVar[bool] = False
    resolves_target = True  # the targets come from the CAM's own forward pass
    choices = {"weighting": WEIGHTINGS, "reference": REFERENCES}

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if "channel_weights" in cls.__dict__ or "cam_map" in cls.__dict__:  # a class that defines a variant
            CAM_VARIANTS[cls.variant] = cls

    @staticmethod
    def channel_weights(acts: torch.Tensor, grads: torch.Tensor, dims: tuple[int, ...], eps: float = 0.0
                        ) -> torch.Tensor:
        """The variant's channel weights ``(B, K, 1...)`` from activations and gradients ``(B, K, *S)``, pooled
        over ``dims``: the one step a CAM variant overrides (pytorch-grad-cam's ``get_cam_weights``)."""
        raise NotImplementedError

    @classmethod
    def cam_map(cls, acts: torch.Tensor, grads: torch.Tensor, combined: torch.Tensor, dims: tuple[int, ...],
                eps: float = 0.0) -> torch.Tensor:
        """The CAM ``(B, *S)``: channel weights times the (reference-corrected) activations ``combined``."""
        return (cls.channel_weights(acts, grads, dims, eps) * combined).sum(dim=1)

    def resolve_reference(self, reference: str) -> str:
        """``"none"`` or ``"constant"`` for ``reference`` in ``none | constant | auto``."""
        if reference not in REFERENCES:
            raise InputError(f"unknown CAM reference {reference!r}; choose from {', '.join(REFERENCES)}")
        if reference != "auto":
            return reference
        return getattr(self.model, "cam_reference", "none") if self.positive_weights else "none"

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        if not self.uses_weighting and settings["weighting"] != "global":
            raise InputError(f"method {self.name!r} weights every position by its own gradient; "
                             f"weighting={settings['weighting']!r} does not apply")
        return settings

    def compute(self, x: torch.Tensor, target, logits, layer: LayerSpec = None, weighting: str = "global",
                relu: bool = True, normalize: bool = False, pathway_weights: Sequence[float] | None = None,
                reshape: Reshape = None, reference: str = "auto") -> AttributionResult:
        reference = self.resolve_reference(reference)
        layers = resolve_layers(self.model, layer)
        raws, logits, target = layer_cams(self.model, x, target, layers, self.variant, weighting, relu, reshape,
                                          reference)
        saliency, raw, extras = assemble(self.model, x, raws, pathway_weights)
        extras["target"] = target
        extras["reference"] = reference
        if normalize:
            saliency = normalize_maps(saliency)
        return AttributionResult(saliency, raw=raw, logits=logits, extras=extras)


@methods.register("gradcam", description="Grad-CAM: mean-gradient channel weights x activations of a conv layer, "
                  "upsampled (global or per-time-slice weights)", family="cam")
class GradCAM(CAMBase):
    """Grad-CAM (Selvaraju et al. 2017) for 3-D, 2-D and multi-pathway networks.

    Example::

        res = GradCAM(model).attribute(clips, target=labels, layer="Mixed_5c", weighting="per_slice")
    """

    variant = "gradcam"

    @staticmethod
    def channel_weights(acts, grads, dims, eps=0.0):
        return grads.mean(dim=dims, keepdim=True)  # the mean gradient of each channel


@methods.register("gradcam++", description="Grad-CAM++: alpha-weighted positive gradients as channel weights",
                  family="cam")
class GradCAMPlusPlus(CAMBase):
    """Grad-CAM++ (Chattopadhay et al. 2018): alpha-weighted positive gradients (eq. 19, exponential score).

    Example::

        res = GradCAMPlusPlus(model).attribute(clips, target=labels)
    """

    variant = "gradcam++"
    positive_weights = True

    @staticmethod
    def channel_weights(acts, grads, dims, eps=0.0):
        g2 = grads.pow(2)
        g3 = g2 * grads
        denom = 2 * g2 + acts.sum(dim=dims, keepdim=True) * g3 + eps
        # alpha = g^2 / (2 g^2 + sum(A) g^3); positions with zero gradient (or a zero denominator) get alpha 0.
        safe = torch.where(denom != 0, denom, torch.ones_like(denom))
        alpha = torch.where((grads != 0) & (denom != 0), g2 / safe, torch.zeros_like(g2))
        return (alpha * grads.clamp_min(0)).sum(dim=dims, keepdim=True)


@methods.register("xgradcam", description="XGrad-CAM: activation-normalised gradient x activation channel weights",
                  family="cam")
class XGradCAM(CAMBase):
    """XGrad-CAM (Fu et al. 2020): activation-weighted gradient sum over the activation sum.

    Example::

        res = XGradCAM(model).attribute(clips, target=labels)
    """

    variant = "xgradcam"

    @staticmethod
    def channel_weights(acts, grads, dims, eps=0.0):
        return (grads * acts).sum(dim=dims, keepdim=True) / (acts.sum(dim=dims, keepdim=True) + 1e-7)


@methods.register("layercam", description="Layer-CAM: each position weighted by its own positive gradient",
                  family="cam")
class LayerCAM(CAMBase):
    """Layer-CAM (Jiang et al. 2021): every position weighted by its own positive gradient; useful on earlier,
    higher-resolution layers.

    Example::

        res = LayerCAM(model).attribute(clips, target=labels, layer="Mixed_3c")
    """

    variant = "layercam"
    uses_weighting = False
    positive_weights = True

    @classmethod
    def cam_map(cls, acts, grads, combined, dims, eps=0.0):
        return (grads.clamp_min(0) * combined).sum(dim=1)


@methods.register("guided-gradcam", description="Guided Grad-CAM: guided backprop (max |.| over colour) x Grad-CAM",
                  family="cam")
class GuidedGradCAM(CAMBase):
    """Guided Grad-CAM: the guided-backprop map times the upsampled Grad-CAM (Selvaraju et al. 2017).

    The guided gradient ``(B, C, T, H, W)`` is reduced over colour with ``reduction`` (default max |.|, as the
    other gradient maps) and multiplied by the Grad-CAM at input resolution; ``extras["gradcam"]`` holds that
    Grad-CAM and ``raw`` the Grad-CAM at feature resolution. ``strict=False`` lets plain gradients through
    activations guided backprop has no rule for (see :mod:`vidxai.attribution.guided`).

    Example::

        res = GuidedGradCAM(model).attribute(clips, target=3, layer="Mixed_4f")
        res.extras["gradcam"]   # the Grad-CAM factor at input resolution
    """

    output = "pixel"  # guided backprop times the CAM: pixel detail

    variant = "gradcam"
    choices = {**CAMBase.choices, "reduction": REDUCTIONS}
    #: the Grad-CAM's own parameters, handed on to it
    forwarded_params = {k: v for k, v in parameter_defaults(CAMBase).items() if k != "normalize"}

    def validate(self, params: dict) -> dict:
        from .guided import guided_relus, unguidable_activations

        settings = super().validate(params)
        if settings["strict"] and unguidable_activations(self.model):
            with guided_relus(self.model, strict=True):  # raises its one-line error before any pass is spent
                pass
        return settings

    def compute(self, x: torch.Tensor, target, logits, reduction: str = "max_abs", normalize: bool = False,
                strict: bool = True, **cam_params) -> AttributionResult:
        from .guided import guided_gradient

        cam = super().compute(x, target, logits, normalize=False, **cam_params)
        grad, _ = guided_gradient(self.model, x, cam.extras["target"], strict=strict)
        saliency = reduce_channels(grad, reduction) * cam.saliency
        if normalize:
            saliency = normalize_maps(saliency)
        extras = dict(cam.extras, gradcam=cam.saliency)
        return AttributionResult(saliency, raw=cam.raw, logits=cam.logits, extras=extras)


#: the registered CAM variants (jitter-cam and the tests read this)
VARIANTS = tuple(CAM_VARIANTS)

__all__ = ["cam_weights", "cam_from_gradients", "layer_gradients", "layer_cams", "resolve_layers", "assemble",
           "to_volume", "LeafRecorder", "CAMBase", "GradCAM", "GradCAMPlusPlus", "XGradCAM", "LayerCAM",
           "GuidedGradCAM", "VARIANTS", "WEIGHTINGS", "REFERENCES", "reference_activations", "RESHAPES",
           "channels_last_to_first", "tokens_to_volume"]
