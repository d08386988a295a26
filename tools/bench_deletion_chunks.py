"""Deletion/insertion with ``chunk_size="auto"`` vs the former fixed 16 clips per forward, side by side.

On the CPU larger batches are not faster per clip but allocate more, so ``"auto"`` caps a chunk at
``vidxai.models.base.CPU_CHUNK_VOXELS`` voxels (16 clips of 16x112x112, 5 of 16x224x224, 1 of 64x224x224).
Both settings run the same metric on the same clip, interleaved (the order alternates every repeat); the curves
are checked to be equal. Writes docs/benchmarks/deletion_chunks.{json,md}.

    python tools/bench_deletion_chunks.py [--model i3d] [--frames 16 64] [--repeats 2] [--threads 2]
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import load_model, sync  # noqa: E402  (tools/ sibling module)

REPO = Path(__file__).resolve().parents[1]


def bench_clip(model, frames: int, size: int, args) -> dict:
    from vidxai.metrics.deletion import deletion_insertion
    from vidxai.models.base import resolve_chunk_size

    g = torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, frames, size, size, generator=g).to(args.device)
    sal = torch.rand(1, frames, size, size, generator=g).to(args.device)
    settings = {"fixed 16": 16, "auto": "auto"}
    seconds: dict[str, list[float]] = {k: [] for k in settings}
    curves = {}
    for rep in range(args.repeats):
        for label in (list(settings) if rep % 2 == 0 else list(reversed(settings))):
            sync(args.device)
            t0 = time.perf_counter()
            res = deletion_insertion(model, x, sal, steps=args.steps, chunk_size=settings[label])
            sync(args.device)
            seconds[label].append(time.perf_counter() - t0)
            curves[label] = torch.cat([res.deletion, res.insertion], 1)
            print(f"{frames}x{size}x{size} {label}: {seconds[label][-1]:.1f} s", flush=True)
    same = bool(torch.allclose(curves["fixed 16"], curves["auto"], rtol=1e-4, atol=1e-6))
    return {"clip": [3, frames, size, size], "auto_chunk": resolve_chunk_size("auto", x.shape, x.device),
            "seconds": seconds, "speedup_auto_vs_16": min(seconds["fixed 16"]) / min(seconds["auto"]),
            "curves_equal": same}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="i3d")
    ap.add_argument("--frames", type=int, nargs="+", default=[16, 64])
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=28)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, weights = load_model(args.model, args.device)
    model.eval()
    rows = [bench_clip(model, f, args.size, args) for f in args.frames]
    result = {"model": args.model, "weights": weights, "steps": args.steps, "repeats": args.repeats,
              "threads": args.threads, "device": args.device, "rows": rows, "torch": torch.__version__,
              "cpu": platform.processor() or platform.machine(),
              "date": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "deletion_chunks.json").write_text(json.dumps(result, indent=2) + "\n")
    md = ["# Deletion/insertion: automatic chunk size vs 16 clips per forward", "",
          f"`python tools/bench_deletion_chunks.py --model {args.model} --frames {' '.join(map(str, args.frames))} "
          f"--size {args.size} --repeats {args.repeats} --threads {args.threads} --device {args.device}` "
          f"({result['date']} UTC, torch {torch.__version__}, {weights} weights). One clip, {args.steps} steps "
          f"({2 * args.steps} forwards), interleaved repeats; seconds per call (best / each).", "",
          "| clip | auto chunk | fixed 16 (s) | auto (s) | speed-up of auto | same curves |", "|---|---|---|---|---|---|"]
    for r in rows:
        fixed, auto = r["seconds"]["fixed 16"], r["seconds"]["auto"]
        md.append(f"| {'x'.join(map(str, r['clip'][1:]))} | {r['auto_chunk']} | {min(fixed):.1f} "
                  f"({', '.join(f'{v:.1f}' for v in fixed)}) | {min(auto):.1f} ({', '.join(f'{v:.1f}' for v in auto)}) "
                  f"| **{r['speedup_auto_vs_16']:.2f}x** | {'yes' if r['curves_equal'] else 'NO'} |")
    (out / "deletion_chunks.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))


if __name__ == "__main__":
    main()
