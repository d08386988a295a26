"""Synthetic action clips (exact ground truth) and the shipped synthetic-tiny models."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vidxai
from vidxai.data.synthetic import (BACKGROUND_NAMES, CLASS_NAMES, SyntheticActions, item_seed, make_clip,
                                   normalize_frames)
from vidxai.errors import CorruptCheckpointError, InputError, MissingCheckpointError

# Seed of the fresh evaluation clips: not one of the training/validation/test streams recorded in
# vidxai/models/weights/synthetic.json.
FRESH_SEED = 777


def _reference_boxes(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (exclusive x2/y2) by np.nonzero, frame by frame (independent of the library)."""
    out = np.full((len(masks), 4), np.nan)
    for t, m in enumerate(masks):
        rows, cols = np.nonzero(m)
        if len(rows):
            out[t] = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return out


def _centroids(masks: np.ndarray) -> np.ndarray:
    t, h, w = masks.shape
    yy, xx = np.mgrid[0:h, 0:w]
    area = masks.sum((1, 2))
    return np.stack([(masks * xx).sum((1, 2)) / area, (masks * yy).sum((1, 2)) / area], 1)


def test_same_seed_same_clip_and_different_seeds_differ():
    a, b, c = make_clip(11), make_clip(11), make_clip(12)
    assert np.array_equal(a.frames, b.frames) and np.array_equal(a.actor_masks, b.actor_masks)
    assert np.array_equal(a.actor_boxes, b.actor_boxes, equal_nan=True)
    assert (a.label, a.action_start, a.action_end, a.background_label) == (b.label, b.action_start, b.action_end,
                                                                            b.background_label)
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.shape == (16, 112, 112, 3) and a.frames.dtype == np.uint8
    assert a.actor_masks.shape == a.distractor_masks.shape == (16, 112, 112)
    assert a.actor_boxes.shape == (16, 4)
    assert a.class_name == CLASS_NAMES[a.label] and len(CLASS_NAMES) >= 6


@pytest.mark.parametrize("seed", range(6))
def test_masks_are_the_rendered_object_pixels_and_boxes_fit_them(seed):
    clip = make_clip(seed, label=seed % len(CLASS_NAMES))
    # Objects are painted in fully saturated colours (a channel at exactly 0); the muted, noisy backgrounds
    # never reach 0 in any channel. So the object pixels can be read back from the frames alone.
    painted = clip.frames.min(-1) == 0
    assert np.array_equal(painted, clip.actor_masks | clip.distractor_masks)
    assert not (clip.actor_masks & clip.distractor_masks).any()
    assert clip.actor_masks.any((1, 2)).all() and clip.distractor_masks.any()
    # Boxes are the tight xyxy boxes of the masks, exclusive x2/y2.
    np.testing.assert_array_equal(clip.actor_boxes, _reference_boxes(clip.actor_masks))
    from vidxai.metrics.boxes import masks_to_boxes

    lib = masks_to_boxes(torch.from_numpy(clip.actor_masks)).numpy()
    np.testing.assert_array_equal(lib, clip.actor_boxes)


def test_boxes_are_nan_where_the_actor_is_absent():
    from vidxai.data.synthetic import masks_to_boxes_np

    masks = make_clip(3).actor_masks.copy()
    masks[2] = False
    boxes = masks_to_boxes_np(masks)
    assert np.isnan(boxes[2]).all() and not np.isnan(boxes[[0, 1, 3]]).any()


def _clip_with(pred, label=None, num_distractors=1):
    for seed in range(200):
        clip = make_clip(seed, label=label, num_distractors=num_distractors)
        if pred(clip):
            return clip
    raise AssertionError("no seed found")


def test_distractors_look_exactly_like_the_actor():
    clip = _clip_with(lambda c: c.action_start > 0)
    frame = clip.frames[0]  # nobody has moved yet (jitter shifts by whole pixels)
    am, dm = clip.actor_masks[0], clip.distractor_masks[0]
    ab = _reference_boxes(am[None])[0].astype(int)
    db = _reference_boxes(dm[None])[0].astype(int)
    a_crop = (slice(ab[1], ab[3]), slice(ab[0], ab[2]))
    d_crop = (slice(db[1], db[3]), slice(db[0], db[2]))
    assert np.array_equal(am[a_crop], dm[d_crop])  # same shape and orientation
    m = am[a_crop]
    assert np.array_equal(frame[a_crop][m], frame[d_crop][m])  # same texture, pixel for pixel


@pytest.mark.parametrize("label", range(len(CLASS_NAMES)))
def test_only_the_actor_moves_in_the_class_way(label):
    clip = _clip_with(lambda c: True, label=label)
    ca = _centroids(clip.actor_masks)
    cd = _centroids(clip.distractor_masks)
    move = ca[-1] - ca[0]
    expected = {0: (1, 0), 1: (-1, 0), 2: (0, -1), 3: (0, 1)}
    if label in expected:
        direction = np.asarray(expected[label])
        assert move @ direction > 8 and abs(move @ direction[::-1]) < 1.0
    else:  # rotation: the centre stays, the shape turns (mask changes)
        assert np.abs(move).max() < 1.0
        assert (clip.actor_masks[0] ^ clip.actor_masks[-1]).sum() > 0.3 * clip.actor_masks[0].sum()
        # clockwise on screen (rows grow downwards): the long axis angle increases
        ang = [_orientation(m) for m in clip.actor_masks[[clip.action_start - 1 if clip.action_start else 0,
                                                           min(clip.action_start + 1, 15)]]]
        turn = (ang[1] - ang[0] + np.pi / 2) % np.pi - np.pi / 2
        assert turn > 0 if label == 4 else turn < 0
    # Distractors never travel: at most a one-pixel jitter around a fixed place.
    assert np.abs(cd - cd[0]).max() <= 2.0


def _orientation(mask: np.ndarray) -> float:
    yy, xx = np.nonzero(mask)
    x, y = xx - xx.mean(), yy - yy.mean()
    return 0.5 * np.arctan2(2 * (x * y).mean(), (x * x).mean() - (y * y).mean())


@pytest.mark.parametrize("seed", range(12))
def test_actor_moves_exactly_inside_the_action_interval(seed):
    clip = make_clip(seed)
    changed = np.array([not np.array_equal(clip.actor_masks[t], clip.actor_masks[t - 1])
                        for t in range(1, clip.num_frames)])
    expected = clip.action_mask()[1:]
    assert np.array_equal(changed, expected)
    assert 0 <= clip.action_start < clip.action_end <= clip.num_frames
    assert clip.action_end - clip.action_start >= 0.4 * clip.num_frames


def test_small_and_long_clips_and_bad_arguments():
    small = make_clip(1, num_frames=8, size=32)
    assert small.frames.shape == (8, 32, 32, 3) and small.actor_masks.any((1, 2)).all()
    long = make_clip(2, label=0, num_frames=48, size=48)
    assert long.actor_masks.any((1, 2)).all()
    assert np.nanmax(long.actor_boxes[:, 2]) <= 48
    with pytest.raises(InputError):
        make_clip(0, label=len(CLASS_NAMES))
    with pytest.raises(InputError):
        make_clip(0, size=8)
    with pytest.raises(InputError):
        make_clip(0, num_frames=2)


def test_dataset_items_and_labels():
    ds = SyntheticActions(8, seed=5)
    item = ds[3]
    assert item["video"].shape == (3, 16, 112, 112) and item["video"].dtype == torch.float32
    assert item["boxes"].shape == (16, 4) and item["masks"].shape == (16, 112, 112)
    assert item["masks"].dtype == torch.bool and item["distractor_masks"].shape == (16, 112, 112)
    assert item["clip_id"] == "synthetic-5-3" and item["label"] == 3
    clip = make_clip(item_seed(5, 3), label=3)
    assert torch.equal(item["video"], normalize_frames(clip.frames))
    assert torch.equal(ds[3]["video"], item["video"])
    assert (item["action_start"], item["action_end"]) == (clip.action_start, clip.action_end)
    assert [ds[i]["label"] for i in range(8)] == [i % 6 for i in range(8)]
    bg = SyntheticActions(4, seed=5, task="background", num_frames=8, size=32)
    assert [bg[i]["label"] for i in range(4)] == [0, 1, 2, 3] and bg[0]["video"].shape == (3, 8, 32, 32)
    assert bg.class_names == BACKGROUND_NAMES
    assert item_seed(5, 3) != item_seed(3, 5)
    with pytest.raises(vidxai.errors.UnknownNameError):
        SyntheticActions(2, task="colour")
    loader = torch.utils.data.DataLoader(SyntheticActions(4, num_frames=8, size=32), batch_size=2)
    batch = next(iter(loader))
    assert batch["video"].shape == (2, 3, 8, 32, 32) and batch["boxes"].shape == (2, 8, 4)


def _batch(ds):
    items = [ds[i] for i in range(len(ds))]  # render each clip once
    return torch.stack([it["video"] for it in items]), torch.tensor([it["label"] for it in items])


def _accuracy(model, x, y) -> float:
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 16]).argmax(1) for i in range(0, len(x), 16)])
    return float((pred == y).float().mean())


@pytest.fixture(scope="module")
def action_model():
    return vidxai.models.load("synthetic-tiny")


def test_shipped_action_model_is_accurate_and_needs_motion(action_model):
    model = action_model
    assert model.class_names == list(CLASS_NAMES) and model.weights == "default"
    assert model.spec.num_frames == 16 and model.spec.crop == (112, 112) and model.spec.value_range == (0.0, 1.0)
    assert sum(p.numel() for p in model.parameters()) <= 1_000_000
    assert isinstance(model.layer(model.target_layers[0]), torch.nn.Module)
    x, y = _batch(SyntheticActions(64, seed=FRESH_SEED))
    assert _accuracy(model, x, y) >= 0.9
    # One frame repeated: no motion left, so the class cannot be read (near chance, 1/6).
    still = x[:, :, 8:9].expand_as(x).contiguous()
    assert _accuracy(model, still, y) <= 0.4


def test_shipped_background_model_is_accurate():
    model = vidxai.models.load("synthetic-tiny-background")
    assert model.class_names == list(BACKGROUND_NAMES)
    assert _accuracy(model, *_batch(SyntheticActions(48, seed=FRESH_SEED, task="background"))) >= 0.9


def test_shipped_weights_are_recorded():
    from vidxai.models.synthetic import WEIGHT_FILES, WEIGHTS_DIR, metadata, sha256_file

    meta = metadata()["models"]
    total = 0
    for name, file in WEIGHT_FILES.items():
        rec = meta[name]
        assert rec["sha256"] == sha256_file(WEIGHTS_DIR / file)
        assert rec["test_accuracy"] >= (0.95 if name == "synthetic-tiny" else 0.9)
        total += (WEIGHTS_DIR / file).stat().st_size
    assert total < 4_000_000


def test_checkpoint_errors_and_roundtrip(tmp_path, monkeypatch):
    with pytest.raises(MissingCheckpointError, match="not found"):
        vidxai.models.load("synthetic-tiny", weights=str(tmp_path / "nope.pt"))
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CorruptCheckpointError) as err:
        vidxai.models.load("synthetic-tiny", weights=str(bad))
    assert "\n" not in str(err.value)
    # The background model's head has 4 outputs, not 6: does not fit.
    from vidxai.models.synthetic import WEIGHT_FILES, WEIGHTS_DIR

    with pytest.raises(CorruptCheckpointError, match="does not fit"):
        vidxai.models.load("synthetic-tiny", weights=WEIGHTS_DIR / WEIGHT_FILES["synthetic-tiny-background"])
    # A random model saved and loaded back by path.
    torch.manual_seed(0)
    rand = vidxai.models.load("synthetic-tiny", weights=None)
    assert rand.weights == "random"
    path = tmp_path / "mine.pt"
    torch.save({"state_dict": rand.net.state_dict()}, path)
    back = vidxai.models.load("synthetic-tiny", weights=str(path))
    assert all(torch.equal(a, b) for a, b in zip(rand.state_dict().values(), back.state_dict().values()))
    # Shipped weights that fail their recorded checksum are refused.
    import vidxai.models.synthetic as syn

    meta = syn.metadata()
    meta["models"]["synthetic-tiny"]["sha256"] = "0" * 64
    monkeypatch.setattr(syn, "metadata", lambda: meta)
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        vidxai.models.load("synthetic-tiny")
