"""``vidxai report DIR``: a static HTML page for a ``vidxai explain`` output folder."""
from __future__ import annotations

import argparse

from ._common import add_quiet, formatter

EPILOG = """examples:
  vidxai explain clip.mp4 --method swagv-ig gradcam --out out/
  vidxai report out/            # writes out/report.html (relative links only: the folder is self-contained)
  python -m http.server -d out  # then open http://localhost:8000/report.html
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write an HTML report for an explain output folder",
                              description="Write DIR/report.html from DIR/result.json: the overlay videos side by "
                                          "side, the method grid, deletion/insertion curves and the predictions.",
                              epilog=EPILOG, formatter_class=formatter())
    p.add_argument("dir", metavar="DIR", help="folder written by `vidxai explain --out DIR`")
    add_quiet(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import InputError
    from ..render import write_report

    if not Path(args.dir).is_dir():
        raise InputError(f"not a folder: {args.dir}")
    path = write_report(args.dir)
    if not args.quiet:
        print(f"report: {path}")
    return 0
