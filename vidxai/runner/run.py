"""The batched, resumable explain -> cache -> evaluate -> report runner (``vidxai run CONFIG.yaml``).

Work is cut into global batches: batch ``k`` holds clips ``[k*B, (k+1)*B)`` of the dataset, and with
``torchrun`` rank ``r`` of ``W`` takes the batches with ``k % W == r``, so every clip is processed exactly
once (no padded duplicates). For each batch the runner writes, each atomically (see :mod:`.cache`):

1. ``gt/bK.npz``: labels, logits, explained targets, boxes/masks/action intervals where the data has them;
2. ``<method key>/bK.npz``: the explanation maps of every method (float16) with their timings;
3. ``metrics/<method key>/bK.npz``: the per-clip metric results, computed from the cached maps (deletion and
   insertion re-run the model).

A shard that exists is complete, so a rerun after a crash or SIGKILL does exactly the missing work; every
batch is seeded with ``seed + k``, so resumed and sharded runs give the same numbers as an uninterrupted
single-process run. When every rank is done, rank 0 merges the metric shards into the report
(:mod:`.report`): tables shaped like the thesis' 4.2 (deletion/insertion), 4.3 (localisation error per
threshold scheme) and 4.4 (time per clip).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError
from . import cache
from .config import MethodSpec, RunConfig
from .distributed import DistInfo, barrier, init_distributed, resolve_device, shutdown

PHASES = ("explain", "evaluate", "report")


@dataclass
class RunPaths:
    """Where a run keeps its cache, logs and report."""

    output: Path
    dataset_key: str
    model_key: str

    @property
    def root(self) -> Path:
        return self.output / "cache" / self.dataset_key / self.model_key

    def gt(self) -> Path:
        return self.root / "gt"

    def maps(self, method: MethodSpec) -> Path:
        return self.root / method.key

    def metrics(self, method: MethodSpec) -> Path:
        return self.root / "metrics" / method.key

    def events(self, rank: int) -> Path:
        return self.output / "events" / f"rank{rank:03d}.jsonl"


@dataclass
class RankStats:
    """What one rank did, for the throughput summary."""

    rank: int
    batches: int = 0
    clips: int = 0
    skipped_batches: int = 0
    errors: list[str] = field(default_factory=list)
    method_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0


def build_model(cfg: dict[str, Any], device: torch.device):
    """The config's model: a registry entry (``name``, ``weights``, builder options), or your own builder
    ``builder: "package.module:function"`` called with the remaining options (it returns a VideoModel or an
    ``nn.Module``, which is wrapped)."""
    opts = {k: v for k, v in cfg.items() if k not in ("name", "weights", "builder")}
    if "builder" in cfg:
        from ..api import as_model
        from .datasets import import_object

        fn = import_object(cfg["builder"], "model builder")

        return as_model(fn(**opts), device=device).eval()
    from ..models import load

    return load(cfg["name"], weights=cfg.get("weights", "default"), device=device, **opts)


def assigned_batches(num_clips: int, batch_size: int, rank: int, world_size: int) -> list[int]:
    """The global batch indices that ``rank`` processes (batch ``k`` goes to rank ``k % world_size``)."""
    return [k for k in range(math.ceil(num_clips / batch_size)) if k % world_size == rank]


def batch_indices(k: int, num_clips: int, batch_size: int) -> list[int]:
    return list(range(k * batch_size, min((k + 1) * batch_size, num_clips)))


class Runner:
    """Runs one config on this process's share of the data. See the module docstring."""

    def __init__(self, config: RunConfig, phases: tuple[str, ...] = PHASES, progress: bool = True,
                 dist: DistInfo | None = None) -> None:
        bad = set(phases) - set(PHASES)
        if bad:
            raise ConfigError(f"unknown phase(s) {sorted(bad)}; use {', '.join(PHASES)}")
        self.cfg = config
        self.phases = phases
        self.progress = progress
        self.dist = dist or DistInfo()
        self.device = resolve_device(config.device, self.dist)
        self._model = None
        self._dataset = None
        self.paths = RunPaths(Path(config.output), config.dataset_key, config.model_key)
        self.stats = RankStats(self.dist.rank)

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

    def _pending(self, k: int) -> tuple[bool, list[MethodSpec], list[MethodSpec]]:
        name = cache.shard_name(k)
        need_gt = not (self.paths.gt() / name).exists()
        explain = [m for m in self.cfg.methods if "explain" in self.phases and not (self.paths.maps(m) / name).exists()]
        evaluate = []
        if "evaluate" in self.phases and self.cfg.evaluate:
            evaluate = [m for m in self.cfg.methods if not (self.paths.metrics(m) / name).exists()]
        return need_gt, explain, evaluate

    # -- the work ----------------------------------------------------------------------------------
    def run(self) -> RankStats:
        """Process this rank's batches; returns what it did."""
        start = time.perf_counter()
        n = len(self.dataset)
        if n == 0:
            raise ConfigError(f"dataset {self.cfg.dataset.get('type')} holds no clips")
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
                bar.set_postfix(clips=self.stats.clips, errors=len(self.stats.errors))
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
            self._explain(k, m, x, targets, gt_meta)
        for m in evaluate:
            self._evaluate(k, m, x, targets, gt, gt_meta)
        self.stats.clips += len(good)

    def _write_gt(self, k: int, good: list[dict], errors: list[dict], x: torch.Tensor | None) -> None:
        from ..attribution.base import model_state

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
                "frame_indices": [list(map(int, it.get("frame_indices", []))) for it in good],
                "keep_float32": ["logits", "boxes"]}
        cache.write_shard(self.paths.gt() / cache.shard_name(k), arrays, meta)
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
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            t0 = time.perf_counter()
            result = cls(self.model).attribute(x, target=targets, **m.params)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            seconds = time.perf_counter() - t0
            arrays["saliency"] = result.saliency.detach().float().cpu().numpy()
            if result.segmentation is not None:
                arrays["segmentation"] = result.segmentation.detach().cpu().numpy().astype(np.int32)
        self.stats.method_seconds[m.key] = self.stats.method_seconds.get(m.key, 0.0) + seconds
        per_clip = seconds / max(1, 0 if x is None else x.shape[0])
        meta = {"batch": k, "method": m.name, "params": m.params, "clip_ids": gt_meta["clip_ids"],
                "seconds": seconds, "seconds_per_clip": per_clip, "batch_size": 0 if x is None else x.shape[0],
                "device": str(self.device)}
        cache.write_shard(self.paths.maps(m) / cache.shard_name(k), arrays, meta)
        self._log_event("explain", k, m.key)

    def _evaluate(self, k: int, m: MethodSpec, x: torch.Tensor | None, targets: torch.Tensor,
                  gt: dict[str, np.ndarray], gt_meta: dict) -> None:
        from .evaluate import evaluate_batch

        shard = self.paths.maps(m) / cache.shard_name(k)
        if not shard.exists():
            return  # explain phase not run for this batch yet
        maps, maps_meta = cache.read_shard(shard)
        arrays: dict[str, np.ndarray] = {}
        if x is not None:
            self._seed(k)
            arrays = evaluate_batch(self.model, x, targets, maps, gt, self.cfg.evaluate, seed=self.cfg.seed + k)
        arrays["seconds_per_clip"] = np.full(len(gt_meta["clip_ids"]), maps_meta["seconds_per_clip"], np.float32)
        meta = {"batch": k, "method": m.name, "clip_ids": gt_meta["clip_ids"],
                "keep_float32": sorted(arrays)}
        cache.write_shard(self.paths.metrics(m) / cache.shard_name(k), arrays, meta)
        self._log_event("evaluate", k, m.key)

    def _write_stats(self) -> None:
        path = self.cfg.output / "throughput" / f"rank{self.dist.rank:03d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        s = self.stats
        path.write_text(json.dumps({
            "rank": s.rank, "batches": s.batches, "clips": s.clips, "skipped_batches": s.skipped_batches,
            "errors": s.errors, "wall_seconds": s.wall_seconds, "method_seconds": s.method_seconds,
            "clips_per_second": s.clips / s.wall_seconds if s.wall_seconds > 0 else None,
            "device": str(self.device)}, indent=2))


def run(config: RunConfig, phases: tuple[str, ...] = PHASES, progress: bool = True,
        fresh: bool = False) -> dict[str, Any] | None:
    """Run ``config`` (under ``torchrun`` when started by it). Returns the report on rank 0, else None.

    ``fresh`` deletes the output folder first (rank 0 only, before any rank starts), so nothing is resumed.
    """
    dist = init_distributed(config.device)
    try:
        if fresh:
            if dist.is_main and Path(config.output).exists():
                import shutil

                shutil.rmtree(config.output)
            barrier(dist)
        if dist.initialised:
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // dist.world_size))
        runner = Runner(config, phases=phases, progress=progress, dist=dist)
        if set(phases) & {"explain", "evaluate"}:
            runner.run()
        barrier(dist)
        report = None
        if "report" in phases and dist.is_main:
            from .report import write_report

            report = write_report(config, runner.paths)
        barrier(dist)
        return report
    finally:
        shutdown(dist)
