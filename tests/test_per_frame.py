"""2-D-per-frame networks (frames folded into the batch, TSN/TSM-style): CAMs come back as (B, T, H, W) and equal
a per-frame Grad-CAM of the 2-D layer computed by hand; the tsn-r18 / tsm-r18 zoo entries."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from conftest import TinyNet3D

import vidxai
from vidxai.errors import ShapeError, UnsupportedModelError
from vidxai.models.per_frame import FrameNet, TemporalShift, tiny_backbone

B, T, S = 2, 5, 16
SPEC = vidxai.InputSpec(num_frames=T, crop=(S, S), short_side=S)


@pytest.fixture
def tiny_tsn():
    torch.manual_seed(0)
    return FrameNet(tiny_backbone(4), 4, num_classes=3).eval()


@pytest.fixture
def clip() -> torch.Tensor:
    return torch.randn(B, 3, T, S, S, generator=torch.Generator().manual_seed(3))


def hand_gradcam(net: FrameNet, x: torch.Tensor, target: list[int]) -> torch.Tensor:
    """Grad-CAM of each frame's 2-D ReLU map ``backbone.3``, upsampled frame by frame, stacked to (B, T, H, W)."""
    b, c, t, h, w = x.shape
    frames = x.transpose(1, 2).reshape(b * t, c, h, w)
    acts = net.backbone[:4](frames).detach().requires_grad_(True)  # (B*T, K, H', W')
    logits = net.fc(net.backbone[4:](acts)).view(b, t, -1).mean(1)
    score = logits[torch.arange(b), torch.tensor(target)].sum()
    (grads,) = torch.autograd.grad(score, acts)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one weight per channel and frame
    cams = (weights * acts).sum(1, keepdim=True).clamp_min(0)  # (B*T, 1, H', W')
    cams = F.interpolate(cams, size=(h, w), mode="bilinear", align_corners=False)
    return cams.view(b, t, h, w).detach()


@pytest.mark.parametrize("frames_in_batch", [None, True])
@pytest.mark.parametrize("weighting", ["global", "per_slice"])
def test_tsn_gradcam_equals_per_frame_gradcam_by_hand(tiny_tsn, clip, frames_in_batch, weighting):
    model = vidxai.wrap(tiny_tsn, spec=SPEC, frames_in_batch=frames_in_batch)
    res = vidxai.methods.get("gradcam")(model).attribute(clip, target=[0, 2], layer="backbone.3", weighting=weighting)
    assert res.saliency.shape == (B, T, S, S)
    assert res.raw.shape == (B, T, S // 2, S // 2)
    # Average consensus over frames and a pooled linear head: the gradient is the same in every frame, so the
    # global (T' x H' x W') and per-slice weights agree with the per-frame ones.
    torch.testing.assert_close(res.saliency, hand_gradcam(tiny_tsn, clip, [0, 2]))
    assert float(res.saliency.amax()) > 0


def test_default_layer_and_other_cam_variants_give_clip_shaped_maps(tiny_tsn, clip):
    model = vidxai.wrap(tiny_tsn, spec=SPEC)
    assert model.target_layers == ["backbone.2"]  # the last 2-D conv with a kernel over 1
    for method in ("gradcam", "gradcam++", "layercam", "guided-gradcam"):
        res = vidxai.methods.get(method)(model).attribute(clip, target=1)
        assert res.saliency.shape == (B, T, S, S), method
    res = vidxai.methods.get("gradcam++")(model).attribute(clip, target=1, reference="constant")
    assert res.saliency.shape == (B, T, S, S)


def test_frames_in_batch_false_is_a_clear_error_not_one_map_per_image(tiny_tsn, clip):
    """A per-frame network wrapped with frames_in_batch=False gave B*T maps for B clips (silent garbage); the
    attribution template checks every map's shape and names the fix."""
    model = vidxai.wrap(tiny_tsn, spec=SPEC, frames_in_batch=False)
    with pytest.raises(ShapeError, match="frames_in_batch=True"):
        vidxai.methods.get("gradcam")(model).attribute(clip, target=1)


def test_frames_in_batch_true_on_a_3d_layer_is_a_clear_error():
    torch.manual_seed(0)
    model = vidxai.wrap(TinyNet3D().eval(), spec=SPEC, frames_in_batch=True)
    with pytest.raises(UnsupportedModelError, match=r"frames_in_batch=True, but the CAM target layer outputs"):
        vidxai.methods.get("gradcam")(model).attribute(torch.randn(1, 3, T, S, S), target=0)


def test_temporal_shift_mixes_neighbouring_frames(clip):
    torch.manual_seed(0)
    tsn = FrameNet(tiny_backbone(8), 8, num_classes=3).eval()
    x = clip[:1].clone()
    y = x.clone()
    y[:, :, 2] += 1.0  # change frame 2 only

    def per_frame_feats(net, v):
        frames = v.transpose(1, 2).reshape(T, 3, S, S)
        for m in net.modules():
            if isinstance(m, TemporalShift):
                m.frames = T
        return net.backbone(frames)

    # TSN: frame 1's features do not see frame 2. TSM (shift in front of a residual block's conv1) does.
    assert torch.equal(per_frame_feats(tsn, x)[1], per_frame_feats(tsn, y)[1])
    from torchvision.models.resnet import BasicBlock

    torch.manual_seed(0)
    block = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), BasicBlock(8, 8), torch.nn.AdaptiveAvgPool2d(1),
                                torch.nn.Flatten())
    tsm = FrameNet(block, 8, num_classes=3, shift=True).eval()
    assert isinstance(block[1].conv1, TemporalShift)
    fx, fy = per_frame_feats(tsm, x), per_frame_feats(tsm, y)
    assert not torch.equal(fx[1], fy[1]) and not torch.equal(fx[3], fy[3])
    assert torch.equal(fx[0], fy[0]) and torch.equal(fx[4], fy[4])


@pytest.mark.parametrize("name", ["tsn-r18", "tsm-r18"])
def test_zoo_entries(name):
    model = vidxai.models.load(name, weights=None, num_classes=4)
    assert model.frames_in_batch is True and model.target_layers == ["backbone.layer4"]
    assert model.spec.num_frames == 8 and model.spec.crop == (224, 224)
    shifts = sum(isinstance(m, TemporalShift) for m in model.modules())
    assert shifts == (8 if name == "tsm-r18" else 0)  # one per BasicBlock of ResNet-18
    x = torch.randn(1, 3, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    res = vidxai.methods.get("gradcam")(model).attribute(x, target=1)
    assert res.saliency.shape == (1, 3, 64, 64) and res.raw.shape == (1, 3, 2, 2)


def test_vidxai_models_lists_them_with_their_weight_source(capsys):
    from vidxai.cli import main

    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    for name in ("tsn-r18", "tsm-r18"):
        assert rows[name]["family"] == "2d-per-frame"
        assert rows[name]["weights"].startswith("random")
