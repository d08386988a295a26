"""Checking a run folder's cache: one shard (:func:`check_batch_shard`, used by the runner before it reuses a
shard) or the whole folder without computing anything (:func:`verify_run`, ``vidxai run --verify CONFIG``).

A shard is intact when :func:`vidxai.runner.cache.load_checked` reads it (zip structure, CRC-32 of every
array, JSON metadata) and it holds what its batch needs: the batch index it was written for, its clip ids
(the ground truth's, for maps and metrics), and one row per clip in every array. The ground-truth shard must
also account for every clip of its batch (explained or failed to load).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from . import cache
from .config import RunConfig

#: The arrays each kind of shard holds whenever its batch has clips.
REQUIRED = {"gt": ("labels", "targets", "logits"), "maps": ("saliency",), "metrics": ()}


def check_batch_shard(path: Path, batch: int, kind: str, batch_clips: int | None = None,
                      gt_ids: list[str] | None = None) -> str:
    """Why the cached shard ``path`` of ``batch`` cannot be reused, or ``""`` when it is intact.

    Args:
        path: an existing shard.
        batch: the batch index it belongs to.
        kind: ``gt``, ``maps`` or ``metrics``.
        batch_clips: how many clips the batch holds (checked for ``gt``: explained + failed to load); None: unknown.
        gt_ids: the clip ids of the batch's ground-truth shard (maps and metrics must hold exactly those).
    """
    try:
        arrays, meta = cache.load_checked(path)
        cache.check_shard(path, arrays, meta, batch, REQUIRED[kind], gt_ids)
    except cache.DamagedShardError as e:
        return e.reason
    except OSError as e:
        return f"unreadable: {e.strerror or e}"
    if kind == "gt" and batch_clips is not None:
        errors = meta.get("errors")
        if not isinstance(errors, list) or len(meta["clip_ids"]) + len(errors) != batch_clips:
            return f"does not account for the {batch_clips} clips of the batch"
    return ""


@dataclass
class VerifyResult:
    """What :func:`verify_run` found. ``problems`` holds one line per problem; ``intact`` counts good shards."""

    expected: int = 0
    intact: int = 0
    missing: int = 0
    damaged: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self, batches: int, config: RunConfig) -> str:
        state = "complete and intact" if self.ok else "incomplete" if not self.damaged else "damaged"
        return (f"{config.output}: {state}: {self.intact} of {self.expected} shards intact, {self.missing} missing, "
                f"{self.damaged} damaged ({batches} batches x (ground truth + {len(config.methods)} methods x "
                f"(maps + {len(config.evaluate)} metrics)))")


def _batch_ranges(batches: list[int]) -> str:
    """``[0, 1, 2, 5]`` -> ``"b0-b2, b5"`` (a missing range is one line however long)."""
    out, start = [], None
    for i, k in enumerate(batches):
        if start is None:
            start = k
        if i + 1 == len(batches) or batches[i + 1] != k + 1:
            out.append(f"b{start}" if start == k else f"b{start}-b{k}")
            start = None
    return ", ".join(out)


def verify_run(config: RunConfig, paths) -> tuple[VerifyResult, int]:
    """Check every shard a complete run of ``config`` has in its output folder, computing nothing.

    The number of batches comes from the cache's ``layout.json`` (written when a run starts), so neither the
    model nor the dataset is loaded. Missing shards are one line per folder (method / metric) with the batches;
    damaged ones one line each with the reason.

    Returns:
        ``(result, number of batches)``.
    """
    result = VerifyResult()
    layout_path = paths.root / "layout.json"
    try:
        layout = json.loads(layout_path.read_text())
        num_clips, batch_size = int(layout["num_clips"]), int(layout["batch_size"])
    except FileNotFoundError:
        result.problems.append(f"missing {layout_path}: no run of this config has started in {config.output}")
        return result, 0
    except (OSError, ValueError, KeyError, TypeError):
        result.problems.append(f"damaged {layout_path}: not the layout JSON a run writes")
        return result, 0
    if batch_size != config.batch_size:
        result.problems.append(f"{layout_path}: the cache was written with batch_size {batch_size}, the config "
                               f"has {config.batch_size}")
        return result, 0
    batches = math.ceil(num_clips / batch_size)
    gt_ids: dict[int, list[str]] = {}
    folders = [("ground truth", paths.gt(), "gt")]
    for m in config.methods:
        folders.append((f"{m.title} maps", paths.maps(m), "maps"))
        folders += [(f"{m.title} {metric}", paths.metrics(m, metric, opts), "metrics")
                    for metric, opts in config.evaluate.items()]
    for label, folder, kind in folders:
        missing = []
        for k in range(batches):
            result.expected += 1
            path = folder / cache.shard_name(k)
            if not path.exists():
                missing.append(k)
                continue
            clips = min(batch_size, num_clips - k * batch_size)
            reason = check_batch_shard(path, k, kind, clips, None if kind == "gt" else gt_ids.get(k))
            if reason:
                result.damaged += 1
                result.problems.append(f"damaged {label}: {path.relative_to(paths.root)} ({reason})")
                continue
            result.intact += 1
            if kind == "gt":
                gt_ids[k] = cache.read_meta(path)["clip_ids"]
        if missing:
            result.missing += len(missing)
            result.problems.append(f"missing {label}: {len(missing)} of {batches} shards "
                                   f"({_batch_ranges(missing)}) in {folder.relative_to(paths.root)}")
    return result, batches


__all__ = ["REQUIRED", "VerifyResult", "check_batch_shard", "verify_run"]
