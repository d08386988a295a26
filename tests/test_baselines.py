"""Baselines: centre bias (hand formula), seeded random noise, Sobel against scikit-image."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import linear_net

import vidxai
from vidxai import errors
from vidxai.attribution.baselines import centre_bias, sobel_magnitude


def run(model, name, x, target=None, **params):
    return vidxai.methods.get(name)(model).attribute(x, target=target, **params)


def test_centre_is_a_spatial_gaussian_constant_in_time(tiny_model, tiny_clip):
    res = run(tiny_model, "centre", tiny_clip, sigma=0.2)
    sal = res.saliency
    assert sal.shape == (2, 8, 32, 32) and res.logits.shape == (2, 5)
    assert torch.equal(sal[0], sal[1]) and torch.equal(sal[:, 0], sal[:, 7])
    yy, xx = np.meshgrid(np.arange(32) - 15.5, np.arange(32) - 15.5, indexing="ij")
    ref = np.exp(-(yy ** 2 + xx ** 2) / (2 * (0.2 * 32) ** 2))
    np.testing.assert_allclose(sal[0, 3].numpy(), ref, rtol=1e-5, atol=1e-7)
    assert torch.equal(run(tiny_model, "centre", torch.zeros_like(tiny_clip), sigma=0.2).saliency, sal)


def test_centre_with_temporal_sigma_is_a_3d_gaussian():
    bias = centre_bias((9, 11, 13), sigma=0.3, temporal_sigma=0.25)
    assert bias.shape == (9, 11, 13)
    assert tuple(int(i) for i in np.unravel_index(int(bias.argmax()), bias.shape)) == (4, 5, 6)
    assert float(bias.max()) == pytest.approx(1.0)
    ratio = bias[0, 5, 6] / bias[4, 5, 6]
    assert float(ratio) == pytest.approx(np.exp(-0.5 * (4 / (0.25 * 9)) ** 2), rel=1e-5)
    with pytest.raises(errors.InputError, match="sigma"):
        centre_bias((2, 4, 4), sigma=0)


def test_random_is_seeded(tiny_model, tiny_clip):
    a = run(tiny_model, "random", tiny_clip, seed=7).saliency
    b = run(tiny_model, "random", tiny_clip, seed=7).saliency
    c = run(tiny_model, "random", tiny_clip, seed=8).saliency
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert not torch.equal(a[0], a[1])
    assert a.min() >= 0 and a.max() < 1 and abs(float(a.mean()) - 0.5) < 0.02


@pytest.mark.parametrize("mode", ["3d", "2d"])
def test_sobel_matches_skimage(mode):
    filters = pytest.importorskip("skimage.filters")
    spec = vidxai.InputSpec(num_frames=5, crop=(12, 14), mean=(0.45, 0.4, 0.35), std=(0.2, 0.25, 0.3))
    model = vidxai.wrap(linear_net(5, 12, 14, 2), spec=spec, num_classes=2)
    rgb = torch.rand(2, 3, 5, 12, 14, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x = model.from_unit_rgb(rgb).float()
    res = run(model, "sobel", x, mode=mode)
    ref = np.zeros((2, 3, 5, 12, 14))
    vol = model.to_unit_rgb(x).double().numpy()
    for b in range(2):
        for c in range(3):
            if mode == "3d":
                ref[b, c] = filters.sobel(vol[b, c])
            else:
                for t in range(5):
                    ref[b, c, t] = filters.sobel(vol[b, c, t])
    np.testing.assert_allclose(res.raw.numpy(), ref, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.saliency.numpy(), ref.max(1), rtol=1e-4, atol=1e-5)


def test_sobel_sees_a_moving_edge_in_time():
    # A frame that flips from black to white has a temporal edge only the 3-D Sobel sees.
    vol = torch.zeros(1, 1, 6, 8, 8)
    vol[:, :, 3:] = 1.0
    m3 = sobel_magnitude(vol, "3d")
    m2 = sobel_magnitude(vol, "2d")
    assert float(m2.abs().max()) == 0.0
    assert float(m3[0, 0, 2:4].min()) > 0 and float(m3[0, 0, 0].max()) == 0.0


def test_unknown_parameters_and_explain(tiny_model, tiny_clip):
    for name in ("centre", "random", "sobel"):
        with pytest.raises(errors.InputError, match="unknown parameter"):
            run(tiny_model, name, tiny_clip, bogus=1)
        exp = vidxai.explain(tiny_model, tiny_clip[0], method=name)
        assert exp.saliency.shape == (8, 32, 32) and exp.method == name
    with pytest.raises(errors.InputError, match="sobel: unknown mode"):
        run(tiny_model, "sobel", tiny_clip, mode="4d")
