"""``vidxai explain VIDEO``: explain a clip with one or more methods and write videos, curves and result.json.

This module only parses the command line: the pipeline is :func:`vidxai.pipeline.explain_video` (which
``vidxai demo`` and Python users call too) and the record it writes is :class:`vidxai.pipeline.ExplainResult`.
"""
from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import Any

from ..errors import InputError, VidxaiError
from ..pipeline import (DEFAULT_MODEL, DEFAULT_OUT, explain_video, parse_clip, stitch,  # noqa: F401 (re-exported)
                        stitch_labels)
from ._common import add_quiet, formatter

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
    if text is None or str(text).strip().lower() in ("top1", "top-1", "top", "none"):
        return None
    if not str(text).strip():
        return str(text)  # an empty --target (often an unset shell variable) is an error, not the top prediction
    s = str(text).strip()
    return int(s) if s.lstrip("-").isdigit() else s


def run(args: argparse.Namespace) -> int:
    import torch

    from .. import methods as method_registry
    from ..pipeline import ExplainOptions

    methods = list(args.method or [method_registry.default_method()])
    options = ExplainOptions(
        methods=methods, params=parse_params(args.param, methods), weights=args.weights,
        target=parse_target(args.target), topk=args.topk, clip=args.clip, frames=args.frames, stride=args.stride,
        pad=args.pad, batch_size=args.batch_size, fmt=args.format, alpha=args.alpha, colormap=args.colormap,
        fps=args.fps, device=args.device, seed=args.seed, curves=args.curves, curve_steps=args.curve_steps,
        curve_baseline=args.curve_baseline, html=args.html, quiet=args.quiet)
    try:
        explain_video(args.video, args.model, options=options, out=args.out)
    except VidxaiError:
        raise
    except torch.cuda.OutOfMemoryError as e:
        raise InputError(f"out of GPU memory ({str(e).splitlines()[0]}); try --batch-size 1 or --device cpu") from None
    except OSError as e:  # the disk filled up, a folder vanished mid-run...: one line, not a traceback
        if e.filename is None:
            raise
        raise InputError(f"{e.filename}: {e.strerror or e}") from None
    return 0
