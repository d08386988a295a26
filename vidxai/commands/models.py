"""``vidxai models``: every registered model with its family, input spec and weight source."""
from __future__ import annotations

import argparse
import json

from ._common import formatter, table

EPILOG = """examples:
  vidxai models                 # the table
  vidxai models --json          # machine-readable
  vidxai explain clip.mp4 --model r2plus1d_18
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="list the models vidxai can load",
                              description="List every registered model: name, family, input spec and weight source.",
                              epilog=EPILOG, formatter_class=formatter())
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import models

    rows = []
    for e in models.entries():
        rows.append({"name": e.name, "family": e.family or "-", "input": e.spec.describe() if e.spec else "-",
                     "weights": e.weight_source or "-", "description": e.description or ""})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table([[r["name"], r["family"], r["input"], r["weights"]] for r in rows],
              header=["name", "family", "input", "weights"])
    return 0
