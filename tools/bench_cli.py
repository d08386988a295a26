"""The default ``vidxai explain`` on a real clip, measured as a new user runs it: wall time, phases, peak memory.

Side by side in one run (each a fresh ``vidxai`` process, pretrained I3D weights already cached):

- ``default``: ``vidxai explain VIDEO`` exactly as the README's quick start (I3D, 64 frames, SWAG-V I+G,
  quick curves: 8 steps);
- ``thesis curves``: the same with ``--curves thesis`` (the 28-step protocol of the thesis' tables);
- ``no curves``: the same with ``--no-curves``;
- ``vidxai --help`` and ``vidxai explain --help`` (median of 5).

Phases come from each run's ``result.json`` timings (load, decode, predict, explain, curves, render, encode).
The load average before and after every run is recorded, since a busy machine slows every number.

    .venv/bin/python tools/bench_cli.py                       # mmaction2's demo.mp4 from ../shared/realdata
    .venv/bin/python tools/bench_cli.py --video clip.mp4 --repeats 2

Writes ``docs/benchmarks/cli.json`` and ``docs/benchmarks/cli.md``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VIDXAI = [sys.executable, "-m", "vidxai"]
BUDGET_S = 60.0
RUNS = {"default": [], "thesis curves": ["--curves", "thesis"], "no curves": ["--no-curves"]}
PHASES = [("load", "load_model_s"), ("decode", "read_s"), ("predict", "predict_s"), ("explain", "explain_s"),
          ("curves", "metrics_s"), ("render", None), ("encode", "encode_s")]


def realdata() -> Path | None:
    for root in (os.environ.get("VIDXAI_REALDATA"), REPO.parent / "shared" / "realdata"):
        if root and Path(root).is_dir():
            return Path(root)
    return None


def run_explain(video: Path, extra: list[str], out: Path) -> dict:
    """One ``vidxai explain`` process: wall seconds, peak RSS of the child, its result.json timings."""
    load_before = os.getloadavg()
    out.mkdir(parents=True, exist_ok=True)
    with open(out.parent / f"{out.name}.log", "w+") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*VIDXAI, "explain", str(video), "--out", str(out), *extra], stdout=log,
                                stderr=subprocess.STDOUT, cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own peak memory, not the largest child's so far
        wall = time.perf_counter() - t0
        log.seek(0)
        text = log.read()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"vidxai explain failed: {text.strip()[-2000:]}")
    result = json.loads((out / "result.json").read_text())
    t = result["timings"]
    phases = {name: round(t.get(key, 0.0), 2) for name, key in PHASES if key}
    phases["render"] = round(t.get("render_s", 0.0) - t.get("encode_s", 0.0), 2)  # drawing only
    method = result["methods"][0]
    return {"args": extra, "wall_s": round(wall, 2), "total_s_in_process": round(t["total_s"], 2),
            "startup_s": round(wall - t["total_s"], 2), "phases_s": phases,
            "peak_rss_gb": round(usage.ru_maxrss / 2**20, 2),
            "method": method["name"], "curve_protocol": method.get("curve_protocol"),
            "deletion_auc": method.get("deletion_auc"), "insertion_auc": method.get("insertion_auc"),
            "prediction": result["predictions"][0]["name"], "frames": result["params"]["frames"],
            "load_before": [round(v, 2) for v in load_before], "load_after": [round(v, 2) for v in os.getloadavg()],
            "output_tail": [line for line in text.splitlines() if "it/s" not in line and "s/it" not in line][-8:]}


def help_time(argv: list[str], repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([*VIDXAI, *argv], capture_output=True, check=True, cwd=REPO)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 3)


def markdown(report: dict) -> str:
    runs = report["runs"]
    lines = [f"# `vidxai explain` on a real clip ({report['video']}, {report['video_info']})", "",
             f"Measured {report['date']} on {report['machine']['cpu']} ({report['machine']['cores']} cores, "
             f"torch {report['machine']['torch_threads']} threads). Each run is a fresh `vidxai` process with the "
             "pretrained I3D weights already cached; wall time includes Python start-up and imports. "
             f"Budget of the default command: {BUDGET_S:.0f} s.", "",
             "| run | wall s | load | decode | predict | explain | curves | render | encode | peak RSS GB | "
             "curve protocol | deletion / insertion AUC | load avg before / after |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        p = r["phases_s"]
        proto = r["curve_protocol"]
        proto_s = f"{proto['name']} ({proto['steps']} steps, {proto['baseline']})" if proto else "none"
        auc = (f"{r['deletion_auc']:.3f} / {r['insertion_auc']:.3f}" if r["deletion_auc"] is not None else "-")
        lines.append(f"| {name} (`{' '.join(r['args']) or 'defaults'}`) | **{r['wall_s']:.1f}** | "
                     + " | ".join(f"{p[k]:.1f}" for k, _ in PHASES)
                     + f" | {r['peak_rss_gb']} | {proto_s} | {auc} | {r['load_before'][0]} / {r['load_after'][0]} |")
    d = runs["default"]
    verdict = ("within" if d["wall_s"] <= BUDGET_S else "OVER")
    lines += ["", f"- Default command: **{d['wall_s']:.1f} s**, {verdict} the {BUDGET_S:.0f} s budget "
              f"({d['method']}, {d['frames']} frames, predicted '{d['prediction']}').",
              f"- Thesis-protocol curves cost {runs['thesis curves']['phases_s']['curves']:.1f} s against "
              f"{d['phases_s']['curves']:.1f} s for the quick protocol "
              f"({runs['thesis curves']['phases_s']['curves'] / max(d['phases_s']['curves'], 1e-9):.1f}x).",
              f"- `vidxai --help`: {report['help_s']['vidxai --help']:.2f} s; `vidxai explain --help`: "
              f"{report['help_s']['vidxai explain --help']:.2f} s (median of 5; torch is not imported).",
              "- Quick and thesis AUCs are areas under the same curve sampled at 9 and 29 points: the quick one is "
              "coarser (trapezoids over 1/8 steps), so compare methods within one protocol only.",
              "", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", type=Path, default=None, help="default: mmaction2/demo.mp4 in the real-data folder")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    ap.add_argument("--runs", nargs="+", default=list(RUNS), choices=list(RUNS))
    args = ap.parse_args()
    video = args.video
    if video is None:
        root = realdata()
        if root is None:
            raise SystemExit("no real-data folder (../shared/realdata or $VIDXAI_REALDATA); pass --video")
        video = root / "videos" / "mmaction2" / "demo.mp4"
    sys.path.insert(0, str(REPO))
    from vidxai.io import video_info

    info = video_info(video)
    report = {"video": video.name, "video_info": f"{info.width}x{info.height}, {info.num_frames} frames, "
                                                  f"{info.fps:g} fps",
              "date": time.strftime("%Y-%m-%d %H:%M"), "command": " ".join(["python", *sys.argv]),
              "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                          "torch_threads": int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))},
              "help_s": {"vidxai --help": help_time(["--help"]),
                         "vidxai explain --help": help_time(["explain", "--help"])},
              "runs": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.runs:
            print(f"{name} ...", flush=True)
            report["runs"][name] = run_explain(video, RUNS[name], Path(tmp) / name.replace(" ", "_"))
            print(f"  {report['runs'][name]['wall_s']} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cli.json").write_text(json.dumps(report, indent=2) + "\n")
    if {"default", "thesis curves"} <= set(report["runs"]):
        (args.out / "cli.md").write_text(markdown(report))
    print((args.out / "cli.md").read_text() if (args.out / "cli.md").exists() else json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
