"""Box helpers: one xyxy convention (x = column, x2/y2 exclusive) and the conversions into it."""
from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from vidxai.errors import ShapeError
from vidxai.metrics import boxes as B
from vidxai.metrics.base import Metric, as_batch, nanmean


def test_format_round_trips():
    xywh = torch.tensor([[10.0, 20.0, 30.0, 40.0]])
    xyxy = B.xywh_to_xyxy(xywh)
    assert xyxy.tolist() == [[10.0, 20.0, 40.0, 60.0]]
    assert B.xyxy_to_xywh(xyxy).tolist() == xywh.tolist()
    assert B.xyxy_to_cxcywh(xyxy).tolist() == [[25.0, 40.0, 30.0, 40.0]]
    assert B.cxcywh_to_xyxy(B.xyxy_to_cxcywh(xyxy)).tolist() == xyxy.tolist()
    assert B.convert(xywh, "xywh", "cxcywh").tolist() == [[25.0, 40.0, 30.0, 40.0]]
    # numpy in -> numpy out, ints accepted
    out = B.xywh_to_xyxy(np.array([1, 2, 3, 4]))
    assert isinstance(out, np.ndarray) and out.tolist() == [1.0, 2.0, 4.0, 6.0]
    with pytest.raises(ShapeError):
        B.xywh_to_xyxy(torch.zeros(3, 3))
    with pytest.raises(KeyError):
        B.convert(xywh, "yxyx")


def test_box_iou_hand_computed():
    a = torch.tensor([0.0, 0.0, 2.0, 2.0])
    b = torch.tensor([1.0, 1.0, 3.0, 3.0])
    assert B.box_iou(a, b).item() == pytest.approx(1 / 7)
    assert B.box_iou(a, a).item() == 1.0
    assert B.box_iou(a, torch.tensor([2.0, 0.0, 4.0, 2.0])).item() == 0.0  # touching edges: no overlap
    # contained box: 4 / 16
    assert B.box_iou(torch.tensor([0.0, 0.0, 4.0, 4.0]), torch.tensor([1.0, 1.0, 3.0, 3.0])).item() == 0.25
    nan = torch.full((4,), float("nan"))
    assert math.isnan(B.box_iou(a, nan).item())
    # broadcasting (T,4) against (4,)
    assert B.box_iou(torch.stack([a, b]), a).shape == (2,)
    assert B.box_area(torch.tensor([[0.0, 0.0, 3.0, 2.0], [3.0, 0.0, 1.0, 2.0]])).tolist() == [6.0, 0.0]


def test_masks_boxes_round_trip_non_square():
    # H=5 rows, W=7 columns: x (column) must come first
    m = torch.zeros(5, 7, dtype=torch.bool)
    m[1:3, 4:7] = True  # rows 1..2, columns 4..6
    box = B.masks_to_boxes(m)
    assert box.tolist() == [4.0, 1.0, 7.0, 3.0]
    assert torch.equal(B.boxes_to_masks(box, (5, 7)), m)
    empty = B.masks_to_boxes(torch.zeros(2, 5, 7, dtype=torch.bool))
    assert torch.isnan(empty).all()
    assert not B.boxes_to_masks(torch.full((4,), float("nan")), (5, 7)).any()
    # fractional box: pixel belongs when its centre is inside
    assert B.boxes_to_masks(torch.tensor([0.4, 0.0, 1.4, 1.0]), (1, 3)).tolist() == [[True, False, False]]


def test_ucf_xywh_to_model_coords_through_geometry():
    # 320x240 frame, short side resized to 128 -> 171x128 (W x H), centre crop 112x112 at top 8, left 29
    geometry = SimpleNamespace(original_size=(240, 320), resized_size=(128, 171), crop_box=(8, 29, 112, 112))
    xywh = np.array([[100.0, 60.0, 50.0, 90.0]])  # UCF101-24 style at 320x240
    model = B.boxes_to_model(B.xywh_to_xyxy(xywh), geometry)
    sx, sy = 171 / 320, 128 / 240
    expected = [100 * sx - 29, 60 * sy - 8, 150 * sx - 29, 150 * sy - 8]
    np.testing.assert_allclose(model[0], expected, rtol=1e-6)
    # a box partly outside the crop is clamped to it; inverse without clamping round-trips
    wide = np.array([[0.0, 0.0, 320.0, 240.0]])
    np.testing.assert_allclose(B.boxes_to_model(wide, geometry)[0], [0, 0, 112, 112])
    back = B.boxes_to_original(B.boxes_to_model(B.xywh_to_xyxy(xywh), geometry, clip=False), geometry)
    np.testing.assert_allclose(back, B.xywh_to_xyxy(xywh), rtol=1e-5)
    # dict geometry works too; a geometry missing fields is a clear error
    d = dict(original_size=(240, 320), resized_size=(128, 171), crop_box=(8, 29, 112, 112))
    np.testing.assert_allclose(B.boxes_to_model(B.xywh_to_xyxy(xywh), d), model)
    with pytest.raises(ShapeError, match="crop_box"):
        B.boxes_to_model(xywh, SimpleNamespace(original_size=(240, 320), resized_size=(128, 171)))
    # NaN boxes (no ground truth) stay NaN
    assert np.isnan(B.boxes_to_model(np.full((1, 4), np.nan), geometry)).all()


def test_base_helpers():
    assert math.isnan(nanmean(torch.tensor([float("nan")])))
    assert nanmean(torch.tensor([1.0, float("nan"), 3.0])) == 2.0
    s, added = as_batch(torch.zeros(2, 3, 4))
    assert s.shape == (1, 2, 3, 4) and added
    with pytest.raises(ShapeError):
        as_batch(torch.zeros(3, 4))

    class Count(Metric):
        name = "count"

        def update(self, v):
            self._add(v=v)

        def summary(self):
            return {"count": float(self.values("v").sum())}

    m = Count()
    m.update(torch.tensor([1.0, 2.0]))
    m.update(torch.tensor(3.0))
    assert m.summary()["count"] == 6.0 and "n=3" in repr(m)
    m.reset()
    assert m.values("v").numel() == 0


@pytest.mark.realdata
def test_real_ucf101_24_boxes_through_geometry(realdata):
    """Real UCF101-24 tubes ([x, y, w, h] at 320x240) land on the model crop: a map equal to the mapped box
    localises itself (IoU near 1 at every frame) and the pointing game hits."""
    import pickle

    from vidxai.metrics import localization_iou, pointing_game

    with open(realdata / "ucf101_24_annots" / "pyannot_with_class_names.pkl", "rb") as f:
        db = pickle.load(f)["db"]
    ann = db["Basketball/v_Basketball_g01_c01"]["annotations"][0]
    xywh = np.asarray(ann["boxes"], np.float32)[:16]
    assert xywh.shape == (16, 4) and (xywh[:, 0] + xywh[:, 2]).max() <= 320
    geometry = SimpleNamespace(original_size=(240, 320), resized_size=(128, 171), crop_box=(8, 29, 112, 112))
    boxes = torch.from_numpy(B.boxes_to_model(B.xywh_to_xyxy(xywh), geometry))
    assert (boxes[:, 2] <= 112).all() and (boxes[:, 3] <= 112).all()
    masks = B.boxes_to_masks(boxes, (112, 112))
    sal = masks.float().unsqueeze(0)
    iou = localization_iou(sal, boxes.unsqueeze(0), "value", [0.5])
    assert iou.item() > 0.9
    assert pointing_game(sal + 1e-3 * torch.rand(sal.shape), boxes.unsqueeze(0)).item() == 1.0
