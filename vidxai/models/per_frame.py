"""2-D networks applied frame by frame: TSN- and TSM-style reference models (random weights).

``tsn-r18`` (Temporal Segment Networks, Wang et al. 2016, "Temporal Segment Networks: Towards Good Practices for
Deep Action Recognition"): a torchvision ResNet-18 runs on every frame, frames folded into the batch, and the
clip's logits are the mean of the per-frame logits (average consensus).

``tsm-r18`` (Lin et al. 2019, "TSM: Temporal Shift Module for Efficient Video Understanding"): the same, with a
temporal shift at the start of every residual branch: 1/8 of the channels take the previous frame's values,
1/8 the next frame's (zeros past the ends), the rest stay; so 2-D convolutions mix neighbouring frames at no
extra cost.

Both take ``(B, C, T, H, W)`` and fold it to ``(B*T, C, H, W)`` inside; their default CAM layer
``backbone.layer4`` outputs ``(B*T, 512, H/32, W/32)``, which CAM methods read as ``(B, 512, T, H/32, W/32)``
(``VideoModel.frames_in_batch``), so the maps come back as ``(B, T, H, W)``. The classes
:class:`FrameNet` and :class:`TemporalShift` take any 2-D backbone (e.g. :func:`tiny_backbone` in tests).
No trained weights ship: ``weights="default"`` and ``None`` both give random init (ImageNet-style
normalisation); a local checkpoint path loads as for every entry.
"""
from __future__ import annotations

import torch
from torch import nn

from . import register
from .base import InputSpec, VideoModel
from .checkpoint import resolve

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
SPEC = InputSpec(num_frames=8, crop=(224, 224), short_side=256, mean=IMAGENET_MEAN, std=IMAGENET_STD)
TARGET_LAYERS = ("backbone.layer4",)


class TemporalShift(nn.Module):
    """Shift ``1/fold_div`` of the channels one frame back and as many one frame forward, then run ``net``.

    Frames are folded into the batch, ``(B*T, C, H, W)``; :attr:`frames` (``T``) is set by the enclosing
    :class:`FrameNet` before each forward pass.

    Example:
        >>> shift = TemporalShift(nn.Identity(), fold_div=2)
        >>> shift.frames = 2
        >>> shift(torch.arange(2.0).view(2, 1, 1, 1).repeat(1, 2, 1, 1)).flatten().tolist()
        [1.0, 0.0, 0.0, 0.0]
    """

    def __init__(self, net: nn.Module, fold_div: int = 8) -> None:
        super().__init__()
        self.net = net
        self.fold_div = fold_div
        self.frames = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(temporal_shift(x, self.frames, self.fold_div))


def temporal_shift(x: torch.Tensor, frames: int, fold_div: int = 8) -> torch.Tensor:
    """TSM's shift of ``(B*T, C, H, W)``: channels ``[0, C/d)`` from frame t+1, ``[C/d, 2C/d)`` from frame t-1.

    Example:
        >>> temporal_shift(torch.arange(3.0).view(3, 1, 1, 1).repeat(1, 2, 1, 1), 3, 2)[:, :, 0, 0].tolist()
        [[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]
    """
    bt, c, h, w = x.shape
    x = x.view(bt // frames, frames, c, h, w)
    fold = c // fold_div
    out = torch.zeros_like(x)
    out[:, :-1, :fold] = x[:, 1:, :fold]  # shift left: frame t sees t+1
    out[:, 1:, fold:2 * fold] = x[:, :-1, fold:2 * fold]  # shift right: frame t sees t-1
    out[:, :, 2 * fold:] = x[:, :, 2 * fold:]
    return out.view(bt, c, h, w)


class FrameNet(nn.Module):
    """A 2-D backbone run on every frame; clip logits = mean of the per-frame logits (TSN's average consensus).

    Args:
        backbone: 2-D network ``(N, C, H, W) -> (N, features)``.
        features: width of the backbone's output.
        num_classes: number of logits.
        shift: insert :class:`TemporalShift` before the first conv of every residual block (``conv1`` of
            torchvision ``BasicBlock``/``Bottleneck``) - TSM.
        fold_div: TSM's shifted fraction, ``1/fold_div`` each way.

    Example:
        >>> net = FrameNet(tiny_backbone(4), 4, num_classes=3)
        >>> net(torch.zeros(2, 3, 5, 16, 16)).shape
        torch.Size([2, 3])
    """

    def __init__(self, backbone: nn.Module, features: int, num_classes: int, shift: bool = False,
                 fold_div: int = 8) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = nn.Linear(features, num_classes)
        if shift:
            for m in list(backbone.modules()):
                if hasattr(m, "conv1") and hasattr(m, "conv2") and isinstance(m.conv1, nn.Conv2d):
                    m.conv1 = TemporalShift(m.conv1, fold_div)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        for m in self.modules():
            if isinstance(m, TemporalShift):
                m.frames = t
        frames = x.transpose(1, 2).reshape(b * t, c, h, w)
        return self.fc(self.backbone(frames)).view(b, t, -1).mean(dim=1)


def tiny_backbone(width: int = 8) -> nn.Sequential:
    """A small random 2-D CNN ``(N, 3, H, W) -> (N, width)``: two conv-ReLU layers (``1``, ``3``) and a pool.

    Example:
        >>> tiny_backbone(4)(torch.zeros(2, 3, 16, 16)).shape
        torch.Size([2, 4])
    """
    return nn.Sequential(nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(), nn.Conv2d(width, width, 3, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())


def _resnet18_backbone() -> nn.Module:
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.fc = nn.Identity()
    return net


def _build(name: str, shift: bool, weights: object, num_classes: int | None, class_names) -> VideoModel:
    if class_names is not None:
        num_classes = len(class_names)
    net = FrameNet(_resnet18_backbone(), 512, num_classes or 400, shift=shift)
    source = resolve(net, weights, name, {"default": lambda: "random"})
    model = VideoModel(net, SPEC, class_names, TARGET_LAYERS, name=name, weights=source,
                       num_classes=None if class_names else num_classes or 400)
    model.frames_in_batch = True
    return model


@register("tsn-r18", description="TSN-style ResNet-18 per frame, logits averaged over frames (Wang et al. 2016); "
          "random weights", spec=SPEC, weight_source="random (none published for this entry)", family="2d-per-frame")
def tsn_r18(weights: object = "default", num_classes: int | None = None, class_names=None) -> VideoModel:
    """TSN-style ResNet-18: ``weights="default"`` / ``None`` (random init, nothing ships) or a checkpoint path."""
    return _build("tsn-r18", False, weights, num_classes, class_names)


@register("tsm-r18", description="TSM-style ResNet-18: temporal shift of 1/4 of the channels in every residual "
          "branch (Lin et al. 2019); random weights", spec=SPEC, weight_source="random (none published for this entry)",
          family="2d-per-frame")
def tsm_r18(weights: object = "default", num_classes: int | None = None, class_names=None) -> VideoModel:
    """TSM-style ResNet-18: ``weights="default"`` / ``None`` (random init, nothing ships) or a checkpoint path."""
    return _build("tsm-r18", True, weights, num_classes, class_names)


__all__ = ["FrameNet", "TemporalShift", "temporal_shift", "tiny_backbone", "tsn_r18", "tsm_r18"]
