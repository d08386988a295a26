"""Cache keys: every setting that changes a result is part of the key of what it changes, and maps are cached
at full precision (float16 used to create ties that changed deletion, insertion and the pointing game)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from test_runner import CONFIG, TESTS, numbers
from vidxai.runner.config import parse_config
from vidxai.runner.run import run

TINY = {**CONFIG, "model": {"builder": "runner_toy:build", "num_classes": 6},
        "dataset": {**CONFIG["dataset"], "num_clips": 4}, "methods": ["gradient", "centre"]}


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def config(out: Path, **changes):
    return parse_config({**TINY, **changes, "output": str(out)})


def results(report: dict) -> dict:
    """Metric values and curve lengths (no timings) of a report, plus the settings it states."""
    out = numbers(report)
    for title, e in report["methods"].items():
        out[(title, "curve")] = len(e.get("deletion_curve", []))
        out[(title, "clips")] = e["clips"]
    out["target"], out["seed"] = report["target"], report["seed"]
    return out


@pytest.mark.parametrize("change", [
    {"target": "label"},
    {"seed": 11},
    {"evaluate": {**TINY["evaluate"], "deletion": {"steps": 6, "chunk_size": 8}}},
    {"evaluate": {**TINY["evaluate"], "deletion": {"steps": 4, "chunk_size": 8, "baseline": "blur"}}},
])
def test_rerun_with_another_setting_equals_a_fresh_run(tmp_path, change):
    first = run(config(tmp_path / "shared"), progress=False)
    rerun = run(config(tmp_path / "shared", **change), progress=False)
    fresh = run(config(tmp_path / "fresh", **change), progress=False)
    assert results(rerun) == results(fresh)
    assert results(rerun) != results(first)  # the setting does change the numbers
    # both results live in the cache: going back to the first setting recomputes nothing and gives its numbers
    again = run(config(tmp_path / "shared"), progress=False)
    assert results(again) == results(first)
