"""``vidxai explain VIDEO``: explain a clip with one or more methods and write videos, curves and result.json.

The command is a thin layer over the Python API: :func:`vidxai.io.load_clip` / :func:`vidxai.io.preprocess`
prepare clips, :func:`vidxai.explain_batch` explains them, :func:`vidxai.metrics.deletion_insertion` scores
the maps and :mod:`vidxai.render` draws them on the original frames. :func:`explain_video` is the whole
pipeline as one function (``vidxai demo`` reuses it).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import InputError, VideoNotFoundError, VidxaiError
from ._common import add_quiet, formatter

DEFAULT_MODEL = "i3d"
DEFAULT_OUT = "vidxai-out"
MAX_CELL_HEIGHT = 360  # grid cells are scaled down to this height so grids of HD videos stay small
MIN_CELL_HEIGHT = 224  # and small clips are scaled up so titles and heat stay legible
RENDER_MEMORY_GB = 8.0  # default cap on the frames held for --clip all renders

EPILOG = """examples:
  vidxai explain clip.mp4                                  # I3D (Kinetics-400), default method, into ./vidxai-out/
  vidxai explain clip.mp4 --method swagv-ig gradcam guided-backprop --html
  vidxai explain clip.mp4 --model synthetic-tiny --target 3 --format gif --out out/
  vidxai explain clip.mp4 --target "playing cricket" --clip 40:104 --colormap inferno
  vidxai explain long.mp4 --clip all --stride 8            # sliding windows, maps stitched in time
  vidxai explain clip.mp4 --method swagv-ig --param n_segments=400 --param gradcam:layer=features.5

outputs (in --out DIR):
  overlay_<method>.mp4    heatmap on the original frames (original resolution)
  boundaries_<method>.mp4 supervoxel borders over the heatmap (SWAG-V and other segment methods)
  grid.mp4                input and every method side by side (when several methods are asked)
  curves.png              deletion/insertion curves (skip with --no-curves)
  <method>.npz            the explanation (vidxai.Explanation.load)
  result.json             predictions, per-method AUCs, timings, parameters, versions
  report.html             with --html (or later: vidxai report DIR)
"""


# -- argument parsing -------------------------------------------------------------------------------
def register(subparsers) -> None:
    p = subparsers.add_parser(
        "explain", help="explain a video clip and write heatmap videos, curves and result.json",
        description="Explain what a video classifier looks at in VIDEO: heatmap overlays on the original frames "
                    "for each method, a side-by-side grid, deletion/insertion curves and result.json.",
        epilog=EPILOG, formatter_class=formatter())
    add_explain_arguments(p)
    p.set_defaults(func=run)


def add_explain_arguments(p: argparse.ArgumentParser, video: bool = True) -> None:
    if video:
        p.add_argument("video", metavar="VIDEO", help="video file (anything PyAV decodes: mp4, avi, mkv, webm, gif)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"registered model (see `vidxai models`) or a checkpoint path (default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default="default", metavar="W",
                   help="'default', 'none' (random), a named weight set or a checkpoint path")
    p.add_argument("--method", nargs="+", metavar="M", default=None,
                   help="one or more methods (see `vidxai methods`; default: swagv-ig, or guided-backprop "
                        "without SWAG-V)")
    p.add_argument("--param", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="method parameter (YAML value), for every method or only METHOD; repeatable")
    p.add_argument("--target", default="top1", metavar="top1|INDEX|NAME",
                   help="class to explain: the top prediction (default), a class index or a class name")
    p.add_argument("--topk", type=int, default=5, metavar="K", help="predictions to record (default: 5)")
    p.add_argument("--clip", default="centre", metavar="centre|uniform|all|START:END",
                   help="which frames: the centre clip (default), N uniform frames, sliding windows over the "
                        "whole video ('all'), or a frame range START:END (end exclusive)")
    p.add_argument("--frames", type=int, default=None, metavar="N", help="frames per clip (default: the model's)")
    p.add_argument("--stride", type=int, default=None, metavar="S",
                   help="window stride for --clip all (default: half a window)")
    p.add_argument("--pad", default="none", choices=("none", "repeat", "loop"),
                   help="videos shorter than a clip: fail (default), repeat the last frame, or loop")
    p.add_argument("--batch-size", type=int, default=4, metavar="B", help="windows explained per call (--clip all)")
    p.add_argument("--out", default=DEFAULT_OUT if video else None, metavar="DIR",
                   help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--format", default="mp4", choices=("mp4", "gif", "png"),
                   help="overlay output: H.264 mp4 (default), GIF or a folder of PNG frames")
    p.add_argument("--alpha", type=float, default=0.5, metavar="A", help="heatmap opacity in [0, 1] (default: 0.5)")
    p.add_argument("--colormap", default="jet", metavar="C", help="matplotlib colour map (default: jet)")
    p.add_argument("--fps", type=float, default=None, metavar="F", help="output frame rate (default: the video's)")
    p.add_argument("--device", default=None, metavar="D", help="torch device, e.g. cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    p.add_argument("--no-curves", dest="curves", action="store_false", help="skip deletion/insertion curves")
    p.add_argument("--curve-steps", type=int, default=28, metavar="N", help="deletion/insertion steps (default: 28)")
    p.add_argument("--curve-baseline", default="zero", choices=("zero", "blur", "mean"),
                   help="value of removed pixels in the curves (default: zero)")
    p.add_argument("--html", action="store_true", help="also write report.html (see `vidxai report`)")
    add_quiet(p)


def parse_clip(text: str) -> str | tuple[int, int]:
    """``centre``/``center``, ``uniform``, ``all`` or ``START:END`` (either side may be empty)."""
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


def parse_params(items: Sequence[str], methods: Sequence[str]) -> dict[str, dict[str, Any]]:
    """``KEY=VALUE`` (every method) or ``METHOD:KEY=VALUE`` into ``{method: {key: value}}`` (YAML values)."""
    import yaml

    out: dict[str, dict[str, Any]] = {m: {} for m in methods}
    for item in items:
        m = re.fullmatch(r"(?:([\w+.-]+):)?([A-Za-z_]\w*)=(.*)", item.strip())
        if not m:
            raise InputError(f"bad --param {item!r}: use KEY=VALUE or METHOD:KEY=VALUE")
        method, key, raw = m.groups()
        try:
            value = yaml.safe_load(raw) if raw else ""
        except yaml.YAMLError:
            value = raw
        if method and method not in out:
            raise InputError(f"--param {item!r} names method {method!r}, "
                             f"which is not among --method {' '.join(methods)}")
        for name in ([method] if method else methods):
            out[name][key] = value
    return out


def parse_target(text: str | int | None):
    if text is None or str(text).lower() in ("top1", "top-1", "top", "none", ""):
        return None
    s = str(text).strip()
    return int(s) if s.lstrip("-").isdigit() else s


def slug(name: str) -> str:
    """A file-name-safe form of a method name (``gradcam++`` -> ``gradcamplusplus``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", lambda m: "plus" if m.group() == "+" else "_", name)


# -- the pipeline -----------------------------------------------------------------------------------
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
    info: dict = field(default_factory=dict)


def _set_frame_indices(geometry, indices: np.ndarray):
    import dataclasses

    if geometry is not None and dataclasses.is_dataclass(geometry):
        try:
            return dataclasses.replace(geometry, frame_indices=np.asarray(indices))
        except (TypeError, ValueError):
            pass
    return geometry


def prepare_clips(path: str, spec, clip: str | tuple[int, int], num_frames: int, stride: int | None,
                  pad: bool | str = False) -> Clips:
    """Read the frames and build the model input for ``--clip`` (one clip, or sliding windows for ``all``)."""
    from ..errors import TooFewFramesError

    try:
        return _prepare_clips(path, spec, clip, num_frames, stride, pad)
    except TooFewFramesError as e:
        if pad:
            raise
        msg = str(e).split("; pass pad")[0]
        raise TooFewFramesError(f"{msg}; use --pad repeat or --pad loop, or fewer --frames") from None


def _prepare_clips(path: str, spec, clip, num_frames: int, stride: int | None, pad) -> Clips:
    from .. import io

    info = io.video_info(path)
    info_d = {"path": str(path), "codec": info.codec, "fps": float(info.fps), "num_frames": int(info.num_frames),
              "width": int(info.width), "height": int(info.height), "duration": float(info.duration)}
    if clip == "all":
        stride = stride or max(1, num_frames // 2)
        if stride < 1:
            raise InputError(f"--stride must be >= 1, got {stride}")
        windows = [np.asarray(w, dtype=np.int64)
                   for w in io.sliding_windows(info.num_frames, num_frames, stride, pad=pad)]
        if not windows:
            from ..errors import TooFewFramesError

            raise TooFewFramesError(f"{path} has {info.num_frames} frames, fewer than one {num_frames}-frame window")
        lo = int(min(w.min() for w in windows))
        hi = int(max(w.max() for w in windows)) + 1
        video = io.read_video(path, start=lo, end=hi)
        frames = video.frames
        tensors, geoms = [], []
        for w in windows:
            t, g = io.preprocess(frames[w - lo], spec)
            tensors.append(t)
            geoms.append(_set_frame_indices(g, w))
        return Clips(torch.stack(tensors), windows, geoms, frames, np.arange(lo, lo + frames.shape[0]),
                     float(video.fps or info.fps), "all", info_d)
    kwargs: dict[str, Any] = {"num_frames": num_frames, "pad": pad}
    if isinstance(clip, tuple):
        start, end = clip
        end = info.num_frames if end == -1 else end
        if start >= info.num_frames:
            raise InputError(f"--clip {start}:{end} starts after the last frame ({info.num_frames} frames)")
        clip = (start, min(end, info.num_frames))
    prepared = io.load_clip(path, spec, clip=clip, **kwargs)
    geom = prepared.geometry
    idx = getattr(geom, "frame_indices", None)
    idx = np.arange(prepared.frames.shape[0]) if idx is None else np.asarray(idx, dtype=np.int64)
    mode = clip if isinstance(clip, str) else f"{clip[0]}:{clip[1]}"
    return Clips(prepared.tensor.unsqueeze(0), [idx], [geom], prepared.frames, idx,
                 float(prepared.fps or info.fps), mode, info_d)


def _chunks(n: int, size: int):
    for i in range(0, n, size):
        yield slice(i, min(n, i + size))


@torch.no_grad()
def predict_clips(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Mean softmax probabilities over the windows ``x`` (W, C, T, H, W) -> (num_classes,)."""
    from ..attribution.base import model_state

    probs = []
    with model_state(model):
        for s in _chunks(x.shape[0], batch_size):
            probs.append(model(x[s].to(model.device)).float().softmax(1).cpu())
    return torch.cat(probs).mean(0)


def stitch(maps: Sequence[torch.Tensor], windows: Sequence[np.ndarray], frame_indices: np.ndarray) -> torch.Tensor:
    """Average per-window maps (each min-max normalised) over overlapping frames: -> (N, h, w) on ``frame_indices``."""
    n = len(frame_indices)
    pos = {int(f): i for i, f in enumerate(frame_indices)}
    acc = torch.zeros((n,) + tuple(maps[0].shape[-2:]), dtype=torch.float32)
    count = torch.zeros(n, dtype=torch.float32)
    for m, w in zip(maps, windows):
        m = m.float()
        m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-12)
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


def _versions() -> dict[str, str]:
    import av
    import torchvision

    from .. import __version__

    return {"vidxai": __version__, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "av": av.__version__, "numpy": np.__version__, "python": platform.python_version(),
            "platform": platform.platform()}


def load_model(name: str, weights: str | None, device: str | None):
    """A registry model, or a checkpoint file saved by ``vidxai.models.checkpoint.save``."""
    from .. import models

    w = None if str(weights).lower() in ("none", "random") else weights
    if name not in models.list() and os.path.isfile(name):
        # a file from vidxai.models.checkpoint.save names its registry entry: rebuild that with these weights
        from ..errors import CorruptCheckpointError

        try:
            payload = torch.load(name, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
            raise CorruptCheckpointError(f"cannot read checkpoint {name}: {str(e).splitlines()[0]}") from None
        entry = payload.get("name") if isinstance(payload, dict) else None
        if not isinstance(entry, str) or entry not in models.list():
            raise InputError(f"checkpoint {name} does not name a registered model; use --model NAME --weights {name}")
        return models.load(entry, weights=name, device=device)
    return models.load(name, weights=w, device=device)


def check_render_memory(info, n_methods: int) -> None:
    """Refuse ``--clip all`` renders that would not fit in memory (frames + one overlay per method + grid).

    The limit is ``$VIDXAI_RENDER_MEMORY_GB`` (default 8 GB).
    """
    limit = float(os.environ.get("VIDXAI_RENDER_MEMORY_GB", RENDER_MEMORY_GB))
    copies = 2 + n_methods + (n_methods > 1)
    need = info.num_frames * info.width * info.height * 3 * copies / 1e9
    if need > limit:
        raise InputError(f"--clip all on {info.num_frames} frames of {info.width}x{info.height} with {n_methods} "
                         f"method(s) needs about {need:.1f} GB to render (limit {limit:g} GB, set "
                         f"VIDXAI_RENDER_MEMORY_GB); explain a part with --clip START:END")


def _check_device(device: str | None) -> str | None:
    if device is None:
        return None
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise InputError(f"bad --device {device!r}: use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"--device {device}: CUDA is not available on this machine")
    return device


def explain_video(
    video: str | os.PathLike,
    *,
    model: str | Any = DEFAULT_MODEL,
    weights: str | None = "default",
    methods: Sequence[str] | None = None,
    params: dict[str, dict[str, Any]] | None = None,
    target: Any = None,
    topk: int = 5,
    clip: str | tuple[int, int] = "centre",
    frames: int | None = None,
    stride: int | None = None,
    batch_size: int = 4,
    pad: str = "none",
    out: str | os.PathLike = DEFAULT_OUT,
    fmt: str = "mp4",
    alpha: float = 0.5,
    colormap: str = "jet",
    fps: float | None = None,
    device: str | None = None,
    seed: int = 0,
    curves: bool = True,
    curve_steps: int = 28,
    curve_baseline: str = "zero",
    html: bool = False,
    quiet: bool = False,
    boxes: np.ndarray | None = None,
    masks: np.ndarray | None = None,
    extra: dict | None = None,
) -> dict:
    """Explain ``video`` with each of ``methods`` and write the outputs into ``out``; returns result.json's dict.

    ``boxes`` ``(N, 4)`` xyxy / ``masks`` ``(N, H0, W0)`` bool give ground truth on the source frames (indexed by
    source frame number): boxes are drawn on the overlays and the share of saliency inside the masks is
    reported as ``on_target``. Every other argument mirrors a ``vidxai explain`` option.
    """
    from tqdm.auto import tqdm

    from .. import methods as method_registry
    from .. import render
    from ..api import explain_batch

    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    log = (lambda *a: None) if quiet else (lambda *a: print(*a, flush=True))

    # cheap checks first: a typo should not cost a model download
    methods = list(methods or [method_registry.default_method()])
    for m in methods:
        method_registry.get(m)
    if len(set(methods)) != len(methods):
        raise InputError(f"--method lists a method twice: {' '.join(methods)}")
    params = params or {m: {} for m in methods}
    clip = parse_clip(clip) if isinstance(clip, str) else clip
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"--alpha must lie in [0, 1], got {alpha}")
    if topk < 1:
        raise InputError(f"--topk must be >= 1, got {topk}")
    if frames is not None and frames < 1:
        raise InputError(f"--frames must be >= 1, got {frames}")
    if fps is not None and fps <= 0:
        raise InputError(f"--fps must be positive, got {fps}")
    if curve_steps < 1:
        raise InputError(f"--curve-steps must be >= 1, got {curve_steps}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be >= 1, got {batch_size}")
    if fmt not in render.FORMATS:
        raise InputError(f"unknown --format {fmt!r}; choose from {', '.join(render.FORMATS)}")
    render.lut(colormap)
    device = _check_device(device)
    video = str(video)
    if not os.path.exists(video):
        raise VideoNotFoundError(f"video not found: {video}")
    from ..io import video_info

    info = video_info(video)  # fails fast (one line) on unreadable files
    if clip == "all":
        check_render_memory(info, len(methods))

    torch.manual_seed(seed)
    np.random.seed(seed % (2**32))
    t0 = time.perf_counter()
    if isinstance(model, str):
        model = load_model(model, weights, device)
    elif device is not None:
        model = model.to(device)
    model_name = getattr(model, "name", "") or type(model).__name__
    timings["load_model_s"] = time.perf_counter() - t0
    target_index = None if target is None else model.class_index(target)
    spec = model.spec
    n = frames or spec.num_frames
    if spec.fixed_frames and n != spec.num_frames:
        raise InputError(f"{model_name} takes exactly {spec.num_frames} frames per clip; got --frames {n}")

    t0 = time.perf_counter()
    clips = prepare_clips(video, spec, clip, n, stride, pad=False if pad in (None, "none", False) else pad)
    timings["read_s"] = time.perf_counter() - t0
    n_windows = clips.x.shape[0]
    log(f"{model_name}: {spec.describe()} | {Path(video).name}: {clips.info['width']}x{clips.info['height']}, "
        f"{clips.info['num_frames']} frames | clip {clips.mode}: {n_windows} window(s) of {clips.x.shape[2]} frames")

    t0 = time.perf_counter()
    probs = predict_clips(model, clips.x, batch_size)
    timings["predict_s"] = time.perf_counter() - t0
    k = min(topk, model.num_classes)
    top_p, top_i = probs.topk(k)
    predictions = [{"index": int(i), "name": model.class_names[int(i)], "probability": float(p)}
                   for p, i in zip(top_p, top_i)]
    if target_index is None:
        target_index = int(top_i[0])
    target_name = model.class_names[target_index]
    if not quiet:
        log("predictions" + (" (mean over windows)" if n_windows > 1 else "") + ":")
        for r, p in enumerate(predictions, 1):
            log(f"  {r}. {p['name']:<32} {p['probability']:.3f}")
        log(f"explaining class {target_index} {target_name!r} with {', '.join(methods)}")

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    render_fps = float(fps or clips.fps or 8.0)
    geometry = clips.geometries[0]
    original_size = clips.frames.shape[1:3]
    outside = None
    if geometry is not None:
        crop_ones = torch.ones((1,) + tuple(clips.x.shape[-2:]))
        outside = geometry.to_original(crop_ones)[0].numpy() <= 0  # pixels cropped away before the model
        if not outside.any():
            outside = None
    gt_boxes = None
    if boxes is not None:
        gt_boxes = np.asarray(boxes, dtype=np.float32)[clips.frame_indices]
    gt_masks = None
    if masks is not None:
        gt_masks = np.asarray(masks, dtype=bool)[clips.frame_indices]

    def decorate(video_frames: np.ndarray, title: str) -> np.ndarray:
        if gt_boxes is not None:
            video_frames = render.draw_boxes(video_frames, gt_boxes, color=(0, 255, 0), thickness=1)
        video_frames = render.label_frames(video_frames, title)
        return render.label_frames(video_frames, [f"frame {int(i)}" for i in clips.frame_indices], position="bottom")

    # inner progress bars only where the curves take a while (big clips, many windows)
    heavy = clips.x[0].numel() >= 3 * 32 * 224 * 224 or n_windows > 1
    method_results: list[dict] = []
    overlays: dict[str, np.ndarray] = {}
    curve_results: dict[str, Any] = {}
    explain_s = metrics_s = render_s = 0.0
    bar = tqdm(methods, desc="explain", unit="method", disable=quiet or len(methods) < 2, file=sys.stderr)
    for method in bar:
        bar.set_postfix_str(method)
        t0 = time.perf_counter()
        exps = []
        for s in tqdm(list(_chunks(n_windows, batch_size)), desc=method, unit="batch", leave=False,
                      disable=quiet or n_windows <= batch_size, file=sys.stderr):
            exps += explain_batch(model, clips.x[s], method=method, target=target_index, topk=k,
                                  geometries=clips.geometries[s], **params.get(method, {}))
        dt = time.perf_counter() - t0
        explain_s += dt
        entry: dict[str, Any] = {"name": method, "description": method_registry.describe(method),
                                 "params": params.get(method, {}), "timing_s": dt,
                                 "timing_per_window_s": dt / n_windows}

        if curves:
            from ..metrics import deletion_insertion

            t0 = time.perf_counter()
            sal = torch.stack([e.saliency for e in exps])
            cr = deletion_insertion(model, clips.x, sal, target=[target_index] * n_windows, steps=curve_steps,
                                    baseline=curve_baseline, seed=seed, progress=not quiet and heavy)
            curve_results[method] = cr
            metrics_s += time.perf_counter() - t0
            entry.update(deletion_auc=float(cr.deletion_auc.float().mean()),
                         insertion_auc=float(cr.insertion_auc.float().mean()),
                         combined=float(cr.combined.float().mean()),
                         curves={"fractions": cr.fractions.tolist(), "deletion": cr.deletion.float().mean(0).tolist(),
                                 "insertion": cr.insertion.float().mean(0).tolist()})
            del sal

        t0 = time.perf_counter()
        maps = stitch([e.saliency for e in exps], clips.windows, clips.frame_indices)
        heat = geometry.to_original(maps).numpy() if geometry is not None else render.resize_maps(maps, original_size)
        heat = np.clip(heat, 0, 1)
        over = render.blend(clips.frames, render.colorize(heat, colormap), alpha)
        if outside is not None:  # the model never saw these pixels: show them untouched
            over[:, outside] = clips.frames[:, outside]
        title = f"{method}: {target_name} p={float(probs[target_index]):.2f}"
        overlays[method] = over
        entry["overlay"] = save_rel(out, f"overlay_{slug(method)}", decorate(over, title), render_fps, fmt)
        if any(e.segmentation is not None for e in exps) and all(e.segmentation is not None for e in exps):
            labels = stitch_labels([e.segmentation for e in exps], clips.windows, clips.frame_indices)
            if geometry is not None:
                labels = render.labels_to_original(labels, geometry)
            bounds = render.draw_boundaries(over, labels, color=(255, 255, 255), alpha=0.7)
            entry["boundaries"] = save_rel(out, f"boundaries_{slug(method)}", decorate(bounds, f"{method} supervoxels"),
                                           render_fps, fmt)
            entry["num_segments"] = int(torch.unique(labels[labels >= 0]).numel())
        if gt_masks is not None:
            total = float(heat.sum())
            entry["on_target"] = float(heat[gt_masks].sum() / total) if total > 0 else float("nan")
        if n_windows == 1:
            entry["explanation"] = exps[0].save(out / f"{slug(method)}.npz").name
        else:
            np.savez_compressed(out / f"{slug(method)}.npz", saliency=maps.numpy(),
                                frame_indices=clips.frame_indices)
            entry["explanation"] = f"{slug(method)}.npz"
        render_s += time.perf_counter() - t0
        method_results.append(entry)
        if not quiet:
            bits = [f"{dt:.2f} s"]
            if "deletion_auc" in entry:
                bits.append(f"deletion AUC {entry['deletion_auc']:.3f}, insertion AUC {entry['insertion_auc']:.3f}")
            if "on_target" in entry:
                bits.append(f"{100 * entry['on_target']:.0f}% of the saliency on the ground truth")
            (bar.write if len(methods) > 1 else log)(f"  {method}: " + "; ".join(bits))
    bar.close()

    t0 = time.perf_counter()
    outputs: dict[str, str] = {}
    if len(methods) > 1:
        h0, w0 = original_size
        ch = min(max(h0, MIN_CELL_HEIGHT), MAX_CELL_HEIGHT)
        cw = max(2, int(round(w0 * ch / h0)))
        # titles go in the grid's bars; only the input cell carries frame numbers
        boxed = (lambda v: render.draw_boxes(v, gt_boxes, color=(0, 255, 0), thickness=1)) if gt_boxes is not None \
            else (lambda v: v)
        frame_labels = [f"frame {int(i)}" for i in clips.frame_indices]
        cells = [render.label_frames(boxed(clips.frames), frame_labels, position="bottom")]
        cells += [boxed(overlays[m]) for m in methods]
        grid = render.grid(cells, titles=["input"] + methods, cell_size=(ch, cw),
                           cols=len(cells) if len(cells) <= 4 else None)
        outputs["grid"] = save_rel(out, "grid", grid, render_fps, fmt)
    if curves and curve_results:
        render.plot_curves(curve_results, out / "curves.png",
                           title=f"{model_name}: {target_name} ({Path(video).name})")
        outputs["curves"] = "curves.png"
    render_s += time.perf_counter() - t0
    timings.update(explain_s=explain_s, metrics_s=metrics_s, render_s=render_s)

    result = {
        "schema": "vidxai.explain/1",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "video": clips.info,
        "model": {"name": model_name, "weights": getattr(model, "weights", None), "input": spec.describe(),
                  "spec": spec.to_dict(), "num_classes": model.num_classes},
        "clip": {"mode": clips.mode, "num_windows": n_windows, "window_frames": int(clips.x.shape[2]),
                 "frame_indices": [int(i) for i in clips.frame_indices],
                 "windows": [[int(w[0]), int(w[-1]) + 1] for w in clips.windows],
                 "geometry": geometry.to_dict() if hasattr(geometry, "to_dict") else None},
        "target": {"index": target_index, "name": target_name, "probability": float(probs[target_index]),
                   "requested": "top1" if target is None else target},
        "predictions": predictions,
        "methods": method_results,
        "outputs": outputs,
        "format": fmt,
        "fps": render_fps,
        "params": {"methods": methods, "method_params": params, "alpha": alpha, "colormap": colormap,
                   "topk": topk, "clip": clip if isinstance(clip, str) else list(clip), "frames": n,
                   "stride": stride, "pad": pad, "batch_size": batch_size, "seed": seed, "device": str(model.device),
                   "curves": curves, "curve_steps": curve_steps, "curve_baseline": curve_baseline},
        "timings": timings,
        "versions": _versions(),
    }
    if extra:
        result.update(extra)
    timings["total_s"] = time.perf_counter() - t_start
    write_json(out / "result.json", result)
    if html:
        outputs["report"] = render.write_report(out, result).name
        write_json(out / "result.json", result)
    written = [m["overlay"] for m in method_results] + list(outputs.values()) + ["result.json"]
    log(f"wrote {out}/: " + ", ".join(written))
    return result


def save_rel(out: Path, stem: str, frames: np.ndarray, fps: float, fmt: str) -> str:
    from ..render import save_video

    path = save_video(out / stem, frames, fps=fps, fmt=fmt)
    rel = path.relative_to(out).as_posix()
    return rel + "/" if path.is_dir() else rel


def write_json(path: Path, obj: dict) -> None:
    from ..explanation import _jsonable

    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    from .. import methods as method_registry

    methods = list(args.method or [method_registry.default_method()])
    try:
        explain_video(
            args.video, model=args.model, weights=args.weights, methods=methods,
            params=parse_params(args.param, methods), target=parse_target(args.target), topk=args.topk,
            clip=args.clip, frames=args.frames, stride=args.stride, batch_size=args.batch_size, pad=args.pad,
            out=args.out,
            fmt=args.format, alpha=args.alpha, colormap=args.colormap, fps=args.fps, device=args.device,
            seed=args.seed, curves=args.curves, curve_steps=args.curve_steps, curve_baseline=args.curve_baseline,
            html=args.html, quiet=args.quiet)
    except VidxaiError:
        raise
    except torch.cuda.OutOfMemoryError as e:
        raise InputError(f"out of GPU memory ({str(e).splitlines()[0]}); try --batch-size 1 or --device cpu") from None
    return 0
