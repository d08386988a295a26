"""Explanation in a notebook (_repr_html_) and as a file (to_video)."""
from __future__ import annotations

import base64
import re

import numpy as np
import pytest
import torch

from vidxai.explanation import Explanation
from vidxai.io.transforms import ClipGeometry
from vidxai.render import display


def _exp(t=8, h=32, w=40, method="guided-backprop", **kw) -> Explanation:
    sal = torch.zeros(t, h, w)
    sal[:, 8:16, 10:20] = torch.linspace(0.2, 1.0, t)[:, None, None]
    return Explanation(saliency=sal, method=method, target=3, target_name="juggling", probability=0.91, **kw)


def test_repr_html_is_an_inline_gif_with_caption():
    exp = _exp(frames=np.full((8, 32, 40, 3), 120, np.uint8))
    page = exp._repr_html_()
    m = re.search(r'src="data:image/gif;base64,([^"]+)"', page)
    assert m
    data = base64.b64decode(m.group(1))
    assert data[:6] in (b"GIF87a", b"GIF89a") and len(data) <= display.MAX_INLINE_BYTES
    assert "guided-backprop: juggling (#3, p=0.910)" in page and "percentile:99.5" in page
    assert "pass the clip" not in page
    assert "pass the clip" in _exp()._repr_html_()  # no frames: the map alone, and a hint


def test_inline_gif_is_capped():
    rng = np.random.default_rng(0)
    noisy = rng.integers(0, 255, (24, 200, 200, 3), dtype=np.uint8)  # incompressible
    data = display.inline_gif(noisy, fps=8, max_bytes=150_000)
    assert len(data) <= 150_000 and data[:3] == b"GIF"


@pytest.mark.parametrize("suffix", [".mp4", ".gif", ""])
def test_to_video_writes_each_format(tmp_path, suffix):
    from vidxai.io import read_video

    exp = _exp()
    frames = np.zeros((8, 32, 40, 3), np.uint8)
    path = exp.to_video(tmp_path / f"out{suffix}", frames=frames, fps=4)
    if suffix:
        assert path == tmp_path / f"out{suffix}" and path.is_file()
        video = read_video(path)
        video = video[0] if isinstance(video, tuple) else video
        assert len(video) == 8
    else:
        assert path.is_dir() and len(list(path.glob("frame_*.png"))) == 8
    assert not list(tmp_path.glob(".*"))  # no temporary leftovers


def test_overlay_lands_on_the_hot_region_and_uses_the_geometry():
    exp = _exp(method="gradcam")  # min-max: the box's last frame is the hottest value (dark red in jet)
    video = display.explanation_frames(exp, np.zeros((8, 32, 40, 3), np.uint8), alpha=1.0, label=False)
    assert video[-1, 10, 15, 0] > 100 and video[-1, 10, 15, 2] < 50  # red inside the box
    assert video[-1, 28, 2, 2] > 100 and video[-1, 28, 2, 0] < 50  # blue outside
    # original frames 64x80: the map (model input 32x40, no crop) is mapped back through the geometry
    geo = ClipGeometry(original_size=(64, 80), resized_size=(32, 40), crop_box=(0, 0, 32, 40))
    exp.geometry = geo
    big = display.explanation_frames(exp, np.zeros((8, 64, 80, 3), np.uint8), label=False)
    assert big.shape == (8, 64, 80, 3)
    hot = big[-1, 24, 30].astype(int)  # inside the scaled-up hot box (rows 16..32, cols 20..40)
    cold = big[-1, 60, 4].astype(int)
    assert hot[0] > cold[0]  # red channel: the hot box is warm, the rest blue (jet)
