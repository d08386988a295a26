"""Maps people can read: display normalisation, labels that never get cut off, colour bars."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidxai import render
from vidxai.errors import UnknownNameError
from vidxai.render import colorbars as cb
from vidxai.render import text as textmod
from vidxai.render.colormaps import default_normalization, describe_normalization, normalize_maps, percentile_range


def sparse_map(seed: int = 0, shape=(16, 112, 112)) -> np.ndarray:
    """Guided-backprop-like: small noise everywhere, 0.1 % of the voxels 100-1000x larger."""
    rng = np.random.default_rng(seed)
    m = (rng.random(shape) * 0.01).astype(np.float32)
    hot = rng.random(shape) < 0.001
    m[hot] = 1.0 + 9.0 * rng.random(int(hot.sum()))
    return m


def test_percentile_makes_a_sparse_map_visible():
    m = sparse_map()
    share_minmax = (normalize_maps(m, "minmax") > 0.1).mean()
    share_pct = (normalize_maps(m, "percentile", 99.5) > 0.1).mean()
    assert share_minmax < 0.002  # the issue: after min-max only ~0.1 % exceed 0.1
    assert share_pct > 0.5  # the background texture now spans the colour map
    auto = normalize_maps(m, "auto", method="guided-backprop")
    np.testing.assert_array_equal(auto, normalize_maps(m, "percentile"))


def test_hand_computed_cases():
    x = np.array([0.0, 1.0, 2.0, 4.0], np.float32)
    np.testing.assert_allclose(normalize_maps(x, "minmax"), [0, 0.25, 0.5, 1])
    # 101 values 0..100: the 1st and 99th percentiles are 1 and 99 -> clip, then (v - 1) / 98
    y = np.arange(101, dtype=np.float32)
    assert percentile_range(y, 99.0) == pytest.approx((1.0, 99.0))
    out = normalize_maps(y, "percentile", 99.0)
    np.testing.assert_allclose(out[[0, 1, 50, 99, 100]], [0, 0, 49 / 98, 1, 1], rtol=1e-6)
    np.testing.assert_allclose(normalize_maps(np.array([-1.0, 0.5, 3.0]), "none"), [0, 0.5, 1])
    assert not normalize_maps(np.full((2, 3), 7.0), "minmax").any()  # constant -> 0, no NaN
    z = np.array([np.nan, 0.0, 2.0], np.float32)
    np.testing.assert_allclose(normalize_maps(z, "minmax"), [0, 0, 1])


def test_percentile_falls_back_when_most_values_are_equal():
    x = np.zeros(10_000, np.float32)
    x[:3] = [1.0, 2.0, 4.0]  # 99.97 % zeros: both percentiles are 0
    lo, hi = percentile_range(x, 99.5)
    assert lo == 0.0 and 0.0 < hi <= 4.0
    out = normalize_maps(x, "percentile")
    assert out.max() == 1.0 and (out > 0).sum() == 3


def test_torch_and_numpy_agree():
    m = sparse_map(1, (4, 20, 20))
    for mode in ("minmax", "percentile", "none", "auto"):
        a = normalize_maps(m, mode, method="gradcam")
        b = normalize_maps(torch.from_numpy(m), mode, method="gradcam")
        assert isinstance(a, np.ndarray) and isinstance(b, torch.Tensor) and b.dtype == torch.float32
        np.testing.assert_array_equal(a, b.numpy())
        assert a.shape == m.shape and 0.0 <= a.min() and a.max() <= 1.0


@pytest.mark.parametrize("method", ["gradient", "guided-backprop", "input-x-gradient", "integrated-gradients",
                                    "smoothgrad", "lrp-epsilon", "lrp-zplus", "guided-gradcam", "deconvnet"])
def test_pixel_methods_get_percentile(method):
    assert default_normalization(method) == "percentile"


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "swagv-ig", "swagv-i", "occlusion", "rise", "lime",
                                    "centre", "random", "saliency-tubes", None, "no-such-method"])
def test_coarse_methods_get_minmax(method):
    assert default_normalization(method) == "minmax"


def test_method_output_attribute_decides(monkeypatch):
    import vidxai.methods as registry

    cls = registry.get("gradcam")
    monkeypatch.setattr(cls, "output", "pixel", raising=False)
    assert default_normalization("gradcam") == "percentile"
    monkeypatch.setattr(cls, "output", "layer", raising=False)
    assert default_normalization("gradcam") == "minmax"


def test_describe_and_bad_modes():
    assert describe_normalization("percentile", 99.5) == "percentile:99.5"
    assert describe_normalization("percentile", 99) == "percentile:99"
    assert describe_normalization("minmax") == "minmax" and describe_normalization("none") == "none"
    with pytest.raises(UnknownNameError):
        normalize_maps(np.zeros(3), "percentil")
    with pytest.raises(UnknownNameError):
        describe_normalization("auto")


def _ink_columns(frames: np.ndarray, rows: slice) -> np.ndarray:
    return np.flatnonzero(frames[0, rows].max(axis=(0, 2)) > 0)


TITLE = "guided-backprop on i3d: throwing axe (class #12, p=0.913), percentile:99.5 display scaling"


@pytest.mark.parametrize("width", [112, 224, 1920])
def test_long_title_fits_at_any_width(width):
    h = width * 3 // 4
    frames = np.zeros((2, h, width, 3), np.uint8)
    out = render.label_frames(frames, TITLE, background=None)
    ink = np.argwhere(out[0].max(axis=2) > 0)
    assert len(ink), "nothing drawn"
    assert ink[:, 1].max() < width - 1 and ink[:, 1].min() > 0  # not touching (cut at) the right/left edge
    assert ink[:, 0].max() < (h // 4 + 2 if width > 112 else h // 2)  # a band at the top
    lay = textmod.fit_text(TITLE, width - 8, h - 4, textmod.font_size_for(h, width))
    assert not lay.cut and lay.width <= width - 8
    assert "".join(lay.lines).replace(" ", "") == TITLE.replace(" ", "")  # every character is there
    np.testing.assert_array_equal(out[0], out[1])  # same text, same pixels


def test_frame_numbers_are_readable_at_1080p():
    frames = np.zeros((3, 1080, 1920, 3), np.uint8)
    out = render.label_frames(frames, [f"frame {i}" for i in range(3)], position="bottom", background=None)
    rows = np.flatnonzero(out[0].max(axis=(1, 2)) > 0)
    assert rows.min() > 1000 and rows.max() < 1080
    assert rows.max() - rows.min() >= 25  # glyphs ~ 30+ px tall: readable on a 1080p screen
    assert not np.array_equal(out[0], out[1])  # each frame its own number


def test_grid_titles_shrink_to_fit():
    a = np.zeros((2, 56, 56, 3), np.uint8)
    g = render.grid([a, a], titles=["input", TITLE], pad=4, title_height=14)
    bar = g[0, :14, 60:116]
    ink = np.flatnonzero((bar.max(axis=(0, 2)).astype(int) - 32) > 40)
    assert len(ink) and ink.min() > 0 and ink.max() < 55


def test_colorbar_strip_and_labels():
    bar = cb.colorbar(400, "jet", "percentile:99.5")
    assert bar.shape == (28, 400, 3) and bar.dtype == np.uint8
    strip_row = bar[5, 8:392]
    lut = render.lut("jet")
    np.testing.assert_array_equal(strip_row[0], lut[0])
    np.testing.assert_array_equal(strip_row[-1], lut[-1])
    assert (bar[20:] != 32).any()  # labels drawn under the strip
    assert cb.colorbar_labels("percentile:99.5") == ("p0.5", "p99.5+")
    assert cb.colorbar_labels("minmax") == ("min", "max") and cb.colorbar_labels(None) == ("min", "max")
    assert cb.colorbar_labels("none") == ("0", "1")


def test_add_colorbar_appends_below_and_keeps_even_size():
    frames = np.full((3, 50, 64, 3), 9, np.uint8)
    out = cb.add_colorbar(frames, "viridis", "minmax")
    assert out.shape[0] == 3 and out.shape[2] == 64 and out.shape[1] > 50 and out.shape[1] % 2 == 0
    np.testing.assert_array_equal(out[:, :50], frames)
    np.testing.assert_array_equal(out[0, 50:], out[2, 50:])
    css = cb.colorbar_css("jet")
    assert css.startswith("linear-gradient(to right, #") and "100.0%" in css


def test_overlay_accepts_a_normalisation_mode():
    frames = np.zeros((16, 112, 112, 3), np.uint8)
    m = sparse_map()
    minmax = render.overlay(frames, m, normalize=True)
    auto = render.overlay(frames, m, normalize="auto", method="guided-backprop")
    assert (auto != minmax).mean() > 0.3
