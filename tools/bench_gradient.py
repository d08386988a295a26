"""Benchmark: time per clip of the gradient family, LRP, Saliency Tubes and the baselines, next to captum's
equivalents measured in the same run (interleaved, ``--repeats`` times; best and median reported).

Pairs (ours vs captum, same input, same target, same parameters):
gradient / Saliency(abs=False), guided-backprop / GuidedBackprop, input-x-gradient / InputXGradient,
integrated-gradients / IntegratedGradients (same n_steps, Gauss-Legendre, same internal batch size),
smoothgrad / NoiseTunnel(Saliency) (same n_samples; captum runs all noisy copies in one batch unless
nt_samples_batch_size is given, which we set to our internal batch size). LRP, Saliency Tubes and the
baselines have no captum equivalent for Conv3d and are timed alone. Writes docs/benchmarks/gradient.{json,md}.

    python tools/bench_gradient.py [--models r2plus1d_18] [--frames 16] [--size 112] [--repeats 3] [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import torch

from benchlib import load_model, sync, timed  # noqa: E402  (tools/ sibling module)

REPO = Path(__file__).resolve().parents[1]


def bench_model(name: str, args) -> dict:
    import captum.attr as ca

    import vidxai

    model, weights = load_model(name, args.device, args.weights)
    model.eval()
    t = args.frames or model.spec.num_frames
    h, w = (args.size, args.size) if args.size else tuple(model.spec.crop)
    x = torch.randn(1, 3, t, h, w, generator=torch.Generator().manual_seed(0)).to(args.device)
    target = 0
    tt = torch.tensor([target], device=args.device)
    n_steps, n_samples, ibs = args.ig_steps, args.sg_samples, args.internal_batch_size

    def ours(method, **params):
        return lambda: vidxai.methods.get(method)(model).attribute(x, target=target, **params)

    def cap(fn):
        def run():
            for p in model.parameters():  # captum leaves parameter gradients on; match our no-param-grad state
                p.requires_grad_(False)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        return run

    pairs = {
        "gradient": (ours("gradient"), cap(lambda: ca.Saliency(model).attribute(x.clone(), target=tt, abs=False))),
        "guided-backprop": (ours("guided-backprop", strict=False),
                            cap(lambda: ca.GuidedBackprop(model).attribute(x.clone(), target=tt))),
        "input-x-gradient": (ours("input-x-gradient"), cap(lambda: ca.InputXGradient(model).attribute(x.clone(), target=tt))),
        "integrated-gradients": (ours("integrated-gradients", n_steps=n_steps, internal_batch_size=ibs),
                                 cap(lambda: ca.IntegratedGradients(model).attribute(
                                     x.clone(), target=tt, n_steps=n_steps, internal_batch_size=ibs))),
        "smoothgrad": (ours("smoothgrad", n_samples=n_samples, internal_batch_size=ibs),
                       cap(lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(
                           x.clone(), target=tt, nt_samples=n_samples, nt_samples_batch_size=ibs, stdevs=0.15,
                           abs=False))),
    }
    alone = {m: ours(m) for m in ("lrp-epsilon", "lrp-alphabeta", "lrp-zplus", "saliency-tubes", "centre", "random",
                                  "sobel")}
    rows = []
    for method, (mine, theirs) in pairs.items():
        try:
            mine(), theirs()  # warm-up
        except vidxai.errors.VidxaiError as e:
            rows.append({"method": method, "error": str(e)})
            continue
        a, b = [], []
        for r in range(args.repeats):
            # alternate which library runs first, so cache/allocator warmth does not favour one side
            if r % 2 == 0:
                a.append(timed(mine, args.device))
                b.append(timed(theirs, args.device))
            else:
                b.append(timed(theirs, args.device))
                a.append(timed(mine, args.device))
        rows.append({"method": method, "vidxai_s": a, "captum_s": b, "best_ratio": min(a) / min(b),
                     "median_ratio": statistics.median(x_ / y_ for x_, y_ in zip(a, b))})
        print(f"{name} {method}: ours {min(a):.3f}s captum {min(b):.3f}s ratio {min(a) / min(b):.2f}", flush=True)
    for method, mine in alone.items():
        try:
            mine()
        except vidxai.errors.VidxaiError as e:
            rows.append({"method": method, "error": str(e)})
            print(f"{name} {method}: {e}", flush=True)
            continue
        a = [timed(mine, args.device) for _ in range(args.repeats)]
        rows.append({"method": method, "vidxai_s": a})
        print(f"{name} {method}: ours {min(a):.3f}s", flush=True)
    return {"model": name, "weights": weights, "clip": [3, t, h, w], "rows": rows}


def write(results: list[dict], args, command: str) -> None:
    out = REPO / "docs" / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "torch": torch.__version__, "device": args.device, "threads": torch.get_num_threads(),
            "machine": platform.machine(), "ig_steps": args.ig_steps, "sg_samples": args.sg_samples,
            "internal_batch_size": args.internal_batch_size, "repeats": args.repeats}
    (out / "gradient.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    lines = ["# Gradient family, LRP, Saliency Tubes, baselines: time per clip", "",
             f"`{command}` ({meta['date']}, torch {meta['torch']}, {args.device}, {meta['threads']} thread(s)).", "",
             f"One clip, target class 0. Integrated gradients: {args.ig_steps} steps; SmoothGrad: {args.sg_samples} "
             f"samples; internal batch size {args.internal_batch_size} for both libraries. Ours and captum's run "
             f"interleaved in the same process (alternating which goes first), {args.repeats} repeats; ratio = "
             "ours / captum (best times). On a "
             "CPU shared with other processes single repeats vary widely; the ratio of the best times is the least "
             "disturbed estimate.", ""]
    for res in results:
        c = res["clip"]
        lines += [f"## {res['model']} ({c[1]}x{c[2]}x{c[3]}, {res['weights']} weights)", "",
                  "| method | vidxai (s, best / median) | captum (s, best / median) | ratio of bests | median ratio |",
                  "|---|---|---|---|---|"]
        for r in res["rows"]:
            if "error" in r:
                lines.append(f"| {r['method']} | unsupported: {r['error'][:90]} | | | |")
            elif "captum_s" in r:
                lines.append(f"| {r['method']} | {min(r['vidxai_s']):.3f} / {statistics.median(r['vidxai_s']):.3f} | "
                             f"{min(r['captum_s']):.3f} / {statistics.median(r['captum_s']):.3f} | "
                             f"**{r['best_ratio']:.2f}** | {r['median_ratio']:.2f} |")
            else:
                lines.append(f"| {r['method']} | {min(r['vidxai_s']):.3f} / {statistics.median(r['vidxai_s']):.3f} | "
                             "no Conv3d equivalent | | |")
        lines.append("")
    (out / "gradient.md").write_text("\n".join(lines))


def main(argv=None) -> int:
    import sys

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=["r2plus1d_18"])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--ig-steps", type=int, default=8)
    p.add_argument("--sg-samples", type=int, default=4)
    p.add_argument("--internal-batch-size", type=int, default=4)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights", choices=["random", "default"], default="random")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python tools/bench_gradient.py " + " ".join(argv if argv is not None else sys.argv[1:])
    results = [bench_model(m, args) for m in args.models]
    write(results, args, command.strip())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
