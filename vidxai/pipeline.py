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

from .core.runtime import atomic_write, check_device, model_state, to_jsonable
from .core.tensor import minmax_per_clip
from .errors import InputError, TooFewFramesError, VideoNotFoundError
# The record lives in vidxai.result (below the pipeline and render); re-exported here for compatibility.
from .result import (RESULT_FILE, SCHEMA, ClipRecord, ExplainResult, MethodResult, ModelRecord,  # noqa: F401
                     Prediction, TargetRecord, VideoRecord)

__all__ = ["explain_video", "ExplainOptions", "ExplainResult", "MethodResult", "Prediction", "VideoRecord",
           "ModelRecord", "ClipRecord", "TargetRecord", "Clips", "prepare_clips", "predict_clips", "explain_clips",
           "stitch", "stitch_labels", "load_model", "parse_clip", "check_render_memory", "slug", "SCHEMA",
           "RESULT_FILE", "DEFAULT_MODEL", "DEFAULT_OUT"]

DEFAULT_MODEL = "i3d"
DEFAULT_OUT = "vidxai-out"
MAX_CELL_HEIGHT = 360  # grid cells are scaled down to this height so grids of HD videos stay small
MIN_CELL_HEIGHT = 224  # and small clips are scaled up so titles and heat stay legible
RENDER_MEMORY_GB = 8.0  # default cap on the frames held for clip="all" renders


# -- options ----------------------------------------------------------------------------------------
@dataclass
class ExplainOptions:
    """The settings of :func:`explain_video` (each mirrors a ``vidxai explain`` option).

    Attributes:
        methods: method names (default: :func:`vidxai.methods.default_method`).
        params: ``{method: {key: value}}`` extra method parameters.
        weights: ``"default"``, ``"none"`` (random), a named weight set or a checkpoint path.
        target: class to explain: None (the top prediction), an index or a class name.
        topk: predictions recorded.
        clip: ``"centre"``, ``"uniform"``, ``"all"`` (sliding windows, maps stitched), ``(start, end)`` or
            ``"START:END"``.
        frames: frames per clip (default: the model's). stride: window stride for ``clip="all"`` (default half
            a window). pad: ``"none"``, ``"repeat"`` or ``"loop"`` for videos shorter than a clip.
        batch_size: windows explained per call. fmt: ``"mp4"``, ``"gif"`` or ``"png"``. alpha, colormap, fps:
            overlay opacity, colour map and frame rate (default: the video's). device: torch device.
        seed: random seed. curves, curve_steps, curve_baseline: deletion/insertion curves. html: also write
            ``report.html``. quiet: no progress bars or printing.

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
    curves: bool = True
    curve_steps: int = 28
    curve_baseline: str = "zero"
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
        opts = dataclasses.replace(self, methods=methods, params=self.params or {m: {} for m in methods}, clip=clip)
        opts._check_ranges()
        check_device(opts.device)
        return opts

    def _check_ranges(self) -> None:
        from . import render

        checks = [(0.0 <= self.alpha <= 1.0, f"--alpha must lie in [0, 1], got {self.alpha}"),
                  (self.topk >= 1, f"--topk must be >= 1, got {self.topk}"),
                  (self.frames is None or self.frames >= 1, f"--frames must be >= 1, got {self.frames}"),
                  (self.stride is None or self.stride >= 1, f"--stride must be >= 1, got {self.stride}"),
                  (self.fps is None or self.fps > 0, f"--fps must be positive, got {self.fps}"),
                  (self.curve_steps >= 1, f"--curve-steps must be >= 1, got {self.curve_steps}"),
                  (self.batch_size >= 1, f"--batch-size must be >= 1, got {self.batch_size}"),
                  (self.fmt in render.FORMATS,
                   f"unknown --format {self.fmt!r}; choose from {', '.join(render.FORMATS)}")]
        for ok, message in checks:
            if not ok:
                raise InputError(message)
        render.lut(self.colormap)


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


def check_render_memory(info, n_methods: int) -> None:
    """Refuse ``clip="all"`` renders that would not fit in memory (frames + one overlay per method + grid).

    The limit is ``$VIDXAI_RENDER_MEMORY_GB`` (default 8 GB).
    """
    limit = float(os.environ.get("VIDXAI_RENDER_MEMORY_GB", RENDER_MEMORY_GB))
    copies = 2 + n_methods + (n_methods > 1)
    need = info.num_frames * info.width * info.height * 3 * copies / 1e9
    if need > limit:
        raise InputError(f"--clip all on {info.num_frames} frames of {info.width}x{info.height} with {n_methods} "
                         f"method(s) needs about {need:.1f} GB to render (limit {limit:g} GB, set "
                         f"VIDXAI_RENDER_MEMORY_GB); explain a part with --clip START:END")


# -- model ------------------------------------------------------------------------------------------
def load_model(name: str, weights: str | None = "default", device: str | None = None):
    """A registry model, or a checkpoint file saved by :func:`vidxai.models.checkpoint.save`.

    Example::

        model = load_model("synthetic-tiny")
        model = load_model("runs/tiny.pt")  # rebuilds the registry entry the checkpoint names
    """
    from . import models

    w = None if str(weights).lower() in ("none", "random") else weights
    if name not in models.list() and os.path.isfile(name):
        # a file from vidxai.models.checkpoint.save names its registry entry: rebuild that with these weights
        from .errors import CorruptCheckpointError

        try:
            payload = torch.load(name, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
            import pickle

            reason = ("not a file saved by torch.save, or a corrupt one" if isinstance(e, pickle.UnpicklingError)
                      else (str(e).strip().splitlines() or [type(e).__name__])[0])
            raise CorruptCheckpointError(f"cannot read checkpoint {name}: {reason}") from None
        entry = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(entry, str) or entry not in models.list():
            raise InputError(f"checkpoint {name} does not name a registered model; use --model NAME --weights {name}")
        return models.load(entry, weights=name, device=device)
    return models.load(name, weights=w, device=device)


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
def predict_clips(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean softmax probabilities over the windows ``x`` (W, C, T, H, W) -> (num_classes,).

    Example::

        probs = predict_clips(model, clips.x, batch_size=4)
        probs.topk(5)
    """
    probs = []
    with model_state(model):
        for s in _chunks(x.shape[0], batch_size):
            probs.append(model(x[s].to(model.device)).float().softmax(1).cpu())
    return torch.cat(probs).mean(0)


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
    probs: torch.Tensor
    target_index: int
    predictions: list[Prediction]
    out: Path | None
    log: Callable[..., None]
    timings: dict[str, float]
    gt_boxes: np.ndarray | None = None
    gt_masks: np.ndarray | None = None
    outside: np.ndarray | None = None  # original pixels the model never saw

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


def _timed(timings: dict[str, float], key: str, fn: Callable, *args, **kwargs):
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    timings[key] = timings.get(key, 0.0) + time.perf_counter() - t0
    return value


def _check_video(video: str | os.PathLike, opts: ExplainOptions, render: bool) -> str:
    from .io import video_info

    video = str(video)
    if not os.path.exists(video):
        raise VideoNotFoundError(f"video not found: {video}")
    info = video_info(video)  # fails fast (one line) on unreadable files
    if opts.clip == "all" and render:
        check_render_memory(info, len(opts.methods))
    return video


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
    log(f"explaining class {job.target_index} {job.target_name!r} with {', '.join(job.opts.methods)}")


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
def _score(job: _Job, exps: list, entry: MethodResult, progress: bool):
    """Deletion/insertion curves of the maps; the mean scores go into ``entry``."""
    from .metrics import deletion_insertion

    o = job.opts
    sal = torch.stack([e.saliency for e in exps])
    cr = _timed(job.timings, "metrics_s", deletion_insertion, job.model, job.clips.x, sal,
                target=[job.target_index] * job.n_windows, steps=o.curve_steps, baseline=o.curve_baseline,
                seed=o.seed, progress=progress)
    entry.deletion_auc = float(cr.deletion_auc.float().mean())
    entry.insertion_auc = float(cr.insertion_auc.float().mean())
    entry.combined = float(cr.combined.float().mean())
    entry.curves = {"fractions": cr.fractions.tolist(), "deletion": cr.deletion.float().mean(0).tolist(),
                    "insertion": cr.insertion.float().mean(0).tolist()}
    return cr


def _heat(job: _Job, maps: torch.Tensor) -> np.ndarray:
    """Stitched maps at the original resolution, clipped to [0, 1]."""
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


def _save_rel(out: Path, stem: str, frames: np.ndarray, fps: float, fmt: str) -> str:
    from .render import save_video

    path = save_video(out / stem, frames, fps=fps, fmt=fmt)
    rel = path.relative_to(out).as_posix()
    return rel + "/" if path.is_dir() else rel


def _render_method(job: _Job, method: str, exps: list, heat: np.ndarray, entry: MethodResult) -> np.ndarray:
    """Write the overlay (and supervoxel borders) of one method; returns the overlay frames."""
    from . import render

    c, fps, fmt = job.clips, job.render_fps, job.opts.fmt
    over = render.blend(c.frames, render.colorize(heat, job.opts.colormap), job.opts.alpha)
    if job.outside is not None:  # the model never saw these pixels: show them untouched
        over[:, job.outside] = c.frames[:, job.outside]
    title = f"{method}: {job.target_name} p={float(job.probs[job.target_index]):.2f}"
    entry.overlay = _save_rel(job.out, f"overlay_{slug(method)}", _decorate(job, over, title), fps, fmt)
    if all(e.segmentation is not None for e in exps):
        labels = stitch_labels([e.segmentation for e in exps], c.windows, c.frame_indices)
        if job.geometry is not None:
            labels = render.labels_to_original(labels, job.geometry)
        bounds = render.draw_boundaries(over, labels, color=(255, 255, 255), alpha=0.7)
        entry.boundaries = _save_rel(job.out, f"boundaries_{slug(method)}",
                                     _decorate(job, bounds, f"{method} supervoxels"), fps, fmt)
        entry.num_segments = int(torch.unique(labels[labels >= 0]).numel())
    return over


def _save_explanation(job: _Job, method: str, exps: list, maps: torch.Tensor) -> str:
    name = f"{slug(method)}.npz"
    if job.n_windows == 1:
        return exps[0].save(job.out / name).name
    arrays = {"saliency": maps.numpy(), "frame_indices": job.clips.frame_indices}
    atomic_write(job.out / name, lambda f: np.savez_compressed(f, **arrays))
    return name


def _draw(job: _Job, method: str, exps: list, entry: MethodResult) -> np.ndarray | None:
    """Stitch, measure the share on the ground truth, and (with an output folder) render and save."""
    if job.out is None and job.gt_masks is None:
        return None
    maps = stitch([e.saliency for e in exps], job.clips.windows, job.clips.frame_indices)
    heat = _heat(job, maps)
    over = None
    if job.out is not None:
        over = _render_method(job, method, exps, heat, entry)
    if job.gt_masks is not None:
        total = float(heat.sum())
        entry.on_target = float(heat[job.gt_masks].sum() / total) if total > 0 else float("nan")
    if job.out is not None:
        entry.explanation = _save_explanation(job, method, exps, maps)
    return over


def _run_method(job: _Job, method: str, heavy: bool) -> tuple[MethodResult, list, Any, np.ndarray | None]:
    """Explain, score and draw one method."""
    from . import methods as registry

    o = job.opts
    params = o.params.get(method, {})
    t0 = time.perf_counter()
    exps = explain_clips(job.model, job.clips, method, job.target_index, min(o.topk, job.model.num_classes),
                         o.batch_size, params, progress=not o.quiet)
    dt = time.perf_counter() - t0
    job.timings["explain_s"] += dt
    entry = MethodResult(name=method, description=registry.describe(method), params=to_jsonable(params), timing_s=dt,
                         timing_per_window_s=dt / job.n_windows)
    curves = _score(job, exps, entry, progress=not o.quiet and heavy) if o.curves else None
    t0 = time.perf_counter()
    over = _draw(job, method, exps, entry)
    job.timings["render_s"] += time.perf_counter() - t0
    return entry, exps, curves, over


def _method_line(entry: MethodResult) -> str:
    bits = [f"{entry.timing_s:.2f} s"]
    if entry.deletion_auc is not None:
        bits.append(f"deletion AUC {entry.deletion_auc:.3f}, insertion AUC {entry.insertion_auc:.3f}")
    if entry.on_target is not None:
        bits.append(f"{100 * entry.on_target:.0f}% of the saliency on the ground truth")
    return f"  {entry.name}: " + "; ".join(bits)


def _run_methods(job: _Job) -> tuple[list[MethodResult], dict[str, list], dict[str, Any], dict[str, np.ndarray]]:
    """Every method in turn, with a progress bar when there are several."""
    from tqdm.auto import tqdm

    o = job.opts
    # inner progress bars only where the curves take a while (big clips, many windows)
    heavy = job.clips.x[0].numel() >= 3 * 32 * 224 * 224 or job.n_windows > 1
    entries, explanations, curves, overlays = [], {}, {}, {}
    job.timings.update(explain_s=0.0, metrics_s=0.0, render_s=0.0)
    bar = tqdm(o.methods, desc="explain", unit="method", disable=o.quiet or len(o.methods) < 2, file=sys.stderr)
    for method in bar:
        bar.set_postfix_str(method)
        entry, explanations[method], cr, over = _run_method(job, method, heavy)
        entries.append(entry)
        if cr is not None:
            curves[method] = cr
        if over is not None:
            overlays[method] = over
        if not o.quiet:
            (bar.write if len(o.methods) > 1 else job.log)(_method_line(entry))
    bar.close()
    return entries, explanations, curves, overlays


# -- summary outputs and the record -----------------------------------------------------------------
def _write_grid(job: _Job, overlays: dict[str, np.ndarray]) -> str:
    """Input and every method side by side; titles go in the grid's bars, frame numbers on the input cell."""
    from . import render

    h0, w0 = job.clips.frames.shape[1:3]
    ch = min(max(h0, MIN_CELL_HEIGHT), MAX_CELL_HEIGHT)
    cw = max(2, int(round(w0 * ch / h0)))

    def boxed(v: np.ndarray) -> np.ndarray:
        if job.gt_boxes is None:
            return v
        return render.draw_boxes(v, job.gt_boxes, color=(0, 255, 0), thickness=1)

    frame_labels = [f"frame {int(i)}" for i in job.clips.frame_indices]
    cells = [render.label_frames(boxed(job.clips.frames), frame_labels, position="bottom")]
    cells += [boxed(overlays[m]) for m in job.opts.methods]
    grid = render.grid(cells, titles=["input"] + list(job.opts.methods), cell_size=(ch, cw),
                       cols=len(cells) if len(cells) <= 4 else None)
    return _save_rel(job.out, "grid", grid, job.render_fps, job.opts.fmt)


def _write_summary(job: _Job, overlays: dict[str, np.ndarray], curves: dict[str, Any], video: str) -> dict:
    """The grid (several methods) and the curve plot; returns ``outputs`` (name -> relative path)."""
    from . import render

    outputs: dict[str, str] = {}
    if job.out is None:
        return outputs
    t0 = time.perf_counter()
    if len(job.opts.methods) > 1:
        outputs["grid"] = _write_grid(job, overlays)
    if job.opts.curves and curves:
        render.plot_curves(curves, job.out / "curves.png",
                           title=f"{job.model_name}: {job.target_name} ({Path(video).name})")
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
            "device": str(job.model.device), "curves": o.curves, "curve_steps": o.curve_steps,
            "curve_baseline": o.curve_baseline}


def _record(job: _Job, entries: list[MethodResult], outputs: dict[str, str], n: int) -> ExplainResult:
    """The record, with JSON-ready values (lists, not tuples) so it equals what ``load`` reads back."""
    c, m, g = job.clips, job.model, job.geometry
    clip = ClipRecord(mode=c.mode, num_windows=job.n_windows, window_frames=int(c.x.shape[2]),
                      frame_indices=[int(i) for i in c.frame_indices],
                      windows=[[int(w[0]), int(w[-1]) + 1] for w in c.windows],
                      geometry=g.to_dict() if hasattr(g, "to_dict") else None)
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
    t_start = time.perf_counter()
    log = (lambda *a: None) if opts.quiet else (lambda *a: print(*a, flush=True))
    video = _check_video(video, opts, render=out is not None)
    if out is not None:
        _check_out(Path(out))
    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed % (2**32))
    timings: dict[str, float] = {}
    model = _timed(timings, "load_model_s", _get_model, model, opts)
    target_index = None if opts.target is None else model.class_index(opts.target)
    n = _num_frames(model, opts)
    pad = False if opts.pad in (None, "none", False) else opts.pad
    clips = _timed(timings, "read_s", prepare_clips, video, model.spec, opts.clip, n, opts.stride, pad=pad)
    _log_input(log, model, clips, video)
    probs = _timed(timings, "predict_s", predict_clips, model, clips.x, opts.batch_size)
    predictions = _predictions(model, probs, opts.topk)
    target_index = predictions[0].index if target_index is None else target_index
    out = None if out is None else Path(out)
    job = _Job(opts, model, clips, probs, target_index, predictions, out, log, timings)
    if not opts.quiet:
        _log_predictions(job)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    _ground_truth(job, boxes, masks)
    entries, explanations, curves, overlays = _run_methods(job)
    outputs = _write_summary(job, overlays, curves, video)
    result = _record(job, entries, outputs, n)
    result.extra.update(extra or {})
    result.explanations = explanations
    timings["total_s"] = time.perf_counter() - t_start
    if out is not None:
        _save(result, out, opts.html, log)
    return result
