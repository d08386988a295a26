"""The batched, resumable explain -> cache -> evaluate -> report runner (``vidxai run CONFIG.yaml``).

Work is cut into global batches: batch ``k`` holds clips ``[k*B, (k+1)*B)`` of the dataset, and with
``torchrun`` rank ``r`` of ``W`` takes the batches with ``k % W == r``, so every clip is processed exactly
once (no padded duplicates). For each batch the runner writes, each atomically (see :mod:`.cache` for the
layout and the keys):

1. ``gt-<target>/bK.npz``: labels, logits, explained targets, boxes/masks/action intervals where the data has them;
2. ``maps/<explain key>/bK.npz``: the explanation maps of every method (float32) with their timings;
3. ``metrics/<explain key>/<metric key>/bK.npz``: one metric's per-clip results, computed from the cached maps
   (deletion and insertion re-run the model).

A shard that exists is complete, so a rerun after a crash or SIGKILL does exactly the missing work; every
batch is seeded with ``seed + k``, so resumed and sharded runs give the same numbers as an uninterrupted
single-process run. Every setting that changes a shard is part of its key, so a rerun with another target,
seed or metric option computes what changed and never reports old numbers under new settings.

A method that raises does not stop the others (``keep_going``, the default): its failure (method, batch, one
line of error) is logged in ``failures/rankNNN.json`` and the report, it is skipped for the rest of the run,
and the run ends with :class:`MethodFailedError` naming it; a rerun retries it. Only one run may use an output
folder at a time (:mod:`.lock`). When every rank is done, rank 0 merges the metric shards into the report
(:mod:`.report`): tables shaped like the thesis' 4.2 (deletion/insertion), 4.3 (localisation error per
threshold scheme) and 4.4 (time per clip).
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core.runtime import Timer, model_state
from ..errors import ConfigError, VidxaiError
from . import cache
from .config import MethodSpec, RunConfig, explain_key, metric_key
from .distributed import DistInfo, barrier, broadcast_text, init_distributed, resolve_device, shutdown
from .lock import OutputInUseError, OutputLock, lock_path
from .watchdog import ON_EXIT

PHASES = ("explain", "evaluate", "report")


class MethodFailedError(VidxaiError):
    """One or more methods raised during a run; the other methods' results were kept (see the module docstring).

    Attributes:
        failures: one record per failed method: ``method``, ``key``, ``phase``, ``batch``, ``rank``, ``error``.
        report: the report of the run (on rank 0 when the report phase ran), else None.
    """

    def __init__(self, message: str, failures: list[dict[str, Any]] | None = None,
                 report: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.failures = list(failures or [])
        self.report = report


@dataclass
class RunPaths:
    """Where a run keeps its cache, logs and report (see :mod:`.cache` for the layout)."""

    output: Path
    dataset_key: str
    model_key: str
    target: str = "top1"
    seed: int = 0

    @classmethod
    def of(cls, cfg: RunConfig) -> RunPaths:
        return cls(Path(cfg.output), cfg.dataset_key, cfg.model_key, cfg.target, cfg.seed)

    @property
    def root(self) -> Path:
        return self.output / "cache" / f"v{cache.VERSION}" / self.dataset_key / self.model_key

    def gt(self) -> Path:
        return self.root / f"gt-{self.target}"

    def explain_key(self, method: MethodSpec) -> str:
        return explain_key(method, self.target, self.seed)

    def maps(self, method: MethodSpec) -> Path:
        return self.root / "maps" / self.explain_key(method)

    def metrics(self, method: MethodSpec, metric: str, options: dict[str, Any]) -> Path:
        return self.root / "metrics" / self.explain_key(method) / metric_key(metric, options)

    def events(self, rank: int) -> Path:
        return self.output / "events" / f"rank{rank:03d}.jsonl"

    def failures(self, rank: int | None = None) -> Path:
        folder = self.output / "failures"
        return folder if rank is None else folder / f"rank{rank:03d}.json"


@dataclass
class RankStats:
    """What one rank did, for the throughput summary."""

    rank: int
    batches: int = 0
    clips: int = 0
    skipped_batches: int = 0
    errors: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)
    method_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


def build_model(cfg: dict[str, Any], device: torch.device):
    """The config's model: a registry entry (``name``, ``weights``, ``num_frames``, builder options), or your own
    builder ``builder: "package.module:function"`` called with the remaining options (it returns a VideoModel or an
    ``nn.Module``, which is wrapped).

    ``num_frames`` sets the clip length (the model's ``InputSpec.num_frames``, which the datasets read), as
    :func:`vidxai.models.load` does; your own builder gets it when it takes it, else it is set on what it returns.
    """
    opts = {k: v for k, v in cfg.items() if k not in ("name", "weights", "builder")}
    if "builder" in cfg:
        import inspect

        from ..api import as_model
        from ..models import set_num_frames
        from .datasets import import_object

        fn = import_object(cfg["builder"], "model builder")
        frames = opts.pop("num_frames", None)
        try:
            params = inspect.signature(fn).parameters
        except (TypeError, ValueError):
            params = {}
        takes = "num_frames" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        if frames is not None and takes:
            opts["num_frames"] = frames
        model = as_model(fn(**opts), device=device).eval()
        return set_num_frames(model, frames) if frames is not None else model
    from ..models import load

    return load(cfg["name"], weights=cfg.get("weights", "default"), device=device, **opts)


def assigned_batches(num_clips: int, batch_size: int, rank: int, world_size: int) -> list[int]:
    """The global batch indices that ``rank`` processes (batch ``k`` goes to rank ``k % world_size``)."""
    return [k for k in range(math.ceil(num_clips / batch_size)) if k % world_size == rank]


def batch_indices(k: int, num_clips: int, batch_size: int) -> list[int]:
    return list(range(k * batch_size, min((k + 1) * batch_size, num_clips)))


class Runner:
    """Runs one config on this process's share of the data. See the module docstring.

    Args:
        config: the run config.
        phases: which of ``explain``, ``evaluate`` (and ``report``, done by :func:`run`) to do.
        progress: show a progress bar.
        dist: this process's place under ``torchrun`` (default: a single process).
        keep_going: when a method raises, record it and go on with the others (default); False raises
            :class:`MethodFailedError` at the first failure.
    """

    def __init__(self, config: RunConfig, phases: tuple[str, ...] = PHASES, progress: bool = True,
                 dist: DistInfo | None = None, keep_going: bool = True) -> None:
        bad = set(phases) - set(PHASES)
        if bad:
            raise ConfigError(f"unknown phase(s) {sorted(bad)}; use {', '.join(PHASES)}")
        self.cfg = config
        self.phases = phases
        self.progress = progress
        self.keep_going = keep_going
        self.dist = dist or DistInfo()
        self.device = resolve_device(config.device, self.dist)
        self._model = None
        self._dataset = None
        self.paths = RunPaths.of(config)
        self.stats = RankStats(self.dist.rank)
        self.failed: set[str] = set()  # explain keys of the methods that raised in this run
        self._checked: set[Path] = set()  # cached shards verified intact in this run (read once, not per use)
        self._num_clips = 0

    # -- lazily built pieces -----------------------------------------------------------------------
    @property
    def model(self):
        if self._model is None:
            self._model = build_model(self.cfg.model, self.device)
            if self.device.type == "cuda":
                self._model = self._model.to(memory_format=torch.channels_last_3d)
        return self._model

    @property
    def dataset(self):
        if self._dataset is None:
            from ..data.video_datasets import SafeDataset
            from .datasets import build_dataset

            self._dataset = SafeDataset(build_dataset(self.cfg.dataset, self.model.spec, self.model.class_names))
        return self._dataset

    # -- bookkeeping -------------------------------------------------------------------------------
    def _log_event(self, kind: str, k: int, method: str = "") -> None:
        path = self.paths.events(self.dist.rank)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.write(json.dumps({"kind": kind, "batch": k, "method": method, "rank": self.dist.rank,
                                "time": time.time()}) + "\n")

    def _pending(self, k: int) -> tuple[bool, list[MethodSpec], list[tuple[MethodSpec, str, dict[str, Any]]]]:
        """What batch ``k`` still needs: its gt shard, the methods to explain, the (method, metric, options) to
        evaluate. Methods that failed earlier in this run are left out (a rerun retries them). A cached shard
        counts as done only when it passes :meth:`_usable` (a damaged one is removed, to be recomputed)."""
        name = cache.shard_name(k)
        need_gt = not self._usable(self.paths.gt() / name, k, "gt")
        live = [m for m in self.cfg.methods if self.paths.explain_key(m) not in self.failed]
        explain = [m for m in live if "explain" in self.phases and not self._usable(self.paths.maps(m) / name, k, "maps")]
        evaluate = []
        if "evaluate" in self.phases:
            evaluate = [(m, metric, opts) for m in live for metric, opts in self.cfg.evaluate.items()
                        if not self._usable(self.paths.metrics(m, metric, opts) / name, k, "metrics")]
        return need_gt, explain, evaluate

    def _usable(self, path: Path, k: int, kind: str) -> bool:
        """Whether the cached shard ``path`` of batch ``k`` exists and is intact (checked once per run).

        A damaged shard (see :func:`.verify.check_batch_shard`) is reported in one line and deleted, so the
        batch is recomputed: the shards are deterministic (seeded per batch), so the new one equals the lost one.
        """
        if path in self._checked:
            return True
        if not path.exists():
            return False
        from .verify import check_batch_shard

        gt_ids = None
        if kind != "gt" and self.paths.gt() / path.name in self._checked:  # maps and metrics must hold its clips
            gt_ids = cache.read_meta(self.paths.gt() / path.name)["clip_ids"]
        reason = check_batch_shard(path, k, kind, self._batch_clips(k), gt_ids)
        if reason:
            rel = path.relative_to(self.paths.root) if path.is_relative_to(self.paths.root) else path
            redo = "recomputing" if kind != "maps" or "explain" in self.phases else \
                "removed; run the explain phase to recompute it"
            print(f"vidxai: damaged shard {rel} ({reason}): {redo}", file=sys.stderr, flush=True)
            self._log_event("damaged", k, str(rel))
            path.unlink(missing_ok=True)
            return False
        self._checked.add(path)
        return True

    def _batch_clips(self, k: int) -> int:
        return len(batch_indices(k, self._num_clips, self.cfg.batch_size))

    def _failed(self, k: int, m: MethodSpec, phase: str, error: Exception) -> None:
        """Record that ``m`` raised on batch ``k``; re-raise unless keep_going."""
        key = self.paths.explain_key(m)
        record = {"method": m.title, "name": m.name, "key": key, "phase": phase, "batch": k,
                  "rank": self.dist.rank, "error": one_line(error)}
        self.failed.add(key)
        self.stats.failures.append(record)
        self._log_event("failed", k, key)
        # A method that raised half-way may leave hooks or swapped modules on the model: the other methods get a
        # freshly built one, so their maps are those of the clean model.
        self._model = None
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        if not self.keep_going:
            self._write_stats()
            raise MethodFailedError(failure_message([record], self.cfg.output, keep_going=False), [record]) from error

    # -- the work ----------------------------------------------------------------------------------
    def run(self) -> RankStats:
        """Process this rank's batches; returns what it did."""
        start = time.perf_counter()
        n = len(self.dataset)
        if n == 0:
            raise ConfigError(f"dataset {self.cfg.dataset.get('type')} holds no clips")
        self._num_clips = n
        self._check_layout(n)
        mine = assigned_batches(n, self.cfg.batch_size, self.dist.rank, self.dist.world_size)
        todo = []
        for k in mine:
            need_gt, explain, evaluate = self._pending(k)
            if need_gt or explain or evaluate:
                todo.append(k)
            else:
                self.stats.skipped_batches += 1
        if todo:
            self._process(todo, n)
        self.stats.wall_seconds = time.perf_counter() - start
        self._write_stats()
        return self.stats

    def _check_layout(self, n: int) -> None:
        """Shards are per batch, so a cache is only reusable with the batch size and clip count that wrote it."""
        layout = {"batch_size": self.cfg.batch_size, "num_clips": n}
        path = self.paths.root / "layout.json"
        if path.exists():
            old = json.loads(path.read_text())
            if old != layout:
                raise ConfigError(f"{self.paths.root} was written with batch_size {old['batch_size']} over "
                                  f"{old['num_clips']} clips, this run has batch_size {self.cfg.batch_size} over {n}; "
                                  "use the same settings to resume, or --fresh / another output to start over")
            return
        # Every rank may get here at once on a fresh output (same content): not a single writer.
        cache.atomic_write(path, lambda f: f.write(json.dumps(layout).encode()), single_writer=False)

    def _loader(self, batches: list[int], n: int):
        sampler = [batch_indices(k, n, self.cfg.batch_size) for k in batches]
        return torch.utils.data.DataLoader(self.dataset, batch_sampler=sampler, collate_fn=list,
                                           num_workers=self.cfg.num_workers,
                                           persistent_workers=False, pin_memory=self.device.type == "cuda")

    def _process(self, batches: list[int], n: int) -> None:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(batches), desc=f"rank {self.dist.rank}" if self.dist.initialised else "batches",
                   position=self.dist.rank, disable=not self.progress, unit="batch", dynamic_ncols=True)
        try:
            for k, items in zip(batches, self._loader(batches, n)):
                self._process_batch(k, items)
                self.stats.batches += 1
                bar.update(1)
                bar.set_postfix(clips=self.stats.clips, errors=len(self.stats.errors),
                                failed_methods=len(self.failed))
        finally:
            bar.close()

    def _process_batch(self, k: int, items: list[dict[str, Any]]) -> None:
        need_gt, explain, evaluate = self._pending(k)
        good = [it for it in items if "error" not in it]
        errors = [{"clip_id": it["clip_id"], "error": it["error"]} for it in items if "error" in it]
        self.stats.errors += [f"{e['clip_id']}: {e['error']}" for e in errors]
        x = torch.stack([it["clip"] for it in good]).to(self.device) if good else None
        if x is not None and self.device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last_3d)
        name = cache.shard_name(k)
        if need_gt:
            self._write_gt(k, good, errors, x)
        gt, gt_meta = cache.read_shard(self.paths.gt() / name)
        targets = torch.as_tensor(gt["targets"], dtype=torch.long, device=self.device)
        for m in explain:
            try:
                self._explain(k, m, x, targets, gt_meta)
            except Exception as e:  # noqa: BLE001 - one method's bug must not cost the others their work
                self._failed(k, m, "explain", e)
        for m, metric, opts in evaluate:
            if self.paths.explain_key(m) in self.failed:  # its maps failed just now
                continue
            try:
                self._evaluate(k, m, metric, opts, x, targets, gt, gt_meta)
            except Exception as e:  # noqa: BLE001
                self._failed(k, m, f"evaluate {metric}", e)
        self.stats.clips += len(good)

    def _write_gt(self, k: int, good: list[dict], errors: list[dict], x: torch.Tensor | None) -> None:
        arrays: dict[str, np.ndarray] = {}
        if x is not None:
            with torch.no_grad(), model_state(self.model):
                logits = self.model(x).float()
            labels = torch.tensor([int(it.get("label", -1)) for it in good])
            if self.cfg.target == "label":
                if (labels < 0).any() or (labels >= self.model.num_classes).any():
                    raise ConfigError("target: label needs every clip's label to be a class of the model; "
                                      "use target: top1")
                targets = labels.to(self.device)
            else:
                targets = logits.argmax(1)
            arrays.update(labels=labels.numpy(), logits=logits.cpu().numpy(), targets=targets.cpu().numpy())
            for key in ("boxes", "masks", "distractor_masks"):
                if all(key in it for it in good):
                    arrays[key] = torch.stack([torch.as_tensor(it[key]) for it in good]).numpy()
            if all("action_interval" in it for it in good):
                arrays["action_interval"] = np.array([it["action_interval"] for it in good], dtype=np.int64)
        else:
            arrays.update(labels=np.zeros(0, np.int64), targets=np.zeros(0, np.int64))
        meta = {"batch": k, "clip_ids": [it["clip_id"] for it in good], "errors": errors,
                "frame_indices": [list(map(int, it.get("frame_indices", []))) for it in good]}
        cache.write_shard(self.paths.gt() / cache.shard_name(k), arrays, meta)
        self._checked.add(self.paths.gt() / cache.shard_name(k))
        self._log_event("gt", k)

    def _seed(self, k: int) -> None:
        # Seeding per batch makes results independent of which rank ran the batch and of resumption.
        torch.manual_seed(self.cfg.seed + k)
        np.random.seed((self.cfg.seed + k) % 2**32)

    def _explain(self, k: int, m: MethodSpec, x: torch.Tensor | None, targets: torch.Tensor,
                 gt_meta: dict) -> None:
        from .. import methods

        arrays: dict[str, np.ndarray] = {}
        seconds = 0.0
        if x is not None:
            self._seed(k)
            cls = methods.get(m.name)
            with Timer(self.device) as timer:
                result = cls(self.model).attribute(x, target=targets, **m.params)
            seconds = timer.seconds
            arrays["saliency"] = result.saliency.detach().float().cpu().numpy()
            if result.segmentation is not None:
                arrays["segmentation"] = result.segmentation.detach().cpu().numpy().astype(np.int32)
        key = self.paths.explain_key(m)
        self.stats.method_seconds[key] = self.stats.method_seconds.get(key, 0.0) + seconds
        per_clip = seconds / max(1, 0 if x is None else x.shape[0])
        meta = {"batch": k, "method": m.name, "params": m.params, "target": self.cfg.target, "seed": self.cfg.seed,
                "clip_ids": gt_meta["clip_ids"], "seconds": seconds, "seconds_per_clip": per_clip,
                "batch_size": 0 if x is None else x.shape[0], "device": str(self.device)}
        cache.write_shard(self.paths.maps(m) / cache.shard_name(k), arrays, meta)
        self._checked.add(self.paths.maps(m) / cache.shard_name(k))
        self._log_event("explain", k, key)

    def _evaluate(self, k: int, m: MethodSpec, metric: str, options: dict[str, Any], x: torch.Tensor | None,
                  targets: torch.Tensor, gt: dict[str, np.ndarray], gt_meta: dict) -> None:
        from .evaluate import evaluate_batch

        shard = self.paths.maps(m) / cache.shard_name(k)
        if not self._usable(shard, k, "maps"):
            return  # explain phase not run for this batch yet (or its maps were damaged)
        maps, _ = cache.read_shard(shard)
        arrays: dict[str, np.ndarray] = {}
        if x is not None:
            self._seed(k)
            arrays = evaluate_batch(self.model, x, targets, maps, gt, {metric: options}, seed=self.cfg.seed + k)
        meta = {"batch": k, "method": m.name, "metric": metric, "options": options, "clip_ids": gt_meta["clip_ids"]}
        cache.write_shard(self.paths.metrics(m, metric, options) / cache.shard_name(k), arrays, meta)
        self._log_event("evaluate", k, f"{self.paths.explain_key(m)}/{metric}")

    def _write_stats(self) -> None:
        path = self.cfg.output / "throughput" / f"rank{self.dist.rank:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        s = self.stats
        path.write_text(json.dumps({
            "rank": s.rank, "batches": s.batches, "clips": s.clips, "skipped_batches": s.skipped_batches,
            "errors": s.errors, "wall_seconds": s.wall_seconds, "method_seconds": s.method_seconds,
            "clips_per_second": s.clips / s.wall_seconds if s.wall_seconds > 0 else None,
            "device": str(self.device)}, indent=2))
        # rewritten (empty when all went well) on every run, so a retried method's old failure does not linger
        cache.atomic_write(self.paths.failures(self.dist.rank),
                           lambda f: f.write(json.dumps(s.failures, indent=2).encode()))


def one_line(error: BaseException, limit: int = 300) -> str:
    """``error`` as one short line (vidxai errors as they read, others prefixed with their type)."""
    text = " ".join(str(error).split())
    if not isinstance(error, VidxaiError):
        text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def read_failures(output: str | os.PathLike) -> list[dict[str, Any]]:
    """Every rank's failure records of the last run in ``output`` (see :class:`MethodFailedError`)."""
    found: list[dict[str, Any]] = []
    for f in sorted((Path(output) / "failures").glob("rank*.json")):
        try:
            found += json.loads(f.read_text())
        except (OSError, ValueError):
            continue
    return found


def failure_message(failures: list[dict[str, Any]], output: str | os.PathLike, keep_going: bool = True) -> str:
    """One line naming the failed methods and the first error of each."""
    first: dict[str, dict[str, Any]] = {}
    for r in failures:
        first.setdefault(r["method"], r)
    parts = [f"{name} ({r['phase']}, batch {r['batch']}: {r['error']})" for name, r in first.items()]
    msg = f"{len(first)} method(s) failed: " + "; ".join(parts)
    if keep_going:
        return msg + f"; the other methods finished (report in {output}); run again to retry the failed ones"
    return msg + "; run again to resume (without --fail-fast the other methods go on when one fails)"


def run(config: RunConfig, phases: tuple[str, ...] = PHASES, progress: bool = True,
        fresh: bool = False, keep_going: bool = True) -> dict[str, Any] | None:
    """Run ``config`` (under ``torchrun`` when started by it). Returns the report on rank 0, else None.

    Args:
        config: the run config.
        phases: which of ``explain``, ``evaluate``, ``report`` to run.
        progress: show progress bars.
        fresh: delete the output folder's contents first (rank 0 only, before any rank starts): nothing is resumed.
        keep_going: when a method raises, go on with the others and raise :class:`MethodFailedError` at the end
            (after the report); False raises it at the first failure.

    Raises:
        OutputInUseError: another live run holds the output folder.
        MethodFailedError: a method raised (the others' results are cached and reported).
    """
    check_config_device(config)
    dist = init_distributed(config.device)
    lock = None
    try:
        lock = _start(config, dist, phases, fresh)
        if lock is not None:  # a worker whose launcher died releases the folder before it exits (.watchdog)
            ON_EXIT.append(lock.release)
        if dist.initialised:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size))
        runner = Runner(config, phases=phases, progress=progress, dist=dist, keep_going=keep_going)
        computes = bool(set(phases) & {"explain", "evaluate"})
        if computes:
            runner.run()
        barrier(dist)
        report = None
        if "report" in phases and dist.is_main:
            from .report import write_report

            report = write_report(config, runner.paths)
        barrier(dist)
        failures = read_failures(config.output) if computes else []
        if failures:
            raise MethodFailedError(failure_message(failures, config.output), failures, report)
        return report
    finally:
        if lock is not None:
            if lock.release in ON_EXIT:
                ON_EXIT.remove(lock.release)
            lock.release()
        shutdown(dist)


def check_config_device(config: RunConfig) -> None:
    """A config's ``device`` names CUDA on a machine without it: one line naming the key, before any work.

    Not part of :func:`~vidxai.runner.config.parse_config`: a GPU config is still readable on a CPU machine
    (``vidxai run --verify``).
    """
    from ..core.runtime import check_device
    from ..errors import InputError

    if config.device == "auto":
        return
    try:
        check_device(config.device)
    except InputError:
        raise ConfigError(f"{config.source or 'config'}: device: {config.device}: CUDA is not available on this "
                          "machine; use device: auto or cpu (e.g. --set device=cpu)") from None


def _start(config: RunConfig, dist: DistInfo, phases: tuple[str, ...], fresh: bool) -> OutputLock | None:
    """Rank 0 takes the output folder's lock (and empties the folder for ``fresh``) while the other ranks wait.

    Every rank learns whether rank 0 could, so none waits forever in a barrier for a rank 0 that has given up.
    Returns the lock on rank 0, None on the others.
    """
    lock, problem, error = None, "", None
    if dist.is_main:
        try:
            lock = OutputLock(config.output).acquire()
            if fresh:
                clear_output(config.output)
            if set(phases) & {"explain", "evaluate"}:  # the failures of the last run are retried now
                import shutil

                shutil.rmtree(Path(config.output) / "failures", ignore_errors=True)
        except Exception as e:  # noqa: BLE001 - re-raised below, once the other ranks know
            problem, error = one_line(e), e
            if lock is not None:
                lock.release()
                lock = None
    problem = broadcast_text(dist, problem)
    if error is not None:
        raise error
    if problem:
        raise OutputInUseError(f"rank 0 could not start the run: {problem}")
    barrier(dist)
    return lock


def verify(config: RunConfig, out=None) -> int:
    """``vidxai run --verify``: check ``config``'s run folder without computing (:func:`.verify.verify_run`).

    Prints one line per problem (missing shards per method and metric, each damaged shard with its reason)
    and a summary line to ``out`` (stdout). Returns the exit status: 0 when complete and intact, 1 otherwise.
    """
    from .verify import verify_run

    out = out or sys.stdout
    result, batches = verify_run(config, RunPaths.of(config))
    for line in result.problems:
        print(line, file=out)
    print(result.summary(batches, config), file=out)
    return 0 if result.ok else 1


def clear_output(folder: str | os.PathLike) -> None:
    """Delete everything in the output ``folder`` except its lock (``--fresh``)."""
    import shutil

    keep = lock_path(folder)
    for p in Path(folder).iterdir():
        if p == keep or p.name.startswith(keep.name):  # the lock and its temporaries / takeover mutex
            continue
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p)
        else:
            p.unlink()
