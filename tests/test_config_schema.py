"""Config schema: unknown keys at any depth, wrong types and out-of-range values are one-line ConfigErrors that
name the key path (with a close match), before any work; every shipped config parses."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from vidxai.errors import ConfigError
from vidxai.runner.config import load_config, parse_config

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"

BASE = {"name": "schema", "device": "cpu", "seed": 0, "batch_size": 2, "model": {"name": "synthetic-tiny"},
        "dataset": {"type": "synthetic", "num_clips": 2, "seed": 5, "size": 32}, "methods": ["centre"],
        "evaluate": {"deletion": {"steps": 4}, "pointing": {}}}


@pytest.mark.parametrize("path", sorted((REPO / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses(path, monkeypatch):
    for var in ("KINETICS_ROOT", "UCF101_ROOT", "UCF101_CHECKPOINT", "UCF101_SPLIT"):
        monkeypatch.setenv(var, f"/data/{var.lower()}")
    cfg = load_config(path)
    assert cfg.methods and cfg.batch_size >= 1


@pytest.mark.parametrize("change, message", [
    # unknown keys at every depth, each with its path and a suggestion
    ({"evaluate": {"deletion": {"stepz": 4}}}, r"evaluate\.deletion\.stepz: unknown key; did you mean 'steps'\?"),
    ({"model": {"nmae": "synthetic-tiny"}}, r"model\.nmae: unknown key; did you mean 'name'\?"),
    ({"dataset": {"type": "synthetic", "num_clip": 2}}, r"dataset\.num_clip: unknown key; did you mean 'num_clips'"),
    ({"dataset": {"typ": "synthetic"}}, r"dataset\.typ: unknown key; did you mean 'type'"),
    ({"dataset": {"type": "synthetc"}}, r"dataset\.type: must be one of .*did you mean 'synthetic'"),
    ({"dataset": {"type": "kinetics400", "roots": "/d"}}, r"dataset\.roots: unknown key; did you mean 'root'"),
    ({"evaluate": {"localization": {"scheme": ["value"]}}}, r"evaluate\.localization\.scheme: .*'schemes'"),
    ({"evaluate": {"pointing": {"tolerence": 2}}}, r"evaluate\.pointing\.tolerence: .*'tolerance'"),
    ({"evaluate": {"temporal": {"threshold": 0.3}}}, r"evaluate\.temporal\.threshold: unknown key .*no options"),
    ({"evaluate": {"delet": {}}}, r"evaluate\.delet: unknown metric; did you mean 'deletion'"),
    ({"methods": [{"nam": "gradcam"}]}, r"methods\[0\]\.nam: unknown key; did you mean 'name'"),
    ({"methods": ["centre", {"name": "extremal-perturbation", "params": {"iteration": 2}}]},
     r"methods\[1\]\.params: .*iteration; did you mean 'iterations'"),
    ({"methods": [{"name": "centre", "params": {"sigmma": 2}}]}, r"methods\[0\]\.params: .*sigmma; did you mean 'sigma'"),
    ({"report": {"format": "md"}}, r"report\.format: unknown key"),
    ({"bacth_size": 3}, r"bacth_size: unknown key; did you mean 'batch_size'"),
    # types and ranges
    ({"batch_size": 0}, r"batch_size: must be an integer >= 1, got 0"),
    ({"batch_size": "four"}, r"batch_size: must be an integer >= 1, got 'four' \(a string\)"),
    ({"batch_size": 2.5}, r"batch_size: must be an integer"),
    ({"batch_size": True}, r"batch_size: must be an integer .*boolean"),
    ({"num_workers": -1}, r"num_workers: must be an integer >= 0"),
    ({"seed": "x"}, r"seed: must be an integer"),
    ({"device": "gpu"}, r"device: must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    ({"device": "cuda:x"}, r"device: must be auto, cpu, cuda or cuda:N"),
    ({"target": "top"}, r"target: must be one of top1, label.*did you mean 'top1'"),
    ({"methods": []}, r"methods: must not be empty"),
    ({"methods": "gradcam"}, r"methods: must be a list"),
    ({"evaluate": {"deletion": {"steps": 0}}}, r"evaluate\.deletion\.steps: must be an integer >= 1"),
    ({"evaluate": {"deletion": {"baseline": "zeros"}}}, r"evaluate\.deletion\.baseline: .*did you mean 'zero'"),
    ({"evaluate": {"deletion": {"chunk_size": "big"}}}, r"evaluate\.deletion\.chunk_size: must be an integer >= 1 or auto"),
    ({"evaluate": {"localization": {"calibration_fraction": 1.5}}}, r"calibration_fraction: must be a number in \(0, 1\)"),
    ({"evaluate": {"pointing": {"tolerance": -1}}}, r"evaluate\.pointing\.tolerance: must be a number >= 0"),
    ({"evaluate": ["deletion"]}, r"evaluate: must be a mapping"),
    ({"dataset": {"type": "synthetic", "num_clips": 0}}, r"dataset\.num_clips: must be an integer >= 1"),
    ({"dataset": "synthetic"}, r"dataset: must be a mapping"),
    ({"model": 3}, r"model: must be a model name or a mapping"),
])
def test_bad_configs_name_the_key_path(change, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config({**BASE, **change}, source="cfg.yaml")
    text = str(info.value)
    assert text.startswith("cfg.yaml: ") and "\n" not in text


def test_defaults_and_off_switches_still_parse():
    cfg = parse_config({**BASE, "evaluate": {"deletion": None, "pointing": True, "temporal": False,
                                             "localization": {"calibration_fraction": 0.2, "schemes": ["value"]}},
                        "report": None, "model": "synthetic-tiny"})
    assert set(cfg.evaluate) == {"deletion", "pointing", "localization"} and cfg.model["name"] == "synthetic-tiny"


@pytest.mark.parametrize("text, message", [
    ("- name: x\n- model: y\n", r"the config must be a mapping .*got .*\(a list\)"),
    ("just a string\n", r"the config must be a mapping"),
    ("model: {name: [\n", r"is not valid YAML"),
])
def test_a_config_that_is_not_a_mapping(tmp_path, text, message):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path, {"batch_size": 2})  # overrides used to crash on a list (AttributeError)


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "the config must be a mapping"),
    (yaml.safe_dump({**BASE, "batch_size": 0}), "batch_size: must be an integer >= 1, got 0"),
    (yaml.safe_dump({**BASE, "batch_size": "lots"}), "batch_size: must be an integer >= 1, got 'lots'"),
    (yaml.safe_dump({**BASE, "device": "tpu9"}), "device: must be auto, cpu, cuda or cuda:N"),
    (yaml.safe_dump({**BASE, "evaluate": {"deletion": {"stepz": 4}}}), "evaluate.deletion.stepz: unknown key"),
])
def test_cli_one_line_error_before_any_work(tmp_path, capsys, text, message):
    from vidxai.cli import main

    path = tmp_path / "c.yaml"
    path.write_text(text)
    code = main(["run", str(path), "--output", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code != 0 and len(lines) == 1 and lines[0].startswith("vidxai: error: ") and message in lines[0], err
    assert not (tmp_path / "out").exists()


def test_cli_list_config_has_no_traceback(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- model: synthetic-tiny\n- methods: [gradcam]\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "vidxai", "run", str(path), "--set", "batch_size=2", "--quiet"],
                       capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path)
    assert p.returncode != 0 and "Traceback" not in p.stderr
    assert p.stderr.strip().splitlines() == [f"vidxai: error: {path}: the config must be a mapping of keys (name:, "
                                             "model:, dataset:, methods:, ...), got [{'model': 'synthetic-tiny'}, "
                                             "{'methods': ['gradcam']}] (a list)"]


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="needs a machine without CUDA")
def test_a_cuda_device_on_a_machine_without_it(tmp_path):
    from vidxai.runner.run import run

    cfg = parse_config({**BASE, "device": "cuda:1", "output": str(tmp_path / "out")}, source="cfg.yaml")
    with pytest.raises(ConfigError, match=r"^cfg.yaml: device: cuda:1: CUDA is not available on this machine; use "
                                          r"device: auto or cpu"):
        run(cfg, progress=False)
    assert not (tmp_path / "out").exists()


def test_set_reaches_nested_keys_and_names_bad_paths():
    """``--set dataset.num_clips=4`` overrides a nested key (it was taken as an unknown top-level key); a typo in
    the path is named by the schema; a path through a scalar is a one-line error."""
    cfg = load_config(REPO / "configs" / "ci_synthetic.yaml",
                      {"dataset.num_clips": 4, "evaluate.deletion.steps": 8, "batch_size": 2})
    assert cfg.dataset["num_clips"] == 4 and cfg.evaluate["deletion"]["steps"] == 8 and cfg.batch_size == 2
    with pytest.raises(ConfigError, match=r"evaluate\.deletion\.stepz"):
        load_config(REPO / "configs" / "ci_synthetic.yaml", {"evaluate.deletion.stepz": 8})
    with pytest.raises(ConfigError, match="batch_size is a int, not a mapping"):
        load_config(REPO / "configs" / "ci_synthetic.yaml", {"batch_size.x": 1})
