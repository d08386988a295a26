"""Benchmark the model zoo: forward and gradient (forward + backward to the input) time per clip, each model
at its native input (``spec.num_frames x spec.crop``, batch 1, random weights: speed does not depend on them),
plus channels_last_3d vs contiguous memory format for one model, measured side by side in the same run.

Writes docs/benchmarks/models.json and docs/benchmarks/models.md. Reports the median of ``--repeats`` timed
runs after one warm-up, the thread count and the load average (the machine may be shared: compare rows of one
run, not runs).

    .venv/bin/python tools/bench_models.py                        # every zoo entry
    .venv/bin/python tools/bench_models.py --models i3d r3d_18 --repeats 5 --channels-last-model i3d
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
ZOO = ["c3d", "i3d", "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s", "swin3d_t", "x3d_xs",
       "x3d_s", "x3d_m", "slow_r50", "slowfast_r50", "r2plus1d_r50", "csn_r101"]


def native_input(model, device: str, memory_format=torch.contiguous_format) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, model.spec.num_frames, *model.spec.crop, generator=g)
    return x.to(device).contiguous(memory_format=memory_format)


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


WARMUP = 1


def time_it(fn, repeats: int, device: str) -> float:
    for _ in range(WARMUP):  # allocator, kernel selection
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def forward_and_gradient(model, x: torch.Tensor, repeats: int, device: str) -> tuple[float, float]:
    def forward():
        with torch.no_grad():
            model(x)

    def gradient():
        xi = x.detach().requires_grad_(True)
        logits = model(xi)
        (g,) = torch.autograd.grad(logits[0, int(logits[0].argmax())], xi)
        return g

    return time_it(forward, repeats, device), time_it(gradient, repeats, device)


def write(args, rows: list[dict], cl: dict | None) -> None:
    """Write docs/benchmarks/models.{json,md} (called after every model, so partial runs keep their rows)."""
    meta = {"device": args.device, "threads": args.threads, "repeats": args.repeats, "warmup_runs": args.warmup,
            "statistic": "median", "torch": torch.__version__, "cpu": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "loadavg_at_end": [round(v, 2) for v in os.getloadavg()],
            "weights": "random (timing does not depend on values)", "batch": 1}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "models.json").write_text(json.dumps({"meta": meta, "models": rows, "channels_last": cl},
                                                     indent=2) + "\n")
    lines = ["# Model zoo: time per clip", "",
             f"Measured by `tools/bench_models.py` on {meta['device']} ({meta['cpu_count']} cores, "
             f"{meta['threads']} threads, torch {meta['torch']}), batch 1, native input, random weights, median of "
             f"{args.repeats} timed run(s) after {args.warmup} warm-up run(s). Gradient = forward + backward to the "
             f"input (what gradient methods pay per clip). Load average at the end: {meta['loadavg_at_end']}: the "
             f"machine was shared with other jobs, which inflates every row (compare rows, not machines).",
             "", "| model | input (B,C,T,H,W) | params (M) | forward (s) | gradient (s) | gradient / forward |",
             "|---|---|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['model']} | {tuple(r['input'])} | {r['params_M']} | {r['forward_s']:.3f} | "
                     f"{r['gradient_s']:.3f} | {r['grad_over_forward']:.2f} |")
    if cl is not None:
        lines += ["", f"## Memory format ({cl['model']}, {tuple(cl['input'])}, interleaved runs)", "",
                  "| format | forward (s) | gradient (s) |", "|---|---:|---:|",
                  f"| contiguous (NCDHW) | {cl['contiguous']['forward_s']:.3f} | {cl['contiguous']['gradient_s']:.3f} |",
                  f"| channels_last_3d | {cl['channels_last_3d']['forward_s']:.3f} | "
                  f"{cl['channels_last_3d']['gradient_s']:.3f} |",
                  "", f"Speed-up of channels_last_3d: forward x{cl['forward_speedup']}, "
                  f"gradient x{cl['gradient_speedup']}."]
    (args.out / "models.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=ZOO)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs before the timed ones")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last-model", default="r3d_18",
                    help="model timed with both memory formats (native input)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    args = ap.parse_args()

    import vidxai

    global WARMUP
    WARMUP = args.warmup
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for name in args.models:
        model = vidxai.models.load(name, weights=None, device=args.device).eval()
        for p in model.parameters():
            p.requires_grad_(False)
        x = native_input(model, args.device)
        fwd, grad = forward_and_gradient(model, x, args.repeats, args.device)
        n_params = sum(p.numel() for p in model.parameters())
        rows.append({"model": name, "input": list(x.shape), "params_M": round(n_params / 1e6, 2),
                     "forward_s": round(fwd, 4), "gradient_s": round(grad, 4), "grad_over_forward": round(grad / fwd, 2)})
        print(f"{name:14s} {str(tuple(x.shape)):24s} forward {fwd:7.3f} s  gradient {grad:7.3f} s", flush=True)
        del model
        write(args, rows, None)  # partial results survive an interrupted run

    # channels_last_3d vs contiguous, same model, interleaved so both see the same machine load
    name = args.channels_last_model
    cl: dict = {"model": name}
    model = vidxai.models.load(name, weights=None, device=args.device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    results: dict[str, list[tuple[float, float]]] = {"contiguous": [], "channels_last_3d": []}
    for _ in range(2):
        for fmt_name, fmt in (("contiguous", torch.contiguous_format), ("channels_last_3d", torch.channels_last_3d)):
            model = model.to(memory_format=fmt)
            x = native_input(model, args.device, fmt)
            results[fmt_name].append(forward_and_gradient(model, x, args.repeats, args.device))
    for fmt_name, runs in results.items():
        cl[fmt_name] = {"forward_s": round(statistics.median(r[0] for r in runs), 4),
                        "gradient_s": round(statistics.median(r[1] for r in runs), 4)}
    cl["input"] = list(x.shape)
    cl["forward_speedup"] = round(cl["contiguous"]["forward_s"] / cl["channels_last_3d"]["forward_s"], 2)
    cl["gradient_speedup"] = round(cl["contiguous"]["gradient_s"] / cl["channels_last_3d"]["gradient_s"], 2)
    print("channels_last_3d:", cl, flush=True)

    write(args, rows, cl)
    print(f"wrote {args.out / 'models.json'} and {args.out / 'models.md'}")


if __name__ == "__main__":
    main()
