"""Tables and findings of tools/bench_real.py (kept apart so the numbers can be re-rendered without a run)."""
from __future__ import annotations

import json
from pathlib import Path


def write_report(summary: dict, json_path: Path, md_path: Path) -> None:
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=1, default=str) + "\n")
    md_path.write_text("(tables pending)\n")
