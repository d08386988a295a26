"""pytorchvideo (0.1.5) Kinetics-400 classifiers: x3d_xs, x3d_s, x3d_m, slow_r50, slowfast_r50, r2plus1d_r50,
csn_r101.

Networks come from pytorchvideo's ``create_*`` builders with exactly the configuration its hub functions
(``pytorchvideo.models.hub.x3d_xs`` ...) use; ``weights="default"`` then downloads the hub checkpoint
(``model_state``) from the hub's URL, so the download is cached by torch.hub and offline use fails with a one-line
:class:`~vidxai.errors.MissingCheckpointError`. X3D and R(2+1)D heads apply a softmax by default; they are
built with ``head_activation=None`` so every entry returns logits (the activation has no parameters, so the
hub weights still fit). Extra keyword arguments go to the pytorchvideo builder (e.g. ``model_num_class``,
``head_pool_kernel_size``) for random-init experiments.

SlowFast takes ONE clip: :meth:`VideoModel.pathways` derives the slow pathway by sampling every
``alpha``-th frame (as pytorchvideo's ``PackPathway``), so gradients w.r.t. that clip cover both pathways.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from . import register
from .base import InputSpec, VideoModel, hub_video_model
from .checkpoint import load_into, load_url, resolve

MEAN, STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
_ZOO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics"


@dataclass(frozen=True)
class _PV:
    name: str
    create: str  # "module:function" in pytorchvideo.models
    config: dict  # the hub function's settings
    url: str
    spec: InputSpec
    target_layers: tuple[str, ...]
    description: str


def _spec(frames: int, crop: int, short: int, **kw) -> InputSpec:
    return InputSpec(num_frames=frames, crop=(crop, crop), short_side=short, mean=MEAN, std=STD, **kw)


_X3D = {"head_activation": None}  # X3D-XS/S/M share one network; only the clip size differs

MODELS = [
    # Test-time sizes from the pytorchvideo model zoo / hub tutorial (X3D-XS/S: 182 px, X3D-M: 256 px).
    # min_frames: the heads' average pools have a fixed temporal extent (e.g. X3D-S pools 13 frames).
    _PV("x3d_xs", "x3d:create_x3d", {"input_clip_length": 4, "input_crop_size": 160, **_X3D},
        f"{_ZOO}/X3D_XS.pyth", _spec(4, 182, 182, min_frames=4), ("blocks.4",),
        "X3D-XS 4x12 (Feichtenhofer 2020), Kinetics-400, pytorchvideo"),
    _PV("x3d_s", "x3d:create_x3d", {"input_clip_length": 13, "input_crop_size": 160, **_X3D},
        f"{_ZOO}/X3D_S.pyth", _spec(13, 182, 182, min_frames=13), ("blocks.4",),
        "X3D-S 13x6 (Feichtenhofer 2020), Kinetics-400, pytorchvideo"),
    _PV("x3d_m", "x3d:create_x3d", {"input_clip_length": 16, "input_crop_size": 224, **_X3D},
        f"{_ZOO}/X3D_M.pyth", _spec(16, 256, 256, min_frames=16), ("blocks.4",),
        "X3D-M 16x5 (Feichtenhofer 2020), Kinetics-400, pytorchvideo"),
    _PV("slow_r50", "resnet:create_resnet",
        {"stem_conv_kernel_size": (1, 7, 7), "head_pool_kernel_size": (8, 7, 7), "model_depth": 50},
        f"{_ZOO}/SLOW_8x8_R50.pyth", _spec(8, 256, 256, min_frames=8), ("blocks.4",),
        "Slow-only R50 8x8 (Feichtenhofer et al. 2019), Kinetics-400, pytorchvideo"),
    _PV("slowfast_r50", "slowfast:create_slowfast", {"model_depth": 50, "slowfast_fusion_conv_kernel_size": (7, 1, 1)},
        f"{_ZOO}/SLOWFAST_8x8_R50.pyth", _spec(32, 256, 256, min_frames=32, pathways=2, slowfast_alpha=4),
        ("blocks.4.multipathway_blocks.0", "blocks.4.multipathway_blocks.1"),
        "SlowFast R50 8x8, two pathways (Feichtenhofer et al. 2019), Kinetics-400, pytorchvideo"),
    _PV("r2plus1d_r50", "r2plus1d:create_r2plus1d", {"dropout_rate": 0.5, "head_activation": None},
        f"{_ZOO}/R2PLUS1D_16x4_R50.pyth", _spec(16, 224, 256, min_frames=16), ("blocks.4",),
        "R(2+1)D R50 16x4 (Tran et al. 2018), Kinetics-400, pytorchvideo"),
    _PV("csn_r101", "csn:create_csn",
        {"model_depth": 101, "stem_pool": nn.MaxPool3d, "head_pool_kernel_size": (4, 7, 7)},
        f"{_ZOO}/CSN_32x2_R101.pyth", _spec(32, 224, 256, min_frames=32), ("blocks.4",),
        "ir-CSN R101 32x2 (Tran et al. 2019), Kinetics-400, pytorchvideo"),
]


def _create(m: _PV, **overrides) -> nn.Module:
    import importlib

    module, fn = m.create.split(":")
    return getattr(importlib.import_module(f"pytorchvideo.models.{module}"), fn)(**{**m.config, **overrides})


def _make_builder(m: _PV) -> Callable[..., VideoModel]:
    def build(weights: object = "default", class_names: list[str] | None = None, **kwargs) -> VideoModel:
        if class_names is not None:
            kwargs["model_num_class"] = len(class_names)
        num_classes = int(kwargs.get("model_num_class", 400))
        net = _create(m, **kwargs)

        def hub_weights() -> str:
            load_into(net, load_url(m.url, m.name, nested_key="model_state"), source=m.url)
            return f"pytorchvideo:{m.name}"

        source = resolve(net, weights, m.name, {"default": hub_weights, "kinetics400": hub_weights})
        return hub_video_model(net, m.spec, m.target_layers, m.name, source, num_classes, class_names)

    build.__name__ = f"build_{m.name}"
    build.__doc__ = f"{m.description}. weights: 'default' (pytorchvideo hub), None or a path."
    return build


for _m in MODELS:
    register(_m.name, description=_m.description, spec=_m.spec, weight_source="pytorchvideo hub (Kinetics-400)",
             family="pytorchvideo")(_make_builder(_m))
