"""UCF101-24 protocol on the real annotations (skips when ../shared/realdata is absent)."""
from __future__ import annotations

import numpy as np
import pytest

from vidxai.data.ucf101_24 import load_annotations, longest_run, protocol_clips, read_split


def test_longest_run():
    assert longest_run(np.array([0, 1, 1, 0, 1, 1, 1], bool)) == 3
    assert longest_run(np.zeros(5, bool)) == 0


@pytest.mark.realdata
def test_protocol_counts_on_real_annotations(realdata):
    root = realdata / "ucf101_24_annots"
    ann = load_annotations(root)
    assert len(ann) == 3194
    one = ann["BasketballDunk/v_BasketballDunk_g12_c01"]
    assert one.tubes[0].start == 8 and one.tubes[0].end == 39 and one.class_name == "BasketballDunk"
    # [x, y, w, h] = [155, 114, 30, 55] -> xyxy
    assert one.tubes[0].boxes[0].tolist() == [155.0, 114.0, 185.0, 169.0]
    test = read_split(root / "testlist01.txt")
    assert len(test) == 910
    clips, counts = protocol_clips(ann, test)
    print(counts)  # the numbers docs/datasets.md explains
    assert (counts.videos, counts.clips) == (746, 11828)
    assert counts.multi_actor_dropped + counts.too_short_dropped + counts.videos == 910
    assert all(np.isfinite(c.boxes).all() and len(c.frame_indices) == 16 for c in clips)
    assert all(c.frame_indices[0] % 8 == 0 for c in clips)
    _, strict = protocol_clips(ann, test, multi_actor="any")
    assert (strict.videos, strict.clips) == (705, 11238)
    # boxes lie inside the 320x240 frames
    allb = np.concatenate([c.boxes for c in clips])
    assert allb[:, 2].max() <= 320 and allb[:, 3].max() <= 240 and allb.min() >= 0
