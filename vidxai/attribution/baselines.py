"""Model-free baselines of the thesis comparison: centre, random and Sobel.

None of them looks at the model's weights; they are the floor a real explanation must beat on deletion,
insertion and localisation. They still return the logits of the clips (one no-grad forward) so that
``explain`` reports the prediction like every other method, and they accept targets for the same reason
(a target never changes the map).

- ``centre``: a Gaussian centre bias, ``exp(-((y - cy)^2 / 2 sy^2 + (x - cx)^2 / 2 sx^2))`` with ``sy = sigma * H``,
  ``sx = sigma * W``; constant in time by default (``temporal_sigma=None``), a 3-D Gaussian with ``st =
  temporal_sigma * T`` otherwise.
- ``random``: uniform noise in [0, 1). Each clip gets its own ``torch.Generator`` (on the CPU, so the maps
  are the same on every device), seeded with ``seed`` and a 64-bit BLAKE2b digest of the clip's values: a
  clip's map depends on the seed and the clip only, not on its position in the batch, the other clips, the
  call or a resumed run; different clips get different noise, the same clip and seed the same noise.
- ``sobel``: the spatio-temporal Sobel gradient magnitude of the clip in unit RGB (``model.to_unit_rgb``),
  per colour channel, then the max over colour. Same definition as :func:`skimage.filters.sobel` on a volume:
  derivative ``[1, 0, -1]`` along one axis, smoothing ``[1, 2, 1] / 4`` along the others, borders replicated
  (= scipy's ``reflect`` for a 3-tap kernel), magnitude ``sqrt(sum_axis g_axis^2 / n_axes)``; one grouped
  ``conv3d``. ``mode="2d"`` uses only the two spatial axes (edges of each frame, as in the image thesis chapter).
"""
from __future__ import annotations

import hashlib

import torch
import torch.nn.functional as F

from .. import methods
from ..errors import InputError
from ..models.base import VideoModel
from .base import REDUCTIONS, Attribution, AttributionResult

__all__ = ["CentreBaseline", "RandomBaseline", "SobelBaseline", "centre_bias", "sobel_magnitude", "sobel_kernels",
           "clip_seed", "clip_noise", "CENTRE_PRESETS"]


def _logits(model: VideoModel, x: torch.Tensor, logits: torch.Tensor | None) -> torch.Tensor:
    """The clean clips' logits (a baseline's map ignores the model, but its result reports them)."""
    if logits is not None:
        return logits
    with torch.no_grad():
        return model(x)


def centre_bias(size: tuple[int, int, int], sigma: float = 0.25, temporal_sigma: float | None = None,
                device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A ``(T, H, W)`` Gaussian centred on the frame, peak 1 (``sigma``/``temporal_sigma`` as fractions of the size)."""
    if not sigma > 0 or (temporal_sigma is not None and not temporal_sigma > 0):
        raise InputError(f"sigma and temporal_sigma must be > 0, got {sigma!r} and {temporal_sigma!r}")
    t, h, w = size

    def axis(n: int, s: float) -> torch.Tensor:
        c = torch.arange(n, device=device, dtype=dtype) - (n - 1) / 2
        return torch.exp(-0.5 * (c / (s * n)) ** 2)

    spatial = axis(h, sigma)[:, None] * axis(w, sigma)[None, :]
    temporal = torch.ones(t, device=device, dtype=dtype) if temporal_sigma is None else axis(t, temporal_sigma)
    return temporal[:, None, None] * spatial[None]


def sobel_kernels(mode: str = "3d", device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Sobel kernels ``(n_axes, 1, 3, 3, 3)`` (axes t, y, x for ``"3d"``; y, x for ``"2d"``), skimage-normalised."""
    smooth = torch.tensor([1.0, 2.0, 1.0], device=device, dtype=dtype) / 4
    deriv = torch.tensor([1.0, 0.0, -1.0], device=device, dtype=dtype)
    delta = torch.tensor([0.0, 1.0, 0.0], device=device, dtype=dtype)
    axes = (0, 1, 2) if mode == "3d" else (1, 2)
    kernels = []
    for a in axes:
        # In 2-D mode the time axis is neither smoothed nor differentiated (frame by frame).
        factors = [deriv if i == a else (smooth if (mode == "3d" or i > 0) else delta) for i in range(3)]
        kernels.append(factors[0][:, None, None] * factors[1][None, :, None] * factors[2][None, None, :])
    return torch.stack(kernels)[:, None]


def sobel_magnitude(volume: torch.Tensor, mode: str = "3d") -> torch.Tensor:
    """Sobel gradient magnitude of each channel of ``(B, C, T, H, W)`` -> ``(B, C, T, H, W)``, one grouped conv3d."""
    if mode not in ("3d", "2d"):
        raise InputError(f"unknown Sobel mode {mode!r}; choose 3d or 2d")
    b, c = volume.shape[:2]
    k = sobel_kernels(mode, volume.device, volume.dtype)
    n = k.shape[0]
    weight = k.repeat(c, 1, 1, 1, 1)  # (c * n, 1, 3, 3, 3): n kernels per channel
    padded = F.pad(volume, (1, 1, 1, 1, 1, 1), mode="replicate")
    g = F.conv3d(padded, weight, groups=c)  # (B, c * n, T, H, W)
    return (g.view(b, c, n, *volume.shape[2:]).pow(2).sum(2) / n).sqrt()


#: The thesis' centre baseline is a 3-D Gaussian: centred in space and time, sigma a quarter of each axis.
CENTRE_PRESETS = {"paper": {"sigma": 0.25, "temporal_sigma": 0.25}}


@methods.register("centre", description="Baseline: a Gaussian centre bias (constant in time unless temporal_sigma)",
                  family="baseline")
class CentreBaseline(Attribution):
    """Centre baseline. Params: ``sigma`` (fraction of H and W, default 0.25), ``temporal_sigma`` (fraction of T;
    None = constant in time, the default, which treats every frame alike), ``preset="paper"`` (the 3-D Gaussian
    of the thesis comparison, ``temporal_sigma=0.25``; :data:`CENTRE_PRESETS`). The settings used are in
    ``extras["params"]``.

    Example::

        res = CentreBaseline(model).attribute(clips, preset="paper")
        res.extras["params"]   # {"sigma": 0.25, "temporal_sigma": 0.25, "preset": "paper"}
    """

    presets = CENTRE_PRESETS

    def compute(self, x: torch.Tensor, target, logits, sigma: float = 0.25,
                temporal_sigma: float | None = None) -> AttributionResult:
        logits = _logits(self.model, x, logits)
        bias = centre_bias(tuple(x.shape[2:]), sigma, temporal_sigma, x.device, x.dtype)
        return AttributionResult(bias.expand(x.shape[0], *bias.shape).contiguous(), logits=logits)


def clip_seed(clip: torch.Tensor, seed: int = 0) -> int:
    """A 64-bit generator seed from ``seed`` and the values of one clip (BLAKE2b of its float32 bytes)."""
    h = hashlib.blake2b(int(seed).to_bytes(8, "little", signed=True), digest_size=8)
    h.update(clip.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return int.from_bytes(h.digest(), "little")


def clip_noise(x: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """Uniform [0, 1) noise ``(B, T, H, W)`` for clips ``(B, C, T, H, W)``, one generator per clip (:func:`clip_seed`)."""
    maps = [torch.rand(x.shape[2:], generator=torch.Generator().manual_seed(clip_seed(c, seed))) for c in x]
    return torch.stack(maps).to(x.device, x.dtype)


@methods.register("random", description="Baseline: uniform random noise (seeded per clip)", family="baseline")
class RandomBaseline(Attribution):
    """Random baseline: i.i.d. uniform [0, 1) per voxel. Params: ``seed`` (default 0). Each clip's noise comes
    from its own generator seeded with ``seed`` and a digest of the clip (:func:`clip_seed`), so every clip
    gets its own map, reproducibly, whatever batch or call it is explained in.

    Example::

        res = RandomBaseline(model).attribute(clips, seed=1)
    """

    def compute(self, x: torch.Tensor, target, logits, seed: int = 0) -> AttributionResult:
        logits = _logits(self.model, x, logits)
        return AttributionResult(clip_noise(x, seed), logits=logits, extras={"params": {"seed": int(seed)}})


@methods.register("sobel", description="Baseline: spatio-temporal Sobel gradient magnitude of the clip, max over colour",
                  family="baseline")
class SobelBaseline(Attribution):
    """Sobel baseline. Params: ``mode`` (``"3d"`` spatio-temporal, default; ``"2d"`` per frame), ``reduction``
    over colour (default ``"max"``; the magnitudes are >= 0). ``raw`` holds the per-channel magnitudes.

    Example::

        res = SobelBaseline(model).attribute(clips, mode="2d")
    """

    choices = {"mode": ("3d", "2d"), "reduction": REDUCTIONS}

    def compute(self, x: torch.Tensor, target, logits, mode: str = "3d", reduction: str = "max") -> AttributionResult:
        logits = _logits(self.model, x, logits)
        mag = sobel_magnitude(self.model.to_unit_rgb(x), mode)
        return AttributionResult(REDUCTIONS[reduction](mag), raw=mag, logits=logits)
