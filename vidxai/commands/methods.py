"""``vidxai methods [NAME]``: every registered explanation method with a one-line description, or one method's
parameters, defaults, presets and documentation."""
from __future__ import annotations

import argparse
import json

from ._common import formatter, table

EPILOG = """examples:
  vidxai methods
  vidxai methods smoothgrad          # its parameters with their defaults, presets and documentation
  vidxai explain clip.mp4 --method swagv-ig gradcam guided-backprop
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("methods", help="list the explanation methods",
                              description="List every registered explanation method with a one-line description. "
                                          "The default method is marked with '*'.",
                              epilog=EPILOG, formatter_class=formatter())
    p.add_argument("name", nargs="?", default=None, metavar="NAME", help="show one method in full")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def _show(ref: dict) -> None:
    print(f"{ref['name']}: {ref['description']}\n")
    caps = ref["capabilities"]
    print("  " + ", ".join(f"{k}: {v}" for k, v in caps.items() if v not in (None, False, "")) + "\n")
    if ref["parameters"]:
        table([[k, v] for k, v in ref["parameters"].items()], header=["parameter", "default"])
        print()
    for preset, values in ref["presets"].items():
        print(f"  preset {preset!r}: " + ", ".join(f"{k}={v!r}" for k, v in values.items()))
    print("\n" + ref["doc"])


def run(args: argparse.Namespace) -> int:
    from .. import methods

    if args.name is not None:
        ref = methods.reference(args.name)
        print(json.dumps(ref, indent=2, default=str)) if args.json else _show(ref)
        return 0
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
