"""Fast vs exact SLIC under SWAG-V on real data: how much does vidxai's fast grid-cell SLIC change SWAG-V's
numbers compared with ``mode="exact"`` (scikit-image's ``slic`` step by step)?

The same protocol as ``tools/bench_real.py`` (DeepMind's pretrained Kinetics-400 I3D, centre 16 frames at
224 x 224, seed 0), run for SWAG-V I, I+G and G once per supervoxel setting:

- ``fast``: SWAG-V's default (``preset="default"``, fast SLIC, seeds split time: ``temporal_ratio=0.5``), the
  setting of every SWAG-V number in docs/benchmarks/real.md;
- ``exact``: ``mode="exact"``, scikit-image's ``slic`` (its isotropic seed grid, 4S + 1 windows, float64 means,
  its fragment merging); the rest of SWAG-V (guided backprop, K = 120, the weights) unchanged;
- ``fast-thesis-grid`` (optional, ``--configs``): the fast SLIC on scikit-image's grid (``preset="thesis"``),
  which separates the algorithm from the seed grid.

Sections (measured here, never estimated; every finished unit is appended to a resumable record file):

- ``deletion``: deletion / insertion AUCs (28 steps, zero baseline, softmax of the class predicted on the
  intact clip, seeded random tie-breaking) on the 5 real Kinetics-labelled clips of bench_real.py; the
  seconds of each explanation; the supervoxels (count, frames spanned) and the adjusted Rand index between
  the settings' segmentations of the same clip.
- ``localization``: weak localisation (value / mean / energy, calibrated and oracle thresholds) and the pointing
  game on an evenly spread subset of bench_real.py's real UCF101-24 clips (``--loc-clips``).

SWAG-V passes ``mode`` on to :func:`vidxai.supervoxels.slic3d` like its other SLIC parameters, so every step
is the library's SWAG-V code path.

    .venv/bin/python tools/bench_slic_modes.py                      # deletion + localisation (CPU: about 1 hour)
    .venv/bin/python tools/bench_slic_modes.py --quick              # smoke: 1 clip, swagv-i, 4 steps, 112 px
    .venv/bin/python tools/bench_slic_modes.py --report             # only rewrite the tables from the records

Writes ``docs/benchmarks/slic_modes.json`` and ``docs/benchmarks/slic_modes.md`` (``--quick``: ``slic_modes_quick.*``).
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

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tools"))

from bench_real import (KINETICS_CLIPS, SCHEMES, SEED, UCF_TO_KINETICS, Records, localization_summary,  # noqa: E402
                        realdata_dir, run_units, spec_for, ucf_dataset)

METHODS = ["swagv-i", "swagv-ig", "swagv-g"]
NAMES = {"swagv-i": "SWAG-V I", "swagv-ig": "SWAG-V I+G", "swagv-g": "SWAG-V G"}
#: supervoxel setting -> SWAG-V parameters
CONFIGS = {"fast": {}, "exact": {"mode": "exact"}, "fast-thesis-grid": {"preset": "thesis"}}
CONFIG_TEXT = {"fast": "fast SLIC, default grid (seeds split time)", "exact": "`mode=\"exact\"` (scikit-image's slic)",
               "fast-thesis-grid": "fast SLIC, scikit-image's grid (`preset=\"thesis\"`)"}

SETTINGS = {
    "full": {"clips": [p for p, _ in KINETICS_CLIPS], "methods": METHODS, "steps": 28, "crop": 224,
             "baseline": "zero", "loc_clips": 20},
    "quick": {"clips": ["videos/mmaction2/demo.mp4"], "methods": ["swagv-i"], "steps": 4, "crop": 112,
              "baseline": "zero", "loc_clips": 2},
}


def explain(model, x: torch.Tensor, method: str, config: str, target):
    """``(saliency (1, T, H, W), segmentation (T, H, W), seconds, explained class, probability)``."""
    import vidxai

    exp = vidxai.explain_batch(model, x, method=method, target=target, **CONFIGS[config])[0]
    return exp.saliency[None], exp.segmentation, exp.timing, exp.target, exp.probability


def _save(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def deletion_units(records: Records, model, realdata: Path, cfg: dict, mode: str, configs: list[str], segs: Path):
    from vidxai.io import load_clip
    from vidxai.metrics.deletion import deletion_insertion

    spec = spec_for(model, 16, cfg["crop"])
    for clip in cfg["clips"]:
        for method in cfg["methods"]:
            for config in configs:  # settings interleaved per clip, so a change of load hits all of them
                key = records.key(section="slic-deletion", mode=mode, clip=clip, method=method, config=config,
                                  params=CONFIGS[config], steps=cfg["steps"], crop=cfg["crop"],
                                  baseline=cfg["baseline"], seed=SEED)
                if key in records.items and (segs / f"{key}.pt").exists():
                    continue

                def run(clip=clip, method=method, config=config, key=key):
                    x = load_clip(realdata / clip, spec, clip="centre", pad="loop").tensor[None]
                    load = os.getloadavg()[0]
                    sal, seg, seconds, target, prob = explain(model, x, method, config, None)
                    c = deletion_insertion(model, x, sal, target=target, steps=cfg["steps"], baseline=cfg["baseline"],
                                           seed=SEED).to_dict()
                    _save(segs / f"{key}.pt", seg.to(torch.int16))
                    records.add(key, section="slic-deletion", mode=mode, clip=clip, method=method, config=config,
                                seconds=seconds, target=model.class_names[target], probability=prob,
                                deletion=c["deletion_auc"][0], insertion=c["insertion_auc"][0],
                                curves={"deletion": c["deletion"][0], "insertion": c["insertion"][0]},
                                load_average=[load, os.getloadavg()[0]])

                yield f"deletion {Path(clip).stem} {method} {config}", run


def localization_units(records: Records, model, dataset, cfg: dict, mode: str, configs: list[str], maps: Path):
    for i in range(len(dataset)):
        clip_id = dataset.clip_id(i)
        for method in cfg["methods"]:
            for config in configs:
                key = records.key(section="slic-localization", mode=mode, clip=clip_id, method=method, config=config,
                                  params=CONFIGS[config], crop=cfg["crop"], seed=SEED)
                if key in records.items and (maps / f"{key}.pt").exists():
                    continue

                def run(i=i, method=method, config=config, key=key, clip_id=clip_id):
                    item = dataset[i]
                    target = UCF_TO_KINETICS[clip_id.split("/")[0]]
                    load = os.getloadavg()[0]
                    sal, _, seconds, _, prob = explain(model, item["clip"][None], method, config, target)
                    _save(maps / f"{key}.pt", {"saliency": sal.float(), "boxes": item["boxes"][None].float()})
                    records.add(key, section="slic-localization", mode=mode, clip=clip_id, method=method,
                                config=config, seconds=seconds, probability=prob, target=target,
                                load_average=[load, os.getloadavg()[0]])

                yield f"localisation {clip_id} {method} {config}", run


# ------------------------------------------------------------------------------------------------------------
# summarising
# ------------------------------------------------------------------------------------------------------------
def frames_spanned(seg: torch.Tensor) -> list[int]:
    """Frames each supervoxel of a ``(T, H, W)`` segmentation touches."""
    seg = seg.long()
    k = int(seg.max()) + 1
    present = torch.zeros(seg.shape[0], k, dtype=torch.bool)
    for t in range(seg.shape[0]):
        present[t, seg[t].unique()] = True
    return present.sum(0)[present.any(0)].tolist()


def deletion_summary(recs: list[dict], segs: Path) -> dict:
    from vidxai.supervoxels import adjusted_rand_index

    rows: dict = {}
    by_unit: dict = {}
    for r in recs:
        cell = rows.setdefault(r["method"], {}).setdefault(r["config"], {"deletion": [], "insertion": [], "seconds": [],
                                                                          "segments": [], "frames": [], "clips": []})
        cell["deletion"].append(r["deletion"])
        cell["insertion"].append(r["insertion"])
        cell["seconds"].append(r["seconds"])
        cell["clips"].append(r["clip"])
        seg = torch.load(segs / f"{r['key']}.pt")
        spans = frames_spanned(seg)
        cell["segments"].append(len(spans))
        cell["frames"] += spans
        by_unit[(r["method"], r["clip"], r["config"])] = seg
    out: dict = {}
    for method, configs in rows.items():
        out[method] = {}
        for config, c in configs.items():
            out[method][config] = {
                "deletion": float(np.mean(c["deletion"])), "insertion": float(np.mean(c["insertion"])),
                "combined": float(np.mean(c["deletion"]) + 1 - np.mean(c["insertion"])),
                "per_clip": {clip: {"deletion": d, "insertion": i}
                             for clip, d, i in zip(c["clips"], c["deletion"], c["insertion"])},
                "n_clips": len(c["deletion"]), "median_seconds": statistics.median(c["seconds"]),
                "seconds": c["seconds"], "mean_supervoxels": float(np.mean(c["segments"])),
                "frames_spanned_quartiles": [float(q) for q in np.percentile(c["frames"], [25, 50, 75])]}
            if config != "exact" and "exact" in configs:
                aris = [float(adjusted_rand_index(by_unit[(method, clip, config)][None].long(),
                                                  by_unit[(method, clip, "exact")][None].long())[0])
                        for clip in c["clips"] if (method, clip, "exact") in by_unit]
                out[method][config]["ari_vs_exact"] = float(np.mean(aris)) if aris else None
    return out


def localization_by_config(recs: list[dict], maps: Path) -> dict:
    out: dict = {}
    for config in dict.fromkeys(r["config"] for r in recs):
        mine = [r for r in recs if r["config"] == config]
        summ = localization_summary(mine, maps)
        for method, row in summ.items():
            row["median_seconds"] = statistics.median(r["seconds"] for r in mine if r["method"] == method)
            out.setdefault(method, {})[config] = row
    return out


def summarise(records: Records, mode: str, configs: list[str], segs: Path, maps: Path, machine: dict) -> dict:
    recs = [r for r in records.items.values() if r.get("mode") == mode and r.get("config") in configs]
    dele = [r for r in recs if r["section"] == "slic-deletion"]
    loc = [r for r in recs if r["section"] == "slic-localization"]
    loads = [v for r in recs for v in r.get("load_average", [])]
    return {"benchmark": "slic_modes", "mode": mode, "model": "i3d (DeepMind Kinetics-400 RGB, pretrained)",
            "settings": SETTINGS[mode], "configs": {c: CONFIGS[c] for c in configs}, "seed": SEED,
            "machine": {**machine, "load_while_measuring": [min(loads), max(loads)] if loads else None},
            "deletion": deletion_summary(dele, segs) if dele else {},
            "deletion_clips": sorted({(r["clip"], r["target"], round(r["probability"], 4)) for r in dele
                                      if r["config"] == configs[0]}),
            "localization": localization_by_config(loc, maps) if loc else {},
            "localization_clips": len({r["clip"] for r in loc})}


# ------------------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------------------
def _rank(values: dict, lower: bool) -> list[str]:
    return sorted(values, key=lambda m: values[m] if lower else -values[m])


def render(s: dict, real: dict | None) -> str:
    configs = list(s["configs"])
    mach = s["machine"]
    lines = ["# Fast vs exact SLIC under SWAG-V (real data, pretrained I3D)", "",
             f"Measured by `tools/bench_slic_modes.py{' --quick' if s['mode'] == 'quick' else ''}` with {s['model']} "
             f"on {mach['cpus']} shared CPU cores (torch threads: {mach['torch_threads']}, torch {mach['torch']}); "
             "1-minute load average "
             + (f"{mach['load_average_start'][0]:.2f} before and {mach['load_average_end'][0]:.2f} after the run, "
                if not mach.get("report_only") else "")
             + (f"{mach['load_while_measuring'][0]:.1f}-{mach['load_while_measuring'][1]:.1f} while measuring "
                if mach.get("load_while_measuring") else "")
             + "(other engineers' work shared the machine). Settings compared, everything else SWAG-V's defaults "
             "(K = 120, I: wc = 10, I+G: wc = 20, wg = 9, G: wg = 10):", ""]
    lines += [f"- `{c}`: {CONFIG_TEXT[c]}, SWAG-V parameters `{json.dumps(s['configs'][c])}`" for c in configs]
    lines += ["", "SWAG-V takes `mode` like its other SLIC parameters (`--param swagv-ig:mode=exact`); every step "
              "is the library's SWAG-V.", ""]
    st = s["settings"]
    if s["deletion"]:
        lines += ["## Deletion and insertion", "",
                  f"{st['steps']} steps, {st['baseline']} baseline (the thesis'), softmax of the class I3D predicts "
                  f"on the intact clip, seeded random tie-breaking; centre 16 frames at {st['crop']} x {st['crop']} of "
                  f"the {len(st['clips'])} Kinetics-labelled clips of `tools/bench_real.py` (means over clips). "
                  "ARI: adjusted Rand index between this setting's supervoxels and the exact mode's on the same clip "
                  "(1 = the same partition). Frames spanned: quartiles of the number of frames a supervoxel touches "
                  "(of 16). Seconds: median seconds per explanation (guided backprop + SLIC + means).", "",
                  "| method | setting | deletion ↓ | insertion ↑ | combined ↓ | supervoxels | frames spanned (quartiles) "
                  "| ARI vs exact | s / explanation |", "|---|---|---|---|---|---|---|---|---|"]
        for m in METHODS:
            for c in configs:
                r = s["deletion"].get(m, {}).get(c)
                if not r:
                    continue
                ari = r.get("ari_vs_exact")
                q = r["frames_spanned_quartiles"]
                lines.append(f"| {NAMES[m]} | {c} | {r['deletion']:.3f} | {r['insertion']:.3f} | {r['combined']:.3f} | "
                             f"{r['mean_supervoxels']:.0f} | {q[0]:.0f} / {q[1]:.0f} / {q[2]:.0f} | "
                             f"{'-' if ari is None else f'{ari:.2f}'} | {r['median_seconds']:.2f} |")
        lines += [""]
        if real:
            lines += _real_check(s, real) + [""]
        lines += ["**Does the SLIC mode change the picture?**", ""] + deletion_findings(s, real) + [""]
    if s["localization"]:
        lines += ["## Weak localisation and pointing", "",
                  f"{s['localization_clips']} of the real UCF101-24 test clips of `tools/bench_real.py` (an evenly "
                  "spread subset of its 46; the same clips for every setting), explained for the Kinetics-400 class "
                  "that names the action. Localisation error % per threshold scheme (threshold chosen on a seeded "
                  "20 % calibration split, scored on the rest) and with the oracle threshold; pointing: fraction of "
                  "frames whose peak lies in the box (seeded random tie-breaking).", "",
                  "| method | setting | value | mean | energy | oracle value / mean / energy | pointing ↑ | clips | "
                  "s / explanation |", "|---|---|---|---|---|---|---|---|---|"]
        for m in METHODS:
            for c in configs:
                r = s["localization"].get(m, {}).get(c)
                if not r:
                    continue
                oracle = " / ".join(f"{r[sc]['error_oracle']:.1f}" for sc in SCHEMES)
                lines.append(f"| {NAMES[m]} | {c} | {r['value']['error']:.1f} | {r['mean']['error']:.1f} | "
                             f"{r['energy']['error']:.1f} | {oracle} | {r['pointing']:.3f} | {r['n_clips']} | "
                             f"{r['median_seconds']:.2f} |")
        lines += ["", "**Does the SLIC mode change the picture?**", ""] + localization_findings(s) + [""]
    return "\n".join(lines) + "\n"


def _real_check(s: dict, real: dict) -> list[str]:
    """The fast setting against docs/benchmarks/real.md's SWAG-V rows (same protocol, measured earlier)."""
    ref = real.get("deletion", {}).get("16f", {}).get("zero", {})
    pairs = [(m, s["deletion"][m]["fast"], ref[m]) for m in METHODS if m in ref and "fast" in s["deletion"].get(m, {})]
    if not pairs:
        return []
    diffs = [max(abs(a["deletion"] - b["deletion"]), abs(a["insertion"] - b["insertion"])) for _, a, b in pairs]
    return [f"Check: the `fast` rows against the SWAG-V rows of [real.md](real.md) (same clips and protocol, measured "
            f"there earlier): largest difference {max(diffs):.4f} in a mean AUC."]


def deletion_findings(s: dict, real: dict | None) -> list[str]:
    d = s["deletion"]
    configs = [c for c in s["configs"] if c != "fast"]
    out = []
    for c in configs:
        have = [m for m in METHODS if "fast" in d.get(m, {}) and c in d.get(m, {})]
        if not have:
            continue
        dd = [d[m][c]["deletion"] - d[m]["fast"]["deletion"] for m in have]
        di = [d[m][c]["insertion"] - d[m]["fast"]["insertion"] for m in have]
        out.append(f"- `{c}` vs `fast`: deletion changes by {', '.join(f'{NAMES[m]} {v:+.3f}' for m, v in zip(have, dd))}; "
                   f"insertion by {', '.join(f'{NAMES[m]} {v:+.3f}' for m, v in zip(have, di))}.")
        for key, lower in (("deletion", True), ("insertion", False), ("combined", True)):
            a = _rank({m: d[m]["fast"][key] for m in have}, lower)
            b = _rank({m: d[m][c][key] for m in have}, lower)
            out.append(f"  - order of the SWAG-V variants by {key}: `fast` {' > '.join(NAMES[m] for m in a)}; "
                       f"`{c}` {' > '.join(NAMES[m] for m in b)} (**{'same' if a == b else 'changes'}**).")
        fs = [d[m]["fast"]["median_seconds"] for m in have]
        cs = [d[m][c]["median_seconds"] for m in have]
        out.append(f"  - seconds per explanation: `fast` {', '.join(f'{v:.2f}' for v in fs)}; `{c}` "
                   f"{', '.join(f'{v:.2f}' for v in cs)} ({NAMES[have[0]]} first; "
                   f"{statistics.mean(cs) / statistics.mean(fs):.2f}x on average).")
    if real:
        ref = real.get("deletion", {}).get("16f", {}).get("zero", {})
        others = {m: r for m, r in ref.items() if m not in METHODS}
        for c in s["configs"]:
            rows = {**{m: r["deletion"] for m, r in others.items()},
                    **{m: d[m][c]["deletion"] for m in METHODS if c in d.get(m, {})}}
            rank = _rank(rows, True)
            places = ", ".join(f"{NAMES[m]} {rank.index(m) + 1}" for m in METHODS if m in rows)
            ins = {**{m: r["insertion"] for m, r in others.items()},
                   **{m: d[m][c]["insertion"] for m in METHODS if c in d.get(m, {})}}
            irank = _rank(ins, False)
            iplaces = ", ".join(f"{NAMES[m]} {irank.index(m) + 1}" for m in METHODS if m in ins)
            out.append(f"- Among the {len(rows)} methods of real.md's 16-frame zero-baseline table, with `{c}` "
                       f"supervoxels SWAG-V ranks: deletion {places}; insertion {iplaces}.")
    return out


def localization_findings(s: dict) -> list[str]:
    loc = s["localization"]
    out = []
    for c in [c for c in s["configs"] if c != "fast"]:
        have = [m for m in METHODS if "fast" in loc.get(m, {}) and c in loc.get(m, {})]
        if not have:
            continue
        best = {cc: {m: min(loc[m][cc][sc]["error"] for sc in SCHEMES) for m in have} for cc in ("fast", c)}
        orc = {cc: {m: min(loc[m][cc][sc]["error_oracle"] for sc in SCHEMES) for m in have} for cc in ("fast", c)}
        pt = {cc: {m: loc[m][cc]["pointing"] for m in have} for cc in ("fast", c)}
        out.append(f"- `{c}` vs `fast`, best calibrated error over the schemes: "
                   + ", ".join(f"{NAMES[m]} {best['fast'][m]:.1f} → {best[c][m]:.1f}" for m in have)
                   + "; best oracle error: "
                   + ", ".join(f"{NAMES[m]} {orc['fast'][m]:.1f} → {orc[c][m]:.1f}" for m in have)
                   + "; pointing: " + ", ".join(f"{NAMES[m]} {pt['fast'][m]:.3f} → {pt[c][m]:.3f}" for m in have) + ".")
        for name, vals, lower in (("oracle error", orc, True), ("pointing", pt, False)):
            a, b = _rank(vals["fast"], lower), _rank(vals[c], lower)
            out.append(f"  - order by {name}: `fast` {' > '.join(NAMES[m] for m in a)}; `{c}` "
                       f"{' > '.join(NAMES[m] for m in b)} (**{'same' if a == b else 'changes'}**).")
    n = s["localization_clips"]
    held = max(1, round(0.8 * n))
    out.append(f"- With {n} clips, about {held} are held out for a calibrated error, so one clip moves it by about "
               f"{100 / held:.1f} points; smaller differences are within one clip.")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke: one clip, swagv-i, 4 steps, 112 px, 2 UCF clips")
    p.add_argument("--report", action="store_true", help="only rewrite the tables from the records")
    p.add_argument("--sections", nargs="+", default=["deletion", "localization"], choices=["deletion", "localization"])
    p.add_argument("--configs", nargs="+", default=["fast", "exact"], choices=list(CONFIGS))
    p.add_argument("--loc-clips", type=int, default=None, help="UCF101-24 clips for localisation (an evenly "
                   "spread subset of bench_real.py's; default 20, quick 2)")
    p.add_argument("--work", type=Path, default=REPO / ".bench_real" / "slic_modes", help="records (resumable)")
    p.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = p.parse_args(argv)
    realdata = realdata_dir()
    if realdata is None:
        print("bench_slic_modes: skipped: real data not found (set VIDXAI_REALDATA or put shared/realdata next to "
              "the repository)")
        return 0
    mode = "quick" if args.quick else "full"
    cfg = dict(SETTINGS[mode])
    if args.loc_clips is not None:
        cfg["loc_clips"] = args.loc_clips
    SETTINGS[mode] = cfg
    torch.manual_seed(SEED)
    records = Records(args.work / f"records_{mode}.jsonl")
    segs, maps = args.work / f"segs_{mode}", args.work / f"maps_{mode}"
    machine = {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
               "torch": torch.__version__, "device": "cpu", "load_average_start": list(os.getloadavg()),
               "report_only": bool(args.report), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if not args.report:
        import vidxai
        from vidxai.io import load_clip

        model = vidxai.models.load("i3d")
        # warm-up (allocator, kernel choice, SLIC buffers), not recorded
        x = load_clip(realdata / cfg["clips"][0], spec_for(model, 16, cfg["crop"]), clip="centre", pad="loop").tensor[None]
        for c in args.configs:
            explain(model, x, cfg["methods"][0], c, None)
        units = []
        if "deletion" in args.sections:
            units += list(deletion_units(records, model, realdata, cfg, mode, args.configs, segs))
        if "localization" in args.sections:
            dataset = ucf_dataset(model, realdata, args.work, cfg["crop"], cfg["loc_clips"])
            units += list(localization_units(records, model, dataset, cfg, mode, args.configs, maps))
        run_units(units, desc="bench_slic_modes")
    machine["load_average_end"] = list(os.getloadavg())
    machine["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    summary = summarise(records, mode, args.configs, segs, maps, machine)
    real_json = args.out / "real.json"
    real = json.loads(real_json.read_text()) if real_json.exists() and mode == "full" else None
    stem = "slic_modes_quick" if args.quick else "slic_modes"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{stem}.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    (args.out / f"{stem}.md").write_text(render(summary, real))
    print(f"wrote {args.out / (stem + '.json')} and {args.out / (stem + '.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
