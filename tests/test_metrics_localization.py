"""Weak localisation: boxes from the three threshold schemes on hand-made maps, IoU, calibration."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from vidxai.errors import ShapeError, UnknownNameError
from vidxai.metrics import THRESHOLDS, Localization, localization_iou, saliency_boxes
from vidxai.metrics.boxes import masks_to_boxes

NAN = float("nan")


def hand_map():
    # one frame, H=4 rows x W=6 columns (non-square so x/y swaps show)
    m = torch.zeros(1, 1, 4, 6)
    m[0, 0, 1, 4] = 1.0
    m[0, 0, 2, 1] = 0.6
    m[0, 0, 3, 5] = 0.3
    return m


def boxes(m, scheme, th):
    return saliency_boxes(m, scheme, th)[0, :, 0].tolist()


def test_threshold_grids():
    np.testing.assert_allclose(THRESHOLDS["value"].numpy(), np.arange(0, 0.951, 0.05), atol=1e-6)
    np.testing.assert_allclose(THRESHOLDS["mean"].numpy(), np.arange(0, 10.01, 0.5), atol=1e-6)
    np.testing.assert_allclose(THRESHOLDS["energy"].numpy(), np.arange(0, 96, 5), atol=1e-6)
    assert [len(v) for v in THRESHOLDS.values()] == [20, 21, 20]


def test_value_scheme_hand_computed():
    m = hand_map()
    assert boxes(m, "value", [0.0, 0.5, 0.7]) == [[0, 0, 6, 4], [1, 1, 5, 3], [4, 1, 5, 2]]
    # normalisation: scaling and shifting the map changes nothing
    assert boxes(m * 7 + 2, "value", [0.5]) == [[1, 1, 5, 3]]


def test_mean_scheme_hand_computed():
    m = hand_map()  # mean = 1.9 / 24
    assert boxes(m, "mean", [4.0, 3.0, 12.0]) == [[1, 1, 5, 3], [1, 1, 6, 4], [4, 1, 5, 2]]


def test_energy_scheme_hand_computed():
    m = hand_map()  # total mass 1.9: 1.0 holds 52.6 %, 1.0 + 0.6 holds 84.2 %
    out = boxes(m, "energy", [0.0, 50.0, 60.0, 95.0])
    assert all(math.isnan(v) for v in out[0])  # alpha = 0 keeps nothing
    assert out[1:] == [[4, 1, 5, 2], [1, 1, 5, 3], [1, 1, 6, 4]]


def test_schemes_match_explicit_masks_on_random_maps():
    g = torch.Generator().manual_seed(0)
    s = torch.rand(2, 3, 9, 7, generator=g) ** 3
    for scheme in THRESHOLDS:
        got = saliency_boxes(s, scheme)
        for b in range(2):
            v = s[b].numpy().astype(np.float64)
            v = (v - v.min()) / (v.max() - v.min())
            for k, a in enumerate(THRESHOLDS[scheme].tolist()):
                if scheme == "value":
                    keep = v >= a - 1e-7
                elif scheme == "mean":
                    keep = v >= a * v.mean() - 1e-7
                else:
                    flat = np.sort(v.ravel())[::-1]
                    n = int(np.sum(np.cumsum(flat) - flat < a / 100 * flat.sum()))
                    keep = v >= flat[n - 1] if n else np.zeros_like(v, bool)
                exp = masks_to_boxes(torch.from_numpy(keep))
                torch.testing.assert_close(got[b, k], exp, equal_nan=True, msg=f"{scheme} {a}")


def test_largest_component_against_skimage():
    from skimage.measure import label, regionprops

    m = torch.zeros(1, 2, 8, 10)
    m[0, 0, 0:2, 0:2] = 1.0  # small blob
    m[0, 0, 4:8, 5:9] = 0.8  # big blob
    m[0, 1, 1:3, 6:10] = 0.9  # frame 2: one blob plus a diagonal touch (8-connected)
    m[0, 1, 3, 5] = 0.9
    b = saliency_boxes(m, "value", [0.5], largest_component=True)[0, 0]
    for t in range(2):
        lab = label(m[0, t].numpy() >= 0.5, connectivity=2)
        big = max(regionprops(lab), key=lambda r: r.area)
        r0, c0, r1, c1 = big.bbox
        assert b[t].tolist() == [c0, r0, c1, r1]
    assert saliency_boxes(m, "value", [0.5])[0, 0, 0].tolist() == [0, 0, 9, 8]


def test_iou_per_frame_and_skipped_frames():
    m = torch.zeros(1, 3, 4, 6)
    m[0, :, 1:3, 1:4] = 1.0  # box [1, 1, 4, 3] in every frame
    gt = torch.tensor([[[1, 1, 4, 3], [NAN] * 4, [1, 1, 4, 5]]], dtype=torch.float32)
    iou = localization_iou(m, gt, "value", [0.5])
    # frame 0: 1.0, frame 1 skipped, frame 2: 6 / 12
    assert iou.shape == (1, 1) and iou.item() == pytest.approx(0.75)
    none = localization_iou(m, torch.full((1, 3, 4), NAN), "value", [0.5])
    assert torch.isnan(none).all()
    # an empty prediction scores 0, not NaN
    assert localization_iou(m, gt, "energy", [0.0]).item() == 0.0
    with pytest.raises(ShapeError):
        localization_iou(m, gt[:, :2])
    with pytest.raises(UnknownNameError):
        localization_iou(m, gt, "median")


def make_clip(noise):
    """Object at rows 2..5, cols 3..8 with value 1; a wide background patch at ``noise``."""
    m = torch.zeros(2, 10, 12)
    m[:, 0:10, 0:12] = noise * (torch.arange(12) < 12).float()
    m[:, 2:6, 3:9] = 1.0
    m[:, 0, 0] = 0.0  # keep the minimum at 0 so normalisation leaves values alone
    gt = torch.tensor([[3.0, 2.0, 9.0, 6.0]]).expand(2, 4)
    return m, gt


def test_calibration_picks_threshold_on_subset_and_reports_heldout():
    acc = Localization("value", calibration=0.0)
    for _ in range(3):
        m, gt = make_clip(0.3)
        acc.update(m.unsqueeze(0), gt.unsqueeze(0), calibration=True)
    for _ in range(2):
        m, gt = make_clip(0.5)  # held-out clips need a higher threshold
        acc.update(m.unsqueeze(0), gt.unsqueeze(0), calibration=False)
    s = acc.summary()
    assert s["best_threshold"] == pytest.approx(0.35)
    assert s["error_calibration"] == 0.0 and s["error"] == s["error_heldout"] == 100.0
    assert s["error_all"] == pytest.approx(40.0) and s["error_oracle"] == 0.0
    assert s["n_calibration"] == 3 and s["n_heldout"] == 2
    assert len(s["error_per_threshold"]) == 20 and s["error_per_threshold"][0] == 100.0
    assert Localization.higher_is_better is False


def test_seeded_split():
    acc = Localization("mean", calibration=0.25, seed=3)
    m, gt = make_clip(0.3)
    for _ in range(8):
        acc.update(m.unsqueeze(0), gt.unsqueeze(0))
    cal = acc.split()
    assert int(cal.sum()) == 2 and torch.equal(cal, acc.split())
    s = acc.summary()
    assert s["n_calibration"] == 2 and s["n_heldout"] == 6 and s["error"] == 0.0
