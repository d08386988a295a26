"""Shared fixtures. Tests keep to tiny models and small clips so the suite runs in minutes on 2 cores."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))

REPO = Path(__file__).resolve().parents[1]


def realdata_dir() -> Path | None:
    """``$VIDXAI_REALDATA`` or ``../shared/realdata`` next to the repository, when present."""
    env = os.environ.get("VIDXAI_REALDATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "realdata"]:
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="session")
def realdata() -> Path:
    path = realdata_dir()
    if path is None:
        pytest.skip("real data not found: set VIDXAI_REALDATA or put shared/realdata next to the repository")
    return path


class TinyNet3D(nn.Module):
    """A small random 3-D CNN: conv-bn-relu x2, global pool, linear. Shared by many tests."""

    def __init__(self, num_classes: int = 5, width: int = 8, inplace: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, width, 3, padding=1), nn.BatchNorm3d(width), nn.ReLU(inplace=inplace),
            nn.MaxPool3d((1, 2, 2)),
            nn.Conv3d(width, 2 * width, 3, padding=1, stride=(2, 1, 1)), nn.BatchNorm3d(2 * width),
            nn.ReLU(inplace=inplace),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(2 * width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


@pytest.fixture
def tiny_model():
    """A wrapped random TinyNet3D (5 classes, 8x32x32 clips), eval mode, seeded."""
    import vidxai

    torch.manual_seed(0)
    net = TinyNet3D()
    net.eval()
    spec = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)
    return vidxai.wrap(net, spec=spec, class_names=[f"c{i}" for i in range(5)], target_layers=["features.5"],
                       name="tiny")


@pytest.fixture
def tiny_clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 8, 32, 32, generator=g)
