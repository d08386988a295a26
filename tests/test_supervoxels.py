"""Supervoxels: Lab conversion vs scikit-image, SLIC on volumes with an obvious answer, label properties,
the thesis (scikit-image) seed grid vs our time-splitting default, connectivity and quality measures."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidxai.data.synthetic import make_clip
from vidxai.errors import InputError, ShapeError
from vidxai.supervoxels import (achieved_count, boundary_recall, connected_components, enforce_connectivity,
                                relabel_contiguous, rgb_to_lab, seed_grid, slic3d, undersegmentation_error)
from vidxai.supervoxels.slic import skimage_grid_axes

skimage = pytest.importorskip("skimage")
ndimage = pytest.importorskip("scipy.ndimage")


def blocks_volume(t=8, h=32, w=32, noise=0.02, seed=0):
    """2 x 2 x 2 blocks of distinct colours (+ light noise); ground truth block ids."""
    g = torch.Generator().manual_seed(seed)
    tt, yy, xx = torch.meshgrid(torch.arange(t), torch.arange(h), torch.arange(w), indexing="ij")
    gt = (tt >= t // 2).long() * 4 + (yy >= h // 2).long() * 2 + (xx >= w // 2).long()
    colours = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.9], [0.9, 0.9, 0.1],
                            [0.9, 0.1, 0.9], [0.1, 0.9, 0.9], [0.5, 0.5, 0.5], [0.05, 0.05, 0.05]])
    rgb = colours[gt].permute(3, 0, 1, 2) + noise * torch.randn(3, t, h, w, generator=g)
    return rgb.clamp(0, 1), gt


def moving_square(t=16, size=48, side=14, speed=2, seed=0):
    """A red square moving right over a blue-grey background; ground truth 1 inside the square."""
    g = torch.Generator().manual_seed(seed)
    gt = torch.zeros(t, size, size, dtype=torch.long)
    for i in range(t):
        x0 = 4 + speed * i
        gt[i, 17:17 + side, x0:x0 + side] = 1
    colours = torch.tensor([[0.3, 0.4, 0.6], [0.9, 0.15, 0.1]])
    rgb = colours[gt].permute(3, 0, 1, 2) + 0.02 * torch.randn(3, t, size, size, generator=g)
    return rgb.clamp(0, 1), gt


def assert_labels_ok(labels: torch.Tensor) -> None:
    """Contiguous 0..K-1 per clip and every label one 6-connected component (checked with scipy)."""
    for clip in labels:
        uniq = clip.unique()
        assert torch.equal(uniq, torch.arange(len(uniq))), "labels are not contiguous"
        arr = clip.numpy()
        for lab in uniq.tolist():
            _, n = ndimage.label(arr == lab)  # default structure: 6-connectivity in 3-D
            assert n == 1, f"label {lab} has {n} connected components"


# --------------------------------------------------------------------------------------- colour

def test_rgb_to_lab_matches_skimage():
    from skimage.color import rgb2lab

    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 4, 6, 5, generator=g, dtype=torch.float64)
    rgb[0, :, 0, 0, 0] = 0.0  # black, white and primaries hit both branches of the gamma and f(t)
    rgb[0, :, 0, 0, 1] = 1.0
    rgb[0, :, 0, 0, 2] = torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64)
    rgb[0, :, 0, 0, 3] = torch.tensor([0.01, 0.02, 0.0], dtype=torch.float64)
    ours = rgb_to_lab(rgb).permute(0, 2, 3, 4, 1).numpy()
    ref = rgb2lab(rgb.permute(0, 2, 3, 4, 1).numpy())
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    # float32 and a (B, 3, H, W) layout
    np.testing.assert_allclose(rgb_to_lab(rgb[:, :, 0].float()).permute(0, 2, 3, 1).numpy(), ref[:, 0], atol=2e-3)
    with pytest.raises(ShapeError):
        rgb_to_lab(torch.rand(1, 4, 2, 2))


# --------------------------------------------------------------------------------------- seed grid

def test_thesis_grid_is_skimage_single_temporal_seed_and_default_splits_time():
    from skimage.util import regular_grid

    sk = regular_grid((16, 112, 112), 120)
    assert [(s.start, s.step) for s in sk] == skimage_grid_axes((16, 112, 112), 120)
    thesis = seed_grid((16, 112, 112), 120, temporal_ratio=None)
    assert thesis.shape == (1, 9, 9)  # the pitfall: one seed along time
    for ours, ref, length in zip(thesis.seeds, sk, (16, 112, 112)):
        assert ours.tolist() == list(range(length))[ref]
    default = seed_grid((16, 112, 112), 120)
    assert default.shape[0] > 1, "the default grid must split time"
    assert abs(default.num_seeds - 120) <= 12
    assert seed_grid((1, 112, 112), 120).shape[0] == 1  # images: a 2-D grid
    assert seed_grid((16, 112, 112), 120, grid=(4, 5, 6)).shape == (4, 5, 6)
    with pytest.raises(InputError):
        seed_grid((16, 112, 112), 120, temporal_ratio=0)


def test_thesis_setting_extrudes_superpixels_default_splits_them():
    rgb, _ = moving_square(t=16, size=112, side=30, speed=0)  # static clip
    thesis, info_t = slic3d(rgb[None], n_segments=120, temporal_ratio=None, return_info=True)
    default, info_d = slic3d(rgb[None], n_segments=120, return_info=True)
    assert info_t["grid"] == (1, 9, 9) and info_d["grid"][0] > 1
    # thesis: every supervoxel spans all 16 frames (a superpixel extruded through time)
    for lab in thesis[0].unique():
        assert (thesis[0] == lab).flatten(1).any(1).all()
    spans = [int((default[0] == lab).flatten(1).any(1).sum()) for lab in default[0].unique()]
    assert sum(spans) / len(spans) < 12  # shorter than the clip (not T / nt = 8: see docs/supervoxels.md)
    assert achieved_count(default)[0] > achieved_count(thesis)[0]


# --------------------------------------------------------------------------------------- SLIC

def test_slic_recovers_blocks():
    rgb, gt = blocks_volume()
    for n in (8, 40):
        labels = slic3d(rgb[None], n_segments=n)
        assert boundary_recall(labels, gt[None], tolerance=1)[0] > 0.99
        assert undersegmentation_error(labels, gt[None])[0] < 0.01
    # grid == blocks: the segmentation IS the ground truth (up to label order)
    labels = slic3d(rgb[None], n_segments=8, grid=(2, 2, 2))
    assert undersegmentation_error(labels, gt[None])[0] == 0 and int(labels.max()) + 1 == 8


def test_slic_two_half_volumes_and_moving_square():
    rgb = torch.zeros(3, 8, 32, 32)
    rgb[0, :, :, :16] = 1.0
    rgb[2, :, :, 16:] = 1.0
    gt = torch.zeros(8, 32, 32, dtype=torch.long)
    gt[:, :, 16:] = 1
    labels = slic3d(rgb[None], n_segments=2)
    assert undersegmentation_error(labels, gt[None])[0] == 0
    assert int(labels.max()) + 1 == 2

    rgb, gt = moving_square()
    labels = slic3d(rgb[None], n_segments=60)
    assert boundary_recall(labels, gt[None])[0] > 0.95
    assert undersegmentation_error(labels, gt[None])[0] < 0.02
    assert_labels_ok(labels)


def test_quality_not_worse_than_skimage_on_moving_square():
    from skimage.segmentation import slic

    rgb, gt = moving_square(t=16, size=64, side=18, speed=3, seed=3)
    ref = torch.from_numpy(slic(rgb.permute(1, 2, 3, 0).double().numpy(), n_segments=60, channel_axis=-1,
                                start_label=0).astype(np.int64))[None]
    ours = slic3d(rgb[None], n_segments=60)
    assert boundary_recall(ours, gt[None])[0] >= boundary_recall(ref, gt[None])[0] - 0.01
    assert undersegmentation_error(ours, gt[None])[0] <= undersegmentation_error(ref, gt[None])[0] + 0.005


def test_labels_contiguous_connected_deterministic_and_batch_equals_single():
    g = torch.Generator().manual_seed(5)
    smooth = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 6, 6, generator=g), size=(8, 32, 32),
                                             mode="trilinear", align_corners=False)
    clips = smooth + 0.05 * torch.rand(2, 3, 8, 32, 32, generator=g)
    batch = slic3d(clips, n_segments=30)
    assert batch.shape == (2, 8, 32, 32) and batch.dtype == torch.long
    assert_labels_ok(batch)
    assert torch.equal(batch, slic3d(clips, n_segments=30))  # deterministic
    for i in range(2):
        assert torch.equal(batch[i], slic3d(clips[i:i + 1], n_segments=30)[0])
    # without connectivity enforcement labels are still contiguous
    raw = slic3d(clips, n_segments=30, enforce_connectivity=False)
    for clip in raw:
        assert torch.equal(clip.unique(), torch.arange(int(clip.max()) + 1))
    # both merge rules and both search windows give valid labels
    assert_labels_ok(slic3d(clips, n_segments=30, merge="largest", search="wide", coarse=1))


def test_extra_channel_drives_segmentation():
    """A flat colour volume plus an extra channel with two halves: segments follow the extra channel."""
    rgb = torch.full((1, 3, 8, 32, 32), 0.5)
    extra = torch.zeros(1, 1, 8, 32, 32)
    extra[..., 16:, :] = 100.0
    gt = (extra[:, 0] > 0).long()
    labels = slic3d(rgb, n_segments=12, extra=extra, extra_weight=5.0)
    assert undersegmentation_error(labels, gt)[0] == 0
    plain = slic3d(extra, n_segments=12, lab=False)  # the extra channel alone, as a greyscale volume
    assert undersegmentation_error(plain, gt)[0] == 0


def test_images_and_bad_input():
    rgb, gt = blocks_volume(t=1)
    labels = slic3d(rgb[:, 0][None], n_segments=4)  # (B, 3, H, W)
    assert labels.shape == (1, 32, 32)
    assert undersegmentation_error(labels, gt[0][None])[0] < 0.01
    with pytest.raises(ShapeError):
        slic3d(torch.rand(3, 8, 8))
    with pytest.raises(ShapeError):
        slic3d(torch.zeros(1, 3, 4, 8, 8, dtype=torch.long))
    with pytest.raises(InputError):
        slic3d(torch.rand(1, 3, 4, 8, 8), n_segments=0)
    with pytest.raises(ShapeError):
        slic3d(torch.rand(1, 3, 4, 8, 8), extra=torch.rand(1, 1, 4, 8, 9))


# --------------------------------------------------------------------------------------- connectivity

def test_connected_components_backends_agree_with_scipy():
    g = torch.Generator().manual_seed(2)
    labels = torch.randint(0, 3, (2, 4, 10, 10), generator=g)
    a = connected_components(labels, backend="torch")
    b = connected_components(labels, backend="skimage")
    assert torch.equal(a, b)
    for clip, comp in zip(labels, a):
        total = sum(ndimage.label((clip == v).numpy())[1] for v in clip.unique().tolist())
        assert int(comp.max()) + 1 == total
        # same component => same label
        for c in comp.unique()[:20]:
            assert clip[comp == c].unique().numel() == 1


def test_enforce_connectivity_merges_small_fragments():
    labels = torch.zeros(1, 4, 12, 12, dtype=torch.long)
    labels[..., 6:] = 1
    labels[0, 1, 2, 2] = 1  # a one-voxel island of label 1 inside label 0
    labels[0, 0, 0, 0] = 2  # a one-voxel corner label
    out = enforce_connectivity(labels, min_size=5)
    assert int(out.max()) + 1 == 2
    assert out[0, 1, 2, 2] == out[0, 0, 0, 1] and out[0, 0, 0, 0] == out[0, 0, 0, 1]
    assert_labels_ok(out)
    # nearest-feature rule: a fragment joins the neighbour with the closest mean feature
    feats = torch.zeros(1, 1, 4, 12, 12)
    feats[..., 6:] = 10.0
    labels2 = torch.zeros(1, 4, 12, 12, dtype=torch.long)
    labels2[..., 6:] = 1
    labels2[0, :, 5:7, 5:7] = 2  # 16 voxels straddling the boundary; its mean is 5 (a tie) -> smaller id
    feats[0, :, :, 5:7, 5:7] = 9.0  # now it resembles label 1
    out2 = enforce_connectivity(labels2, min_size=20, features=feats)
    assert out2[0, 0, 5, 5] == out2[0, 0, 0, 11]
    out3 = enforce_connectivity(labels2, min_size=20)  # largest rule: sizes tie (96 each) -> smaller id
    assert out3[0, 0, 5, 5] == out3[0, 0, 0, 0]


def test_relabel_contiguous_keeps_order():
    labels = torch.tensor([[[5, 5, 9]], [[-3, 7, 7]]])
    out = relabel_contiguous(labels)
    assert out.tolist() == [[[0, 0, 1]], [[0, 1, 1]]]


# --------------------------------------------------------------------------------------- quality

def test_quality_measures_hand_computed():
    gt = torch.zeros(1, 1, 4, 4, dtype=torch.long)
    gt[..., 2:] = 1
    assert undersegmentation_error(gt, gt)[0] == 0
    assert boundary_recall(gt, gt, tolerance=0)[0] == 1
    one = torch.zeros_like(gt)
    # one segment over two halves of 8: min(8, 8) + min(8, 8) = 16 -> 16 / 16 = 1
    assert undersegmentation_error(one, gt)[0] == pytest.approx(1.0)
    assert undersegmentation_error(one, gt, kind="classic")[0] == pytest.approx(1.0)  # (16 + 16 - 16) / 16
    assert boundary_recall(one, gt)[0] == 0
    # one voxel of the right half in the left segment: min(8, 1) for the left half + min(1, 8) for the right
    leak = gt.clone()
    leak[0, 0, 0, 2] = 0
    assert undersegmentation_error(leak, gt)[0] == pytest.approx(2 / 16)
    assert boundary_recall(leak, gt, tolerance=0)[0] < 1
    assert boundary_recall(leak, gt, tolerance=1)[0] == 1
    assert achieved_count(torch.tensor([[[0, 3, 3]], [[1, 1, 1]]])).tolist() == [2.0, 1.0]


def test_torch_connectivity_backend_gives_same_slic_labels():
    rgb, _ = moving_square(t=8, size=32, side=10)
    a = slic3d(rgb[None], n_segments=20, connectivity_backend="skimage")
    b = slic3d(rgb[None], n_segments=20, connectivity_backend="torch")
    assert torch.equal(a, b)


@pytest.mark.realdata
def test_real_clip_default_splits_time_and_meets_the_count(realdata):
    av = pytest.importorskip("av")
    path = realdata / "videos" / "mmaction2" / "demo.mp4"
    if not path.exists():
        pytest.skip(f"{path} not found")
    frames = []
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == 16:
                break
    x = torch.from_numpy(np.stack(frames)).permute(3, 0, 1, 2).float().div(255)[None]
    x = torch.nn.functional.interpolate(x, size=(16, 112, 112), mode="trilinear", align_corners=False).clamp(0, 1)
    ours = slic3d(x, n_segments=120)
    thesis, info = slic3d(x, n_segments=120, temporal_ratio=None, return_info=True)
    assert info["grid"] == (1, 9, 9)
    assert abs(int(achieved_count(ours)[0]) - 120) < abs(int(achieved_count(thesis)[0]) - 120)
    span = [int((ours[0] == k).flatten(1).any(1).sum()) for k in ours[0].unique()]
    assert sum(span) / len(span) < 14
    assert int((thesis[0] == 0).flatten(1).any(1).sum()) == 16


@pytest.mark.gpu
def test_cuda_matches_cpu_quality():
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    rgb, gt = moving_square()
    cpu = slic3d(rgb[None], n_segments=60)
    gpu = slic3d(rgb[None].cuda(), n_segments=60)
    assert gpu.device.type == "cuda"
    assert_labels_ok(gpu.cpu())
    assert undersegmentation_error(gpu.cpu(), gt[None])[0] <= undersegmentation_error(cpu, gt[None])[0] + 0.01


def test_batch_equals_single_with_coarse_levels_and_chunks():
    """Bit-identical labels for a clip alone, in a batch, and in a chunked batch (coarse-to-fine path)."""
    clips = torch.stack([moving_square(t=16, size=48, side=16, speed=s, seed=s)[0] for s in (1, 2, 3)])
    whole, info = slic3d(clips, n_segments=20, chunk_voxels=None, return_info=True)
    assert info["coarse"] > 1
    chunked = slic3d(clips, n_segments=20, chunk_voxels=2 * 16 * 48 * 48)
    assert torch.equal(whole, chunked)
    assert torch.equal(whole[1], slic3d(clips[1:2], n_segments=20)[0])
    # the default 16 x 112 x 112 grid: dense coarse level, equal sub-cells (reshape layout), unchunked batch
    big = torch.stack([torch.from_numpy(make_clip(s).frames).permute(3, 0, 1, 2).float() / 255 for s in (0, 1, 2)])
    together, info = slic3d(big, chunk_voxels=None, return_info=True)
    assert info["coarse"] == 4
    for i in range(3):
        assert torch.equal(together[i], slic3d(big[i:i + 1])[0])
