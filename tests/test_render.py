"""Rendering: colour-map LUTs, blending, boundaries, labels, grids, curve plots, mapping back to the original video."""
from __future__ import annotations

import json
from types import SimpleNamespace

import matplotlib
import numpy as np
import pytest
import torch

from vidxai import render
from vidxai.errors import ShapeError, UnknownNameError


@pytest.mark.parametrize("name", ["jet", "viridis", "inferno", "gray"])
def test_colorize_equals_matplotlib(name):
    rng = np.random.default_rng(0)
    maps = rng.random((3, 17, 23)).astype(np.float32)
    maps[0, 0, :6] = [0.0, 1.0, 0.5, 1 / 256, 255 / 256, 0.999999]  # the quantisation edges
    expected = matplotlib.colormaps[name](maps, bytes=True)[..., :3]
    got = render.colorize(maps, name)
    assert got.dtype == np.uint8 and got.shape == (3, 17, 23, 3)
    np.testing.assert_array_equal(got, expected)
    # torch input gives the same colours; out-of-range values clamp to the end colours like matplotlib
    np.testing.assert_array_equal(render.colorize(torch.from_numpy(maps), name), expected)
    edge = render.colorize(np.array([[-0.5, 1.5]], np.float32), name)
    np.testing.assert_array_equal(edge[0], matplotlib.colormaps[name](np.array([0.0, 1.0]), bytes=True)[:, :3])


def test_lut_is_cached_and_unknown_colormap_suggests():
    assert render.lut("jet") is render.lut("jet")
    assert render.lut("jet").shape == (256, 3)
    with pytest.raises(UnknownNameError, match="viridis"):
        render.lut("viridiss")


def test_overlay_alpha_blend_exact_constant_case():
    frames = np.full((2, 6, 8, 3), (10, 200, 40), dtype=np.uint8)
    maps = np.ones((2, 6, 8), np.float32)
    c = render.lut("jet")[255].astype(np.float64)  # value 1 -> last entry
    out = render.overlay(frames, maps, alpha=0.25, colormap="jet")
    expected = np.rint(0.75 * np.array([10, 200, 40]) + 0.25 * c).astype(np.uint8)
    assert (out == expected).all()
    # alpha 0 returns the frames, alpha 1 the colours
    np.testing.assert_array_equal(render.overlay(frames, maps, alpha=0.0), frames)
    assert (render.overlay(frames, maps * 0, alpha=1.0) == render.lut("jet")[0]).all()
    # weighted opacity: zero map leaves pixels untouched
    np.testing.assert_array_equal(render.overlay(frames, maps * 0, alpha=0.8, weighted=True), frames)


def test_overlay_resizes_and_rejects_bad_shapes():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    out = render.overlay(frames, np.ones((2, 4, 4), np.float32), alpha=1.0)
    assert (out == render.lut("jet")[255]).all()
    with pytest.raises(ShapeError):
        render.overlay(frames, np.ones((3, 8, 8)), alpha=0.5)
    with pytest.raises(ShapeError):
        render.overlay(frames.astype(np.float32), np.ones((2, 8, 8)))


def test_boundaries_exactly_where_labels_change():
    labels = np.zeros((2, 6, 9), np.int64)
    labels[:, :, 5:] = 1  # vertical border between columns 4 and 5
    labels[1, 3:, :] = 2  # frame 1: horizontal border between rows 2 and 3
    mask = render.boundary_mask(labels)
    expected = np.zeros_like(mask)
    expected[:, :, 4] = True
    expected[1, 3:, 4] = False  # below row 3 of frame 1 everything is label 2
    expected[1, 2, :] = True
    np.testing.assert_array_equal(mask, expected)
    frames = np.full((2, 6, 9, 3), 7, np.uint8)
    out = render.draw_boundaries(frames, labels, color=(255, 0, 0))
    np.testing.assert_array_equal(np.all(out == (255, 0, 0), axis=-1), expected)
    np.testing.assert_array_equal(out[~expected], frames[~expected])


def test_boundaries_from_low_resolution_labels_use_nearest():
    labels = torch.tensor([[[0, 1], [0, 1]]])  # (1, 2, 2) -> 4x4: border between cols 1 and 2
    out = render.draw_boundaries(np.zeros((1, 4, 4, 3), np.uint8), labels, color=(9, 9, 9))
    drawn = out[0, :, :, 0] == 9
    assert drawn[:, 1].all() and drawn.sum() == 4


def test_label_frames_and_boxes_draw_only_where_expected():
    frames = np.zeros((3, 60, 120, 3), np.uint8)
    out = render.label_frames(frames, ["a", "", "class p=0.90"])
    assert out[0, :20].any() and not out[1].any() and out[2, :20].any()
    assert not out[:, 30:].any()  # top label stays in the top band
    boxes = np.array([[10, 20, 30, 40], [np.nan] * 4, [0, 0, 120, 60]], np.float32)
    b = render.draw_boxes(frames, boxes, color=(0, 255, 0), thickness=1)
    assert (b[0, 20, 10:30, 1] == 255).all() and (b[0, 39, 10:30, 1] == 255).all()  # y2 exclusive
    assert b[0, 30, 15].sum() == 0 and not b[1].any()
    with pytest.raises(ShapeError):
        render.label_frames(frames, ["only", "two"])


def test_grid_layout_places_videos_and_titles():
    a = np.full((4, 20, 30, 3), 50, np.uint8)
    b = np.full((2, 20, 30, 3), 150, np.uint8)  # shorter: holds its last frame
    g = render.grid([a, b], titles=["a", "b"], pad=4, title_height=16)
    assert g.shape == (4, 36, 64, 3)
    assert (g[:, 16:36, 0:30] == 50).all()
    assert (g[:, 16:36, 34:64] == 150).all()
    assert (g[:, :, 30:34] == 0).all()  # padding
    assert g[:, :16].any()  # title bars drawn
    g3 = render.grid([a, a, a], cols=2)
    assert g3.shape[1] % 2 == 0 and g3.shape[2] % 2 == 0 and g3.shape[1] >= 44


def _geometry(original, resized, crop_box):
    """A ClipGeometry-like object (the mapping under test is vidxai.render.labels_to_original)."""
    return SimpleNamespace(original_size=original, resized_size=resized, crop_box=crop_box)


def test_labels_to_original_inverts_resize_and_crop():
    # original 60x90 -> short side 40 -> 40x60 -> centre crop 40x40 at left=10
    geom = _geometry((60, 90), (40, 60), (0, 10, 40, 40))
    labels = torch.zeros((1, 40, 40), dtype=torch.long)
    labels[:, :, 20:] = 1
    up = render.labels_to_original(labels, geom)
    assert up.shape == (1, 60, 90)
    # crop covers resized cols 10..50 -> original cols 15..75
    assert (up[0, :, :15] == -1).all() and (up[0, :, 75:] == -1).all()
    assert (up[0, :, 15:45] == 0).all() and (up[0, :, 45:75] == 1).all()


def test_heatmap_blob_lands_at_the_right_original_pixels():
    """A blob at known model coordinates appears where it should on a non-square original after resize+crop."""
    io = pytest.importorskip("vidxai.io")
    if not hasattr(io, "preprocess"):
        pytest.skip("vidxai.io.preprocess not available yet")
    from vidxai import InputSpec

    spec = InputSpec(num_frames=4, crop=(32, 32), short_side=40)
    frames = np.zeros((4, 80, 120, 3), np.uint8)  # H0=80, W0=120 -> resized 40x60 -> crop 32x32 at (4, 14)
    _, geom = io.preprocess(frames, spec)
    assert tuple(geom.original_size) == (80, 120)
    maps = torch.zeros((4, 32, 32))
    maps[:, 8:16, 20:28] = 1.0  # model rows 8..16, cols 20..28
    up = geom.to_original(maps)
    assert up.shape == (4, 80, 120)
    top, left = geom.crop_box[0], geom.crop_box[1]
    # model (r, c) -> resized (r + top, c + left) -> original x2 (scale 2)
    r0, r1 = 2 * (8 + top), 2 * (16 + top)
    c0, c1 = 2 * (20 + left), 2 * (28 + left)
    inner = up[:, r0 + 2:r1 - 2, c0 + 2:c1 - 2]
    assert (inner > 0.9).all()
    outside = up.clone()
    outside[:, r0 - 2:r1 + 2, c0 - 2:c1 + 2] = 0
    assert outside.abs().max() < 1e-6
    # the peak of the mapped heat is at the blob's centre
    cy, cx = np.unravel_index(int(up[0].argmax()), up.shape[1:])
    assert r0 <= cy < r1 and c0 <= cx < c1
    # and the rendered overlay is hot exactly there
    over = render.overlay(frames, up.clamp(0, 1), alpha=1.0)
    hot = render.lut("jet")[255]
    assert (over[:, r0 + 2:r1 - 2, c0 + 2:c1 - 2] == hot).all()
    # labels mapped through the real geometry agree with the heat's footprint
    lab = render.labels_to_original((maps > 0).long(), geom)
    assert (lab[:, r0 + 1:r1 - 1, c0 + 1:c1 - 1] == 1).all()
    assert (lab[0] == -1).sum() == 80 * 120 - 64 * 64


def test_plot_curves_writes_png(tmp_path):
    fr = torch.linspace(0, 1, 5)
    res = SimpleNamespace(fractions=fr, deletion=torch.tensor([[1, .5, .2, .1, 0.]]),
                          insertion=torch.tensor([[0, .3, .6, .9, 1.]]), deletion_auc=torch.tensor([0.3]),
                          insertion_auc=torch.tensor([0.6]))
    p = render.plot_curves({"a": res, "b": res}, tmp_path / "c.png", title="t")
    data = p.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_save_png_sequence_and_report_html(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (3, 8, 10, 3), dtype=np.uint8)
    d = render.save_video(tmp_path / "overlay_x", frames, fps=5, fmt="png")
    import cv2

    pngs = sorted(d.glob("*.png"))
    assert len(pngs) == 3
    np.testing.assert_array_equal(cv2.imread(str(pngs[1]))[..., ::-1], frames[1])
    result = {"video": {"path": "/x/clip <1>.mp4", "fps": 5, "width": 10, "height": 8, "num_frames": 3},
              "predictions": [{"index": 1, "name": "a&b", "probability": 0.75}], "target": {"index": 1, "name": "a&b"},
              "methods": [{"name": "m", "overlay": "overlay_x/", "deletion_auc": 0.1, "insertion_auc": 0.5}],
              "outputs": {"curves": "curves.png"}}
    (tmp_path / "result.json").write_text(json.dumps(result))
    page = render.write_report(tmp_path).read_text()
    assert "clip &lt;1&gt;.mp4" in page and "a&amp;b" in page and "overlay_x/frame_00000.png" in page
    assert 'src="curves.png"' in page and "$" not in page.replace("$ ", "")
