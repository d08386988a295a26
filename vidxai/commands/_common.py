"""Small helpers shared by the CLI sub-commands."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars or chatter (errors still print)")


def table(rows: Sequence[Sequence[str]], header: Sequence[str] | None = None, file=None) -> None:
    """Print ``rows`` as left-aligned columns (the last column is not padded)."""
    file = file or sys.stdout
    rows = [list(map(str, r)) for r in rows]
    if header:
        rows.insert(0, list(header))
    if not rows:
        return
    widths = [max(len(r[i]) for r in rows if i < len(r)) for i in range(max(len(r) for r in rows))]
    for k, r in enumerate(rows):
        cells = [c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)]
        print("  ".join(cells).rstrip(), file=file)
        if header and k == 0:
            print("  ".join("-" * w for w in widths), file=file)


def formatter() -> type[argparse.HelpFormatter]:
    return argparse.RawDescriptionHelpFormatter
