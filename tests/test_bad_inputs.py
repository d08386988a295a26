"""Bad input never gives a traceback, silent garbage or a half-written output (the reliability matrix).

Every row is one bad (or well-formed but unusual) input to ``vidxai explain``, ``vidxai info``, the API
(``vidxai.explain``, ``vidxai.explain_batch``, a method's ``attribute()``) or ``vidxai.models.load``, and says
what must happen: the CLI exit code (0 where the unusual input is fine, then the outputs are checked) or the
:mod:`vidxai.errors` class the API raises. Every error message is one line without "Traceback", and no output
folder is left with a truncated or temporary file. Media files are generated here with PyAV (session-scoped,
in a temporary folder) and never committed; the model is the shipped ``synthetic-tiny``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch

import vidxai
from vidxai import errors as E
from vidxai.cli import main

from conftest import REPO

MODEL = "synthetic-tiny"
FAST = ["--model", MODEL, "--frames", "4", "--method", "gradient", "--no-curves", "-q"]  # cheapest explain


# -- media fixtures ---------------------------------------------------------------------------------
def _frames(t: int, h: int, w: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 80, (t, h, w, 3), dtype=np.uint8)
    for i in range(t):  # a bright square moving right
        y, x = h // 3, (i * max(1, w // 8)) % max(1, w - h // 3)
        frames[i, y:y + h // 3, x:x + h // 3] = 230
    return frames


def _encode(path: Path, frames: np.ndarray, codec: str = "libx264", pix_fmt: str = "yuv420p",
            pts: list[int] | None = None, rate: int = 8, container: str | None = None) -> Path:
    t, h, w = frames.shape[:3]
    with av.open(str(path), "w", format=container) as c:
        s = c.add_stream(codec, rate=rate)
        s.width, s.height, s.pix_fmt = w, h, pix_fmt
        if pts is not None:  # variable frame rate: time stamps in milliseconds
            s.codec_context.time_base = Fraction(1, 1000)
        for i in range(t):
            f = av.VideoFrame.from_ndarray(frames[i], format="rgb24")
            if pts is not None:
                f.pts, f.time_base = pts[i], Fraction(1, 1000)
            else:
                f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


def _audio_only(path: Path) -> Path:
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode(None))
    return path


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    m: dict[str, Path] = {"missing": d / "missing.mp4"}
    (d / "folder").mkdir()
    m["directory"] = d / "folder"
    m["empty"] = d / "empty.mp4"
    m["empty"].write_bytes(b"")
    m["random"] = d / "random.mp4"
    m["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    m["good"] = _encode(d / "good.mp4", _frames(12, 48, 64))
    data = m["good"].read_bytes()
    m["truncated"] = d / "truncated.mp4"
    m["truncated"].write_bytes(data[: len(data) // 3])
    m["text"] = d / "notes.mp4"
    m["text"].write_text("this is not a video\n" * 50)
    import cv2

    png = d / "image.png"
    cv2.imwrite(str(png), _frames(1, 48, 64)[0])
    m["png_as_mp4"] = d / "image_png.mp4"
    m["png_as_mp4"].write_bytes(png.read_bytes())
    m["audio_only"] = _audio_only(d / "audio.mp4")
    m["one_frame"] = _encode(d / "one.mp4", _frames(1, 48, 64))
    m["two_frames"] = _encode(d / "two.mp4", _frames(2, 48, 64))
    m["odd"] = _encode(d / "odd.mkv", _frames(6, 47, 63), codec="ffv1", pix_fmt="yuv444p")
    m["portrait"] = _encode(d / "portrait.mp4", _frames(6, 96, 48))
    m["gray"] = _encode(d / "gray.mkv", _frames(6, 48, 64), codec="ffv1", pix_fmt="gray")
    m["tenbit"] = _encode(d / "10bit.mkv", _frames(6, 48, 64), codec="ffv1", pix_fmt="yuv420p10le")
    m["yuv444"] = _encode(d / "yuv444.mp4", _frames(6, 48, 64), pix_fmt="yuv444p")
    m["vfr"] = _encode(d / "vfr.mp4", _frames(8, 48, 64), pts=[0, 40, 60, 200, 210, 400, 450, 700])
    m["4k"] = _encode(d / "4k.mp4", _frames(3, 2160, 3840), codec="mpeg4")
    m["file_as_out"] = d / "a_file"
    m["file_as_out"].write_text("x")
    ro = d / "readonly"
    ro.mkdir()
    ro.chmod(0o555)
    m["readonly"] = ro
    return m


@pytest.fixture(scope="session")
def tiny():
    return vidxai.models.load(MODEL)


@pytest.fixture(scope="session")
def clip(tiny) -> torch.Tensor:
    return torch.randn(1, 3, 4, 112, 112, generator=torch.Generator().manual_seed(0))


@pytest.fixture(scope="session")
def ckpts(tmp_path_factory, tiny) -> dict[str, Path]:
    from vidxai.models.checkpoint import save

    d = tmp_path_factory.mktemp("ckpt")
    good = save(tiny, d / "good.pt")
    data = Path(good).read_bytes()
    c = {"missing": d / "missing.pt", "directory": d}
    c["empty"] = d / "empty.pt"
    c["empty"].write_bytes(b"")
    c["random"] = d / "random.pt"
    c["random"].write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    c["truncated"] = d / "truncated.pt"
    c["truncated"].write_bytes(data[: len(data) // 2])
    sd = {k: v.clone() for k, v in tiny.net.state_dict().items()}
    c["wrong_key"] = d / "wrong_key.pt"
    torch.save({("renamed." + k): v for k, v in sd.items()}, c["wrong_key"])
    c["wrong_shape"] = d / "wrong_shape.pt"
    torch.save({k: (v[:1] if v.ndim else v) for k, v in sd.items()}, c["wrong_shape"])
    for bad, value in (("nan", float("nan")), ("inf", float("inf"))):
        poisoned = {k: v.clone() for k, v in sd.items()}
        key = next(k for k, v in poisoned.items() if v.is_floating_point() and v.ndim > 1)
        poisoned[key].view(-1)[0] = value
        c[bad] = d / f"{bad}.pt"
        torch.save(poisoned, c[bad])
    c["text"] = d / "notes.pt"
    c["text"].write_text("not a checkpoint")
    return c


# -- the checks every row shares --------------------------------------------------------------------
def check_message(msg: str) -> None:
    assert "Traceback" not in msg, msg
    lines = [ln for ln in msg.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line message, got:\n{msg}"


def check_outputs(folder: Path) -> None:
    """Nothing half-written: no temporary files, and every output file reads back."""
    if not folder.is_dir():
        return
    for f in folder.rglob("*"):
        assert not f.name.startswith("."), f"temporary file left behind: {f}"
        if f.suffix == ".json":
            json.loads(f.read_text())
        elif f.suffix == ".npz":
            with np.load(f) as z:
                list(z.values())
        elif f.suffix in (".mp4", ".gif"):
            assert vidxai.io.video_info(f).num_frames > 0


def check_success(out: Path, expect_frames: int | None = None) -> None:
    result = json.loads((out / "result.json").read_text())
    assert result["target"]["index"] in range(6)
    for m in result["methods"]:
        assert m["overlay"] and (out / m["overlay"]).is_file()
        with np.load(out / m["explanation"]) as z:  # one clip: an Explanation; several windows: the stitched maps
            sal = vidxai.Explanation.load(out / m["explanation"]).saliency.numpy() if "meta_json" in z else z["saliency"]
        assert np.isfinite(sal).all() and sal.min() >= 0
        info = vidxai.io.video_info(out / m["overlay"])
        assert info.num_frames == (expect_frames or info.num_frames)
    check_outputs(out)


@dataclass
class Row:
    id: str
    kind: str  # "explain", "info", "cli" (any argv), "api", "sub" (subprocess)
    args: Any  # argv template (list) or callable(ctx) for "api"
    expect: Any  # exit code (int), an error class, or "ok"
    says: str = ""  # a fragment the message must hold (case-insensitive)
    frames: int | None = None  # rendered frames expected on success
    marks: list = field(default_factory=list)


class Ctx:
    def __init__(self, media, ckpts, tiny, clip, out):
        self.m, self.c, self.model, self.x, self.out = media, ckpts, tiny, clip, out

    def fmt(self, argv: list[str]) -> list[str]:
        keys = {**{k: str(v) for k, v in self.m.items()}, **{f"ckpt_{k}": str(v) for k, v in self.c.items()},
                "out": str(self.out)}
        return [a.format(**keys) for a in argv]


def nan_clip(x, value=float("nan")):
    y = x.clone()
    y[0, 1, 2, 5, 7] = value
    return y


def empty_batch(x):
    return x[:0]


def attr(method: str, make: Callable, **params) -> Callable:
    def call(ctx):
        return vidxai.methods.get(method)(ctx.model).attribute(make(ctx.x), target=0, **params)

    return call


def api(fn: Callable) -> Callable:
    return fn


SLOW = [pytest.mark.slow]


def R(*a, **k) -> Row:  # noqa: N802
    return Row(*a, **k)


ROWS: list[Row] = [
    # -- vidxai info: unreadable files --------------------------------------------------------------
    R("info-missing", "info", ["{missing}"], 2, "not found"),
    R("info-directory", "info", ["{directory}"], 2, "directory"),
    R("info-empty", "info", ["{empty}"], 2, "empty"),
    R("info-random", "info", ["{random}"], 2, "cannot read"),
    R("info-truncated", "info", ["{truncated}"], 2, ""),
    R("info-text", "info", ["{text}"], 2, ""),
    R("info-png-as-mp4", "info", ["{png_as_mp4}"], 2, "not a video"),
    R("info-audio-only", "info", ["{audio_only}"], 2, "no video stream"),
    R("info-second-of-two-bad", "info", ["{good}", "{random}"], 2, "random.mp4"),
    # -- vidxai info: unusual but well-formed videos are fine ---------------------------------------
    R("info-one-frame", "info", ["{one_frame}"], 0),
    R("info-odd", "info", ["{odd}"], 0),
    R("info-gray", "info", ["{gray}"], 0),
    R("info-10bit", "info", ["{tenbit}"], 0),
    R("info-vfr", "info", ["{vfr}", "--json"], 0),
    # -- vidxai explain: unreadable files -----------------------------------------------------------
    R("explain-missing", "explain", ["{missing}"], 2, "not found"),
    R("explain-directory", "explain", ["{directory}"], 2, "no videos"),
    R("explain-empty", "explain", ["{empty}"], 2, "empty"),
    R("explain-random", "explain", ["{random}"], 2, "cannot read"),
    R("explain-truncated", "explain", ["{truncated}"], 2),
    R("explain-text", "explain", ["{text}"], 2),
    R("explain-png-as-mp4", "explain", ["{png_as_mp4}"], 2, "not a video"),
    R("explain-audio-only", "explain", ["{audio_only}"], 2, "no video stream"),
    # -- vidxai explain: too short, or unusual but fine ---------------------------------------------
    R("explain-one-frame", "explain", ["{one_frame}"], 2, "--pad"),
    R("explain-two-frames", "explain", ["{two_frames}"], 2, "--pad"),
    R("explain-two-frames-pad", "explain", ["{two_frames}", "--pad", "repeat"], 0, frames=4),
    R("explain-odd-size", "explain", ["{odd}"], 0, frames=4),
    R("explain-portrait", "explain", ["{portrait}"], 0, frames=4),
    R("explain-gray", "explain", ["{gray}"], 0, frames=4),
    R("explain-10bit", "explain", ["{tenbit}"], 0, frames=4),
    R("explain-444", "explain", ["{yuv444}"], 0, frames=4),
    R("explain-vfr", "explain", ["{vfr}"], 0, frames=4),
    R("explain-odd-gif", "explain", ["{odd}", "--format", "gif"], 0, frames=4),
    R("explain-vfr-all", "explain", ["{vfr}", "--clip", "all", "--stride", "2"], 0, frames=8),
    R("explain-short-all-loop", "explain", ["{two_frames}", "--clip", "all", "--pad", "loop"], 0, frames=2),
    R("explain-4k", "explain", ["{4k}", "--pad", "repeat"], 0, frames=4, marks=SLOW),
    # -- vidxai explain: bad targets ----------------------------------------------------------------
    R("target-out-of-range", "explain", ["{good}", "--target", "99"], 2, "out of range"),
    R("target-negative", "explain", ["{good}", "--target", "-1"], 2, "out of range"),
    R("target-unknown-name", "explain", ["{good}", "--target", "moving sideways"], 2, "unknown class name"),
    R("target-typo-suggests", "explain", ["{good}", "--target", "moving rigth"], 2, "did you mean 'moving right'"),
    R("target-empty", "explain", ["{good}", "--target", ""], 2, "target is an empty string"),
    R("target-blank", "explain", ["{good}", "--target", "  "], 2, "target is an empty string"),
    # -- vidxai explain: bad methods, models, parameters --------------------------------------------
    R("method-typo", "cli", ["explain", "{good}", "--model", MODEL, "--method", "gradcma"], 2, "did you mean 'gradcam'"),
    R("method-twice", "cli", ["explain", "{good}", "--model", MODEL, "--method", "gradient", "gradient"], 2, "twice"),
    R("model-typo", "cli", ["explain", "{good}", "--model", "synthetic-tiyn", "--method", "gradient"], 2,
      "did you mean 'synthetic-tiny'"),
    R("model-random-file", "cli", ["explain", "{good}", *FAST[2:], "--model", "{ckpt_random}", "--out", "{out}"], 2,
      "not a file saved by torch.save"),
    R("model-state-dict-file", "cli", ["explain", "{good}", *FAST[2:], "--model", "{ckpt_nan}", "--out", "{out}"], 2,
      "--weights"),
    R("weights-missing-file", "explain", ["{good}", "--weights", "{missing}.pt"], 2, ""),
    R("param-malformed", "explain", ["{good}", "--param", "no-equals-sign"], 2, "--param"),
    R("param-other-method", "explain", ["{good}", "--param", "gradcam:layer=x"], 2, "not among --method"),
    R("param-unknown", "explain", ["{good}", "--param", "colour=3"], 2, "reduction"),
    R("ig-unknown-param", "cli", ["explain", "{good}", "--model", MODEL, "--frames", "4", "--no-curves", "-q",
                                  "--method", "integrated-gradients", "--param", "n_step=4"], 2, "n_steps"),
    R("second-method-fails", "cli", ["explain", "{good}", *FAST[:4], "--no-curves", "-q", "--method", "gradient",
                                     "gradcam", "--param", "gradcam:layer=nope", "--out", "{out}"], 2, "unknown name 'nope'"),
    # -- vidxai explain: bad ranges ------------------------------------------------------------------
    R("clip-empty-range", "explain", ["{good}", "--clip", "5:5"], 2, "--clip"),
    R("clip-reversed", "explain", ["{good}", "--clip", "8:2"], 2, "--clip"),
    R("clip-garbage", "explain", ["{good}", "--clip", "middle"], 2, "--clip"),
    R("clip-past-end", "explain", ["{good}", "--clip", "100:120"], 2, "after the last frame"),
    R("clip-negative", "explain", ["{good}", "--clip", "-4:8"], 2, "--clip"),
    R("stride-zero", "explain", ["{good}", "--clip", "all", "--stride", "0"], 2, "--stride"),
    R("stride-negative", "explain", ["{good}", "--clip", "all", "--stride", "-2"], 2, "--stride"),
    R("stride-not-int", "explain", ["{good}", "--stride", "two"], 2, "--stride"),
    R("format-unknown", "explain", ["{good}", "--format", "avi"], 2, "--format"),
    R("explain-no-video", "cli", ["explain"], 2, "VIDEO"),
    R("info-no-video", "cli", ["info"], 2, "VIDEO"),
    R("command-typo", "cli", ["explian", "{good}"], 2, "explain"),
    R("frames-zero", "explain", ["{good}", "--frames", "0"], 2, "--frames"),
    R("frames-negative", "explain", ["{good}", "--frames", "-3"], 2, "--frames"),
    R("frames-below-min", "explain", ["{good}", "--frames", "2"], 2, "at least 4"),
    R("frames-too-many", "explain", ["{good}", "--frames", "64"], 2, "--pad"),
    R("topk-zero", "explain", ["{good}", "--topk", "0"], 2, "--topk"),
    R("alpha-out-of-range", "explain", ["{good}", "--alpha", "1.5"], 2, "--alpha"),
    R("batch-size-zero", "explain", ["{good}", "--batch-size", "0"], 2, "--batch-size"),
    R("fps-zero", "explain", ["{good}", "--fps", "0"], 2, "--fps"),
    R("colormap-unknown", "explain", ["{good}", "--colormap", "jett"], 2, "jet"),
    R("device-unknown", "explain", ["{good}", "--device", "gpu"], 2, "--device"),
    R("device-empty", "explain", ["{good}", "--device", ""], 2, "--device"),
    R("device-cuda-missing", "explain", ["{good}", "--device", "cuda:7"], 2, "cuda",
      marks=[pytest.mark.skipif(torch.cuda.device_count() > 7, reason="this machine has a cuda:7")]),
    # -- vidxai explain: bad output folders ----------------------------------------------------------
    R("out-is-file", "cli", ["explain", "{good}", *FAST, "--out", "{file_as_out}"], 2, "not a folder"),
    R("out-under-file", "cli", ["explain", "{good}", *FAST, "--out", "{file_as_out}/sub"], 2, "not a folder"),
    R("out-readonly", "cli", ["explain", "{good}", *FAST, "--out", "{readonly}/sub"], 2, "writ"),
    R("out-readonly-itself", "cli", ["explain", "{good}", *FAST, "--out", "{readonly}"], 2, "writ"),
    R("api-explain-video-out-is-file", "api",
      lambda c: vidxai.pipeline.explain_video(c.m["good"], MODEL, methods=["gradient"], frames=4, curves=False,
                                              quiet=True, out=c.m["file_as_out"]), E.InputError, "not a folder"),
    # -- subprocess: the real entry point -----------------------------------------------------------
    R("sub-info-random", "sub", ["info", "{random}"], 2, "cannot read"),
    R("sub-explain-text", "sub", ["explain", "{text}", *FAST, "--out", "{out}"], 2, ""),
    # -- API: files and arrays ----------------------------------------------------------------------
    R("api-missing", "api", lambda c: vidxai.explain(c.model, c.m["missing"], method="gradient"),
      E.VideoNotFoundError, "not found"),
    R("api-directory", "api", lambda c: vidxai.explain(c.model, c.m["directory"], method="gradient"),
      E.VideoDecodeError, "directory"),
    R("api-empty-file", "api", lambda c: vidxai.explain(c.model, c.m["empty"], method="gradient"),
      E.EmptyVideoError, "empty"),
    R("api-truncated", "api", lambda c: vidxai.explain(c.model, c.m["truncated"], method="gradient"),
      E.VideoError),
    R("api-audio-only", "api", lambda c: vidxai.explain(c.model, c.m["audio_only"], method="gradient"),
      E.VideoDecodeError, "no video stream"),
    R("api-one-frame", "api", lambda c: vidxai.explain(c.model, c.m["one_frame"], method="gradient"),
      E.TooFewFramesError, "pad"),
    R("api-float-frames", "api", lambda c: vidxai.explain(c.model, np.zeros((8, 32, 32, 3)), method="gradient"),
      E.ShapeError, "uint8"),
    R("api-zero-frames", "api",
      lambda c: vidxai.explain(c.model, np.zeros((0, 32, 32, 3), np.uint8), method="gradient"),
      E.ShapeError, "frames"),
    R("api-wrong-ndim", "api", lambda c: vidxai.explain(c.model, torch.zeros(3, 4, 112), method="gradient"),
      E.ShapeError, "shape"),
    R("api-not-a-model", "api", lambda c: vidxai.explain(42, c.x, method="gradient"), E.InputError, "model"),
    R("api-batch-to-explain", "api", lambda c: vidxai.explain(c.model, c.x.repeat(2, 1, 1, 1, 1), method="gradient"),
      E.ShapeError, "explain_batch"),
    R("api-clip-option-clip", "api",
      lambda c: vidxai.explain(c.model, c.m["good"], method="gradient", clip_options={"clip": "middle"}),
      E.InputError, "clip mode"),
    R("api-clip-option-unknown", "api",
      lambda c: vidxai.explain(c.model, c.m["good"], method="gradient", clip_options={"frames": 4}),
      E.InputError, "num_frames"),
    R("api-clip-too-small-for-model", "api",
      lambda c: vidxai.explain(c.model, torch.zeros(1, 3, 4, 2, 2), method="gradcam"), E.ShapeError, "(1, 3, 4, 2, 2)"),
    R("api-topk-negative", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", topk=-1),
      E.InputError, "topk"),
    R("api-topk-zero", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", topk=0), E.InputError, "topk"),
    R("api-predict-topk-zero", "api", lambda c: vidxai.predict(c.model, c.x, topk=0), E.InputError, "topk"),
    R("api-device-unknown", "api", lambda c: vidxai.explain(MODEL, c.x, method="gradient", device="gpu"),
      E.InputError, "device"),
    R("load-device-unknown", "api", lambda c: vidxai.models.load(MODEL, device="gpu"), E.InputError, "device"),
    R("load-num-frames-zero", "api", lambda c: vidxai.models.load(MODEL, num_frames=0), E.InputError, "num_frames"),
    # -- API: NaN / inf / empty tensors, checked once for every method ------------------------------
    *[R(f"api-nan-{m}", "api", lambda c, m=m: vidxai.explain_batch(c.model, nan_clip(c.x), method=m, target=0),
        E.InputError, "nan") for m in ("gradcam", "guided-backprop", "swagv-ig", "lrp-epsilon", "rise", "gradient")],
    *[R(f"api-inf-{m}", "api",
        lambda c, m=m: vidxai.explain_batch(c.model, nan_clip(c.x, float("inf")), method=m, target=0),
        E.InputError, "inf") for m in ("gradcam", "integrated-gradients")],
    *[R(f"api-empty-batch-{m}", "api", lambda c, m=m: vidxai.explain_batch(c.model, empty_batch(c.x), method=m),
        E.InputError, "empty") for m in ("gradcam", "guided-backprop", "swagv-ig", "lrp-epsilon", "rise")],
    R("attribute-nan-gradcam", "api", attr("gradcam", nan_clip), E.InputError, "nan"),
    R("attribute-nan-guided", "api", attr("guided-backprop", nan_clip), E.InputError, "nan"),
    R("attribute-nan-swagv", "api", attr("swagv-ig", nan_clip), E.InputError, "nan"),
    R("attribute-nan-lrp", "api", attr("lrp-epsilon", nan_clip), E.InputError, "nan"),
    R("attribute-nan-rise", "api", attr("rise", nan_clip, n_masks=8), E.InputError, "nan"),
    R("attribute-empty-gradcam", "api", attr("gradcam", empty_batch), E.InputError, "empty"),
    R("attribute-empty-rise", "api", attr("rise", empty_batch, n_masks=8), E.InputError, "empty"),
    R("attribute-ig-unknown-param", "api", attr("integrated-gradients", lambda x: x, n_step=4), E.InputError,
      "n_steps"),
    R("attribute-gradient-unknown-param", "api", attr("gradient", lambda x: x, smooth=1), E.InputError,
      "reduction"),
    # -- API: targets and names ---------------------------------------------------------------------
    R("api-target-out-of-range", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", target=6),
      E.TargetError, "out of range"),
    R("api-target-negative", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", target=-1),
      E.TargetError, "out of range"),
    R("api-target-unknown", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", target="jumping"),
      E.UnknownClassError, "jumping"),
    R("api-target-empty", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", target=""),
      E.TargetError, "empty"),
    R("api-target-float", "api", lambda c: vidxai.explain(c.model, c.x, method="gradient", target=1.5),
      E.TargetError, "1.5"),
    R("api-targets-count", "api",
      lambda c: vidxai.explain_batch(c.model, c.x.repeat(2, 1, 1, 1, 1), method="gradient", target=[0]),
      E.TargetError, "2 clips"),
    R("api-method-typo", "api", lambda c: vidxai.explain(c.model, c.x, method="guided-backprob"),
      E.UnknownMethodError, "did you mean 'guided-backprop'"),
    # -- models.load: names and checkpoints ---------------------------------------------------------
    R("load-typo", "api", lambda c: vidxai.models.load("synthetic-tinny"), E.UnknownModelError,
      "did you mean 'synthetic-tiny'"),
    R("load-weights-missing", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["missing"])),
      E.MissingCheckpointError, "not found"),
    R("load-weights-directory", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["directory"])),
      E.CheckpointError, "directory"),
    R("load-weights-empty", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["empty"])),
      E.CorruptCheckpointError, "empty"),
    R("load-weights-random", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["random"])),
      E.CorruptCheckpointError, "cannot read"),
    R("load-weights-text", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["text"])),
      E.CorruptCheckpointError, "cannot read"),
    R("load-weights-truncated", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["truncated"])),
      E.CorruptCheckpointError, "cannot read"),
    R("load-weights-wrong-key", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["wrong_key"])),
      E.CorruptCheckpointError, "does not fit"),
    R("load-weights-wrong-shape", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["wrong_shape"])),
      E.CorruptCheckpointError, "shape"),
    R("load-weights-nan", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["nan"])),
      E.CorruptCheckpointError, "nan"),
    R("load-weights-inf", "api", lambda c: vidxai.models.load(MODEL, weights=str(c.c["inf"])),
      E.CorruptCheckpointError, "inf"),
    R("cli-weights-nan", "cli", ["explain", "{good}", *FAST, "--weights", "{ckpt_nan}", "--out", "{out}"], 2, "nan"),
    R("cli-weights-truncated", "cli", ["explain", "{good}", *FAST, "--weights", "{ckpt_truncated}", "--out", "{out}"],
      2, "cannot read"),
]


def _row_params():
    return [pytest.param(r, id=r.id, marks=r.marks) for r in ROWS]


def test_rows_are_unique_and_many():
    ids = [r.id for r in ROWS]
    assert len(ids) == len(set(ids))
    assert len(ROWS) >= 60


@pytest.mark.parametrize("row", _row_params())
def test_bad_input(row: Row, media, ckpts, tiny, clip, tmp_path, capsys):
    if row.id.startswith("out-readonly") and os.access(media["readonly"], os.W_OK):
        pytest.skip("running as root (or on a file system without permissions): chmod does not forbid writes")
    out = tmp_path / "out"
    ctx = Ctx(media, ckpts, tiny, clip, out)
    if row.kind == "api":
        with pytest.raises(row.expect) as info:
            row.args(ctx)
        msg = str(info.value)
        check_message(msg)
        assert row.says.lower() in msg.lower(), msg
        return
    if row.kind == "sub":
        argv = ctx.fmt(row.args)
        p = subprocess.run([sys.executable, "-m", "vidxai", *argv], capture_output=True, text=True, cwd=tmp_path,
                           timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
        rc, err = p.returncode, p.stderr
    else:
        if row.kind == "info":
            argv = ["info", *ctx.fmt(row.args)]
        elif row.kind == "explain":
            argv = ["explain", *ctx.fmt(row.args[:1]), *FAST, *ctx.fmt(row.args[1:]), "--out", str(out)]
        else:
            argv = ctx.fmt(row.args)
        try:
            rc = main(argv)
        except SystemExit as e:  # argparse's errors
            rc = e.code
        err = capsys.readouterr().err
    assert rc == row.expect, f"exit {rc}, expected {row.expect}; stderr:\n{err}"
    if row.expect == 0:
        assert "Traceback" not in err
        if row.kind == "explain":
            check_success(out, row.frames)
        return
    assert "Traceback" not in err, err
    last = err.strip().splitlines()[-1] if err.strip() else ""
    assert "error:" in last, err
    check_message(err)  # argparse's errors too: exactly one line
    assert last.startswith("vidxai: error: "), err
    assert row.says.lower() in last.lower(), err
    check_outputs(out)


@pytest.mark.filterwarnings("ignore:GIF palette generation failed")
@pytest.mark.parametrize("suffix", [".mp4", ".gif", ".npz", ".json"])
def test_a_write_that_fails_midway_leaves_nothing(suffix, tmp_path, monkeypatch):
    """The writers go through a temporary file and a rename: a crash mid-write leaves neither a file nor a temp."""
    target = tmp_path / f"out{suffix}"
    frames = _frames(3, 16, 16)

    class Boom(RuntimeError):
        pass

    def boom(*a, **k):
        raise Boom("disk full")

    if suffix in (".mp4", ".gif"):
        monkeypatch.setattr(av.VideoFrame, "from_ndarray", boom)
        monkeypatch.setattr(vidxai.io.encode, "_write_gif_simple", boom)
        monkeypatch.setitem(sys.modules, "PIL", None)  # no Pillow fallback either
        with pytest.raises(Boom):
            vidxai.io.write_video(target, frames, fps=4)
    elif suffix == ".npz":
        monkeypatch.setattr(np, "savez_compressed", boom)
        exp = vidxai.Explanation(saliency=torch.zeros(2, 4, 4), method="gradient", target=0)
        with pytest.raises(Boom):
            exp.save(target)
    else:
        from vidxai.result import ExplainResult

        monkeypatch.setattr(json, "dumps", boom)
        with pytest.raises(Boom):
            ExplainResult().save(target)
    assert list(tmp_path.iterdir()) == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A mounted tmpfs of a given size (root only); unmounted afterwards. Skips where mounting is not allowed."""
    mounts = []

    def make(size_kb: int) -> Path:
        point = tmp_path / f"disk{size_kb}k"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'not root'}): full-disk rows skipped")
        mounts.append(point)
        return point

    yield make
    for point in mounts:
        subprocess.run(["umount", "-l", str(point)], capture_output=True)


@pytest.mark.parametrize("size_kb", [8, 48, 160])
def test_a_disk_that_fills_up_is_one_line_and_leaves_only_whole_files(size_kb, media, tiny_disk, capsys):
    """`vidxai explain` writing onto a filesystem that fills up at several levels (the first overlay, the npz,
    result.json): exit non-zero, `vidxai: error: ... No space left on device`, and every file left reads back."""
    from vidxai.cli import main

    disk = tiny_disk(size_kb)
    out = disk / "out"
    rc = main(["explain", str(media["good"]), "--model", MODEL, "--frames", "4", "--method", "gradient", "gradcam",
               "--no-curves", "-q", "--html", "--out", str(out)])
    err = capsys.readouterr().err
    if rc == 0:  # everything fitted: then it must all be whole
        check_outputs(out)
        return
    check_message(err)
    assert err.strip().splitlines()[-1].startswith("vidxai: error: ") and "no space left" in err.lower(), err
    check_outputs(out)
