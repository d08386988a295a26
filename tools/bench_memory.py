"""Peak memory of ``vidxai explain`` against the pipeline's estimate (:func:`vidxai.pipeline.estimate_memory_gb`).

Each case is a fresh ``vidxai explain`` process (the shipped synthetic-tiny model, so the network's own
activations are small and the video-size-dependent part dominates) on a generated video; its peak RSS
(``os.wait4``) minus the peak of the same command on a tiny video (interpreter, torch, model) is compared
with the estimate. The guard refuses a run when the estimate exceeds ``$VIDXAI_RENDER_MEMORY_GB``, so the
estimate must not fall short of the measured part.

    .venv/bin/python tools/bench_memory.py          # writes docs/benchmarks/memory.{json,md}
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: (name, frames, width, height, explain arguments)
CASES = [
    ("baseline: 16 frames 64x48, centre", 16, 64, 48, ["--method", "gradient"]),
    ("720p, 300 frames, --clip all, 1 method", 300, 1280, 720, ["--clip", "all", "--method", "gradient"]),
    ("720p, 300 frames, --clip all, 3 methods", 300, 1280, 720,
     ["--clip", "all", "--method", "gradient", "gradcam", "input-x-gradient"]),
    ("360p, 2000 frames, --clip all, 1 method", 2000, 640, 360, ["--clip", "all", "--method", "gradient"]),
    ("4K, centre 16 frames, 1 method + curves", 40, 3840, 2160, ["--method", "gradient"]),
]


def make_video(path: Path, frames: int, width: int, height: int) -> None:
    from vidxai.io import write_video

    rng = np.random.default_rng(0)
    base = rng.integers(0, 80, (1, height, width, 3), dtype=np.uint8)
    chunk = np.repeat(base, frames, axis=0)
    for t in range(frames):  # a bright square moving right, so the model has something to see
        x = (t * 7) % max(1, width - height // 4)
        chunk[t, height // 3:height // 3 + height // 4, x:x + height // 4] = 230
    write_video(path, chunk, fps=25)


def peak_rss_gb(video: Path, args: list[str], out: Path) -> tuple[float, float]:
    """(peak RSS in GB, wall seconds) of one ``vidxai explain`` process."""
    cmd = [sys.executable, "-m", "vidxai", "explain", str(video), "--model", "synthetic-tiny", "-q",
           "--out", str(out), *args]
    t0 = time.perf_counter()
    env = {**os.environ, "VIDXAI_RENDER_MEMORY_GB": "1000"}  # measure what the guard would refuse
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"failed: {' '.join(cmd)}: {proc.stderr.read().decode()[-1500:]}")
    return usage.ru_maxrss / 2**20, time.perf_counter() - t0


def estimate(video: Path, args: list[str]) -> float:
    import vidxai
    from vidxai.io import video_info
    from vidxai.pipeline import estimate_memory_gb

    spec = vidxai.models.load("synthetic-tiny").spec
    clip = "all" if "--clip" in args else "centre"
    n_overlays = len(args[args.index("--method") + 1:])
    return estimate_memory_gb(video_info(video), spec, spec.num_frames, clip, None, n_overlays)


def main() -> int:
    rows = []
    load = [round(v, 2) for v in os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        base_peak = None
        for name, frames, w, h, args in CASES:
            video = Path(tmp) / f"{frames}_{w}x{h}.mp4"
            make_video(video, frames, w, h)
            peak, wall = peak_rss_gb(video, args, Path(tmp) / "out")
            base_peak = peak if base_peak is None else base_peak
            est = estimate(video, args)
            rows.append({"case": name, "peak_rss_gb": round(peak, 3), "video_part_gb": round(peak - base_peak, 3),
                         "estimate_gb": round(est, 3), "wall_s": round(wall, 1)})
            print(rows[-1], flush=True)
    report = {"date": time.strftime("%Y-%m-%d %H:%M"), "load_before": load,
              "load_after": [round(v, 2) for v in os.getloadavg()], "cases": rows}
    out = REPO / "docs" / "benchmarks"
    (out / "memory.json").write_text(json.dumps(report, indent=2) + "\n")
    lines = ["# Memory of `vidxai explain`: measured peak against the guard's estimate", "",
             f"Measured {report['date']} (load average {load} before, {report['load_after']} after) by "
             "`python tools/bench_memory.py`: synthetic-tiny on generated videos; *video part* = peak RSS minus "
             "the peak of the same command on a 64x48 clip (interpreter, torch, model). The guard compares the "
             "estimate with `$VIDXAI_RENDER_MEMORY_GB` (default 8) before decoding.", "",
             "| case | peak RSS GB | video part GB | estimate GB | estimate / measured | s |", "|---|---|---|---|---|---|"]
    for r in rows[1:]:
        ratio = r["estimate_gb"] / r["video_part_gb"] if r["video_part_gb"] > 0 else float("nan")
        lines.append(f"| {r['case']} | {r['peak_rss_gb']:.2f} | {r['video_part_gb']:.2f} | {r['estimate_gb']:.2f} | "
                     f"{ratio:.2f} | {r['wall_s']} |")
    (out / "memory.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
