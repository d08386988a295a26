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
        caps = cls.capabilities() if hasattr(cls, "capabilities") else {"family": getattr(cls, "family", "")}
        rows.append({"name": name, "description": methods.describe(name), "default": name == default, **caps})
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        def notes(r: dict) -> str:
            return ", ".join(k for k in ("slow", "stochastic", "takes_layer") if r.get(k)).replace("takes_layer", "takes a layer") + (
                f"{', ' if any(r.get(k) for k in ('slow', 'stochastic', 'takes_layer')) else ''}needs a {r['requires']}"
                if r.get("requires") else "")

        table([[r["name"] + (" *" if r["default"] else ""), r["family"] or "-", r.get("output") or "-",
                notes(r) or "-", r["description"]] for r in rows],
              header=["method", "family", "map", "notes", "description"])
    return 0
