"""torchvision video classifiers: r3d_18, mc3_18, r2plus1d_18, s3d, mvit_v1_b, mvit_v2_s, swin3d_t.

``weights="default"`` loads torchvision's Kinetics-400 weights through its hub cache (downloads when the
machine is online; offline, a one-line :class:`~vidxai.errors.MissingCheckpointError` says how to provide
the file). A torchvision enum name (``"KINETICS400_V1"`` or ``"R3D_18_Weights.KINETICS400_V1"``) works too,
as does a local checkpoint path; ``weights=None`` gives random init.

The transformers get a parameter-free CAM layer (``cam_map``) so CAM methods see a ``(B, C, T', H', W')``
feature map: for MViT the patch tokens entering the last block (the class token read by the head attends to
them there), for Swin3D the final normalised features, channels first. Neither changes the outputs or the
state-dict keys.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torchvision.models import video as tvv
from torchvision.models.video.mvit import MViT
from torchvision.models.video.swin_transformer import SwinTransformer3d
from torchvision.ops import Permute

from ..errors import MissingCheckpointError
from . import register
from .base import InputSpec, VideoModel, hub_video_model
from .checkpoint import load_into, resolve

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
HALF_MEAN, HALF_STD = (0.45, 0.45, 0.45), (0.225, 0.225, 0.225)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class _MViTWithMap(MViT):
    """torchvision's MViT with the patch tokens entering the last block exposed as ``cam_map`` (B,C,T,H,W)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_proj(x).flatten(2).transpose(1, 2)
        x = self.pos_encoding(x)
        thw = (self.pos_encoding.temporal_size,) + self.pos_encoding.spatial_size
        for block in self.blocks[:-1]:
            x, thw = block(x, thw)
        # Tokens are laid out as [class, t*h*w patches]: round-trip the patches through a (B, C, T, H, W) map.
        b, _, c = x.shape
        cls, patches = x[:, :1], x[:, 1:]
        fmap = self.cam_map(patches.transpose(1, 2).reshape(b, c, *thw))
        x = torch.cat([cls, fmap.flatten(2).transpose(1, 2)], dim=1)
        x, _ = self.blocks[-1](x, thw)
        x = self.norm(x)
        return self.head(x[:, 0])


class _SwinWithMap(SwinTransformer3d):
    """torchvision's Swin3D whose channels-first permute is a module (``cam_map``) CAM methods can hook."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        x = self.norm(self.features(x))
        x = self.cam_map(x)  # (B, T, H, W, C) -> (B, C, T, H, W)
        return self.head(torch.flatten(self.avgpool(x), 1))


def _add_mvit_map(net: nn.Module) -> nn.Module:
    net.__class__ = _MViTWithMap
    net.cam_map = nn.Identity()
    return net


def _add_swin_map(net: nn.Module) -> nn.Module:
    net.__class__ = _SwinWithMap
    net.cam_map = Permute([0, 4, 1, 2, 3])
    return net


@dataclass(frozen=True)
class _TV:
    name: str
    builder: Callable[..., nn.Module]
    weights_enum: type
    spec: InputSpec
    target_layers: tuple[str, ...]
    description: str
    adapt: Callable[[nn.Module], nn.Module] | None = None


_RESNET_SPEC = InputSpec(num_frames=16, crop=(112, 112), short_side=128, mean=KINETICS_MEAN, std=KINETICS_STD)

MODELS = [
    _TV("r3d_18", tvv.r3d_18, tvv.R3D_18_Weights, _RESNET_SPEC, ("layer4",),
        "ResNet3D-18 (Tran et al. 2018), Kinetics-400, torchvision"),
    _TV("mc3_18", tvv.mc3_18, tvv.MC3_18_Weights, _RESNET_SPEC, ("layer4",),
        "Mixed-convolution ResNet-18 MC3 (Tran et al. 2018), Kinetics-400, torchvision"),
    _TV("r2plus1d_18", tvv.r2plus1d_18, tvv.R2Plus1D_18_Weights, _RESNET_SPEC, ("layer4",),
        "R(2+1)D-18 (Tran et al. 2018), Kinetics-400, torchvision"),
    # torchvision evaluates S3D on 128-frame clips; 64 (the paper's training length) keeps CPU use sane.
    _TV("s3d", tvv.s3d, tvv.S3D_Weights,
        InputSpec(num_frames=64, crop=(224, 224), short_side=256, mean=KINETICS_MEAN, std=KINETICS_STD,
                  min_frames=14), ("features.15",),
        "S3D (Xie et al. 2018), Kinetics-400, torchvision"),
    _TV("mvit_v1_b", tvv.mvit_v1_b, tvv.MViT_V1_B_Weights,
        InputSpec(num_frames=16, crop=(224, 224), short_side=256, mean=HALF_MEAN, std=HALF_STD, min_frames=16,
                  fixed_frames=True, fixed_size=True), ("cam_map",),
        "MViT-v1-B 16x4 (Fan et al. 2021), Kinetics-400, torchvision", _add_mvit_map),
    _TV("mvit_v2_s", tvv.mvit_v2_s, tvv.MViT_V2_S_Weights,
        InputSpec(num_frames=16, crop=(224, 224), short_side=256, mean=HALF_MEAN, std=HALF_STD, min_frames=16,
                  fixed_frames=True, fixed_size=True), ("cam_map",),
        "MViT-v2-S 16x4 (Li et al. 2022), Kinetics-400, torchvision", _add_mvit_map),
    # Swin3D pads to its 8x7x7 windows, so any clip size runs; 32x224x224 is what it was trained on.
    _TV("swin3d_t", tvv.swin3d_t, tvv.Swin3D_T_Weights,
        InputSpec(num_frames=32, crop=(224, 224), short_side=256, mean=IMAGENET_MEAN, std=IMAGENET_STD),
        ("cam_map",), "Video Swin-T (Liu et al. 2022), Kinetics-400, torchvision", _add_swin_map),
]


def _hub_loader(m: _TV, net: nn.Module, enum_member) -> Callable[[], str]:
    def load() -> str:
        try:
            sd = enum_member.get_state_dict(progress=True, check_hash=True)
        except Exception as e:  # noqa: BLE001 - any download failure means "not available here"
            raise MissingCheckpointError(
                f"pretrained weights for {m.name!r} ({enum_member}) are not available offline "
                f"({type(e).__name__}); run once with internet to download {enum_member.url} into torch's hub "
                f"cache, or pass weights=<local checkpoint> (CLI: --weights PATH), or weights=None") from None
        load_into(net, sd, source=enum_member.url)
        return f"torchvision:{enum_member}"

    return load


def _make_builder(m: _TV) -> Callable[..., VideoModel]:
    def build(weights: object = "default", num_classes: int | None = None, class_names: list[str] | None = None,
              **kwargs) -> VideoModel:
        if class_names is not None:
            num_classes = len(class_names)
        net = m.builder(weights=None, num_classes=num_classes or 400, **kwargs)
        if m.adapt is not None:
            net = m.adapt(net)
        named: dict[str, Callable[[], str]] = {"default": _hub_loader(m, net, m.weights_enum.DEFAULT)}
        for member in m.weights_enum:
            named[member.name] = named[str(member)] = _hub_loader(m, net, member)
        source = resolve(net, weights, m.name, named)
        return hub_video_model(net, m.spec, m.target_layers, m.name, source, num_classes, class_names)

    build.__name__ = f"build_{m.name}"
    build.__doc__ = f"{m.description}. weights: 'default' (torchvision hub), None, an enum name or a path."
    return build


for _m in MODELS:
    register(_m.name, description=_m.description, spec=_m.spec, weight_source="torchvision hub (Kinetics-400)",
             family="torchvision")(_make_builder(_m))
