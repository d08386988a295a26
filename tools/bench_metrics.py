"""Benchmark: deletion + insertion time per clip over the time of the model forwards it needs (target <= 1.1).

For each clip, :func:`vidxai.metrics.deletion_insertion` runs ``2 * steps`` forwards (the intact and the
fully removed clip are shared by both curves). The reference is the same number of forwards, in the same
chunks, on clips built beforehand, so the ratio is the metric's own overhead (ranking, building perturbed
clips, bookkeeping). Both are measured in the same run, interleaved, ``--repeats`` times; the median is
reported. Writes docs/benchmarks/metrics.{json,md}.

    python tools/bench_metrics.py [--models synthetic-tiny x3d_xs] [--clips 2] [--repeats 9] [--steps 28] [--chunk-size 16]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import torch

from benchlib import load_model, sync  # noqa: E402  (tools/ sibling module)

REPO = Path(__file__).resolve().parents[1]


def bench_model(name: str, args) -> dict:
    from vidxai.metrics import deletion_insertion

    model, weights = load_model(name, args.device)
    model.eval()
    t = args.frames or model.spec.num_frames
    h, w = (args.size, args.size) if args.size else tuple(model.spec.crop)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(args.clips, 3, t, h, w, generator=g).to(args.device)
    sal = torch.rand(args.clips, t, h, w, generator=g).to(args.device)
    n_forwards = 2 * args.steps * args.clips
    # reference clips: the right number, built beforehand (their content does not change the cost)
    ref = x[:1].expand(min(args.chunk_size, n_forwards), -1, -1, -1, -1).contiguous()

    def run_metric() -> float:
        sync(args.device)
        t0 = time.perf_counter()
        deletion_insertion(model, x, sal, steps=args.steps, chunk_size=args.chunk_size, baseline=args.baseline)
        sync(args.device)
        return time.perf_counter() - t0

    def run_forwards() -> float:
        sync(args.device)
        t0 = time.perf_counter()
        with torch.no_grad():
            for c0 in range(0, n_forwards, args.chunk_size):
                model(ref[: min(args.chunk_size, n_forwards - c0)])
        sync(args.device)
        return time.perf_counter() - t0

    run_forwards()  # warm-up (allocator, kernels)
    run_metric()
    metric_s, forward_s = [], []
    for _ in range(args.repeats):
        metric_s.append(run_metric())
        forward_s.append(run_forwards())
    ratios = [m / f for m, f in zip(metric_s, forward_s)]
    return {"model": name, "weights": weights, "clip": [3, t, h, w],
            "metric_seconds_per_clip": [s / args.clips for s in metric_s],
            "forward_seconds_per_clip": [s / args.clips for s in forward_s],
            "ratio": ratios, "median_ratio": statistics.median(ratios), "best_ratio": min(metric_s) / min(forward_s)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["synthetic-tiny"])
    ap.add_argument("--clips", type=int, default=2)
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--chunk-size", type=int, default=16)
    ap.add_argument("--frames", type=int, default=None, help="default: each model's num_frames")
    ap.add_argument("--size", type=int, default=None, help="default: each model's crop")
    ap.add_argument("--baseline", default="zero")
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    rows = [bench_model(name, args) for name in args.models]
    result = {
        "clips": args.clips, "steps": args.steps, "chunk_size": args.chunk_size, "baseline": args.baseline,
        "forwards_per_clip": 2 * args.steps, "device": args.device, "threads": args.threads,
        "repeats": args.repeats, "target_ratio": 1.1, "models": rows,
        "host": platform.node(), "cpu": platform.processor() or platform.machine(), "torch": torch.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [
        "# Deletion/insertion overhead",
        "",
        f"`python tools/bench_metrics.py --models {' '.join(args.models)} --clips {args.clips} --steps {args.steps} "
        f"--chunk-size {args.chunk_size} --repeats {args.repeats} --threads {args.threads} --device {args.device}`"
        f" ({result['date']} UTC, torch {torch.__version__}, {args.device}, {args.threads} thread(s)).",
        "",
        f"{args.steps} steps ({2 * args.steps} forwards per clip), baseline {args.baseline}, {args.clips} clip(s) "
        f"per call, {args.repeats} interleaved repeats. The reference is the same forwards in the same chunks on "
        "clips built beforehand, so the ratio is the metric's own overhead (target <= 1.1). On a CPU shared with "
        "other processes single repeats vary widely; the ratio of the best times is the least disturbed estimate.",
        "",
        "| model | clip | weights | deletion + insertion (s/clip, best / median) | forwards alone (s/clip, best / median) | ratio of bests | median ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        md.append(f"| {r['model']} | {'x'.join(map(str, r['clip'][1:]))} | {r['weights']} | "
                  f"{min(r['metric_seconds_per_clip']):.3f} / {statistics.median(r['metric_seconds_per_clip']):.3f} | "
                  f"{min(r['forward_seconds_per_clip']):.3f} / {statistics.median(r['forward_seconds_per_clip']):.3f} | "
                  f"**{r['best_ratio']:.3f}** | {r['median_ratio']:.3f} |")
    md += ["", "Per-repeat ratios: " + "; ".join(f"{r['model']} " + ", ".join(f"{v:.3f}" for v in r["ratio"])
                                                 for r in rows) + ".", ""]
    (out / "metrics.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
