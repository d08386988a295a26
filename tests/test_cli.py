"""The ``vidxai`` command line: explain end to end, listings, report, demo, and one-line errors on bad input."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import vidxai
from vidxai.cli import main

from conftest import REPO, TINY_CLI as TINY, tiny_cli_builder


def unregister(registry, name: str) -> None:
    """Drop a test-only entry so later test modules see the real registry."""
    registry._items.pop(name, None)
    registry._descriptions.pop(name, None)


@pytest.fixture(scope="module")
def tiny_registered():
    """A test-only tiny model in the registry (8x32x32 clips, 5 classes, random weights), removed afterwards."""
    added = TINY not in vidxai.models.list()
    if added:
        vidxai.models.register(TINY, description="test-only tiny 3D CNN", spec=vidxai.InputSpec(8, (32, 32), 32),
                               weight_source="random", family="test")(tiny_cli_builder)
    yield TINY
    if added:
        unregister(vidxai.models._REGISTRY, TINY)


@pytest.fixture(scope="module")
def small_video(tmp_path_factory) -> Path:
    """A non-square 20-frame 64x48 (WxH) mp4 with a moving bright square."""
    from vidxai.io import write_video

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 60, (20, 48, 64, 3), dtype=np.uint8)
    for t in range(20):
        frames[t, 10:26, 2 * t:2 * t + 16] = 230
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    write_video(path, frames, fps=10)
    return path


def decode(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def test_explain_end_to_end_writes_videos_curves_json_and_report(tiny_registered, small_video, tmp_path, capsys):
    out = tmp_path / "out"
    rc, stdout, err = run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", "gradient",
                              "gradcam", "--out", out, "--curve-steps", "4", "--html", "--target", "2")
    assert rc == 0, err
    assert "class 2" in stdout and "predictions" in stdout
    for name in ("overlay_gradient.mp4", "overlay_gradcam.mp4", "grid.mp4", "curves.png", "result.json",
                 "report.html", "gradient.npz", "gradcam.npz"):
        assert (out / name).is_file(), name
    frames = decode(out / "overlay_gradient.mp4")
    assert frames.shape == (8, 48, 64, 3)  # the clip's frames at the ORIGINAL resolution
    grid = decode(out / "grid.mp4")
    assert grid.shape[0] == 8 and grid.shape[2] > 3 * 64  # input + 2 methods side by side

    result = json.loads((out / "result.json").read_text())
    for key in ("video", "model", "clip", "target", "predictions", "methods", "outputs", "params", "timings",
                "versions"):
        assert key in result, key
    assert result["video"]["width"] == 64 and result["video"]["height"] == 48
    assert result["target"]["index"] == 2 and result["target"]["name"] == "class 2"
    assert result["target"]["requested"] == 2 and 0 < result["target"]["probability"] < 1
    probs = [p["probability"] for p in result["predictions"]]
    assert len(probs) == 5 and probs == sorted(probs, reverse=True) and sum(probs) == pytest.approx(1, abs=1e-4)
    assert [m["name"] for m in result["methods"]] == ["gradient", "gradcam"]
    for m in result["methods"]:
        assert 0 <= m["deletion_auc"] <= 1 and 0 <= m["insertion_auc"] <= 1 and m["timing_s"] > 0
        assert len(m["curves"]["deletion"]) == 5
    assert result["clip"]["frame_indices"] == list(range(6, 14))  # centre 8 of 20
    assert set(result["versions"]) >= {"vidxai", "torch", "av"}
    assert result["timings"]["total_s"] > 0
    page = (out / "report.html").read_text()
    assert 'src="overlay_gradient.mp4"' in page and 'src="curves.png"' in page and 'src="grid.mp4"' in page
    # the saved explanation round-trips
    exp = vidxai.Explanation.load(out / "gradient.npz")
    assert exp.method == "gradient" and exp.target == 2 and tuple(exp.saliency.shape) == (8, 32, 32)


BLOB = (slice(12, 22), slice(20, 28))  # model rows, cols of the test method's hot spot


@pytest.fixture(scope="module")
def blob_method():
    """A test-only method: saliency 1 on a known box of model pixels, 0 elsewhere, and two segments."""
    from vidxai.attribution.base import Attribution, AttributionResult

    name = "test-blob"
    added = name not in vidxai.methods.list()
    if added:
        @vidxai.methods.register(name, description="test-only: a fixed box of saliency", family="baseline")
        class Blob(Attribution):
            def attribute(self, inputs, target=None, **params):
                x, _, _ = self.prepare(inputs, target)
                sal = torch.zeros(x.shape[0], *x.shape[2:])
                sal[:, :, BLOB[0], BLOB[1]] = 1.0
                return AttributionResult(saliency=sal, segmentation=(sal > 0).long())
    yield name
    if added:
        unregister(vidxai.methods._REGISTRY, name)


def test_overlay_hot_spot_lands_on_the_right_original_pixels(tiny_registered, blob_method, small_video, tmp_path,
                                                             capsys):
    """Non-square 64x48 video, short side 48 -> 32, centre crop 32x32: the hot box maps back through crop + resize."""
    out = tmp_path / "o"
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", blob_method,
                         "--out", out, "--no-curves", "--alpha", "1", "--quiet")
    assert rc == 0, err
    geom = json.loads((out / "result.json").read_text())["clip"]["geometry"]
    (h1, w1), (top, left, ch, cw) = geom["resized_size"], geom["crop_box"]
    assert (h1, ch, cw) == (32, 32, 32) and w1 in (42, 43) and top == 0 and left in ((w1 - 32) // 2, (w1 - 31) // 2)
    sy, sx = 48 / h1, 64 / w1  # resized -> original scale
    r0, r1 = (BLOB[0].start + top) * sy, (BLOB[0].stop + top) * sy  # 18 .. 33
    c0, c1 = (BLOB[1].start + left) * sx, (BLOB[1].stop + left) * sx
    got = decode(out / "overlay_test-blob.mp4").astype(int)
    assert got.shape == (8, 48, 64, 3)
    hot, cold = render_lut()[255], render_lut()[0]
    inner = got[:, int(np.ceil(r0)) + 2:int(r1) - 2, int(np.ceil(c0)) + 2:int(c1) - 2]
    assert np.abs(inner - hot).max() < 40
    # the crop's cold part: just outside the box, still inside the crop
    crop_c0, crop_c1 = left * sx, (left + cw) * sx
    left_of_box = got[:, int(r0) - 2:int(r1) + 2, int(np.ceil(crop_c0)) + 2:int(c0) - 3]
    assert left_of_box.shape[2] >= 20 and np.abs(left_of_box - cold).mean() < 25
    below_box = got[:, int(r1) + 3:int(r1) + 5, int(c0):int(c1)]  # above the frame-number band
    assert below_box.size and np.abs(below_box - cold).mean() < 25
    # outside the crop the original pixels are left untinted (dark noise, no blue overlay)
    outside = got[:, 16:34, :int(crop_c0) - 2]
    assert outside.size and outside[..., 2].mean() < 60
    # supervoxel borders are drawn exactly around the box (white), in their own video
    bounds = decode(out / "boundaries_test-blob.mp4").astype(int)
    white = bounds.min(axis=-1) > 150  # white at 70% opacity: every channel >= 178
    rows = np.nonzero(white[:, 14:40, int(c0) + 3].any(0))[0] + 14
    assert abs(rows.min() - (r0 - 1)) <= 1.5 and abs(rows.max() - (r1 - 1)) <= 1.5


def render_lut():
    from vidxai import render

    return render.lut("jet").astype(int)


def test_explain_clip_all_stitches_windows_into_a_gif(tiny_registered, small_video, tmp_path, capsys):
    out = tmp_path / "all"
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", "gradient",
                         "--clip", "all", "--stride", "4", "--format", "gif", "--no-curves", "--quiet", "--out", out)
    assert rc == 0, err
    result = json.loads((out / "result.json").read_text())
    assert result["clip"]["num_windows"] >= 3
    covered = result["clip"]["frame_indices"]
    assert covered == list(range(covered[0], covered[-1] + 1))
    gif = decode(out / "overlay_gradient.gif")
    assert gif.shape[0] == len(covered) and gif.shape[1:3] == (48, 64)


def test_short_video_needs_pad(tiny_registered, small_video, tmp_path, capsys):
    argv = ["explain", small_video, "--model", tiny_registered, "--method", "gradient", "--frames", "30",
            "--no-curves", "--quiet", "--out", tmp_path / "p"]
    rc, _, err = run_cli(capsys, *argv)
    assert rc == 2 and err.count("\n") == 1 and "--pad" in err
    rc, _, err = run_cli(capsys, *argv, "--pad", "loop")
    assert rc == 0, err
    result = json.loads((tmp_path / "p" / "result.json").read_text())
    assert len(result["clip"]["frame_indices"]) == 30 and max(result["clip"]["frame_indices"]) == 19
    assert decode(tmp_path / "p" / "overlay_gradient.mp4").shape[0] == 30


def test_clip_all_refuses_renders_that_do_not_fit(tiny_registered, small_video, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("VIDXAI_RENDER_MEMORY_GB", "0.0005")  # 20 x 64x48x3 x 3 copies = 0.55 MB
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", "gradient",
                         "--clip", "all", "--no-curves", "--out", tmp_path)
    assert rc == 2 and err.count("\n") == 1 and "GB to explain and render" in err and "--clip START:END" in err


def test_stitch_averages_normalised_windows():
    from vidxai.commands.explain import stitch

    a = torch.zeros(4, 2, 2)
    a[:, 0, 0] = 1.0  # normalised: 1 at (0, 0), 0 elsewhere
    b = torch.full((4, 2, 2), 3.0)
    b[:, 1, 1] = 5.0  # normalised: 1 at (1, 1), 0 elsewhere
    out = stitch([a, b], [np.arange(0, 4), np.arange(2, 6)], np.arange(6))
    assert out.shape == (6, 2, 2)
    assert out[0, 0, 0] == 1 and out[0, 1, 1] == 0
    assert out[2, 0, 0] == 0.5 and out[3, 1, 1] == 0.5  # overlap: mean of both windows
    assert out[5, 1, 1] == 1 and out[5, 0, 0] == 0


def test_png_format_writes_frame_folders(tiny_registered, small_video, tmp_path, capsys):
    out = tmp_path / "png"
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", "gradient",
                         "--format", "png", "--no-curves", "--quiet", "--out", out, "--frames", "4")
    assert rc == 0, err
    assert len(list((out / "overlay_gradient").glob("*.png"))) == 4


@pytest.mark.parametrize("argv, expected", [
    (["explain", "{missing}"], "not found"),
    (["explain", "{bad}"], "as a video"),
    (["explain", "{video}", "--clip", "5-9"], "bad --clip"),
    (["explain", "{video}", "--clip", "9:5"], "END must be greater"),
    (["explain", "{video}", "--target", "99"], "out of range"),
    (["explain", "{video}", "--target", "class 77"], "unknown class name"),
    (["explain", "{video}", "--method", "gradiant"], "did you mean 'gradient'"),
    (["explain", "{video}", "--alpha", "1.5"], "--alpha"),
    (["explain", "{video}", "--colormap", "jett"], "colour map"),
    (["explain", "{video}", "--param", "nonsense"], "bad --param"),
    (["explain", "{video}", "--method", "gradient", "--param", "gradient:bogus=1"], "bogus"),
    (["report", "{missing_dir}"], "not a folder"),
    (["report", "{empty_dir}"], "no result.json"),
])
def test_bad_inputs_exit_nonzero_with_one_line(tiny_registered, small_video, tmp_path, capsys, argv, expected):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"this is not a video" * 50)
    (tmp_path / "empty").mkdir()
    fill = {"missing": tmp_path / "nope.mp4", "bad": bad, "video": small_video,
            "missing_dir": tmp_path / "nodir", "empty_dir": tmp_path / "empty"}
    argv = [a.format(**fill) for a in argv]
    if argv[0] == "explain":
        argv += ["--model", tiny_registered, "--out", str(tmp_path / "o"), "--no-curves"]
    rc, _, err = run_cli(capsys, *argv)
    assert rc != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vidxai: error:"), err
    assert expected.lower() in lines[0].lower(), lines[0]


def test_bad_device(tiny_registered, small_video, tmp_path, capsys):
    base = ["explain", small_video, "--model", tiny_registered, "--out", tmp_path, "--no-curves"]
    rc, _, err = run_cli(capsys, *base, "--device", "toaster")
    assert rc == 2 and err.count("\n") == 1 and "bad --device" in err
    if not torch.cuda.is_available():
        rc, _, err = run_cli(capsys, *base, "--device", "cuda")
        assert rc == 2 and err.count("\n") == 1 and "CUDA is not available" in err


def test_unknown_model_suggests(small_video, tmp_path, capsys):
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", "tiny-cli-tset", "--out", tmp_path)
    assert rc != 0 and err.count("\n") == 1 and "unknown model" in err


def test_model_checkpoint_path(tiny_registered, small_video, tmp_path, capsys):
    """``--model file.pt`` (from vidxai.models.checkpoint.save) rebuilds the named entry with those weights."""
    from vidxai.models.checkpoint import save

    model = vidxai.models.load(tiny_registered)
    with torch.no_grad():
        model.net.fc.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 50.0, 0.0]))  # class 3 wins everywhere
    ckpt = save(model, tmp_path / "tiny.pt")
    out = tmp_path / "ck"
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", ckpt, "--method", "gradient", "--out", out,
                         "--no-curves", "--quiet")
    assert rc == 0, err
    result = json.loads((out / "result.json").read_text())
    assert result["target"]["index"] == 3 and result["predictions"][0]["probability"] > 0.99
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    rc, _, err = run_cli(capsys, "explain", small_video, "--model", junk, "--out", out)
    assert rc == 2 and err.count("\n") == 1 and "cannot read checkpoint" in err


def test_methods_and_models_listings(tiny_registered, capsys):
    rc, out, _ = run_cli(capsys, "methods")
    assert rc == 0
    lines = {line.split()[0]: line for line in out.splitlines()[2:]}
    for name in ("gradient", "gradcam"):
        assert name in lines and len(lines[name].split()) > 3  # name, family and a description
    default = vidxai.methods.default_method()
    assert lines[default].split()[1] == "*"
    rc, out, _ = run_cli(capsys, "methods", "--json")
    assert {r["name"] for r in json.loads(out)} == set(vidxai.methods.list())
    rc, out, _ = run_cli(capsys, "models")
    assert rc == 0 and out.splitlines()[0].split() == ["name", "family", "input", "weights"]
    row = next(line for line in out.splitlines() if line.startswith(TINY))
    assert "test" in row and "8x32x32" in row and "random" in row
    rc, out, _ = run_cli(capsys, "models", "--json")
    assert {r["name"] for r in json.loads(out)} == set(vidxai.models.list())


def test_report_command_rewrites_page(tiny_registered, small_video, tmp_path, capsys):
    out = tmp_path / "r"
    assert run_cli(capsys, "explain", small_video, "--model", tiny_registered, "--method", "gradient", "--out", out,
                   "--no-curves", "--quiet")[0] == 0
    assert not (out / "report.html").exists()
    rc, stdout, _ = run_cli(capsys, "report", out)
    assert rc == 0 and "report.html" in stdout
    page = (out / "report.html").read_text()
    assert "overlay_gradient.mp4" in page and "class" in page


def test_help_has_examples_and_subprocess_error_exit_code(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "vidxai", "explain", "--help"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert p.returncode == 0 and "examples:" in p.stdout and "--clip all" in p.stdout
    p = subprocess.run([sys.executable, "-m", "vidxai", "explain", str(tmp_path / "missing.mp4"), "--model",
                        "synthetic-tiny"], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "not found" in p.stderr
    assert "Traceback" not in p.stderr


def _synthetic_ready() -> bool:
    try:
        from vidxai.data import synthetic  # noqa: F401

        return "synthetic-tiny" in vidxai.models.list() and vidxai.models.load("synthetic-tiny") is not None
    except Exception:  # noqa: BLE001 - anything missing means the shipped model is not there yet
        return False


def test_demo_offline_heat_on_actor(tmp_path, capsys):
    """``vidxai demo``: every output, mp4 at the clip's size, and the heat of the explanation lies on the actor."""
    if not _synthetic_ready():
        pytest.skip("synthetic-tiny weights not available")
    out = tmp_path / "demo"
    rc, stdout, err = run_cli(capsys, "demo", "--out", out, "--method", "guided-backprop", "gradient", "--curve-steps",
                              "8")
    assert rc == 0, err
    assert "prediction:" in stdout and "of the saliency lies on the actor" in stdout and str(out) in stdout
    for name in ("input.mp4", "overlay_guided-backprop.mp4", "overlay_gradient.mp4", "grid.mp4", "curves.png",
                 "result.json", "report.html", "gradient.npz"):
        assert (out / name).is_file(), name
    assert decode(out / "overlay_gradient.mp4").shape == (16, 112, 112, 3)
    assert decode(out / "input.mp4").shape == (16, 112, 112, 3)
    result = json.loads((out / "result.json").read_text())
    truth = result["ground_truth"]
    assert result["predictions"][0]["index"] == truth["label"]
    area = truth["actor_area"]
    for m in result["methods"]:
        # saliency concentrates on the actor far beyond its share of the pixels (about 8x measured at seed 0)
        assert m["on_target"] > 4 * area, (m["name"], m["on_target"], area)
    from vidxai.commands.demo import demo_methods

    assert demo_methods()[0] == vidxai.methods.default_method() and len(demo_methods()) == 3


@pytest.mark.realdata
@pytest.mark.parametrize("rel, size", [("videos/fingerrec_3dnet_vis/ucf101/v_Shotput_g05_c02.avi", (240, 320)),
                                       ("videos/kinetics_i3d/v_CricketShot_g04_c01_rgb.gif", (224, 224))])
def test_explain_real_clips(realdata, tiny_registered, tmp_path, capsys, rel, size):
    """Real UCF101 .avi and the kinetics-i3d GIF go through the whole pipeline at their own resolution."""
    out = tmp_path / "real"
    rc, _, err = run_cli(capsys, "explain", realdata / rel, "--model", tiny_registered, "--method", "gradient",
                         "--no-curves", "--quiet", "--out", out, "--html")
    assert rc == 0, err
    assert decode(out / "overlay_gradient.mp4").shape == (8, *size, 3)
    result = json.loads((out / "result.json").read_text())
    assert (result["video"]["height"], result["video"]["width"]) == size
    assert (out / "report.html").is_file()
