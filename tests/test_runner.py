"""The runner: caching, resumption after SIGKILL, sharding with torchrun, and the report."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import yaml

from vidxai.errors import ConfigError, UnknownMethodError
from vidxai.runner import cache
from vidxai.runner.config import load_config, parse_config
from vidxai.runner.run import RunPaths, assigned_batches, run

TESTS = Path(__file__).resolve().parent

CONFIG = {
    "name": "toy",
    "seed": 3,
    "device": "cpu",
    "model": {"builder": "runner_toy:build"},
    "dataset": {"type": "synthetic", "num_clips": 10, "seed": 500, "num_frames": 8, "size": 32},
    "batch_size": 2,
    "methods": ["gradient", {"name": "random", "label": "random baseline"}],
    "evaluate": {"deletion": {"steps": 4, "chunk_size": 8}, "localization": {"calibration_fraction": 0.3},
                 "pointing": {}, "temporal": {}},
}


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def write_config(folder: Path, **changes) -> Path:
    cfg = {**CONFIG, **changes, "output": str(folder / "out")}
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def events(out: Path) -> list[dict]:
    found = []
    for f in sorted((out / "events").glob("rank*.jsonl")):
        found += [json.loads(line) for line in f.read_text().splitlines() if line.strip()]
    return found


def numbers(report: dict) -> dict:
    """The report's metric values (no timings), for comparing runs."""
    out = {}
    for title, e in report["methods"].items():
        for key, val in e.items():
            if isinstance(val, dict) and "sem" in val and key != "seconds_per_clip":  # not "localization"
                out[(title, key)] = round(val["mean"], 5)
        for scheme, r in e.get("localization", {}).items():
            out[(title, scheme)] = (r["best_index"], round(r["error_heldout"], 4))
    return out


def test_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(UnknownMethodError, match="gradcm"):
        parse_config({**CONFIG, "methods": ["gradcm"]})
    with pytest.raises(ConfigError, match="unknown key"):
        parse_config({**CONFIG, "bacth_size": 3})
    with pytest.raises(ConfigError, match="unknown metric"):
        parse_config({**CONFIG, "evaluate": {"delet": {}}})


def test_assigned_batches_cover_every_clip_once():
    for n, b, w in [(10, 2, 2), (11, 3, 4), (1, 4, 3)]:
        batches = [k for r in range(w) for k in assigned_batches(n, b, r, w)]
        assert sorted(batches) == list(range(-(-n // b)))


def test_run_report_and_rerun_does_nothing(tmp_path):
    cfg = load_config(write_config(tmp_path))
    report = run(cfg, progress=False)
    out = Path(cfg.output)
    assert report["clips"] == 10
    rnd = report["methods"]["random baseline"]
    assert set(rnd["localization"]) == {"value", "mean", "energy"}
    assert 0 <= rnd["deletion_auc"]["mean"] <= 1 and len(rnd["deletion_curve"]) == 5
    assert {"pointing_hit", "energy_in_gt", "energy_on_distractors"} <= set(rnd)
    md = (out / "report.md").read_text()
    assert "Deletion / insertion" in md and "Localisation error" in md and "| random baseline |" in md
    assert (out / "report.csv").read_text().startswith("method,metric,value")
    maps, meta = cache.read_shard(RunPaths.of(cfg).maps(cfg.methods[0]) / "b000000.npz")
    assert maps["saliency"].dtype == np.float32 and maps["saliency"].shape == (2, 8, 32, 32)
    n_events = len(events(out))
    assert n_events == 5 * (1 + 2 + 2 * 4)  # per batch: gt, 2 explanations, 2 methods x 4 metric shards
    again = run(cfg, progress=False)
    assert len(events(out)) == n_events  # nothing recomputed
    assert numbers(again) == numbers(report)


def test_shard_rewrite_removes_temporaries_of_a_killed_writer(tmp_path):
    # A SIGKILL between creating the temporary and renaming it leaves ".b000003.npz.<pid>.tmp" behind.
    path = tmp_path / "m" / cache.shard_name(3)
    path.parent.mkdir()
    stale = path.with_name(f".{path.name}.999999.tmp")
    stale.write_bytes(b"half a shard")
    other = path.with_name(".b000004.npz.999999.tmp")  # another batch's writer: not ours to touch
    other.write_bytes(b"x")
    cache.write_shard(path, {"a": np.arange(3.0)}, {"k": 1})
    assert not stale.exists() and other.exists()
    arrays, meta = cache.read_shard(path)
    assert arrays["a"].tolist() == [0, 1, 2] and meta["k"] == 1
    assert sorted(p.name for p in path.parent.iterdir()) == [".b000004.npz.999999.tmp", "b000003.npz"]


def test_kill_and_resume_matches_uninterrupted_run(tmp_path):
    ref = load_config(write_config(tmp_path / "ref"))
    reference = run(ref, progress=False)
    path = write_config(tmp_path / "killed")
    out = tmp_path / "killed" / "out"
    proc = subprocess.Popen([sys.executable, "-m", "vidxai", "run", str(path), "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if len([e for e in events(out) if e["kind"] == "gt"]) >= 2:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"run finished before it could be killed: {proc.stderr.read().decode()[-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    partial = len(events(out))
    assert 0 < partial < 55
    result = subprocess.run([sys.executable, "-m", "vidxai", "run", str(path), "--quiet"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-800:]
    ev = Counter((e["kind"], e["batch"], e["method"]) for e in events(out))
    assert max(ev.values()) == 1  # nothing done twice
    # Everything done: every shard exists. (The kill may land between a shard's rename and its event line,
    # so one event can be missing although its work is saved.)
    assert len(list((out / "cache").rglob("b*.npz"))) == 55 and len(ev) >= 54
    assert not list(out.rglob("*.tmp"))
    resumed = json.loads((out / "report.json").read_text())
    assert numbers(resumed) == numbers(reference)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_ranks_process_every_clip_once(tmp_path):
    ref = run(load_config(write_config(tmp_path / "ref")), progress=False)
    path = write_config(tmp_path / "dist", batch_size=3)  # 4 batches: 2 per rank, last one short
    out = tmp_path / "dist" / "out"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", f"--master_port={_free_port()}",
           "-m", "vidxai", "run", str(path), "--quiet"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]
    ev = events(out)
    assert Counter((e["kind"], e["batch"], e["method"]) for e in ev).most_common(1)[0][1] == 1
    assert {(e["batch"], e["rank"]) for e in ev} == {(0, 0), (1, 1), (2, 0), (3, 1)}
    report = json.loads((out / "report.json").read_text())
    assert report["clips"] == 10 and len(report["throughput"]) == 2
    # batch composition changed (3 instead of 2 clips), so only seed-free metrics are compared
    for key in ("pointing_hit", "energy_in_gt"):
        assert report["methods"]["gradient"][key]["mean"] == pytest.approx(ref["methods"]["gradient"][key]["mean"],
                                                                           abs=1e-3)


def test_corrupt_videos_are_reported_and_the_run_goes_on(tmp_path):
    from vidxai.io import write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    g = np.random.default_rng(0)
    for name in ("a.mp4", "b.mp4"):
        write_video(videos / name, g.integers(0, 255, (12, 40, 48, 3), dtype=np.uint8), fps=10)
    (videos / "broken.mp4").write_bytes(b"not a video at all")
    cfg = load_config(write_config(tmp_path, dataset={"type": "folder", "root": str(videos)}, batch_size=2,
                                   evaluate={"deletion": {"steps": 2}}))
    report = run(cfg, progress=False)
    assert report["clips"] == 2
    assert [e["clip_id"] for e in report["failed_clips"]] == ["broken.mp4"]
    assert "broken.mp4" in (Path(cfg.output) / "report.md").read_text()


def test_resuming_with_another_batch_size_is_refused(tmp_path):
    path = write_config(tmp_path, evaluate={})
    run(load_config(path), phases=("explain",), progress=False)
    with pytest.raises(ConfigError, match="batch_size 2"):
        run(load_config(path, {"batch_size": 4}), progress=False)


def test_report_pointing_table_has_no_empty_column():
    """Without temporal metrics the pointing table's header had a trailing empty cell (5 columns over 4)."""
    from vidxai.runner.report import markdown

    report = {"name": "x", "model": {"name": "m"}, "dataset": {"type": "d"}, "clips": 1, "failed_clips": [],
              "target": "top1", "seed": 0, "calibration_fraction": 0.2, "throughput": [], "failed_methods": [],
              "methods": {"gradcam": {"pointing_hit": {"mean": 0.5, "sem": 0.1}}}}
    text = markdown(report)
    table = [line for line in text.splitlines() if line.startswith("| method | pointing")]
    assert table and table[0].count("|") == 5
