"""``vidxai bench synthetic``: rank every registered method on synthetic clips with exact ground truth."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  vidxai bench synthetic                              # every method except the slow perturbation ones
  vidxai bench synthetic --clips 64 --methods gradcam swagv-ig guided-backprop
  vidxai bench synthetic --methods all                # every registered method, perturbation ones included
  vidxai bench synthetic --out docs/benchmarks        # writes synthetic.md and synthetic.json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmark explanation methods on synthetic ground truth",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=["synthetic"], help="which benchmark")
    p.add_argument("--methods", nargs="+",
                   help="methods to rank; 'all' = every registered method (default: all but the slow perturbation "
                        "methods)")
    p.add_argument("--clips", type=int, default=16, help="number of synthetic clips (default 16)")
    p.add_argument("--seed", type=int, default=100000, help="first clip seed (clips unseen in training)")
    p.add_argument("--deletion-steps", type=int, default=16)
    p.add_argument("--sanity-clips", type=int, default=2, help="clips for the randomisation sanity check (0: skip)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--device", default="auto")
    p.add_argument("--work", default="runs/bench-synthetic", help="cache folder (reruns resume from it)")
    p.add_argument("--out", default=".", help="where synthetic.md / synthetic.json go")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..runner.benchmark import BenchmarkSettings, markdown, run_benchmark, write

    settings = BenchmarkSettings(num_clips=args.clips, seed=args.seed, output=Path(args.work), device=args.device,
                                 batch_size=args.batch_size, deletion_steps=args.deletion_steps,
                                 sanity_clips=args.sanity_clips)
    from .. import methods as registry

    every = args.methods == ["all"]
    report = run_benchmark(registry.list() if every else args.methods, settings, progress=not args.quiet)
    command = "vidxai bench synthetic" + (f" --clips {args.clips}" if args.clips != 16 else "")
    command += " --methods all" if every else ""
    js, md = write(report, Path(args.out), command)
    print(markdown(report, command))
    print(f"wrote {md} and {js}")
    return 0
