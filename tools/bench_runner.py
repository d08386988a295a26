"""Benchmark: runner throughput with 1 and 2 processes (``torchrun --nproc_per_node``), measured side by side.

Each configuration runs the same synthetic workload from an empty cache:

* ``1 process x 1 thread``  - the per-rank unit of work;
* ``1 process x N threads`` - what a single process gets from all cores;
* ``2 processes x 1 thread`` - torchrun with gloo, each rank a share of the batches.

The speedup of 2 processes over 1 (both single-threaded) is the scaling the runner's sharding delivers
(on GPUs, one process per device). Writes docs/benchmarks/runner.{json,md}.

    python tools/bench_runner.py [--clips 32] [--methods gradient guided-backprop gradcam]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed_run(config: Path, procs: int, threads: int) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds of the slowest rank's batch processing)."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    if procs == 1:
        cmd = [sys.executable, "-c", f"import torch; torch.set_num_threads({threads}); "
               "import sys; from vidxai.cli import main; sys.exit(main(sys.argv[1:]))",
               "run", str(config), "--quiet", "--fresh"]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={procs}",
               f"--master_port={free_port()}", "-m", "vidxai", "run", str(config), "--quiet", "--fresh"]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    out = Path(yaml.safe_load(config.read_text())["output"])
    ranks = [json.loads(f.read_text()) for f in (out / "throughput").glob("rank*.json")]
    return wall, max(r["wall_seconds"] for r in ranks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--model", default="synthetic-tiny")
    ap.add_argument("--methods", nargs="+", default=["gradient", "guided-backprop", "gradcam"])
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    tmp = Path(tempfile.mkdtemp(prefix="vidxai-bench-runner-"))
    cfg = {"name": "bench-runner", "output": str(tmp / "out"), "seed": 0, "device": "cpu",
           "model": {"name": args.model}, "dataset": {"type": "synthetic", "num_clips": args.clips, "seed": 7},
           "batch_size": args.batch_size, "methods": args.methods, "evaluate": {"pointing": {}}}
    config = tmp / "bench.yaml"
    config.write_text(yaml.safe_dump(cfg))
    setups = [("1 process x 1 thread", 1, 1), (f"1 process x {cores} threads", 1, cores),
              ("2 processes x 1 thread", 2, 1)]
    results = []
    try:
        timed_run(config, 1, 1)  # warm-up: imports, weight loading, file cache
        for label, procs, threads in setups:
            runs = [timed_run(config, procs, threads) for _ in range(args.repeats)]
            best = min(w for w, _ in runs)
            work = min(p for _, p in runs)
            results.append({"setup": label, "processes": procs, "threads_per_process": threads,
                            "seconds": [w for w, _ in runs], "best_seconds": best, "clips_per_second": args.clips / best,
                            "processing_seconds": work, "processing_clips_per_second": args.clips / work})
            print(f"{label}: {best:.1f} s whole command ({args.clips / best:.2f} clips/s), "
                  f"{work:.1f} s processing ({args.clips / work:.2f} clips/s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    base = results[0]["best_seconds"]
    base_work = results[0]["processing_seconds"]
    for r in results:
        r["speedup_vs_1_process_1_thread"] = base / r["best_seconds"]
        r["processing_speedup_vs_1_process_1_thread"] = base_work / r["processing_seconds"]
    report = {"benchmark": "runner", "clips": args.clips, "batch_size": args.batch_size, "model": args.model,
              "methods": args.methods, "metrics": ["pointing"], "cpu_cores": cores, "machine": platform.machine(),
              "python": platform.python_version(), "results": results,
              "speedup_2_processes_vs_1": base / results[2]["best_seconds"],
              "processing_speedup_2_processes_vs_1": base_work / results[2]["processing_seconds"],
              "note": "whole command: wall time of `vidxai run` (Python/torch start-up, model loading and the report "
                      "included); processing: the slowest rank's time over its batches (explain + evaluate), "
                      "from the runner's throughput log; best of repeats"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "runner.json").write_text(json.dumps(report, indent=2))
    lines = ["# Runner throughput: 1 vs 2 processes", "",
             f"`python tools/bench_runner.py` - {args.clips} synthetic clips, model `{args.model}`, methods "
             f"{', '.join(args.methods)}, batch {args.batch_size}, CPU with {cores} cores; whole `vidxai run` "
             "commands from an empty cache, best of "
             f"{args.repeats}.", "", "| setup | whole command s | speedup | processing s (slowest rank) | processing clips/s | speedup |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['setup']} | {r['best_seconds']:.1f} | {r['speedup_vs_1_process_1_thread']:.2f}x | "
              f"{r['processing_seconds']:.1f} | {r['processing_clips_per_second']:.2f} | "
              f"{r['processing_speedup_vs_1_process_1_thread']:.2f}x |" for r in results]
    lines += ["", "Speedups are against 1 process x 1 thread, measured in the same run. The whole-command time includes "
              "a fixed start-up cost per process (imports, model loading, torchrun's rendezvous) that a short run "
              "cannot amortise; the processing time is what sharding divides."]
    (out / "runner.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
