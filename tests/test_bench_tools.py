"""Smoke tests of the benchmark tools in tools/ (tiny settings; the full runs are the lead's)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def bench_attribution(*args: str) -> None:
    cmd = [sys.executable, str(REPO / "tools" / "bench_attribution.py"), "--quick", *args]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_bench_attribution_quick_writes_ratios(tmp_path):
    bench_attribution("--out", str(tmp_path), "--methods", "gradient", "gradcam", "occlusion", "centre")
    data = json.loads((tmp_path / "attribution.json").read_text())
    (res,) = data["results"]
    assert res["model"] == "synthetic-tiny" and res["hooks_left"] == 0
    rows = {r["method"]: r for r in res["rows"]}
    assert set(rows) == {"forward (no grad)", "forward+backward (input grad)", "gradient", "gradcam", "occlusion",
                         "centre"}
    assert all("error" not in r and min(r["vidxai_s"]) > 0 for r in rows.values())
    libraries = {m: [(ref["library"], ref) for ref in rows[m]["references"]] for m in ("gradient", "gradcam",
                                                                                       "occlusion")}
    assert [lib for lib, _ in libraries["gradient"]] == ["captum"]
    assert [lib for lib, _ in libraries["gradcam"]] == ["pytorch-grad-cam", "captum"]
    assert [lib for lib, _ in libraries["occlusion"]] == ["captum"]
    for refs in libraries.values():
        for _, ref in refs:
            assert "error" not in ref, ref
            assert abs(ref["best_ratio"] - min(rows_of(res, ref)) / min(ref["seconds"])) < 1e-12
    assert rows["gradient"]["references"][0]["target_ratio"] == 1.0 and isinstance(rows["gradient"]["met"], bool)
    assert rows["gradcam"]["references"][0]["target_ratio"] == 0.3 and isinstance(rows["gradcam"]["met"], bool)
    assert rows["centre"]["references"] == []
    md = (tmp_path / "attribution.md").read_text()
    assert "| gradcam | cam |" in md and "pytorch-grad-cam `GradCAM`" in md and "| centre | baseline |" in md

    # --merge: the re-measured row is replaced (and points at the new run), the others are kept
    before = {r["method"]: r for r in res["rows"]}
    bench_attribution("--out", str(tmp_path), "--methods", "centre", "sobel", "--merge")
    merged = json.loads((tmp_path / "attribution.json").read_text())
    assert len(merged["runs"]) == 2 and "--merge" in merged["runs"][1]["command"]
    rows = {r["method"]: r for r in merged["results"][0]["rows"]}
    assert set(rows) == set(before) | {"sobel"}
    assert rows["gradient"] == before["gradient"] and rows["gradient"]["run"] == 0
    assert rows["centre"]["run"] == 1 and rows["sobel"]["run"] == 1
    assert "| run |" in (tmp_path / "attribution.md").read_text()


def test_interleaved_rotates_the_order_and_records_errors(monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "tools"))
    import vidxai
    from bench_attribution import _error_text
    from benchlib import interleaved, rotated

    assert rotated([1, 2, 3], 1) == [2, 3, 1] and rotated([1, 2], 2) == [1, 2] and rotated([], 3) == []
    calls = []

    def refuse():
        raise vidxai.errors.InputError("no head here")

    fns = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b"), "bad": refuse}
    seconds, errors = interleaved(fns, repeats=3, device="cpu")
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]  # warm-up a b, then a b / b a / a b
    assert set(seconds) == {"a", "b"} and all(len(v) == 3 for v in seconds.values())
    assert _error_text(errors["bad"]) == "no head here"
    assert _error_text(ValueError("x\ny")) == "ValueError: x"


def rows_of(res: dict, ref: dict) -> list[float]:
    """Our times in the row that holds ``ref``."""
    return next(r["vidxai_s"] for r in res["rows"] if ref in r.get("references", []))


def test_bench_deletion_chunks_writes_both_settings(tmp_path):
    cmd = [sys.executable, str(REPO / "tools" / "bench_deletion_chunks.py"), "--model", "synthetic-tiny",
           "--frames", "4", "--size", "32", "--steps", "3", "--repeats", "2", "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads((tmp_path / "deletion_chunks.json").read_text())
    (row,) = data["rows"]
    assert row["clip"] == [3, 4, 32, 32] and row["auto_chunk"] == 16 and row["curves_equal"]
    assert all(len(v) == 2 and min(v) > 0 for v in row["seconds"].values())
    assert row["speedup_auto_vs_16"] == min(row["seconds"]["fixed 16"]) / min(row["seconds"]["auto"])
    assert "| 4x32x32 | 16 |" in (tmp_path / "deletion_chunks.md").read_text()
