"""Damaged cache shards: a rerun verifies every shard it reuses and recomputes a damaged one (one line each), the
report step leaves a damaged shard out (one line, no traceback, no garbage), and ``vidxai run --verify`` checks a
run folder without computing."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from test_runner import CONFIG, TESTS, numbers
from vidxai.cli import main
from vidxai.runner import cache
from vidxai.runner.config import parse_config
from vidxai.runner.run import RunPaths, run

TINY = {**CONFIG, "dataset": {**CONFIG["dataset"], "num_clips": 4}, "methods": ["gradient", "random"],
        "evaluate": {"deletion": {"steps": 4, "chunk_size": 8}, "pointing": {}}}


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """An uninterrupted run: its report and its output folder (copied by the tests that damage it)."""
    out = tmp_path_factory.mktemp("reference") / "out"
    with pytest.MonkeyPatch.context() as mp:
        mp.syspath_prepend(str(TESTS))
        report = run(config(out), progress=False)
    return report, out


def config(out: Path):
    return parse_config({**TINY, "output": str(out)}, source="tiny.yaml")


def copy_run(reference, tmp_path: Path):
    out = tmp_path / "out"
    shutil.copytree(reference[1], out)
    cfg = config(out)
    return cfg, RunPaths.of(cfg)


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 8):  # inside the first array's compressed bytes
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def shards(cfg, paths):
    """The gt shard, the first method's maps shard and its deletion shard of batch 1 (and their folder names)."""
    m = cfg.methods[0]
    return (paths.gt() / cache.shard_name(1), paths.maps(m) / cache.shard_name(1),
            paths.metrics(m, "deletion", cfg.evaluate["deletion"]) / cache.shard_name(1))


def damage_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if "damaged shard" in line]


@pytest.mark.parametrize("how", [truncate, corrupt])
def test_a_rerun_recomputes_damaged_shards_and_equals_an_uninterrupted_run(reference, tmp_path, capsys, how):
    cfg, paths = copy_run(reference, tmp_path)
    gt, maps, metric = shards(cfg, paths)
    for path in (gt, maps, metric):
        how(path)
    capsys.readouterr()
    report = run(cfg, progress=False)
    err = capsys.readouterr().err
    # where the flipped bytes land decides which check sees them first: the inflater, the CRC or the zip header
    reason = "truncated zip" if how is truncate else "(bad CRC-32|corrupt data|corrupt zip)"
    lines = damage_lines(err)
    assert len(lines) == 3, err
    for line, p in zip(lines, (gt, maps, metric)):
        assert re.fullmatch(rf"vidxai: damaged shard {re.escape(str(p.relative_to(paths.root)))} \({reason}\): "
                            "recomputing", line), line
    assert "Traceback" not in err
    assert numbers(report) == numbers(reference[0]) and report["clips"] == reference[0]["clips"]
    for p in (gt, maps, metric):
        cache.load_checked(p)  # rewritten whole
    capsys.readouterr()
    run(cfg, progress=False)  # nothing damaged any more: not a word
    assert damage_lines(capsys.readouterr().err) == []


def test_a_shard_of_another_batch_or_with_a_missing_array_is_damaged(reference, tmp_path, capsys):
    cfg, paths = copy_run(reference, tmp_path)
    gt, maps, metric = shards(cfg, paths)
    shutil.copy(maps.with_name(cache.shard_name(0)), maps)  # a whole, readable shard of batch 0 under b000001
    arrays, meta = cache.read_shard(metric)
    cache.write_shard(metric, {k: v[:1] for k, v in arrays.items()}, meta)  # one row for two clips
    arrays, meta = cache.read_shard(gt)
    cache.write_shard(gt, {k: v for k, v in arrays.items() if k != "targets"}, meta)
    capsys.readouterr()
    report = run(cfg, progress=False)
    lines = damage_lines(capsys.readouterr().err)
    assert lines == [f"vidxai: damaged shard {gt.relative_to(paths.root)} (no 'targets' array): recomputing",
                     f"vidxai: damaged shard {maps.relative_to(paths.root)} (written for batch 0, not 1): recomputing",
                     f"vidxai: damaged shard {metric.relative_to(paths.root)} ('deletion_auc' holds 1 rows for 2 "
                     "clips): recomputing"]
    assert numbers(report) == numbers(reference[0])


def test_the_report_step_leaves_a_damaged_shard_out(reference, tmp_path, capsys):
    cfg, paths = copy_run(reference, tmp_path)
    gt, maps, metric = shards(cfg, paths)
    truncate(metric)
    capsys.readouterr()
    report = run(cfg, phases=("report",), progress=False)
    lines = damage_lines(capsys.readouterr().err)
    assert lines == [f"vidxai: damaged shard {metric.relative_to(paths.root)} (truncated zip): left out of the "
                     "report; run again to recompute it"]
    entry = report["methods"]["gradient"]
    assert entry["incomplete"] == "2 of 4 clips evaluated" and entry["deletion_auc"]["n"] == 2
    assert report["methods"]["random"] == reference[0]["methods"]["random"]  # the intact method is untouched
    truncate(gt)  # the ground truth of batch 1 too: its clips leave the report, no method claims them
    capsys.readouterr()
    report = run(cfg, phases=("report",), progress=False)
    assert len(damage_lines(capsys.readouterr().err)) == 1  # the metric shard is no longer asked for
    assert report["clips"] == 2 and report["methods"]["random"]["clips"] == 2
    assert "incomplete" not in report["methods"]["gradient"]


def test_verify_complete_missing_and_damaged(reference, tmp_path, capsys):
    cfg, paths = copy_run(reference, tmp_path)
    argv = ["run", "--verify", str(TESTS / "does-not-matter.yaml")]
    cfg_file = tmp_path / "tiny.yaml"
    import yaml

    cfg_file.write_text(yaml.safe_dump({**TINY, "output": str(cfg.output)}))
    argv[-1] = str(cfg_file)
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{cfg.output}: complete and intact: 14 of 14 shards intact, 0 missing, 0 damaged (2 batches x "
                   "(ground truth + 2 methods x (maps + 2 metrics)))"]
    gt, maps, metric = shards(cfg, paths)
    corrupt(maps)
    metric.unlink()
    before = {p: p.stat().st_mtime_ns for p in paths.root.rglob("*.npz")}
    assert main(argv) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"damaged gradient maps: {maps.relative_to(paths.root)} (bad CRC-32)",
                   f"missing gradient deletion: 1 of 2 shards (b1) in {metric.parent.relative_to(paths.root)}",
                   f"{cfg.output}: damaged: 12 of 14 shards intact, 1 missing, 1 damaged (2 batches x "
                   "(ground truth + 2 methods x (maps + 2 metrics)))"]
    assert {p: p.stat().st_mtime_ns for p in paths.root.rglob("*.npz")} == before  # nothing written or removed
    assert main([*argv, "--output", str(tmp_path / "empty")]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("missing ") and "no run of this config has started" in out[0]


def test_load_checked_names_the_problem(tmp_path):
    path = tmp_path / "b000000.npz"
    cache.write_shard(path, {"a": np.arange(4.0)}, {"batch": 0, "clip_ids": ["x"] * 4})
    cache.load_checked(path)
    np.savez(path, a=np.arange(3))
    with pytest.raises(cache.DamagedShardError, match=r"\(no __meta__\)"):
        cache.load_checked(path)
    np.savez(path, a=np.arange(3), __meta__=np.frombuffer(b"{not json", np.uint8))
    with pytest.raises(cache.DamagedShardError, match="not JSON"):
        cache.load_checked(path)
    path.write_bytes(b"")
    with pytest.raises(cache.DamagedShardError, match="truncated zip"):
        cache.load_checked(path)


def test_cli_resume_over_a_damaged_shard_is_one_line_not_a_traceback(reference, tmp_path):
    import subprocess
    import sys

    import yaml

    cfg, paths = copy_run(reference, tmp_path)
    gt, maps, metric = shards(cfg, paths)
    truncate(gt)
    cfg_file = tmp_path / "tiny.yaml"
    cfg_file.write_text(yaml.safe_dump({**TINY, "output": str(cfg.output)}))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.run([sys.executable, "-m", "vidxai", "run", str(cfg_file), "--quiet"], capture_output=True,
                       text=True, env=env, timeout=300)
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    assert damage_lines(p.stderr) == [f"vidxai: damaged shard {gt.relative_to(paths.root)} (truncated zip): recomputing"]
    v = subprocess.run([sys.executable, "-m", "vidxai", "run", "--verify", str(cfg_file)], capture_output=True,
                       text=True, env=env, timeout=300)
    assert v.returncode == 0 and "complete and intact" in v.stdout, v.stdout + v.stderr
