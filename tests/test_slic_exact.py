"""``slic3d(mode="exact")`` against scikit-image's ``slic`` with the same settings: the same labels on small
synthetic volumes (default suite) and adjusted Rand index >= 0.9 on 16 x 112 x 112 crops of real UCF101-24
clips at the thesis' K = 120 (realdata), where the fast mode's labels differ (ARI ~0.4-0.8)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vidxai.errors import InputError
from vidxai.supervoxels import adjusted_rand_index, slic3d

skimage_seg = pytest.importorskip("skimage.segmentation")


def ari(a: np.ndarray, b: np.ndarray) -> float:
    """sklearn's adjusted_rand_score when installed, else vidxai's torch implementation."""
    try:
        from sklearn.metrics import adjusted_rand_score
    except ImportError:
        return float(adjusted_rand_index(torch.as_tensor(a)[None], torch.as_tensor(b)[None])[0])
    return float(adjusted_rand_score(np.asarray(a).ravel(), np.asarray(b).ravel()))


def smooth_clip(t: int = 6, h: int = 32, w: int = 32, seed: int = 0) -> torch.Tensor:
    """``(3, T, H, W)`` float64 smooth colour blobs with pixel noise, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 3, 6, 6, generator=g, dtype=torch.float64)
    x = torch.nn.functional.interpolate(low, size=(t, h, w), mode="trilinear", align_corners=False)[0]
    return (x + 0.1 * torch.rand(3, t, h, w, generator=g, dtype=torch.float64)).clamp(0, 1)


def sk(clip: torch.Tensor, **kw) -> np.ndarray:
    """scikit-image's slic on a ``(C, T, H, W)`` clip, channels last, labels from 0."""
    return skimage_seg.slic(clip.permute(1, 2, 3, 0).numpy(), channel_axis=-1, start_label=0, **kw)


@pytest.mark.parametrize("kw", [dict(n_segments=24), dict(n_segments=24, compactness=40.0),
                                dict(n_segments=12, compactness=3.0, max_num_iter=4),
                                dict(n_segments=24, enforce_connectivity=False)])
def test_exact_matches_skimage_on_synthetic_volumes(kw):
    clip = smooth_clip()
    ref = sk(clip, **kw)
    ours_kw = {("max_iter" if k == "max_num_iter" else k): v for k, v in kw.items()}
    ours, info = slic3d(clip[None], mode="exact", return_info=True, **ours_kw)
    assert ari(ref, ours[0].numpy()) >= 0.99
    if kw.get("enforce_connectivity", True):
        assert np.array_equal(ref, ours[0].numpy())  # same labels, same numbering (by first voxel)
    assert info["num_seeds"] == int(np.prod(info["grid"]))


def test_exact_other_inputs_match_skimage():
    clip = smooth_clip(t=4, h=32, w=28, seed=1)
    # spacing along t (our temporal_scale), no Lab conversion, a 2-D image
    ref = sk(clip, n_segments=25, spacing=np.array([2.0, 1.0, 1.0]))
    assert ari(ref, slic3d(clip[None], n_segments=25, mode="exact", temporal_scale=2.0)[0].numpy()) >= 0.99
    ref = sk(clip, n_segments=25, convert2lab=False, compactness=0.5)
    ours = slic3d(clip[None], n_segments=25, mode="exact", lab=False, compactness=0.5)
    assert ari(ref, ours[0].numpy()) >= 0.99
    image = clip[:, 0]
    ref = skimage_seg.slic(image.permute(1, 2, 0).numpy(), n_segments=20, channel_axis=-1, start_label=0)
    ours = slic3d(image[None], n_segments=20, mode="exact")
    assert ours.shape == (1, 32, 28) and ari(ref, ours[0].numpy()) >= 0.99


def test_exact_batch_equals_single_and_float32():
    clips = torch.stack([smooth_clip(t=4, h=24, w=24, seed=s) for s in (2, 3)])
    batch = slic3d(clips, n_segments=12, mode="exact", chunk_voxels=None)
    for i in range(2):
        assert torch.equal(batch[i], slic3d(clips[i:i + 1], n_segments=12, mode="exact")[0])
    assert ari(batch[0].numpy(), slic3d(clips[:1].float(), n_segments=12, mode="exact")[0].numpy()) >= 0.99
    with pytest.raises(InputError):
        slic3d(clips, mode="exact", grid=(1, 2, 2))
    with pytest.raises(InputError):
        slic3d(clips, mode="nope")


def test_adjusted_rand_index_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    g = np.random.default_rng(0)
    a = g.integers(0, 5, (2, 3, 4, 5))
    b = (a + g.integers(0, 2, a.shape)) % 6
    ours = adjusted_rand_index(a, b)
    for i in range(2):
        assert ours[i].item() == pytest.approx(metrics.adjusted_rand_score(a[i].ravel(), b[i].ravel()), abs=1e-12)
    assert adjusted_rand_index(a, a + 3).tolist() == [1.0, 1.0]


def ucf_crop(root, name: str) -> torch.Tensor:
    """The first 16 frames of a UCF101-24 clip, centre crop 112 x 112, ``(3, 16, 112, 112)`` float64 in [0, 1]."""
    from vidxai.io.decode import read_video

    path = root / "videos" / "ucf101_24" / f"{name}.avi"
    if not path.exists():
        pytest.skip(f"{path} not found")
    frames = read_video(path, 0, 16).frames
    _, h, w, _ = frames.shape
    y0, x0 = (h - 112) // 2, (w - 112) // 2
    crop = frames[:, y0:y0 + 112, x0:x0 + 112]
    return torch.from_numpy(np.ascontiguousarray(crop)).permute(3, 0, 1, 2).double() / 255


@pytest.mark.realdata
@pytest.mark.parametrize("name", ["v_Basketball_g01_c01", "v_SkateBoarding_g04_c01"])
def test_exact_matches_skimage_on_real_clips(realdata, name):
    clip = ucf_crop(realdata, name)
    ref = sk(clip, n_segments=120)
    exact = slic3d(clip[None], n_segments=120, mode="exact")[0].numpy()
    fast = slic3d(clip[None], n_segments=120, temporal_ratio=None)[0].numpy()
    assert ari(ref, exact) >= 0.9  # measured: 1.0 (identical labels) on all five UCF101-24 crops
    assert ari(ref, fast) < ari(ref, exact)
