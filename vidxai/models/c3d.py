"""C3D (Tran et al. 2015), the 3-D ConvNet of "Learning Spatiotemporal Features with 3D Convolutional Networks".

Eight 3x3x3 convolutions, five max-pools, two 4096-wide fully connected layers; 16x112x112 clips. The
Sports-1M model has 487 classes. There is no download: ``weights="default"`` loads ``$VIDXAI_C3D_CKPT`` or
``<cache>/c3d/c3d.pickle`` (the usual PyTorch port of the Caffe Sports-1M weights, e.g. DavideA/c3d-pytorch's
``c3d.pickle``, whose keys ``conv1.weight`` ... ``fc8.bias`` match this module), and says how to provide it when
absent. That port feeds RGB frames with values in [0, 255] and no mean subtraction, which is the input spec
here. ``num_classes=`` builds other heads (e.g. 101 for UCF101 fine-tuning) and ``class_names=`` names them.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import MissingCheckpointError
from . import register
from .base import InputSpec, VideoModel
from .checkpoint import cache_dir, load_file_into, resolve
from .layers import MaxPool3d

ENV_CKPT = "VIDXAI_C3D_CKPT"
# The port wants RGB in [0, 255]: [0, 1] pixels divided by std = 1/255.
SPEC = InputSpec(num_frames=16, crop=(112, 112), short_side=128, std=(1 / 255, 1 / 255, 1 / 255), min_frames=16,
                 fixed_frames=True, fixed_size=True)


class C3D(nn.Module):
    """C3D with named layers ``conv1`` ... ``conv5b``, ``fc6``-``fc8`` and one ReLU module per layer.

    The fc6 layer expects 512 x 1 x 4 x 4 features, i.e. exactly 16 x 112 x 112 input clips.
    """

    def __init__(self, num_classes: int = 487, dropout: float = 0.5) -> None:
        super().__init__()
        conv = [("conv1", 3, 64), ("conv2", 64, 128), ("conv3a", 128, 256), ("conv3b", 256, 256),
                ("conv4a", 256, 512), ("conv4b", 512, 512), ("conv5a", 512, 512), ("conv5b", 512, 512)]
        for name, cin, cout in conv:
            setattr(self, name, nn.Conv3d(cin, cout, kernel_size=3, padding=1))
            setattr(self, "relu" + name[4:], nn.ReLU())
        self.pool1 = MaxPool3d((1, 2, 2), (1, 2, 2))
        self.pool2 = MaxPool3d(2, 2)
        self.pool3 = MaxPool3d(2, 2)
        self.pool4 = MaxPool3d(2, 2)
        self.pool5 = MaxPool3d(2, 2, padding=(0, 1, 1))
        self.fc6, self.relu6 = nn.Linear(8192, 4096), nn.ReLU()
        self.fc7, self.relu7 = nn.Linear(4096, 4096), nn.ReLU()
        self.fc8 = nn.Linear(4096, num_classes)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.relu1(self.conv1(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        x = self.pool3(self.relu3b(self.conv3b(self.relu3a(self.conv3a(x)))))
        x = self.pool4(self.relu4b(self.conv4b(self.relu4a(self.conv4a(x)))))
        x = self.pool5(self.relu5b(self.conv5b(self.relu5a(self.conv5a(x)))))
        x = self.dropout(self.relu6(self.fc6(x.flatten(1))))
        x = self.dropout(self.relu7(self.fc7(x)))
        return self.fc8(x)


def default_checkpoint() -> Path:
    """``$VIDXAI_C3D_CKPT`` or ``<cache>/c3d/c3d.pickle``."""
    env = os.environ.get(ENV_CKPT)
    return Path(env).expanduser() if env else cache_dir("c3d", create=False) / "c3d.pickle"


@register("c3d", description="C3D (Tran et al. 2015), Sports-1M 487 classes, from a local checkpoint", spec=SPEC,
          weight_source=f"local file (${ENV_CKPT} or ~/.cache/vidxai/c3d/c3d.pickle)", family="c3d")
def build_c3d(weights: object = "default", num_classes: int = 487, class_names: Sequence[str] | None = None,
              dropout: float = 0.5) -> VideoModel:
    """C3D. weights: 'default' (the local Sports-1M checkpoint), None, or a path."""
    if class_names is not None:
        num_classes = len(class_names)
    net = C3D(num_classes=num_classes, dropout=dropout)

    def default() -> str:
        path = default_checkpoint()
        if not path.is_file():
            raise MissingCheckpointError(
                f"no C3D checkpoint at {path}; C3D weights are not downloadable by vidxai: get the Sports-1M "
                f"PyTorch port (c3d.pickle, e.g. from DavideA/c3d-pytorch) and put it there, set {ENV_CKPT}=<file>, "
                f"or pass weights=<file> (CLI: --weights PATH), or weights=None for random init")
        return load_file_into(net, path)

    source = resolve(net, weights, "c3d", {"default": default, "sports1m": default})
    return VideoModel(net, SPEC, class_names, ["relu5b"], name="c3d", weights=source, num_classes=num_classes)
