"""Dataset loaders over real-layout folders: Kinetics-400 class folders and the UCF101-24 split guard."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import vidxai
from vidxai.errors import ConfigError


def _tiny_video(path, frames=6):
    from vidxai.io.encode import write_video

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, np.random.default_rng(0).integers(0, 255, (frames, 32, 48, 3), dtype=np.uint8), fps=10)


def test_kinetics400_folder_per_class_loads_with_official_names(tmp_path):
    from vidxai.data.video_datasets import Kinetics400

    _tiny_video(tmp_path / "playing cricket" / "a.mp4")
    _tiny_video(tmp_path / "arm_wrestling" / "b.mp4")
    spec = vidxai.InputSpec(num_frames=4, crop=(32, 32), short_side=32)
    ds = Kinetics400(tmp_path, spec)  # used to fail: ImportError on a class-name list that does not exist
    labels = sorted(int(ds[i]["label"]) for i in range(len(ds)))
    names = vidxai.data.labels.load_labels("kinetics400")
    assert labels == sorted([names.index("playing cricket"), names.index("arm wrestling")])
    assert tuple(ds[0]["clip"].shape) == (3, 4, 32, 32)


def _annotations(tmp_path):
    db = {"Basketball/v_Basketball_g01_c01": {
        "numf": 20, "label": 0,
        "annotations": [{"label": 0, "sf": 0, "ef": 20, "boxes": np.tile(np.array([[10, 10, 50, 60]], np.uint16), (20, 1))}]}}
    path = tmp_path / "ann" / "pyannot.pkl"
    path.parent.mkdir()
    with open(path, "wb") as f:
        pickle.dump({"db": db, "classes": ["Basketball"]}, f)
    return path


def test_ucf101_24_refuses_to_run_without_a_split_list(tmp_path):
    from vidxai.data.ucf101_24 import UCF101_24

    ann = _annotations(tmp_path)
    spec = vidxai.InputSpec(num_frames=16, crop=(32, 32), short_side=32)
    with pytest.raises(ConfigError, match="split list"):  # used to score every annotated (training) video
        UCF101_24(tmp_path, ann, spec)
    with pytest.raises(ConfigError, match="not found"):
        UCF101_24(tmp_path, ann, spec, split_list=tmp_path / "nope.txt")
    assert len(UCF101_24(tmp_path, ann, spec, split_list="all")) == 1  # on purpose: explicit opt-in
    (ann.parent / "testlist01.txt").write_text("Basketball/v_Basketball_g01_c01\n")
    assert len(UCF101_24(tmp_path, ann, spec)) == 1  # the list beside the annotations is found
