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


class TwoPathwayNet(nn.Module):
    """A SlowFast-shaped toy: ``net([slow (B, 3, T/alpha, H, W), fast (B, 3, T, H, W)])``: one conv + ReLU (+ an
    optional max pool) per pathway, mean-pooled, concatenated, one linear classifier. The sizes differ between
    tests (the layers are created in the same order, so a seed gives the same weights for the same sizes)."""

    def __init__(self, slow_channels: int = 6, fast_channels: int = 2, slow_kernel=(1, 3, 3), slow_pool=(1, 2, 2),
                 fast_pool=(1, 2, 2), num_classes: int = 3, inplace_fast: bool = False) -> None:
        super().__init__()
        kernel = (slow_kernel,) * 3 if isinstance(slow_kernel, int) else tuple(slow_kernel)
        self.slow = nn.Sequential(nn.Conv3d(3, slow_channels, kernel, padding=tuple(k // 2 for k in kernel)),
                                  nn.ReLU(), *([nn.MaxPool3d(slow_pool)] if slow_pool else []))
        self.fast = nn.Sequential(nn.Conv3d(3, fast_channels, 3, padding=1), nn.ReLU(inplace=inplace_fast),
                                  *([nn.MaxPool3d(fast_pool)] if fast_pool else []))
        self.fc = nn.Linear(slow_channels + fast_channels, num_classes)

    def forward(self, xs):
        return self.fc(torch.cat([self.slow(xs[0]).mean(dim=(2, 3, 4)), self.fast(xs[1]).mean(dim=(2, 3, 4))], 1))


class OneFrameClip(nn.Module):
    """Runs an image CNN on a one-frame clip ``(B, 3, 1, H, W)``: the video maths reduces to the 2-D one, so 2-D
    reference libraries (pytorch-grad-cam, captum's LRP) can check it. ``fc`` is the image CNN's classifier."""

    def __init__(self, net2d: nn.Module) -> None:
        super().__init__()
        self.net2d = net2d

    @property
    def fc(self) -> nn.Module:
        return self.net2d.fc

    def forward(self, x):
        return self.net2d(x[:, :, 0])


class ConvNet2D(nn.Module):
    """An image CNN for :class:`OneFrameClip`: conv + ReLU + max pool, one more conv + ReLU per further width,
    mean-pooled, one linear classifier ``fc``. The default is two convs (3 -> 6 -> 8, features.4 the last ReLU)."""

    def __init__(self, widths=(6, 8), num_classes: int = 4, pool: int = 2) -> None:
        super().__init__()
        layers, channels = [], 3
        for i, width in enumerate(widths):
            layers += [nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), *([nn.MaxPool2d(pool)] if i == 0 else [])]
            channels = width
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


class FunctionalNet(nn.Module):
    """``fc(fn(conv(x)).mean over T, H, W)``: a 3 -> 4 channel conv, a function called in ``forward`` (not a
    module, e.g. ``F.gelu`` or a gate), 2 classes. For the checks that functional activations are found."""

    def __init__(self, fn, kernel: int = 3) -> None:
        super().__init__()
        self.fn = fn
        self.conv = nn.Conv3d(3, 4, kernel, padding=kernel // 2)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.fn(self.conv(x)).mean(dim=(2, 3, 4)))


def pooled_act_net(act: nn.Module) -> nn.Sequential:
    """conv 3 -> 4, ``act`` (layer "1"), global average pool, linear 4 -> 2: any clip size."""
    return nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), act, nn.AdaptiveAvgPool3d(1), nn.Flatten(), nn.Linear(4, 2))


def gelu_flat_net(frames: int = 2, hw: int = 8) -> nn.Sequential:
    """1x1x1 conv 3 -> 2, GELU (layer "1"), flatten, linear to 2 classes: ``frames x hw x hw`` clips."""
    return nn.Sequential(nn.Conv3d(3, 2, 1), nn.GELU(), nn.Flatten(), nn.Linear(2 * frames * hw * hw, 2))


def linear_net(frames: int, height: int, width: int, num_classes: int) -> nn.Sequential:
    """flatten + one linear layer: the logits are linear in the clip (gradients are the weights)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(3 * frames * height * width, num_classes))


def tiny_wrapped(name: str = "tiny", class_names=None, weights=None):
    """TinyNet3D built under seed 0, eval mode, wrapped for 8x32x32 clips with target layer features.5 and 5 classes
    (``class_names``, default c0 .. c4); ``weights``: a checkpoint file loaded into it (None / "default": random)."""
    import vidxai

    torch.manual_seed(0)
    net = TinyNet3D()
    net.eval()
    if weights not in (None, "default"):
        from vidxai.models.checkpoint import load_file_into

        load_file_into(net, weights)
    spec = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)
    return vidxai.wrap(net, spec=spec, class_names=class_names or [f"c{i}" for i in range(5)],
                       target_layers=["features.5"], name=name)


TINY_CLI = "tiny-cli-test"  # the registry name test_cli and test_browser register tiny_cli_builder under


def tiny_cli_builder(weights=None, **kw):
    """Registry builder for :data:`TINY_CLI`: :func:`tiny_wrapped` with classes "class 0" .. "class 4"."""
    return tiny_wrapped(TINY_CLI, [f"class {i}" for i in range(5)], weights)


@pytest.fixture
def tiny_model():
    """A wrapped random TinyNet3D (5 classes, 8x32x32 clips), eval mode, seeded."""
    return tiny_wrapped()


@pytest.fixture
def tiny_clip() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.randn(2, 3, 8, 32, 32, generator=g)
