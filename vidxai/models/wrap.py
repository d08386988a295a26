"""Wrap a user's own ``nn.Module`` as a :class:`VideoModel`."""
from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from .base import InputSpec, VideoModel


def wrap(net: nn.Module, spec: InputSpec | None = None, class_names: Sequence[str] | None = None,
         num_classes: int | None = None, target_layers: Sequence[str] | None = None,
         name: str = "custom") -> VideoModel:
    """Wrap any video classifier taking ``(B, C, T, H, W)`` so every vidxai method can explain it.

    Missing facts are inferred: the number of classes from the last ``nn.Linear`` (or a 1x1x1 conv),
    the default CAM layer from the last 3-D (or 2-D) convolutional module.
    """
    if isinstance(net, VideoModel):
        return net
    spec = spec or InputSpec()
    if class_names is None and num_classes is None:
        num_classes = _infer_num_classes(net)
    if target_layers is None:
        target_layers = [default_cam_layer(net)] if default_cam_layer(net) else []
    model = VideoModel(net, spec, class_names, target_layers, name=name, weights="user", num_classes=num_classes)
    model.training = net.training  # the wrapper mirrors the user's mode instead of resetting it
    return model


def _infer_num_classes(net: nn.Module) -> int:
    last = None
    for m in net.modules():
        if isinstance(m, nn.Linear):
            last = m.out_features
        elif isinstance(m, (nn.Conv3d, nn.Conv2d)) and all(k == 1 for k in m.kernel_size):
            last = m.out_channels
    if last is None:
        raise ValueError("cannot infer the number of classes; pass num_classes= or class_names=")
    return last


def default_cam_layer(net: nn.Module) -> str | None:
    """Path of the last module that outputs a spatial feature map (a conv, or a block containing one)."""
    last = None
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)) and not all(k == 1 for k in m.kernel_size):
            last = name
    return last
