"""Jitter-CAM (vidxai/attribution/jitter.py): reduces to the plain CAM, matches a direct loop, and sharpens maps."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import ConvNet2D, OneFrameClip, TwoPathwayNet
from torch import nn

import vidxai
from vidxai import errors
from vidxai.attribution.jitter import jitter_grid


def _attr(model, name, x, **kw):
    return vidxai.methods.get(name)(model).attribute(x, **kw)


def _count_hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in module.modules())


@pytest.mark.parametrize("cam,weighting", [("gradcam", "global"), ("gradcam++", "per_slice"), ("layercam", "global")])
def test_zero_shifts_is_the_plain_cam(tiny_model, tiny_clip, cam, weighting):
    j = _attr(tiny_model, "jitter-cam", tiny_clip, target=[0, 3], cam=cam, weighting=weighting, shifts=0,
              temporal_shifts=0)
    c = _attr(tiny_model, cam, tiny_clip, target=[0, 3], weighting=weighting)
    assert torch.equal(j.saliency, c.saliency) and c.saliency.abs().max() > 0
    assert j.extras["offsets"] == [(0, 0, 0)]


def test_thesis_grid():
    # the Jitter-CAM paper's grid: p = 224, m = 7 -> 12 (d = 5): a 384 x 384 input, 36 patches on a stride of 32
    canvas, offsets = jitter_grid((16, 224, 224), (2, 7, 7), (0, 5, 5))
    assert canvas == (16, 384, 384) and len(offsets) == 36
    assert sorted({o[1] for o in offsets}) == [0, 32, 64, 96, 128, 160]
    canvas, offsets = jitter_grid((16, 112, 112), (2, 7, 7), (1, 0, 0))
    assert canvas == (24, 112, 112) and offsets == [(0, 0, 0), (8, 0, 0)]


def test_matches_a_direct_loop(tiny_model, tiny_clip):
    """Upscale, Grad-CAM every crop (one at a time), paste, divide by visits, area-resize: the definition."""
    res = _attr(tiny_model, "jitter-cam", tiny_clip, target=[1, 2], shifts=(1, 2), temporal_shifts=1, chunk_size=3)
    # feature grid of features.5: (4, 16, 16) for 8x32x32 -> canvas (10, 34, 36)
    big = F.interpolate(tiny_clip, size=(10, 34, 36), mode="trilinear", align_corners=False)
    acc = torch.zeros(2, 10, 34, 36)
    cnt = torch.zeros(10, 34, 36)
    for ot in (0, 2):
        for oh in (0, 2):
            for ow in (0, 2, 4):
                crop = big[:, :, ot:ot + 8, oh:oh + 32, ow:ow + 32]
                acc[:, ot:ot + 8, oh:oh + 32, ow:ow + 32] += _attr(tiny_model, "gradcam", crop, target=[1, 2]).saliency
                cnt[ot:ot + 8, oh:oh + 32, ow:ow + 32] += 1
    ref = F.adaptive_avg_pool3d((acc / cnt).unsqueeze(1), (8, 32, 32)).squeeze(1)
    assert res.extras["canvas"] == (10, 34, 36) and len(res.extras["offsets"]) == 12
    torch.testing.assert_close(res.saliency, ref, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(res.extras["counts"], cnt.expand(2, -1, -1, -1))


def test_chunking_and_batching_do_not_change_the_map(tiny_model, tiny_clip):
    kw = dict(shifts=1, temporal_shifts=1)
    a = _attr(tiny_model, "jitter-cam", tiny_clip, target=[4, 0], chunk_size=1, **kw).saliency
    b = _attr(tiny_model, "jitter-cam", tiny_clip, target=[4, 0], chunk_size=64, **kw).saliency
    c = _attr(tiny_model, "jitter-cam", tiny_clip[1:], target=0, **kw).saliency
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(a[1:], c, rtol=1e-5, atol=1e-7)


class SquareDetector(nn.Module):
    """Evidence = red pixels; the CAM layer pools 4x8x8 cells, so a plain CAM is blocky in space and time."""

    def __init__(self) -> None:
        super().__init__()
        self.detect = nn.Sequential(nn.Conv3d(3, 1, 1), nn.ReLU())
        self.pool = nn.AvgPool3d((4, 8, 8))
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.detect[0].weight.zero_()
            self.detect[0].weight[0, 0] = 1.0
            self.detect[0].bias.zero_()
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.pool(self.detect(x)).mean(dim=(2, 3, 4)))


def test_jitter_concentrates_on_a_small_square_in_space_and_time():
    model = vidxai.wrap(SquareDetector(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32)), num_classes=2,
                        target_layers=["pool"])
    x = torch.zeros(1, 3, 8, 32, 32)
    x[:, 0, 3:5, 13:17, 13:17] = 1.0  # a 2-frame, 4x4 red square straddling CAM cells in space and time
    mask = torch.zeros(1, 8, 32, 32, dtype=torch.bool)
    mask[:, 3:5, 13:17, 13:17] = True

    def inside(s):  # fraction of the map's mass on the square (3-D), on its pixels (space), in its frames (time)
        return (float(s[mask].sum() / s.sum()), float(s.sum(1)[mask.any(1)].sum() / s.sum()),
                float(s.sum((2, 3))[:, 3:5].sum() / s.sum()))

    plain = inside(_attr(model, "gradcam", x, target=0).saliency)
    space = inside(_attr(model, "jitter-cam", x, target=0, shifts=3, temporal_shifts=0).saliency)
    time = inside(_attr(model, "jitter-cam", x, target=0, shifts=0, temporal_shifts=3).saliency)
    both_map = _attr(model, "jitter-cam", x, target=0, shifts=3, temporal_shifts=3).saliency
    both = inside(both_map)
    # measured: plain 0.020 / 0.079 / 0.25; space 0.30 spatial; time 0.70 temporal; both 0.21 on the square
    assert space[1] > 3 * plain[1] and space[2] == pytest.approx(plain[2])
    assert time[2] > 2.5 * plain[2] and time[1] == pytest.approx(plain[1])
    assert both[0] > 8 * plain[0]
    assert mask.flatten()[both_map.flatten().argmax()]


def test_two_pathway_and_single_frame_models():
    torch.manual_seed(0)
    spec = vidxai.InputSpec(num_frames=8, crop=(16, 16), pathways=2, slowfast_alpha=4)
    model = vidxai.wrap(TwoPathwayNet(4, 2, fast_pool=(2, 2, 2)).eval(), spec=spec, num_classes=3,
                        target_layers=["slow.2", "fast.2"])
    x = torch.randn(1, 3, 8, 16, 16)
    j = _attr(model, "jitter-cam", x, target=1, shifts=0, temporal_shifts=0)
    torch.testing.assert_close(j.saliency, _attr(model, "gradcam", x, target=1).saliency)
    j = _attr(model, "jitter-cam", x, target=1, shifts=1, temporal_shifts=1)
    assert j.saliency.shape == (1, 8, 16, 16) and torch.isfinite(j.saliency).all() and j.saliency.max() > 0
    assert j.extras["canvas"] == (10, 18, 18)  # fast layer's grid (4, 8, 8) + 1 cell per axis

    net = OneFrameClip(ConvNet2D(widths=(4,), num_classes=2, pool=4))  # a 2-D CNN on a single frame
    m2 = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=1, crop=(16, 16)), num_classes=2,
                     target_layers=["net2d.features.2"])
    r = _attr(m2, "jitter-cam", torch.randn(2, 3, 1, 16, 16), shifts=2)  # temporal shifts ignored for T = 1
    assert r.saliency.shape == (2, 1, 16, 16) and r.extras["canvas"] == (1, 24, 24) and len(r.extras["offsets"]) == 9


def test_hooks_removed_and_state_restored_on_error(tiny_model, tiny_clip):
    calls = {"n": 0}
    fc_forward = tiny_model.net.fc.forward

    def flaky(z):
        calls["n"] += 1
        if calls["n"] == 3:  # fail inside the jitter loop, after the plain CAM
            raise RuntimeError("boom")
        return fc_forward(z)

    tiny_model.net.fc.forward = flaky
    tiny_model.train()
    with pytest.raises(RuntimeError, match="boom"):
        _attr(tiny_model, "jitter-cam", tiny_clip, target=0, chunk_size=2)
    assert calls["n"] == 3
    assert len(tiny_model.layer("features.5")._forward_hooks) == 0 and _count_hooks(tiny_model) == 0
    assert tiny_model.training and all(p.requires_grad for p in tiny_model.parameters())
    assert all(p.grad is None for p in tiny_model.parameters())


def test_errors(tiny_model, tiny_clip):
    with pytest.raises(errors.InputError, match="unknown cam .scorecam."):
        _attr(tiny_model, "jitter-cam", tiny_clip, cam="scorecam")
    for bad in (-1, 1.5, (1, 2, 3), "2"):
        with pytest.raises(errors.InputError, match="shifts"):
            _attr(tiny_model, "jitter-cam", tiny_clip, shifts=bad)
    with pytest.raises(errors.InputError, match="scale"):
        _attr(tiny_model, "jitter-cam", tiny_clip, scale=0.5)
    with pytest.raises(errors.InputError, match="chunk_size"):
        _attr(tiny_model, "jitter-cam", tiny_clip, chunk_size=0)
    with pytest.raises(errors.InputError, match="unknown parameter"):
        _attr(tiny_model, "jitter-cam", tiny_clip, stride=2)
    with pytest.raises(errors.InputError, match="does not apply"):
        _attr(tiny_model, "jitter-cam", tiny_clip, cam="layercam", weighting="per_slice")


def test_explain_api_and_scale(tiny_model, tiny_clip, tmp_path):
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="jitter-cam", target="c1", shifts=1, temporal_shifts=0)
    assert exp.saliency.shape == (8, 32, 32) and exp.target == 1
    assert exp.metadata["counts"].shape == (8, 34, 34) and exp.metadata["cam"].shape == (8, 32, 32)
    back = vidxai.Explanation.load(exp.save(tmp_path / "j.npz"))
    torch.testing.assert_close(torch.as_tensor(back.saliency), exp.saliency)
    assert back.metadata["offsets"] == [[0, 0, 0], [0, 0, 2], [0, 2, 0], [0, 2, 2]]
    r = _attr(tiny_model, "jitter-cam", tiny_clip, target=1, shifts=1, temporal_shifts=0, scale=1.5, normalize=True)
    assert r.extras["canvas"] == (8, 48, 48) and r.extras["offsets"] == [(0, 0, 0), (0, 0, 16), (0, 16, 0),
                                                                           (0, 16, 16)]
    assert r.saliency.min() == 0 and r.saliency.max() == 1


def test_jitter_sharpens_a_trained_model():
    """synthetic-tiny (shipped weights): spatial jitter puts more mass on the actors, temporal jitter more in
    the action's frames (measured on 12 clips: energy 0.102 -> 0.125, temporal mass 0.858 -> 0.886)."""
    from vidxai.data.synthetic import SyntheticActions
    from vidxai.metrics import energy_pointing, temporal_localization

    try:
        model = vidxai.models.load("synthetic-tiny")
    except errors.CheckpointError:
        pytest.skip("synthetic-tiny weights not available")
    items = [it for it in SyntheticActions(12, seed=3)]
    x = torch.stack([it["video"] for it in items])
    y = torch.tensor([it["label"] for it in items])
    masks = torch.stack([it["masks"] for it in items])
    start, end = (torch.tensor([it[k] for it in items]) for k in ("action_start", "action_end"))

    def scores(sal):
        return (float(energy_pointing(sal, masks).nanmean()),
                float(temporal_localization(sal, start, end)["mass_in_interval"].nanmean()))

    plain = scores(_attr(model, "gradcam", x, target=y).saliency)
    space = scores(_attr(model, "jitter-cam", x, target=y, shifts=2, temporal_shifts=0, chunk_size=24).saliency)
    time = scores(_attr(model, "jitter-cam", x, target=y, shifts=0, temporal_shifts=2, chunk_size=24).saliency)
    assert space[0] > 1.1 * plain[0]
    assert time[1] > plain[1] + 0.01
