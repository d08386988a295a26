"""Gradient family: vanilla gradient, guided backprop, input x gradient, integrated gradients, SmoothGrad.

All five attribute the model's ONE input tensor ``(B, C, T, H, W)`` (for SlowFast that tensor feeds both
pathways, so the gradient covers both). Each returns the full attribution ``(B, C, T, H, W)`` as
``AttributionResult.raw`` and its reduction over colour as ``saliency`` ``(B, T, H, W)``; ``reduction`` picks
the rule from :data:`vidxai.attribution.base.REDUCTIONS` (default ``"max_abs"``, max of |.| over colour,
the SWAG-V choice).

Integrated gradients and SmoothGrad evaluate many scaled/noisy copies of the clips; the copies of all B
clips are flattened into one stream and sent through the model ``internal_batch_size`` at a time, on the
model's device. Nothing leaves torch.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from .. import methods
from ..core.tensor import gaussian_blur  # noqa: F401  (re-exported: SmoothGrad/IG baselines use it)
from ..errors import InputError, ShapeError
from ..models.base import VideoModel
from .base import REDUCTIONS, Attribution, AttributionResult, input_gradient, reduce_channels, target_scores
from .baselines import clip_seed
from .guided import guided_gradient

__all__ = ["Gradient", "GuidedBackprop", "InputXGradient", "IntegratedGradients", "SmoothGrad", "SMOOTHGRAD_PRESETS",
           "IG_RULES", "ig_alphas", "ig_baseline", "gaussian_blur", "smoothgrad_sigma"]


@methods.register("gradient", description="Vanilla gradient of the class score w.r.t. the clip, max |.| over colour",
                  family="gradient")
class Gradient(Attribution):
    """Vanilla gradient (Simonyan et al. 2014), reduced over colour with ``reduction`` (default max |.|).

    Example::

        res = Gradient(model).attribute(clips, target=3, reduction="l2")
        res.raw.shape   # (B, 3, T, H, W): the gradient before the colour reduction
    """

    choices = {"reduction": REDUCTIONS}

    def compute(self, x: torch.Tensor, target, logits, reduction: str = "max_abs") -> AttributionResult:
        """Args: reduction: the colour reduction (:data:`~vidxai.attribution.base.REDUCTIONS`)."""
        grad, logits = input_gradient(self.model, x, target, return_logits=True)
        attr = self.combine(x, grad)
        return AttributionResult(reduce_channels(attr, reduction), raw=attr, logits=logits)

    @staticmethod
    def combine(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        """The attribution from the clip and its gradient (the gradient itself here)."""
        return grad


@methods.register("guided-backprop", description="Guided backpropagation (ReLUs pass only positive gradients), "
                  "max |.| over colour", family="gradient")
class GuidedBackprop(Attribution):
    """Guided backpropagation (Springenberg et al. 2015) for ``nn.ReLU`` (inplace or not) and functional ReLUs.

    Params:
        reduction: colour reduction (default ``"max_abs"``).
        strict: True (default) raises :class:`~vidxai.errors.UnsupportedModelError` when the model has an
            activation with no guided rule (GELU, SiLU/Swish, Hardswish, LeakyReLU, ...); False warns and lets
            the plain gradient through those activations.

    Example::

        res = GuidedBackprop(model).attribute(clips, target=labels)
    """

    choices = {"reduction": REDUCTIONS}

    def compute(self, x: torch.Tensor, target, logits, reduction: str = "max_abs",
                strict: bool = True) -> AttributionResult:
        grad, logits = guided_gradient(self.model, x, target, strict=strict)
        return AttributionResult(reduce_channels(grad, reduction), raw=grad, logits=logits)


@methods.register("input-x-gradient", description="Input times gradient (normalised input space), max |.| over colour",
                  family="gradient")
class InputXGradient(Gradient):
    """Input x gradient (Shrikumar et al. 2016): ``x * df/dx`` with ``x`` in the model's normalised input space.

    Example::

        res = InputXGradient(model).attribute(clips, target=3)
    """

    @staticmethod
    def combine(x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        return x * grad


# ------------------------------------------------------------------------------------------------------------
# integrated gradients
# ------------------------------------------------------------------------------------------------------------
#: Quadrature rules for the path integral, with captum's names and definitions.
IG_RULES = ("gausslegendre", "riemann_trapezoid", "riemann_left", "riemann_right", "riemann_middle")


def _gauss_legendre(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Gauss-Legendre nodes and weights on [-1, 1] (Golub-Welsch: eigen-decomposition of the Jacobi matrix)."""
    if n == 1:
        return torch.zeros(1, dtype=torch.float64), torch.full((1,), 2.0, dtype=torch.float64)
    k = torch.arange(1, n, dtype=torch.float64)
    beta = k / torch.sqrt(4 * k * k - 1)
    jacobi = torch.diag(beta, 1) + torch.diag(beta, -1)
    nodes, vecs = torch.linalg.eigh(jacobi)
    return nodes, 2 * vecs[0].pow(2)


def ig_alphas(n_steps: int, rule: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Path positions ``alpha`` in [0, 1] and their quadrature weights for ``n_steps`` evaluations.

    The rules carry captum's names: ``gausslegendre`` (captum's default; exact for polynomials of degree < 2n),
    ``riemann_left``/``right``/``middle`` (weights 1/n, same as captum) and ``riemann_trapezoid`` (alphas 0..1
    inclusive, weights 1/(n-1) with halved ends, summing to 1). captum's trapezoid uses weights 1/n with
    halved ends, which sum to (n-1)/n and so shrink every attribution by that factor; ours does not.
    Returned as float64 CPU tensors (tiny; moved to the device by the caller).
    """
    if not isinstance(n_steps, int) or n_steps < 1:
        raise InputError(f"n_steps must be a positive integer, got {n_steps!r}")
    n = n_steps
    if rule == "gausslegendre":
        nodes, weights = _gauss_legendre(n)
        return 0.5 * (nodes + 1), 0.5 * weights
    if rule == "riemann_trapezoid":
        if n < 2:
            raise InputError("riemann_trapezoid needs n_steps >= 2")
        alphas = torch.linspace(0, 1, n, dtype=torch.float64)
        weights = torch.full((n,), 1.0 / (n - 1), dtype=torch.float64)
        weights[0] = weights[-1] = 0.5 / (n - 1)
        return alphas, weights
    weights = torch.full((n,), 1.0 / n, dtype=torch.float64)
    if rule == "riemann_left":
        return torch.linspace(0, 1 - 1 / n, n, dtype=torch.float64), weights
    if rule == "riemann_right":
        return torch.linspace(1 / n, 1, n, dtype=torch.float64), weights
    if rule == "riemann_middle":
        return torch.linspace(1 / (2 * n), 1 - 1 / (2 * n), n, dtype=torch.float64), weights
    raise InputError(f"unknown integration rule {rule!r}; choose from {', '.join(IG_RULES)}")


def ig_baseline(model: VideoModel, x: torch.Tensor, baseline: str | float | torch.Tensor = "zeros",
                blur_sigma: float | tuple[float, float, float] = (0.0, 5.0, 5.0)) -> torch.Tensor:
    """The integrated-gradients reference clip for ``x`` ``(B, C, T, H, W)``, in normalised input space.

    ``"zeros"``: 0 in normalised space (the dataset mean colour when the model normalises with mean/std);
    ``"black"``: unit RGB 0 mapped through ``model.from_unit_rgb``; ``"blur"``: ``x`` blurred with
    :func:`gaussian_blur` (``blur_sigma``); a number: that constant; a tensor broadcastable to ``x``: itself.
    """
    if isinstance(baseline, torch.Tensor):
        try:
            return torch.broadcast_to(baseline.to(x.device, x.dtype), x.shape)
        except RuntimeError:
            raise ShapeError(f"baseline of shape {tuple(baseline.shape)} does not broadcast to {tuple(x.shape)}") from None
    if isinstance(baseline, (int, float)) and not isinstance(baseline, bool):
        return torch.full_like(x, float(baseline))
    if baseline == "zeros":
        return torch.zeros_like(x)
    if baseline == "black":
        return model.from_unit_rgb(torch.zeros_like(x))
    if baseline == "blur":
        return gaussian_blur(x, blur_sigma)
    raise InputError(f"unknown baseline {baseline!r}; choose zeros, black, blur, a number or a tensor")


def _batched_gradients(model: VideoModel, points: Callable[[int, int], torch.Tensor], targets: torch.Tensor,
                       total: int, batch: int, combine: Callable[[int, int, torch.Tensor], None],
                       progress: bool, desc: str, guided: bool = False, strict: bool = True) -> None:
    """Gradients of the target logits at ``total`` points, ``batch`` points per forward.

    ``points(lo, hi)`` builds points ``lo..hi-1`` of the flattened stream; ``combine(lo, hi, grads)``
    accumulates their gradients (so the whole stream never sits in memory at once).
    """
    starts = range(0, total, batch)
    for lo in tqdm(starts, desc=desc, disable=not progress, leave=False):
        hi = min(lo + batch, total)
        xs = points(lo, hi)
        if guided:
            grads, _ = guided_gradient(model, xs, targets[lo:hi], strict=strict)
        else:
            grads = input_gradient(model, xs, targets[lo:hi])
        combine(lo, hi, grads)


@methods.register("integrated-gradients", description="Integrated gradients from a baseline clip (zeros, black or "
                  "blur), max |.| over colour", family="gradient")
class IntegratedGradients(Attribution):
    """Integrated gradients (Sundararajan et al. 2017) on the straight path from a baseline to the clip.

    ``attr = (x - x') * sum_k w_k * grad f(x' + a_k (x - x'))`` with the quadrature ``rule``'s positions
    ``a_k`` and weights ``w_k`` (:func:`ig_alphas`; default Gauss-Legendre, captum's default, so the result
    equals captum's ``IntegratedGradients`` with the same ``n_steps`` and ``method``).

    Params:
        baseline: ``"zeros"`` (default), ``"black"``, ``"blur"``, a number or a tensor (see :func:`ig_baseline`).
        n_steps: path points (default 32).
        rule: one of :data:`IG_RULES` (default ``"gausslegendre"``).
        internal_batch_size: clips per forward pass (default 16).
        blur_sigma: the ``"blur"`` baseline's Gaussian sigma, a number (space) or (t, h, w) (default (0, 5, 5)).
        reduction: colour reduction (default ``"max_abs"``).
        progress: show a progress bar.
        convergence_delta: also forward ``x`` and ``x'`` once (one extra batch) and return
            ``extras["convergence_delta"]`` (B,) = ``sum(attr) - (f(x) - f(x'))`` (the completeness error),
            ``extras["baseline_score"]`` (B,) = ``f(x')`` and the logits of ``x`` (default False, as captum).

    Example::

        res = IntegratedGradients(model).attribute(clips, target=3, baseline="blur", n_steps=16,
                                                   convergence_delta=True)
        res.extras["convergence_delta"]   # (B,): sum(attr) - (f(x) - f(x'))
    """

    choices = {"reduction": REDUCTIONS, "rule": IG_RULES}
    positive_ints = ("n_steps", "internal_batch_size")

    def compute(self, x: torch.Tensor, target, logits, baseline: str | float | torch.Tensor = "zeros",
                n_steps: int = 32, rule: str = "gausslegendre", internal_batch_size: int = 16,
                blur_sigma: float | tuple[float, float, float] = (0.0, 5.0, 5.0), reduction: str = "max_abs",
                progress: bool = False, convergence_delta: bool = False) -> AttributionResult:
        batch = internal_batch_size
        alphas, weights = ig_alphas(n_steps, rule)
        ref = ig_baseline(self.model, x, baseline, blur_sigma)
        b = x.shape[0]
        alphas = alphas.to(x.device, x.dtype)
        weights = weights.to(x.device, x.dtype)
        diff = x - ref
        # Flattened stream: point i is step i // B of clip i % B.
        targets = target.repeat(n_steps)
        total_grad = torch.zeros_like(x)

        def points(lo: int, hi: int) -> torch.Tensor:
            idx = torch.arange(lo, hi, device=x.device)
            a = alphas[idx // b].view(-1, 1, 1, 1, 1)
            return ref[idx % b] + a * diff[idx % b]

        def combine(lo: int, hi: int, grads: torch.Tensor) -> None:
            idx = torch.arange(lo, hi, device=x.device)
            total_grad.index_add_(0, idx % b, grads * weights[idx // b].view(-1, 1, 1, 1, 1))

        _batched_gradients(self.model, points, targets, n_steps * b, batch, combine, progress,
                           desc="integrated gradients")
        attr = diff * total_grad
        if not convergence_delta:
            return AttributionResult(reduce_channels(attr, reduction), raw=attr, logits=logits)
        with torch.no_grad():
            ends = torch.cat([x, ref]) if 2 * b <= batch else None
            logits_all = self.model(ends) if ends is not None else torch.cat([self.model(x), self.model(ref)])
        logits, ref_logits = logits_all[:b], logits_all[b:]
        delta = attr.flatten(1).sum(1) - (target_scores(logits, target) - target_scores(ref_logits, target))
        return AttributionResult(reduce_channels(attr, reduction), raw=attr, logits=logits,
                                 extras={"convergence_delta": delta,
                                         "baseline_score": target_scores(ref_logits, target)})


# ------------------------------------------------------------------------------------------------------------
# SmoothGrad
# ------------------------------------------------------------------------------------------------------------
SMOOTHGRAD_BASES = ("gradient", "guided-backprop", "input-x-gradient")
SMOOTHGRAD_TYPES = ("smoothgrad", "smoothgrad_sq", "vargrad")


def smoothgrad_sigma(x: torch.Tensor, noise_level: float) -> torch.Tensor:
    """Per-clip noise std ``noise_level * (max(x) - min(x))`` (Smilkov et al. 2017), shape (B, 1, 1, 1, 1)."""
    flat = x.flatten(1)
    return (noise_level * (flat.amax(1) - flat.amin(1))).view(-1, 1, 1, 1, 1)


#: Smilkov et al., "SmoothGrad: removing noise by adding noise" (2017): 50 samples (where their maps stop
#: improving) at 15 % noise (inside their 10-20 % range).
SMOOTHGRAD_PRESETS = {"paper": {"n_samples": 50, "noise_level": 0.15}}


@methods.register("smoothgrad", description="SmoothGrad: gradients averaged over noisy copies of the clip (seeded), "
                  "max |.| over colour", family="gradient")
class SmoothGrad(Attribution):
    """SmoothGrad (Smilkov et al. 2017): the mean gradient over ``n_samples`` copies of the clip with Gaussian
    noise of std ``noise_level * (max - min)`` of each clip (a fraction of its input range).

    Params:
        preset: ``"default"`` or ``"paper"`` (:data:`SMOOTHGRAD_PRESETS`: ``n_samples=50``, as Smilkov et al.,
            "SmoothGrad: removing noise by adding noise"); explicit params override the preset. The settings
            used are in ``extras["params"]``.
        noise_level: fraction of each clip's value range used as noise std (default 0.15).
        n_samples: noisy copies per clip (default 16: the default stays about 3 x cheaper than the paper's
            50, which the benchmark tables use through ``preset="paper"`` where they say so).
        seed: seed of the noise generator (default 0; same seed -> same map).
        base: the gradient being smoothed: ``"gradient"`` (default), ``"guided-backprop"``, ``"input-x-gradient"``
            (``x_noisy * grad``, as captum's NoiseTunnel over InputXGradient).
        nt_type: ``"smoothgrad"`` (mean, default), ``"smoothgrad_sq"`` (mean of squares), ``"vargrad"`` (variance).
        internal_batch_size: noisy clips per forward pass (default 16).
        strict: for ``base="guided-backprop"``, see :class:`GuidedBackprop`.
        reduction: colour reduction (default ``"max_abs"``).
        progress: show a progress bar.

    Example::

        res = SmoothGrad(model).attribute(clips, target=3, preset="paper", seed=1)
        res.extras["params"]["n_samples"]   # 50
    """

    presets = SMOOTHGRAD_PRESETS
    choices = {"reduction": REDUCTIONS, "base": SMOOTHGRAD_BASES, "nt_type": SMOOTHGRAD_TYPES}
    positive_ints = ("n_samples", "internal_batch_size")

    def validate(self, params: dict) -> dict:
        settings = super().validate(params)
        if not settings["noise_level"] >= 0:
            raise InputError(f"noise_level must be >= 0, got {settings['noise_level']!r}")
        return settings

    def compute(self, x: torch.Tensor, target, logits, noise_level: float = 0.15, n_samples: int = 16,
                seed: int = 0, base: str = "gradient", nt_type: str = "smoothgrad", internal_batch_size: int = 16,
                strict: bool = True, reduction: str = "max_abs", progress: bool = False) -> AttributionResult:
        batch = internal_batch_size
        b = x.shape[0]
        sigma = smoothgrad_sigma(x, float(noise_level))
        # One generator per clip, seeded with the seed and a digest of the clip: a clip gets the same noise
        # alone or in any batch (and whatever internal_batch_size is).
        generators = [torch.Generator(device=x.device).manual_seed(clip_seed(x[i], seed)) for i in range(b)]
        targets = target.repeat(n_samples)
        acc = torch.zeros_like(x)
        acc_sq = torch.zeros_like(x)

        def points(lo: int, hi: int) -> torch.Tensor:
            # point j is sample j // b of clip j % b; each clip's generator is drawn in sample order
            idx = torch.arange(lo, hi, device=x.device) % b
            noise = torch.stack([torch.randn(x.shape[1:], generator=generators[i], device=x.device, dtype=x.dtype)
                                 for i in idx.tolist()])
            return x[idx] + sigma[idx] * noise

        current: dict[str, torch.Tensor] = {}

        def points_kept(lo: int, hi: int) -> torch.Tensor:
            current["x"] = points(lo, hi)
            return current["x"]

        def combine(lo: int, hi: int, grads: torch.Tensor) -> None:
            if base == "input-x-gradient":
                grads = current["x"] * grads
            idx = torch.arange(lo, hi, device=x.device) % b
            acc.index_add_(0, idx, grads)
            acc_sq.index_add_(0, idx, grads * grads)

        _batched_gradients(self.model, points_kept, targets, n_samples * b, batch, combine, progress,
                           desc="smoothgrad", guided=base == "guided-backprop", strict=strict)
        mean = acc / n_samples
        if nt_type == "smoothgrad":
            attr = mean
        elif nt_type == "smoothgrad_sq":
            attr = acc_sq / n_samples
        else:
            attr = acc_sq / n_samples - mean * mean
        return AttributionResult(reduce_channels(attr, reduction), raw=attr, logits=logits,
                                 extras={"noise_std": sigma.view(-1)})
