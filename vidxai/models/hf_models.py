"""Hugging Face video transformers: VideoMAE, TimeSformer and ViViT (optional: ``pip install vidxai[transformers]``).

Entries (``vidxai models``):

- ``videomae``, ``timesformer``, ``vivit``: the base architectures of the Kinetics-400 checkpoints on the Hugging Face
  hub (``weights="default"`` loads ``MCG-NJU/videomae-base-finetuned-kinetics``, ``facebook/timesformer-base-finetuned-k400``
  or ``google/vivit-b-16x2-kinetics400`` when the machine is online; ``weights=None`` builds them from their
  ``transformers`` configs with random weights, offline);
- ``videomae-tiny``, ``timesformer-tiny``, ``vivit-tiny``: 2 layers, hidden size 64, 4 heads, 32x32 frames,
  8 frames, patches of 8 (tubelets of 2 frames for VideoMAE and ViViT); random weights, for tests and CI.

``weights=`` also takes a hub name (``"MCG-NJU/videomae-base-finetuned-kinetics"``), a local folder written by
``save_pretrained``, a ``.safetensors`` file or any checkpoint :func:`vidxai.models.load` reads. A folder or hub
checkpoint brings its own config, so the entry's spec (frames, crop) follows the checkpoint.

The networks take ``(B, T, C, H, W)`` and return a ``ModelOutput``; :func:`wrap_transformer` adapts them with
:func:`vidxai.wrap` (``layout="BTCHW"``, ``output="logits"``) so vidxai sees ``(B, C, T, H, W)`` -> ``(B, K)``.
It also attaches a :class:`TokenLayout`: where each token sits on the ``(T', H', W')`` tubelet grid, whether there
is a class token, and which modules compute attention. CAM methods read it as ``model.cam_reshape`` (token
activations -> ``(B, K, T', H', W')`` maps) and the attention methods (:mod:`vidxai.attribution.attention`) as
``model.token_layout``.

Default CAM layer: the last block's ``layernorm_before`` output. The last block's own output reaches the head only
through the class token (ViViT, TimeSformer), so its patch tokens get no gradient; one step earlier, the class token
(or VideoMAE's mean pool) still reads every patch token through the last attention, as pytorch-grad-cam recommends
for ViTs (``blocks[-1].norm1``). For TimeSformer that is the spatial attention's input, ``(B*T, 1+H'W', D)``: one
class-token copy per frame, dropped by the reshape.

``transformers`` is imported only when a model is built, so ``import vidxai`` and ``vidxai models`` never import it.
"""
from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import torch
from torch import nn

from ..errors import MissingCheckpointError, UnsupportedModelError
from . import alias, register
from .base import InputSpec, VideoModel
from .checkpoint import load_into, resolve

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HALF_MEAN, HALF_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
TINY = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128, image_size=32,
            num_frames=8)
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
INSTALL_HINT = "pip install 'vidxai[transformers]'"


@dataclass(frozen=True)
class _Family:
    model_type: str
    config_class: str
    model_class: str
    hub: str
    base: dict
    tiny: dict
    description: str


FAMILIES = {
    "videomae": _Family("videomae", "VideoMAEConfig", "VideoMAEForVideoClassification",
                        "MCG-NJU/videomae-base-finetuned-kinetics",
                        dict(num_frames=16, image_size=224, patch_size=16, tubelet_size=2),
                        dict(TINY, patch_size=8, tubelet_size=2),
                        "VideoMAE (Tong et al. 2022), ViT-B, 16x224, tubelets 2x16x16, mean-pooled head"),
    "timesformer": _Family("timesformer", "TimesformerConfig", "TimesformerForVideoClassification",
                           "facebook/timesformer-base-finetuned-k400",
                           dict(num_frames=8, image_size=224, patch_size=16),
                           dict(TINY, patch_size=8),
                           "TimeSformer (Bertasius et al. 2021), divided space-time attention, 8x224, class token"),
    "vivit": _Family("vivit", "VivitConfig", "VivitForVideoClassification", "google/vivit-b-16x2-kinetics400",
                     dict(num_frames=32, image_size=224, tubelet_size=[2, 16, 16]),
                     dict(TINY, tubelet_size=[2, 8, 8]),
                     "ViViT (Arnab et al. 2021), joint space-time attention, 32x224, tubelets 2x16x16, class token"),
}


# ------------------------------------------------------------------------------------------------------------
# where the tokens are
# ------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenLayout:
    """Where a video transformer's tokens sit on the ``(T', H', W')`` tubelet grid.

    Called on a token tensor it returns a channels-first map, so a layout is a CAM ``reshape`` (CAM methods use
    ``model.cam_reshape``). Understood token tensors ``(*, N, D)``: the whole sequence ``(B, [1 +] T'H'W', D)``;
    for TimeSformer's divided attention also the per-frame sequences ``(B*T', 1 + H'W', D)`` (one class-token copy
    per frame) and the per-position sequences ``(B*H'W', T', D)``. Feature maps that are already 4-D / 5-D pass
    through unchanged.

    Attributes:
        grid: ``(T', H', W')``.
        cls_token: a class token precedes the patch tokens.
        order: ``"thw"`` (VideoMAE, ViViT: time slowest) or ``"hwt"`` (TimeSformer: time fastest).
        attention: ``(module path, kind)`` of every attention in forward order, ``kind`` = ``"joint"`` (all tokens),
            ``"temporal"`` or ``"spatial"`` (TimeSformer's divided attention); the module's output holds the
            attention probabilities (a tensor, or a tuple whose second item is one).
        default_layer: the default CAM layer (module path).

    Example:
        >>> lay = TokenLayout(grid=(2, 1, 2), cls_token=True, order="hwt")
        >>> tokens = torch.arange(5.0).view(1, 5, 1)  # class token 0, then (h, w, t)-ordered patches 1..4
        >>> lay(tokens)[0, 0].tolist()  # (T', H', W')
        [[[1.0, 3.0]], [[2.0, 4.0]]]
    """

    grid: tuple[int, int, int]
    cls_token: bool
    order: str = "thw"
    attention: tuple[tuple[str, str], ...] = field(default=())
    default_layer: str = ""

    @property
    def num_patches(self) -> int:
        t, h, w = self.grid
        return t * h * w

    def patches_to_grid(self, v: torch.Tensor) -> torch.Tensor:
        """Patch values ``(B, T'H'W', *rest)`` in token order -> ``(B, T', H', W', *rest)``."""
        t, h, w = self.grid
        if self.order == "thw":
            return v.reshape(v.shape[0], t, h, w, *v.shape[2:])
        return v.reshape(v.shape[0], h, w, t, *v.shape[2:]).movedim(3, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 3:
            return x
        t, h, w = self.grid
        n, s, cls = self.num_patches, h * w, int(self.cls_token)
        if x.shape[1] == n + cls:
            vol = self.patches_to_grid(x[:, cls:])
        elif self.order == "hwt" and cls and x.shape[1] == s + 1 and x.shape[0] % t == 0:
            # TimeSformer's spatial attention input: frames folded into the batch, b-major
            vol = x[:, 1:].reshape(x.shape[0] // t, t, h, w, x.shape[2])
        elif self.order == "hwt" and x.shape[1] == t and x.shape[0] % s == 0:
            # TimeSformer's temporal attention input: one sequence per (h, w) position
            vol = x.reshape(x.shape[0] // s, h, w, t, x.shape[2]).movedim(3, 1)
        else:
            raise UnsupportedModelError(f"cannot read tokens of shape {tuple(x.shape)} on the {self.grid} token grid "
                                        f"({'with' if cls else 'without'} a class token); pass reshape=<callable>")
        return vol.movedim(-1, 1)  # (B, T', H', W', D) -> (B, D, T', H', W')


def _grid(config) -> tuple[int, int, int]:
    size = config.image_size if isinstance(config.image_size, (list, tuple)) else (config.image_size,) * 2
    if config.model_type == "vivit":
        kt, kh, kw = config.tubelet_size
    else:
        kt = getattr(config, "tubelet_size", 1)
        kh = kw = config.patch_size
    return config.num_frames // kt, size[0] // kh, size[1] // kw


def _innermost_attention(net: nn.Module) -> list[str]:
    """Paths of the innermost modules whose class name ends with ``Attention`` (the ones computing the softmax)."""
    mods = dict(net.named_modules())
    paths = [p for p, m in mods.items() if type(m).__name__.endswith("Attention")]
    return [p for p in paths if not any(q.startswith(p + ".") for q in paths)]


def transformer_layout(net: nn.Module) -> TokenLayout:
    """The :class:`TokenLayout` of a ``transformers`` VideoMAE, TimeSformer or ViViT network.

    Raises:
        UnsupportedModelError: ``net`` is not one of them.

    Example:
        >>> net = build_network("videomae", tiny=True)  # doctest: +SKIP
        >>> transformer_layout(net).grid  # doctest: +SKIP
        (4, 4, 4)
    """
    config = getattr(net, "config", None)
    kind = getattr(config, "model_type", None)
    if kind not in FAMILIES:
        raise UnsupportedModelError(f"{type(net).__name__} is not a Hugging Face video transformer vidxai knows "
                                    f"(model_type {kind!r}; known: {', '.join(FAMILIES)})")
    paths = _innermost_attention(net)
    divided = kind == "timesformer" and getattr(config, "attention_type", "") == "divided_space_time"
    if divided:
        # temporal attention runs before the spatial one in every block (registration order is the reverse)
        stages = sorted(((p, "temporal" if ".temporal_attention." in p + "." else "spatial") for p in paths),
                        key=lambda ps: (_block_index(ps[0]), ps[1] != "temporal"))
    else:
        stages = [(p, "joint") for p in paths]
    default = [p for p in dict(net.named_modules()) if p.endswith("layernorm_before")]
    return TokenLayout(_grid(config), cls_token=kind != "videomae", order="hwt" if kind == "timesformer" else "thw",
                       attention=tuple(stages), default_layer=default[-1] if default else "")


def _block_index(path: str) -> int:
    nums = [int(c) for c in path.split(".") if c.isdigit()]
    return nums[0] if nums else 0


# ------------------------------------------------------------------------------------------------------------
# configs, specs, class names
# ------------------------------------------------------------------------------------------------------------
def spec_from_config(config) -> InputSpec:
    """The :class:`InputSpec` of a network built from ``config`` (frames and crop fixed by its position embeddings;
    normalisation as in the family's published preprocessing configs).

    Example:
        >>> from transformers import VideoMAEConfig  # doctest: +SKIP
        >>> spec_from_config(VideoMAEConfig()).describe()  # doctest: +SKIP
        '16x224x224 RGB [0,1] mean=(0.485, 0.456, 0.406) std=(0.229, 0.224, 0.225)'
    """
    size = config.image_size if isinstance(config.image_size, (list, tuple)) else (config.image_size,) * 2
    kw = dict(num_frames=config.num_frames, crop=tuple(size), short_side=min(size), min_frames=config.num_frames,
              fixed_frames=True, fixed_size=True)
    if config.model_type == "videomae":
        return InputSpec(mean=IMAGENET_MEAN, std=IMAGENET_STD, **kw)
    if config.model_type == "timesformer":
        return InputSpec(mean=HALF_MEAN, std=HALF_STD, **kw)
    # ViViT's image processor: rescale to [-1, 1] (1/127.5 with offset), then normalise with mean 0.5, std 0.5
    kw["short_side"] = round(min(size) * 256 / 224)
    return InputSpec(value_range=(-1.0, 1.0), mean=(0.5,) * 3, std=(0.5,) * 3, **kw)


def _class_names(config) -> list[str]:
    names = [str(config.id2label[i]) for i in range(config.num_labels)] if config.id2label else []
    if names and not all(re.fullmatch(r"LABEL_\d+", n) for n in names):
        return names
    if config.num_labels == 400:
        from .labels import load_labels

        return load_labels("kinetics400")
    return [f"class_{i}" for i in range(config.num_labels)]


def _transformers():
    try:
        import transformers
    except ImportError:
        raise UnsupportedModelError(f"the Hugging Face video transformers need the optional dependency "
                                    f"'transformers': {INSTALL_HINT}") from None
    return transformers


def build_network(family: str, tiny: bool = False, **config_kwargs) -> nn.Module:
    """A randomly initialised ``transformers`` classifier of ``family`` (``videomae``, ``timesformer``, ``vivit``).

    Args:
        family: the model type.
        tiny: the tiny test configuration (2 layers, hidden 64, 8x32x32 clips) instead of the base one.
        **config_kwargs: overrides of the config (e.g. ``num_labels=10``, ``num_hidden_layers=4``).

    Returns:
        The network, with eager attention (so attention probabilities can be read).

    Example:
        >>> net = build_network("vivit", tiny=True, num_labels=3)  # doctest: +SKIP
        >>> net(torch.zeros(1, 8, 3, 32, 32)).logits.shape  # doctest: +SKIP
        torch.Size([1, 3])
    """
    tf = _transformers()
    fam = FAMILIES[family]
    kwargs = dict(fam.tiny if tiny else fam.base, num_labels=400, attn_implementation="eager")
    kwargs.update(config_kwargs)
    return getattr(tf, fam.model_class)(getattr(tf, fam.config_class)(**kwargs))


def _is_pretrained_source(weights: object) -> bool:
    """A ``save_pretrained`` folder, or a hub name (``owner/name``) that is not a local path."""
    if not isinstance(weights, (str, os.PathLike)):
        return False
    if os.path.isdir(weights):
        return True
    text = str(weights)
    return bool(_HUB_ID.match(text)) and not os.path.exists(text) and not text.lower().endswith(
        (".pt", ".pth", ".bin", ".ckpt", ".safetensors", ".pyth", ".tar", ".pkl"))


def from_pretrained(family: str, source: str | os.PathLike, **kwargs) -> nn.Module:
    """``<Family>ForVideoClassification.from_pretrained(source)`` with eager attention; failures are one line.

    Args:
        family: the model type.
        source: a hub name or a folder written by ``save_pretrained``.
        **kwargs: passed to ``from_pretrained`` (e.g. ``num_labels=10, ignore_mismatched_sizes=True``).

    Raises:
        MissingCheckpointError: it cannot be loaded (offline and not in the Hugging Face cache, unknown name,
            a folder without a config).

    Example:
        >>> net = from_pretrained("videomae", "MCG-NJU/videomae-base-finetuned-kinetics")  # doctest: +SKIP
    """
    cls = getattr(_transformers(), FAMILIES[family].model_class)
    try:
        return cls.from_pretrained(str(source), attn_implementation="eager", **kwargs)
    except (OSError, ValueError) as e:  # hub / cache misses are OSErrors, a bad config a ValueError
        where = "folder" if os.path.isdir(source) else "Hugging Face hub model"
        first = " ".join(str(e).split())[:200]
        raise MissingCheckpointError(
            f"cannot load the {where} {str(source)!r} as {FAMILIES[family].model_class} ({type(e).__name__}: "
            f"{first}); offline, run once with internet to fill the Hugging Face cache, or pass weights=<folder "
            f"written by save_pretrained or a checkpoint file>, or weights=None") from None


def _load_safetensors(net: nn.Module, path: str) -> str:
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise MissingCheckpointError(f"checkpoint {path} does not exist")
    load_into(net, load_file(path), source=path)
    return path


# ------------------------------------------------------------------------------------------------------------
# VideoModels
# ------------------------------------------------------------------------------------------------------------
def wrap_transformer(net: nn.Module, spec: InputSpec | None = None, class_names: Sequence[str] | None = None,
                     name: str | None = None, weights: str = "user") -> VideoModel:
    """Wrap a ``transformers`` VideoMAE / TimeSformer / ViViT classifier as a :class:`VideoModel`.

    The clip is handed over as ``(B, T, C, H, W)`` and the logits read from the ``ModelOutput``; the model gets
    the network's :class:`TokenLayout` (``model.token_layout``, ``model.cam_reshape``) and its default CAM layer.

    Args:
        net: e.g. ``VideoMAEForVideoClassification.from_pretrained(...)``; load it with
            ``attn_implementation="eager"`` for the attention methods (they switch an sdpa model to eager while
            they run, which works on transformers 5).
        spec: the input spec (default: from the config, :func:`spec_from_config`).
        class_names: default: the config's ``id2label`` (Kinetics-400 names for unnamed 400-class heads).
        name: a name for messages (default: the model type).
        weights: where the weights came from (shown by ``vidxai models`` / ``result.json``).

    Returns:
        A :class:`VideoModel` taking ``(B, C, T, H, W)``.

    Example:
        >>> from transformers import VideoMAEForVideoClassification  # doctest: +SKIP
        >>> model = wrap_transformer(VideoMAEForVideoClassification.from_pretrained("MCG-NJU/videomae-base-finetuned-kinetics"))  # doctest: +SKIP
        >>> vidxai.methods.get("gradcam")(model).attribute(clip).saliency.shape  # doctest: +SKIP
        torch.Size([1, 16, 224, 224])
    """
    from .wrap import wrap

    layout = transformer_layout(net)
    model = wrap(net, spec=spec or spec_from_config(net.config),
                 class_names=list(class_names) if class_names is not None else _class_names(net.config),
                 target_layers=[layout.default_layer] if layout.default_layer else [], name=name or net.config.model_type, layout="BTCHW",
                 output="logits", frames_in_batch=False)
    model.weights = weights
    model.token_layout = layout
    model.cam_reshape = layout
    return model


def _build(family: str, tiny: bool, weights: object, num_classes: int | None, class_names, **config_kwargs
           ) -> VideoModel:
    fam = FAMILIES[family]
    name = family + ("-tiny" if tiny else "")
    if class_names is not None:
        num_classes = len(class_names)
    if weights == "default":
        weights = None if tiny else fam.hub  # no tiny checkpoint is published: random init
    if _is_pretrained_source(weights):
        extra = dict(num_labels=num_classes, ignore_mismatched_sizes=True) if num_classes else {}
        net = from_pretrained(family, weights, **extra, **config_kwargs)
        source = str(weights) if os.path.isdir(weights) else f"huggingface:{weights}"
    else:
        net = build_network(family, tiny, **({"num_labels": num_classes} if num_classes else {}), **config_kwargs)
        if isinstance(weights, (str, os.PathLike)) and str(weights).lower().endswith(".safetensors"):
            source = _load_safetensors(net, str(weights))
        else:
            source = resolve(net, weights, name, {})
    return wrap_transformer(net, class_names=class_names, name=name, weights=source)


def _entry_spec(family: str, tiny: bool) -> InputSpec:
    base = FAMILIES[family].tiny if tiny else FAMILIES[family].base
    # the few config fields spec_from_config reads: registering must not import transformers
    return spec_from_config(SimpleNamespace(model_type=family, image_size=base["image_size"],
                                            num_frames=base["num_frames"]))


def _register(family: str, tiny: bool) -> None:
    fam = FAMILIES[family]
    name = family + ("-tiny" if tiny else "")
    if tiny:
        desc = f"{fam.description.split(',')[0]} tiny (2 layers, hidden 64, 8x32x32); random weights, for tests"
        source = "random (tiny test config; none published)"
    else:
        desc = fam.description + "; Kinetics-400 from the Hugging Face hub"
        source = f"huggingface:{fam.hub} (needs {INSTALL_HINT})"

    def build(weights: object = "default", num_classes: int | None = None, class_names=None,
              **config_kwargs) -> VideoModel:
        return _build(family, tiny, weights, num_classes, class_names, **config_kwargs)

    build.__name__ = f"build_{name.replace('-', '_')}"
    build.__doc__ = (f"{desc}. weights: 'default', None (random, offline), a hub name, a save_pretrained folder or "
                     f"a checkpoint; extra keyword arguments override the transformers config.")
    register(name, description=desc, spec=_entry_spec(family, tiny), weight_source=source,
             family="hf-transformer")(build)


for _family in FAMILIES:
    _register(_family, tiny=False)
    _register(_family, tiny=True)
    # the names people know from the hub checkpoints (MCG-NJU/videomae-base-..., facebook/timesformer-base-...)
    alias(f"{_family}-base", _family)


@contextlib.contextmanager
def eager_attention(net: nn.Module) -> Iterator[None]:
    """Switch a ``transformers`` network to eager attention inside the block (sdpa / flash kernels return no
    attention probabilities); the previous implementation is restored on exit, also on error.

    Example::

        with eager_attention(model.net):
            model(x)
    """
    config = getattr(net, "config", None)
    before = getattr(config, "_attn_implementation", None)
    if config is None or before in (None, "eager"):
        yield
        return
    config._attn_implementation = "eager"
    try:
        yield
    finally:
        config._attn_implementation = before


__all__ = ["TokenLayout", "transformer_layout", "wrap_transformer", "build_network", "from_pretrained",
           "spec_from_config", "eager_attention", "FAMILIES"]
