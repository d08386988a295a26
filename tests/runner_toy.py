"""A tiny model builder for runner tests run in subprocesses (``builder: runner_toy:build``)."""
import torch
from torch import nn


def build(num_classes: int = 5, seed: int = 0):
    import vidxai

    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool3d((1, 2, 2)),
                        nn.Conv3d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool3d(1), nn.Flatten(),
                        nn.Linear(16, num_classes))
    spec = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)
    return vidxai.wrap(net.eval(), spec=spec, class_names=[f"c{i}" for i in range(num_classes)],
                       target_layers=["4"], name="runner-toy")
