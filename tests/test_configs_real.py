"""The shipped real-data configs run end to end on the real clips with the pretrained I3D (slow; skips without
../shared/realdata). Clips and methods are cut down; the configs themselves are read from configs/."""
from __future__ import annotations

import json

import pytest
import yaml

from vidxai.cli import main

REPO = __import__("pathlib").Path(__file__).resolve().parents[1]
pytestmark = [pytest.mark.slow, pytest.mark.network, pytest.mark.realdata]


def _config(name: str, tmp_path, **changes) -> str:
    cfg = yaml.safe_load((REPO / "configs" / name).read_text())
    for key, value in changes.items():
        if isinstance(value, dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path = tmp_path / name
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_ucf101_24_i3d_config_reports_localisation_and_pointing(realdata, tmp_path, monkeypatch):
    videos = tmp_path / "ucf101"
    names = []
    for video in sorted((realdata / "videos/ucf101_24").glob("*.avi")):
        name = f"{video.stem.split('_')[1]}/{video.stem}"
        (videos / name).parent.mkdir(parents=True, exist_ok=True)
        (videos / f"{name}.avi").symlink_to(video)
        names.append(name)
    (videos / "split.txt").write_text("\n".join(names))
    monkeypatch.setenv("UCF101_ROOT", str(videos))
    monkeypatch.setenv("UCF101_SPLIT", str(videos / "split.txt"))
    path = _config("ucf101_24_i3d.yaml", tmp_path, methods=["centre", "gradcam++", "saliency-tubes"],
                   dataset={"annotations": str(realdata / "ucf101_24_annots/pyannot_with_class_names.pkl"),
                            "limit": 4})
    assert main(["run", path, "--output", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    text = json.dumps(report)
    assert "saliency-tubes" in text and "pointing" in text and "error" in text


def test_kinetics400_config_runs_on_a_folder_of_real_clips(realdata, tmp_path, monkeypatch):
    root = tmp_path / "kinetics"
    for rel, label in [("videos/mmaction2/demo.mp4", "arm wrestling"), ("videos/kinetics_labelled/yoga.mp4", "yoga")]:
        (root / label).mkdir(parents=True)
        (root / label / (realdata / rel).name).symlink_to(realdata / rel)
    monkeypatch.setenv("KINETICS_ROOT", str(root))
    path = _config("kinetics400.yaml", tmp_path, methods=["centre", "saliency-tubes"],
                   evaluate={"deletion": {"steps": 4, "baseline": "zero"}})
    assert main(["run", path, "--output", str(tmp_path / "out"), "--quiet"]) == 0
    report = json.loads((tmp_path / "out/report.json").read_text())
    assert "deletion" in json.dumps(report)
