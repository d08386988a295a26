"""``vidxai methods``: every registered explanation method with a one-line description."""
from __future__ import annotations

import argparse
import json

from ._common import formatter, table

EPILOG = """examples:
  vidxai methods
  vidxai explain clip.mp4 --method swagv-ig gradcam guided-backprop
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("methods", help="list the explanation methods",
                              description="List every registered explanation method with a one-line description. "
                                          "The default method is marked with '*'.",
                              epilog=EPILOG, formatter_class=formatter())
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import methods

    default = methods.default_method()
    rows = []
    for name in methods.list():
        cls = methods.get(name)
        rows.append({"name": name, "family": getattr(cls, "family", "") or "-",
                     "description": methods.describe(name), "default": name == default})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        table([[r["name"] + (" *" if r["default"] else ""), r["family"], r["description"]] for r in rows],
              header=["method", "family", "description"])
    return 0
