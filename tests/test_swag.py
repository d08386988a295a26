"""SWAG-V: weights are the per-supervoxel means of the guided-backprop map (numpy reference), the three
variants segment what they should (colour, gradient, both), and the methods run through explain_batch."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vidxai
from vidxai.attribution.swag import PRESETS, SwagVG, SwagVI, SwagVIG, segment_means
from vidxai.errors import InputError
from vidxai.supervoxels import undersegmentation_error


def numpy_segment_means(values: np.ndarray, labels: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values, dtype=np.float64)
    for k in np.unique(labels):
        out[labels == k] = values[labels == k].mean()
    return out


def test_weights_are_segment_means_of_guided_backprop(tiny_model, tiny_clip):
    res = SwagVIG(tiny_model).attribute(tiny_clip, target=1)
    guided = vidxai.methods.get("guided-backprop")(tiny_model).attribute(tiny_clip, target=1)
    torch.testing.assert_close(res.raw, guided.saliency)  # M = max over colour of |guided gradient|
    assert res.saliency.shape == res.segmentation.shape == (2, 8, 32, 32)
    for b in range(2):
        ref = numpy_segment_means(res.raw[b].double().numpy(), res.segmentation[b].numpy())
        np.testing.assert_allclose(res.saliency[b].numpy(), ref, rtol=1e-5, atol=1e-9)
        k = int(res.segmentation[b].max()) + 1
        assert int(res.extras["num_segments"][b]) == k
        weights = res.extras["segment_weights"][b, :k].double().numpy()
        np.testing.assert_allclose(weights, [ref[res.segmentation[b].numpy() == i][0] for i in range(k)], rtol=1e-5)


def test_segment_means_hand_computed():
    values = torch.tensor([[1.0, 2.0, 3.0, 10.0]])
    labels = torch.tensor([[0, 0, 1, 1]])
    per_voxel, weights = segment_means(values, labels)
    assert per_voxel.tolist() == [[1.5, 1.5, 6.5, 6.5]]
    assert weights.tolist() == [[1.5, 6.5]]


class LinearVideo(nn.Module):
    """logits = <W_k, x>: the (guided) gradient of class k is exactly W_k."""

    def __init__(self, weight: torch.Tensor) -> None:
        super().__init__()
        self.weight = nn.Parameter(weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1) @ self.weight.flatten(1).T


def test_variants_follow_colour_gradient_or_both():
    t, s = 8, 32
    weight = torch.full((2, 3, t, s, s), 0.01)
    weight[0, :, :, :13] = 1.0  # class 0 gradient: strong above row 13 (off every seed-grid line)
    model = vidxai.wrap(LinearVideo(weight), spec=vidxai.InputSpec(num_frames=t, crop=(s, s), short_side=s,
                                                                   mean=(0, 0, 0), std=(1, 1, 1)),
                        class_names=["a", "b"], name="linear")
    clip = torch.zeros(1, 3, t, s, s)
    clip[:, 0, :, :, :21] = 0.9  # red left of column 21, blue right of it
    clip[:, 2, :, :, 21:] = 0.9
    gt_colour = torch.zeros(1, t, s, s, dtype=torch.long)
    gt_colour[..., 21:] = 1
    gt_grad = torch.zeros(1, t, s, s, dtype=torch.long)
    gt_grad[:, :, :13] = 1
    params = dict(n_segments=16)
    seg_i = SwagVI(model).attribute(clip, target=0, **params).segmentation
    seg_g = SwagVG(model).attribute(clip, target=0, **params).segmentation
    res_ig = SwagVIG(model).attribute(clip, target=0, **params)
    use = undersegmentation_error
    assert use(seg_i, gt_colour)[0] == 0 and use(seg_i, gt_grad)[0] > 0.02  # I ignores the gradient
    assert use(seg_g, gt_grad)[0] == 0 and use(seg_g, gt_colour)[0] > 0.02  # G ignores the colour
    assert use(res_ig.segmentation, gt_colour)[0] == 0 and use(res_ig.segmentation, gt_grad)[0] == 0
    # the strong-gradient region gets the weight of M there (1.0), the rest 0.01
    sal = res_ig.saliency[0]
    assert torch.allclose(sal[:, :13], torch.tensor(1.0)) and torch.allclose(sal[:, 13:], torch.tensor(0.01))


@pytest.mark.parametrize("method", ["swagv-i", "swagv-g", "swagv-ig"])
def test_explain_batch_runs_and_batch_equals_single(tiny_model, tiny_clip, method):
    out = vidxai.explain_batch(tiny_model, tiny_clip, method, target=2)
    assert len(out) == 2
    for ex in out:
        assert ex.saliency.shape == (8, 32, 32) and ex.segmentation.shape == (8, 32, 32)
        assert ex.segmentation.dtype == torch.long and int(ex.segmentation.min()) == 0
        assert torch.isfinite(ex.saliency).all() and float(ex.saliency.min()) >= 0
    single = vidxai.explain_batch(tiny_model, tiny_clip[1:], method, target=2)[0]
    assert torch.equal(single.segmentation, out[1].segmentation)
    torch.testing.assert_close(single.saliency, out[1].saliency)


def test_presets_overrides_and_errors(tiny_model, tiny_clip):
    res = SwagVIG(tiny_model).attribute(tiny_clip[:1], target=0, preset="thesis", n_segments=30)
    assert res.extras["config"] == {**PRESETS["thesis"]["ig"], "n_segments": 30}
    assert res.extras["config"]["compactness"] == 20.0 and res.extras["config"]["gradient_weight"] == 9.0
    res_g = SwagVG(tiny_model).attribute(tiny_clip[:1], target=0, gradient_weight=4.0, grid=(2, 2, 2))
    assert int(res_g.extras["num_segments"][0]) <= 16
    with pytest.raises(InputError):
        SwagVIG(tiny_model).attribute(tiny_clip, bogus=1)
    with pytest.raises(InputError):
        SwagVG(tiny_model).attribute(tiny_clip, compactness=3.0)
    with pytest.raises(InputError):
        SwagVI(tiny_model).attribute(tiny_clip, gradient_weight=3.0)
    with pytest.raises(InputError):
        SwagVIG(tiny_model).attribute(tiny_clip, preset="nope")


def test_single_image_clip(tiny_model):
    x = torch.randn(1, 3, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    res = SwagVIG(tiny_model).attribute(x, target=0, n_segments=20)
    assert res.saliency.shape == (1, 1, 32, 32)
    assert 5 <= int(res.extras["num_segments"][0]) <= 40


def test_default_method_is_swagv_ig():
    assert vidxai.methods.default_method() == "swagv-ig"
    for name in ("swagv-i", "swagv-g", "swagv-ig"):
        assert name in vidxai.methods.list()


def test_swag_takes_the_exact_slic_mode():
    """`mode="exact"` (scikit-image's slic step by step) reaches slic3d through SWAG-V's SLIC parameters (it was
    an unknown parameter; tools/bench_slic_modes.py had to patch a private tuple)."""
    import vidxai

    model = vidxai.models.load("synthetic-tiny")
    x = torch.rand(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0))
    cls = vidxai.methods.get("swagv-i")
    exact = cls(model).attribute(x, target=0, n_segments=20, mode="exact")
    fast = cls(model).attribute(x, target=0, n_segments=20)
    assert exact.segmentation.shape == fast.segmentation.shape == (1, 16, 112, 112)
    assert not torch.equal(exact.segmentation, fast.segmentation)
