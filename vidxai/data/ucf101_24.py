"""UCF101-24 spatio-temporal tubes and the SWAG-V weak-localisation protocol (SWAG-V, WACV 2022, after Fong & Vedaldi).

The annotation pickle (``pyannot.pkl`` / ``pyannot_with_class_names.pkl`` of the corrected UCF101-24
annotations) maps ``"Class/v_Class_gXX_cYY"`` to ``{'numf', 'label', 'annotations': [{'label', 'sf', 'ef',
'boxes'}]}`` with boxes ``[x, y, w, h]`` at 320x240 and 0-based, end-exclusive ``sf``/``ef``. vidxai converts
boxes to its one convention on load: ``xyxy`` floats, x = column, (x2, y2) exclusive.

Protocol (thesis): keep the split-1 test videos; drop videos with more than one action in any frame and videos
without 16 contiguous boxed frames; cut 16-frame clips every 8 frames and keep those whose every frame has a box.
"""
from __future__ import annotations

import os
import pickle
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import ConfigError, VidxaiError

ORIGINAL_SIZE = (240, 320)  # (H, W) of UCF101 frames, in which the boxes are given


@dataclass
class Tube:
    """One actor's tube: frames ``start..end-1`` with one xyxy box each."""

    label: int
    start: int
    end: int
    boxes: np.ndarray  # (end - start, 4) float32 xyxy


@dataclass
class VideoAnnotation:
    name: str  # "Class/v_Class_gXX_cYY"
    label: int
    class_name: str
    num_frames: int
    tubes: list[Tube] = field(default_factory=list)

    def coverage(self) -> np.ndarray:
        """How many tubes cover each frame, shape (num_frames,)."""
        cov = np.zeros(self.num_frames, np.int32)
        for t in self.tubes:
            cov[t.start:t.end] += 1
        return cov

    def boxes(self) -> np.ndarray:
        """(num_frames, 4) xyxy box per frame for single-actor videos, NaN where no tube is present."""
        out = np.full((self.num_frames, 4), np.nan, np.float32)
        for t in self.tubes:
            out[t.start:t.end] = t.boxes[: max(0, min(t.end, self.num_frames) - t.start)]
        return out


@dataclass
class ClipRecord:
    """A protocol clip: which frames of which video, its label, and a ground-truth box per frame."""

    video: str
    label: int
    class_name: str
    frame_indices: list[int]
    boxes: np.ndarray  # (len(frame_indices), 4) xyxy at 320x240
    action_interval: tuple[int, int] | None = None  # within-clip [start, end) of the annotated action

    @property
    def clip_id(self) -> str:
        return f"{self.video}@{self.frame_indices[0]}"


@dataclass
class ProtocolCounts:
    test_videos: int
    multi_actor_dropped: int
    too_short_dropped: int
    videos: int
    clips: int

    def __str__(self) -> str:
        return (f"{self.test_videos} test videos -> {self.videos} videos after dropping {self.multi_actor_dropped} "
                f"with several actions and {self.too_short_dropped} without 16 boxed frames -> {self.clips} clips")


def load_annotations(path: str | os.PathLike, class_names: Sequence[str] | None = None) -> dict[str, VideoAnnotation]:
    """Read the UCF101-24 annotation pickle into :class:`VideoAnnotation` objects (boxes as xyxy)."""
    path = Path(path)
    if path.is_dir():
        for name in ("pyannot_with_class_names.pkl", "pyannot.pkl"):
            if (path / name).exists():
                path = path / name
                break
    if not path.is_file():
        raise VidxaiError(f"UCF101-24 annotations not found: {path}")
    try:
        with open(path, "rb") as f:
            raw = pickle.load(f)
    except Exception as e:  # noqa: BLE001 - any failure means the file is not usable
        raise VidxaiError(f"cannot read UCF101-24 annotations {path}: {e}") from None
    db = raw.get("db", raw) if isinstance(raw, dict) else None
    if not isinstance(db, dict):
        raise VidxaiError(f"{path} is not a UCF101-24 annotation pickle (no 'db' dict)")
    classes = list(class_names or raw.get("classes") or sorted({k.split("/")[0] for k in db}))
    out = {}
    for name, entry in db.items():
        tubes = []
        for a in entry["annotations"]:
            b = np.asarray(a["boxes"], np.float32).reshape(-1, 4)
            xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)
            tubes.append(Tube(int(a["label"]), int(a["sf"]), int(a["ef"]), xyxy))
        label = int(entry["label"])
        out[name] = VideoAnnotation(name, label, classes[label], int(entry["numf"]), tubes)
    return out


def read_split(path: str | os.PathLike) -> list[str]:
    """Video names (``Class/v_...`` without extension) of a split list such as ``testlist01.txt``."""
    names = []
    for line in Path(path).read_text().splitlines():
        line = line.strip().split(" ")[0]
        if line:
            names.append(line[:-4] if line.endswith(".avi") else line)
    return names


def resolve_split(split_list: str | os.PathLike | None, annotations: str | os.PathLike) -> list[str] | None:
    """The videos of the protocol's split: ``split_list``, else ``testlist01.txt`` beside the annotations.

    The annotation pickle holds training videos too, so running without a split list would silently score
    training videos; that is refused. ``split_list="all"`` asks for every annotated video on purpose.

    Raises:
        ConfigError: no split list was given and none lies beside the annotations, or the file is missing.
    """
    if split_list == "all":
        return None
    if split_list is None:
        cand = Path(annotations)
        cand = (cand if cand.is_dir() else cand.parent) / "testlist01.txt"
        if not cand.is_file():
            raise ConfigError(f"UCF101-24 needs a split list (testlist01.txt of the corrected annotations): none "
                              f"given and none beside {annotations}; pass split_list=<path> (or split_list='all' "
                              "to score every annotated video, training videos included)")
        split_list = cand
    if not Path(split_list).is_file():
        raise ConfigError(f"UCF101-24 split list not found: {split_list}")
    return read_split(split_list)


def longest_run(mask: np.ndarray) -> int:
    """Length of the longest run of True in a 1-D boolean array."""
    if not mask.any():
        return 0
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())


def protocol_clips(annotations: dict[str, VideoAnnotation], videos: Iterable[str] | None = None,
                   clip_len: int = 16, stride: int = 8,
                   multi_actor: str = "overlap") -> tuple[list[ClipRecord], ProtocolCounts]:
    """Apply the thesis protocol and return its clips and the counts at each step.

    Args:
        videos: the videos to consider (default: all annotated videos).
        multi_actor: ``"overlap"`` drops videos with two tubes on the same frame (the thesis wording);
            ``"any"`` drops every video with more than one tube.
    """
    if multi_actor not in ("overlap", "any"):
        raise ConfigError(f"multi_actor must be 'overlap' or 'any', got {multi_actor!r}")
    names = list(videos) if videos is not None else sorted(annotations)
    missing = [n for n in names if n not in annotations]
    if missing:
        raise VidxaiError(f"{len(missing)} videos have no annotation, e.g. {missing[0]!r}")
    clips: list[ClipRecord] = []
    multi = short = kept = 0
    for name in names:
        ann = annotations[name]
        cov = ann.coverage()
        if (cov > 1).any() or (multi_actor == "any" and len(ann.tubes) > 1):
            multi += 1
            continue
        boxed = cov == 1
        if longest_run(boxed) < clip_len:
            short += 1
            continue
        kept += 1
        boxes = ann.boxes()
        for s in range(0, ann.num_frames - clip_len + 1, stride):
            if boxed[s:s + clip_len].all():
                clips.append(ClipRecord(name, ann.label, ann.class_name, list(range(s, s + clip_len)),
                                        boxes[s:s + clip_len].copy(), (0, clip_len)))
    return clips, ProtocolCounts(len(names), multi, short, kept, len(clips))


class UCF101_24(torch.utils.data.Dataset):
    """Protocol clips of UCF101-24 decoded from a folder of UCF101 videos (``Class/v_*.avi``).

    Each item is a dict: ``clip`` (C, T, H, W) normalised for ``spec``, ``label``, ``boxes`` (T, 4) xyxy in
    model-input pixels (rescaled through the same resize + crop as the frames), ``boxes_original`` at 320x240,
    ``frame_indices`` and ``clip_id``. Decoding happens in the worker, so a ``DataLoader`` parallelises it.
    """

    def __init__(self, video_root: str | os.PathLike, annotations: str | os.PathLike, spec,
                 split_list: str | os.PathLike | None = None, clip_len: int = 16, stride: int = 8,
                 multi_actor: str = "overlap", limit: int | None = None) -> None:
        self.video_root = Path(video_root)
        self.spec = spec
        ann = load_annotations(annotations)
        videos = resolve_split(split_list, annotations)
        self.clips, self.counts = protocol_clips(ann, videos, clip_len, stride, multi_actor)
        if limit is not None and len(self.clips) > limit:  # an evenly spread subset, for quick runs
            step = -(-len(self.clips) // int(limit))
            self.clips = self.clips[::step][: int(limit)]

    def clip_id(self, i: int) -> str:
        return self.clips[i].clip_id

    def __len__(self) -> int:
        return len(self.clips)

    def video_path(self, record: ClipRecord) -> Path:
        return self.video_root / f"{record.video}.avi"

    def __getitem__(self, i: int) -> dict:
        from ..io import read_frames, preprocess

        rec = self.clips[i]
        frames = read_frames(self.video_path(rec), rec.frame_indices)
        tensor, geometry = preprocess(frames, self.spec)
        geometry.frame_indices = list(rec.frame_indices)
        return {"clip": tensor, "label": rec.label, "boxes": boxes_to_model(rec.boxes, geometry, frames.shape[1:3]),
                "boxes_original": torch.from_numpy(rec.boxes), "frame_indices": rec.frame_indices,
                "clip_id": rec.clip_id, "geometry": geometry}


def boxes_to_model(boxes: np.ndarray, geometry, frame_size: tuple[int, int]) -> torch.Tensor:
    """Map xyxy boxes given at 320x240 onto model-input pixels through ``geometry`` (resize + crop).

    A box partly outside the crop is clipped to it; a box with no area inside the crop becomes NaN (no ground
    truth visible in that frame), which localisation and the pointing game both skip, so the two metrics
    score exactly the same frames.
    """
    b = torch.as_tensor(boxes, dtype=torch.float32).clone()
    h, w = frame_size
    b[:, [0, 2]] *= w / ORIGINAL_SIZE[1]  # videos not at 320x240 get their boxes rescaled first
    b[:, [1, 3]] *= h / ORIGINAL_SIZE[0]
    x1, y1 = geometry.original_to_model_xy(b[:, 0], b[:, 1])
    x2, y2 = geometry.original_to_model_xy(b[:, 2], b[:, 3])
    ch, cw = geometry.crop_box[2], geometry.crop_box[3]
    out = torch.stack([x1.clamp(0, cw), y1.clamp(0, ch), x2.clamp(0, cw), y2.clamp(0, ch)], dim=1)
    outside = (out[:, 2] <= out[:, 0]) | (out[:, 3] <= out[:, 1])
    out[outside] = float("nan")
    return out
