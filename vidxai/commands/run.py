"""``vidxai run CONFIG.yaml``: the batched, resumable explain -> evaluate -> report runner."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  vidxai run configs/ci_synthetic.yaml                 # resumes when the output folder already holds work
  vidxai run configs/ci_synthetic.yaml --phase explain # cache explanations only
  vidxai run --verify configs/ci_synthetic.yaml        # check the run folder's cache, computing nothing
  vidxai run configs/ucf101_24.yaml --set batch_size=8 --set device=cuda
  torchrun --nproc_per_node=4 -m vidxai run configs/kinetics400.yaml   # one process per GPU
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run an experiment config (explain -> cache -> evaluate -> report)",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="YAML experiment config (see configs/)")
    p.add_argument("--phase", nargs="+", choices=["explain", "evaluate", "report"],
                   default=["explain", "evaluate", "report"], help="which phases to run (default: all)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key (YAML value), nested keys dotted, e.g. --set batch_size=8 "
                        "--set dataset.num_clips=4 --set evaluate.deletion.steps=8")
    p.add_argument("--output", help="output folder (overrides the config's)")
    p.add_argument("--fresh", action="store_true", help="delete the output folder's cache first (no resume)")
    p.add_argument("--fail-fast", action="store_true",
                   help="stop at the first method that raises (default: record it, finish the other methods, "
                        "exit non-zero naming it; a rerun retries it)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--verify", action="store_true",
                   help="check the output folder without computing: list missing and damaged shards per method and "
                        "metric, exit 0 when the run is complete and intact, 1 otherwise")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import yaml

    from ..errors import ConfigError
    from ..runner.config import load_config
    from ..runner.run import MethodFailedError
    from ..runner.run import run as run_config

    overrides = {}
    for item in args.overrides:
        if "=" not in item:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        key, value = item.split("=", 1)
        overrides[key.strip()] = yaml.safe_load(value)
    if args.output:
        overrides["output"] = args.output
    cfg = load_config(args.config, overrides)
    if args.verify:
        from ..runner.run import verify

        return verify(cfg)
    try:
        report = run_config(cfg, phases=tuple(args.phase), progress=not args.quiet, fresh=args.fresh,
                            keep_going=not args.fail_fast)
    except MethodFailedError as e:
        if e.report is not None:
            _summary(e.report, cfg)
        raise  # printed as one line by the CLI, with a non-zero exit status
    if report is not None:
        _summary(report, cfg)
    return 0


def _summary(report: dict, cfg) -> None:
    print(f"{report['clips']} clips, {len(report['methods'])} methods -> {cfg.output / 'report.md'}")
    if report["failed_clips"]:
        print(f"{len(report['failed_clips'])} clips failed to load (listed in the report)")
