"""Phase 3: merge every rank's metric shards into CSV, JSON and Markdown tables.

The tables follow the thesis: 4.2 (deletion / insertion AUC), 4.3 (weak-localisation error per threshold
scheme, the threshold chosen on a calibration subset and applied to the held-out clips) and 4.4 (seconds
per explanation), plus the pointing game, temporal localisation, and a throughput summary.
"""
from __future__ import annotations

import csv
import json
import math
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import metrics
from ..metrics.localization import SCHEMES
from . import cache
from .config import RunConfig
from .verify import REQUIRED


@dataclass(frozen=True)
class Table:
    """How the report shows one table of registered results (:attr:`vidxai.metrics.ResultKey.table`).

    Attributes:
        heading: the section heading.
        directions: ``"columns"``: every column title says which way it goes; ``"heading"``: the heading says the
            direction its columns share (the columns say theirs when they differ); ``"none"``: not said.
        always: shown even when no method has a result of it.
    """

    heading: str
    directions: str = "columns"
    always: bool = False


#: The tables with a heading of their own; a table registered without one is headed by its name.
TABLES = {"deletion": Table("Deletion / insertion AUC (thesis table 4.2)"),
          "pointing": Table("Pointing game and temporal localisation", "heading"),
          "timing": Table("Time per explanation (thesis table 4.4)", "none", always=True)}
#: The order of the report's tables: ``"localization"`` is the per-scheme table of :func:`_localisation_table`,
#: ``"*"`` every registered table not named here (in registry order).
LAYOUT = ("deletion", "localization", "pointing", "*", "timing")


def damaged(path: Path, reason: str, root: Path | None = None) -> None:
    """Say in one line that the report leaves out the damaged shard ``path`` (a rerun of the run recomputes it)."""
    rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else path
    print(f"vidxai: damaged shard {rel} ({reason}): left out of the report; run again to recompute it",
          file=sys.stderr, flush=True)


def read_checked(path: Path, batch: int, kind: str, gt_ids: list[str] | None = None, root: Path | None = None
                 ) -> tuple[dict[str, np.ndarray], dict[str, Any]] | None:
    """A shard for the report, verified as the runner verifies it; None (and one line) when it is damaged."""
    try:
        arrays, meta = cache.load_checked(path)
        cache.check_shard(path, arrays, meta, batch, REQUIRED[kind], gt_ids)
    except cache.DamagedShardError as e:
        damaged(path, e.reason, root)
        return None
    except OSError as e:
        damaged(path, f"unreadable: {e.strerror or e}", root)
        return None
    return arrays, meta


def collect(folder: Path, batches: set[int] | None = None, kind: str = "metrics",
            gt_ids: dict[int, list[str]] | None = None, root: Path | None = None
            ) -> tuple[dict[str, np.ndarray], list[str], set[int]]:
    """Concatenate the intact shards of ``folder`` in batch order (only ``batches`` when given).

    Damaged shards are left out with one line each (see :func:`read_checked`); ``gt_ids`` (batch -> clip ids)
    makes a shard that does not hold its batch's clips damaged too. Returns ``(arrays, clip ids, batches read)``.
    """
    arrays: dict[str, list[np.ndarray]] = {}
    ids: list[str] = []
    read: set[int] = set()
    done = cache.done_batches(folder)
    for k in sorted(done if batches is None else done & batches):
        got = read_checked(folder / cache.shard_name(k), k, kind, (gt_ids or {}).get(k), root)
        if got is None:
            continue
        a, meta = got
        read.add(k)
        ids += meta["clip_ids"]
        for key, val in a.items():
            arrays.setdefault(key, []).append(val)
    return {k: np.concatenate(v) for k, v in arrays.items()}, ids, read


def _maps_meta(path: Path, root: Path) -> dict[str, Any] | None:
    """The metadata of a maps shard (the report needs only its timing), None and one line when unreadable."""
    try:
        meta = cache.read_meta(path)
        if not isinstance(meta, dict) or not isinstance(meta.get("clip_ids"), list) \
                or not isinstance(meta.get("seconds_per_clip"), (int, float)):
            raise ValueError("incomplete __meta__")
        return meta
    except (zipfile.BadZipFile, zlib.error, EOFError) as e:
        damaged(path, "truncated zip" if "zip file" in str(e) else "corrupt data", root)
    except (KeyError, ValueError, UnicodeDecodeError, OSError) as e:
        damaged(path, f"unreadable metadata: {' '.join(str(e).split())[:80]}", root)
    return None


def collect_method(config: RunConfig, paths, method, gt_ids: dict[int, list[str]] | None = None
                   ) -> tuple[dict[str, np.ndarray], list[str]]:
    """The per-clip results of ``method`` under this config's settings: every configured metric plus the time
    per clip, over the batches where all of them are done and intact (and, given ``gt_ids``, whose ground
    truth is intact). Returns ``(arrays, clip ids)``."""
    folders = [paths.metrics(method, metric, opts) for metric, opts in config.evaluate.items()]
    batches = cache.done_batches(paths.maps(method))
    if gt_ids is not None:
        batches &= set(gt_ids)
    for f in folders:
        batches &= cache.done_batches(f)
    metas = {}
    for k in sorted(batches):  # the time is in the maps' metadata: no need to load the maps themselves
        meta = _maps_meta(paths.maps(method) / cache.shard_name(k), paths.root)
        if meta is not None and (gt_ids is None or meta["clip_ids"] == gt_ids[k]):
            metas[k] = meta
    batches = set(metas)
    parts = []
    for f in folders:
        part, _, read = collect(f, batches, "metrics", gt_ids, paths.root)
        parts.append(part)
        batches &= read
    arrays: dict[str, np.ndarray] = {}
    if batches != set(metas):  # a metric shard was damaged: read the others again over the common batches
        parts = [collect(f, batches, "metrics", gt_ids, None)[0] for f in folders]
    for part in parts:
        arrays.update(part)
    ids: list[str] = []
    seconds: list[np.ndarray] = []
    for k in sorted(batches):
        ids += metas[k]["clip_ids"]
        seconds.append(np.full(len(metas[k]["clip_ids"]), metas[k]["seconds_per_clip"], np.float64))
    if seconds:
        arrays["seconds_per_clip"] = np.concatenate(seconds)
    return arrays, ids


def summarise(config: RunConfig, paths) -> dict[str, Any]:
    """The report as a JSON-able dict."""
    from .run import read_failures

    gt_ids: dict[int, list[str]] = {}
    errors = []
    for k in sorted(cache.done_batches(paths.gt())):
        got = read_checked(paths.gt() / cache.shard_name(k), k, "gt", root=paths.root)
        if got is not None:
            gt_ids[k] = got[1]["clip_ids"]
            errors += got[1].get("errors", [])
    n = sum(len(v) for v in gt_ids.values())
    frac = float(config.evaluate.get("localization", {}).get("calibration_fraction", 0.25))
    keys = {paths.explain_key(m) for m in config.methods}
    failed = [r for r in read_failures(config.output) if r.get("key") in keys]
    methods: dict[str, Any] = {}
    for m in config.methods:
        arrays, mids = collect_method(config, paths, m, gt_ids)
        entry: dict[str, Any] = {"name": m.name, "key": paths.explain_key(m), "params": m.params, "clips": len(mids)}
        if len(mids) != n:
            entry["incomplete"] = f"{len(mids)} of {n} clips evaluated"
        mine = [r for r in failed if r["key"] == entry["key"]]
        if mine:
            entry["failed"] = f"{mine[0]['phase']}, batch {mine[0]['batch']}: {mine[0]['error']}"
        entry.update(aggregate(arrays))
        if "deletion_curve" in arrays:
            entry["deletion_curve"] = arrays["deletion_curve"].mean(0).tolist()
            entry["insertion_curve"] = arrays["insertion_curve"].mean(0).tolist()
        loc = {}
        for key in [k for k in arrays if k.startswith("loc_iou_")]:
            if len(mids) == n:  # the seeded calibration split is only comparable across methods on all clips
                acc = metrics.Localization(key[len("loc_iou_"):], calibration=frac, seed=config.seed)
                acc.update_ious(torch.from_numpy(arrays[key].astype(np.float32)))
                loc[acc.scheme] = acc.summary()
        if loc:
            entry["localization"] = loc
        methods[m.title] = entry
    throughput = []
    for f in sorted((Path(config.output) / "throughput").glob("rank*.json")):
        throughput.append(json.loads(f.read_text()))
    return {"name": config.name, "model": config.model, "dataset": config.dataset, "clips": n,
            "failed_clips": errors, "failed_methods": failed, "target": config.target, "seed": config.seed,
            "evaluate": config.evaluate, "calibration_fraction": frac, "methods": methods, "throughput": throughput}


def aggregate(arrays: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """Mean, standard error and count of every registered per-clip result in ``arrays``, in registry order
    (:func:`vidxai.metrics.result_keys`; curves and per-scheme IoUs are summarised separately)."""
    return {r.key: _mean_sem(arrays[r.key]) for r in metrics.result_keys() if r.key in arrays}


def _mean_sem(v: np.ndarray) -> dict[str, float]:
    v = np.asarray(v, np.float64).reshape(len(v), -1).mean(1) if np.ndim(v) > 1 else np.asarray(v, np.float64)
    v = v[np.isfinite(v)]
    if not len(v):
        return {"mean": float("nan"), "sem": float("nan"), "n": 0}
    sem = float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0
    return {"mean": float(v.mean()), "sem": sem, "n": int(len(v))}


def _fmt(stat: dict | None, digits: int = 3) -> str:
    return "-" if not stat or not np.isfinite(stat["mean"]) else f"{stat['mean']:.{digits}f}"


def markdown(report: dict[str, Any]) -> str:
    """Markdown tables shaped like the thesis' tables 4.2-4.4."""
    ms = report["methods"]
    lines = [f"# {report['name']}", "",
             f"Model `{report['model']['name']}`, dataset `{report['dataset'].get('type')}`, {report['clips']} clips "
             f"({len(report['failed_clips'])} failed to load), target `{report['target']}`, seed {report['seed']}.", ""]
    for table in LAYOUT:
        if table == "localization":
            lines += _localisation_table(report)
        elif table == "*":
            lines += [x for t in _other_tables() for x in _result_table(ms, t)]
        else:
            lines += _result_table(ms, table)
    if report["throughput"]:
        lines += ["## Throughput", "", "| rank | device | clips | batches done | batches skipped (cached) | wall s | clips/s |",
                  "|---|---|---|---|---|---|---|"]
        for t in report["throughput"]:
            cps = t.get("clips_per_second")
            lines.append(f"| {t['rank']} | {t['device']} | {t['clips']} | {t['batches']} | {t['skipped_batches']} | "
                         f"{t['wall_seconds']:.1f} | {'-' if cps is None else f'{cps:.2f}'} |")
        lines.append("")
    failed = {title: e["failed"] for title, e in ms.items() if "failed" in e}
    if failed:
        lines += ["## Methods that failed (run again to retry them)", ""]
        lines += [f"- {title}: {why}" for title, why in failed.items()] + [""]
    if report["failed_clips"]:
        lines += ["## Clips that failed to load", ""] + [f"- {e['clip_id']}: {e['error']}" for e in report["failed_clips"]]
    return "\n".join(lines) + "\n"


def _better(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _other_tables() -> list[str]:
    """The registered tables that :data:`LAYOUT` does not place, in registry order."""
    return [t for t in dict.fromkeys(r.table for r in metrics.result_keys()) if t not in LAYOUT]


def _result_table(ms: dict[str, Any], table: str) -> list[str]:
    """The Markdown lines of one table of registered results: a column per result whose metric some method has."""
    spec = TABLES.get(table, Table(table))
    keys = metrics.result_keys(table)
    have = {r.metric for r in keys if any(r.key in e for e in ms.values())}
    cols = [r for r in keys if r.metric in have] or (keys if spec.always else [])
    if not cols:
        return []
    shared = {r.higher_is_better for r in cols} - {None}
    in_heading = spec.directions == "heading" and len(shared) == 1
    heading = spec.heading + (f" ({_better(shared.pop())})" if in_heading else "")
    says = spec.directions != "none" and not in_heading
    titles = [r.title + (f" ({_better(r.higher_is_better)})" if says and r.higher_is_better is not None else "")
              for r in cols]
    lines = [f"## {heading}", "", "| " + " | ".join(["method"] + titles) + " |", "|---|" + "---|" * len(cols)]
    lines += ["| " + " | ".join([k] + [_fmt(e.get(r.key), r.digits) for r in cols]) + " |" for k, e in ms.items()]
    return lines + [""]


def _localisation_table(report: dict[str, Any]) -> list[str]:
    """Thesis table 4.3: the held-out and oracle error of every threshold scheme (from the per-clip IoUs)."""
    ms = report["methods"]
    if not any("localization" in e for e in ms.values()):
        return []
    schemes = [s for s in SCHEMES if any(s in e.get("localization", {}) for e in ms.values())]
    lines = ["## Localisation error % (thesis table 4.3; lower is better)", "",
             f"Threshold chosen on {report['calibration_fraction']:.0%} of the clips (calibration) and applied to "
             "the rest (held-out); `oracle` is the best threshold chosen on all clips.", "",
             "| method | " + " | ".join(f"{s} held-out | {s} oracle" for s in schemes) + " |",
             "|---|" + "---|---|" * len(schemes)]
    for k, e in ms.items():
        loc = e.get("localization", {})
        cells = []
        for s in schemes:
            r = loc.get(s)
            cells += ([f"{r['error_heldout']:.2f} (t={r['best_threshold']:g})", f"{r['error_oracle']:.2f}"]
                      if r else ["-", "-"])
        lines.append(f"| {k} | " + " | ".join(cells) + " |")
    return lines + [""]


def rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Long-format rows (method, metric, value) for the CSV."""
    out = []
    for title, e in report["methods"].items():
        for key, val in e.items():
            if isinstance(val, dict) and "sem" in val:  # not "localization" (it has a scheme named "mean")
                out.append({"method": title, "metric": key, "value": val["mean"], "sem": val["sem"], "n": val["n"]})
        for scheme, r in e.get("localization", {}).items():
            for which in ("error_heldout", "error_calibration", "error_oracle"):
                out.append({"method": title, "metric": f"localization_{scheme}_{which}", "value": r[which],
                            "sem": "", "n": r["n_heldout"] if which == "error_heldout" else r["n_calibration"]})
    return out


def write_report(config: RunConfig, paths) -> dict[str, Any]:
    """Write ``report.json``, ``report.csv`` and ``report.md`` into the run's output folder."""
    report = summarise(config, paths)
    out = Path(config.output)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    with open(out / "report.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["method", "metric", "value", "sem", "n"])
        w.writeheader()
        w.writerows(rows(report))
    (out / "report.md").write_text(markdown(report))
    return report
