"""Build the dataset a run config names. Every dataset yields dicts with ``clip``, ``label``, ``clip_id``,
``frame_indices`` and, where the data has them, ``boxes`` (T, 4) xyxy in model pixels, ``masks`` (T, H, W)
and ``action_interval`` (start, end) within the clip."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..errors import ConfigError, UnknownNameError
from ..registry import Registry


class SyntheticClips(torch.utils.data.Dataset):
    """The runner's view of :class:`vidxai.data.synthetic.SyntheticActions` (same clips, runner keys)."""

    def __init__(self, spec, num_clips: int = 16, seed: int = 1000, task: str = "action", num_frames: int | None = None,
                 size: int | None = None) -> None:
        from ..data.synthetic import SyntheticActions

        self.data = SyntheticActions(int(num_clips), seed=int(seed), task=task, spec=spec,
                                     num_frames=int(num_frames or spec.num_frames), size=int(size or spec.crop[0]))

    def __len__(self) -> int:
        return len(self.data)

    def clip_id(self, i: int) -> str:
        return f"synthetic-{self.data.seed}-{i}"

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.data[i]
        return {"clip": item["video"], "label": int(item["label"]), "clip_id": item["clip_id"],
                "frame_indices": list(range(item["video"].shape[1])), "boxes": item["boxes"], "masks": item["masks"],
                "distractor_masks": item["distractor_masks"],
                "action_interval": (int(item["action_start"]), int(item["action_end"]))}


def _synthetic(opts: dict[str, Any], spec, class_names):
    return SyntheticClips(spec, **opts)


def _ucf101_24(opts: dict[str, Any], spec, class_names):
    from ..data.ucf101_24 import UCF101_24

    return UCF101_24(_path(opts, "videos"), _path(opts, "annotations"), spec,
                     split_list=opts.get("split_list"), clip_len=int(opts.get("clip_len", spec.num_frames)),
                     stride=int(opts.get("stride", 8)), multi_actor=opts.get("multi_actor", "overlap"),
                     limit=opts.get("limit"))


def _kinetics400(opts: dict[str, Any], spec, class_names):
    from ..data.video_datasets import Kinetics400

    return Kinetics400(_path(opts, "root"), spec, csv_file=opts.get("csv"), split=opts.get("split"))


def _ucf101(opts: dict[str, Any], spec, class_names):
    from ..data.video_datasets import UCF101

    return UCF101(_path(opts, "root"), spec, _path(opts, "split_file"), _path(opts, "class_index"))


def _folder(opts: dict[str, Any], spec, class_names):
    from ..data.video_datasets import VideoFolder

    return VideoFolder(_path(opts, "root"), spec, class_names=opts.get("class_names") or class_names)


class UnknownDatasetTypeError(UnknownNameError):
    kind = "dataset type"


#: ``dataset: {type: NAME, ...}`` -> builder(options, spec, class_names). Register your own with
#: ``DATASETS.register("mine", fn)``, or name a builder in the config (``dataset: {builder: "pkg.mod:fn"}``).
DATASETS: Registry = Registry("dataset type", UnknownDatasetTypeError)
for _name, _fn in (("synthetic", _synthetic), ("ucf101_24", _ucf101_24), ("kinetics400", _kinetics400),
                   ("ucf101", _ucf101), ("folder", _folder)):
    DATASETS.register(_name, _fn)


def build_dataset(cfg: dict[str, Any], spec, class_names=None):
    """Instantiate ``cfg['type']`` from :data:`DATASETS` (synthetic, ucf101_24, kinetics400, ucf101, folder)."""
    if "builder" in cfg:  # your own dataset: builder(spec=..., class_names=..., **options) -> Dataset
        fn = import_object(cfg["builder"], "dataset builder")
        return fn(spec=spec, class_names=class_names, **{k: v for k, v in cfg.items() if k not in ("builder", "type")})
    try:
        build = DATASETS.get(cfg["type"])
    except UnknownNameError as e:
        raise ConfigError(str(e)) from None
    return build({k: v for k, v in cfg.items() if k != "type"}, spec, class_names)


def _path(opts: dict[str, Any], key: str) -> Path:
    if key not in opts:
        raise ConfigError(f"dataset needs {key!r}")
    import os

    return Path(os.path.expandvars(os.path.expanduser(str(opts[key]))))


def import_object(path: str, what: str = "object"):
    """Import ``"package.module:attribute"`` with a one-line error."""
    import importlib

    module, _, attr = str(path).partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"{what} {path!r} cannot be imported: {e}") from None
