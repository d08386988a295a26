"""Writing videos with PyAV: H.264 mp4 that browsers play, GIF, and a few other containers.

=========  ==================================================================================
suffix     encoding
=========  ==================================================================================
.mp4 .mov  H.264 (libx264, crf 18) yuv420p, ``+faststart``; mpeg4 with a warning when this
 .m4v      FFmpeg build has no H.264 encoder
.mkv       H.264 yuv420p (same fallback)
.webm      VP9 (libvpx-vp9, else VP8) yuv420p
.avi       MJPEG (every frame a keyframe; what OpenCV writes as 'MJPG')
.gif       one global palette from all frames (FFmpeg palettegen/paletteuse, ordered dither);
           falls back to Pillow, then to FFmpeg's fixed rgb8 palette
=========  ==================================================================================

4:2:0 chroma needs even sizes: odd heights/widths are padded by repeating the last row/column.
"""
from __future__ import annotations

import functools
import os
import warnings
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ..errors import InputError, ShapeError

__all__ = ["write_video", "available_encoders", "has_encoder", "VIDEO_SUFFIXES"]

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".gif")


@functools.lru_cache(maxsize=None)
def has_encoder(name: str) -> bool:
    """Whether PyAV's FFmpeg has the encoder ``name`` (e.g. ``"libx264"``)."""
    try:
        av.codec.Codec(name, "w")
        return True
    except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown codecs across versions
        return False


def available_encoders() -> dict[str, bool]:
    """The encoders vidxai may use and whether this FFmpeg build has them."""
    return {n: has_encoder(n) for n in ("libx264", "h264", "mpeg4", "libvpx-vp9", "libvpx", "mjpeg", "gif")}


def _as_uint8_frames(frames) -> np.ndarray:
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    arr = np.asarray(frames)
    if arr.ndim == 3 and arr.dtype == np.uint8:  # grey (T, H, W)
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.dtype != np.uint8 or arr.ndim != 4 or arr.shape[-1] not in (3, 4):
        raise ShapeError(f"expected uint8 frames of shape (T, H, W, 3), got {arr.dtype} {tuple(arr.shape)}")
    if arr.shape[0] == 0:
        raise ShapeError("cannot write a video with no frames")
    return np.ascontiguousarray(arr[..., :3])


def _pad_even(arr: np.ndarray) -> np.ndarray:
    ph, pw = arr.shape[1] % 2, arr.shape[2] % 2
    if ph or pw:
        arr = np.pad(arr, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    return arr


def _rate(fps: float) -> Fraction:
    if not fps or fps <= 0:
        raise InputError(f"fps must be positive, got {fps}")
    return Fraction(float(fps)).limit_denominator(1001)


def write_video(path: str | os.PathLike, frames, fps: float = 25.0, crf: int = 18, codec: str | None = None,
                bit_rate: int | None = None, keyframe_interval: int | None = None, progress: bool = False) -> Path:
    """Write uint8 RGB frames ``(T, H, W, 3)`` (numpy or torch; ``(T, H, W)`` grey is accepted) to ``path``.

    The format follows the suffix (see the module doc); parent folders are created. ``crf`` sets the
    H.264/VP9 quality (lower is better, 18 is visually lossless); ``codec`` overrides the encoder;
    ``keyframe_interval`` sets the GOP length (default: the encoder's, 250 for H.264); ``progress`` shows a
    bar over the frames (mp4/webm/...). Returns the path.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"cannot write {p.name!r}: use one of {', '.join(VIDEO_SUFFIXES)}")
    arr = _as_uint8_frames(frames)
    rate = _rate(fps)
    p.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":  # through a temporary name, as _write_av does: never a half-written file under p
        tmp = p.with_name(f".{p.name}.part.gif")
        try:
            _write_gif(tmp, arr, rate)
            os.replace(tmp, p)
        finally:
            tmp.unlink(missing_ok=True)
    else:
        _write_av(p, arr, rate, suffix, crf, codec, bit_rate, keyframe_interval, progress)
    return p


def _pick_codec(suffix: str, codec: str | None) -> tuple[str, str, dict]:
    """(encoder, pix_fmt, options) for a suffix."""
    if codec:
        if not has_encoder(codec):
            raise InputError(f"this FFmpeg build has no {codec!r} encoder")
        pix = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        return codec, pix, {}
    if suffix == ".avi":
        return "mjpeg", "yuvj420p", {}
    if suffix == ".webm":
        for name in ("libvpx-vp9", "libvpx"):
            if has_encoder(name):
                return name, "yuv420p", {}
        raise InputError("this FFmpeg build has no VP8/VP9 encoder: write .mp4 instead")
    if has_encoder("libx264"):
        # mbtree=0: x264's macroblock-tree rate control made the decoded pixels differ from run to run (measured
        # on the demo's clip, also with threads=1), so the numbers of a written-and-read clip were not reproducible
        return "libx264", "yuv420p", {"preset": "veryfast", "profile": "high", "x264-params": "mbtree=0"}
    warnings.warn("this FFmpeg build has no libx264: writing MPEG-4 part 2 (browsers may not play it)",
                  stacklevel=4)
    return "mpeg4", "yuv420p", {}


def _write_av(p: Path, arr: np.ndarray, rate: Fraction, suffix: str, crf: int, codec: str | None,
              bit_rate: int | None, keyframe_interval: int | None = None, progress: bool = False) -> None:
    name, pix_fmt, opts = _pick_codec(suffix, codec)
    arr = _pad_even(arr)
    T, H, W = arr.shape[:3]
    container_opts = {"movflags": "+faststart"} if suffix in (".mp4", ".m4v", ".mov") else {}
    tmp = p.with_name(f".{p.name}.part{suffix}")  # never leave a half-written file under the real name
    try:
        with av.open(str(tmp), mode="w", options=container_opts) as c:
            s = c.add_stream(name, rate=rate)
            s.width, s.height, s.pix_fmt = W, H, pix_fmt
            if name in ("libx264", "libvpx-vp9", "libvpx"):
                opts = {**opts, "crf": str(int(crf))}
                if name.startswith("libvpx"):
                    opts.update({"b": "0", "deadline": "realtime", "cpu-used": "8"})
            elif name in ("mpeg4", "mjpeg", "h264"):
                s.bit_rate = int(bit_rate or max(W * H * float(rate) * 2, 1_000_000))
                if name == "mjpeg":
                    opts = {**opts, "q:v": "2"}
            if keyframe_interval:
                s.codec_context.gop_size = int(keyframe_interval)
                if name == "libx264":
                    opts.update({"g": str(int(keyframe_interval)), "keyint_min": str(int(keyframe_interval)),
                                 "sc_threshold": "0"})
            if bit_rate and name not in ("mpeg4", "mjpeg"):
                s.bit_rate = int(bit_rate)
            s.options = opts
            from tqdm.auto import tqdm

            for i in tqdm(range(T), desc=f"encode {p.name}", unit="frame", disable=not progress, leave=False):
                frame = av.VideoFrame.from_ndarray(arr[i], format="rgb24")
                frame.pts = i
                c.mux(s.encode(frame))
            c.mux(s.encode(None))
        os.replace(tmp, p)
    except av.FFmpegError as e:
        raise InputError(f"cannot write {p}: {' '.join(str(e).split())}") from None
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_gif(p: Path, arr: np.ndarray, rate: Fraction) -> None:
    try:
        _write_gif_palettegen(p, arr, rate)
        return
    except Exception as e:  # noqa: BLE001 - filter support differs between FFmpeg builds; fall back below
        reason = " ".join(str(e).split())
    try:
        from PIL import Image  # Pillow picks an adaptive palette per frame
    except ImportError:
        warnings.warn(f"GIF palette generation failed ({reason}) and Pillow is not installed: using FFmpeg's "
                      "fixed rgb8 palette (coarse colours)", stacklevel=3)
        _write_gif_simple(p, arr, rate)
        return
    images = [Image.fromarray(f) for f in arr]
    duration = int(round(1000 / float(rate)))
    images[0].save(p, save_all=True, append_images=images[1:], duration=duration, loop=0, optimize=False)


def _write_gif_palettegen(p: Path, arr: np.ndarray, rate: Fraction) -> None:
    """One global palette for all frames (palettegen sees every frame before paletteuse maps them)."""
    T, H, W = arr.shape[:3]
    tb = 1 / rate
    graph = av.filter.Graph()
    src = graph.add_buffer(width=W, height=H, format="rgb24", time_base=tb)
    split = graph.add("split")
    gen = graph.add("palettegen", "stats_mode=full:reserve_transparent=0")
    use = graph.add("paletteuse", "dither=bayer:bayer_scale=3")
    sink = graph.add("buffersink")
    src.link_to(split)
    split.link_to(gen, 0, 0)
    split.link_to(use, 1, 0)
    gen.link_to(use, 0, 1)
    use.link_to(sink)
    graph.configure()
    for i in range(T):
        f = av.VideoFrame.from_ndarray(arr[i], format="rgb24")
        f.pts = i
        f.time_base = tb
        src.push(f)
    src.push(None)
    out = []
    while True:
        try:
            out.append(sink.pull())
        except (av.BlockingIOError, av.EOFError, EOFError, BlockingIOError):
            break
    if len(out) != T:
        raise RuntimeError(f"palette filter returned {len(out)} of {T} frames")
    tmp = p.with_name(f".{p.name}.part.gif")
    try:
        with av.open(str(tmp), mode="w", format="gif", options={"loop": "0"}) as c:
            s = c.add_stream("gif", rate=rate)
            s.width, s.height, s.pix_fmt = W, H, "pal8"
            for i, f in enumerate(out):
                f.pts = i
                f.time_base = tb
                c.mux(s.encode(f))
            c.mux(s.encode(None))
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()


def _write_gif_simple(p: Path, arr: np.ndarray, rate: Fraction) -> None:
    with av.open(str(p), mode="w", format="gif", options={"loop": "0"}) as c:
        s = c.add_stream("gif", rate=rate)
        s.width, s.height, s.pix_fmt = arr.shape[2], arr.shape[1], "rgb8"
        for i in range(arr.shape[0]):
            f = av.VideoFrame.from_ndarray(arr[i], format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
