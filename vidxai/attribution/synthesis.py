"""Feature synthesis (activation maximisation) for video models.

Optimise a clip, starting from small noise, to maximise a class logit or the mean activation of one channel of
a layer, with the regularisers of Norton's "Deep Introspection: Explaining Neural Networks Through Feature Occlusion and Synthesis": L2 decay, a Gaussian blur every few steps (in space, and
optionally in time), clipping of small pixel values and of pixels with small contribution, and total variation
in space and time. The result is a uint8 video (written with ``vidxai synthesize``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InputError
from .base import ActivationRecorder, model_state


@dataclass
class SynthesisResult:
    clip: torch.Tensor  # (C, T, H, W) in the model's input space
    frames: np.ndarray  # uint8 (T, H, W, 3)
    objective: list[float] = field(default_factory=list)  # the objective after each step
    start_score: float = float("nan")  # the objective on the starting noise
    target: str = ""


def total_variation(x: torch.Tensor, temporal_weight: float = 1.0) -> torch.Tensor:
    """Mean absolute difference between neighbouring voxels of ``(B, C, T, H, W)``, time weighted separately."""
    tv = (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., 1:] - x[..., :-1]).abs().mean()
    if x.shape[2] > 1:
        tv = tv + temporal_weight * (x[:, :, 1:] - x[:, :, :-1]).abs().mean()
    return tv


def synthesize(model, target: int | str | None = None, layer: str | None = None, channel: int = 0,
               steps: int = 200, learning_rate: float = 0.05, decay: float = 1e-3, tv_weight: float = 0.05,
               tv_temporal_weight: float = 1.0, blur_every: int = 4, blur_sigma: float = 0.5,
               temporal_blur: bool = False, clip_value_quantile: float = 0.0, clip_contribution_quantile: float = 0.0,
               num_frames: int | None = None, size: tuple[int, int] | None = None, clamp_range: bool = True,
               seed: int = 0, progress: bool = False) -> SynthesisResult:
    """Synthesise a clip that maximises ``target``'s logit (or ``layer``'s ``channel``).

    Args:
        model: a :class:`vidxai.VideoModel`.
        target: class index or name (ignored when ``layer`` is given).
        layer: module path of a layer whose ``channel`` mean activation is maximised instead.
        steps, learning_rate: Adam steps on the clip in the model's input space.
        decay: L2 penalty weight; ``tv_weight``/``tv_temporal_weight``: total variation in space / time.
        blur_every, blur_sigma, temporal_blur: periodic Gaussian blur of the clip (pixels; frames).
        clip_value_quantile: zero pixels whose norm is below this quantile (every blur step).
        clip_contribution_quantile: zero pixels whose |x * grad| is below this quantile (every blur step).
        num_frames, size: clip shape (default: the model's input spec).
        clamp_range: keep every pixel inside the model's valid input range (RGB in [0, 1]) after each step, so
            the clip is a real video; without it the logit grows without bound on pixels no video can show.
    """
    from tqdm.auto import tqdm

    from ..core.tensor import blur_frames as gaussian_blur

    spec = model.spec
    t = num_frames or spec.num_frames
    h, w = size or spec.crop
    if layer is None:
        if target is None:
            raise InputError("synthesize needs a target class or a layer")
        cls = model.class_index(target)
        name = model.class_names[cls]
    else:
        module = model.layer(layer)
        name = f"{layer}[{channel}]"
    gen = torch.Generator().manual_seed(seed)
    grey = model.from_unit_rgb(torch.full((1, 3, t, h, w), 0.5, device=model.device))
    x = (grey + 0.05 * torch.randn((1, 3, t, h, w), generator=gen).to(model.device)).requires_grad_(True)
    lo = model.from_unit_rgb(torch.zeros(1, 3, 1, 1, 1, device=model.device))
    hi = model.from_unit_rgb(torch.ones(1, 3, 1, 1, 1, device=model.device))
    lo, hi = torch.minimum(lo, hi), torch.maximum(lo, hi)
    opt = torch.optim.Adam([x], lr=learning_rate)
    history: list[float] = []

    def objective(clip: torch.Tensor) -> torch.Tensor:
        if layer is None:
            return model(clip)[0, cls]
        with ActivationRecorder([module]) as rec:
            model(clip)
        act = rec.activations[0]
        if channel >= act.shape[1]:
            raise InputError(f"layer {layer} has {act.shape[1]} channels, got channel {channel}")
        return act[0, channel].mean()

    with model_state(model), torch.enable_grad():
        start = float(objective(x).detach())
        for step in tqdm(range(steps), disable=not progress, desc=f"synthesising {name}"):
            score = objective(x)
            loss = -score + decay * x.pow(2).mean() + tv_weight * total_variation(x, tv_temporal_weight)
            opt.zero_grad()
            loss.backward()
            contribution = (x.grad * x).detach().abs().sum(1) if clip_contribution_quantile > 0 else None
            opt.step()
            if clamp_range:
                with torch.no_grad():
                    x.copy_(torch.maximum(torch.minimum(x, hi), lo))
            history.append(float(score.detach()))
            if blur_every and (step + 1) % blur_every == 0:
                with torch.no_grad():
                    y = gaussian_blur(x, blur_sigma)
                    if temporal_blur and t > 1:
                        y = gaussian_blur(y.transpose(2, 4), blur_sigma).transpose(2, 4)
                    if clip_value_quantile > 0:
                        norm = y.norm(dim=1)
                        y = y * (norm >= norm.flatten().quantile(clip_value_quantile)).unsqueeze(1)
                    if contribution is not None:
                        y = y * (contribution >= contribution.flatten().quantile(clip_contribution_quantile)).unsqueeze(1)
                    x.copy_(torch.maximum(torch.minimum(y, hi), lo) if clamp_range else y)
    clip = x.detach()[0]
    rgb = model.to_unit_rgb(clip[None])[0]
    frames = (rgb.permute(1, 2, 3, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return SynthesisResult(clip=clip.cpu(), frames=frames, objective=history, start_score=start, target=name)


__all__ = ["synthesize", "SynthesisResult", "total_variation"]
