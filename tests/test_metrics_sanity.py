"""Sanity checks: rank correlation/SSIM against scipy/skimage; weight-independent methods pass unchanged,
gradients of a randomised model decorrelate; the caller's model is never modified."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidxai.attribution.base import Attribution, AttributionResult
from vidxai.errors import UnknownNameError
from vidxai.metrics import (Timer, Timing, cascading_randomization, class_randomization, independent_randomization,
                            model_randomization,
                            spearman, ssim, time_per_clip)
from vidxai.metrics.sanity import rankdata, randomizable_layers


class SobelLike(Attribution):
    """Edge magnitude of the clip: never looks at the weights."""

    name = "sobel-like"

    def attribute(self, inputs, target=None, **params):
        x = inputs.mean(1)
        gy = torch.zeros_like(x)
        gx = torch.zeros_like(x)
        gy[..., 1:-1, :] = x[..., 2:, :] - x[..., :-2, :]
        gx[..., :, 1:-1] = x[..., :, 2:] - x[..., :, :-2]
        return AttributionResult((gx ** 2 + gy ** 2).sqrt())


def test_rank_correlation_matches_scipy():
    from scipy.stats import rankdata as sp_rank, spearmanr

    g = torch.Generator().manual_seed(0)
    a = torch.randint(0, 5, (3, 40), generator=g).float()  # many ties
    b = a + torch.randn(3, 40, generator=g)
    np.testing.assert_allclose(rankdata(a).numpy(), np.stack([sp_rank(r) for r in a.numpy()]))
    exp = [spearmanr(a[i].numpy(), b[i].numpy()).statistic for i in range(3)]
    np.testing.assert_allclose(spearman(a, b).numpy(), exp, rtol=1e-5)
    assert spearman(a, a).tolist() == pytest.approx([1.0] * 3)
    assert spearman(a, -a).tolist() == pytest.approx([-1.0] * 3)
    assert torch.isnan(spearman(torch.ones(1, 5), a[:1, :5])).all()


def test_ssim_matches_skimage():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(1)
    a = torch.rand(2, 12, 15, generator=g)
    b = (a + 0.2 * torch.rand(2, 12, 15, generator=g)).clamp(0, 1)
    got = ssim(a, b)
    exp = [structural_similarity(a[i].numpy().astype(np.float64), b[i].numpy().astype(np.float64), data_range=1.0)
           for i in range(2)]
    np.testing.assert_allclose(got.numpy(), exp, rtol=1e-5)
    assert ssim(a, a).tolist() == pytest.approx([1.0, 1.0])


def test_weight_independent_method_passes_gradient_does_not(tiny_model, tiny_clip):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    layers = randomizable_layers(tiny_model)
    assert layers == ["fc", "features.5", "features.4", "features.1", "features.0"]
    sob = cascading_randomization(tiny_model, SobelLike, tiny_clip[0], target=0)
    assert sob.spearman.shape == (5,) and sob.layers == layers
    assert torch.allclose(sob.spearman, torch.ones(5)) and torch.allclose(sob.ssim, torch.ones(5), atol=1e-5)
    grad = cascading_randomization(tiny_model, "gradient", tiny_clip, target=0, seed=0)
    assert grad.spearman.shape == (5, 2)
    assert (grad.spearman[-1] < 0.7).all(), grad.spearman  # fully randomised: maps decorrelate
    assert (grad.spearman[-1] < sob.spearman[-1]).all()
    # reproducible, and the caller's model is untouched
    again = cascading_randomization(tiny_model, "gradient", tiny_clip, target=0, seed=0, layers=layers[:2])
    torch.testing.assert_close(again.spearman, grad.spearman[:2])
    # final_only: one explanation of the fully randomised model, equal to the cascade's last step
    last = cascading_randomization(tiny_model, "gradient", tiny_clip, target=0, seed=0, final_only=True)
    assert last.layers == layers[-1:] and last.spearman.shape == (1, 2)
    torch.testing.assert_close(last.spearman[0], grad.spearman[-1])
    for k, v in tiny_model.state_dict().items():
        assert torch.equal(v, before[k]), k
    ind = independent_randomization(tiny_model, "gradient", tiny_clip[0], layers=["fc", "features.0"],
                                    return_maps=True)
    assert ind.maps.shape == (2, 1, 8, 32, 32) and ind.original.shape == (1, 8, 32, 32)
    assert (ind.spearman < 0.99).all()
    via_mode = model_randomization(tiny_model, "gradient", tiny_clip[0], mode="independent", layers=["fc"])
    torch.testing.assert_close(via_mode["spearman"], ind.spearman[:1])
    with pytest.raises(UnknownNameError):
        cascading_randomization(tiny_model, "gradient", tiny_clip[0], layers=["nope"])


def test_class_randomization(tiny_model, tiny_clip):
    sob = class_randomization(tiny_model, SobelLike, tiny_clip[0], target=2, repeats=3)
    assert torch.allclose(sob.spearman, torch.ones(3))
    assert all(c != 2 for [c] in sob.layers)
    grad = class_randomization(tiny_model, "gradient", tiny_clip[0], target=2, repeats=2, seed=1)
    assert (grad.spearman < 0.999).all()


def test_timing():
    with Timer() as t:
        sum(range(1000))
    assert t.seconds >= 0
    res, per_clip = time_per_clip(lambda n: n * 2, 21, n_clips=4, repeats=2, warmup=1)
    assert res == 42 and per_clip >= 0
    acc = Timing()
    acc.update(2.0, n_clips=4)
    acc.update(1.0, n_clips=1)
    assert acc.summary()["seconds_per_clip"] == pytest.approx(0.6) and not Timing.higher_is_better
