"""The result cache: compressed shards, written atomically, keyed by everything that changes their content.

Layout under ``<output>/cache/v<VERSION>/<dataset key>/<model key>/``::

    gt-<target>/b000012.npz                      ground truth, predictions and explained classes of batch 12
    maps/<explain key>/b000012.npz               explanation maps of batch 12 + JSON metadata (clip ids, timings)
    metrics/<explain key>/<metric key>/b000012.npz   per-clip results of one metric on those maps

The explain key holds the method, its parameters, the target and the seed; the metric key the metric's
options (see :func:`vidxai.runner.config.explain_key` and :func:`~vidxai.runner.config.metric_key`). So
re-running a config with another setting in the same folder computes what that setting changes and keeps both.

Floating-point arrays are stored as float32: float16 rounded close saliency values onto one another and
flushed small gradients to zero, which created ties that changed the deletion/insertion order and the
pointing game's peak. :data:`VERSION` is part of the path, so caches of another format are never mixed in.

A shard is written to a temporary file and renamed, so a crash leaves either the whole shard or nothing:
that is what makes runs resumable without losing or repeating work.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..core.runtime import atomic_write

#: Cache format version (part of the cache path). 2: float32 maps and per-setting keys (1 stored float16 maps).
VERSION = 2


def shard_name(batch_index: int) -> str:
    return f"b{batch_index:06d}.npz"


def write_shard(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write ``arrays`` (floating-point arrays as float32) and ``meta`` (JSON) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # float32, never float16: metrics rank voxels, and float16 turns distinct values into ties (module docstring)
    packed = {k: (v.astype(np.float32) if v.dtype.kind == "f" and v.dtype != np.float32 else v)
              for k, v in arrays.items()}
    packed["__meta__"] = np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez_compressed(f, **packed))


def read_meta(path: Path) -> dict[str, Any]:
    with np.load(path) as z:
        return json.loads(bytes(z["__meta__"]).decode())


def read_shard(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(bytes(z["__meta__"]).decode())
    return arrays, meta


def done_batches(folder: Path) -> set[int]:
    """Indices of the batches whose shard exists (complete by construction) in ``folder``."""
    if not folder.is_dir():
        return set()
    return {int(p.stem[1:]) for p in folder.glob("b*.npz")}


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)
