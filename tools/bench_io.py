"""Benchmark vidxai.io on a long video: index build, seeking range reads vs full decodes (PyAV and OpenCV).

Writes docs/benchmarks/io.json and docs/benchmarks/io.md. All numbers are measured in one run, side by side.

    .venv/bin/python tools/bench_io.py                 # 1500 frames 320x240 H.264 (GOP 250, like x264's default)
    .venv/bin/python tools/bench_io.py --frames 600 --repeat 3
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from vidxai.io import decode as decode_mod
from vidxai.io import read_frames, read_video, uniform_indices, video_info, write_video

REPO = Path(__file__).resolve().parents[1]


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def make_video(path: Path, frames: int, h: int, w: int, gop: int) -> None:
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 24, (h, w, 1), dtype=np.uint8)
    out = np.empty((frames, h, w, 3), np.uint8)
    for i in range(frames):
        out[i] = np.clip(np.stack([128 + 100 * np.sin(x / 17 + i / 7), 128 + 90 * np.cos(y / 11 - i / 9),
                                   128 + 80 * np.sin((x + y) / 23 + i / 13)], -1), 0, 255).astype(np.uint8) + noise
    write_video(path, out, fps=25, keyframe_interval=gop)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--size", type=int, nargs=2, default=(240, 320), metavar=("H", "W"))
    ap.add_argument("--gop", type=int, default=250)
    ap.add_argument("--clip", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=str(REPO / "docs" / "benchmarks"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.mp4"
        make_video(path, args.frames, *args.size, args.gop)
        n, k = args.frames, args.clip
        results = {}
        decode_mod.clear_cache()
        t = time.perf_counter()
        info = video_info(path)
        results["index_build_s"] = time.perf_counter() - t
        results["video_info_cached_s"] = best(lambda: video_info(path), args.repeat)
        results["read_last_clip_s"] = best(lambda: read_video(path, n - k, n), args.repeat)
        s0 = decode_mod.STATS["decoded"]
        read_video(path, n - k, n)
        results["read_last_clip_frames_decoded"] = decode_mod.STATS["decoded"] - s0
        results["read_centre_clip_s"] = best(lambda: read_video(path, (n - k) // 2, (n - k) // 2 + k), args.repeat)
        uni = uniform_indices(n, k)
        results["read_uniform_clip_s"] = best(lambda: read_frames(path, uni), args.repeat)
        s0 = decode_mod.STATS["decoded"]
        read_frames(path, uni)
        results["read_uniform_clip_frames_decoded"] = decode_mod.STATS["decoded"] - s0
        results["full_decode_s"] = best(lambda: read_video(path), 1)

        def cv_full():
            cap = cv2.VideoCapture(str(path))
            while cap.grab():
                cap.retrieve()
            cap.release()

        def cv_last():
            cap = cv2.VideoCapture(str(path))
            cap.set(cv2.CAP_PROP_POS_FRAMES, n - k)
            for _ in range(k):
                cap.read()
            cap.release()

        results["opencv_full_decode_s"] = best(cv_full, 1)
        results["opencv_read_last_clip_s"] = best(cv_last, args.repeat)
        results["speedup_last_clip_vs_full_decode"] = results["full_decode_s"] / results["read_last_clip_s"]
    meta = {"video": {"frames": n, "height": args.size[0], "width": args.size[1], "codec": info.codec,
                      "gop": args.gop, "keyframes": info.keyframes, "clip": k},
            "repeat": args.repeat, "python": platform.python_version(), "machine": platform.machine(),
            "note": "best of --repeat runs (full decodes once); 2 shared CPU cores"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "io.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2) + "\n")
    rows = [("index build (demux once, cold)", "index_build_s"), ("video_info, cached", "video_info_cached_s"),
            (f"read last {k} frames (seek)", "read_last_clip_s"), (f"read centre {k} frames (seek)", "read_centre_clip_s"),
            (f"read {k} uniform frames", "read_uniform_clip_s"), ("full decode (vidxai)", "full_decode_s"),
            ("full decode (OpenCV, no RGB copy)", "opencv_full_decode_s"),
            (f"read last {k} frames (OpenCV POS_FRAMES)", "opencv_read_last_clip_s")]
    lines = [f"# vidxai.io on a {n}-frame {args.size[1]}x{args.size[0]} {info.codec} video (GOP {args.gop})", "",
             "Measured by `tools/bench_io.py` in one run; best of "
             f"{args.repeat} (full decodes once).", "", "| operation | seconds |", "|---|---:|"]
    lines += [f"| {name} | {results[key]:.4f} |" for name, key in rows]
    lines += ["", f"Frames decoded to read the last {k}: {results['read_last_clip_frames_decoded']} of {n}; "
              f"for {k} uniform frames: {results['read_uniform_clip_frames_decoded']}. "
              f"Last clip vs full decode: {results['speedup_last_clip_vs_full_decode']:.1f}x faster.", ""]
    (out / "io.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
