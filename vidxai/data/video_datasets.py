"""Clip datasets over real videos: Kinetics-400, UCF101 (official splits) and any folder of videos.

Every dataset here (and :class:`vidxai.data.ucf101_24.UCF101_24`) yields dicts with at least ``clip``
(C, T, H, W) normalised for the model, ``label`` (-1 when unknown), ``clip_id`` (stable across runs, used as
the cache key) and ``frame_indices`` (so evaluation re-decodes exactly the same frames). ``clip_id(i)`` is
available without decoding, so a runner can skip finished clips cheaply. Decoding happens in ``__getitem__``,
i.e. inside DataLoader workers.
"""
from __future__ import annotations

import csv
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import ConfigError, VidxaiError

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".gif", ".m4v")


class ClipDataset(torch.utils.data.Dataset):
    """Base: a list of ``(video path, label)`` entries, one centre clip (or an explicit range) per video."""

    def __init__(self, entries: Sequence[tuple[Path, int]], spec, class_names: Sequence[str] | None = None,
                 root: Path | None = None, clip: str = "centre", pad: bool = False) -> None:
        self.entries = list(entries)
        self.spec = spec
        self.class_names = list(class_names or [])
        self.root = root
        self.clip = clip
        self.pad = pad

    def __len__(self) -> int:
        return len(self.entries)

    def clip_id(self, i: int) -> str:
        path = self.entries[i][0]
        return str(path.relative_to(self.root)) if self.root and path.is_relative_to(self.root) else str(path)

    def __getitem__(self, i: int) -> dict:
        from ..io import load_clip

        path, label = self.entries[i]
        prepared = load_clip(path, self.spec, clip=self.clip, pad=self.pad)
        return {"clip": prepared.tensor, "label": label, "clip_id": self.clip_id(i), "video": str(path),
                "frame_indices": list(prepared.geometry.frame_indices), "geometry": prepared.geometry}


def videos_under(folder: Path) -> list[Path]:
    """Every video file (:data:`VIDEO_EXTENSIONS`) under ``folder``, recursively, sorted."""
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


class VideoFolder(ClipDataset):
    """Any folder of videos. With ``class_names``, a video's label is its parent folder's class (else -1)."""

    def __init__(self, root: str | os.PathLike, spec, class_names: Sequence[str] | None = None, **kw) -> None:
        root = Path(root)
        if not root.is_dir():
            raise VidxaiError(f"video folder not found: {root}")
        lookup = {_norm(n): i for i, n in enumerate(class_names or [])}
        entries = [(p, lookup.get(_norm(p.parent.name), -1)) for p in videos_under(root)]
        if not entries:
            raise VidxaiError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) under {root}")
        super().__init__(entries, spec, class_names, root, **kw)


def _norm(name: str) -> str:
    return name.lower().replace("_", " ").replace('"', "").strip()


class Kinetics400(ClipDataset):
    """Kinetics-400 with the official class names; the centre 16 frames of each video (thesis protocol).

    Two layouts: a folder per class (``root/<class name>/<video>``; underscores or spaces), or the official CSV
    (``label,youtube_id,time_start,time_end,split``) with files named ``<youtube_id>_<start:06d>_<end:06d>.<ext>``
    in ``root`` or ``root/<split>``. Videos listed in the CSV but missing on disk are reported in
    :attr:`missing` and skipped.
    """

    def __init__(self, root: str | os.PathLike, spec, csv_file: str | os.PathLike | None = None,
                 split: str | None = None, class_names: Sequence[str] | None = None, **kw) -> None:
        root = Path(root)
        if class_names is None:
            from .labels import load_labels

            class_names = load_labels("kinetics400")  # the official alphabetical order
        lookup = {_norm(n): i for i, n in enumerate(class_names)}
        self.missing: list[str] = []
        if csv_file is None:
            if not root.is_dir():
                raise VidxaiError(f"Kinetics folder not found: {root}")
            entries = []
            for p in videos_under(root):
                label = lookup.get(_norm(p.parent.name))
                if label is None:
                    raise VidxaiError(f"folder {p.parent.name!r} is not a Kinetics-400 class name")
                entries.append((p, label))
        else:
            entries = self._from_csv(root, Path(csv_file), split, lookup)
        super().__init__(entries, spec, class_names, root, **kw)

    def _from_csv(self, root: Path, csv_file: Path, split: str | None, lookup: dict) -> list[tuple[Path, int]]:
        if not csv_file.is_file():
            raise VidxaiError(f"Kinetics CSV not found: {csv_file}")
        files = {p.stem: p for p in videos_under(root)}
        entries = []
        with open(csv_file, newline="") as f:
            for row in csv.DictReader(f):
                if split and row.get("split") and row["split"] != split:
                    continue
                stem = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
                label = lookup.get(_norm(row["label"]))
                if label is None:
                    raise VidxaiError(f"{csv_file}: unknown Kinetics-400 class {row['label']!r}")
                if stem in files:
                    entries.append((files[stem], label))
                else:
                    self.missing.append(stem)
        return entries


class UCF101(ClipDataset):
    """UCF101 videos of one official split list (``testlist01.txt`` / ``trainlist01.txt``) with ``classInd.txt``."""

    def __init__(self, root: str | os.PathLike, spec, split_file: str | os.PathLike,
                 class_index: str | os.PathLike, **kw) -> None:
        root = Path(root)
        classes = read_class_index(class_index)
        lookup = {n.lower(): i for i, n in enumerate(classes)}
        entries = []
        for line in Path(split_file).read_text().splitlines():
            name = line.strip().split(" ")[0]
            if not name:
                continue
            cls = name.split("/")[0].lower()
            if cls not in lookup:
                raise VidxaiError(f"{split_file}: class {cls!r} is not in {class_index}")
            entries.append((root / name, lookup[cls]))
        super().__init__(entries, spec, classes, root, **kw)


def read_class_index(path: str | os.PathLike) -> list[str]:
    """``classInd.txt`` lines ``"1 ApplyEyeMakeup"`` -> names in index order (0-based)."""
    pairs = []
    for line in Path(path).read_text().splitlines():
        parts = line.split()
        if len(parts) == 2:
            pairs.append((int(parts[0]), parts[1]))
    if not pairs:
        raise ConfigError(f"{path} holds no 'index name' lines")
    return [n for _, n in sorted(pairs)]


class SafeDataset(torch.utils.data.Dataset):
    """Wraps a dataset so a corrupt or missing video yields ``{"clip_id", "error"}`` instead of killing a run."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)

    def clip_id(self, i: int) -> str:
        return self.dataset.clip_id(i)

    def __getitem__(self, i: int) -> dict:
        try:
            return self.dataset[i]
        except VidxaiError as e:
            return {"clip_id": self.clip_id(i), "error": str(e)}
