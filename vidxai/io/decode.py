"""Decoding videos with PyAV: metadata, frame ranges and arbitrary frame indices.

Frame indices are 0-based positions in the decoder's output order (what OpenCV's ``VideoCapture`` returns
one by one). Reads never decode the whole file when they do not have to: a small per-file index (built by
demuxing packets once, no decoding, cached by path/size/mtime) gives the frame count and the keyframe
positions, so a range is read by seeking to the keyframe at or before its first frame and decoding only up
to its last frame.

After a seek to (at or before) the keyframe, packets up to the keyframe are skipped undecoded; the
landing packet is recognised in the index, so a seek that lands past the keyframe or somewhere unknown
(MPEG-PS seeks by byte position) falls back to decoding from the start, which is correct by definition.

Two ways to number frames:

* ``pts``: containers with real presentation timestamps (mp4, mov, mkv, webm, ts, mpg, flv, gif, ...). A
  frame's index is the rank of its pts among all packet pts.
* ``order``: AVI (whose "pts" are decode-order counters that do not follow display order when the stream
  has B-frames) and streams without timestamps (raw H.264). Frames count up from the keyframe's packet
  position.
"""
from __future__ import annotations

import os
import re
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from ..errors import EmptyVideoError, InputError, TooFewFramesError, VideoDecodeError, VideoNotFoundError

PathLike = str | os.PathLike

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
FRAME_FOLDER_FPS = 25.0  # frame folders carry no frame rate (UCF101-24/JHMDB frames are 25 fps)

__all__ = ["VideoInfo", "Video", "video_info", "read_video", "read_frames", "clear_cache"]


@dataclass(frozen=True)
class VideoInfo:
    """What a video holds. ``num_frames`` is counted from the packets (not trusted from the header)."""

    path: str
    codec: str
    fps: float
    num_frames: int
    width: int
    height: int
    duration: float  # seconds
    container: str = ""
    pix_fmt: str = ""
    keyframes: int = 0
    rotation: int = 0  # display rotation (degrees counter-clockwise) applied to decoded frames, as FFmpeg/OpenCV do

    def to_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        return (f"{self.path}: {self.codec} {self.width}x{self.height} {self.fps:g} fps, "
                f"{self.num_frames} frames, {self.duration:.2f} s")


@dataclass
class Video:
    """Decoded frames ``(T, H, W, 3)`` uint8 RGB, the stream's fps and the frame index of each frame."""

    frames: np.ndarray
    fps: float
    indices: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class _Index:
    info: VideoInfo
    mode: str  # "pts" or "order"
    kf_frame: np.ndarray  # frame index of each keyframe, ascending
    kf_seek_ts: np.ndarray  # timestamp (stream time base) to seek to for each keyframe
    kf_pos: np.ndarray  # packet position (demux order) of each keyframe
    pts_to_index: dict  # pts mode: presentation timestamp -> frame index
    packet_pos: dict  # pts (pts mode) or (pts, dts) (order mode) -> packet position in demux order
    coded_size: tuple = (0, 0)  # (width, height) of decoded frames before rotation
    files: list | None = None  # frame folders: one image per frame


_CACHE: OrderedDict[tuple, _Index] = OrderedDict()
_CACHE_SIZE = 512
_LOCK = threading.Lock()
# Counters for tests and benchmarks: frames decoded and seeks that had to fall back to decoding from the start.
STATS = {"decoded": 0, "seeks": 0, "fallbacks": 0}


def clear_cache() -> None:
    """Forget the cached per-file indices (they are keyed by path, size and mtime, so this is rarely needed)."""
    with _LOCK:
        _CACHE.clear()


# Demuxers that turn any file into a "video" (FFmpeg renders text files as ANSI art).
_NOT_VIDEO_FORMATS = {"tty": "text", "bin": "binary text", "xbin": "binary text", "adf": "ANSI art", "idf": "ANSI art"}


def _reason(e: BaseException) -> str:
    msg = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return " ".join(str(msg).split())


def _frame_files(p: Path) -> list[Path]:
    """Image files of a frame folder in natural order (frame_2 before frame_10)."""
    files = [f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file()]
    return sorted(files, key=lambda f: [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", f.name)])


def _check_path(path: PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise VideoNotFoundError(f"video not found: {p}")
    if p.is_dir():
        if not any(f.suffix.lower() in IMAGE_SUFFIXES for f in p.iterdir()):
            raise VideoDecodeError(f"{p} is a directory without frame images ({', '.join(IMAGE_SUFFIXES)})")
        return p
    if p.stat().st_size == 0:
        raise EmptyVideoError(f"{p} is empty (0 bytes)")
    return p


def _open(p: Path):
    try:
        container = av.open(str(p), mode="r", metadata_errors="ignore")
    except av.EOFError:
        raise EmptyVideoError(f"{p} ends before its first frame (no frames, or truncated)") from None
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        raise VideoDecodeError(f"cannot read {p} as a video: {_reason(e)}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{p} has no video stream")
    fmt = container.format.name
    if fmt in _NOT_VIDEO_FORMATS:
        container.close()
        raise VideoDecodeError(f"{p} is not a video (FFmpeg can only read it as {_NOT_VIDEO_FORMATS[fmt]})")
    if (fmt.endswith("_pipe") or fmt == "image2") and p.suffix.lower() not in IMAGE_SUFFIXES:
        # a still image under a video name (photo.png renamed clip.mp4): one frame is no video
        kind = fmt[:-5].upper() if fmt.endswith("_pipe") else "still"
        container.close()
        raise VideoDecodeError(f"{p} is not a video but a {kind} image; give a video file, or a folder of frame "
                               "images for a frame sequence")
    return container


def _build_index(p: Path) -> _Index:
    with _open(p) as c:
        s = c.streams.video[0]
        cc = s.codec_context
        fmt = c.format.name or ""
        codec = cc.name or ""
        tb = s.time_base
        rate = s.average_rate or s.guessed_rate or s.base_rate
        fps = float(rate) if rate else 0.0
        width, height = int(cc.width or 0), int(cc.height or 0)
        pix_fmt = cc.format.name if cc.format is not None else ""
        stream_duration = float(s.duration * tb) if s.duration and tb else 0.0
        container_duration = float(c.duration) / 1e6 if c.duration else 0.0
        pts: list = []
        dts: list = []
        key: list = []
        try:
            for pk in c.demux(s):
                if pk.size == 0 or pk.is_discard:  # flush packets, AVI "drop" markers, edit-list discards
                    continue
                pts.append(pk.pts)
                dts.append(pk.dts)
                key.append(bool(pk.is_keyframe))
        except av.FFmpegError as e:
            if not pts:
                raise VideoDecodeError(f"cannot read {p} as a video: {_reason(e)}") from None
            warnings.warn(f"{p}: demuxing stopped after {len(pts)} packets ({_reason(e)}); the file looks truncated",
                          stacklevel=3)
        if not pts:
            raise EmptyVideoError(f"{p} holds no video frames")
    # The first frame gives the size when the header does not, and the display rotation (phone videos).
    width, height, rotation = _first_frame_props(p, width, height)

    n = len(pts)
    key_arr = np.asarray(key, bool)
    if not key_arr.any():
        key_arr[0] = True  # no keyframe flags at all (raw formats): treat the first packet as the only entry point
    has_pts = all(v is not None for v in pts)
    use_pts = has_pts and "avi" not in fmt.split(",") and len(set(pts)) == n
    # Packets are recognised after a seek by pts where pts are unique (demuxers such as matroska recompute
    # dts differently after a seek), else by (pts, dts).
    packet_pos: dict = {}
    for i, k in enumerate(pts if use_pts else zip(pts, dts)):
        packet_pos.setdefault(k, i)
    if use_pts:
        order = np.argsort(np.asarray(pts, np.int64), kind="stable")
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        pts_to_index = {int(pts[i]): int(rank[i]) for i in range(n)}
        kf_pos = np.flatnonzero(key_arr)
        kf_pos = kf_pos[np.argsort(rank[kf_pos], kind="stable")]
        kf_frame = rank[kf_pos]
        mode = "pts"
    else:
        kf_pos = np.flatnonzero(key_arr)
        kf_pos = kf_pos[[pts[i] is not None or dts[i] is not None for i in kf_pos]]
        if kf_pos.size == 0 or kf_pos[0] != 0:
            kf_pos = np.concatenate([[0], kf_pos]).astype(np.int64)
        kf_frame = kf_pos.copy()
        mode, pts_to_index = "order", {}
    # Seek to the smaller of the keyframe's pts and dts: demuxers seek by one or the other (mov by pts, mpegts
    # by dts), so this lands at or before the keyframe; packets up to it are then skipped without decoding.
    stamps = [min(v for v in (pts[i], dts[i]) if v is not None) if (pts[i], dts[i]) != (None, None) else 0
              for i in kf_pos]
    seek_ts = np.asarray(stamps, np.int64)
    if fps <= 0:
        dur = stream_duration or container_duration
        fps = n / dur if dur > 0 else 25.0
    duration = stream_duration or container_duration or n / fps
    shown_w, shown_h = (height, width) if rotation in (90, 270) else (width, height)
    info = VideoInfo(path=str(p), codec=codec, fps=fps, num_frames=n, width=shown_w, height=shown_h,
                     duration=duration, container=fmt, pix_fmt=pix_fmt, keyframes=int(key_arr.sum()),
                     rotation=rotation)
    return _Index(info=info, mode=mode, kf_frame=np.asarray(kf_frame, np.int64), kf_seek_ts=seek_ts,
                  kf_pos=np.asarray(kf_pos, np.int64), pts_to_index=pts_to_index, packet_pos=packet_pos,
                  coded_size=(width, height))


def _first_frame_props(p: Path, width: int, height: int) -> tuple[int, int, int]:
    with _open(p) as c:
        s = c.streams.video[0]
        for f in _decode(c, s, p):
            rotation = int(round(float(getattr(f, "rotation", 0) or 0) / 90.0)) * 90 % 360
            return int(f.width or width), int(f.height or height), rotation
    if width and height:
        return width, height, 0
    raise VideoDecodeError(f"{p}: no frame could be decoded")


def _decode(c, s, p: Path):
    try:
        yield from c.decode(s)
    except av.FFmpegError as e:
        raise VideoDecodeError(f"cannot decode {p}: {_reason(e)}") from None


def _index(path: PathLike) -> tuple[Path, _Index]:
    p = _check_path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if p.is_dir():  # frame folders: also the number of entries, in case the mtime is coarse
        key += (len(os.listdir(p)),)
    with _LOCK:
        idx = _CACHE.get(key)
        if idx is not None:
            _CACHE.move_to_end(key)
            return p, idx
    idx = _build_folder_index(p) if p.is_dir() else _build_index(p)
    with _LOCK:
        _CACHE[key] = idx
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return p, idx


def _read_image(f: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(f), cv2.IMREAD_COLOR)
    if img is None:
        raise VideoDecodeError(f"cannot read frame image {f}")
    return img[..., ::-1]


def _build_folder_index(p: Path) -> _Index:
    files = _frame_files(p)
    first = _read_image(files[0])
    h, w = first.shape[:2]
    n = len(files)
    kinds = sorted({f.suffix.lower().lstrip(".") for f in files})
    info = VideoInfo(path=str(p), codec="/".join(kinds), fps=FRAME_FOLDER_FPS, num_frames=n, width=w, height=h,
                     duration=n / FRAME_FOLDER_FPS, container="frame folder", pix_fmt="rgb24", keyframes=n)
    every = np.arange(n, dtype=np.int64)
    return _Index(info=info, mode="order", kf_frame=every, kf_seek_ts=every, kf_pos=every, pts_to_index={},
                  packet_pos={}, coded_size=(w, h), files=files)


def video_info(path: PathLike) -> VideoInfo:
    """Codec, fps, frame count, size and duration of ``path``.

    Raises:
        VideoNotFoundError, VideoDecodeError, EmptyVideoError.
    """
    return _index(path)[1].info


class _Fallback(Exception):
    """A seek landed somewhere the index cannot place: decode from the start instead."""


def _decode_group(c, s, p: Path, idx: _Index, first: int, last: int, wanted: set, store,
                  width: int, height: int, from_start: bool) -> None:
    """Decode frames ``first..last`` (inclusive) and hand those in ``wanted`` to ``store(i, rgb)``.

    ``wanted`` is consumed (indices are removed as they are stored). After a seek, packets before the target
    keyframe are skipped undecoded; landing past it, on an unknown packet, or missing frames raise _Fallback.
    """
    k = int(np.searchsorted(idx.kf_frame, first, side="right")) - 1
    seek = not from_start and k > 0
    target = int(idx.kf_pos[k]) if seek else 0
    if seek:  # groups come in ascending order, so only the first one can start at frame 0 on a fresh container
        c.seek(int(idx.kf_seek_ts[k]), stream=s, backward=True, any_frame=False)
        STATS["seeks"] += 1
    landed = not seek
    counter = 0 if not seek else int(idx.kf_frame[k])  # order mode: index of the next decoded frame
    previous = -1
    first_frame = True
    k_rot = idx.info.rotation // 90
    try:
        for pk in c.demux(s):
            if not landed:
                if pk.size == 0 or pk.is_discard:
                    continue
                pos = idx.packet_pos.get(pk.pts if idx.mode == "pts" else (pk.pts, pk.dts))
                if pos is None or pos > target:
                    raise _Fallback
                if pos < target:
                    continue  # before the keyframe we want: skip without decoding
                landed = True
            for f in pk.decode():
                STATS["decoded"] += 1
                if idx.mode == "pts":
                    if f.pts is None:
                        i = previous + 1
                    else:
                        i = idx.pts_to_index.get(f.pts, -1)
                        if i < 0:  # a frame of no counted packet (e.g. outside an mp4 edit list): not a frame
                            continue
                else:
                    i = counter
                    counter += 1
                if first_frame and seek and i > first:
                    raise _Fallback
                first_frame = False
                previous = i
                if i > last:
                    return
                if i in wanted:
                    img = f.to_ndarray(format="rgb24", width=width, height=height)
                    store(i, np.rot90(img, k_rot) if k_rot else img)
                    wanted.discard(i)
                    if not wanted:
                        return
    except av.FFmpegError as e:
        raise VideoDecodeError(f"cannot decode {p}: {_reason(e)}") from None
    if seek and wanted:
        raise _Fallback  # the stream ended before the frames the index promised: trust only a full decode


def _groups(idx: _Index, needed: np.ndarray) -> list[np.ndarray]:
    """Split sorted frame indices where a keyframe lies between neighbours: seeking beats decoding the gap."""
    if needed.size <= 1:
        return [needed]
    kf_of = idx.kf_frame[np.searchsorted(idx.kf_frame, needed, side="right") - 1]
    cut = np.flatnonzero(kf_of[1:] > needed[:-1]) + 1
    return np.split(needed, cut)


def _decode_indices(p: Path, idx: _Index, needed: np.ndarray, store) -> tuple[list[int], np.ndarray] | None:
    """Decode the sorted unique frame indices ``needed``, calling ``store(i, rgb)`` once for each.

    Returns None, or (missing indices, decoded indices) when some frames could not be decoded."""
    if idx.files is not None:  # frame folder: every frame is its own file
        for i in needed.tolist():
            img = _read_image(idx.files[i])
            if img.shape[:2] != (idx.info.height, idx.info.width):
                raise VideoDecodeError(f"{idx.files[i]} is {img.shape[1]}x{img.shape[0]}, but the first frame of "
                                       f"{p} is {idx.info.width}x{idx.info.height}")
            STATS["decoded"] += 1
            store(i, img)
        return None
    w, h = idx.coded_size
    done: set[int] = set()

    def keep(i: int, img: np.ndarray) -> None:
        store(i, img)
        done.add(i)

    for attempt in ("seek", "start"):
        try:
            with _open(p) as c:
                s = c.streams.video[0]
                s.thread_type = "AUTO"
                groups = _groups(idx, needed) if attempt == "seek" else [needed]
                for g in groups:
                    wanted = {int(i) for i in g} - done
                    if wanted:
                        _decode_group(c, s, p, idx, int(g[0]), int(g[-1]), wanted, keep, w, h,
                                      from_start=attempt == "start")
            break
        except _Fallback:  # frames stored so far are correct; decoding from the start fills in the rest
            STATS["fallbacks"] += 1
            continue
    missing = [int(i) for i in needed if int(i) not in done]
    if missing:
        if not done:
            raise VideoDecodeError(f"cannot decode {p}: no frame in {missing[0]}..{missing[-1]} could be decoded")
        warnings.warn(f"{p}: {len(missing)} frame(s) from {missing[0]} on could not be decoded; "
                      "repeating the nearest decoded frame", stacklevel=3)
        return missing, np.asarray(sorted(done))
    return None


def _as_indices(indices, n_total: int, p: Path) -> np.ndarray:
    arr = np.asarray(indices.cpu() if hasattr(indices, "cpu") else indices)
    if arr.ndim != 1 or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        if arr.size and np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise InputError(f"frame indices must be a 1-D sequence of integers, got {arr.dtype} {tuple(arr.shape)}")
    arr = arr.astype(np.int64)
    arr = np.where(arr < 0, arr + n_total, arr)  # numpy-style negative indices
    bad = arr[(arr < 0) | (arr >= n_total)]
    if bad.size:
        raise TooFewFramesError(f"frame index {int(bad[0])} is out of range: {p} has {n_total} frames (0..{n_total - 1})")
    return arr


def read_frames(path: PathLike, indices: Sequence[int] | np.ndarray) -> np.ndarray:
    """Decode the frames at ``indices`` (any order, repeats allowed) as uint8 ``(len(indices), H, W, 3)`` RGB.

    Each stretch of nearby indices is decoded once, after seeking to the keyframe before it.

    Raises:
        VideoNotFoundError, VideoDecodeError, EmptyVideoError, TooFewFramesError (index out of range).
    """
    p, idx = _index(path)
    arr = _as_indices(indices, idx.info.num_frames, p)
    if arr.size == 0:
        return np.zeros((0, idx.info.height, idx.info.width, 3), np.uint8)
    needed, inverse = np.unique(arr, return_inverse=True)
    out = np.empty((arr.size, idx.info.height, idx.info.width, 3), np.uint8)
    order = np.argsort(inverse, kind="stable")  # output rows grouped by unique frame, to write each frame once
    bounds = np.searchsorted(inverse[order], np.arange(needed.size + 1))
    slot = {int(f): order[bounds[u]:bounds[u + 1]] for u, f in enumerate(needed)}

    def store(i: int, img: np.ndarray) -> None:
        rows = slot[i]
        if rows.size == 1:
            out[rows[0]] = img
        else:
            out[rows] = img

    gaps = _decode_indices(p, idx, needed, store)
    if gaps is not None:  # undecodable frames repeat the nearest decoded one
        missing, have = gaps
        for i in missing:
            j = int(have[max(int(np.searchsorted(have, i, side="right")) - 1, 0)])
            out[slot[i]] = out[slot[j][0]]
    return out


def read_video(path: PathLike, start: int = 0, end: int | None = None, step: int = 1) -> Video:
    """Decode frames ``start, start+step, ... < end`` (``end=None``: to the last frame).

    Seeks to the keyframe before ``start``; frames after ``end`` are never decoded. ``end`` past the last
    frame is clipped (like slicing); a ``start`` past it raises :class:`TooFewFramesError`.
    """
    p, idx = _index(path)
    n = idx.info.num_frames
    if step < 1:
        raise InputError(f"step must be >= 1, got {step}")
    start = start + n if start < 0 else start
    end = n if end is None else min(end + n if end < 0 else end, n)
    if start < 0 or start >= n:
        raise TooFewFramesError(f"start frame {start} is past the end of {p} ({n} frames)")
    indices = np.arange(start, max(end, start), step, dtype=np.int64)
    if indices.size == 0:
        raise TooFewFramesError(f"empty frame range [{start}, {end}) for {p}")
    return Video(frames=read_frames(p, indices), fps=idx.info.fps, indices=indices)
