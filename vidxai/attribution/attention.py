"""Attention-based explanations of video transformers: attention rollout and gradient-weighted attention relevance.

- ``attention-rollout`` (Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers"): per attention, the
  heads' mean ``A``, plus the identity for the residual connection, rows normalised to sum to 1; the products
  over layers ``R = Â_L ... Â_1`` say how much each output token draws on each input token. Class-agnostic.
- ``transformer-attribution`` (Chefer, Gur & Wolf 2021, "Transformer Interpretability Beyond Attention
  Visualization", the gradient-weighted attention relevance): ``R = I``; for each attention in forward order
  ``R += mean_heads(clamp(dS/dA * A, min=0)) @ R``, ``S`` the target logit. Class-specific.

The map is the class token's row of ``R`` over the patch tokens (ViViT, TimeSformer) or, without a class token
(VideoMAE's mean-pooled head), the mean of the rows; it is put on the ``(T', H', W')`` tubelet grid
(``AttributionResult.raw``) and upsampled trilinearly to the clip's ``(T, H, W)``.

TimeSformer's divided space-time attention (a temporal attention over each position's ``T'`` tokens, then a spatial
attention over each frame's ``1 + H'W'`` tokens with one class-token copy per frame, whose outputs are averaged)
is written as two full ``N x N`` token-mixing matrices per block, so both methods compose them like joint
attention; the class token's row of the spatial matrix is the mean over frames of its per-frame rows.

The attention probabilities are read with forward hooks on the attention modules named by the model's
:class:`~vidxai.models.hf_models.TokenLayout` (``model.token_layout``; found from ``model.net`` for a wrapped
``transformers`` network). Modules whose ``forward`` takes ``output_attentions`` are asked for them, and an sdpa
network runs with eager attention while the method runs; hooks, that switch and the model's train/grad flags are
restored also on error. Models that are not transformers get a one-line
:class:`~vidxai.errors.UnsupportedModelError`.
"""
from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from typing import ClassVar

import torch

from .. import methods
from ..core.tensor import upsample_to
from ..errors import InputError, UnsupportedModelError
from ..models.base import VideoModel
from .base import Attribution, AttributionResult, HookSet, normalize_maps, target_scores

HEAD_FUSIONS = ("mean", "max", "min")


# ------------------------------------------------------------------------------------------------------------
# finding and recording the attention probabilities
# ------------------------------------------------------------------------------------------------------------
def token_layout(model: VideoModel):
    """The model's :class:`~vidxai.models.hf_models.TokenLayout`.

    Raises:
        UnsupportedModelError: the model is not a video transformer vidxai can read attention from.

    Example:
        >>> import vidxai
        >>> token_layout(vidxai.models.load("vivit-tiny", weights=None)).grid  # doctest: +SKIP
        (4, 4, 4)
    """
    layout = getattr(model, "token_layout", None)
    if layout is None:
        from ..models.hf_models import transformer_layout

        try:
            layout = transformer_layout(model.net)
        except UnsupportedModelError:
            raise UnsupportedModelError(
                f"attention methods need a video transformer (VideoMAE, TimeSformer, ViViT: vidxai.models.load("
                f"'videomae') or vidxai.models.hf_models.wrap_transformer(net)); {model.name} "
                f"({type(model.net).__name__}) has no attention layers vidxai knows") from None
    if not layout.attention:
        raise UnsupportedModelError(f"{model.name} names no attention modules (token_layout.attention is empty)")
    return layout


def _probabilities(output) -> torch.Tensor | None:
    """The attention probabilities in an attention module's output: the tensor itself (a dropout on the
    probabilities), or the second item of ``(context, probs)``."""
    if isinstance(output, torch.Tensor) and output.ndim == 4:
        return output
    if isinstance(output, (tuple, list)) and len(output) > 1 and isinstance(output[1], torch.Tensor):
        return output[1]
    return None


class AttentionRecorder(HookSet):
    """Records the attention probabilities ``(B', heads, n, n)`` of the given modules in one forward pass; kept in
    the autograd graph (their gradients are what ``transformer-attribution`` weights them by)."""

    def __init__(self, modules: Sequence[torch.nn.Module]) -> None:
        super().__init__()
        self.probs: list[torch.Tensor | None] = [None] * len(modules)
        for i, module in enumerate(modules):
            if "output_attentions" in inspect.signature(module.forward).parameters:
                self.handles.append(module.register_forward_pre_hook(_ask_for_attentions, with_kwargs=True))
            self.forward(module, self._hook(i))

    def _hook(self, i: int):
        def hook(module, args, output):
            self.probs[i] = _probabilities(output)

        return hook


def _ask_for_attentions(module, args, kwargs):
    # transformers < 5 and TimeSformer return the probabilities only when asked
    bound = inspect.signature(module.forward).bind_partial(*args, **kwargs)
    bound.arguments["output_attentions"] = True
    return bound.args, bound.kwargs


@contextlib.contextmanager
def recording(model: VideoModel, layout) -> Iterator[AttentionRecorder]:
    """Hooks on the layout's attention modules and eager attention inside the block; all undone on exit."""
    from ..models.hf_models import eager_attention

    modules = [model.layer(path) for path, _ in layout.attention]
    with eager_attention(model.net), AttentionRecorder(modules) as rec:
        yield rec


def _check_recorded(rec: AttentionRecorder, layout) -> list[torch.Tensor]:
    missing = [layout.attention[i][0] for i, p in enumerate(rec.probs) if p is None]
    if missing:
        raise UnsupportedModelError(f"no attention probabilities came out of {missing[0]} (an sdpa/flash attention "
                                    f"kernel?); load the network with attn_implementation='eager'")
    return list(rec.probs)


# ------------------------------------------------------------------------------------------------------------
# the math (batched, on full N x N token-mixing matrices)
# ------------------------------------------------------------------------------------------------------------
def fuse_heads(attn: torch.Tensor, how: str = "mean") -> torch.Tensor:
    """``(B, heads, n, n)`` -> ``(B, n, n)`` by the mean (default), max or min over heads."""
    if how not in HEAD_FUSIONS:
        raise InputError(f"unknown head_fusion {how!r}; choose from {', '.join(HEAD_FUSIONS)}")
    return {"mean": lambda a: a.mean(1), "max": lambda a: a.amax(1), "min": lambda a: a.amin(1)}[how](attn)


def full_matrix(a: torch.Tensor, kind: str, layout, cls_identity: bool) -> torch.Tensor:
    """One attention's head-fused matrix ``(B', n, n)`` as a ``(B, N, N)`` matrix over all tokens.

    ``kind="joint"``: already ``N x N``. ``"temporal"``: ``(B*H'W', T', T')`` attention among each position's
    tokens; the class token does not take part (``cls_identity``: it keeps itself, as it does through the
    residual). ``"spatial"``: ``(B*T', 1+H'W', 1+H'W')`` per frame; the class token's row is the mean over frames
    (TimeSformer averages the per-frame class-token outputs).
    """
    if kind == "joint":
        return a
    t, h, w = layout.grid
    s, n = h * w, layout.num_patches + 1
    if kind == "temporal":
        b = a.shape[0] // s
        blocks = torch.einsum("bsij,sr->bsirj", a.reshape(b, s, t, t), torch.eye(s, dtype=a.dtype, device=a.device))
        full = a.new_zeros(b, n, n)
        full[:, 1:, 1:] = blocks.reshape(b, s * t, s * t)  # token 1 + s*T' + t (TimeSformer's (h, w, t) order)
        if cls_identity:
            full[:, 0, 0] = 1
        return full
    if kind != "spatial":
        raise InputError(f"unknown attention kind {kind!r}")
    b = a.shape[0] // t
    a = a.reshape(b, t, s + 1, s + 1)
    eye_t = torch.eye(t, dtype=a.dtype, device=a.device)
    full = a.new_zeros(b, n, n)
    full[:, 1:, 1:] = torch.einsum("btij,tu->bitju", a[:, :, 1:, 1:], eye_t).reshape(b, s * t, s * t)
    full[:, 1:, 0] = a[:, :, 1:, 0].transpose(1, 2).reshape(b, s * t)
    full[:, 0, 0] = a[:, :, 0, 0].mean(1)
    full[:, 0, 1:] = (a[:, :, 0, 1:] / t).transpose(1, 2).reshape(b, s * t)
    return full


def rollout(matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """Attention rollout of head-fused attention matrices ``[(B, N, N)]`` in forward order.

    Each gets the identity added (the residual connection) and its rows normalised to sum to 1; the result is
    ``Â_L @ ... @ Â_1``.

    Example:
        >>> a = torch.tensor([[[0.5, 0.5], [0.0, 1.0]]])
        >>> rollout([a, a])[0].tolist()
        [[0.5625, 0.4375], [0.0, 1.0]]
    """
    r = None
    for a in matrices:
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = a + eye
        a = a / a.sum(-1, keepdim=True)
        r = a if r is None else a @ r
    return r


def relevance(matrices: Sequence[torch.Tensor]) -> torch.Tensor:
    """Chefer et al.'s relevance from gradient-weighted matrices ``[(B, N, N)]`` (each already
    ``mean_heads(clamp(grad * attn, min=0))``) in forward order: ``R = I; R += Ā @ R``.

    Example:
        >>> a = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
        >>> relevance([a, a])[0].tolist()
        [[1.0, 2.0], [0.0, 1.0]]
    """
    n = matrices[0].shape[-1]
    r = torch.eye(n, dtype=matrices[0].dtype, device=matrices[0].device).expand(matrices[0].shape[0], n, n)
    for a in matrices:
        r = r + a @ r
    return r


def readout(matrices: Sequence[torch.Tensor], layout, rule: str) -> torch.Tensor:
    """The map ``(B, T', H', W')``: the class token's row of :func:`rollout` / :func:`relevance` over the patch
    tokens, or without a class token the mean of the rows (a mean-pooled head reads every token alike).

    Only that row is needed, so it is computed right to left as vector-matrix products: O(N^2) per attention
    instead of O(N^3) (VideoMAE-B has N = 1568 tokens).

    Args:
        matrices: head-fused ``(B, N, N)`` matrices in forward order (attention probabilities for ``"rollout"``,
            gradient-weighted ones for ``"relevance"``).
        layout: the model's token layout.
        rule: ``"rollout"`` or ``"relevance"``.

    Example:
        >>> from vidxai.models.hf_models import TokenLayout
        >>> a = torch.tensor([[[0.0, 1.0], [0.0, 0.0]]])
        >>> readout([a, a], TokenLayout((1, 1, 1), cls_token=True), "relevance").flatten().tolist()
        [2.0]
    """
    b, n = matrices[0].shape[0], matrices[0].shape[-1]
    if layout.cls_token:
        v = matrices[0].new_zeros(b, n)
        v[:, 0] = 1
    else:
        v = matrices[0].new_full((b, n), 1 / n)
    for a in reversed(matrices):
        if rule == "rollout":
            a = a + torch.eye(n, dtype=a.dtype, device=a.device)
            v = (v.unsqueeze(1) @ (a / a.sum(-1, keepdim=True))).squeeze(1)
        else:
            v = v + (v.unsqueeze(1) @ a).squeeze(1)
    return layout.patches_to_grid(v[:, 1:] if layout.cls_token else v)


# ------------------------------------------------------------------------------------------------------------
# registered methods
# ------------------------------------------------------------------------------------------------------------
class _AttentionMethod(Attribution):
    family: ClassVar[str] = "attention"
    requires: ClassVar[str | None] = "transformer"  # reads attention matrices: video transformers only
    resolves_target = True  # from the one forward pass that records the attention

    def _finish(self, x: torch.Tensor, raw: torch.Tensor, logits, target, normalize: bool, **extras
                ) -> AttributionResult:
        saliency = upsample_to(raw, tuple(x.shape[2:]))
        if normalize:
            saliency = normalize_maps(saliency)
        return AttributionResult(saliency, raw=raw, logits=logits, extras={"target": target, **extras})


@methods.register("attention-rollout", description="Attention rollout (Abnar & Zuidema 2020): head-averaged "
                  "attention + identity, rows normalised, multiplied over layers; video transformers", family="attention")
class AttentionRollout(_AttentionMethod):
    """Attention rollout on VideoMAE, TimeSformer and ViViT (class-agnostic: ``target`` only fills ``extras``).

    Parameters of :meth:`attribute`:
        head_fusion: ``"mean"`` (default, the paper's), ``"max"`` or ``"min"`` over heads.
        normalize: min-max normalise each clip's map.

    Example:
        >>> import torch, vidxai
        >>> model = vidxai.models.load("vivit-tiny", weights=None)  # doctest: +SKIP
        >>> AttentionRollout(model).attribute(torch.randn(1, 3, 8, 32, 32)).saliency.shape  # doctest: +SKIP
        torch.Size([1, 8, 32, 32])
    """

    choices = {"head_fusion": HEAD_FUSIONS}

    def compute(self, x: torch.Tensor, target, logits, head_fusion: str = "mean",
                normalize: bool = False) -> AttributionResult:
        layout = token_layout(self.model)
        with recording(self.model, layout) as rec, torch.no_grad():
            logits = self.model(x)
            probs = _check_recorded(rec, layout)
        target = self.model.resolve_targets(target, logits)
        mats = [full_matrix(fuse_heads(p.float(), head_fusion), kind, layout, cls_identity=True)
                for p, (_, kind) in zip(probs, layout.attention)]
        raw = readout(mats, layout, "rollout")
        return self._finish(x, raw, logits.detach(), target, normalize, head_fusion=head_fusion)


@methods.register("transformer-attribution", description="Gradient-weighted attention relevance (Chefer et al. "
                  "2021): R += mean_heads(relu(grad * attn)) @ R over layers; video transformers", family="attention")
class TransformerAttribution(_AttentionMethod):
    """Chefer, Gur & Wolf's gradient-weighted attention relevance on VideoMAE, TimeSformer and ViViT.

    One forward and one backward pass; the gradients are those of each clip's target logit w.r.t. the attention
    probabilities (no parameter gets a ``.grad``).

    Parameters of :meth:`attribute`:
        normalize: min-max normalise each clip's map.

    Example:
        >>> import torch, vidxai
        >>> model = vidxai.models.load("timesformer-tiny", weights=None)  # doctest: +SKIP
        >>> TransformerAttribution(model).attribute(torch.randn(1, 3, 8, 32, 32), target=3).raw.shape  # doctest: +SKIP
        torch.Size([1, 8, 4, 4])
    """

    def compute(self, x: torch.Tensor, target, logits, normalize: bool = False) -> AttributionResult:
        layout = token_layout(self.model)
        # the input carries the graph: parameters are frozen inside model_state
        x_in = x.detach().requires_grad_(True)
        with recording(self.model, layout) as rec, torch.enable_grad():
            logits = self.model(x_in)
            probs = _check_recorded(rec, layout)
            target = self.model.resolve_targets(target, logits.detach())
            grads = torch.autograd.grad(target_scores(logits, target).sum(), probs, allow_unused=True)
        mats = [full_matrix((torch.zeros_like(p) if g is None else g * p).clamp_min(0).mean(1).detach().float(),
                            kind, layout, cls_identity=False)
                for p, g, (_, kind) in zip(probs, grads, layout.attention)]
        raw = readout(mats, layout, "relevance")
        return self._finish(x, raw, logits.detach(), target, normalize)


__all__ = ["AttentionRollout", "TransformerAttribution", "AttentionRecorder", "token_layout", "recording",
           "fuse_heads", "full_matrix", "rollout", "relevance", "readout", "HEAD_FUSIONS"]
