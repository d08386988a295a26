"""Sanity checks for saliency methods (Adebayo et al., "Sanity Checks for Saliency Maps", NeurIPS 2018).

An explanation that does not change when the model's weights are destroyed does not explain the model.

- :func:`cascading_randomization`: re-initialise the layers one after another from the output down and,
  after each, compare the map with the original one;
- :func:`independent_randomization`: re-initialise one layer at a time (the others intact);
- :func:`class_randomization`: explain a random other class instead of the target (Hartley's thesis on gradient-weighted superpixels, Table 3.5, does
  this for deletion; here the maps themselves are compared).

Similarity is the Spearman rank correlation of the two maps over all voxels (optionally of their
absolute values) and the SSIM of the [0, 1]-normalised maps (per frame, averaged). High similarity after
randomisation is the failure the check looks for. The model is deep-copied; the caller's model is never
modified. Layers are re-initialised with their own ``reset_parameters`` under a seeded RNG (default
PyTorch initialisation, as Adebayo et al. re-initialise from the initialisation scheme); parameters of
modules without it are drawn from N(0, 0.02^2). Data randomisation (retraining on permuted labels) is
not implemented.
"""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..core.tensor import minmax_per_clip
from ..errors import InputError
from ..errors import UnknownNameError

MethodLike = Any  # registered method name | Attribution subclass | callable(model, x, target) -> (B, T, H, W)


# -- similarity ---------------------------------------------------------------------------------------------
def rankdata(x: torch.Tensor) -> torch.Tensor:
    """Ranks along the last axis (1-based, ties get their average rank, as ``scipy.stats.rankdata``)."""
    x = x.float()
    flat = x.reshape(-1, x.shape[-1])
    out = torch.empty_like(flat)
    for i in range(flat.shape[0]):  # one sort per map; the work inside is vectorised
        v, order = flat[i].sort(stable=True)
        _, inv, counts = torch.unique_consecutive(v, return_inverse=True, return_counts=True)
        ends = counts.cumsum(0).float()
        avg = ends - (counts.float() - 1) / 2
        out[i, order] = avg[inv]
    return out.view_as(x)


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation between maps ``(B, ...)`` and ``(B, ...)``, per item ``(B,)``.

    NaN when a map is constant (its ranks have no variance).
    """
    ra = rankdata(a.flatten(1))
    rb = rankdata(b.flatten(1))
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    den = ra.norm(dim=1) * rb.norm(dim=1)
    return torch.where(den > 0, (ra * rb).sum(1) / den.clamp_min(1e-30), torch.full_like(den, float("nan")))


def ssim(a: torch.Tensor, b: torch.Tensor, win_size: int = 7, data_range: float = 1.0) -> torch.Tensor:
    """Mean SSIM of 2-D frames ``(..., H, W)`` -> ``(...)`` (the same as ``skimage.metrics.structural_similarity``
    with its defaults: 7x7 uniform window, sample covariance, K1 = 0.01, K2 = 0.03, border of half a window
    left out)."""
    if min(a.shape[-2:]) < win_size:
        raise InputError(f"SSIM needs frames of at least {win_size}x{win_size}, got {tuple(a.shape[-2:])}")
    lead = a.shape[:-2]
    x = a.reshape(-1, 1, *a.shape[-2:]).double()
    y = b.reshape(-1, 1, *b.shape[-2:]).double()
    pool = lambda z: nn.functional.avg_pool2d(z, win_size, stride=1)  # noqa: E731
    ux, uy = pool(x), pool(y)
    uxx, uyy, uxy = pool(x * x), pool(y * y), pool(x * y)
    n = win_size * win_size
    cov = n / (n - 1)
    vx, vy, vxy = cov * (uxx - ux * ux), cov * (uyy - uy * uy), cov * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).float().view(lead)


def map_similarity(a: torch.Tensor, b: torch.Tensor, absolute: bool = False,
                   with_ssim: bool = True) -> dict[str, torch.Tensor]:
    """Spearman ``(B,)`` and SSIM ``(B,)`` (frames averaged) of saliency maps ``(B, T, H, W)``."""
    if absolute:
        a, b = a.abs(), b.abs()
    out = {"spearman": spearman(a, b)}
    if with_ssim:
        out["ssim"] = ssim(minmax_per_clip(a.float()), minmax_per_clip(b.float())).mean(-1) if min(a.shape[-2:]) >= 7 \
            else torch.full((a.shape[0],), float("nan"))
    return out


# -- randomisation ------------------------------------------------------------------------------------------
def _root(model: nn.Module) -> nn.Module:
    return getattr(model, "net", model)


def randomizable_layers(model: nn.Module, include_norm: bool = True) -> list[str]:
    """Names (relative to ``model.net`` for a VideoModel) of the modules that hold parameters themselves,
    from the output down (reverse registration order, the usual order of a forward pass)."""
    names = []
    for name, m in _root(model).named_modules():
        if not any(True for _ in m.parameters(recurse=False)):
            continue
        if not include_norm and isinstance(m, (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm)):
            continue
        names.append(name)
    return names[::-1]


def randomize_layer(module: nn.Module, seed: int = 0) -> None:
    """Re-initialise ``module``'s own parameters (and running statistics) in place, seeded."""
    devices = [p.device for p in module.parameters() if p.device.type == "cuda"]
    with torch.random.fork_rng(devices=sorted({d.index or 0 for d in devices})), torch.no_grad():
        torch.manual_seed(int(seed))
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()
        else:
            for p in module.parameters(recurse=False):
                p.normal_(0.0, 0.02)


def _get_module(model: nn.Module, name: str) -> nn.Module:
    modules = dict(_root(model).named_modules())
    if name not in modules:
        raise UnknownNameError(name, [n for n in modules if n], hint="layers to randomise")
    return modules[name]


def _explainer(method: MethodLike, params: dict) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    if isinstance(method, str):
        from .. import methods

        cls = methods.get(method)
    else:
        cls = method
    if isinstance(cls, type):
        def run(model, x, target):
            return cls(model).attribute(x, target=target, **params).saliency.detach().float()
        return run
    if callable(cls):
        return lambda model, x, target: torch.as_tensor(cls(model, x, target, **params)).detach().float()
    raise InputError(f"method must be a registered name, an Attribution class or a callable, got {type(method).__name__}")


def _prepare(model: nn.Module, clip: torch.Tensor, target) -> tuple[torch.Tensor, torch.Tensor, bool]:
    x = clip.unsqueeze(0) if clip.ndim == 4 else clip
    if hasattr(model, "check_input"):
        x = model.check_input(x)
    device = next((p.device for p in model.parameters()), x.device)
    x = x.detach().to(device)
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        with torch.no_grad():
            logits = model(x)
    finally:
        for m, flag in modes:
            m.training = flag
    if hasattr(model, "resolve_targets"):
        t = model.resolve_targets(target, logits)
    elif target is None:
        t = logits.argmax(1)
    else:
        t = torch.as_tensor(target, dtype=torch.long, device=logits.device).reshape(-1).expand(x.shape[0]).clone()
    return x, t, clip.ndim == 4


@dataclass
class SanityResult:
    """Similarity of the original map with each randomised one.

    Attributes:
        kind: ``"cascading"``, ``"independent"`` or ``"class"``.
        layers: what was randomised at each step (layer names; for ``"class"`` the random class indices).
        spearman: ``(L,)`` for one clip, ``(L, B)`` for a batch.
        ssim: same shape (NaN for frames smaller than 7x7).
        target: the explained class per clip.
        maps: ``(L, B, T, H, W)`` randomised maps and ``original`` ``(B, T, H, W)`` when asked for.
    """

    kind: str
    method: str
    layers: list
    spearman: torch.Tensor
    ssim: torch.Tensor
    target: torch.Tensor
    original: torch.Tensor | None = None
    maps: torch.Tensor | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str) -> Any:  # dict-style access: result["spearman"]
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "method": self.method, "layers": list(self.layers),
                "spearman": self.spearman.tolist(), "ssim": self.ssim.tolist(), "target": self.target.tolist(),
                "settings": dict(self.settings)}


def _method_name(method: MethodLike) -> str:
    return method if isinstance(method, str) else getattr(method, "name", "") or getattr(method, "__name__", "custom")


def _run_randomization(kind: str, model: nn.Module, method: MethodLike, clip: torch.Tensor, target, layers,
                       seed: int, absolute: bool, with_ssim: bool, return_maps: bool, params: dict,
                       include_norm: bool, final_only: bool = False) -> SanityResult:
    explain = _explainer(method, params)
    x, t, single = _prepare(model, clip, target)
    original = explain(model, x, t)
    names = list(layers) if layers is not None else randomizable_layers(model, include_norm)
    if not names:
        raise InputError("the model has no layers with parameters to randomise")
    for n in names:
        _get_module(model, n)  # unknown names fail before any work
    sims: list[dict[str, torch.Tensor]] = []
    maps = []
    work = copy.deepcopy(model) if kind == "cascading" else None
    for i, name in enumerate(names):
        if kind == "independent":
            work = copy.deepcopy(model)
        randomize_layer(_get_module(work, name), seed + i)
        if final_only and i < len(names) - 1:
            continue
        m = explain(work, x, t)
        sims.append(map_similarity(original, m, absolute, with_ssim))
        if return_maps:
            maps.append(m.cpu())
    return _result(kind, method, names[-1:] if final_only else names, sims, t, original, maps, single, return_maps,
                   dict(seed=seed, absolute=absolute, params=params, final_only=final_only))


def _result(kind, method, names, sims, t, original, maps, single, return_maps, settings) -> SanityResult:
    sp = torch.stack([s["spearman"].cpu() for s in sims])
    ss = torch.stack([s.get("ssim", torch.full_like(s["spearman"], float("nan"))).cpu() for s in sims])
    if single:
        sp, ss = sp[:, 0], ss[:, 0]
    return SanityResult(kind, _method_name(method), names, sp, ss, t.cpu(),
                        original.cpu() if return_maps else None,
                        torch.stack(maps) if return_maps and maps else None, settings)


def cascading_randomization(model: nn.Module, method: MethodLike, clip: torch.Tensor, target=None,
                            layers: Sequence[str] | None = None, seed: int = 0, absolute: bool = False,
                            with_ssim: bool = True, return_maps: bool = False, include_norm: bool = True,
                            final_only: bool = False, **params: Any) -> SanityResult:
    """Cascading model-parameter randomisation: re-initialise ``layers`` cumulatively (default: every layer
    with parameters, output first) and compare each map with the original.

    Args:
        model: a VideoModel or any module; deep-copied, never modified.
        method: a registered method name, an ``Attribution`` subclass, or ``fn(model, x, target) -> (B, T, H, W)``.
        clip: ``(C, T, H, W)`` or ``(B, C, T, H, W)`` model-ready clip(s).
        target: class to explain (None: the original model's prediction, kept for the randomised models).
        layers: layer names (relative to ``model.net``) in the order to randomise.
        seed: seeds the re-initialisation (layer i uses ``seed + i``).
        absolute: correlate absolute values (Adebayo et al. report both).
        final_only: explain only the fully randomised model (one result row, named after the last layer):
            the same final map as the full cascade (same seeds) for one explanation instead of one per layer.
        params: passed to the method's ``attribute``.
    """
    return _run_randomization("cascading", model, method, clip, target, layers, seed, absolute, with_ssim,
                              return_maps, params, include_norm, final_only)


def independent_randomization(model: nn.Module, method: MethodLike, clip: torch.Tensor, target=None,
                              layers: Sequence[str] | None = None, seed: int = 0, absolute: bool = False,
                              with_ssim: bool = True, return_maps: bool = False, include_norm: bool = True,
                              **params: Any) -> SanityResult:
    """Independent randomisation: re-initialise one layer at a time on a fresh copy (see
    :func:`cascading_randomization` for the arguments)."""
    return _run_randomization("independent", model, method, clip, target, layers, seed, absolute, with_ssim,
                              return_maps, params, include_norm)


def model_randomization(model: nn.Module, method: MethodLike, clip: torch.Tensor, target=None,
                        mode: str = "cascading", **kwargs: Any) -> SanityResult:
    """Model-parameter randomisation, ``mode="cascading"`` or ``"independent"`` (see those functions)."""
    if mode == "cascading":
        return cascading_randomization(model, method, clip, target, **kwargs)
    if mode == "independent":
        return independent_randomization(model, method, clip, target, **kwargs)
    raise UnknownNameError(str(mode), ("cascading", "independent"), hint="randomisation mode")


def class_randomization(model: nn.Module, method: MethodLike, clip: torch.Tensor, target=None, repeats: int = 1,
                        seed: int = 0, absolute: bool = False, with_ssim: bool = True, return_maps: bool = False,
                        **params: Any) -> SanityResult:
    """Target-class randomisation: explain ``repeats`` random classes other than the target and compare
    each map with the target's map (``layers`` holds the random classes, ``(repeats, B)``)."""
    explain = _explainer(method, params)
    x, t, single = _prepare(model, clip, target)
    k = getattr(model, "num_classes", None)
    if k is None:
        with torch.no_grad():
            k = model(x[:1]).shape[1]
    if k < 2:
        raise InputError("class randomisation needs a model with at least 2 classes")
    original = explain(model, x, t)
    g = torch.Generator().manual_seed(int(seed))
    sims, maps, drawn = [], [], []
    for _ in range(int(repeats)):
        # uniform over the other classes: shift by 1..k-1
        other = (t.cpu() + torch.randint(1, k, t.shape, generator=g)) % k
        other = other.to(t.device)
        m = explain(model, x, other)
        sims.append(map_similarity(original, m, absolute, with_ssim))
        drawn.append(other.cpu())
        if return_maps:
            maps.append(m.cpu())
    return _result("class", method, [d.tolist() for d in drawn], sims, t, original, maps, single, return_maps,
                   dict(seed=seed, absolute=absolute, repeats=repeats, params=params))


__all__ = ["rankdata", "spearman", "ssim", "map_similarity", "randomizable_layers", "randomize_layer",
           "SanityResult", "cascading_randomization", "independent_randomization", "model_randomization",
           "class_randomization"]
