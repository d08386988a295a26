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


def test_boxes_outside_the_crop_are_skipped_alike_by_localisation_and_pointing():
    """A frame whose box lies wholly outside the centre crop has no visible ground truth: NaN for both metrics
    (it used to become a zero-area box: IoU 0 for localisation but "not annotated" for pointing)."""
    import torch

    from vidxai.data.ucf101_24 import boxes_to_model
    from vidxai.io import preprocess
    from vidxai.metrics.localization import localization_iou
    from vidxai.metrics.pointing import pointing_game

    spec = vidxai.InputSpec(num_frames=2, crop=(240, 240), short_side=240)
    _, geometry = preprocess(np.zeros((2, 240, 320, 3), np.uint8), spec)  # the crop drops 40 px on each side
    boxes = np.array([[100, 50, 200, 150], [0, 50, 30, 150]], np.float32)  # frame 1: inside the cut-off strip
    model_boxes = boxes_to_model(boxes, geometry, (240, 320))
    assert torch.isfinite(model_boxes[0]).all() and torch.isnan(model_boxes[1]).all()
    saliency = torch.zeros(2, 240, 240)
    saliency[:, 100, 100] = 1.0  # inside frame 0's box (x 60-160 after the crop)
    assert float(pointing_game(saliency, model_boxes)) == 1.0
    ious = localization_iou(saliency, model_boxes, scheme="value")
    assert ious.shape == (20,) and torch.isfinite(ious).all()
    # only frame 0 counts: the threshold-0 box is the whole frame, IoU = 100*100 / 240^2 (frame 1 skipped)
    assert abs(float(ious[0]) - 100 * 100 / 240 ** 2) < 1e-4
