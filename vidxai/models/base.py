"""The model wrapper every method and the CLI work with.

A :class:`VideoModel` owns an ``nn.Module`` (``.net``) and knows how to feed it: its :class:`InputSpec`
(frames, crop size, normalisation, value range, pathways), its class names and its default target
layers for CAM methods. It is itself an ``nn.Module`` whose ``forward`` takes ONE normalised clip
tensor ``(B, C, T, H, W)`` and returns logits ``(B, K)``; multi-pathway networks (SlowFast) derive
their pathways inside ``forward``, so gradients w.r.t. that one tensor cover every pathway.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn

from ..errors import InputError, ModelOutputError, ShapeError, TargetError, UnknownClassError


class NonFiniteOutputError(ModelOutputError):
    """A model returned NaN or inf logits (for a finite input): its weights or its numerics are broken."""


def check_logits(model: nn.Module, args: tuple, logits) -> None:
    """Called after every :class:`VideoModel` forward: raise :class:`NonFiniteOutputError` when the logits are
    not finite.

    One ``isfinite().all()`` per forward; the counts for the message are computed only on failure.
    """
    if not isinstance(logits, torch.Tensor) or torch.jit.is_tracing() or bool(torch.isfinite(logits).all()):
        return
    bad = ~torch.isfinite(logits)
    kinds = [k for k, n in (("NaN", int(logits.isnan().sum())), ("inf", int(logits.isinf().sum()))) if n]
    clips = int(bad.flatten(1).any(1).sum()) if logits.ndim > 1 else int(bad.any())
    raise NonFiniteOutputError(
        f"{getattr(model, 'name', type(model).__name__)} returned {' and '.join(kinds)} logits for {clips} of "
        f"{logits.shape[0] if logits.ndim > 1 else 1} clip(s) from a finite input; its weights hold NaN/inf or its "
        "numerics overflow (e.g. float16): check the checkpoint, or run it in float32")


@dataclass(frozen=True)
class InputSpec:
    """How a model wants its clips.

    Pixels are first scaled from uint8 to ``value_range`` (``(0, 1)`` or ``(-1, 1)``), then
    normalised with ``(x - mean) / std``. Frames are resized so the short side is ``short_side``
    and centre-cropped to ``crop`` = (H, W).

    Example::

        spec = InputSpec(num_frames=16, crop=(224, 224), short_side=256, value_range=(-1, 1))  # I3D's
        model = vidxai.wrap(my_net, spec=spec, num_classes=400)
    """

    num_frames: int = 16
    crop: tuple[int, int] = (112, 112)
    short_side: int = 128
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    value_range: tuple[float, float] = (0.0, 1.0)
    min_frames: int = 1
    fixed_frames: bool = False  # True when the network accepts exactly num_frames (e.g. MViT)
    fixed_size: bool = False  # True when the network accepts exactly crop (e.g. MViT, Swin3D)
    pathways: int = 1
    slowfast_alpha: int = 4  # fast/slow frame-rate ratio for two-pathway models

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        h, w = self.crop
        norm = "[-1,1]" if self.value_range == (-1.0, 1.0) else "[0,1]"
        s = f"{self.num_frames}x{h}x{w} RGB {norm}"
        if any(m != 0 for m in self.mean) or any(v != 1 for v in self.std):
            s += f" mean={tuple(round(m, 3) for m in self.mean)} std={tuple(round(v, 3) for v in self.std)}"
        if self.pathways > 1:
            s += f" {self.pathways} pathways (alpha={self.slowfast_alpha})"
        return s


class VideoModel(nn.Module):
    """A video classifier with everything needed to feed and explain it.

    Args:
        net: the network; called as ``net(x)`` (or ``net([slow, fast])`` for two pathways).
        spec: the input specification.
        class_names: one name per output logit.
        target_layers: module paths (relative to ``net``) of the default CAM layers, one per pathway.
        name: registry name.
        weights: a short description of where the weights came from.

    Example::

        model = VideoModel(net, InputSpec(num_frames=8, crop=(112, 112)), class_names=["a", "b"],
                           target_layers=["layer4"])
        model(torch.rand(1, 3, 8, 112, 112)).shape   # (1, 2)
    """

    def __init__(
        self,
        net: nn.Module,
        spec: InputSpec,
        class_names: Sequence[str] | None = None,
        target_layers: Sequence[str] = (),
        name: str = "custom",
        weights: str = "random",
        num_classes: int | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.spec = spec
        if class_names is None:
            if num_classes is None:
                raise ValueError("give class_names or num_classes")
            class_names = [f"class_{i}" for i in range(num_classes)]
        self.class_names = list(class_names)
        self.target_layers = list(target_layers)
        self.name = name
        self.weights = weights
        #: What positive-only CAMs subtract by default (``"none"`` or ``"constant"``: the activations of a
        #: constant clip); models whose layers respond to padding whatever the content set ``"constant"``.
        self.cam_reference = "none"
        #: Whether ``net`` folds frames into the batch (TSN/TSM-style 2-D networks): CAM methods then read a layer's
        #: ``(B*T, K, H', W')`` output as ``(B, K, T, H', W')``; ``None`` detects it from the layer's batch size.
        self.frames_in_batch: bool | None = None

    # -- introspection -------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        for b in self.buffers():
            return b.device
        return torch.device("cpu")

    def layer(self, path: str | nn.Module) -> nn.Module:
        """Return the sub-module at ``path`` (relative to ``net``; a module is returned as is)."""
        if isinstance(path, nn.Module):
            return path
        from ..errors import UnknownNameError

        modules = dict(self.net.named_modules())
        if path not in modules:
            raise UnknownNameError(path, [n for n in modules if n], hint=f"layers of {self.name}")
        return modules[path]

    # -- inputs --------------------------------------------------------------------------------
    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """Validate a normalised clip batch ``(B, C, T, H, W)`` (a 4-D clip gains a batch axis)."""
        if not isinstance(x, torch.Tensor):
            raise ShapeError(f"expected a torch.Tensor clip, got {type(x).__name__}")
        if x.ndim == 4:
            x = x.unsqueeze(0)
        if x.ndim != 5 or x.shape[1] != 3:
            raise ShapeError(f"expected a clip tensor of shape (B, 3, T, H, W), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise ShapeError(f"expected a floating-point clip tensor, got dtype {x.dtype} (use vidxai.io.preprocess)")
        if x.shape[0] == 0:
            raise ShapeError(f"got an empty batch (0 clips) of shape {tuple(x.shape)}; pass at least one clip")
        finite = torch.isfinite(x)
        if not bool(finite.all()):
            bad = x[~finite]
            kinds = [k for k, n in (("NaN", int(bad.isnan().sum())), ("inf", int(bad.isinf().sum()))) if n]
            raise InputError(f"the clip tensor holds {' and '.join(kinds)} values ({bad.numel()} of {x.numel()}); "
                             "check how it was made (e.g. a division by a zero std) before explaining it")
        t, h, w = x.shape[2:]
        if t < self.spec.min_frames:
            raise ShapeError(f"{self.name} needs at least {self.spec.min_frames} frames, got {t}")
        if self.spec.fixed_frames and t != self.spec.num_frames:
            raise ShapeError(f"{self.name} needs exactly {self.spec.num_frames} frames, got {t}")
        if self.spec.fixed_size and (h, w) != tuple(self.spec.crop):
            raise ShapeError(f"{self.name} needs frames of exactly {self.spec.crop[0]}x{self.spec.crop[1]}, got {h}x{w}")
        return x

    def to_unit_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the input normalisation: model-ready ``(B, 3, T, H, W)`` -> RGB in [0, 1] (same device)."""
        mean = torch.tensor(self.spec.mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.spec.std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1, 1)
        lo, hi = self.spec.value_range
        return ((x * std + mean - lo) / (hi - lo)).clamp(0, 1)

    def from_unit_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_unit_rgb`: RGB in [0, 1] ``(B, 3, T, H, W)`` -> model-ready input."""
        mean = torch.tensor(self.spec.mean, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.spec.std, device=rgb.device, dtype=rgb.dtype).view(1, 3, 1, 1, 1)
        lo, hi = self.spec.value_range
        return (rgb * (hi - lo) + lo - mean) / std

    def pathways(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Split one clip ``(B, C, T, H, W)`` into the network's pathway inputs (slow first)."""
        if self.spec.pathways == 1:
            return [x]
        t = x.shape[2]
        idx = torch.linspace(0, t - 1, max(t // self.spec.slowfast_alpha, 1), device=x.device).long()
        return [x.index_select(2, idx), x]

    def __call__(self, *args, **kwargs):
        # every forward of every subclass: NaN/inf logits become an error, never all-NaN maps or curves. Not a
        # registered forward hook: methods count and restore the model's hooks, and this check is not theirs.
        logits = super().__call__(*args, **kwargs)
        check_logits(self, args, logits)
        return logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.pathways == 1:
            return self.net(x)
        return self.net(self.pathways(x))

    # -- targets -------------------------------------------------------------------------------
    def class_index(self, target: int | str) -> int:
        """Resolve a class index or name to an index, with clear errors."""
        if isinstance(target, str):
            if not target.strip():
                raise TargetError(f"the target is an empty string; give a class index (0..{self.num_classes - 1}), a "
                                  "class name, or top1 (None in Python) for the top prediction")
            if target.strip().lstrip("-").isdigit():
                target = int(target)
            else:
                lookup = {n.lower(): i for i, n in enumerate(self.class_names)}
                key = target.lower().replace("_", " ").strip()
                for cand in (target.lower(), key):
                    if cand in lookup:
                        return lookup[cand]
                raise UnknownClassError(target, self.class_names, hint=f"{self.name} has {self.num_classes} classes")
        if isinstance(target, torch.Tensor):
            target = target.item()
        if isinstance(target, bool) or not isinstance(target, (int, float, np.integer, np.floating)) or (
                isinstance(target, (float, np.floating)) and not float(target).is_integer()):
            raise TargetError(f"a target must be a whole class index or a class name, got {target!r}")
        target = int(target)
        if not 0 <= target < self.num_classes:
            raise TargetError(f"class index {target} is out of range for {self.name} ({self.num_classes} classes)")
        return target

    def resolve_targets(self, target, logits: torch.Tensor) -> torch.Tensor:
        """Turn ``None`` (top-1), an index, a name, or one of those per clip into a LongTensor (B,)."""
        b = logits.shape[0]
        if target is None:
            return logits.argmax(dim=1)
        if isinstance(target, torch.Tensor) and target.ndim == 1:
            target = target.tolist()
        if isinstance(target, (list, tuple)):
            if len(target) != b:
                raise TargetError(f"got {len(target)} targets for a batch of {b} clips")
            idx = [int(logits[i].argmax()) if t is None else self.class_index(t) for i, t in enumerate(target)]
        else:
            idx = [self.class_index(target)] * b
        return torch.tensor(idx, dtype=torch.long, device=logits.device)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, weights={self.weights!r}, spec={self.spec.describe()!r}"


#: Clips' voxels per forward chunk on the CPU for ``chunk_size="auto"``: there, larger batches are not faster
#: per clip but allocate more (tools/bench_deletion_chunks.py: deletion/insertion on I3D 64x224x224 runs 1.55x
#: faster one clip per forward than 16).
CPU_CHUNK_VOXELS = 2 ** 22
MAX_AUTO_CHUNK = 16


def resolve_chunk_size(chunk_size: int | str, clip_shape: Sequence[int], device: torch.device) -> int:
    """Clips per forward pass: an int as given; ``"auto"``: 16 on accelerators, on the CPU as many clips as
    fit in :data:`CPU_CHUNK_VOXELS` voxels (16 for 16x112x112 clips, 5 for 16x224x224, 1 for 64x224x224)."""
    if chunk_size == "auto":
        if torch.device(device).type != "cpu":
            return MAX_AUTO_CHUNK
        return max(1, min(MAX_AUTO_CHUNK, CPU_CHUNK_VOXELS // max(1, math.prod(clip_shape[-3:]))))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise InputError(f"chunk_size must be a positive integer or 'auto', got {chunk_size!r}")
    return chunk_size


@dataclass
class ModelEntry:
    """A registry entry: how to build a model and what it needs."""

    name: str
    builder: object  # callable(weights=None, device=..., **kw) -> VideoModel
    description: str = ""
    spec: InputSpec | None = None
    weight_source: str = "random"
    family: str = ""
    tags: list[str] = field(default_factory=list)


def hub_video_model(net: nn.Module, spec: InputSpec, target_layers: Sequence[str], name: str, weights: str | None,
                    num_classes: int | None = None, class_names: Sequence[str] | None = None) -> VideoModel:
    """Wrap a hub architecture; with 400 outputs (the Kinetics-400 heads) and no ``class_names`` the classes
    are named from the Kinetics-400 label list. Its ``nn.MaxPool3d`` layers become
    :class:`vidxai.models.layers.MaxPool3d` (faster on the CPU, same values and gradients)."""
    from .layers import use_fast_max_pools

    use_fast_max_pools(net)
    if class_names is None and (num_classes or 400) == 400:
        from .labels import load_labels

        class_names = load_labels("kinetics400")
    return VideoModel(net, spec, class_names, target_layers, name=name, weights=weights, num_classes=num_classes)
