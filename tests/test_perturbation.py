"""Perturbation and feature methods: captum references, a toy with known evidence, constraints."""
from __future__ import annotations

import pytest
import torch
from runner_toy import RegionNet, region_mask

import vidxai
from vidxai.attribution.perturbation import ExtremalPerturbation, Occlusion, RISE, area_penalty, window_starts
from vidxai.attribution.surrogate import FeatureOcclusion, KernelShap, Lime


def region_model():
    spec = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)
    return vidxai.wrap(RegionNet(), spec=spec, class_names=["on", "off"], name="region")


@pytest.fixture
def positive_clip():
    """A dark noisy clip with a bright box at the evidence region (so blur and supervoxels can see it)."""
    g = torch.Generator().manual_seed(0)
    x = 0.2 + 0.1 * torch.rand(1, 3, 8, 32, 32, generator=g)
    x[:, :, region_mask()] += 0.7
    return x


def share_in_region(sal: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of the ``mask.sum()`` most salient voxels that lie in ``mask`` (chance: the mask's volume share)."""
    top = sal.flatten().topk(int(mask.sum())).indices
    return float(mask.flatten()[top].float().mean())


def block_segmentation(grid=(2, 2, 2), size=(8, 32, 32)):
    idx = [torch.arange(s) * g // s for s, g in zip(size, grid)]
    return (idx[0][:, None, None] * grid[1] * grid[2] + idx[1][None, :, None] * grid[2] + idx[2][None, None, :])


def test_window_starts_follow_captum():
    assert window_starts(8, 4, 2) == [0, 2, 4]
    assert window_starts(9, 4, 2) == [0, 2, 4, 6]  # the last window overhangs by one, as captum's
    with pytest.raises(vidxai.VidxaiError, match="larger"):
        window_starts(3, 4, 1)


def test_occlusion_equals_captum(tiny_model, tiny_clip):
    from captum.attr import Occlusion as CaptumOcclusion

    ours = Occlusion(tiny_model).attribute(tiny_clip, target=2, window=(4, 16, 16), stride=(4, 8, 8),
                                             fill="constant").saliency
    ref = CaptumOcclusion(tiny_model).attribute(tiny_clip, target=2, sliding_window_shapes=(3, 4, 16, 16),
                                                strides=(3, 4, 8, 8), baselines=0)
    torch.testing.assert_close(ours, ref[:, 0], atol=1e-6, rtol=1e-4)


def test_kernelshap_exhaustive_equals_captum_shapley(tiny_model, tiny_clip):
    from captum.attr import ShapleyValues

    seg = block_segmentation((1, 2, 2))  # 4 features -> 16 coalitions (ours), 4! orderings (captum)
    ours = KernelShap(tiny_model).attribute(tiny_clip[:1], target=1, segmentation=seg[None], n_samples=16,
                                         fill="constant").saliency
    ref = ShapleyValues(tiny_model).attribute(tiny_clip[:1], target=1, baselines=0,
                                              feature_mask=seg[None, None].expand(1, 3, 8, 32, 32).contiguous(),
                                              perturbations_per_eval=16)
    torch.testing.assert_close(ours, ref[:, 0], atol=1e-4, rtol=1e-3)


def test_feature_occlusion_single_drops_equal_captum_feature_ablation(tiny_model, tiny_clip):
    from captum.attr import FeatureAblation

    seg = block_segmentation()
    res = FeatureOcclusion(tiny_model).attribute(tiny_clip[:1], target=3, segmentation=seg[None], fill="constant")
    ref = FeatureAblation(tiny_model).attribute(tiny_clip[:1], target=3, baselines=0,
                                                feature_mask=seg[None, None].expand(1, 3, 8, 32, 32).contiguous())
    torch.testing.assert_close(res.saliency, ref[:, 0], atol=1e-5, rtol=1e-4)
    table = res.extras["features"][0]
    assert table["most_important"] == max(table["features"], key=lambda f: f["drop"])["feature"]
    # sets=False: the same single drops, no set search (what FeatureAblation computes)
    quick = FeatureOcclusion(tiny_model).attribute(tiny_clip[:1], target=3, segmentation=seg[None], fill="constant",
                                                   sets=False)
    torch.testing.assert_close(quick.saliency, res.saliency)
    assert quick.extras["features"][0]["deleting_set"] is None and quick.extras["features"][0]["restoring_set"] is None
    assert quick.extras["features"][0]["most_important"] == table["most_important"]


def test_lime_recovers_linear_contributions(positive_clip):
    model = region_model()
    seg = block_segmentation((2, 4, 4))
    res = Lime(model).attribute(positive_clip, target=0, segmentation=seg[None], n_samples=300, seed=1,
                               fill="constant")
    # the model is linear in the coalition: each feature's weight is its exact contribution
    full = model(positive_clip)[0, 0]
    expected = torch.zeros(32)
    for k in range(32):
        off = positive_clip * (seg != k)
        expected[k] = full - model(off)[0, 0]
    weights = torch.tensor([f["weight"] for f in res.extras["features"][0]["features"]])
    torch.testing.assert_close(weights, expected.detach(), atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("method,params", [
    ("occlusion", {"window": (2, 4, 4), "stride": (2, 4, 4)}),
    ("rise", {"n_masks": 256, "grid": (4, 8, 8), "output": "logit"}),
    ("lime", {"n_segments": 32, "n_samples": 128}),
    ("kernelshap", {"n_segments": 32, "n_samples": 128}),
    ("feature-occlusion", {"n_segments": 32}),
    ("extremal-perturbation", {"iterations": 40, "areas": (0.05, 0.2), "grid": (4, 8, 8)}),
    ("extremal-perturbation", {"iterations": 40, "areas": (0.05, 0.2), "grid": (4, 8, 8), "variant": "delete"}),
])
def test_toy_evidence_region_gets_most_saliency(method, params, positive_clip):
    model = region_model()
    sal = vidxai.explain_batch(model, positive_clip, method=method, target=0, **params)[0].saliency
    mask = region_mask()  # 7 % of the clip
    assert share_in_region(sal, mask) > 0.6, (method, share_in_region(sal, mask))
    assert sal[mask].mean() > sal[~mask].mean()


def test_extremal_perturbation_meets_area(positive_clip):
    model = region_model()
    target_areas = torch.tensor([0.05, 0.2])
    res = ExtremalPerturbation(model).attribute(positive_clip, target=0, areas=tuple(target_areas.tolist()),
                                                iterations=40, grid=(4, 8, 8))
    areas = res.extras["areas"][0]
    assert torch.allclose(areas, target_areas, atol=0.02), areas
    assert torch.allclose(res.extras["mean_mask"][0], target_areas, atol=0.03), res.extras["mean_mask"]
    # smooth masks on a coarse grid keep soft edges, so the sorted-vector distance cannot reach 0
    assert float(area_penalty(res.extras["masks"][0].unsqueeze(1), target_areas).max()) < 0.06
    # the optimisation works: the clip kept in 20 % of the volume scores far above the fully blurred clip
    from vidxai.attribution.perturbation import blur_perturbation, blur_stack

    with torch.no_grad():
        full = float(model(positive_clip)[0, 0])
        blurred = float(model(blur_perturbation(blur_stack(positive_clip, 10.0, 8), torch.zeros(1, 1, 8, 32, 32)))[0, 0])
    scores = res.extras["scores"][0]
    assert scores[1] > blurred + 0.7 * (full - blurred), (float(scores[1]), blurred, full)
    assert share_in_region(res.extras["masks"][0, 1], region_mask()) > 0.7


def test_rise_and_occlusion_are_reproducible(tiny_model, tiny_clip):
    a = RISE(tiny_model).attribute(tiny_clip, target=0, n_masks=32, seed=5).saliency
    b = RISE(tiny_model).attribute(tiny_clip, target=0, n_masks=32, seed=5).saliency
    assert torch.equal(a, b)
    with pytest.raises(vidxai.VidxaiError, match="fill"):
        Occlusion(tiny_model).attribute(tiny_clip, target=0, fill="paint")


def test_lime_equals_captum_lime_on_the_same_coalitions(tiny_model, tiny_clip):
    """captum's Lime fed our coalitions (a deterministic perturb_func) and our kernel fits the same weights."""
    from captum._utils.models.linear_model import SkLearnLinearRegression
    from captum.attr import Lime as CaptumLime

    from vidxai.attribution.surrogate import lime_samples

    seg = block_segmentation()  # 8 features
    n, width, seed = 48, 0.25, 3
    ours = Lime(tiny_model).attribute(tiny_clip[:1], target=4, segmentation=seg[None], n_samples=n, seed=seed,
                                      kernel_width=width, fill="constant")
    from vidxai.attribution.baselines import clip_seed

    z, w = lime_samples(8, n, torch.Generator().manual_seed(clip_seed(tiny_clip[0], seed)), width)  # the clip's own
    calls = iter(range(n))
    weight_of = {}

    def perturb(original, **kwargs):
        i = next(calls)
        weight_of[tuple(z[i].tolist())] = float(w[i])
        return z[i:i + 1].clone()

    def similarity(original, perturbed, interpretable, **kwargs):
        return weight_of[tuple(interpretable.flatten().tolist())]

    lime = CaptumLime(tiny_model, interpretable_model=SkLearnLinearRegression(), similarity_func=similarity,
                      perturb_func=perturb)
    ref = lime.attribute(tiny_clip[:1], target=4, baselines=0, n_samples=n, perturbations_per_eval=16,
                         feature_mask=seg[None, None].expand(1, 3, 8, 32, 32).contiguous(), return_input_shape=False)
    weights = torch.tensor([f["weight"] for f in ours.extras["features"][0]["features"]])
    torch.testing.assert_close(weights, ref[0].float(), atol=1e-4, rtol=1e-3)


@pytest.mark.parametrize("method,params", [
    ("occlusion", {"window": (4, 16, 16), "stride": (4, 16, 16)}),
    ("rise", {"n_masks": 16, "chunk_size": 8}),
    ("feature-occlusion", {"segmentation": block_segmentation()[None].expand(2, 8, 32, 32)}),
    ("kernelshap", {"segmentation": block_segmentation((1, 2, 2))[None].expand(2, 8, 32, 32), "n_samples": 16}),
    ("extremal-perturbation", {"iterations": 3, "areas": (0.1, 0.3), "grid": (2, 4, 4)}),
])
def test_batch_equals_single_clips_and_splits_extras(method, params, tiny_model, tiny_clip, tmp_path):
    batch = vidxai.explain_batch(tiny_model, tiny_clip, method=method, target=[1, 3], **params)
    for j, exp in enumerate(batch):
        one = {k: (v[j:j + 1] if k == "segmentation" else v) for k, v in params.items()}
        single = vidxai.explain_batch(tiny_model, tiny_clip[j:j + 1], method=method, target=[1, 3][j], **one)[0]
        torch.testing.assert_close(exp.saliency, single.saliency, atol=1e-4, rtol=1e-3)
        if method == "feature-occlusion":  # the per-clip table, not the list of all clips' tables
            assert exp.metadata["features"]["most_important"] == single.metadata["features"]["most_important"]
            assert len(exp.metadata["features"]["features"]) == 8
            exp.save(tmp_path / f"{j}.npz")  # the table is JSON-serialisable
            assert vidxai.Explanation.load(tmp_path / f"{j}.npz").metadata["features"]["most_important"] == \
                single.metadata["features"]["most_important"]
        if method == "extremal-perturbation":
            assert exp.metadata["masks"].shape == (2, 8, 32, 32) and exp.metadata["areas"].shape == (2,)


def test_feature_occlusion_over_relevance_regions_finds_the_evidence(positive_clip):
    model = region_model()
    res = FeatureOcclusion(model).attribute(positive_clip, target=0, features="relevance",
                                            fill="constant", value=-0.5)
    seg, table = res.segmentation[0], res.extras["features"][0]
    best = table["most_important"]
    assert best != 0  # feature 0 is the low-relevance rest of the clip
    assert (seg[region_mask()] == best).float().mean() > 0.9
    assert table["deleting_set"] == [best]  # occluding the evidence region alone flips the prediction
    assert table["restoring_set"] == [best]  # and restoring it alone brings the class back


@pytest.mark.parametrize("method,params", [
    (Occlusion, {"window": (4, 16, 16), "stride": (4, 8, 8)}),
    (Lime, {"segmentation": block_segmentation()[None], "n_samples": 10}),
])
def test_auto_chunk_size_bounds_the_clips_per_forward_on_cpu(method, params, tiny_model, tiny_clip, monkeypatch):
    import vidxai.models.base as model_base

    sizes: list[int] = []
    hook = tiny_model.register_forward_hook(lambda m, args, out: sizes.append(args[0].shape[0]))
    try:
        x = tiny_clip[:1]
        fixed = method(tiny_model).attribute(x, target=1, chunk_size=16, fill="constant", **params).saliency
        # a budget of 3 clips' voxels: "auto" must score at most 3 perturbed clips per forward
        monkeypatch.setattr(model_base, "CPU_CHUNK_VOXELS", 3 * x[0, 0].numel())
        sizes.clear()
        auto = method(tiny_model).attribute(x, target=1, fill="constant", **params).saliency
    finally:
        hook.remove()
    assert max(sizes) == 3 and sum(sizes) > 3
    torch.testing.assert_close(auto, fixed, atol=1e-6, rtol=1e-5)
