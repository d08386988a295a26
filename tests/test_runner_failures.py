"""Keep going: a method that raises is recorded and skipped, the others finish, the run ends non-zero naming it,
and a rerun retries it."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
import yaml

from test_runner import TESTS, events, numbers
from test_runner_keys import TINY
from vidxai import methods
from vidxai.attribution.base import AttributionResult
from vidxai.runner.config import parse_config
from vidxai.runner.run import MethodFailedError, run

CFG = {**TINY, "methods": ["gradient", "test-flaky", "centre"], "evaluate": {"pointing": {}, "temporal": {}}}


class Flaky:
    """A registered test method that raises while ``FAIL`` is set, else returns a constant map."""

    FAIL = True
    calls = 0

    def __init__(self, model):
        self.model = model

    def attribute(self, x, target=None, **params):
        type(self).calls += 1
        if type(self).FAIL:
            raise RuntimeError("CUDA out of memory.\nTried to allocate 2 GiB")
        return AttributionResult(torch.ones(x.shape[0], *x.shape[2:]))


@pytest.fixture(autouse=True)
def _flaky(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    Flaky.FAIL, Flaky.calls = True, 0
    methods._REGISTRY.register("test-flaky", Flaky, overwrite=True)
    yield
    methods._REGISTRY._items.pop("test-flaky", None)


def test_a_failing_method_does_not_stop_the_others_and_is_retried(tmp_path):
    cfg = parse_config({**CFG, "output": str(tmp_path / "out")})
    with pytest.raises(MethodFailedError) as info:
        run(cfg, progress=False)
    msg = str(info.value)
    assert "\n" not in msg and "test-flaky (explain, batch 0: RuntimeError: CUDA out of memory. Tried" in msg
    assert [f["method"] for f in info.value.failures] == ["test-flaky"]
    assert Flaky.calls == 1  # skipped for the rest of the run once it failed
    report = info.value.report
    assert report["methods"]["gradient"]["clips"] == 4 and report["methods"]["centre"]["clips"] == 4
    assert report["methods"]["test-flaky"]["clips"] == 0 and "CUDA out of memory" in report["methods"]["test-flaky"]["failed"]
    assert [f["method"] for f in report["failed_methods"]] == ["test-flaky"]
    out = tmp_path / "out"
    assert "## Methods that failed" in (out / "report.md").read_text()
    assert json.loads((out / "failures" / "rank000.json").read_text())[0]["batch"] == 0
    # the others' results are those of a run without the failing method
    alone = run(parse_config({**CFG, "methods": ["gradient", "centre"], "output": str(tmp_path / "alone")}),
                progress=False)
    assert numbers(alone) == {k: v for k, v in numbers(report).items() if k[0] != "test-flaky"}
    # a rerun retries only the failed method
    Flaky.FAIL = False
    n = len(events(out))
    again = run(cfg, progress=False)
    assert again["methods"]["test-flaky"]["clips"] == 4 and not again["failed_methods"]
    assert {e["method"].split("-")[0] for e in events(out)[n:]} == {"test"}
    assert json.loads((out / "failures" / "rank000.json").read_text()) == []


def test_fail_fast_stops_at_the_first_failure(tmp_path):
    cfg = parse_config({**CFG, "output": str(tmp_path / "out")})
    with pytest.raises(MethodFailedError, match="test-flaky"):
        run(cfg, progress=False, keep_going=False)
    assert not [e for e in events(tmp_path / "out") if e["batch"] == 1]  # batch 1 never started


def test_cli_exits_non_zero_with_one_line(tmp_path):
    # In a subprocess the test method is not registered: a model without CAM layers makes gradcam fail instead.
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**CFG, "methods": ["gradient", "gradcam"],
                                   "model": {"builder": "test_runner_failures:no_cam_model"},
                                   "output": str(tmp_path / "out")}))
    p = subprocess.run([sys.executable, "-m", "vidxai", "run", str(cfg), "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode != 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidxai: error: 1 method(s) failed: gradcam (explain, batch 0: ")
    assert "4 clips, 2 methods" in p.stdout  # the report was written all the same
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["methods"]["gradient"]["clips"] == 4


def no_cam_model():
    from runner_toy import build

    model = build(num_classes=6)
    model.target_layers = []
    return model
