"""``vidxai explain VIDEO``: explain a clip with one or more methods and write videos, curves and result.json.

This module only parses the command line: the pipeline is :func:`vidxai.pipeline.explain_video` (which
``vidxai demo`` and Python users call too) and the record it writes is :class:`vidxai.pipeline.ExplainResult`.
"""
from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from typing import Any

from ..defaults import CURVE_PROTOCOLS, DEFAULT_CURVES, DEFAULT_MODEL, DEFAULT_OUT, DEFAULT_PERCENTILE, NORMALIZE_MODES
from ..errors import InputError, VidxaiError
from ._common import add_quiet, formatter

# torch and the pipeline are imported when a command runs, not when the parser is built (`--help` stays fast)
_REEXPORTED = ("explain_video", "parse_clip", "stitch", "stitch_labels")


def __getattr__(name: str):
    if name in _REEXPORTED:
        from .. import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

EPILOG = """examples:
  vidxai explain clip.mp4                                  # I3D (Kinetics-400), default method, into ./vidxai-out/
  vidxai explain clip.mp4 --method swagv-ig gradcam guided-backprop --html
  vidxai explain a.mp4 b.mp4 clips/ --method gradcam       # many videos, one model load, one folder each
  vidxai explain clip.mp4 --method gradcam --target top3   # the three most probable classes side by side
  vidxai explain clip.mp4 --curves thesis                  # the thesis' 28-step deletion/insertion protocol
  vidxai explain clip.mp4 --model synthetic-tiny --target 3 --format gif --out out/
  vidxai explain clip.mp4 --target "playing cricket" --clip 40:104 --colormap inferno
  vidxai explain long.mp4 --clip all --stride 8            # sliding windows, maps stitched in time
  vidxai explain clip.mp4 --method swagv-ig --param n_segments=400 --param gradcam:layer=features.5

outputs (in --out DIR):
  overlay_<method>.mp4    heatmap on the original frames (original resolution)
  boundaries_<method>.mp4 supervoxel borders over the heatmap (SWAG-V and other segment methods)
  grid.mp4                input and every method side by side (when several methods are asked)
  curves.png              deletion/insertion curves (--curves quick|thesis|none)
  <method>.npz            the explanation (vidxai.Explanation.load)
  result.json             predictions, per-method AUCs (with their protocol), timings, parameters, versions
  report.html             with --html (or later: vidxai report DIR)
  summary.md, summary.json  with several videos: one line per video (each in its own sub-folder)

curves: 'quick' (default) is 8 deletion/insertion steps, 16 forwards of the clip, so the default command stays
near a minute on a laptop CPU; 'thesis' is the 28-step protocol of the thesis' tables (about 3.5x the time).
Both use the zero baseline and seeded tie-breaking; the protocol is printed next to every AUC and stored in
result.json.
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
        p.add_argument("video", metavar="VIDEO", nargs="+",
                       help="video file(s) or folder(s) of videos (anything PyAV decodes: mp4, avi, mkv, webm, gif)")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"registered model (see `vidxai models`) or a checkpoint path (default: {DEFAULT_MODEL})")
    p.add_argument("--weights", default="default", metavar="W",
                   help="'default', 'none' (random), a named weight set or a checkpoint path")
    p.add_argument("--method", nargs="+", metavar="M", default=None,
                   help="one or more methods (see `vidxai methods`; default: swagv-ig, or guided-backprop "
                        "without SWAG-V)")
    p.add_argument("--param", action="append", default=[], metavar="[METHOD:]KEY=VALUE",
                   help="method parameter (YAML value), for every method or only METHOD; repeatable")
    p.add_argument("--target", action="append", default=None, metavar="top1|topK|INDEX|NAME",
                   help="class to explain: the top prediction (default), the K most probable (top3), a class "
                        "index or a class name; repeat for several classes side by side")
    p.add_argument("--layer", "--target-layer-name", dest="layer", default=None, metavar="NAME",
                   help="target layer of CAM methods (see `vidxai layers MODEL`; default: the model's)")
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
    p.add_argument("--normalize", default="auto", choices=NORMALIZE_MODES,
                   help="display scaling of the maps: percentile clipping for pixel-level methods and min-max for "
                        "CAM/supervoxel maps (auto, the default), or one for all; the .npz keeps the raw map")
    p.add_argument("--percentile", type=float, default=DEFAULT_PERCENTILE, metavar="P",
                   help=f"clip point of --normalize percentile (default: {DEFAULT_PERCENTILE})")
    p.add_argument("--fps", type=float, default=None, metavar="F", help="output frame rate (default: the video's)")
    p.add_argument("--device", default=None, metavar="D",
                   help="torch device: auto (the GPU when there is one), cpu, cuda, cuda:1 (default: cpu)")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    add_curve_arguments(p)
    p.add_argument("--html", action="store_true", help="also write report.html (see `vidxai report`)")
    add_quiet(p)


def add_curve_arguments(p: argparse.ArgumentParser) -> None:
    """``--curves``, ``--no-curves``, ``--curve-steps`` and ``--curve-baseline`` (also used by ``vidxai demo``)."""
    p.add_argument("--curves", default=DEFAULT_CURVES, choices=(*CURVE_PROTOCOLS, "none"),
                   help=f"deletion/insertion protocol: quick ({CURVE_PROTOCOLS['quick']['steps']} steps, the "
                        f"default), thesis ({CURVE_PROTOCOLS['thesis']['steps']} steps, the thesis' tables) or none")
    p.add_argument("--no-curves", dest="curves", action="store_const", const="none", help="same as --curves none")
    p.add_argument("--curve-steps", type=int, default=None, metavar="N",
                   help="override the protocol's number of steps (recorded as protocol 'custom')")
    p.add_argument("--curve-baseline", default=None, choices=("zero", "blur", "mean"),
                   help="override the protocol's value of removed pixels (default: zero)")


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


def parse_target(text: str | int | Sequence[str] | None):
    """``--target`` values: None for the top prediction, ``"topK"``, an index, a name, or a list of them."""
    if isinstance(text, (list, tuple)):
        if len(text) > 1:
            return [parse_target(t) for t in text]
        text = text[0] if text else None
    if text is None or str(text).strip().lower() in ("top1", "top-1", "top", "none"):
        return None
    if not str(text).strip():
        return str(text)  # an empty --target (often an unset shell variable) is an error, not the top prediction
    s = str(text).strip()
    return int(s) if s.lstrip("-").isdigit() else s


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import methods as method_registry
    from ..pipeline import ExplainOptions, explain_video, explain_videos

    methods = list(args.method or [method_registry.default_method()])
    options = ExplainOptions(
        methods=methods, params=parse_params(args.param, methods), weights=args.weights,
        target=parse_target(args.target), topk=args.topk, clip=args.clip, frames=args.frames, stride=args.stride,
        pad=args.pad, batch_size=args.batch_size, fmt=args.format, alpha=args.alpha, colormap=args.colormap,
        fps=args.fps, device=args.device, seed=args.seed, curves=args.curves, curve_steps=args.curve_steps,
        curve_baseline=args.curve_baseline, normalize=args.normalize, percentile=args.percentile, layer=args.layer,
        html=args.html, quiet=args.quiet)
    try:
        if len(args.video) == 1 and not os.path.isdir(args.video[0]):
            explain_video(args.video[0], args.model, options=options, out=args.out)
        else:
            explain_videos(args.video, args.model, options=options, out=args.out)
    except VidxaiError:
        raise
    except torch.cuda.OutOfMemoryError as e:
        raise InputError(f"out of GPU memory ({str(e).splitlines()[0]}); try --batch-size 1 or --device cpu") from None
    except OSError as e:  # the disk filled up, a folder vanished mid-run...: one line, not a traceback
        if e.filename is None:
            raise
        raise InputError(f"{e.filename}: {e.strerror or e}") from None
    return 0
