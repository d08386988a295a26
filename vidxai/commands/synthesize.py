"""``vidxai synthesize``: activation maximisation - a clip that a model finds most like a class."""
from __future__ import annotations

import argparse

EXAMPLES = """examples:
  vidxai synthesize --model synthetic-tiny --class "moving right" --out right.mp4
  vidxai synthesize --model i3d --class "playing cricket" --steps 400 --frames 16 --out cricket.gif
  vidxai synthesize --model synthetic-tiny --layer features.3 --channel 5 --out unit5.mp4
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("synthesize", help="synthesise a clip that maximises a class or a channel",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="synthetic-tiny", help="registry name (default synthetic-tiny)")
    p.add_argument("--weights", default="default", help="weights name or checkpoint path")
    p.add_argument("--class", dest="target", help="class name or index to maximise")
    p.add_argument("--layer", help="maximise a channel of this layer instead (module path)")
    p.add_argument("--channel", type=int, default=0)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--tv", type=float, default=0.05, help="total-variation weight")
    p.add_argument("--decay", type=float, default=1e-3, help="L2 decay weight")
    p.add_argument("--frames", type=int, help="number of frames (default: the model's)")
    p.add_argument("--size", type=int, nargs="+", metavar="PX",
                   help="frame size: one value (square) or H W (default: the model's crop)")
    p.add_argument("--temporal-blur", action="store_true", help="also blur the clip in time every few steps")
    p.add_argument("--fps", type=float, default=8.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default=None)
    p.add_argument("--out", default="synthesized.mp4", help="output video (.mp4 or .gif)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..attribution.synthesis import synthesize
    from ..errors import InputError
    from ..io import write_video
    from ..models import load

    if args.target is None and args.layer is None:
        raise InputError("give --class NAME or --layer PATH")
    size = None
    if args.size:
        if len(args.size) > 2 or min(args.size) < 8:
            raise InputError(f"--size takes one or two values of at least 8 pixels, got {args.size}")
        size = (args.size[0], args.size[-1])
    model = load(args.model, weights=args.weights, device=args.device)
    res = synthesize(model, target=args.target, layer=args.layer, channel=args.channel, steps=args.steps,
                     learning_rate=args.lr, tv_weight=args.tv, decay=args.decay, num_frames=args.frames,
                     size=size, temporal_blur=args.temporal_blur, seed=args.seed, progress=not args.quiet)
    write_video(args.out, res.frames, fps=args.fps)
    print(f"{res.target}: {res.start_score:.3f} on noise -> {res.objective[-1]:.3f}; wrote {args.out}")
    return 0
