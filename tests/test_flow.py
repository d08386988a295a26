"""vidxai.io.flow: optical flow of hand-made clips (a textured square translated by known pixels), the time
convention, DeepMind's I3D scaling, the flow colour coding and the errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidxai.errors import ShapeError, UnknownNameError, UnsupportedModelError
from vidxai.io.flow import flow_to_rgb, i3d_flow_scale, optical_flow, optical_flow_batch, to_grey

DX, DY = 2, 1  # the square moves 2 pixels right and 1 pixel down per frame


def square_clip(frames: int = 4, size: int = 64, seed: int = 0) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """A 16x16 random texture on a flat grey background, translated by (DX, DY) per frame; grey uint8 (T, H, W)
    and the square's top-left corner (x, y) per frame."""
    tex = np.random.default_rng(seed).integers(120, 256, (16, 16)).astype(np.uint8)
    clip = np.full((frames, size, size), 60, np.uint8)
    corners = [(16 + DX * t, 20 + DY * t) for t in range(frames)]
    for t, (x, y) in enumerate(corners):
        clip[t, y:y + 16, x:x + 16] = tex
    return clip, corners


def test_farneback_recovers_the_translation_inside_the_square():
    clip, corners = square_clip()
    flow = optical_flow(clip)
    assert flow.shape == (2, 4, 64, 64) and flow.dtype == np.float32
    for t in range(3):
        x, y = corners[t]
        inner = (slice(y + 4, y + 12), slice(x + 4, x + 12))  # away from the square's edges
        np.testing.assert_allclose(flow[0, t][inner].mean(), DX, atol=0.05)
        np.testing.assert_allclose(flow[1, t][inner].mean(), DY, atol=0.05)
        assert np.abs(flow[:, t, :8, :8]).max() < 0.05  # the flat background far from the square stays still
    assert not flow[:, 3].any()  # last="zero": the last frame has no next frame


def test_dis_recovers_the_direction_of_the_translation():
    clip, corners = square_clip()
    flow = optical_flow(clip, method="dis")
    x, y = corners[0]
    dx, dy = flow[0, 0, y + 4:y + 12, x + 4:x + 12].mean(), flow[1, 0, y + 4:y + 12, x + 4:x + 12].mean()
    # DIS is a coarse-to-fine patch search: less exact than Farneback on this clip (measured 1.76, 0.91)
    assert abs(dx - DX) < 0.5 and abs(dy - DY) < 0.3 and dx > dy > 0


def test_rgb_frames_give_the_flow_of_their_grey_image_and_last_modes():
    grey, _ = square_clip(frames=3)
    rgb = np.repeat(grey[..., None], 3, axis=-1)  # R = G = B: the grey image is the frame itself
    np.testing.assert_array_equal(to_grey(rgb), grey)
    np.testing.assert_array_equal(optical_flow(rgb), optical_flow(grey))
    full = optical_flow(grey, last="zero")
    np.testing.assert_array_equal(optical_flow(grey, last="drop"), full[:, :2])
    repeat = optical_flow(grey, last="repeat")
    np.testing.assert_array_equal(repeat[:, 2], full[:, 1])
    batch = optical_flow_batch(np.stack([rgb, rgb[::-1]]))
    assert batch.shape == (2, 2, 3, 64, 64)
    np.testing.assert_array_equal(batch[0], full)


def test_grey_uses_opencvs_weights():
    import cv2

    frames = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3)).astype(np.uint8)
    expected = np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
    assert np.abs(to_grey(frames).astype(int) - expected.astype(int)).max() <= 1  # rounding only
    np.testing.assert_array_equal(to_grey(frames.astype(np.float32) / 255.0), to_grey(frames))


def test_i3d_scaling_by_hand():
    flow = np.array([-30.0, -20.0, -10.0, 0.0, 5.0, 20.0, 40.0])
    np.testing.assert_allclose(i3d_flow_scale(flow), [-1.0, -1.0, -0.5, 0.0, 0.25, 1.0, 1.0])
    np.testing.assert_allclose(i3d_flow_scale(torch.tensor(flow), bound=10.0).numpy(),
                               [-1.0, -1.0, -1.0, 0.0, 0.5, 1.0, 1.0])


def test_flow_colours_by_direction():
    # one frame, four pixels moving right, down, left, up at speed 1 and one still pixel
    flow = np.zeros((2, 1, 1, 5), np.float32)
    flow[0, 0, 0, 0], flow[1, 0, 0, 1], flow[0, 0, 0, 2], flow[1, 0, 0, 3] = 1, 1, -1, -1
    rgb = flow_to_rgb(flow)[0, 0]
    # HSV with hue = angle (0 right, 90 down, 180 left, 270 up), value = speed: red, chartreuse, cyan, violet, black
    assert rgb.tolist() == [[255, 0, 0], [128, 255, 0], [0, 255, 255], [128, 0, 255], [0, 0, 0]]
    assert flow_to_rgb(flow, max_magnitude=2.0)[0, 0, 0].tolist() == [128, 0, 0]  # half speed, half brightness


def test_errors():
    with pytest.raises(ShapeError, match="at least 2 frames"):
        optical_flow(np.zeros((1, 8, 8), np.uint8))
    with pytest.raises(ShapeError):
        optical_flow(np.zeros((8, 8), np.uint8))
    with pytest.raises(UnknownNameError, match="farneback"):
        optical_flow(np.zeros((2, 8, 8), np.uint8), method="farnback")
    with pytest.raises(UnknownNameError):
        optical_flow(np.zeros((2, 8, 8), np.uint8), last="pad")
    with pytest.raises(ShapeError):
        flow_to_rgb(np.zeros((3, 1, 2, 2)))


def test_tvl1_runs_or_says_what_to_install():
    import cv2

    clip, _ = square_clip(frames=2)
    if hasattr(cv2, "optflow"):
        assert optical_flow(clip, method="tvl1").shape == (2, 2, 64, 64)
    else:
        with pytest.raises(UnsupportedModelError, match="opencv-contrib"):
            optical_flow(clip, method="tvl1")
