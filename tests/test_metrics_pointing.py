"""Pointing game, energy pointing and temporal localisation on hand-made maps (non-square frames)."""
from __future__ import annotations

import math

import pytest
import torch

from vidxai.errors import InputError, ShapeError
from vidxai.metrics import (PointingGame, TemporalLocalization, default_tolerance, energy_pointing, frame_importance,
                            pointing_game, temporal_localization)

NAN = float("nan")


def peak_map(points, t=1, h=6, w=10):
    """Map with its maximum at (row, col) per frame."""
    m = torch.zeros(1, t, h, w)
    for f, (r, c) in enumerate(points):
        m[0, f, r, c] = 1.0
    return m


def test_hits_misses_and_xy_convention():
    # H=6 rows, W=10 columns; peak at row 1, column 4
    m = peak_map([(1, 4)])
    box = torch.tensor([[[3.0, 0.0, 6.0, 3.0]]])  # x in 3..5, y in 0..2 -> hit
    assert pointing_game(m, box).item() == 1.0
    swapped = torch.tensor([[[0.0, 3.0, 3.0, 6.0]]])  # the same box with x/y swapped -> miss
    assert pointing_game(m, swapped).item() == 0.0
    # masks work the same way
    mask = torch.zeros(1, 1, 6, 10, dtype=torch.bool)
    mask[0, 0, 1, 4] = True
    assert pointing_game(m, mask).item() == 1.0
    # a box wholly outside the (cropped) frame leaves nothing to point at: the frame is skipped
    assert math.isnan(pointing_game(m, torch.tensor([[[0.0, 7.0, 3.0, 10.0]]])).item())


def test_tolerance():
    m = peak_map([(1, 8)])
    box = torch.tensor([[[0.0, 0.0, 5.0, 6.0]]])  # columns 0..4; nearest GT pixel (1, 4) is 4 px away
    assert pointing_game(m, box, tolerance=3.9).item() == 0.0
    assert pointing_game(m, box, tolerance=4).item() == 1.0
    diag = torch.tensor([[[0.0, 4.0, 5.0, 6.0]]])  # nearest GT pixel (4, 4): distance 5 (3-4-5)
    assert pointing_game(m, diag, tolerance=4.99).item() == 0.0
    assert pointing_game(m, diag, tolerance=5).item() == 1.0
    assert default_tolerance((112, 112)) == 7 and default_tolerance((224, 300)) == 15
    with pytest.raises(InputError):
        pointing_game(m, box, tolerance=-1)


def test_frames_without_ground_truth_are_skipped():
    m = peak_map([(0, 0), (5, 9), (2, 2)], t=3)
    boxes = torch.tensor([[[0.0, 0.0, 1.0, 1.0], [NAN] * 4, [5.0, 5.0, 6.0, 6.0]]])
    assert pointing_game(m, boxes).item() == 0.5  # frame 0 hit, frame 1 skipped, frame 2 miss
    assert math.isnan(pointing_game(m, torch.full((1, 3, 4), NAN)).item())
    # per clip: three tied maxima, one per frame; the first in raster order (frame 0) is on its frame's box
    assert pointing_game(m, boxes, per="clip", ties="first").item() == 1.0
    # plateau: of the maxima in annotated frames, frame 0's is a hit and frame 2's a miss
    assert pointing_game(m, boxes, per="clip", ties="plateau").item() == 0.5
    m2 = m.clone()
    m2[0, 2, 2, 2] = 2.0
    assert pointing_game(m2, boxes, per="clip").item() == 0.0
    m2[0, 1, 0, 0] = 3.0  # peak on a frame without ground truth -> not scored
    assert math.isnan(pointing_game(m2, boxes, per="clip").item())
    with pytest.raises(ShapeError):
        pointing_game(m, boxes[:, :2])


def test_energy_pointing_exact_fraction():
    s = torch.zeros(1, 2, 4, 6)
    s[0, 0, 0, 0] = 3.0  # inside the box of frame 0
    s[0, 0, 3, 5] = 1.0  # outside
    s[0, 1] = 100.0  # frame without ground truth: ignored
    s[0, 0, 2, 2] = -5.0  # negative saliency carries no mass
    boxes = torch.tensor([[[0.0, 0.0, 2.0, 2.0], [NAN] * 4]])
    assert energy_pointing(s, boxes).item() == pytest.approx(0.75)
    mask = torch.zeros(1, 2, 4, 6, dtype=torch.bool)
    mask[0, 0, :2, :2] = True
    assert energy_pointing(s, mask).item() == pytest.approx(0.75)


def test_pointing_accumulator_per_class():
    acc = PointingGame()
    m = peak_map([(1, 1)])
    hit = torch.tensor([[[0.0, 0.0, 3.0, 3.0]]])
    miss = torch.tensor([[[5.0, 3.0, 9.0, 6.0]]])
    acc.update(m, hit, labels=[0])
    acc.update(m, hit, labels=[0])
    acc.update(m, hit, labels=[0])
    acc.update(m, miss, labels=[1])
    acc.update(m, torch.full((1, 1, 4), NAN), labels=[1])
    s = acc.summary()
    assert s["n"] == 4 and s["n_without_ground_truth"] == 1
    assert s["pointing_game"] == 0.75 and s["pointing_game_class_mean"] == 0.5
    assert PointingGame.higher_is_better


def test_temporal_localization_hand_computed():
    s = torch.zeros(1, 8, 2, 3)
    mass = torch.tensor([0.0, 1.0, 4.0, 5.0, 3.0, 0.0, 2.0, 0.0])
    s[0, :, 0, 0] = mass
    torch.testing.assert_close(frame_importance(s)[0], mass)
    r = temporal_localization(s, start=2, end=5)  # frames 2, 3, 4
    assert r["mass_in_interval"].item() == pytest.approx(12 / 15)
    assert r["peak_hit"].item() == 1.0
    # threshold 0.5 of max 5 -> frames with mass >= 2.5: 2, 3, 4 -> extent [2, 5): tIoU 1
    assert r["tiou"].item() == 1.0 and r["extent_start"].item() == 2 and r["extent_end"].item() == 5
    r = temporal_localization(s, start=2, end=5, threshold=0.3)  # >= 1.5: frames 2..6 -> [2, 7): 3/5
    assert r["tiou"].item() == pytest.approx(0.6)
    r = temporal_localization(s, start=torch.tensor([5]), end=torch.tensor([8]))
    assert r["peak_hit"].item() == 0.0 and r["chance_mass"].item() == pytest.approx(3 / 8)
    assert r["mass_in_interval"].item() == pytest.approx(2 / 15) and r["tiou"].item() == 0.0
    with pytest.raises(InputError):
        temporal_localization(s, start=4, end=4)
    acc = TemporalLocalization()
    acc.update(torch.cat([s, s]), start=[2, 5], end=[5, 8])
    out = acc.summary()
    assert out["n"] == 2 and out["tiou"] == 0.5 and out["peak_hit"] == 0.5
