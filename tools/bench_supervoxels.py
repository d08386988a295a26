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

Agreement (``--only agreement`` runs just this and updates that section of the existing JSON/Markdown): on
16 x 112 x 112 centre crops of the UCF101-24 clips, the adjusted Rand index of our fast mode (default and thesis
grid) and of ``mode="exact"`` against scikit-image at K=120, the time of each (one thread, same clips), and the
distribution of supervoxel temporal extent (frames each supervoxel spans: quartiles) at the default and thesis
settings, also on the resized real clips of the main benchmark. ``os.getloadavg()`` is recorded before/after.

Usage::

    python tools/bench_supervoxels.py                 # full run, writes docs/benchmarks/supervoxels.{json,md}
    python tools/bench_supervoxels.py --quick         # fewer clips, no files unless --out is given
    python tools/bench_supervoxels.py --threads 2 --device cuda
    python tools/bench_supervoxels.py --only agreement   # ARI fast / exact / skimage + temporal extent
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

from vidxai.supervoxels import (adjusted_rand_index, boundary_recall, slic3d,  # noqa: E402
                                undersegmentation_error)

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
        rgb = torch.from_numpy(c.frames).permute(3, 0, 1, 2).float() / 255
        out.append({"name": f"synthetic-{seed0 + i}", "rgb": rgb, "gt": gt})
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


def run_side_by_side(clips: list[dict], n_segments: int, device: str = "cpu", **ours_kw) -> tuple[list, list]:
    """scikit-image and ours (batch 1) clip by clip, alternating, so both see the same machine load."""
    sk, ours = [], []
    for c in clips:
        sk += run_skimage([c], n_segments=n_segments)
        ours += run_ours([c], n_segments=n_segments, device=device, **ours_kw)
    return sk, ours


def swag_overhead(threads: int, device: str, repeats: int = 5) -> dict:
    """SWAG-V I+G total time / one guided-backprop pass, R(2+1)D-18 (random weights), one 16x112x112 clip."""
    import torchvision

    import vidxai
    from vidxai.attribution.base import model_state
    from vidxai.attribution.guided import guided_gradient
    from vidxai.attribution.swag import SwagVIG

    torch.manual_seed(0)
    net = torchvision.models.video.r2plus1d_18(weights=None, num_classes=400).eval()
    spec = vidxai.InputSpec(num_frames=16, crop=(112, 112))
    model = vidxai.wrap(net, spec=spec, name="r2plus1d_18-random").to(device)
    x = torch.randn(1, 3, 16, 112, 112, generator=torch.Generator().manual_seed(0)).to(device)
    target = torch.tensor([3], device=device)
    method = SwagVIG(model)

    def sync():
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    guided_t, swag_t = [], []
    method.attribute(x, target=3)  # warm-up (also fills the layout cache, as in any repeated use)
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        with model_state(model):
            guided_gradient(model, x, target)
        sync()
        t1 = time.perf_counter()
        method.attribute(x, target=3)
        sync()
        t2 = time.perf_counter()
        guided_t.append(t1 - t0)
        swag_t.append(t2 - t1)
    g, s = statistics.median(guided_t), statistics.median(swag_t)
    return {"model": "r2plus1d_18 (torchvision, random weights)", "clip": "1x3x16x112x112",
            "guided_backprop_seconds": g, "swagv_ig_seconds": s, "ratio": s / g, "repeats": repeats}


def run_ours_threads(clips: list[dict], threads: int, **kw) -> list[dict]:
    """:func:`run_ours` with ``threads`` torch threads (restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return run_ours(clips, **kw)
    finally:
        torch.set_num_threads(before)


def bench_size(size: int, n_synthetic: int, n_shapes: int, n_segments: int, device: str, batch: int,
               all_cores: int = 0) -> dict:
    """All runs on the same clips, group by group: for each group of ``batch`` clips, scikit-image (clip by
    clip), ours batch 1, ours thesis grid, ours on the whole group and (``all_cores`` > 1) ours batch 1 with that
    many torch threads run back to back, so every ratio compares times taken under the same machine load."""
    clips = synthetic_inputs(n_synthetic, size) + shapes_inputs(n_shapes, size) + real_inputs(realdata_root(), size)
    gt_clips = [c for c in clips if c["gt"] is not None]
    real = [c for c in clips if c["gt"] is None]
    print(f"[{size}] {len(gt_clips)} clips with ground truth, {len(real)} real clips", flush=True)
    runs: dict[str, list] = {"skimage": [], "ours": [], "ours_thesis_grid": [], f"ours_batch{batch}": []}
    group_speedups: dict[str, list] = {"batch1": [], f"batch{batch}": [], "thesis_grid_batch1": []}
    if all_cores > 1:
        runs["ours_all_cores"], group_speedups["batch1_all_cores"] = [], []
    for i in range(0, len(clips), batch):
        group = clips[i:i + batch]
        sk, ours = run_side_by_side(group, n_segments, device=device)
        thesis = run_ours(group, n_segments=n_segments, device=device, temporal_ratio=None)
        whole = run_ours(group, n_segments=n_segments, device=device, batch=batch)
        for key, res in (("skimage", sk), ("ours", ours), ("ours_thesis_grid", thesis), (f"ours_batch{batch}", whole)):
            runs[key] += res
        sk_total = sum(r["time"] for r in sk)
        group_speedups["batch1"].append(sk_total / sum(r["time"] for r in ours))
        group_speedups["thesis_grid_batch1"].append(sk_total / sum(r["time"] for r in thesis))
        group_speedups[f"batch{batch}"].append(sk_total / sum(r["time"] for r in whole))
        if all_cores > 1:
            multi = run_ours_threads(group, all_cores, n_segments=n_segments, device=device)
            runs["ours_all_cores"] += multi
            group_speedups["batch1_all_cores"].append(sk_total / sum(r["time"] for r in multi))
    out = {"size": [16, size, size], "n_segments": n_segments, "clips_with_gt": len(gt_clips), "real_clips": len(real),
           "real_clip_names": [c["name"] for c in real], "batch": batch, "all_cores_threads": all_cores}
    for name, res in runs.items():
        out[name] = {"all": summarize(res, n_segments),
                     "synthetic_gt": summarize([r for r in res if r["clip"]["gt"] is not None], n_segments),
                     "real": summarize([r for r in res if r["clip"]["gt"] is None], n_segments) if real else None}
    # Total skimage time / total ours time per group of clips, median over the groups.
    out["speedup_vs_skimage"] = {k: statistics.median(v) for k, v in group_speedups.items()}
    out["speedup_vs_skimage_per_group"] = group_speedups
    return out


# --------------------------------------------------------------------------------------------- agreement

UCF_CLIPS = ["v_Basketball_g01_c01", "v_CliffDiving_g05_c02", "v_GolfSwing_g01_c01", "v_HorseRiding_g01_c02",
             "v_SkateBoarding_g04_c01"]


def ucf_crops(root: Path | None, size: int = 112, num_frames: int = 16) -> list[dict]:
    """The first ``num_frames`` frames of each UCF101-24 clip, centre crop ``size`` x ``size`` (no resizing)."""
    from vidxai.io.decode import read_video

    out = []
    for name in UCF_CLIPS if root is not None else []:
        path = root / "videos" / "ucf101_24" / f"{name}.avi"
        if not path.exists():
            continue
        frames = read_video(path, 0, num_frames).frames
        _, h, w, _ = frames.shape
        y0, x0 = (h - size) // 2, (w - size) // 2
        crop = np.ascontiguousarray(frames[:, y0:y0 + size, x0:x0 + size])
        out.append({"name": name, "rgb": torch.from_numpy(crop).permute(3, 0, 1, 2).double() / 255, "gt": None})
    return out


def frame_spans(labels: torch.Tensor) -> list[int]:
    """Number of frames each supervoxel of a ``(T, H, W)`` label volume spans."""
    t = labels.shape[0]
    k = int(labels.max()) + 1
    present = torch.zeros(k, t, dtype=torch.bool)
    present[labels.reshape(-1), torch.arange(t).view(t, 1, 1).expand_as(labels).reshape(-1)] = True
    return present.sum(1).tolist()


def span_summary(spans: list[int]) -> dict:
    """Quartiles, mean and extremes of supervoxel temporal extents (frames)."""
    q1, med, q3 = (float(v) for v in np.percentile(spans, [25, 50, 75]))
    return {"supervoxels": len(spans), "q1": q1, "median": med, "q3": q3, "mean": float(np.mean(spans)),
            "min": int(min(spans)), "max": int(max(spans)),
            "share_all_frames": float(np.mean(np.asarray(spans) == max(spans)))}


AGREEMENT_SETTINGS = {"skimage": None, "exact": {"mode": "exact"},
                      "fast_thesis_grid": {"temporal_ratio": None}, "fast_default": {}}


def bench_agreement(root: Path | None, n_segments: int = 120) -> dict:
    """ARI against scikit-image, time per clip and temporal extent per setting on the UCF101-24 crops, plus the
    temporal extent of the fast mode (default and thesis grid) on the main benchmark's resized real clips."""
    clips = ucf_crops(root)
    out: dict = {"clips": [c["name"] for c in clips], "crop": [16, 112, 112], "n_segments": n_segments,
                 "torch_threads": torch.get_num_threads(), "per_clip": [], "settings": {}}
    labels: dict[str, list] = {k: [] for k in AGREEMENT_SETTINGS}
    times: dict[str, list] = {k: [] for k in AGREEMENT_SETTINGS}
    for key, kw in AGREEMENT_SETTINGS.items():  # warm-up (imports, cached layouts), not timed
        if clips and kw is not None:
            run_ours(clips[:1], n_segments, **kw)
    for c in clips:  # clip by clip, every setting on the same clip back to back (same machine load)
        for key, kw in AGREEMENT_SETTINGS.items():
            res = (run_skimage([c], n_segments) if kw is None else run_ours([c], n_segments, **kw))[0]
            labels[key].append(res["labels"].long())
            times[key].append(res["time"])
        row = {"clip": c["name"]}
        for key in AGREEMENT_SETTINGS:
            row[f"ari_{key}_vs_skimage"] = float(adjusted_rand_index(labels[key][-1][None],
                                                                     labels["skimage"][-1][None])[0])
        row["identical_exact_skimage"] = bool(torch.equal(labels["exact"][-1], labels["skimage"][-1]))
        out["per_clip"].append(row)
    for key in AGREEMENT_SETTINGS:
        aris = [r[f"ari_{key}_vs_skimage"] for r in out["per_clip"]]
        spans = [s for lab in labels[key] for s in frame_spans(lab)]
        out["settings"][key] = {"ari_vs_skimage_mean": float(np.mean(aris)) if aris else None,
                                "ari_vs_skimage_min": float(np.min(aris)) if aris else None,
                                "seconds_per_clip_mean": float(np.mean(times[key])) if times[key] else None,
                                "segments_mean": float(np.mean([int(v.max()) + 1 for v in labels[key]]))
                                if labels[key] else None,
                                "temporal_extent": span_summary(spans) if spans else None}
    resized = real_inputs(root, 112)
    out["resized_real_clips"] = [c["name"] for c in resized]
    out["resized_temporal_extent"] = {}
    for key in ("fast_default", "fast_thesis_grid"):
        res = run_ours(resized, n_segments, **AGREEMENT_SETTINGS[key])
        spans = [s for r in res for s in frame_spans(r["labels"])]
        out["resized_temporal_extent"][key] = {
            "pooled": span_summary(spans) if spans else None,
            "per_clip_median": [float(np.median(frame_spans(r["labels"]))) for r in res]}
    return out


def agreement_markdown(a: dict) -> list[str]:
    """The agreement section of the Markdown report."""
    env = a.get("environment", {})
    names = {"skimage": "scikit-image `slic`", "exact": "ours, `mode=\"exact\"`",
             "fast_thesis_grid": "ours, fast, thesis grid (`temporal_ratio=None`)",
             "fast_default": "ours, fast, default (`temporal_ratio=0.5`)"}
    lines = ["## Agreement with scikit-image and temporal extent (real clips)", "",
             f"Measured {env.get('date', '?')}, {a['torch_threads']} torch thread(s), load average before/after "
             f"{env.get('loadavg_before')} / {env.get('loadavg_after')} (a 2-core machine shared with another "
             "benchmark: absolute seconds are inflated, the clips of one row ran back to back with the others).",
             f"{len(a['clips'])} UCF101-24 clips ({', '.join(a['clips'])}): first 16 frames, centre crop 112 x 112, "
             f"K = {a['n_segments']}, compactness 10, everything else default. ARI: adjusted Rand index against "
             "scikit-image's labels (1 = the same partition). Temporal extent: frames each supervoxel spans, "
             "pooled over the clips.", "",
             "| segmentation | ARI vs skimage (mean / min) | segments | s / clip | frames per supervoxel: "
             "median [q1, q3] | mean | share spanning all 16 |", "|---|---|---|---|---|---|---|"]
    for key, s in a["settings"].items():
        te = s["temporal_extent"]
        lines.append(f"| {names[key]} | {s['ari_vs_skimage_mean']:.3f} / {s['ari_vs_skimage_min']:.3f} | "
                     f"{s['segments_mean']:.1f} | {s['seconds_per_clip_mean']:.3f} | {te['median']:.0f} "
                     f"[{te['q1']:.0f}, {te['q3']:.0f}] | {te['mean']:.1f} | {te['share_all_frames']:.2f} |")
    same = sum(r["identical_exact_skimage"] for r in a["per_clip"])
    lines += ["", f"`mode=\"exact\"` gave labels identical to scikit-image's on {same} of {len(a['per_clip'])} "
              "clips.", ""]
    r = a.get("resized_temporal_extent") or {}
    if r:
        lines += [f"Temporal extent on the main benchmark's {len(a['resized_real_clips'])} real clips resized to "
                  "16 x 112 x 112 (centre 16 frames):", "",
                  "| setting | median [q1, q3] | mean | per-clip medians |", "|---|---|---|---|"]
        for key, v in r.items():
            p = v["pooled"]
            lines.append(f"| {names[key]} | {p['median']:.0f} [{p['q1']:.0f}, {p['q3']:.0f}] | {p['mean']:.1f} | "
                         f"{', '.join(f'{m:g}' for m in v['per_clip_median'])} |")
        lines.append("")
    return lines


def write_markdown(result: dict, path: Path) -> None:
    env = result["environment"]
    lines = ["# Supervoxels: vidxai `slic3d` vs `skimage.segmentation.slic`", "",
             f"Generated by `python tools/bench_supervoxels.py` on {env['date']} ({env['device']}, "
             f"torch {env['torch']}, {env['torch_threads']} torch thread(s); scikit-image {env['skimage']} is "
             f"single-threaded, so the 1-thread rows are the like-for-like comparison; the all-cores row is what a "
             f"user gets from torch's default threads; load average before/after: {env['loadavg_before']} / "
             f"{env['loadavg_after']}).",
             "Requested 120 segments; scikit-image with its defaults (compactness 10, Lab, 10 iterations, "
             "connectivity enforced); ours with its defaults (same compactness, `temporal_ratio=0.5`) and with the "
             "thesis grid (`temporal_ratio=None`).",
             "Quality over clips with ground truth (synthetic action clips + moving shapes): boundary recall "
             "(BR, tolerance 2 px / 1 frame, higher is better) and under-segmentation error (USE, Neubert & Protzel, "
             "lower is better). Seconds: mean per clip. Speed-up: total scikit-image time / total time of ours "
             "over each group of `--batch` (8) clips run back to back (same machine load), median over the groups.", ""]
    for r in result["sizes"]:
        t, h, w = r["size"]
        b = [k for k in r if k.startswith("ours_batch")][0]
        rows = [("skimage", "skimage slic", None), ("ours", "ours, default", "batch1"),
                ("ours_thesis_grid", "ours, thesis grid", "thesis_grid_batch1"),
                (b, f"ours, default, {b.replace('ours_', '')}", b.replace("ours_", ""))]
        if "ours_all_cores" in r:
            rows.append(("ours_all_cores", f"ours, default, {r['all_cores_threads']} torch threads",
                         "batch1_all_cores"))
        lines += [f"## {t} x {h} x {w} ({r['clips_with_gt']} clips with ground truth, "
                  f"{r['real_clips']} real clips)", "",
                  "| segmentation | BR | USE | segments (GT clips) | segments (real clips) "
                  "| frames / supervoxel (real) | s / clip | speed-up vs skimage |",
                  "|---|---|---|---|---|---|---|---|"]
        sp = r["speedup_vs_skimage"]
        for name, label, key in rows:
            q = r[name]["synthetic_gt"]
            real = r[name]["real"] or {}
            t_ = r[name]["all"]["seconds_per_clip_mean"]
            speed = "1.00x" if key is None else f"{sp[key]:.2f}x"
            lines.append(f"| {label} | {q['boundary_recall']:.3f} | {q['undersegmentation_error']:.4f} | "
                         f"{q['achieved_mean']:.1f} | {real.get('achieved_mean', float('nan')):.1f} | "
                         f"{real.get('frames_per_supervoxel', float('nan')):.1f} | {t_:.3f} | {speed} |")
        lines.append("")
    s = result.get("swag_overhead")
    if s:
        lines += ["## SWAG-V overhead", "",
                  f"{s['model']}, one {s['clip']} clip: guided backprop {s['guided_backprop_seconds']:.3f} s, "
                  f"SWAG-V I+G total {s['swagv_ig_seconds']:.3f} s, ratio **{s['ratio']:.2f}** (median of "
                  f"{s['repeats']}).", ""]
    if result.get("agreement"):
        lines += agreement_markdown(result["agreement"])
    path.write_text("\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    parser.add_argument("--synthetic", type=int, default=8, help="synthetic action clips per size")
    parser.add_argument("--shapes", type=int, default=8, help="moving-shapes clips per size")
    parser.add_argument("--segments", type=int, default=120)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (scikit-image uses one)")
    parser.add_argument("--all-cores", type=int, default=os.cpu_count() or 1,
                        help="also time ours with this many torch threads (default: all cores; <= 1: skip)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-swag", action="store_true", help="skip the SWAG-V / guided-backprop ratio")
    parser.add_argument("--quick", action="store_true", help="112 only, 3 + 3 clips, no files unless --out")
    parser.add_argument("--out", type=Path, default=None, help="output stem (default docs/benchmarks/supervoxels)")
    parser.add_argument("--only", choices=["agreement"], default=None,
                        help="run only this section and update it in the existing JSON/Markdown")
    args = parser.parse_args(argv)
    if args.only == "agreement":
        return main_agreement(args)
    if args.quick:
        args.sizes, args.synthetic, args.shapes = [112], 3, 3
    torch.set_num_threads(args.threads)
    import skimage

    env = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": args.device if args.device != "cpu"
           else f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
           "torch": torch.__version__, "skimage": skimage.__version__, "torch_threads": torch.get_num_threads(),
           "loadavg_before": [round(v, 2) for v in os.getloadavg()]}
    result = {"environment": env, "sizes": []}
    for size in args.sizes:
        result["sizes"].append(bench_size(size, args.synthetic, args.shapes, args.segments, args.device, args.batch,
                                          all_cores=args.all_cores if args.device == "cpu" else 0))
    if not args.no_swag:
        result["swag_overhead"] = swag_overhead(args.threads, args.device)
    result["agreement"] = timed_agreement()
    env["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    text = json.dumps(result, indent=2)
    stem = args.out or (None if args.quick else REPO / "docs" / "benchmarks" / "supervoxels")
    if stem is not None:
        stem.parent.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".json").write_text(text + "\n")
        write_markdown(result, stem.with_suffix(".md"))
        print(stem.with_suffix(".md").read_text())
    else:
        print(text)
    return 0


def timed_agreement() -> dict:
    """:func:`bench_agreement` with its own date and load averages."""
    env = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "loadavg_before": [round(v, 2) for v in os.getloadavg()]}
    out = bench_agreement(realdata_root())
    env["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    out["environment"] = env
    return out


def main_agreement(args) -> int:
    """``--only agreement``: measure the agreement section and merge it into the existing report."""
    torch.set_num_threads(args.threads)
    stem = args.out or REPO / "docs" / "benchmarks" / "supervoxels"
    path = stem.with_suffix(".json")
    result = json.loads(path.read_text()) if path.exists() else {"environment": {}, "sizes": []}
    result["agreement"] = timed_agreement()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    if result.get("sizes"):
        write_markdown(result, stem.with_suffix(".md"))
    else:
        stem.with_suffix(".md").write_text("\n".join(agreement_markdown(result["agreement"])))
    print("\n".join(agreement_markdown(result["agreement"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
