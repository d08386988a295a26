"""The library pipeline (``vidxai.pipeline``): explain_video on the shipped synthetic-tiny model, the
ExplainResult record (result.json) and its atomic save/load round trip, and the lazy ``vidxai`` exports."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vidxai
from vidxai.errors import InputError
from vidxai.pipeline import (SCHEMA, ClipRecord, ExplainOptions, ExplainResult, MethodResult, ModelRecord, Prediction,
                             TargetRecord, VideoRecord, explain_video)

from conftest import REPO

MODEL = "synthetic-tiny"


def _model_ready() -> bool:
    try:
        return MODEL in vidxai.models.list() and vidxai.models.load(MODEL) is not None
    except Exception:  # noqa: BLE001 - anything missing means the shipped model is not there
        return False


@pytest.fixture(scope="module")
def tiny_model():
    if not _model_ready():
        pytest.skip("synthetic-tiny weights not available")
    return vidxai.models.load(MODEL)


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory) -> Path:
    """A 14-frame 64x48 (WxH) mp4 with a bright square moving right."""
    from vidxai.io import write_video

    frames = np.random.default_rng(1).integers(0, 50, (14, 48, 64, 3), dtype=np.uint8)
    for t in range(14):
        frames[t, 12:28, 3 * t:3 * t + 16] = 220
    path = tmp_path_factory.mktemp("pipeline") / "tiny.mp4"
    write_video(path, frames, fps=7)
    return path


def test_explain_video_writes_outputs_and_returns_the_record(tiny_model, tiny_video, tmp_path):
    out = tmp_path / "out"
    result = explain_video(tiny_video, tiny_model, methods=["gradient", "gradcam"], frames=8, curve_steps=2,
                           quiet=True, out=out, html=True, extra={"note": "hi"})
    assert isinstance(result, ExplainResult) and result.schema == SCHEMA
    assert isinstance(result.video, VideoRecord) and (result.video.width, result.video.height) == (64, 48)
    assert result.model.name == MODEL and result.model.num_classes == 6
    assert result.clip.mode == "centre" and result.clip.frame_indices == list(range(3, 11))
    assert all(isinstance(p, Prediction) for p in result.predictions) and len(result.predictions) == 5
    assert result.target.index == result.predictions[0].index and result.target.requested == "top1"
    assert [m.name for m in result.methods] == ["gradient", "gradcam"]
    gradient = result.method("gradient")
    assert 0 <= gradient.deletion_auc <= 1 and len(gradient.curves["deletion"]) == 3
    for name in (gradient.overlay, gradient.explanation, result.outputs["grid"], result.outputs["curves"],
                 result.outputs["report"], "result.json"):
        assert (out / name).is_file(), name
    assert len(result.explanations["gradient"]) == 1  # one window, in memory only
    # result.json is the record's JSON; it reads back into an equal record (extra keys included)
    on_disk = json.loads((out / "result.json").read_text())
    assert on_disk["note"] == "hi" and "explanations" not in on_disk
    assert on_disk == json.loads(json.dumps(result.to_dict()))
    assert ExplainResult.load(out) == result
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]


def test_explain_video_clip_all_and_no_output_folder(tiny_model, tiny_video, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = ExplainOptions(methods=["gradient"], clip="all", frames=8, stride=4, curves=False, quiet=True)
    result = explain_video(tiny_video, tiny_model, options=opts, out=None)
    assert list(tmp_path.iterdir()) == []  # out=None writes nothing
    assert result.clip.windows == [[0, 8], [4, 12], [6, 14]]  # iter_windows: the last window ends at the last frame
    assert result.clip.frame_indices == list(range(14)) and result.clip.num_windows == 3
    entry = result.methods[0]
    assert entry.overlay is None and entry.deletion_auc is None and "overlay" not in entry.to_dict()
    assert len(result.explanations["gradient"]) == 3
    assert result.params["stride"] == 4 and result.params["clip"] == "all"
    assert sum(p.probability for p in result.predictions) <= 1 + 1e-6


def test_options_are_checked_before_the_model_loads(tiny_video):
    with pytest.raises(InputError, match="--alpha"):
        explain_video(tiny_video, "no-such-model", alpha=2.0, out=None)
    with pytest.raises(InputError, match="twice"):
        explain_video(tiny_video, "no-such-model", options=ExplainOptions(methods=["gradient", "gradient"]), out=None)
    with pytest.raises(TypeError):
        explain_video(tiny_video, "no-such-model", no_such_setting=1, out=None)
    opts = ExplainOptions(methods=["gradient"], clip="4:12").resolved()
    assert opts.clip == (4, 12) and opts.params == {"gradient": {}}


def _record() -> ExplainResult:
    return ExplainResult(
        created="2024-01-01T00:00:00Z",
        video=VideoRecord(path="/v/clip.mp4", codec="h264", fps=25.0, num_frames=40, width=64, height=48,
                          duration=1.6),
        model=ModelRecord(name="m", weights=None, input="8x32x32", spec={"num_frames": 8}, num_classes=3),
        clip=ClipRecord(mode="centre", num_windows=1, window_frames=8, frame_indices=list(range(16, 24)),
                        windows=[[16, 24]], geometry=None),
        target=TargetRecord(index=2, name="c", probability=0.5, requested="top1"),
        predictions=[Prediction(2, "c", 0.5), Prediction(0, "a", 0.3)],
        methods=[MethodResult(name="gradient", params={"abs": True}, timing_s=0.1, deletion_auc=0.2,
                              overlay="overlay_gradient.mp4", on_target=float("nan"),
                              extra={"future_key": [1, 2]})],
        outputs={"curves": "curves.png"}, format="mp4", fps=25.0, params={"alpha": 0.5}, timings={"total_s": 1.0},
        versions={"vidxai": "0"}, extra={"ground_truth": {"label": 1}})


def test_result_save_load_round_trip(tmp_path):
    rec = _record()
    path = rec.save(tmp_path / "result.json")
    assert [p.name for p in tmp_path.iterdir()] == ["result.json"]  # written atomically, no temporary file left
    data = json.loads(path.read_text())
    # the result.json schema: these keys in this order, None kept where the schema has it, extras at the top level
    assert list(data) == ["schema", "created", "video", "model", "clip", "target", "predictions", "methods",
                          "outputs", "format", "fps", "params", "timings", "versions", "ground_truth"]
    assert data["model"]["weights"] is None and data["clip"]["geometry"] is None
    assert data["methods"][0]["future_key"] == [1, 2] and "boundaries" not in data["methods"][0]
    back = ExplainResult.load(path)
    assert math.isnan(back.methods[0].on_target)
    back.methods[0].on_target = rec.methods[0].on_target = None  # NaN != NaN
    assert back == rec and back.to_dict() == rec.to_dict()
    assert back.extra == {"ground_truth": {"label": 1}} and back.methods[0].extra == {"future_key": [1, 2]}


def test_result_reads_partial_and_legacy_dicts(tmp_path):
    legacy = {"video": {"path": "/x/a.mp4", "fps": 5}, "predictions": [{"index": 1, "name": "a", "probability": 0.7}],
              "methods": [{"name": "m", "overlay": "o.mp4"}], "outputs": {}}
    rec = ExplainResult.from_dict(legacy)
    assert rec.model is None and rec.target is None and rec.video.fps == 5 and rec.methods[0].deletion_auc is None
    (tmp_path / "result.json").write_text("{not json")
    with pytest.raises(InputError, match="cannot read"):
        ExplainResult.load(tmp_path)


def test_report_renders_from_the_record_or_its_dict(tmp_path):
    from vidxai.render import render_html

    rec = _record()
    page = render_html(rec, tmp_path)
    assert page == render_html(rec.to_dict(), tmp_path)
    assert "clip.mp4" in page and 'src="overlay_gradient.mp4"' in page and "deletion AUC 0.200" in page


def test_import_vidxai_stays_lazy_and_exposes_the_pipeline():
    code = ("import sys, vidxai; assert 'vidxai.pipeline' not in sys.modules and 'vidxai.render' not in sys.modules;"
            "import vidxai.pipeline as p; assert vidxai.explain_video is p.explain_video;"
            "assert vidxai.ExplainResult is p.ExplainResult and vidxai.ExplainOptions is p.ExplainOptions")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
