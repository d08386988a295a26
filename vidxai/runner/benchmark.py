"""Method-quality benchmark on synthetic ground truth (``vidxai bench synthetic``).

The synthetic clips (:mod:`vidxai.data.synthetic`) come with exact actor masks, the action's frame
interval, and distractors that look exactly like the actor but move in a class-irrelevant way. So here the
right answer is known, and every registered method can be ranked on it:

- pointing game, saliency mass inside the actor tube (energy pointing game), weak-localisation error under the
  three threshold schemes, temporal localisation against the action interval, deletion/insertion AUC;
- **motion vs appearance**: the share of the saliency on actor+distractors that lies on the actor; a good
  video explanation follows the motion that decides the class, not the look-alike distractors;
- **model contrast score** (BAM: "Benchmarking Attribution Methods with Relative Feature Importance", Yang &
  Kim 2019): ``G(action model) - G(background model)``, where
  ``G`` is the mean over correctly classified clips of the mean [0,1]-normalised saliency inside the actor
  masks. The background model decides from the background texture only, so a faithful method's maps must move
  off the actor for it;
- a sanity check (cascading model randomisation): the rank correlation between the maps of the trained and
  the fully randomised model (low is good);
- seconds per clip.

Everything runs through the resumable runner, so an interrupted benchmark continues where it stopped.
Methods are ranked by their mean rank over the quality measures (sanity and time are reported, not ranked).
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.tensor import minmax_per_clip
from ..metrics import higher_is_better as metrics_higher_is_better
from ..metrics.registry import RESULTS
from .config import MethodSpec, RunConfig, parse_config
from .report import collect

def _measure(key: str, title: str) -> tuple[str, str, bool]:
    """(key, title, higher is better) with the direction declared by the metric (vidxai.metrics.REGISTRY)."""
    return key, title, metrics_higher_is_better(key)


#: (key, title, higher is better) of the measures that make up the overall rank. The last two are the
#: benchmark's own measures (share of the map on the actor vs the distractors; the model contrast score).
RANKED = (
    _measure("pointing_hit", "pointing"),
    _measure("energy_in_gt", "energy in tube"),
    _measure("localization_error", "loc. error %"),
    _measure("temporal_mass_in_interval", "temporal mass"),
    _measure("deletion_auc", "deletion"),
    _measure("insertion_auc", "insertion"),
    ("actor_share", "actor vs distractors", True),
    ("model_contrast", "MCS", True),
)
#: reported, not ranked: the sanity check's correlation (lower = the map depends on the weights) and the time
REPORTED = (("sanity_correlation", "sanity corr.", False), _measure("seconds_per_clip", "s / clip"))



@dataclass
class BenchmarkSettings:
    num_clips: int = 16
    seed: int = 100000
    output: Path = Path("runs/bench-synthetic")
    model: dict | None = None
    contrast_model: dict | None = None
    dataset: dict | None = None
    device: str = "auto"
    batch_size: int = 4
    deletion_steps: int = 16
    sanity_clips: int = 2


def default_methods() -> list[str]:
    """Every method that runs on any model in CPU minutes: not ``slow`` (declared on the method's class) and not
    limited to one kind of model (attention methods need a transformer); pass others with ``methods=``."""
    from .. import methods

    return [m for m in methods.list() if not methods.get(m).slow and methods.get(m).requires is None]


def _config(s: BenchmarkSettings, methods: Sequence[MethodSpec], model: dict, task: str, name: str,
            evaluate: dict) -> RunConfig:
    dataset = dict(s.dataset) if s.dataset else {"type": "synthetic", "num_clips": s.num_clips, "seed": s.seed,
                                                   "task": task}
    return parse_config({"name": name, "output": str(Path(s.output) / name), "model": dict(model), "dataset": dataset,
                         "methods": [{"name": m.name, "params": m.params, "label": m.label} for m in methods],
                         "evaluate": evaluate, "seed": 0, "device": s.device, "batch_size": s.batch_size,
                         "target": "top1"}, source=f"benchmark {name}")


def _bam_scores(cfg: RunConfig, paths, method: MethodSpec) -> float:
    """G: mean over correctly classified clips of the mean normalised saliency inside the actor masks."""
    gt, _, _ = collect(paths.gt(), kind="gt", root=paths.root)
    maps, _, _ = collect(paths.maps(method), kind="maps", root=paths.root)
    if "masks" not in gt or "saliency" not in maps:
        return float("nan")
    correct = gt["logits"].argmax(1) == gt["labels"]
    sal = torch.as_tensor(maps["saliency"], dtype=torch.float32)
    sal = minmax_per_clip(sal)
    masks = torch.as_tensor(gt["masks"]).bool()
    inside = (sal * masks).flatten(1).sum(1) / masks.flatten(1).sum(1).clamp_min(1)
    inside = inside.numpy()[correct]
    return float(inside.mean()) if len(inside) else float("nan")


def _sanity(cfg: RunConfig, runner, method: MethodSpec, clips: int) -> float:
    """Spearman correlation between the maps of the trained and the fully randomised model."""
    from ..metrics.sanity import model_randomization

    items = [runner.dataset[i] for i in range(min(clips, len(runner.dataset)))]
    x = torch.stack([it["clip"] for it in items if "clip" in it]).to(runner.device)
    # Only the fully randomised model is reported: explain it alone (same map as the last cascade step).
    res = model_randomization(runner.model, method.name, x, target=None, mode="cascading", final_only=True,
                              **method.params)
    corr = np.asarray(res["spearman"], dtype=np.float64)
    return float(corr.reshape(corr.shape[0], -1)[-1].mean()) if corr.ndim > 1 else float(corr[-1])


def run_benchmark(methods: Sequence[str | MethodSpec] | None = None, settings: BenchmarkSettings | None = None,
                  progress: bool = True) -> dict[str, Any]:
    """Run the benchmark; returns ``{"methods": {name: {measure: value}}, "ranking": [...], ...}``."""
    from .run import MethodFailedError, Runner, failure_message

    s = settings or BenchmarkSettings()
    specs = [m if isinstance(m, MethodSpec) else MethodSpec(m) for m in (methods or default_methods())]
    model = s.model or {"name": "synthetic-tiny"}
    evaluate = {"deletion": {"steps": s.deletion_steps, "chunk_size": s.deletion_steps + 1},
                "localization": {"calibration_fraction": 0.25}, "pointing": {}, "temporal": {}}
    cfg = _config(s, specs, model, "action", "action", evaluate)
    runner = Runner(cfg, progress=progress)
    runner.run()
    if runner.stats.failures:  # the ranking would compare a method with holes against complete ones
        raise MethodFailedError(failure_message(runner.stats.failures, cfg.output), runner.stats.failures)
    from .report import summarise

    summary = summarise(cfg, runner.paths)
    contrast = None
    if s.contrast_model is not None or (s.model is None and s.dataset is None):
        ccfg = _config(s, specs, s.contrast_model or {"name": "synthetic-tiny-background"}, "background",
                       "background", {})
        contrast = Runner(ccfg, phases=("explain",), progress=progress)
        contrast.run()
    results: dict[str, dict[str, float]] = {}
    for m in specs:
        e = summary["methods"][m.title]
        # the runner's per-clip results that the benchmark ranks or reports (the rest it computes below)
        r: dict[str, float] = {k: e[k]["mean"] for k, _, _ in RANKED + REPORTED if isinstance(e.get(k), dict)}
        loc = e.get("localization", {})
        if loc:
            r["localization_error"] = float(np.mean([v["error_heldout"] for v in loc.values()]))
            r.update({f"localization_error_{k}": v["error_heldout"] for k, v in loc.items()})
        if "energy_on_distractors" in e:
            on, off = e["energy_in_gt"]["mean"], e["energy_on_distractors"]["mean"]
            r["actor_share"] = on / (on + off) if on + off > 0 else float("nan")
        if contrast is not None:
            r["model_contrast"] = _bam_scores(cfg, runner.paths, m) - _bam_scores(contrast.cfg, contrast.paths, m)
        if s.sanity_clips:
            r["sanity_correlation"] = _sanity(cfg, runner, m, s.sanity_clips)
        results[m.title] = r
    ranking = rank_methods(results)
    report = {"benchmark": "synthetic", "clips": summary["clips"], "model": model,
              "contrast_model": None if contrast is None else contrast.cfg.model, "seed": s.seed,
              "deletion_steps": s.deletion_steps, "methods": results, "ranking": ranking}
    return report


def rank_methods(results: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Order methods by their mean rank over the :data:`RANKED` measures they have (1 = best)."""
    names = list(results)
    ranks: dict[str, list[float]] = {n: [] for n in names}
    for key, _, higher in RANKED:
        vals = np.array([results[n].get(key, np.nan) for n in names], dtype=np.float64)
        ok = np.isfinite(vals)
        if ok.sum() < 2:
            continue
        order = -vals if higher else vals
        # average ranks for ties, over the methods that have the measure
        sub = order[ok]
        r = np.empty(len(sub))
        sorted_idx = np.argsort(sub, kind="stable")
        r[sorted_idx] = np.arange(1, len(sub) + 1)
        for v in np.unique(sub):
            r[sub == v] = r[sub == v].mean()
        for n, rank in zip(np.array(names)[ok], r):
            ranks[n].append(float(rank))
    table = [{"method": n, "mean_rank": float(np.mean(ranks[n])) if ranks[n] else float("nan")} for n in names]
    table.sort(key=lambda row: (np.nan_to_num(row["mean_rank"], nan=1e9), row["method"]))
    return table


def markdown(report: dict[str, Any], command: str = "vidxai bench synthetic") -> str:
    cols = [c for c in RANKED + REPORTED if any(c[0] in r for r in report["methods"].values())]
    lines = [f"Measured with `{command}`: {report['clips']} synthetic clips, model `{report['model'].get('name')}`"
             + (f", contrast model `{report['contrast_model'].get('name')}`" if report.get("contrast_model") else "")
             + f". Methods are sorted by their mean rank over the first {len([c for c in cols if c in RANKED])} "
             "measures; the sanity correlation (maps of the trained vs the fully randomised model) and the time are "
             "reported, not ranked. ↑ higher is better, ↓ lower is better.", "",
             "| rank | method | " + " | ".join(f"{t} {'↑' if h else '↓'}" for _, t, h in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for i, row in enumerate(report["ranking"], 1):
        r = report["methods"][row["method"]]
        cells = []
        for key, _, _ in cols:
            v = r.get(key, float("nan"))
            digits = RESULTS[key].digits if key in RESULTS else 3  # decimals declared with the result
            cells.append("-" if not np.isfinite(v) else f"{v:.{digits}f}")
        lines.append(f"| {i} | {row['method']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write(report: dict[str, Any], out: Path, command: str = "vidxai bench synthetic") -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    js, md = out / "synthetic.json", out / "synthetic.md"
    js.write_text(json.dumps(report, indent=2, default=float))
    md.write_text("# Method quality on synthetic ground truth\n\n" + markdown(report, command))
    return js, md
