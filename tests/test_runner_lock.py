"""One run per output folder: a second run fails with a one-line error naming the owner; stale locks are taken over."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from test_runner import TESTS
from test_runner_keys import TINY
from vidxai.runner.config import parse_config
from vidxai.runner.lock import OutputInUseError, OutputLock, lock_path
from vidxai.runner.run import run

FAST = {**TINY, "methods": ["centre"], "evaluate": {"pointing": {}}}


@pytest.fixture(autouse=True)
def _toy_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))


def write_lock(folder: Path, pid: int, host: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = lock_path(folder)
    path.write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(), "time": "earlier"}))
    return path


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_live_lock_refuses_the_run_before_any_work(tmp_path, live_pid):
    out = tmp_path / "out"
    write_lock(out, live_pid)
    with pytest.raises(OutputInUseError, match=f"{out} is in use by pid {live_pid} on host {socket.gethostname()}"):
        run(parse_config({**FAST, "output": str(out)}), progress=False)
    assert not (out / "cache").exists()  # nothing computed
    assert json.loads(lock_path(out).read_text())["pid"] == live_pid  # not ours to remove


def test_cli_prints_one_line(tmp_path, live_pid):
    import yaml

    out = tmp_path / "out"
    write_lock(out, live_pid)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**FAST, "output": str(out)}))
    p = subprocess.run([sys.executable, "-m", "vidxai", "run", str(cfg), "--quiet"], capture_output=True, text=True,
                       timeout=300)
    assert p.returncode != 0
    assert p.stderr.strip().splitlines() == [
        f"vidxai: error: {out} is in use by pid {live_pid} on host {socket.gethostname()} (since earlier); wait for "
        f"that run to end, use another output, or delete {lock_path(out)} if that run is gone"]


def test_another_hosts_lock_is_reported(tmp_path):
    out = tmp_path / "out"
    write_lock(out, 1, host="elsewhere.example")
    with pytest.raises(OutputInUseError, match="pid 1 on host elsewhere.example"):
        OutputLock(out).acquire()


def test_a_dead_owners_lock_is_taken_over_and_released(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # reaped: the pid names no process now
    out = tmp_path / "out"
    write_lock(out, dead.pid)
    report = run(parse_config({**FAST, "output": str(out)}), progress=False)
    assert report["clips"] == 4
    assert not lock_path(out).exists()  # released at the end


def test_a_recycled_pid_is_not_an_owner(tmp_path):
    out = tmp_path / "out"
    write_lock(out, os.getppid())
    owner = json.loads(lock_path(out).read_text())
    lock_path(out).write_text(json.dumps({**owner, "start": "1"}))  # our parent did not start at tick 1
    with OutputLock(out) as lock:
        assert json.loads(lock_path(out).read_text())["token"] == lock.owner["token"]
    assert not lock_path(out).exists()


def test_two_runs_at_once_one_computes(tmp_path):
    """Two CLI runs started together on one folder: exactly one computes, the other fails naming it."""
    import yaml

    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({**FAST, "output": str(tmp_path / "out")}))
    cmd = [sys.executable, "-m", "vidxai", "run", str(cfg), "--quiet"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    codes = sorted(r[2] for r in results)
    errors = [r[1] for r in results if r[2] != 0]
    if codes == [0, 0]:  # the first finished before the second started: then nothing was computed twice
        lines = (tmp_path / "out" / "events" / "rank000.jsonl").read_text().splitlines()
        done = Counter((e["kind"], e["batch"], e["method"]) for e in map(json.loads, lines))
        assert max(done.values()) == 1 and len(done) == 2 * (1 + 1 + 1)
        pytest.skip("the runs did not overlap on this machine")
    assert codes[0] == 0 and codes[1] != 0
    assert "is in use by pid" in errors[0] and len(errors[0].strip().splitlines()) == 1


def test_fresh_empties_the_folder_but_keeps_its_own_lock(tmp_path, monkeypatch):
    import vidxai.runner.run as runmod

    out = tmp_path / "out"
    cfg = parse_config({**FAST, "output": str(out)})
    run(cfg, progress=False)
    (out / "stale.txt").write_text("old")
    seen = {}
    real = runmod.clear_output

    def spy(folder):
        real(folder)
        seen["lock held while clearing"] = lock_path(folder).exists()

    monkeypatch.setattr(runmod, "clear_output", spy)
    run(cfg, progress=False, fresh=True)
    assert seen == {"lock held while clearing": True}
    assert not (out / "stale.txt").exists() and not lock_path(out).exists()
    assert len((out / "events" / "rank000.jsonl").read_text().splitlines()) == 2 * 3  # recomputed from scratch
