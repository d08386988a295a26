"""The synthetic-ground-truth benchmark ranks methods by how right they are."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

import vidxai
from vidxai.attribution.base import Attribution, AttributionResult
from vidxai.runner.benchmark import BenchmarkSettings, markdown, rank_methods, run_benchmark

TESTS = Path(__file__).resolve().parent


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))


@pytest.fixture(scope="module")
def oracle_method():
    """A method that returns the toy model's true evidence region (registered for these tests only)."""
    import runner_toy

    name = "test-oracle"
    if name not in vidxai.methods.list():
        @vidxai.methods.register(name, description="the true evidence region (tests)", family="baseline")
        class Oracle(Attribution):
            def attribute(self, inputs, target=None, **params):
                x, _, _ = self.prepare(inputs, target)
                return AttributionResult(runner_toy.region_mask().float().to(x.device).expand(x.shape[0], -1, -1, -1))
    return name


def test_rank_methods_orders_by_mean_rank():
    results = {"a": {"pointing_hit": 1.0, "deletion_auc": 0.1}, "b": {"pointing_hit": 0.5, "deletion_auc": 0.3},
               "c": {"pointing_hit": 0.0, "deletion_auc": 0.2}}
    assert [r["method"] for r in rank_methods(results)] == ["a", "b", "c"] or \
        [r["method"] for r in rank_methods(results)] == ["a", "c", "b"]
    assert rank_methods(results)[0]["mean_rank"] == 1.0


def test_oracle_first_random_last_on_a_toy_with_known_evidence(tmp_path, oracle_method):
    settings = BenchmarkSettings(output=tmp_path, model={"builder": "runner_toy:build_region_model"},
                                 dataset={"builder": "runner_toy:build_region_clips", "num_clips": 8},
                                 batch_size=4, deletion_steps=8, sanity_clips=0, device="cpu")
    report = run_benchmark([oracle_method, "centre", "random"], settings, progress=False)
    order = [r["method"] for r in report["ranking"]]
    assert order[0] == oracle_method and order[-1] == "random", report["ranking"]
    oracle = report["methods"][oracle_method]
    assert oracle["pointing_hit"] == 1.0 and oracle["energy_in_gt"] == pytest.approx(1.0)
    assert oracle["localization_error"] == 0.0
    table = markdown(report)
    assert table.splitlines()[4].startswith(f"| 1 | {oracle_method} |")


def test_cli_methods_all_means_every_registered_method(monkeypatch, tmp_path):
    import vidxai
    import vidxai.runner.benchmark as bench
    from vidxai.cli import main

    seen = {}

    def fake_run(methods, settings, progress=True):
        seen["methods"] = list(methods)
        return {"methods": {}, "ranking": [], "clips": 0, "model": {"name": "m"}, "contrast_model": None}

    monkeypatch.setattr(bench, "run_benchmark", fake_run)
    assert main(["bench", "synthetic", "--methods", "all", "--clips", "2", "--out", str(tmp_path), "--quiet"]) == 0
    assert seen["methods"] == vidxai.methods.list()
    assert "--methods all" in (tmp_path / "synthetic.md").read_text()
