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
that is what makes runs resumable without losing or repeating work. A shard damaged afterwards (a truncated
copy, a flipped bit on disk, a file overwritten by hand) is caught by :func:`load_checked` before it is reused:
every member is read in full, which checks the zip's CRC-32 of each array (a checksum of the content, so no
sidecar hash is needed), the metadata must parse, and :func:`check_shard` compares the arrays with the clips
the metadata names. The runner recomputes a damaged shard and says so in one line.
"""
from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..core.runtime import atomic_write
from ..errors import VidxaiError

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


class DamagedShardError(VidxaiError):
    """A cached shard cannot be used as it is; ``reason`` says why in a few words (``truncated zip``)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"damaged shard {path} ({reason})")


def load_checked(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a whole shard and check it can be trusted: the zip opens, each member's CRC-32 matches, each member
    is a plain ``.npy`` array and ``__meta__`` is a JSON object.

    Returns:
        ``(arrays, meta)`` as :func:`read_shard` does.

    Raises:
        DamagedShardError: the shard is truncated or corrupt (FileNotFoundError when it does not exist).
    """
    path = Path(path)
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as z:
            for info in z.infolist():
                name = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                # read() goes to the member's end, where zipfile compares the CRC-32 with the stored one
                arrays[name] = np.lib.format.read_array(io.BytesIO(z.read(info)), allow_pickle=False)
    except FileNotFoundError:
        raise
    except zipfile.BadZipFile as e:
        # a truncated file has lost its central directory (at the end): "not a zip file"
        reason = "bad CRC-32" if "CRC" in str(e) else "truncated zip" if "zip file" in str(e) else "corrupt zip"
        raise DamagedShardError(path, reason) from None
    except (zlib.error, EOFError):
        raise DamagedShardError(path, "corrupt data") from None
    except (ValueError, OSError) as e:  # a member that is not an array, an unreadable file
        raise DamagedShardError(path, f"unreadable: {' '.join(str(e).split())[:80]}") from None
    if "__meta__" not in arrays:
        raise DamagedShardError(path, "no __meta__")
    try:
        meta = json.loads(bytes(arrays.pop("__meta__")).decode())
    except (ValueError, UnicodeDecodeError):
        raise DamagedShardError(path, "__meta__ is not JSON") from None
    if not isinstance(meta, dict):
        raise DamagedShardError(path, "__meta__ is not a JSON object")
    return arrays, meta


def check_shard(path: Path, arrays: dict[str, np.ndarray], meta: dict[str, Any], batch: int,
                required: tuple[str, ...] = (), clip_ids: list[str] | None = None) -> None:
    """Check a loaded shard against what the runner expects of batch ``batch``.

    Args:
        path: the shard (for the message).
        arrays, meta: as :func:`load_checked` returns them.
        batch: the batch index the shard must have been written for.
        required: arrays that must be there when the batch has clips.
        clip_ids: the clips the shard must hold, in order (the ground truth's); None: as its metadata says.

    Raises:
        DamagedShardError: naming the first mismatch.
    """
    if meta.get("batch") != batch:
        raise DamagedShardError(path, f"written for batch {meta.get('batch')!r}, not {batch}")
    ids = meta.get("clip_ids")
    if not isinstance(ids, list):
        raise DamagedShardError(path, "no clip ids in __meta__")
    if clip_ids is not None and ids != list(clip_ids):
        raise DamagedShardError(path, "its clip ids differ from the ground truth's")
    for key in required if ids else ():
        if key not in arrays:
            raise DamagedShardError(path, f"no {key!r} array")
    for key, a in arrays.items():
        if ids and (a.ndim == 0 or a.shape[0] != len(ids)):
            raise DamagedShardError(path, f"{key!r} holds {a.shape[0] if a.ndim else 0} rows for {len(ids)} clips")


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
