"""Grad-CAM++ on I3D-shaped layers: a content-independent border response must not become the peak.

The pretrained I3D's Mixed_5c responds at its last column and last time slice on any clip (a grey one too);
Grad-CAM++'s positive-only weights summed that response, so its peak sat in the same cell on every real clip.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vidxai
from vidxai.attribution.cam import GradCAM, GradCAMPlusPlus, LayerCAM, cam_from_gradients
from vidxai.errors import InputError


class HotspotNet(nn.Module):
    """relu(1x1x1 conv) + a fixed response at (t=-1, h=1, w=-1) -> global average pool -> linear (I3D's head)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 1, bias=False)
        nn.init.constant_(self.conv.weight, 1.0)
        self.features = nn.Identity()
        hotspot = torch.zeros(1, 4, 2, 7, 7)
        hotspot[:, :, -1, 1, -1] = 50.0  # what TF "SAME" padding does to I3D: strong, whatever the clip
        self.register_buffer("hotspot", hotspot)
        self.logits = nn.Conv3d(4, 3, 1)  # a 1x1x1 convolution head, as in I3D
        nn.init.constant_(self.logits.weight, 0.5)

    def forward(self, x):
        a = self.features(torch.relu(self.conv(nn.functional.adaptive_avg_pool3d(x, (2, 7, 7)))) + self.hotspot)
        return self.logits(a.mean(dim=(2, 3, 4), keepdim=True)).flatten(1)


def _model(cam_reference: str):
    model = vidxai.wrap(HotspotNet().eval(), spec=vidxai.InputSpec(num_frames=16, crop=(224, 224), short_side=224),
                        num_classes=3, target_layers=["features"])
    model.cam_reference = cam_reference
    return model


def _clip():
    x = torch.zeros(1, 3, 16, 224, 224)
    x[:, :, :, 96:128, 96:128] = 1.0  # the content: a bright square in the centre
    return x


def _peak(saliency):
    return np.unravel_index(int(saliency[0].argmax()), saliency[0].shape)


def test_gradcampp_peak_follows_content_with_a_constant_reference():
    x = _clip()
    plain = GradCAMPlusPlus(_model("none")).attribute(x, target=0)
    assert plain.extras["reference"] == "none"
    t, h, w = _peak(plain.saliency)
    assert w >= 192 and h < 64  # the old behaviour: the peak sits on the content-independent cell
    fixed = GradCAMPlusPlus(_model("constant")).attribute(x, target=0)  # reference="auto" follows the model
    assert fixed.extras["reference"] == "constant"
    t, h, w = _peak(fixed.saliency)
    assert 96 <= h < 128 and 96 <= w < 128
    # hand computation: the combined activations are A(x) - A(zeros) = relu(conv(pooled x)), zero off the square
    raw = fixed.raw[0].detach()
    assert float(raw[:, 1, 6].abs().max()) < 1e-6 and float(raw.max()) > 0


def test_reference_defaults_only_apply_to_positive_only_variants():
    x = _clip()
    assert GradCAM(_model("constant")).attribute(x, target=0).extras["reference"] == "none"  # published Grad-CAM
    assert LayerCAM(_model("constant")).attribute(x, target=0).extras["reference"] == "constant"
    explicit = GradCAM(_model("none")).attribute(x, target=0, reference="constant")
    assert explicit.extras["reference"] == "constant"
    with pytest.raises(InputError, match="reference"):
        GradCAM(_model("none")).attribute(x, target=0, reference="mean")


def test_reference_subtracts_only_from_the_combined_activations():
    torch.manual_seed(0)
    acts, grads, ref = torch.rand(2, 5, 2, 3, 3), torch.randn(2, 5, 2, 3, 3), torch.rand(1, 5, 2, 3, 3)
    from vidxai.attribution.cam import cam_weights

    expected = (cam_weights(acts, grads, "gradcam++") * (acts - ref)).sum(1).clamp_min(0)
    assert torch.allclose(cam_from_gradients(acts, grads, "gradcam++", reference=ref), expected)


def test_i3d_declares_a_constant_reference():
    model = vidxai.models.load("i3d", weights=None)
    assert model.cam_reference == "constant"


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.realdata
def test_gradcampp_on_real_ucf101_24_clips_is_not_stuck_in_one_cell(realdata, tmp_path):
    """The pretrained I3D on the real UCF101-24 test clips: peaks spread out and point at the actor."""
    import dataclasses

    from vidxai.data.ucf101_24 import UCF101_24

    model = vidxai.models.load("i3d")
    spec = dataclasses.replace(model.spec, num_frames=16)
    names = []
    for video in sorted((realdata / "videos/ucf101_24").glob("*.avi")):
        cls = video.stem.split("_")[1]
        (tmp_path / cls).mkdir(exist_ok=True)
        (tmp_path / cls / video.name).symlink_to(video)
        names.append(f"{cls}/{video.stem}")
    (tmp_path / "split.txt").write_text("\n".join(names))
    ds = UCF101_24(tmp_path, realdata / "ucf101_24_annots/pyannot_with_class_names.pkl", spec,
                   split_list=tmp_path / "split.txt", limit=12)
    cells, hits = set(), []
    for i in range(len(ds)):
        item = ds[i]
        sal = GradCAMPlusPlus(model).attribute(item["clip"][None], target=item["label"]).saliency[0]
        t, y, x = _peak(sal[None])
        cells.add((y // 32, x // 32))
        b = item["boxes"][t]
        hits.append(bool(b[0] <= x < b[2] and b[1] <= y < b[3]))
    assert len(cells) > 1 and np.mean(hits) >= 0.5
