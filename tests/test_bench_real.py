"""tools/bench_real.py --quick end to end on the real data (the pretrained I3D; skips without the data)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.realdata
def test_bench_real_quick_writes_both_files(realdata, tmp_path):
    env_cmd = [sys.executable, str(REPO / "tools/bench_real.py"), "--quick", "--work", str(tmp_path / "work"),
               "--out", str(tmp_path / "out")]
    done = subprocess.run(env_cmd, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "VIDXAI_REALDATA": str(realdata)})
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((tmp_path / "out/real_quick.json").read_text())
    rows = summary["deletion"]["16f"]
    assert set(rows) == {"zero", "blur"} and set(rows["zero"]) == {"centre", "gradient", "gradcam"}
    assert all(0 <= r["deletion"] <= 1 and 0 <= r["insertion"] <= 1 for r in rows["zero"].values())
    assert summary["localization"]["gradcam"]["n_clips"] == 2
    assert summary["protocol_counts"]["overlap"]["videos"] == 746
    md = (tmp_path / "out/real_quick.md").read_text()
    assert "Table 4.2 shape" in md and "Table 4.3 shape" in md and "Table 4.4 shape" in md
    # resumable: a second run computes nothing and rewrites the same numbers
    again = subprocess.run(env_cmd, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "VIDXAI_REALDATA": str(realdata)})
    assert again.returncode == 0
    assert json.loads((tmp_path / "out/real_quick.json").read_text())["deletion"] == summary["deletion"]


def test_bench_real_skips_cleanly_without_real_data(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "tools/bench_real.py"), "--quick", "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "VIDXAI_REALDATA": str(tmp_path / "absent")},
                          cwd=tmp_path)
    assert done.returncode == 0 and "skipped" in done.stdout
