"""Model registry: ``vidxai.models.load(name, weights=..., device=...)`` and ``vidxai.models.list()``."""
from __future__ import annotations

import builtins
import os
from collections.abc import Callable

import torch

from ..core.runtime import check_device
from ..errors import InputError, UnknownModelError
from ..registry import Registry
from .base import InputSpec, ModelEntry, VideoModel
from .candidates import LayerInfo, candidate_layers

_REGISTRY: Registry[ModelEntry] = Registry("model", UnknownModelError)


def register(name: str, *, description: str = "", spec: InputSpec | None = None, weight_source: str = "random",
             family: str = "") -> Callable:
    """Decorator registering a builder ``fn(weights=None, **kwargs) -> VideoModel`` under ``name``."""

    def add(fn: Callable) -> Callable:
        _REGISTRY.register(name, ModelEntry(name, fn, description or (fn.__doc__ or "").strip().split("\n")[0],
                                            spec, weight_source, family), description=description)
        return fn

    return add


def alias(alias_name: str, name: str) -> None:
    """Let ``alias_name`` load the registered model ``name`` (not listed by :func:`list`).

    Example::

        vidxai.models.alias("videomae-base", "videomae")
        vidxai.models.load("videomae-base", weights=None)
    """
    _REGISTRY.alias(alias_name, name)


def list() -> builtins.list[str]:  # noqa: A001 - mirrors timm.list_models / vidxai.methods.list
    """Names of every registered model."""
    _import_zoo()
    return _REGISTRY.names()


def entries() -> builtins.list[ModelEntry]:
    _import_zoo()
    return [e for _, e in _REGISTRY.items()]


def entry(name: str) -> ModelEntry:
    _import_zoo()
    return _REGISTRY.get(name)


def load(name: str, weights: str | None = "default", device: str | torch.device | None = None,
         eval: bool = True, num_frames: int | None = None, **kwargs) -> VideoModel:  # noqa: A002
    """Build the model ``name``.

    Args:
        name: a registry name (see :func:`list`) or a path to a checkpoint saved by :func:`save`.
        weights: ``"default"`` (the entry's usual weights), ``None`` (random init), an entry-specific
            weight name (e.g. a torchvision enum name) or a local checkpoint path.
        device: where to put the model (default: CPU).
        eval: put the model in eval mode.
        num_frames: frames per clip (default: the entry's, e.g. 64 for I3D), what ``--frames`` sets for one
            video; clips are then read with this many frames (see :func:`set_num_frames`).
    """
    _import_zoo()
    if name not in _REGISTRY and os.path.isfile(name):
        # a file from vidxai.models.checkpoint.save names its registry entry: rebuild that with these weights
        from .checkpoint import checkpoint_entry

        entry_name = checkpoint_entry(name)
        if entry_name not in _REGISTRY:
            raise InputError(f"checkpoint {name} does not name a registered model; use --model NAME --weights {name}")
        return load(entry_name, weights=name, device=device, eval=eval, num_frames=num_frames, **kwargs)
    builder = _REGISTRY.get(name).builder
    check_device(device)  # before building: a typo must not cost a download
    model = builder(weights=weights, **kwargs)
    if num_frames is not None:
        set_num_frames(model, num_frames)
    if device is not None:
        model = model.to(device)
    return model.eval() if eval else model


def set_num_frames(model: VideoModel, num_frames: int) -> VideoModel:
    """Set the clip length of ``model``'s :class:`InputSpec` (in place; returns the model).

    Raises:
        InputError: ``num_frames`` is not a whole number, is below the model's minimum, or differs from the
            length a fixed-length model (``spec.fixed_frames``) accepts.
    """
    import dataclasses

    spec = model.spec
    if isinstance(num_frames, bool) or not isinstance(num_frames, int) or num_frames < 1:
        raise InputError(f"num_frames must be a whole number >= 1, got {num_frames!r}")
    if spec.fixed_frames and num_frames != spec.num_frames:
        raise InputError(f"{model.name} takes exactly {spec.num_frames} frames per clip; got num_frames {num_frames}")
    if num_frames < spec.min_frames:
        raise InputError(f"{model.name} needs at least {spec.min_frames} frames per clip; got num_frames {num_frames}")
    model.spec = dataclasses.replace(spec, num_frames=num_frames)
    return model


def _import_zoo() -> None:
    # Importing the modules registers their entries; done lazily so `import vidxai` stays fast.
    from . import zoo  # noqa: F401


__all__ = ["InputSpec", "VideoModel", "ModelEntry", "register", "alias", "list", "load", "entries", "entry", "set_num_frames",
           "candidate_layers", "LayerInfo"]
