"""The explain pipeline: one video, one model, several methods -> videos, curves, ``result.json``.

:func:`explain_video` is the entry point that ``vidxai explain``, ``vidxai demo`` and users call. It reads the
clip (or sliding windows over the whole video), predicts, explains with every method, scores the maps with
deletion/insertion curves, draws them on the original frames and records everything in an
:class:`ExplainResult`, whose JSON form is ``result.json`` (schema ``vidxai.explain/1``).

Example::

    from vidxai.pipeline import explain_video

    result = explain_video("clip.mp4", "synthetic-tiny", methods=["gradient", "gradcam"], out="out/")
    result.target.name, [m.deletion_auc for m in result.methods]

Settings can also be gathered in an :class:`ExplainOptions` (``explain_video(path, model, options=opts)``).
The building blocks (:func:`prepare_clips`, :func:`predict_clips`, :func:`explain_clips`, :func:`stitch`,
:func:`load_model`) are public too. :mod:`vidxai.render` is imported only when something is drawn.
"""
from __future__ import annotations

import dataclasses
import os
import platform
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .core.runtime import atomic_write, check_device, model_state, resolve_device, to_jsonable
from .core.tensor import minmax_per_clip
from .errors import InputError, TooFewFramesError, VideoNotFoundError, VidxaiError
# The record lives in vidxai.result (below the pipeline and render); re-exported here for compatibility.
from .result import (RESULT_FILE, SCHEMA, ClipRecord, ExplainResult, MethodResult, ModelRecord,  # noqa: F401
                     Prediction, TargetRecord, VideoRecord)

__all__ = ["explain_video", "ExplainOptions", "ExplainResult", "MethodResult", "Prediction", "VideoRecord",
           "ModelRecord", "ClipRecord", "TargetRecord", "Clips", "prepare_clips", "predict_clips", "explain_clips",
           "stitch", "stitch_labels", "load_model", "parse_clip", "check_render_memory", "slug", "SCHEMA",
           "RESULT_FILE", "DEFAULT_MODEL", "DEFAULT_OUT", "explain_videos", "find_videos", "predict_windows"]

from .defaults import CURVE_PROTOCOLS, DEFAULT_CURVES, DEFAULT_MODEL, DEFAULT_OUT, DEFAULT_PERCENTILE, NORMALIZE_MODES

MAX_CELL_HEIGHT = 360  # grid cells are scaled down to this height so grids of HD videos stay small
MIN_CELL_HEIGHT = 224  # and small clips are scaled up so titles and heat stay legible
ENCODE_PROGRESS_BYTES = 1_500_000_000  # frames larger than this (about 5 s of H.264 encoding here) get a bar
RENDER_MEMORY_GB = 8.0  # default cap on the frames held for clip="all" renders


# -- options ----------------------------------------------------------------------------------------
@dataclass
class ExplainOptions:
    """The settings of :func:`explain_video` (each mirrors a ``vidxai explain`` option).

    Attributes:
        methods: method names (default: :func:`vidxai.methods.default_method`).
        params: ``{method: {key: value}}`` extra method parameters.
        weights: ``"default"``, ``"none"`` (random), a named weight set or a checkpoint path.
        target: class(es) to explain: None (the top prediction), an index, a class name, ``"topK"`` (the K
            most probable classes) or a list of indices/names; several classes are explained side by side.
        topk: predictions recorded.
        clip: ``"centre"``, ``"uniform"``, ``"all"`` (sliding windows, maps stitched), ``(start, end)`` or
            ``"START:END"``.
        frames: frames per clip (default: the model's). stride: window stride for ``clip="all"`` (default half
            a window). pad: ``"none"``, ``"repeat"`` or ``"loop"`` for videos shorter than a clip.
        batch_size: windows explained per call. fmt: ``"mp4"``, ``"gif"`` or ``"png"``. alpha, colormap, fps:
            overlay opacity, colour map and frame rate (default: the video's). device: torch device or
            ``"auto"`` (the GPU when there is one).
        seed: random seed.
        curves: deletion/insertion protocol: ``"quick"`` (default, 8 steps, fits the one-minute budget on a
            CPU), ``"thesis"`` (28 steps, the thesis' tables), ``"none"``/False; True means the default.
            ``curve_steps`` / ``curve_baseline`` override the protocol's steps / baseline (protocol
            ``"custom"``); result.json records the protocol of every AUC.
        normalize: display scaling of the maps in overlays, grids and the report: ``"auto"`` (percentile
            clipping for pixel-level methods, min-max for CAM and supervoxel maps), ``"minmax"``,
            ``"percentile"`` (at ``percentile``) or ``"none"``; the saved ``.npz`` keeps the raw map.
        layer: target layer for every method that takes one (CAMs; same as ``params={m: {"layer": ...}}``).
        html: also write ``report.html``. quiet: no progress bars or printing.

    Example::

        opts = ExplainOptions(methods=["gradcam"], clip="all", stride=8, curves=False)
        explain_video("long.mp4", "synthetic-tiny", options=opts, out="out/")
    """

    methods: Sequence[str] | None = None
    params: dict[str, dict[str, Any]] | None = None
    weights: str | None = "default"
    target: Any = None
    topk: int = 5
    clip: str | tuple[int, int] = "centre"
    frames: int | None = None
    stride: int | None = None
    pad: str = "none"
    batch_size: int = 4
    fmt: str = "mp4"
    alpha: float = 0.5
    colormap: str = "jet"
    fps: float | None = None
    device: str | None = None
    seed: int = 0
    curves: bool | str = DEFAULT_CURVES
    curve_steps: int | None = None
    curve_baseline: str | None = None
    normalize: str = "auto"
    percentile: float = DEFAULT_PERCENTILE
    layer: str | None = None
    html: bool = False
    quiet: bool = False

    def resolved(self) -> ExplainOptions:
        """A checked copy with defaults filled in (methods list, params, parsed clip); InputError if invalid.

        Cheap checks only, so a typo never costs a model download.
        """
        from . import methods as registry

        methods = list(self.methods or [registry.default_method()])
        for m in methods:
            registry.get(m)
        if len(set(methods)) != len(methods):
            raise InputError(f"--method lists a method twice: {' '.join(methods)}")
        clip = parse_clip(self.clip) if isinstance(self.clip, str) else self.clip
        params = {m: dict((self.params or {}).get(m, {})) for m in methods}
        if self.layer is not None:
            _add_layer(params, self.layer)
        device = str(resolve_device("auto")) if self.device == "auto" else self.device
        opts = dataclasses.replace(self, methods=methods, params=params, clip=clip, device=device)
        opts._check_ranges()
        check_device(opts.device)
        opts.curve_protocol()
        return opts

    def curve_protocol(self) -> dict[str, Any] | None:
        """The deletion/insertion protocol these options ask for (None: no curves); InputError if unknown.

        Example::

            ExplainOptions().curve_protocol()  # {'name': 'quick', 'steps': 8, 'baseline': 'zero', 'mode': 'voxel'}
        """
        name = DEFAULT_CURVES if self.curves is True else self.curves
        if name in (False, None, "none", "no", "off"):
            return None
        if name not in CURVE_PROTOCOLS:
            raise InputError(f"unknown --curves {name!r}; choose from {', '.join([*CURVE_PROTOCOLS, 'none'])}")
        proto = {"name": name, **CURVE_PROTOCOLS[name]}
        for key, value in (("steps", self.curve_steps), ("baseline", self.curve_baseline)):
            if value is not None and value != proto[key]:
                proto[key], proto["name"] = value, "custom"
        return proto

    def _check_ranges(self) -> None:
        from . import render

        checks = [(0.0 <= self.alpha <= 1.0, f"--alpha must lie in [0, 1], got {self.alpha}"),
                  (self.topk >= 1, f"--topk must be >= 1, got {self.topk}"),
                  (self.frames is None or self.frames >= 1, f"--frames must be >= 1, got {self.frames}"),
                  (self.stride is None or self.stride >= 1, f"--stride must be >= 1, got {self.stride}"),
                  (self.fps is None or self.fps > 0, f"--fps must be positive, got {self.fps}"),
                  (self.curve_steps is None or self.curve_steps >= 1,
                   f"--curve-steps must be >= 1, got {self.curve_steps}"),
                  (self.curve_baseline in (None, "zero", "blur", "mean"),
                   f"unknown --curve-baseline {self.curve_baseline!r}; choose from zero, blur, mean"),
                  (self.normalize in NORMALIZE_MODES,
                   f"unknown --normalize {self.normalize!r}; choose from {', '.join(NORMALIZE_MODES)}"),
                  (0.0 < self.percentile <= 100.0, f"--percentile must lie in (0, 100], got {self.percentile}"),
                  (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
                  (self.fmt in render.FORMATS,
                   f"unknown --format {self.fmt!r}; choose from {', '.join(render.FORMATS)}")]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        render.lut(self.colormap)


def _add_layer(params: dict[str, dict[str, Any]], layer: str) -> None:
    """``layer=`` for every method whose ``attribute()`` takes one; InputError when none of them does."""
    from .attribution.base import method_parameters

    takers = [m for m in params if "layer" in method_parameters(m)]
    if not takers:
        raise InputError(f"--layer {layer}: none of the methods {', '.join(params)} takes a target layer "
                         "(CAM methods such as gradcam do; see `vidxai layers MODEL`)")
    for m in takers:
        params[m].setdefault("layer", layer)


def parse_clip(text: str) -> str | tuple[int, int]:
    """``centre``/``center``, ``uniform``, ``all`` or ``START:END`` (either side may be empty; END -1 = the end).

    Example::

        parse_clip("40:104")  # (40, 104)
    """
    t = str(text).strip().lower()
    if t in ("centre", "center"):
        return "centre"
    if t in ("uniform", "all"):
        return t
    m = re.fullmatch(r"(\d*):(\d*)", t)
    if not m or (not m.group(1) and not m.group(2)):
        raise InputError(f"bad --clip {text!r}: use centre, uniform, all or START:END (frame numbers, end exclusive)")
    start = int(m.group(1) or 0)
    end = int(m.group(2)) if m.group(2) else -1
    if end != -1 and end <= start:
        raise InputError(f"bad --clip {text!r}: END must be greater than START")
    return start, end


def slug(name: str) -> str:
    """A file-name-safe form of a method name (``gradcam++`` -> ``gradcamplusplus``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", lambda m: "plus" if m.group() == "+" else "_", name)


#: Bytes held per rendered pixel (one frame x one pixel at the original resolution), measured with
#: ``tools/bench_memory.py`` (peak RSS against this estimate): the decoded frames (3), the float32 heat of the
#: method being drawn and its colour/blend/label copies (about 16), and 3 per overlay kept for the grid.
BYTES_PER_FRAME_PIXEL = 3 + 16
BYTES_PER_OVERLAY_PIXEL = 3
#: per model-input voxel of every window: the float32 clip, its saliency and the curves' working copies
BYTES_PER_INPUT_VOXEL = 4 * 3 + 4 + 4


def estimate_memory_gb(info, spec, num_frames: int, clip, stride: int | None, n_overlays: int) -> float:
    """Peak memory (GB) of the clip-size-dependent part of an explain run, before anything is decoded.

    The model's own activations come on top (they depend on the network, not on the video: for I3D at
    64x224x224 a backward pass holds about 2 GB).

    Example::

        estimate_memory_gb(vidxai.io.video_info("4k.mp4"), model.spec, 64, "centre", None, 1)
    """
    n = int(info.num_frames)
    if clip == "all":
        rendered = n
        step = max(1, num_frames // 2) if stride is None else stride
        windows = max(1, -(-(n - num_frames) // step) + 1)
    else:
        rendered = min(n, clip[1] - clip[0]) if isinstance(clip, tuple) and clip[1] != -1 else num_frames
        windows = 1
    px = rendered * int(info.width) * int(info.height)
    held = px * (BYTES_PER_FRAME_PIXEL + BYTES_PER_OVERLAY_PIXEL * (n_overlays if n_overlays > 1 else 0))
    voxels = windows * num_frames * spec.crop[0] * spec.crop[1]
    return (held + voxels * BYTES_PER_INPUT_VOXEL) / 1e9


def check_render_memory(info, spec, num_frames: int, opts: ExplainOptions, n_overlays: int) -> float:
    """Refuse runs whose clip-size-dependent memory (:func:`estimate_memory_gb`) exceeds the limit
    ``$VIDXAI_RENDER_MEMORY_GB`` (default 8 GB); returns the estimate in GB."""
    limit = float(os.environ.get("VIDXAI_RENDER_MEMORY_GB", RENDER_MEMORY_GB))
    need = estimate_memory_gb(info, spec, num_frames, opts.clip, opts.stride, n_overlays)
    if need > limit:
        part = "--clip all on " if opts.clip == "all" else ""
        raise InputError(f"{part}{info.num_frames} frames of {info.width}x{info.height} with {n_overlays} "
                         f"overlay(s) needs about {need:.2g} GB to explain and render (limit {limit:g} GB, set "
                         "VIDXAI_RENDER_MEMORY_GB); explain a part with --clip START:END, or downscale the video")
    return need


# -- model ------------------------------------------------------------------------------------------
def load_model(name: str, weights: str | None = "default", device: str | None = None):
    """A registry model, or a checkpoint file saved by :func:`vidxai.models.checkpoint.save`.

    Example::

        model = load_model("synthetic-tiny")
        model = load_model("runs/tiny.pt")  # rebuilds the registry entry the checkpoint names
    """
    from . import models

    w = None if str(weights).lower() in ("none", "random") else weights
    return models.load(name, weights=w, device=device)  # a checkpoint file rebuilds the entry it names


# -- clips ------------------------------------------------------------------------------------------
@dataclass
class Clips:
    """Model-ready windows of one video plus what is needed to draw on its original frames."""

    x: torch.Tensor  # (W, C, T, h, w) model input, one row per window
    windows: list[np.ndarray]  # source frame index of every window frame
    geometries: list[Any]
    frames: np.ndarray  # (N, H0, W0, 3) original frames that get rendered
    frame_indices: np.ndarray  # (N,) source index of each rendered frame
    fps: float
    mode: str
    info: VideoRecord = field(default_factory=VideoRecord)


def prepare_clips(path: str, spec, clip: str | tuple[int, int], num_frames: int, stride: int | None,
                  pad: bool | str = False) -> Clips:
    """Read the frames and build the model input: one clip, or sliding windows over the video for ``"all"``.

    Example::

        clips = prepare_clips("clip.mp4", model.spec, "all", 16, stride=8)
        clips.x.shape  # (num_windows, 3, 16, h, w)
    """
    try:
        return _prepare_clips(path, spec, clip, num_frames, stride, pad)
    except TooFewFramesError as e:
        if pad:
            raise
        msg = str(e).split("; pass pad")[0]
        raise TooFewFramesError(f"{msg}; use --pad repeat or --pad loop, or fewer --frames") from None


def _prepare_clips(path: str, spec, clip, num_frames: int, stride: int | None, pad) -> Clips:
    from . import io

    info = io.video_info(path)
    record = VideoRecord(path=str(path), codec=info.codec, fps=float(info.fps), num_frames=int(info.num_frames),
                         width=int(info.width), height=int(info.height), duration=float(info.duration))
    if clip == "all":
        return _sliding_clips(path, spec, info, record, num_frames, stride, pad)
    if isinstance(clip, tuple):
        start, end = clip
        end = info.num_frames if end == -1 else end
        if start >= info.num_frames:
            raise InputError(f"--clip {start}:{end} starts after the last frame ({info.num_frames} frames)")
        clip = (start, min(end, info.num_frames))
    prepared = io.load_clip(path, spec, clip=clip, num_frames=num_frames, pad=pad)
    geom = prepared.geometry
    idx = getattr(geom, "frame_indices", None)
    idx = np.arange(prepared.frames.shape[0]) if idx is None else np.asarray(idx, dtype=np.int64)
    mode = clip if isinstance(clip, str) else f"{clip[0]}:{clip[1]}"
    return Clips(prepared.tensor.unsqueeze(0), [idx], [geom], prepared.frames, idx,
                 float(prepared.fps or info.fps), mode, record)


def _sliding_clips(path: str, spec, info, record: VideoRecord, num_frames: int, stride: int | None, pad) -> Clips:
    """Every window of :func:`vidxai.io.iter_windows`; the frames from the first to the last window are kept."""
    from . import io

    stride = max(1, num_frames // 2) if stride is None else stride
    if stride < 1:
        raise InputError(f"--stride must be >= 1, got {stride}")
    windows, tensors, geometries, frames, seen, lo = [], [], [], None, None, 0
    for prepared in io.iter_windows(path, spec, stride, num_frames=num_frames, pad=pad):
        w = np.asarray(prepared.geometry.frame_indices, dtype=np.int64)
        if frames is None:  # windows come in order: the first starts lowest; none goes past the last frame
            lo = int(w.min())
            frames = np.zeros((int(info.num_frames) - lo,) + prepared.frames.shape[1:], dtype=prepared.frames.dtype)
            seen = np.zeros(frames.shape[0], dtype=bool)
        frames[w - lo], seen[w - lo] = prepared.frames, True
        windows.append(w)
        tensors.append(prepared.tensor)
        geometries.append(prepared.geometry)
    hi = int(max(w.max() for w in windows)) + 1
    frames, seen = frames[:hi - lo], seen[:hi - lo]
    if not seen.all():  # a stride longer than a window skips frames: they are shown (without heat) all the same
        missing = np.nonzero(~seen)[0] + lo
        frames[missing - lo] = io.read_frames(path, missing)
    return Clips(torch.stack(tensors), windows, geometries, frames, np.arange(lo, hi),
                 float(info.fps), "all", record)


# -- predict, explain, stitch -----------------------------------------------------------------------
def _chunks(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


@torch.no_grad()
def predict_windows(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Softmax probabilities of every window ``x`` (W, C, T, H, W) -> (W, num_classes).

    Example::

        probs = predict_windows(model, clips.x, batch_size=4)  # per window, e.g. for a timeline of classes
    """
    probs = []
    with model_state(model):
        for s in _chunks(x.shape[0], batch_size):
            probs.append(model(x[s].to(model.device)).float().softmax(1).cpu())
    return torch.cat(probs)


def predict_clips(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean softmax probabilities over the windows ``x`` (W, C, T, H, W) -> (num_classes,).

    Example::

        probs = predict_clips(model, clips.x, batch_size=4)
        probs.topk(5)
    """
    return predict_windows(model, x, batch_size).mean(0)


def explain_clips(model, clips: Clips, method: str, target: int, topk: int = 5, batch_size: int = 4,
                  params: dict[str, Any] | None = None, progress: bool = False) -> list:
    """Explain every window of ``clips`` for class ``target``, ``batch_size`` windows per call.

    Returns one :class:`vidxai.Explanation` per window.

    Example::

        exps = explain_clips(model, clips, "gradcam", target=3)
    """
    from tqdm.auto import tqdm

    from .api import explain_batch

    n = clips.x.shape[0]
    exps = []
    for s in tqdm(list(_chunks(n, batch_size)), desc=method, unit="batch", leave=False,
                  disable=not progress or n <= batch_size, file=sys.stderr):
        exps += explain_batch(model, clips.x[s], method=method, target=target, topk=topk,
                              geometries=clips.geometries[s], **(params or {}))
    return exps


def stitch(maps: Sequence[torch.Tensor], windows: Sequence[np.ndarray], frame_indices: np.ndarray) -> torch.Tensor:
    """Average per-window maps (each min-max normalised) over overlapping frames: -> (N, h, w) on ``frame_indices``.

    Example::

        heat = stitch([e.saliency for e in exps], clips.windows, clips.frame_indices)
    """
    n = len(frame_indices)
    pos = {int(f): i for i, f in enumerate(frame_indices)}
    acc = torch.zeros((n,) + tuple(maps[0].shape[-2:]), dtype=torch.float32)
    count = torch.zeros(n, dtype=torch.float32)
    for m, w in zip(maps, windows):
        m = m.float()
        m = minmax_per_clip(m[None])[0]
        rows = torch.tensor([pos[int(f)] for f in w], dtype=torch.long)
        acc.index_add_(0, rows, m)
        count.index_add_(0, rows, torch.ones(len(rows)))
    return acc / count.clamp_min(1)[:, None, None]


def stitch_labels(labels: Sequence[torch.Tensor], windows: Sequence[np.ndarray],
                  frame_indices: np.ndarray) -> torch.Tensor:
    """Per frame, the segmentation of the last window covering it (labels cannot be averaged); -1 = none."""
    pos = {int(f): i for i, f in enumerate(frame_indices)}
    out = torch.full((len(frame_indices),) + tuple(labels[0].shape[-2:]), -1, dtype=torch.long)
    for lab, w in zip(labels, windows):
        out[torch.tensor([pos[int(f)] for f in w], dtype=torch.long)] = lab.long()
    return out


# -- one run ----------------------------------------------------------------------------------------
@dataclass
class _Job:
    """The state one :func:`explain_video` call shares between its steps."""

    opts: ExplainOptions
    model: Any
    clips: Clips
    window_probs: torch.Tensor  # (W, K) softmax of every window
    targets: list[int]  # the explained classes (several with --target top3 or a list)
    predictions: list[Prediction]
    out: Path | None
    log: Callable[..., None]
    timings: dict[str, float]
    forward_s: float = 0.0  # measured seconds per forward of one window (for estimates)
    gt_boxes: np.ndarray | None = None
    gt_masks: np.ndarray | None = None
    outside: np.ndarray | None = None  # original pixels the model never saw

    @property
    def probs(self) -> torch.Tensor:
        return self.window_probs.mean(0)

    @property
    def target_index(self) -> int:
        return self.targets[0]

    @property
    def model_name(self) -> str:
        return getattr(self.model, "name", "") or type(self.model).__name__

    @property
    def target_name(self) -> str:
        return self.model.class_names[self.target_index]

    @property
    def n_windows(self) -> int:
        return self.clips.x.shape[0]

    @property
    def render_fps(self) -> float:
        return float(self.opts.fps or self.clips.fps or 8.0)

    @property
    def geometry(self):
        return self.clips.geometries[0]


@dataclass
class _Task:
    """One (method, class) pair: what one overlay shows."""

    method: str
    target: int
    several: bool  # several classes are explained: names and titles carry the class

    def key(self, job: _Job) -> str:
        return f"{self.method} ({job.model.class_names[self.target]})" if self.several else self.method

    def stem(self, job: _Job) -> str:
        name = slug(self.method)
        return f"{name}_{slug(job.model.class_names[self.target])}" if self.several else name

    def title(self, job: _Job) -> str:
        p = float(job.probs[self.target])
        return f"{self.method}: {job.model.class_names[self.target]} p={p:.2f}"


def _timed(timings: dict[str, float], key: str, fn: Callable, *args, **kwargs):
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return value


def _check_video(video: str | os.PathLike) -> tuple[str, Any]:
    """The path as a string and its :func:`vidxai.io.video_info`; fails fast (one line) on unreadable files."""
    from .io import video_info

    video = str(video)
    if not os.path.exists(video):
        raise VideoNotFoundError(f"video not found: {video}")
    return video, video_info(video)


def _check_out(out: Path) -> None:
    """Fail before any work when the output folder cannot be made or written (a file, a read-only folder)."""
    p = out
    while not p.exists():
        if p.is_symlink():  # a dangling link
            raise InputError(f"cannot write to --out {out}: {p} is a broken symbolic link")
        p = p.parent
    if not p.is_dir():
        raise InputError(f"--out {out} is not a folder: {p} is a file; give a folder path")
    if not os.access(p, os.W_OK | os.X_OK):
        raise InputError(f"cannot write to --out {out}: {p} is not writable (permission denied); "
                         "choose another folder")


def _get_model(model, opts: ExplainOptions):
    if isinstance(model, str):
        return load_model(model, opts.weights, opts.device)
    return model.to(opts.device) if opts.device is not None else model


def _num_frames(model, opts: ExplainOptions) -> int:
    spec = model.spec
    n = opts.frames or spec.num_frames
    if spec.fixed_frames and n != spec.num_frames:
        name = getattr(model, "name", "") or type(model).__name__
        raise InputError(f"{name} takes exactly {spec.num_frames} frames per clip; got --frames {n}")
    return n


def _predictions(model, probs: torch.Tensor, topk: int) -> list[Prediction]:
    top_p, top_i = probs.topk(min(topk, model.num_classes))
    return [Prediction(index=int(i), name=model.class_names[int(i)], probability=float(p))
            for p, i in zip(top_p, top_i)]


def _log_input(log: Callable[..., None], model, clips: Clips, video: str) -> None:
    name = getattr(model, "name", "") or type(model).__name__
    log(f"{name}: {model.spec.describe()} | {Path(video).name}: {clips.info.width}x{clips.info.height}, "
        f"{clips.info.num_frames} frames | clip {clips.mode}: {clips.x.shape[0]} window(s) of {clips.x.shape[2]} "
        "frames")


def _log_predictions(job: _Job) -> None:
    log = job.log
    log("predictions" + (" (mean over windows)" if job.n_windows > 1 else "") + ":")
    for r, p in enumerate(job.predictions, 1):
        log(f"  {r}. {p.name:<32} {p.probability:.3f}")
    classes = ", ".join(f"{t} {job.model.class_names[t]!r}" for t in job.targets)
    log(f"explaining class{'es' if len(job.targets) > 1 else ''} {classes} with {', '.join(job.opts.methods)}")


def _top_k(target) -> int | None:
    """K of a ``"topK"`` target (``"top3"``, ``"top-3"``), else None."""
    m = re.fullmatch(r"top-?(\d+)", target.strip().lower()) if isinstance(target, str) else None
    return int(m.group(1)) if m else None


def resolve_targets(model, target, probs: torch.Tensor) -> list[int]:
    """The classes to explain: None -> the top prediction; ``"topK"`` -> the K most probable; an index, a name,
    or a list of them (no duplicates).

    Example::

        resolve_targets(model, "top3", probs)      # [12, 40, 7]
        resolve_targets(model, ["yoga", 3], probs)  # [362, 3]
    """
    if target is None:
        return [int(probs.argmax())]
    k = _top_k(target)
    if k is not None:
        if not 1 <= k <= model.num_classes:
            raise InputError(f"--target top{k}: K must lie in [1, {model.num_classes}] (the model's classes)")
        return [int(i) for i in probs.topk(k).indices]
    items = list(target) if isinstance(target, (list, tuple)) else [target]
    if not items:
        raise InputError("--target lists no class")
    indices = [model.class_index(t) for t in items]
    if len(set(indices)) != len(indices):
        raise InputError(f"--target names a class twice: {', '.join(map(str, items))}")
    return indices


def _ground_truth(job: _Job, boxes, masks) -> None:
    """Ground truth on the rendered frames, and the original pixels cropped away before the model."""
    if boxes is not None:
        job.gt_boxes = np.asarray(boxes, dtype=np.float32)[job.clips.frame_indices]
    if masks is not None:
        job.gt_masks = np.asarray(masks, dtype=bool)[job.clips.frame_indices]
    if job.geometry is not None:
        crop_ones = torch.ones((1,) + tuple(job.clips.x.shape[-2:]))
        outside = job.geometry.to_original(crop_ones)[0].numpy() <= 0
        job.outside = outside if outside.any() else None


# -- per method -------------------------------------------------------------------------------------
#: parameters that count repeated model passes (samples, steps, masks...): used only for time estimates
_PASS_PARAMS = ("n_samples", "samples", "num_samples", "n_steps", "steps", "n_masks", "iterations", "n_iter")


def _estimate_explain_s(job: _Job, method: str, params: dict[str, Any]) -> float:
    """A rough upper estimate of one method's time: forward+backward (~3 forwards) per model pass."""
    from . import methods as registry
    from .errors import VidxaiError

    cls = registry.get(method)
    try:  # the settings the method will run with (defaults, its preset, the given values)
        settings = cls.resolve_params(**params) if hasattr(cls, "resolve_params") else dict(params)
    except VidxaiError:
        settings = dict(params)
    counts = [v for k in _PASS_PARAMS for v in [settings.get(k)] if isinstance(v, int) and v > 0]
    return 3.0 * job.forward_s * job.n_windows * max(counts, default=1)


def _score(job: _Job, task: _Task, exps: list, entry: MethodResult):
    """Deletion/insertion curves of the maps (the options' protocol); the mean scores go into ``entry``."""
    from .metrics import deletion_insertion

    proto = job.opts.curve_protocol()
    forwards = 2 * proto["steps"] * job.n_windows  # the intact and the fully removed clip serve both curves
    estimate = forwards * job.forward_s
    if estimate > 10:
        job.log(f"  {task.key(job)}: deletion/insertion, {proto['name']} protocol ({proto['steps']} steps, "
                f"{forwards} forwards): about {estimate:.0f} s")
    sal = torch.stack([e.saliency for e in exps])
    t0 = time.perf_counter()
    cr = _timed(job.timings, "metrics_s", deletion_insertion, job.model, job.clips.x, sal,
                target=[task.target] * job.n_windows, steps=proto["steps"], baseline=proto["baseline"],
                mode=proto["mode"], seed=job.opts.seed, progress=not job.opts.quiet and estimate > 10)
    entry.deletion_auc = float(cr.deletion_auc.float().mean())
    entry.insertion_auc = float(cr.insertion_auc.float().mean())
    entry.combined = float(cr.combined.float().mean())
    entry.curves = {"fractions": cr.fractions.tolist(), "deletion": cr.deletion.float().mean(0).tolist(),
                    "insertion": cr.insertion.float().mean(0).tolist()}
    entry.curve_protocol = {**proto, "clip": list(job.clips.x.shape[1:]), "windows": job.n_windows,
                            "seed": job.opts.seed}
    # the first forward (the prediction) is slower than warm ones: later estimates use the measured curves
    job.forward_s = (time.perf_counter() - t0) / forwards
    return cr


def _heat(job: _Job, maps: torch.Tensor) -> np.ndarray:
    """Maps ``(N, h, w)`` in [0, 1] at the original resolution."""
    from . import render

    g = job.geometry
    heat = g.to_original(maps).numpy() if g is not None else render.resize_maps(maps, job.clips.frames.shape[1:3])
    return np.clip(heat, 0, 1)


def _decorate(job: _Job, frames: np.ndarray, title: str) -> np.ndarray:
    from . import render

    if job.gt_boxes is not None:
        frames = render.draw_boxes(frames, job.gt_boxes, color=(0, 255, 0), thickness=1)
    frames = render.label_frames(frames, title)
    return render.label_frames(frames, [f"frame {int(i)}" for i in job.clips.frame_indices], position="bottom")


def _save_rel(job: _Job, stem: str, frames: np.ndarray) -> str:
    """Encode ``frames`` as ``out/stem.<fmt>`` (timed as ``encode_s``, a part of ``render_s``); the relative path."""
    from .render import save_video

    big = frames.size > ENCODE_PROGRESS_BYTES  # several seconds of encoding: show a bar with an ETA
    path = _timed(job.timings, "encode_s", save_video, job.out / stem, frames, fps=job.render_fps, fmt=job.opts.fmt,
                  progress=big and not job.opts.quiet)
    rel = path.relative_to(job.out).as_posix()
    return rel + "/" if path.is_dir() else rel


def _render_method(job: _Job, task: _Task, exps: list, heat: np.ndarray, entry: MethodResult) -> np.ndarray:
    """Write the overlay (and supervoxel borders) of one method; returns the overlay frames."""
    from . import render

    c = job.clips
    over = render.blend(c.frames, render.colorize(heat, job.opts.colormap), job.opts.alpha)
    if job.outside is not None:  # the model never saw these pixels: show them untouched
        over[:, job.outside] = c.frames[:, job.outside]
    stem = task.stem(job)
    entry.overlay = _save_rel(job, f"overlay_{stem}", _decorate(job, over, task.title(job)))
    if all(e.segmentation is not None for e in exps):
        labels = stitch_labels([e.segmentation for e in exps], c.windows, c.frame_indices)
        if job.geometry is not None:
            labels = render.labels_to_original(labels, job.geometry)
        bounds = render.draw_boundaries(over, labels, color=(255, 255, 255), alpha=0.7)
        entry.boundaries = _save_rel(job, f"boundaries_{stem}", _decorate(job, bounds, f"{task.method} supervoxels"))
        entry.num_segments = int(torch.unique(labels[labels >= 0]).numel())
    return over


def _save_explanation(job: _Job, task: _Task, exps: list, maps: torch.Tensor) -> str:
    name = f"{task.stem(job)}.npz"
    if job.n_windows == 1:
        return exps[0].save(job.out / name).name
    arrays = {"saliency": maps.numpy(), "frame_indices": job.clips.frame_indices}
    atomic_write(job.out / name, lambda f: np.savez_compressed(f, **arrays))
    return name


def _draw(job: _Job, task: _Task, exps: list, entry: MethodResult) -> np.ndarray | None:
    """Stitch, record the frame timeline, measure the share on the ground truth, and render and save."""
    from .render.colormaps import default_normalization, describe_normalization, normalize_maps

    maps = stitch([e.saliency for e in exps], job.clips.windows, job.clips.frame_indices)
    entry.frame_importance = [round(float(v), 6) for v in maps.float().mean((1, 2))]
    if job.gt_masks is not None:  # on the map itself, not on its display scaling
        raw = _heat(job, maps)
        total = float(raw.sum())
        entry.on_target = float(raw[job.gt_masks].sum() / total) if total > 0 else float("nan")
    if job.out is None:
        return None
    o = job.opts
    mode = default_normalization(task.method) if o.normalize == "auto" else o.normalize
    entry.normalization = describe_normalization(mode, o.percentile)
    heat = _heat(job, normalize_maps(maps, mode=mode, percentile=o.percentile))
    over = _render_method(job, task, exps, heat, entry)
    entry.explanation = _save_explanation(job, task, exps, maps)
    return over


def _run_method(job: _Job, task: _Task) -> tuple[MethodResult, list, Any, np.ndarray | None]:
    """Explain, score and draw one (method, class) pair."""
    from . import methods as registry

    o, method = job.opts, task.method
    params = o.params.get(method, {})
    estimate = _estimate_explain_s(job, method, params)
    if estimate > 10:
        job.log(f"  {task.key(job)}: explaining, about {estimate:.0f} s (estimate)")
        if not o.quiet and "progress" not in params:
            from .attribution.base import method_parameters

            if "progress" in method_parameters(method):  # the method's own bar (samples, steps) with an ETA
                params = {**params, "progress": True}
    t0 = time.perf_counter()
    exps = explain_clips(job.model, job.clips, method, task.target, min(o.topk, job.model.num_classes),
                         o.batch_size, params, progress=not o.quiet)
    dt = time.perf_counter() - t0
    job.timings["explain_s"] += dt
    p = float(job.probs[task.target])
    entry = MethodResult(name=method, description=registry.describe(method),
                         params=to_jsonable(o.params.get(method, {})), timing_s=dt, timing_per_window_s=dt / job.n_windows)
    if task.several:
        entry.target = {"index": task.target, "name": job.model.class_names[task.target], "probability": p}
    curves = _score(job, task, exps, entry) if o.curve_protocol() else None
    t0 = time.perf_counter()
    over = _draw(job, task, exps, entry)
    job.timings["render_s"] += time.perf_counter() - t0
    return entry, exps, curves, over


def _method_line(job: _Job, task: _Task, entry: MethodResult) -> str:
    bits = [f"{entry.timing_s:.2f} s"]
    if entry.deletion_auc is not None:
        bits.append(f"deletion AUC {entry.deletion_auc:.3f}, insertion AUC {entry.insertion_auc:.3f} "
                    f"({entry.curve_protocol['name']}, {entry.curve_protocol['steps']} steps)")
    if entry.on_target is not None:
        bits.append(f"{100 * entry.on_target:.0f}% of the saliency on the ground truth")
    return f"  {task.key(job)}: " + "; ".join(bits)


def _run_methods(job: _Job) -> tuple[list[MethodResult], dict[str, list], dict[str, Any], dict[str, np.ndarray]]:
    """Every (class, method) pair in turn, with a progress bar when there are several.

    Results are keyed by :meth:`_Task.key` (the method name, plus the class when several are explained).
    """
    from tqdm.auto import tqdm

    o = job.opts
    tasks = [_Task(m, t, len(job.targets) > 1) for t in job.targets for m in o.methods]
    entries, explanations, curves, overlays = [], {}, {}, {}
    job.timings.update(explain_s=0.0, metrics_s=0.0, render_s=0.0, encode_s=0.0)
    bar = tqdm(tasks, desc="explain", unit="method", disable=o.quiet or len(tasks) < 2, file=sys.stderr)
    for task in bar:
        key = task.key(job)
        bar.set_postfix_str(key)
        entry, explanations[key], cr, over = _run_method(job, task)
        entries.append(entry)
        if cr is not None:
            curves[key] = cr
        if over is not None:
            overlays[key] = over
        if not o.quiet:
            (bar.write if len(tasks) > 1 else job.log)(_method_line(job, task, entry))
    bar.close()
    return entries, explanations, curves, overlays


# -- summary outputs and the record -----------------------------------------------------------------
def _write_grid(job: _Job, overlays: dict[str, np.ndarray], normalizations: Sequence[str]) -> str:
    """Input and every overlay side by side with a colour bar below; titles go in the grid's bars, frame numbers
    on the input cell."""
    from . import render
    from .render.colorbars import add_colorbar

    h0, w0 = job.clips.frames.shape[1:3]
    ch = min(max(h0, MIN_CELL_HEIGHT), MAX_CELL_HEIGHT)
    cw = max(2, int(round(w0 * ch / h0)))

    def boxed(v: np.ndarray) -> np.ndarray:
        if job.gt_boxes is None:
            return v
        return render.draw_boxes(v, job.gt_boxes, color=(0, 255, 0), thickness=1)

    frame_labels = [f"frame {int(i)}" for i in job.clips.frame_indices]
    cells = [render.label_frames(boxed(job.clips.frames), frame_labels, position="bottom")]
    cells += [boxed(v) for v in overlays.values()]
    grid = render.grid(cells, titles=["input", *overlays], cell_size=(ch, cw),
                       cols=len(cells) if len(cells) <= 4 else None)
    kinds = sorted(set(normalizations))
    grid = add_colorbar(grid, job.opts.colormap, kinds[0] if len(kinds) == 1 else "display scaling per method")
    return _save_rel(job, "grid", grid)


def _write_summary(job: _Job, overlays: dict[str, np.ndarray], curves: dict[str, Any], video: str,
                   entries: Sequence[MethodResult]) -> dict:
    """The grid (several overlays) and the curve plot; returns ``outputs`` (name -> relative path)."""
    from . import render

    outputs: dict[str, str] = {}
    if job.out is None:
        return outputs
    t0 = time.perf_counter()
    if len(overlays) > 1:
        outputs["grid"] = _write_grid(job, overlays, [e.normalization or "minmax" for e in entries])
    if curves:
        proto = job.opts.curve_protocol()
        render.plot_curves(curves, job.out / "curves.png",
                           title=f"{job.model_name}: {job.target_name} ({Path(video).name}); "
                                 f"{proto['name']} protocol, {proto['steps']} steps, {proto['baseline']} baseline")
        outputs["curves"] = "curves.png"
    job.timings["render_s"] += time.perf_counter() - t0
    return outputs


def _versions() -> dict[str, str]:
    import av
    import torchvision

    from . import __version__

    return {"vidxai": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "av": av.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def _params(job: _Job, n: int) -> dict[str, Any]:
    o = job.opts
    return {"methods": list(o.methods), "method_params": o.params, "alpha": o.alpha, "colormap": o.colormap,
            "topk": o.topk, "clip": o.clip if isinstance(o.clip, str) else list(o.clip), "frames": n,
            "stride": o.stride, "pad": o.pad, "batch_size": o.batch_size, "seed": o.seed,
            "device": str(job.model.device), "curves": o.curve_protocol(), "normalize": o.normalize,
            "percentile": o.percentile, "layer": o.layer, "targets": list(job.targets)}


def _record(job: _Job, entries: list[MethodResult], outputs: dict[str, str], n: int) -> ExplainResult:
    """The record, with JSON-ready values (lists, not tuples) so it equals what ``load`` reads back."""
    c, m, g = job.clips, job.model, job.geometry
    clip = ClipRecord(mode=c.mode, num_windows=job.n_windows, window_frames=int(c.x.shape[2]),
                      frame_indices=[int(i) for i in c.frame_indices],
                      windows=[[int(w[0]), int(w[-1]) + 1] for w in c.windows],
                      geometry=g.to_dict() if hasattr(g, "to_dict") else None)
    if job.n_windows > 1:
        k = min(job.opts.topk, m.num_classes)
        clip.window_predictions = [
            {"frames": [int(w[0]), int(w[-1]) + 1], "predictions": [p.to_dict() for p in _predictions(m, wp, k)]}
            for w, wp in zip(c.windows, job.window_probs)]
    return ExplainResult(
        schema=SCHEMA, created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), video=c.info,
        model=ModelRecord(name=job.model_name, weights=getattr(m, "weights", None), input=m.spec.describe(),
                          spec=to_jsonable(m.spec.to_dict()), num_classes=m.num_classes),
        clip=clip,
        target=TargetRecord(index=job.target_index, name=job.target_name,
                            probability=float(job.probs[job.target_index]),
                            requested="top1" if job.opts.target is None else job.opts.target),
        predictions=job.predictions, methods=entries, outputs=outputs, format=job.opts.fmt, fps=job.render_fps,
        params=to_jsonable(_params(job, n)), timings=job.timings, versions=_versions())


def _save(result: ExplainResult, out: Path, html: bool, log: Callable[..., None]) -> None:
    result.save(out / RESULT_FILE)
    if html:
        from .render import write_report

        result.outputs["report"] = write_report(out, result).name
        result.save(out / RESULT_FILE)
    written = [m.overlay for m in result.methods] + list(result.outputs.values()) + [RESULT_FILE]
    log(f"wrote {out}/: " + ", ".join(written))


# -- the entry point --------------------------------------------------------------------------------
def explain_video(video: str | os.PathLike, model: str | Any = DEFAULT_MODEL, *,
                  options: ExplainOptions | None = None, out: str | os.PathLike | None = DEFAULT_OUT,
                  boxes: np.ndarray | None = None, masks: np.ndarray | None = None, extra: dict | None = None,
                  **settings: Any) -> ExplainResult:
    """Explain ``video`` with each method and write the outputs into ``out``; returns the :class:`ExplainResult`.

    Args:
        video: a video file (anything PyAV decodes).
        model: a registry name, a checkpoint path or a loaded :class:`vidxai.VideoModel`.
        options: the settings (:class:`ExplainOptions`); keyword ``settings`` override single fields
            (``methods=[...]``, ``clip="all"``, ...).
        out: output folder for overlays, grid, curves, ``<method>.npz`` and ``result.json``; None writes
            nothing (the result still has predictions, scores and the explanations in memory).
        boxes: ``(N, 4)`` xyxy ground-truth boxes on the source frames (indexed by frame number), drawn
            on the overlays.
        masks: ``(N, H0, W0)`` bool ground-truth masks; the share of saliency inside is ``on_target``.
        extra: more top-level entries for ``result.json``.

    Raises:
        InputError: bad settings (checked before the model is loaded), VideoNotFoundError, TooFewFramesError.

    Example::

        result = explain_video("clip.mp4", "synthetic-tiny", methods=["gradient"], clip="all", out="out/")
        result.methods[0].overlay  # 'overlay_gradient.mp4'
    """
    opts = dataclasses.replace(options or ExplainOptions(), **settings).resolved()
    log = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
    video, info = _check_video(video)
    if out is not None:
        _check_out(Path(out))
    timings: dict[str, float] = {}
    model = _timed(timings, "load_model_s", _get_model, model, opts)
    return _explain_loaded(video, info, model, opts, out, log, timings, boxes=boxes, masks=masks, extra=extra)


def _overlay_count(opts: ExplainOptions) -> int:
    """Overlays one run draws: one per (method, explained class); ``"topK"`` explains K classes."""
    target = opts.target
    classes = len(target) if isinstance(target, (list, tuple)) else (_top_k(target) or 1)
    return len(opts.methods) * classes


def _explain_loaded(video: str, info, model, opts: ExplainOptions, out, log: Callable[..., None],
                    timings: dict[str, float], boxes=None, masks=None, extra: dict | None = None) -> ExplainResult:
    """:func:`explain_video` after the checks and the model load (shared with :func:`explain_videos`)."""
    t_start = time.perf_counter() - timings.get("load_model_s", 0.0)
    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed % (2**32))
    n = _num_frames(model, opts)
    if out is not None:
        check_render_memory(info, model.spec, n, opts, _overlay_count(opts))
    pad = False if opts.pad in (None, "none", False) else opts.pad
    clips = _timed(timings, "read_s", prepare_clips, video, model.spec, opts.clip, n, opts.stride, pad=pad)
    _log_input(log, model, clips, video)
    window_probs = _timed(timings, "predict_s", predict_windows, model, clips.x, opts.batch_size)
    predictions = _predictions(model, window_probs.mean(0), opts.topk)
    targets = resolve_targets(model, opts.target, window_probs.mean(0))
    out = None if out is None else Path(out)
    job = _Job(opts, model, clips, window_probs, targets, predictions, out, log, timings,
               forward_s=timings["predict_s"] / clips.x.shape[0])
    if not opts.quiet:
        _log_predictions(job)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    _ground_truth(job, boxes, masks)
    entries, explanations, curves, overlays = _run_methods(job)
    outputs = _write_summary(job, overlays, curves, video, entries)
    result = _record(job, entries, outputs, n)
    result.extra.update(extra or {})
    result.explanations = explanations
    timings["total_s"] = time.perf_counter() - t_start
    if out is not None:
        _save(result, out, opts.html, log)
    return result


# -- many videos ------------------------------------------------------------------------------------
def find_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Video files named by ``paths``: files as given, folders searched recursively (sorted); InputError if none.

    Example::

        find_videos(["a.mp4", "clips/"])  # [Path('a.mp4'), Path('clips/b.avi'), Path('clips/c.mp4')]
    """
    from .data.video_datasets import VIDEO_EXTENSIONS, videos_under

    found: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            inside = videos_under(item)
            if not inside:
                raise InputError(f"no videos ({', '.join(VIDEO_EXTENSIONS)}) under {item}")
            found += inside
        elif item.exists():
            found.append(item)
        else:
            raise VideoNotFoundError(f"video not found: {item}")
    if not found:
        raise InputError("no videos given")
    return list(dict.fromkeys(found))


def _out_names(videos: Sequence[Path]) -> list[str]:
    """One output folder name per video: its stem, with the parent folder added where stems collide."""
    stems = [v.stem for v in videos]
    names = [f"{v.parent.name}_{v.stem}" if stems.count(v.stem) > 1 else v.stem for v in videos]
    return [f"{name}_{i}" if names.count(name) > 1 else name for i, name in enumerate(names)]


def explain_videos(videos: Sequence[str | os.PathLike], model: str | Any = DEFAULT_MODEL, *,
                   options: ExplainOptions | None = None, out: str | os.PathLike = DEFAULT_OUT,
                   **settings: Any) -> list[ExplainResult | None]:
    """Explain several videos with one model load: one output folder each under ``out`` and a summary table.

    ``out/summary.json`` and ``out/summary.md`` list every video with its top prediction, explained class and
    AUCs. A video that fails (unreadable, too short...) is reported there and skipped; the others go on, and
    an :class:`~vidxai.errors.InputError` naming the failures is raised at the end.

    Example::

        results = explain_videos(["a.mp4", "clips/"], "synthetic-tiny", methods=["gradcam"], out="out/")
        # out/a/result.json, out/b/result.json, ..., out/summary.md
    """
    opts = dataclasses.replace(options or ExplainOptions(), **settings).resolved()
    log = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
    paths = find_videos(videos)
    out = Path(out)
    _check_out(out)
    timings: dict[str, float] = {}
    model = _timed(timings, "load_model_s", _get_model, model, opts)
    results: list[ExplainResult | None] = []
    failures: list[str] = []
    names = _out_names(paths)
    for i, (path, name) in enumerate(zip(paths, names), 1):
        log(f"[{i}/{len(paths)}] {path}")
        try:
            video, info = _check_video(path)
            results.append(_explain_loaded(video, info, model, opts, out / name, log, dict(timings)))
        except VidxaiError as e:
            log(f"vidxai: error: {path}: {e}")
            failures.append(f"{path.name} ({e})")
            results.append(None)
        timings = {}  # the model load counts once, for the first video
    _write_videos_summary(out, paths, names, results, log)
    if failures:
        raise InputError(f"{len(failures)} of {len(paths)} videos failed: {'; '.join(failures)}")
    return results


def _entry_key(entry: MethodResult) -> str:
    return f"{entry.name} ({entry.target['name']})" if entry.target else str(entry.name)


def _write_videos_summary(out: Path, paths: Sequence[Path], names: Sequence[str],
                          results: Sequence[ExplainResult | None], log: Callable[..., None]) -> None:
    """``summary.json`` and ``summary.md`` of :func:`explain_videos`, and the table on the console."""
    import json

    rows = []
    for path, name, r in zip(paths, names, results):
        row: dict[str, Any] = {"video": str(path), "out": name, "ok": r is not None}
        if r is not None:
            row.update(prediction=r.predictions[0].name, probability=round(r.predictions[0].probability, 4),
                       target=r.target.name, seconds=round(r.timings["total_s"], 1),
                       methods={_entry_key(m): {"deletion_auc": m.deletion_auc, "insertion_auc": m.insertion_auc}
                                for m in r.methods})
        rows.append(row)
    text = json.dumps({"schema": "vidxai.explain-summary/1", "videos": rows}, indent=2)
    atomic_write(out / "summary.json", lambda f: f.write(text.encode()))
    lines = ["| video | prediction | p | explained | seconds | AUCs (deletion / insertion) |",
             "|---|---|---|---|---|---|"]
    for row in rows:
        if not row["ok"]:
            lines.append(f"| {row['video']} | failed | | | | |")
            continue
        aucs = ", ".join(f"{m} {v['deletion_auc']:.3f} / {v['insertion_auc']:.3f}" if v["deletion_auc"] is not None
                         else m for m, v in row["methods"].items())
        lines.append(f"| [{row['video']}]({row['out']}/) | {row['prediction']} | {row['probability']:.3f} | "
                     f"{row['target']} | {row['seconds']} | {aucs} |")
    md = "\n".join(lines) + "\n"
    atomic_write(out / "summary.md", lambda f: f.write(md.encode()))
    log("\n" + md + f"wrote {out}/summary.md and summary.json")
