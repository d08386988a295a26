"""``vidxai info VIDEO...``: codec, frame rate, frame count, size and duration of videos."""
from __future__ import annotations

import argparse
import json

EXAMPLES = """examples:
  vidxai info clip.mp4
  vidxai info videos/*.avi --json
"""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("info", help="show codec, fps, frames, size and duration of videos",
                       description=__doc__, epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", nargs="+", metavar="VIDEO", help="video file(s) PyAV can read (mp4, avi, mkv, webm, gif...)")
    p.add_argument("--json", action="store_true", help="print one JSON object per video (a list for several)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..io import video_info

    infos = [video_info(v) for v in args.videos]  # the first bad file raises a one-line VidxaiError
    if args.json:
        data = [i.to_dict() for i in infos]
        print(json.dumps(data[0] if len(data) == 1 else data, indent=2))
        return 0
    for i, info in enumerate(infos):
        if i:
            print()
        rows = [("file", info.path), ("container", info.container), ("codec", f"{info.codec} ({info.pix_fmt})"),
                ("fps", f"{info.fps:.3f}".rstrip("0").rstrip(".")), ("frames", str(info.num_frames)),
                ("size", f"{info.width}x{info.height}"), ("duration", f"{info.duration:.3f} s"),
                ("keyframes", str(info.keyframes))]
        if info.rotation:
            rows.insert(6, ("rotation", f"{info.rotation} deg (applied when decoding)"))
        for k, v in rows:
            print(f"{k:<10} {v}")
    return 0
