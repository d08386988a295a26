"""Which layers of a model can a CAM method target? :func:`candidate_layers` runs one forward pass on the model's
native input and lists the convolutions and the blocks that contain them with their output shapes, marking the
default CAM layer(s), the pathway of multi-pathway models and 2-D layers that see frames folded into the batch.
``vidxai layers MODEL`` prints it.
"""
from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..errors import CheckpointError
from .base import VideoModel

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


@dataclass(frozen=True)
class LayerInfo:
    """One candidate layer.

    Attributes:
        name: module path relative to ``model.net`` (what ``layer=`` takes).
        kind: the module's class name.
        shape: its output shape for one clip (the first tensor of a tuple output).
        default: one of the model's default CAM layers.
        pathway: pathway index of a multi-pathway model (0 = slow), or None.
        frames_in_batch: a 2-D layer whose batch holds the clip's frames (TSN/TSM-style): CAMs read
            ``(T, K, H', W')`` as ``(1, K, T, H', W')``.
        pathway_name: the pathway's name when the model names its pathways (``model.pathway_names``, e.g.
            ``"rgb"`` / ``"flow"`` for two-stream models), else None (SlowFast: 0 = slow, 1 = fast).
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    default: bool = False
    pathway: int | None = None
    frames_in_batch: bool = False
    pathway_name: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def native_input(model: VideoModel, seed: int = 0) -> torch.Tensor:
    """A random clip ``(1, 3, T, H, W)`` of the model's native size (its :class:`InputSpec`), on its device.

    Example:
        >>> import vidxai
        >>> native_input(vidxai.models.load("synthetic-tiny", weights=None)).shape
        torch.Size([1, 3, 16, 112, 112])
    """
    t, (h, w) = model.spec.num_frames, model.spec.crop
    x = torch.randn(1, 3, t, h, w, generator=torch.Generator().manual_seed(seed))
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    return x.to(model.device, dtype=dtype)


def _record_shapes(model: VideoModel, x: torch.Tensor) -> dict[str, tuple[int, ...]]:
    from ..core.runtime import model_state

    shapes: dict[str, tuple[int, ...]] = {}

    def hook_for(name: str):
        def hook(module, args, output):
            if isinstance(output, tuple) and output and isinstance(output[0], torch.Tensor):
                output = output[0]  # (tokens, thw) blocks; lists (multi-pathway containers) are skipped
            if isinstance(output, torch.Tensor):
                shapes.setdefault(name, tuple(output.shape))

        return hook

    handles = [module.register_forward_hook(hook_for(name)) for name, module in model.net.named_modules() if name]
    try:
        with model_state(model), torch.no_grad():
            model(x)
    finally:
        for handle in handles:
            handle.remove()
    return shapes


def _pathway_of(name: str, defaults: list[str]) -> int | None:
    """Pathway of ``name``: the defaults (one per pathway) differ in one path component (e.g.
    ``multipathway_blocks.0`` / ``.1``, or top-level ``slow`` / ``fast``); a layer under the same container with
    one of those components is in it."""
    parts = [d.split(".") for d in defaults]
    pos = next((i for i in range(min(map(len, parts))) if len({p[i] for p in parts}) > 1), None)
    if pos is None:
        return None
    comps = name.split(".")
    if pos == 0:  # the pathways are top-level modules (``slow`` / ``fast``)
        tokens = [p[0] for p in parts]
        return tokens.index(comps[0]) if comps[0] in tokens else None
    container, tokens = parts[0][pos - 1], [p[pos] for p in parts]
    for prev, comp in zip(comps, comps[1:]):
        if prev == container and comp in tokens:
            return tokens.index(comp)
    return None


def candidate_layers(model: VideoModel | nn.Module, x: torch.Tensor | None = None,
                     max_depth: int | None = None) -> list[LayerInfo]:
    """Candidate CAM target layers of ``model`` with their output shapes, in forward-definition order.

    Candidates are the convolutions, the modules that contain one (blocks, stages) and the default CAM layers,
    whose output is a feature map: ``(B, K, T', H', W')``, or ``(B, K, H', W')`` for 2-D layers (with ``B*T``
    images when frames are folded into the batch).

    Args:
        model: a :class:`VideoModel` (a plain ``nn.Module`` is wrapped with :func:`vidxai.wrap`).
        x: the clip to run (default: a random clip of the model's native size, :func:`native_input`).
        max_depth: list only modules at most this many dotted path components deep (default: all).

    Returns:
        A list of :class:`LayerInfo`.

    Example:
        >>> import vidxai
        >>> layers = candidate_layers(vidxai.models.load("synthetic-tiny", weights=None))
        >>> [(l.name, l.shape) for l in layers if l.default]
        [('features.3', (1, 96, 4, 7, 7))]
    """
    if not isinstance(model, VideoModel):
        from .wrap import wrap

        model = wrap(model)
    x = native_input(model) if x is None else model.check_input(x)
    shapes = _record_shapes(model, x)
    defaults = list(model.target_layers)
    frames, batch = x.shape[2], x.shape[0]
    fib = getattr(model, "frames_in_batch", None)
    names = getattr(model, "pathway_names", None)
    out = []
    for name, module in model.net.named_modules():
        shape = shapes.get(name)
        if shape is None or (max_depth is not None and name.count(".") >= max_depth and name not in defaults):
            continue
        is_conv = isinstance(module, _CONVS) or any(isinstance(m, _CONVS) for m in module.modules())
        if name not in defaults and not (is_conv and len(shape) in (4, 5)):
            continue
        folded = len(shape) == 4 and shape[0] == batch * frames and (frames > 1 or fib is True) and fib is not False
        pathway = _pathway_of(name, defaults) if model.spec.pathways > 1 and len(defaults) > 1 else None
        pathway_name = names[pathway] if names and pathway is not None and pathway < len(names) else None
        out.append(LayerInfo(name, type(module).__name__, shape, name in defaults, pathway, folded, pathway_name))
    return out


@contextlib.contextmanager
def offline() -> Iterator[None]:
    """No network inside the block: socket connections fail and pip (I3D's fetcher) uses no index."""
    def refuse(*args, **kwargs):
        raise OSError("vidxai: network access disabled (offline)")

    saved = socket.socket.connect, socket.create_connection, os.environ.get("PIP_NO_INDEX")
    socket.socket.connect, socket.create_connection = refuse, refuse
    os.environ["PIP_NO_INDEX"] = "1"
    try:
        yield
    finally:
        socket.socket.connect, socket.create_connection = saved[0], saved[1]
        if saved[2] is None:
            os.environ.pop("PIP_NO_INDEX", None)
        else:
            os.environ["PIP_NO_INDEX"] = saved[2]


def load_offline(name: str, weights: object = "default", **kwargs) -> tuple[VideoModel, str]:
    """Load a registered model without touching the network; fall back to random weights when ``weights="default"``
    are not on this machine (layer shapes do not depend on the weights).

    Args:
        name: a registry name.
        weights: as :func:`vidxai.models.load`; only ``"default"`` falls back.
        **kwargs: passed to :func:`vidxai.models.load`.

    Returns:
        ``(model, note)``: ``note`` is ``""``, or a sentence saying the weights are random and why.

    Example:
        >>> model, note = load_offline("tsn-r18")
        >>> model.weights, note
        ('random', '')
    """
    from . import load

    if weights != "default":
        return load(name, weights=weights, **kwargs), ""
    try:
        with offline():
            return load(name, weights="default", **kwargs), ""
    except CheckpointError as e:
        note = (f"the default weights of {name} are not available offline ({type(e).__name__}); "
                f"shapes are from random weights (they do not depend on the weights)")
        return load(name, weights=None, **kwargs), note


__all__ = ["LayerInfo", "candidate_layers", "native_input", "load_offline", "offline"]
