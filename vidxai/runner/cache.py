"""The result cache: float16 compressed shards, written atomically, keyed by (dataset, model, method, batch).

Layout under ``<output>/cache/<dataset key>/<model key>/``::

    <method key>/b000012.npz     explanation maps of batch 12 (float16) + JSON metadata (clip ids, timings...)
    metrics/<method key>/b000012.npz   per-clip metric results of that batch
    gt/b000012.npz               ground truth and predictions of batch 12

A shard is written to a temporary file and renamed, so a crash leaves either the whole shard or nothing:
that is what makes runs resumable without losing or repeating work.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, IO

import numpy as np


def shard_name(batch_index: int) -> str:
    return f"b{batch_index:06d}.npz"


def write_shard(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Atomically write ``arrays`` (float arrays stored as float16) and ``meta`` (JSON) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    packed = {k: (v.astype(np.float16) if v.dtype.kind == "f" and v.dtype != np.float16 and k not in meta.get(
        "keep_float32", []) else v) for k, v in arrays.items()}
    packed["__meta__"] = np.frombuffer(json.dumps(meta, default=_json_default).encode(), dtype=np.uint8)
    atomic_write(path, lambda f: np.savez_compressed(f, **packed))


def atomic_write(path: Path, write: Callable[[IO[bytes]], Any], single_writer: bool = True) -> None:
    """Write ``path`` through a temporary file and a rename, so readers see the whole file or none.

    ``single_writer``: only this process ever writes ``path`` (one rank owns each batch), so other temporary
    files of ``path`` are leftovers of a writer killed mid-write, and are removed first. Files that several
    ranks write at once (the same content) must pass False.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if single_writer:
        for stale in path.parent.glob(f".{path.name}.*.tmp"):
            stale.unlink(missing_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


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
