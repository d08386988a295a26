"""Cached maps keep the precision the metrics need: metrics from the cache equal those of the float32 maps.

float16 (the old cache format) flushes small gradients to zero and rounds close supervoxel scores onto one
value; the resulting ties reorder deletion/insertion and move the pointing game's peak.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from runner_toy import build
from vidxai.runner import cache
from vidxai.runner.datasets import build_dataset
from vidxai.runner.evaluate import evaluate_batch

SETTINGS = {"localization": {}, "pointing": {"ties": "random"}, "temporal": {}}


@pytest.fixture(scope="module")
def batch():
    model = build(num_classes=6)
    data = build_dataset({"type": "synthetic", "num_clips": 2, "seed": 500, "num_frames": 8, "size": 32}, model.spec)
    items = [data[i] for i in range(len(data))]
    x = torch.stack([it["clip"] for it in items])
    gt = {"boxes": torch.stack([it["boxes"] for it in items]).numpy(),
          "masks": torch.stack([it["masks"] for it in items]).numpy(),
          "action_interval": np.array([it["action_interval"] for it in items], dtype=np.int64)}
    targets = model(x).argmax(1)
    return model, x, targets, gt


def gradient_like(shape, seed=0) -> np.ndarray:
    """|gradient|-like: magnitudes over six decades, most of them tiny (float16 flushes those below 6e-8)."""
    g = np.random.default_rng(seed)
    return np.exp(g.normal(-14.0, 3.0, shape)).astype(np.float32)


def supervoxel_like(shape, seed=0) -> tuple[np.ndarray, np.ndarray]:
    """A piecewise-constant map over 2x8x8 blocks whose scores differ by ~1e-4 (float16 steps 2.4e-4 near 0.5)."""
    b, t, h, w = shape
    tt, yy, xx = np.meshgrid(np.arange(t) // 2, np.arange(h) // 8, np.arange(w) // 8, indexing="ij")
    seg = (tt * (h // 8) * (w // 8) + yy * (w // 8) + xx).astype(np.int32)
    seg = np.broadcast_to(seg, shape).copy()
    scores = 0.5 + 1e-4 * np.random.default_rng(seed).standard_normal((b, seg.max() + 1))
    sal = np.take_along_axis(scores, seg.reshape(b, -1), 1).reshape(shape).astype(np.float32)
    return sal, seg


def metrics_of(model, x, targets, gt, maps, seed=7) -> dict[str, np.ndarray]:
    out = evaluate_batch(model, x, targets, maps, gt, SETTINGS, seed=seed)
    for mode in ("voxel", "supervoxel"):
        d = evaluate_batch(model, x, targets, maps, gt, {"deletion": {"steps": 8, "mode": mode}}, seed=seed)
        out.update({f"{mode}_{k}": v for k, v in d.items()})
    return out


def through_cache(tmp_path, maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The maps as the runner stores and reads them back."""
    path = tmp_path / "maps" / cache.shard_name(0)
    cache.write_shard(path, maps, {"batch": 0, "clip_ids": ["a", "b"], "seconds_per_clip": 0.0})
    return cache.read_shard(path)[0]


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-6, equal_nan=True, err_msg=key)


@pytest.mark.parametrize("kind", ["gradient", "supervoxel"])
def test_metrics_of_cached_maps_equal_those_of_float32_maps(tmp_path, batch, kind):
    model, x, targets, gt = batch
    shape = (x.shape[0],) + tuple(x.shape[2:])
    if kind == "gradient":
        maps = {"saliency": gradient_like(shape)}
    else:
        sal, seg = supervoxel_like(shape)
        maps = {"saliency": sal, "segmentation": seg}
    cached = through_cache(tmp_path, maps)
    assert cached["saliency"].dtype == np.float32
    np.testing.assert_array_equal(cached["saliency"], maps["saliency"])
    with torch.no_grad():
        assert_same(metrics_of(model, x, targets, gt, maps), metrics_of(model, x, targets, gt, cached))


def test_float16_would_change_the_metrics(batch):
    """Why the cache is float32: the same comparison fails for float16 maps (ties that float32 does not have)."""
    model, x, targets, gt = batch
    shape = (x.shape[0],) + tuple(x.shape[2:])
    sal, seg = supervoxel_like(shape)
    full = {"saliency": sal, "segmentation": seg}
    half = {"saliency": sal.astype(np.float16).astype(np.float32), "segmentation": seg}
    assert len(np.unique(half["saliency"])) < len(np.unique(sal))  # ties
    with torch.no_grad():
        a, b = metrics_of(model, x, targets, gt, full), metrics_of(model, x, targets, gt, half)
    assert any(not np.allclose(a[k], b[k], rtol=0, atol=1e-6, equal_nan=True) for k in a)
