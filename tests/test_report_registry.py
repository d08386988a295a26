"""The runner's report takes its result keys, column titles and directions from the metric registry
(``vidxai.metrics.RESULTS``): a result registered with a new key appears in the report with no change to
``vidxai/runner/report.py``, and report.py names no result key itself."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest
import yaml

from vidxai import metrics
from vidxai.metrics.base import Metric
from vidxai.runner import cache, report
from vidxai.runner.config import load_config
from vidxai.runner.run import RunPaths, run

TESTS = Path(__file__).resolve().parent
REPORT_PY = TESTS.parent / "vidxai" / "runner" / "report.py"


class Dummy(Metric):
    """A metric that exists only in this test."""

    name = "dummy_score"
    higher_is_better = True
    directions = {"dummy_score": True, "dummy_cost": False}


@pytest.fixture
def dummy():
    """Register the ``dummy`` metric with a table of its own and one column in the pointing table; forget it after."""
    metrics.REGISTRY["dummy"] = Dummy
    try:
        metrics.register_result("dummy_score", "dummy", "dummy_score", "dummy score", table="dummy table")
        metrics.register_result("dummy_cost", "dummy", "dummy_cost", "dummy cost", table="dummy table", digits=1)
        metrics.register_result("dummy_in_pointing", "dummy", None, "dummy extra", table="pointing")
        yield
    finally:
        for key in ("dummy_score", "dummy_cost", "dummy_in_pointing"):
            metrics.unregister_result(key)
        metrics.REGISTRY.pop("dummy", None)


def a_report(arrays: dict[str, np.ndarray]) -> dict:
    return {"name": "x", "model": {"name": "m"}, "dataset": {"type": "d"}, "clips": 2, "failed_clips": [],
            "target": "top1", "seed": 0, "calibration_fraction": 0.25, "throughput": [], "failed_methods": [],
            "methods": {"gradcam": {"name": "gradcam", **report.aggregate(arrays)}}}


def test_a_registered_result_key_appears_in_the_report(dummy):
    arrays = {"dummy_score": np.array([0.25, 0.75]), "dummy_cost": np.array([10.0, 20.0]),
              "dummy_in_pointing": np.array([1.0, 0.0]), "pointing_hit": np.array([1.0, 0.0]),
              "not_registered": np.array([1.0, 2.0])}
    r = a_report(arrays)
    entry = r["methods"]["gradcam"]
    assert entry["dummy_score"] == {"mean": 0.5, "sem": 0.25, "n": 2} and "not_registered" not in entry
    md = report.markdown(r)
    lines = md.splitlines()
    # a table of its own, each column saying which way it goes, after the registered tables and before the time
    at = lines.index("## dummy table")
    assert lines[at + 2:at + 5] == ["| method | dummy score (higher is better) | dummy cost (lower is better) |",
                                    "|---|---|---|", "| gradcam | 0.500 | 15.0 |"]
    assert lines.index("## Pointing game and temporal localisation (higher is better)") < at \
        < lines.index("## Time per explanation (thesis table 4.4)")
    # a column in an existing table: that table's heading still states the direction its scored columns share
    pointing = next(x for x in lines if x.startswith("| method | pointing accuracy"))
    assert pointing.endswith("| energy on distractors | dummy extra |")
    assert {"method": "gradcam", "metric": "dummy_cost", "value": 15.0, "sem": 5.0, "n": 2} in report.rows(r)


def test_the_dummy_metric_is_gone_afterwards():
    assert "dummy" not in metrics.REGISTRY and not [k for k in metrics.RESULTS if k.startswith("dummy")]
    assert "## dummy table" not in report.markdown(a_report({"dummy_score": np.array([1.0])}))


def test_titles_and_directions_of_the_existing_tables_come_from_the_registry():
    original = metrics.RESULTS["combined"]
    try:
        metrics.register_result("combined", "deletion", "insertion_auc", "combined score", "deletion")
        md = report.markdown(a_report({"deletion_auc": np.array([0.5]), "combined": np.array([1.0])}))
    finally:
        metrics.RESULTS["combined"] = original  # the same place in the order
    assert ("| method | deletion (lower is better) | insertion (higher is better) | combined score (higher is better) |"
            in md.splitlines())
    assert list(metrics.RESULTS).index("combined") == 2


def test_register_result_checks_the_metric_and_its_score():
    with pytest.raises(KeyError, match="unknown metric"):
        metrics.register_result("x", "no-such-metric", None, "x")
    with pytest.raises(KeyError, match="declares no direction"):
        metrics.register_result("x", "deletion", "no_such_score", "x")
    assert "x" not in metrics.RESULTS
    assert metrics.higher_is_better("temporal_tiou") is True and metrics.higher_is_better("seconds_per_clip") is False
    assert metrics.higher_is_better("temporal_chance_mass") is None  # a reference value, no direction
    assert metrics.RESULT_KEYS["pointing_hit"] == ("pointing", "pointing_game")


def _strings(tree: ast.AST) -> list[str]:
    """Every string constant of a module, f-string parts included."""
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_report_py_lists_no_result_keys_by_hand():
    """A hand list of keys (``("deletion_auc", "insertion_auc", ...)``) or of a family of keys
    (``k.startswith("temporal_")``) fails here: report.py gets its keys from the registry. ``seconds_per_clip`` is
    the field of the maps' metadata the report reads the time from (the explain phase records it there)."""
    keys = set(metrics.RESULTS) - {"seconds_per_clip"}
    strings = _strings(ast.parse(REPORT_PY.read_text(encoding="utf-8")))
    named = sorted({s for s in strings if s in keys})
    prefixes = sorted({s for s in strings if s.endswith("_") and sum(k.startswith(s) for k in keys) > 1})
    assert not named and not prefixes, f"report.py names result keys itself: {named + prefixes}"
    assert "pointing_hit" in _strings(ast.parse('x = ("deletion_auc", f"{a}pointing_hit")'))  # the scan sees them


def test_every_per_clip_result_a_run_stores_is_registered(tmp_path, monkeypatch):
    """Phase 2 stores nothing the report would drop: every per-clip array of the metric shards is a registered
    result, a curve or a per-scheme IoU (which the report summarises itself)."""
    monkeypatch.syspath_prepend(str(TESTS))  # runner_toy
    cfg = {"name": "toy", "seed": 3, "device": "cpu", "model": {"builder": "runner_toy:build"},
           "dataset": {"type": "synthetic", "num_clips": 4, "seed": 500, "num_frames": 8, "size": 32},
           "batch_size": 2, "methods": ["random"], "output": str(tmp_path / "out"),
           "evaluate": {"deletion": {"steps": 3}, "localization": {}, "pointing": {}, "temporal": {}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    config = load_config(tmp_path / "config.yaml")
    summary = run(config, progress=False)
    paths = RunPaths.of(config)
    stored = set()
    for metric, opts in config.evaluate.items():
        arrays, _, _ = report.collect(paths.metrics(config.methods[0], metric, opts))
        stored |= set(arrays)
    extra = {k for k in stored if k not in metrics.RESULTS and k not in ("deletion_curve", "insertion_curve")
             and not k.startswith("loc_iou_")}
    assert not extra, f"stored per-clip results that no metric registers (the report would leave them out): {extra}"
    assert {"deletion_auc", "pointing_hit", "temporal_tiou"} <= stored
    assert set(stored) & set(metrics.RESULTS) <= set(summary["methods"]["random"])
    assert cache.done_batches(paths.maps(config.methods[0]))
