"""Shared building blocks that every layer above may use (and that import nothing of vidxai but errors).

* :mod:`vidxai.core.tensor`: per-clip min-max normalisation, Gaussian blurs, upsampling of maps.
* :mod:`vidxai.core.runtime`: model state save/restore, CUDA-synchronised timing, atomic writes with fsync,
  device resolution and checks, JSON-friendly conversion.
* :mod:`vidxai.core.checks`: choice validation with close-match suggestions.

Example::

    from vidxai.core import Timer, atomic_write, minmax_per_clip

    with Timer("cpu") as t:
        maps = minmax_per_clip(torch.rand(2, 8, 16, 16))
    atomic_write("out/maps.npy", lambda f: np.save(f, maps.numpy()))
"""
from __future__ import annotations

from .checks import check_choice
from .runtime import (Timer, atomic_write, check_device, model_state, resolve_device, synchronize,
                      to_jsonable)
from .tensor import blur_frames, gaussian_blur, minmax_per_clip, upsample_to

__all__ = ["check_choice", "Timer", "atomic_write", "check_device", "model_state", "resolve_device",
           "synchronize", "to_jsonable", "blur_frames", "gaussian_blur", "minmax_per_clip", "upsample_to"]
