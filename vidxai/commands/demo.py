"""``vidxai demo``: explain a synthetic action clip with the shipped small model, offline, in seconds.

It generates a clip with known ground truth (:func:`vidxai.data.synthetic.make_clip`), writes it as mp4, runs
the same pipeline as ``vidxai explain`` (:func:`vidxai.pipeline.explain_video`) with the default method and two
others, draws the true actor box on the overlays, reports how much of each saliency map lies on the actor, and
writes ``report.html``.
``--video PATH`` runs the same on a real clip (with ``--model``, default i3d).
"""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError
from ._common import add_quiet, formatter
from .explain import add_curve_arguments

DEFAULT_OUT = "vidxai-demo"
DEMO_MODEL = "synthetic-tiny"
#: methods shown next to the default one, first registered ones win
COMPANIONS = ("gradcam", "guided-backprop", "gradient")

EPILOG = """examples:
  vidxai demo                       # ./vidxai-demo/: input.mp4, overlays, grid, curves, result.json, report.html
  vidxai demo --seed 3 --label 2 --out /tmp/demo
  vidxai demo --video clip.mp4 --model i3d  # the same on a real clip
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="offline demo: synthetic clip + shipped model -> ./vidxai-demo/",
                              description="Generate a synthetic action clip with known ground truth, explain the "
                                          "shipped small model's prediction with the default method and two "
                                          "others, and write videos, curves, result.json and report.html.",
                              epilog=EPILOG, formatter_class=formatter())
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default: ./{DEFAULT_OUT})")
    p.add_argument("--seed", type=int, default=0, help="synthetic clip seed (default: 0)")
    p.add_argument("--label", default=None, help="synthetic action class (index or name; default: drawn from the seed)")
    p.add_argument("--video", default=None, metavar="PATH", help="explain this video instead of a synthetic clip")
    p.add_argument("--model", default=None, metavar="NAME",
                   help=f"model (default: {DEMO_MODEL}, or i3d with --video)")
    p.add_argument("--method", nargs="+", default=None, metavar="M", help="methods (default: the default + 2 others)")
    p.add_argument("--format", default="mp4", choices=("mp4", "gif", "png"), help="overlay output format")
    add_curve_arguments(p)
    p.add_argument("--device", default=None, metavar="D", help="torch device (default: cpu)")
    add_quiet(p)
    p.set_defaults(func=run)


def demo_methods() -> list[str]:
    """The default method plus two companions that are registered."""
    from .. import methods

    default = methods.default_method()
    names = set(methods.list())
    return [default] + [m for m in COMPANIONS if m in names and m != default][:2]


def _label(text: str | None) -> int | None:
    if text is None:
        return None
    from ..data import synthetic

    if str(text).lstrip("-").isdigit():
        i = int(text)
        if not 0 <= i < len(synthetic.CLASS_NAMES):
            raise InputError(f"--label {i} is out of range: there are {len(synthetic.CLASS_NAMES)} synthetic classes")
        return i
    names = [n.lower() for n in synthetic.CLASS_NAMES]
    if text.lower() not in names:
        from ..errors import UnknownClassError

        raise UnknownClassError(text, synthetic.CLASS_NAMES, hint="synthetic classes")
    return names.index(text.lower())


def run(args: argparse.Namespace) -> int:
    from ..pipeline import ExplainOptions, explain_video

    out = Path(args.out)
    options = ExplainOptions(methods=args.method or demo_methods(), fmt=args.format, curves=args.curves,
                             curve_steps=args.curve_steps, curve_baseline=args.curve_baseline, device=args.device,
                             html=True, quiet=args.quiet)
    if args.video:
        result = explain_video(args.video, args.model or "i3d", options=options, out=out)
        _summary(result, out, args.quiet)
        return 0

    from ..data import synthetic
    from ..io import write_video

    clip = synthetic.make_clip(args.seed, label=_label(args.label))
    out.mkdir(parents=True, exist_ok=True)
    video = out / "input.mp4"
    fps = 8.0
    write_video(video, clip.frames, fps=fps)
    truth = {"label": int(clip.label), "class_name": clip.class_name, "seed": int(clip.seed),
             "action_frames": [int(clip.action_start), int(clip.action_end)],
             "actor_area": float(clip.actor_masks.mean())}
    if not args.quiet:
        print(f"synthetic clip (seed {args.seed}): true class {clip.label} {clip.class_name!r}, "
              f"{clip.frames.shape[0]} frames {clip.frames.shape[2]}x{clip.frames.shape[1]} -> {video}")
    result = explain_video(video, args.model or DEMO_MODEL, options=options, out=out, fps=fps,
                           boxes=clip.actor_boxes, masks=clip.actor_masks, extra={"ground_truth": truth})
    if not args.quiet:
        pred = result.predictions[0]
        if pred.name == clip.class_name or pred.index == clip.label and result.model.num_classes == len(
                synthetic.CLASS_NAMES):
            verdict = "correct"
        else:
            verdict = f"true class: {clip.class_name}"
        print(f"prediction: {pred.name} (p={pred.probability:.3f}), {verdict}")
        area = truth["actor_area"]
        for m in result.methods:
            if m.on_target is not None:
                print(f"  {m.name}: {100 * m.on_target:.0f}% of the saliency lies on the actor "
                      f"(which covers {100 * area:.0f}% of the clip)")
    _summary(result, out, args.quiet)
    return 0


def _summary(result, out: Path, quiet: bool) -> None:
    if quiet:
        return
    print(f"files in {out}/: open {out / 'report.html'} in a browser "
          f"(overlays: {', '.join(m.overlay for m in result.methods)})")
