"""vidxai.render.tensorboard.log_explanation with a fake writer (no tensorboard package needed)."""
from __future__ import annotations

import numpy as np
import torch

from vidxai.explanation import Explanation
from vidxai.render.tensorboard import log_explanation
from vidxai.result import MethodResult


class FakeWriter:
    def __init__(self):
        self.videos, self.scalars = [], []

    def add_video(self, tag, vid_tensor, global_step=None, fps=4):
        self.videos.append((tag, vid_tensor, global_step, fps))

    def add_scalar(self, tag, value, global_step=None):
        self.scalars.append((tag, value, global_step))


def test_logs_overlay_video_and_aucs():
    exp = Explanation(saliency=torch.rand(6, 16, 20), method="gradcam", target=1, target_name="a",
                      probability=0.8, metadata={"deletion_auc": 0.2})
    w = FakeWriter()
    found = log_explanation(w, "clip0/gradcam", exp, step=3, frames=np.zeros((6, 16, 20, 3), np.uint8),
                            scores=MethodResult(name="gradcam", deletion_auc=0.1, insertion_auc=0.7), fps=5)
    (tag, vid, step, fps), = w.videos
    assert tag == "clip0/gradcam" and step == 3 and fps == 5
    assert isinstance(vid, torch.Tensor) and vid.dtype == torch.uint8 and tuple(vid.shape) == (1, 6, 3, 16, 20)
    assert vid.float().std() > 0  # heat drawn
    scalars = {t: v for t, v, _ in w.scalars}
    assert scalars == {"clip0/gradcam/deletion_auc": 0.1, "clip0/gradcam/insertion_auc": 0.7,
                       "clip0/gradcam/probability": 0.8} == {f"clip0/gradcam/{k}": v for k, v in found.items()}
    assert all(s == 3 for _, _, s in w.scalars)


def test_works_without_scores_or_frames():
    w = FakeWriter()
    exp = Explanation(saliency=torch.rand(2, 8, 8), method="gradient", target=0)
    assert log_explanation(w, "x", exp) == {}  # NaN probability is not logged
    assert tuple(w.videos[0][1].shape) == (1, 2, 3, 8, 8)
