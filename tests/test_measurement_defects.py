"""Measurement defects: pointing-game ties, per-clip random baseline noise, the localisation threshold
schemes on the map itself, LIME's kernel and the paper presets. Each test fails on the code before its fix."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import vidxai
from vidxai.errors import InputError
from vidxai.metrics import Localization, localization_accuracy, localization_iou, pointing_game


# -- 1. pointing game: ties -------------------------------------------------------------------------------
def plateau_map(t: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """A 10x10 map whose 17 maxima are (0, 0), outside the box, and a 4x4 block inside it."""
    m = torch.zeros(1, t, 10, 10)
    m[0, :, 0, 0] = 1.0  # the first maximum in raster order, outside the box
    m[0, :, 5:9, 5:9] = 1.0  # 16 of the 17 maxima, inside the box
    box = torch.tensor([5.0, 5.0, 10.0, 10.0]).expand(1, t, 4)
    return m, box


def test_pointing_breaks_ties_at_random_among_the_maxima():
    m, box = plateau_map()
    hit = float(pointing_game(m, box))
    # uniform among 17 maxima: 16/17 = 0.94 expected over 64 frames (the raster rule scores 0)
    assert hit > 0.8
    assert float(pointing_game(m, box, seed=0)) == hit  # seeded: reproducible
    assert float(pointing_game(m, box, ties="first")) == 0.0  # the old rule, on request
    assert float(pointing_game(m, box, ties="plateau")) == pytest.approx(16 / 17)
    # the tie-break of a clip does not depend on its position in the batch
    two = torch.cat([torch.rand(1, 64, 10, 10), m])
    assert float(pointing_game(two, torch.cat([box, box]))[1]) == hit
    # per clip: the volume's maxima
    clip_hits = torch.stack([pointing_game(m, box, per="clip", seed=s) for s in range(40)])
    assert float(clip_hits.mean()) > 0.8
    assert float(pointing_game(m, box, per="clip", ties="plateau")) == pytest.approx(16 / 17)
    with pytest.raises(InputError):
        pointing_game(m, box, ties="last")


def test_plateau_ties_with_tolerance():
    m = torch.zeros(1, 1, 6, 10)
    m[0, 0, 1, 8] = m[0, 0, 5, 9] = 1.0
    box = torch.tensor([[[0.0, 0.0, 5.0, 6.0]]])  # columns 0..4: (1, 8) is 4 px away, (5, 9) 5 px
    assert float(pointing_game(m, box, tolerance=4, ties="plateau")) == 0.5
    assert float(pointing_game(m, box, tolerance=5, ties="plateau")) == 1.0


# -- 2. random baseline: one map per clip ------------------------------------------------------------------
def test_random_baseline_gives_each_clip_its_own_map(tiny_model, tiny_clip):
    method = vidxai.methods.get("random")
    batch2 = tiny_clip.flip(0) + 0.1
    first = method(tiny_model).attribute(tiny_clip, target=0, seed=3).saliency
    second = method(tiny_model).attribute(batch2, target=0, seed=3).saliency
    assert not torch.equal(first[0], second[0])  # clip 0 of two different batches
    again = method(tiny_model).attribute(tiny_clip, target=0, seed=3).saliency
    assert torch.equal(first, again)  # same seed -> bit-identical
    # a clip's map depends on the seed and the clip only, not on its position in the batch
    swapped = method(tiny_model).attribute(tiny_clip.flip(0), target=0, seed=3).saliency
    assert torch.equal(swapped.flip(0), first)
    assert not torch.equal(method(tiny_model).attribute(tiny_clip, target=0, seed=4).saliency, first)


# -- 3. weak localisation on the map itself -------------------------------------------------------------------
def test_localisation_iou_of_exactly_one_half_is_not_correct():
    sal = torch.zeros(1, 1, 4, 4)
    sal[0, 0, :, :2] = 1.0  # value scheme at 0.5 keeps columns 0..1, all rows: box [0, 0, 2, 4]
    gt = torch.tensor([[[0.0, 0.0, 2.0, 2.0]]])  # area 4 inside a predicted area 8: IoU exactly 0.5
    iou = localization_iou(sal, gt, scheme="value", thresholds=[0.5])
    assert float(iou) == 0.5
    assert float(localization_accuracy(iou.view(1, 1))) == 0.0
    metric = Localization("value", thresholds=[0.5], calibration=0)
    metric.update(sal, gt)
    assert metric.summary()["error_all"] == 100.0
    gt_better = torch.tensor([[[0.0, 0.0, 2.0, 3.0]]])  # IoU 6/8 > 0.5: correct
    assert float(localization_accuracy(localization_iou(sal, gt_better, "value", [0.5]).view(1, 1))) == 1.0


def signed_map() -> torch.Tensor:
    """B = 2 at (0, 0), A = 1 on a 2x2 block at rows/cols 2..3, -2 elsewhere (a signed map, as LRP's)."""
    m = torch.full((1, 1, 4, 4), -2.0)
    m[0, 0, 0, 0] = 2.0
    m[0, 0, 2:, 2:] = 1.0
    return m


def test_mean_scheme_uses_the_map_itself():
    # spec: keep v >= alpha * mean(map+) ; map+ = (2 + 4 * 1) / 16 = 0.375, alpha = 3 -> 1.125 keeps B only.
    # min-max normalised (old): A = 0.75, B = 1, mean 0.25, alpha 3 -> 0.75 keeps A and B.
    gt = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]])
    assert float(localization_iou(signed_map(), gt, "mean", [3.0])) == 1.0
    assert float(localization_iou(signed_map(), gt, "mean", [3.0], normalize=True)) == pytest.approx(1 / 16)


def test_energy_scheme_counts_the_positive_mass_of_the_map_itself():
    # map+ = [B=4, A=1, 1, 1, 1, 0...], mass 8; 50 % = 4 is held by B alone.
    # min-max normalised (old): B = 1, A = 0.5 (x4), the negatives 0; 50 % of 3 needs B and the A block.
    m = signed_map()
    m[0, 0, 0, 0] = 4.0
    gt = torch.tensor([[[0.0, 0.0, 1.0, 1.0]]])
    assert float(localization_iou(m, gt, "energy", [50.0])) == 1.0
    assert float(localization_iou(m, gt, "energy", [50.0], normalize=True)) == pytest.approx(1 / 16)
    # negative voxels never enter a box, even at 95 %
    assert float(localization_iou(m, gt, "energy", [95.0])) == pytest.approx(1 / 16)
    assert float(localization_iou(-m.clamp_min(0) - 1, gt, "energy", [50.0])) == 0.0  # no positive mass: no box


# -- 4. LIME's kernel --------------------------------------------------------------------------------------
def test_lime_kernel_is_limes():
    from vidxai.attribution.surrogate import lime_samples

    width = 0.25
    z, w = lime_samples(12, 200, torch.Generator().manual_seed(0), width)
    zn = z.double().numpy()
    ones = np.ones(12)
    cos_sim = zn @ ones / np.maximum(np.linalg.norm(zn, axis=1) * np.linalg.norm(ones), 1e-12)
    d = 1 - cos_sim  # sklearn's cosine distance to the original (all features on)
    expected = np.sqrt(np.exp(-(d ** 2) / width ** 2))  # lime_base.LimeBase's default kernel
    np.testing.assert_allclose(w.double().numpy(), expected, rtol=1e-5)


# -- 5. paper presets ---------------------------------------------------------------------------------------
def test_extremal_perturbation_paper_preset_settings():
    from vidxai.attribution.perturbation import ExtremalPerturbation

    p = ExtremalPerturbation.resolve_params("paper")
    assert p["iterations"] == 1600 and p["lambda_start"] == 300 and p["lambda_growth"] == 1.0035
    assert tuple(p["areas"]) == (0.05, 0.1, 0.2, 0.4, 0.6, 0.8)
    assert 1.0035 ** 200 == pytest.approx(2.0, rel=0.01)  # lambda doubles every 200 iterations
    default = ExtremalPerturbation.resolve_params()
    assert default["iterations"] == 100  # the CPU default stays short
    with pytest.raises(vidxai.VidxaiError):
        ExtremalPerturbation.resolve_params("fast")


def test_extremal_perturbation_reports_its_effective_params(tiny_model, tiny_clip):
    res = vidxai.methods.get("extremal-perturbation")(tiny_model).attribute(
        tiny_clip[:1], target=0, preset="paper", iterations=2)
    p = res.extras["params"]
    assert p["preset"] == "paper" and p["iterations"] == 2 and p["lambda_start"] == 300
    assert res.extras["masks"].shape[1] == 6
    assert p["grid"] == (4, 5, 5)  # T/2 and a cell every 7 pixels (32 px -> 5)


def test_smoothgrad_paper_preset(tiny_model, tiny_clip):
    method = vidxai.methods.get("smoothgrad")
    res = method(tiny_model).attribute(tiny_clip[:1], target=0, preset="paper")
    assert res.extras["params"]["n_samples"] == 50 and res.extras["params"]["noise_level"] == 0.15
    explicit = method(tiny_model).attribute(tiny_clip[:1], target=0, n_samples=50)
    assert torch.equal(res.saliency, explicit.saliency)
    assert method(tiny_model).attribute(tiny_clip[:1], target=0).extras["params"]["n_samples"] == 16


def test_centre_paper_preset_is_a_3d_gaussian(tiny_model, tiny_clip):
    res = vidxai.methods.get("centre")(tiny_model).attribute(tiny_clip, preset="paper")
    assert res.extras["params"]["temporal_sigma"] == 0.25
    sal = res.saliency
    assert sal[0, 0].max() < sal[0, 3].max() and math.isclose(float(sal.max()), float(sal[0, 3:5].max()))
