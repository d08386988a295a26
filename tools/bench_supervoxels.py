#!/usr/bin/env python
"""Benchmark vidxai's torch 3-D SLIC against scikit-image's ``slic`` on the same clips, side by side.

Quality (against ground-truth segments): boundary recall (higher is better) and under-segmentation error
(Neubert & Protzel form, lower is better) on synthetic clips with known segments: the project's
synthetic action clips (``vidxai.data.synthetic.make_clip``: background / actor / each distractor) and
simple moving-shapes clips drawn here. On the real clips of ../shared/realdata there is no ground truth:
we report achieved vs requested segment counts and the temporal extent (frames per supervoxel).

Time: seconds per clip for scikit-image (one clip at a time, it has no batching) and for ours with batch 1
and batch 8, measured in the same run on the same inputs; ``speedup_vs_skimage`` = skimage time / ours.
Also SWAG-V I+G total time / one guided-backprop pass on R(2+1)D-18 (random weights, 16x112x112).

Usage::

    python tools/bench_supervoxels.py                 # full run, writes docs/benchmarks/supervoxels.{json,md}
    python tools/bench_supervoxels.py --quick         # fewer clips, no files unless --out is given
    python tools/bench_supervoxels.py --threads 2 --device cuda
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from vidxai.supervoxels import boundary_recall, slic3d, undersegmentation_error  # noqa: E402

# --------------------------------------------------------------------------------------------- inputs


def synthetic_inputs(n: int, size: int, num_frames: int = 16, seed0: int = 0) -> list[dict]:
    """The project's synthetic action clips with ground truth background=0, actor=1, distractors 2, 3."""
    from scipy import ndimage

    from vidxai.data.synthetic import make_clip

    out = []
    for i in range(n):
        c = make_clip(seed0 + i, num_frames=num_frames, size=size)
        gt = np.zeros(c.actor_masks.shape, dtype=np.int64)
        dis, _ = ndimage.label(c.distractor_masks)  # each distractor is its own segment
        gt[dis > 0] = 1 + dis[dis > 0]
        gt[c.actor_masks] = 1
        out.append({"name": f"synthetic-{seed0 + i}", "rgb": torch.from_numpy(c.frames).permute(3, 0, 1, 2).float() / 255,
                    "gt": gt})
    return out


def shapes_inputs(n: int, size: int, num_frames: int = 16, seed0: int = 0) -> list[dict]:
    """Moving discs and rectangles over a background of 2-4 flat regions, light noise; exact ground truth."""
    out = []
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    for i in range(n):
        rng = np.random.default_rng(1000 + seed0 + i)
        gt = np.zeros((num_frames, size, size), dtype=np.int64)
        # background: vertical/horizontal split into flat regions
        n_bg = int(rng.integers(2, 5))
        cuts = np.sort(rng.uniform(0.2, 0.8, n_bg - 1)) * size
        axis = xx if rng.random() < 0.5 else yy
        bg = np.searchsorted(cuts, axis)
        gt[:] = bg[None]
        label = n_bg
        for _ in range(int(rng.integers(2, 5))):
            r = rng.uniform(0.08, 0.18) * size
            p0 = rng.uniform(r, size - r, 2)
            v = rng.uniform(-1.5, 1.5, 2) * size / 112
            disc = rng.random() < 0.5
            for t in range(num_frames):
                cx, cy = p0 + v * t
                m = ((xx - cx) ** 2 + (yy - cy) ** 2 < r * r) if disc else \
                    ((np.abs(xx - cx) < r) & (np.abs(yy - cy) < 0.7 * r))
                gt[t][m] = label
            label += 1
        colours = rng.uniform(0.05, 0.95, (label, 3)).astype(np.float32)
        rgb = colours[gt] + rng.normal(0, 0.03, gt.shape + (3,)).astype(np.float32)
        out.append({"name": f"shapes-{seed0 + i}", "rgb": torch.from_numpy(np.clip(rgb, 0, 1)).permute(3, 0, 1, 2),
                    "gt": gt})
    return out


REAL_CLIPS = ["videos/mmaction2/demo.mp4", "videos/mmaction2/test.mp4",
              "videos/fingerrec_3dnet_vis/ucf101/v_Shotput_g05_c02.avi",
              "videos/fingerrec_3dnet_vis/ucf101/v_ApplyEyeMakeup_g01_c01.avi",
              "videos/mmaction2/test_video_structuralize.mp4", "videos/kinetics_i3d/v_CricketShot_g04_c01_rgb.gif"]


def real_inputs(root: Path | None, size: int, num_frames: int = 16) -> list[dict]:
    """The centre ``num_frames`` frames of each real clip, resized to ``size`` x ``size`` (no ground truth)."""
    import av

    out = []
    if root is None:
        return out
    for rel in REAL_CLIPS:
        path = root / rel
        if not path.exists():
            continue
        with av.open(str(path)) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        if len(frames) < num_frames:
            continue
        mid = (len(frames) - num_frames) // 2
        x = torch.from_numpy(np.stack(frames[mid:mid + num_frames])).permute(3, 0, 1, 2).float() / 255
        x = F.interpolate(x.unsqueeze(0), size=(num_frames, size, size), mode="trilinear", align_corners=False)[0]
        out.append({"name": rel.split("/")[-1], "rgb": x.clamp(0, 1), "gt": None})
    return out


def realdata_root() -> Path | None:
    env = os.environ.get("VIDXAI_REALDATA")
    for cand in ([Path(env)] if env else []) + [REPO.parent / "shared" / "realdata"]:
        if cand.is_dir():
            return cand
    return None


# --------------------------------------------------------------------------------------------- runners


def run_skimage(clips: list[dict], n_segments: int = 120, compactness: float = 10.0, **kw) -> list[dict]:
    """scikit-image slic, one clip at a time (its defaults: Lab, 10 iterations, connectivity enforced)."""
    from skimage.segmentation import slic

    out = []
    for c in clips:
        arr = c["rgb"].permute(1, 2, 3, 0).numpy().astype(np.float64)
        t0 = time.perf_counter()
        lab = slic(arr, n_segments=n_segments, compactness=compactness, channel_axis=-1, start_label=0, **kw)
        out.append({"clip": c, "labels": torch.from_numpy(lab.astype(np.int64)), "time": time.perf_counter() - t0})
    return out


def run_ours(clips: list[dict], n_segments: int = 120, compactness: float = 10.0, batch: int = 1,
             device: str = "cpu", **kw) -> list[dict]:
    """vidxai's slic3d on batches of ``batch`` clips; the time of a batch is shared equally by its clips."""
    out = []
    for i in range(0, len(clips), batch):
        chunk = clips[i:i + batch]
        x = torch.stack([c["rgb"] for c in chunk]).to(device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        lab = slic3d(x, n_segments=n_segments, compactness=compactness, **kw)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / len(chunk)
        for c, lb in zip(chunk, lab.cpu()):
            out.append({"clip": c, "labels": lb, "time": dt})
    return out


def temporal_extent(labels: torch.Tensor) -> float:
    """Mean number of frames a supervoxel spans."""
    t = labels.shape[0]
    k = int(labels.max()) + 1
    present = torch.zeros(k, t, dtype=torch.bool)
    tt = torch.arange(t).view(t, 1, 1).expand_as(labels)
    present[labels.reshape(-1), tt.reshape(-1)] = True
    return float(present.sum(1).float().mean())


def summarize(results: list[dict], n_segments: int = 120) -> dict:
    """Mean quality and time over clips (quality only over clips with ground truth)."""
    br, use, count, extent, times = [], [], [], [], []
    for r in results:
        lab = r["labels"]
        count.append(float(lab.unique().numel()))
        extent.append(temporal_extent(lab))
        times.append(r["time"])
        if r["clip"]["gt"] is not None:
            gt = torch.from_numpy(r["clip"]["gt"])
            br.append(float(boundary_recall(lab[None], gt[None])[0]))
            use.append(float(undersegmentation_error(lab[None], gt[None])[0]))
    out = {"requested": n_segments, "achieved_mean": statistics.mean(count), "achieved_min": min(count),
           "achieved_max": max(count), "frames_per_supervoxel": statistics.mean(extent),
           "seconds_per_clip_mean": statistics.mean(times), "seconds_per_clip_median": statistics.median(times)}
    if br:
        out["boundary_recall"] = statistics.mean(br)
        out["undersegmentation_error"] = statistics.mean(use)
    return out
