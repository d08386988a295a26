"""Deletion/insertion against brute force on a toy model whose logit is a known linear function of the voxels."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from vidxai.errors import InputError, ShapeError, UnknownNameError
from vidxai.metrics import DeletionInsertion, auc, deletion_insertion, grid_segmentation, voxel_ranks

T, H, W = 2, 4, 4
N = T * H * W


class LinearToy(nn.Module):
    """logits = [sum_{c,v} w_v x_{c,v}, 0] -> P(class 0) = sigmoid(w . x summed over colour)."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone().view(1, 1, T, H, W), requires_grad=False)
        self.calls = 0
        self.batch_sizes: list[int] = []

    def forward(self, x):
        self.calls += 1
        self.batch_sizes.append(x.shape[0])
        s = (x * self.w).sum(dim=(1, 2, 3, 4))
        return torch.stack([s, torch.zeros_like(s)], 1)


def brute_force(w, x, order, steps, base):
    """Expected curves by explicitly removing voxels in ``order`` (numpy, one clip)."""
    wv = w.reshape(-1).numpy().astype(np.float64)
    xv = x.reshape(3, -1).numpy().astype(np.float64)
    bv = base.reshape(3, -1).numpy().astype(np.float64)
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    dele, ins = [], []
    for k in range(steps + 1):
        gone = np.zeros(N, bool)
        gone[order[: k * N // steps]] = True
        dele.append(sig((np.where(gone, bv, xv) * wv).sum()))
        ins.append(sig((np.where(gone, xv, bv) * wv).sum()))
    return np.array(dele), np.array(ins)


@pytest.fixture
def toy():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(T, H, W, generator=g)
    x = torch.rand(1, 3, T, H, W, generator=g)
    return LinearToy(w), w, x


def test_trapezoid_auc_of_known_curve():
    assert auc(torch.tensor([1.0, 0.5, 0.0])).item() == pytest.approx(0.5)
    assert auc(torch.tensor([1.0, 1.0, 0.0, 0.0])).item() == pytest.approx(0.5)  # 1/3 + 1/6
    assert auc(torch.tensor([0.0, 1.0]), torch.tensor([0.0, 0.25])).item() == pytest.approx(0.125)
    np.testing.assert_allclose(auc(torch.tensor([[1.0, 1.0], [0.0, 1.0]])).numpy(), [1.0, 0.5])


def test_voxel_mode_matches_brute_force(toy):
    model, w, x = toy
    saliency = torch.randperm(N, generator=torch.Generator().manual_seed(3)).float().view(1, T, H, W)
    order = np.argsort(-saliency.reshape(-1).numpy(), kind="stable")  # distinct values: no ties
    res = deletion_insertion(model, x, saliency, target=0, steps=4, chunk_size=3)
    d, i = brute_force(w, x[0], order, 4, torch.zeros(3, T, H, W))
    np.testing.assert_allclose(res.deletion[0].numpy(), d, rtol=1e-5)
    np.testing.assert_allclose(res.insertion[0].numpy(), i, rtol=1e-5)
    xs = np.linspace(0, 1, 5)
    assert res.deletion_auc.item() == pytest.approx(np.trapezoid(d, xs), rel=1e-5)
    assert res.insertion_auc.item() == pytest.approx(np.trapezoid(i, xs), rel=1e-5)
    assert res.combined.item() == pytest.approx(np.trapezoid(d, xs) + 1 - np.trapezoid(i, xs), rel=1e-5)
    np.testing.assert_allclose(res.fractions.numpy(), xs)
    # 2S forwards worth of clips, never more than chunk_size at a time
    assert sum(model.batch_sizes) == 2 * 4 and max(model.batch_sizes) <= 3
    # chunking (curves split across chunks or not) changes nothing
    for chunk in (1, 5, 100):
        other = deletion_insertion(model, x, saliency, target=0, steps=4, chunk_size=chunk)
        torch.testing.assert_close(other.deletion, res.deletion)
        torch.testing.assert_close(other.insertion, res.insertion)


def test_auto_chunk_size_follows_the_clip_size_on_cpu_only(toy):
    from vidxai.models.base import resolve_chunk_size

    cpu, gpu = torch.device("cpu"), torch.device("cuda")
    assert resolve_chunk_size("auto", (1, 3, 16, 112, 112), cpu) == 16
    assert resolve_chunk_size("auto", (1, 3, 16, 224, 224), cpu) == 5
    assert resolve_chunk_size("auto", (1, 3, 64, 224, 224), cpu) == 1
    assert resolve_chunk_size("auto", (1, 3, 64, 224, 224), gpu) == 16
    assert resolve_chunk_size(7, (1, 3, 64, 224, 224), cpu) == 7
    for bad in (0, -2, 2.5, "big", True):
        with pytest.raises(InputError, match="chunk_size must be a positive integer or 'auto'"):
            resolve_chunk_size(bad, (1, 3, 8, 8, 8), cpu)
    model, w, x = toy
    sal = torch.rand(1, T, H, W, generator=torch.Generator().manual_seed(5))
    model.batch_sizes.clear()
    auto = deletion_insertion(model, x, sal, target=0, steps=4)  # default "auto": a tiny clip, one chunk
    assert model.batch_sizes == [2 * 4]
    torch.testing.assert_close(auto.deletion, deletion_insertion(model, x, sal, target=0, steps=4,
                                                                 chunk_size=1).deletion)


def test_insertion_starts_from_removed_clip_and_baselines(toy):
    model, w, x = toy
    sal = torch.rand(1, T, H, W, generator=torch.Generator().manual_seed(1))
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    for baseline, base in [("zero", torch.zeros_like(x)), ("mean", x.mean(dim=(2, 3, 4), keepdim=True).expand_as(x)),
                           (torch.full_like(x, 0.3), torch.full_like(x, 0.3))]:
        res = deletion_insertion(model, x, sal, target=0, steps=8, baseline=baseline)
        p_removed = sig(float((base * w).sum()))
        p_intact = sig(float((x * w).sum()))
        assert res.insertion[0, 0].item() == pytest.approx(p_removed, rel=1e-5)
        assert res.deletion[0, -1].item() == pytest.approx(p_removed, rel=1e-5)
        assert res.deletion[0, 0].item() == pytest.approx(p_intact, rel=1e-5)
        assert res.insertion[0, -1].item() == pytest.approx(p_intact, rel=1e-5)
    # blur of a constant clip is the clip itself (reflect padding keeps the mass)
    const = torch.full_like(x, 0.7)
    res = deletion_insertion(model, const, sal, target=0, steps=4, baseline="blur", blur_sigma=2.0)
    np.testing.assert_allclose(res.deletion[0].numpy(), res.deletion[0, 0].item(), rtol=1e-5)
    with pytest.raises(UnknownNameError):
        deletion_insertion(model, x, sal, target=0, baseline="noise")


def test_tie_breaking_reproducible_with_seed(toy):
    model, w, x = toy
    flat = torch.zeros(1, T, H, W)  # every voxel ties
    r0 = voxel_ranks(flat, seed=0)
    assert torch.equal(r0, voxel_ranks(flat, seed=0))
    assert not torch.equal(r0, voxel_ranks(flat, seed=1))
    assert sorted(r0[0].tolist()) == list(range(N))
    a = deletion_insertion(model, x, flat, target=0, steps=4, seed=5)
    b = deletion_insertion(model, x, flat, target=0, steps=4, seed=5)
    c = deletion_insertion(model, x, flat, target=0, steps=4, seed=6)
    assert torch.equal(a.deletion, b.deletion)
    assert not torch.allclose(a.deletion, c.deletion)
    # ties only reorder within equal values: two levels -> the high half always goes first
    two = torch.zeros(1, T, H, W)
    two[0, 0] = 1.0
    r = voxel_ranks(two, seed=9)[0].view(T, H, W)
    assert r[0].max() < r[1].min()


def test_target_none_uses_prediction_and_batches(toy):
    model, w, x = toy
    xb = torch.cat([x, -x])  # clip 2 flips the sign: the other class is predicted
    sal = torch.rand(2, T, H, W, generator=torch.Generator().manual_seed(2))
    res = deletion_insertion(model, xb, sal, steps=4)
    expected = (model(xb).argmax(1))
    assert torch.equal(res.target, expected)
    single = deletion_insertion(model, xb[1:], sal[1:], target=int(expected[1]), steps=4)
    np.testing.assert_allclose(res.deletion[1].numpy(), single.deletion[0].numpy(), rtol=1e-6)


def test_supervoxel_and_grid_modes_remove_whole_segments(toy):
    model, w, x = toy
    # four segments of 8 voxels: (frame, top/bottom half); saliency constant per segment except noise
    seg = torch.zeros(1, T, H, W, dtype=torch.long)
    seg[0, 0, 2:] = 1
    seg[0, 1, :2] = 2
    seg[0, 1, 2:] = 3
    weights = torch.tensor([0.2, 0.9, 0.5, 0.1])
    sal = weights[seg] + 0.01 * torch.rand(1, T, H, W, generator=torch.Generator().manual_seed(0))
    res = deletion_insertion(model, x, sal, target=0, steps=4, mode="supervoxel", segmentation=seg)
    order_segments = [1, 2, 0, 3]
    order = np.concatenate([np.flatnonzero(seg.reshape(-1).numpy() == s) for s in order_segments])
    d, i = brute_force(w, x[0], order, 4, torch.zeros(3, T, H, W))
    np.testing.assert_allclose(res.deletion[0].numpy(), d, rtol=1e-5)
    np.testing.assert_allclose(res.insertion[0].numpy(), i, rtol=1e-5)
    np.testing.assert_allclose(res.removed[0].numpy(), np.linspace(0, 1, 5))
    # with 2 steps a segment is never split: removed fractions are whole segments
    res2 = deletion_insertion(model, x, sal, target=0, steps=3, mode="supervoxel", segmentation=seg)
    assert set((res2.removed[0] * 4).round().tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert res2.removed[0, -1] == 1.0
    # grid mode equals supervoxel mode with the same cells
    g = grid_segmentation((T, H, W), (2, 2, 1))
    assert g.unique().numel() == 4 and torch.equal(g, seg[0])
    res_g = deletion_insertion(model, x, sal, target=0, steps=4, mode="grid", grid=(2, 2, 1))
    np.testing.assert_allclose(res_g.deletion.numpy(), res.deletion.numpy(), rtol=1e-6)
    with pytest.raises(InputError, match="segmentation"):
        deletion_insertion(model, x, sal, target=0, mode="supervoxel")


def test_errors_and_accumulator(toy, tiny_model, tiny_clip):
    model, w, x = toy
    with pytest.raises(ShapeError):
        deletion_insertion(model, x, torch.rand(1, T, H + 1, W), target=0)
    # the real wrapped model: names resolve, state is restored, accumulator averages
    tiny_model.train()
    sal = torch.rand(2, 8, 32, 32, generator=torch.Generator().manual_seed(0))
    acc = DeletionInsertion(steps=4, chunk_size=4)
    res = acc.update(tiny_model, tiny_clip, sal, target="c1")
    assert tiny_model.training and tiny_model.net.features[1].training
    assert res.target.tolist() == [1, 1]
    acc.update(res, labels=[3, 3])
    s = acc.summary()
    assert s["n"] == 4 and s["combined"] == pytest.approx(float(res.combined.mean()))
    assert len(s["deletion_curve"]) == 5 and set(s["per_class"]) == {1, 3}
    assert DeletionInsertion.higher_is_better is False and DeletionInsertion.directions["insertion_auc"] is True
    assert res.to_dict()["settings"]["steps"] == 4


def test_order_is_descending_for_signed_values_with_ties():
    from vidxai.metrics.deletion import voxel_order

    g = torch.Generator().manual_seed(4)
    sal = torch.randint(-3, 4, (2, T, H, W), generator=g).float() * torch.tensor([1e-30, 7.5]).view(2, 1, 1, 1)
    sal[0, 0, 0, 0] = -0.0
    order = voxel_order(sal, seed=1)
    for b in range(2):
        v = sal[b].reshape(-1)[order[b]]
        assert (v[:-1] >= v[1:]).all()
        assert sorted(order[b].tolist()) == list(range(N))
