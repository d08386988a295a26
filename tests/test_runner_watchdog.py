"""A worker whose launcher (torchrun) dies exits instead of writing on; tested with a plain parent process that is
SIGKILLed, no torchrun needed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from vidxai.runner import watchdog

REPO = Path(__file__).resolve().parents[1]

#: The worker: starts the watch (directly, or through init_distributed as the runner does), registers a cleanup,
#: then appends a line to a file every 50 ms, as a runner writing shards would.
WORKER = """
import os, sys, time
sys.path.insert(0, {repo!r})
from vidxai.runner import watchdog
if {through_runner!r}:
    from vidxai.runner import distributed
    distributed.init_distributed("cpu")
else:
    watchdog.watch_parent(interval=0.1)
watchdog.ON_EXIT.append(lambda: open({done!r}, "w").write("cleaned up"))
while True:
    with open({out!r}, "a") as f:
        f.write("x")
    time.sleep(0.05)
"""

#: The launcher: starts the worker as its child (with torchrun's environment) and waits forever.
LAUNCHER = """
import os, subprocess, sys, time
env = dict(os.environ, LOCAL_RANK="0", RANK="1", WORLD_SIZE="1", TORCHELASTIC_RUN_ID="test")
worker = subprocess.Popen([sys.executable, "-c", {worker!r}], env=env, stderr=open({err!r}, "w"))
print(worker.pid, flush=True)
time.sleep(600)
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"  # a zombie has exited and only waits to be reaped


def wait_for(condition, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def run_and_kill_launcher(tmp_path: Path, through_runner: bool, start_timeout: float) -> None:
    out, err, done = tmp_path / "writes.txt", tmp_path / "worker.err", tmp_path / "done.txt"
    worker = textwrap.dedent(WORKER).format(repo=str(REPO), through_runner=through_runner, done=str(done), out=str(out))
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER.format(worker=worker, err=str(err))],
                                stdout=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        pid = int(launcher.stdout.readline())
        assert wait_for(lambda: out.exists() and out.stat().st_size > 2, start_timeout), err.read_text()
        launcher.send_signal(signal.SIGKILL)
        launcher.wait()
        assert wait_for(lambda: not alive(pid), 5), "the worker went on after its launcher died"
        size = out.stat().st_size
        time.sleep(0.3)
        assert out.stat().st_size == size  # it stopped writing
        assert done.read_text() == "cleaned up"
        lines = err.read_text().strip().splitlines()
        assert lines == [f"vidxai: the torchrun launcher (pid {launcher.pid}) has exited: rank 1 stops (its finished "
                         "shards are kept; run again to resume)"]
    finally:
        launcher.kill()
        if "pid" in locals() and alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_a_worker_exits_when_its_launcher_is_killed(tmp_path):
    run_and_kill_launcher(tmp_path, through_runner=False, start_timeout=10)


@pytest.mark.slow
def test_init_distributed_starts_the_watch_under_torchrun(tmp_path):
    run_and_kill_launcher(tmp_path, through_runner=True, start_timeout=60)  # imports torch: seconds


def test_torchrun_detection_and_parent_check(monkeypatch):
    for var in ("TORCHELASTIC_RUN_ID", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert not watchdog.launched_by_torchrun()
    monkeypatch.setenv("LOCAL_RANK", "0")
    assert watchdog.launched_by_torchrun()
    assert watchdog.parent_alive(os.getppid()) and not watchdog.parent_alive(os.getppid() + 1)
