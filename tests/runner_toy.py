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


class RegionNet(nn.Module):
    """Decides from one known space-time box only: logit 0 = 5 x mean of channel 0 inside it, logit 1 = minus that."""

    REGION = (slice(2, 6), slice(8, 20), slice(12, 24))

    def forward(self, x):
        s = 5 * x[:, 0, self.REGION[0], self.REGION[1], self.REGION[2]].mean((1, 2, 3))
        return torch.stack([s, -s], 1)


def region_mask() -> torch.Tensor:
    m = torch.zeros(8, 32, 32, dtype=torch.bool)
    m[RegionNet.REGION] = True
    return m


def build_region_model():
    import vidxai

    spec = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)
    return vidxai.wrap(RegionNet(), spec=spec, class_names=["bright", "dark"], name="region-toy", num_classes=2)


class RegionClips(torch.utils.data.Dataset):
    """Noise clips whose ground truth is the region the RegionNet looks at."""

    def __init__(self, spec=None, class_names=None, num_clips: int = 8, seed: int = 0):
        self.n, self.seed = num_clips, seed

    def __len__(self):
        return self.n

    def clip_id(self, i):
        return f"region-{i}"

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(self.seed + i)
        x = torch.rand(3, 8, 32, 32, generator=g) + (0.5 if i % 2 == 0 else -1.5)
        mask = region_mask()
        box = torch.tensor([12.0, 8.0, 24.0, 20.0]).repeat(8, 1)
        box[~mask.flatten(1).any(1)] = float("nan")
        return {"clip": x, "label": i % 2, "clip_id": self.clip_id(i), "frame_indices": list(range(8)), "boxes": box,
                "masks": mask, "distractor_masks": torch.zeros_like(mask), "action_interval": (2, 6)}


def build_region_clips(spec=None, class_names=None, **kw):
    return RegionClips(spec, class_names, **kw)
