"""Saliency Tubes: equal to the hand-computed CAM = sum_c w_c A_c, proportional to Grad-CAM, automatic layer
search, and clear errors for heads that are not global average pooling + one linear layer."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import vidxai
from vidxai import errors
from vidxai.attribution.base import upsample_to
from vidxai.attribution.tubes import SaliencyTubes


def tubes(model, x, target, **params):
    return vidxai.methods.get("saliency-tubes")(model).attribute(x, target=target, **params)


def hand_cam(model, x, layer: nn.Module, linear: nn.Linear, target, relu=True):
    store = {}
    handle = layer.register_forward_hook(lambda m, a, o: store.__setitem__("a", o.detach().clone()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    acts = store["a"]
    cam = sum(linear.weight[target, c].view(-1, *[1] * (acts.ndim - 2)).detach() * acts[:, c]
              for c in range(acts.shape[1]))
    return cam.clamp(min=0) if relu else cam


def test_tiny_net_equals_hand_cam_and_gradcam(tiny_model, tiny_clip):
    res = tubes(tiny_model, tiny_clip, [1, 4])
    net = tiny_model.net
    assert res.extras == {"layer": "features", "linear": "fc"}
    ref = hand_cam(tiny_model, tiny_clip, net.features, net.fc, torch.tensor([1, 4]))
    assert ref.shape == (2, 4, 16, 16)  # T' = 4 < T = 8
    assert torch.allclose(res.raw, ref, atol=1e-6)
    assert res.saliency.shape == (2, 8, 32, 32)
    assert torch.allclose(res.saliency, upsample_to(ref, (8, 32, 32)), atol=1e-6)
    signed = tubes(tiny_model, tiny_clip, [1, 4], relu=False)
    assert torch.allclose(signed.raw, hand_cam(tiny_model, tiny_clip, net.features, net.fc, torch.tensor([1, 4]),
                                               relu=False), atol=1e-6)
    assert signed.raw.min() < 0
    if "gradcam" in vidxai.methods.list():
        # With global average pooling Grad-CAM's weights are w_c / (T'H'W'): the same map up to that constant.
        g = vidxai.methods.get("gradcam")(tiny_model).attribute(tiny_clip, target=[1, 4], layer="features.6")
        assert torch.allclose(g.raw * (4 * 16 * 16), res.raw, atol=1e-5)


def test_top1_target_by_default(tiny_model, tiny_clip):
    res = tubes(tiny_model, tiny_clip, None)
    top = res.logits.argmax(1)
    assert torch.allclose(res.raw, hand_cam(tiny_model, tiny_clip, tiny_model.net.features, tiny_model.net.fc, top),
                          atol=1e-6)


class FunctionalPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 6, 3, padding=1)
        self.head = nn.Linear(6, 3)

    def forward(self, x):
        return self.head(torch.relu(self.conv(x)).mean(dim=(2, 3, 4)))


def test_functional_pooling_and_explicit_layers():
    torch.manual_seed(0)
    net = FunctionalPool().eval()
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(8, 8)), num_classes=3)
    x = torch.randn(1, 3, 4, 8, 8)
    # conv output is not what is pooled (the ReLU is functional), so there is no module output to use.
    with pytest.raises(errors.UnsupportedModelError, match="pooling"):
        tubes(model, x, 2)
    net.act = nn.ReLU()
    net.forward = lambda x: net.head(net.act(net.conv(x)).mean(dim=(2, 3, 4)))
    res = tubes(model, x, 2)
    assert res.extras == {"layer": "act", "linear": "head"}
    assert torch.allclose(res.raw, hand_cam(model, x, net.act, net.head, 2), atol=1e-6)
    res2 = tubes(model, x, 2, layer="act", linear=net.head)
    assert torch.equal(res.raw, res2.raw)


def test_torchvision_r3d18_finds_layer4():
    tvm = pytest.importorskip("torchvision.models.video")
    torch.manual_seed(0)
    net = tvm.r3d_18(num_classes=4).eval()
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(32, 32)), num_classes=4)
    x = torch.randn(1, 3, 4, 32, 32)
    res = tubes(model, x, 3)
    assert res.extras == {"layer": "layer4", "linear": "fc"}
    assert torch.allclose(res.raw, hand_cam(model, x, net.layer4, net.fc, 3), atol=1e-5)
    assert res.saliency.shape == (1, 4, 32, 32)


def _model(net, t=4, hw=8, k=3):
    return vidxai.wrap(net.eval(), spec=vidxai.InputSpec(num_frames=t, crop=(hw, hw)), num_classes=k)


@pytest.mark.parametrize("head", ["c3d", "maxpool", "x3d"])
def test_heads_that_are_not_pool_plus_linear_are_rejected(head):
    torch.manual_seed(0)
    conv = [nn.Conv3d(3, 6, 3, padding=1), nn.ReLU()]
    if head == "c3d":  # fc6 / fc7 / fc8 on flattened features
        net = nn.Sequential(*conv, nn.MaxPool3d(2), nn.Flatten(), nn.Linear(6 * 2 * 4 * 4, 16), nn.ReLU(),
                            nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))
    elif head == "maxpool":
        net = nn.Sequential(*conv, nn.AdaptiveMaxPool3d(1), nn.Flatten(), nn.Linear(6, 3))
    else:  # pool, then a 1x1x1 conv + ReLU, then the classifier
        net = nn.Sequential(*conv, nn.AdaptiveAvgPool3d(1), nn.Conv3d(6, 8, 1), nn.ReLU(), nn.Flatten(),
                            nn.Linear(8, 3))
    model = _model(net)
    with pytest.raises(errors.UnsupportedModelError, match="pooling"):
        tubes(model, torch.randn(1, 3, 4, 8, 8), 0)
    assert all(not m._forward_hooks for m in net.modules())


def test_no_linear_and_bad_parameters(tiny_model, tiny_clip):
    net = nn.Sequential(nn.Conv3d(3, 3, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten())
    with pytest.raises(errors.UnsupportedModelError, match="linear"):
        tubes(_model(net), torch.randn(1, 3, 4, 8, 8), 0)  # a 1x1x1 conv before the pool: no map to explain
    with pytest.raises(errors.InputError, match="unknown parameter"):
        tubes(tiny_model, tiny_clip, 0, weighting="global")
    with pytest.raises(errors.UnknownNameError):
        tubes(tiny_model, tiny_clip, 0, layer="features.99")
    with pytest.raises(errors.UnsupportedModelError, match="[Ll]inear"):
        tubes(tiny_model, tiny_clip, 0, linear="features.0")
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="saliency-tubes", target="c1")
    assert exp.saliency.shape == (8, 32, 32)


class PerPositionHead(nn.Module):
    """pytorchvideo's ResNetBasicHead shape: windowed AvgPool3d (stride 1), dropout, Linear per position, mean."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(3, 6, 3, padding=1), nn.ReLU())
        self.pool = nn.AvgPool3d((2, 3, 3), stride=1)
        self.dropout = nn.Dropout(0.5)  # its output is pooled features: must not be taken for the map
        self.proj = nn.Linear(6, 3)
        self.output_pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, x):
        x = self.dropout(self.pool(self.conv(x))).permute(0, 2, 3, 4, 1)
        x = self.proj(x).permute(0, 4, 1, 2, 3)
        return self.output_pool(x).flatten(1)


def test_windowed_pool_and_per_position_classifier():
    torch.manual_seed(0)
    net = PerPositionHead().eval()
    model = _model(net)
    x = torch.randn(2, 3, 4, 8, 8)
    res = tubes(model, x, [0, 2])
    assert res.extras == {"layer": "conv", "linear": "proj"}
    assert torch.allclose(res.raw, hand_cam(model, x, net.conv, net.proj, torch.tensor([0, 2])), atol=1e-6)
    assert all(not m._forward_hooks for m in net.modules())


class _I3DHead(nn.Module):
    """I3D's head on a small backbone: (2, 7, 7) VALID average pool, stride 1 -> 1x1x1 conv -> mean over time."""

    def __init__(self, classes: int = 5, width: int = 6, pool_time: int = 2) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv3d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool3d((2, 4, 4)))
        self.logits = nn.Conv3d(width, classes, 1)
        self.pool_time = pool_time

    def forward(self, x):
        a = self.backbone(x)
        a = nn.functional.avg_pool3d(a, (min(self.pool_time, a.shape[2]), a.shape[3], a.shape[4]), stride=1)
        return self.logits(a).mean(dim=(2, 3, 4))


@pytest.mark.parametrize("frames,pool_time", [(4, 2), (16, 2), (16, 8)])
def test_saliency_tubes_on_i3d_shaped_conv_heads(frames, pool_time):
    """A 1x1x1 conv head (I3D) and a conv head averaged over time: the tube is sum_k W[c, k] A_k, by hand."""
    torch.manual_seed(0)
    net = _I3DHead(pool_time=pool_time).eval()
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=frames, crop=(28, 28), short_side=28), num_classes=5)
    x = torch.randn(2, 3, frames, 28, 28)
    res = SaliencyTubes(model).attribute(x, target=[1, 3])  # used to fail: "needs ... one nn.Linear layer"
    assert res.extras["layer"] in ("backbone", "backbone.2") and res.extras["linear"] == "logits"  # same tensor
    acts = net.backbone(x).detach()
    w = net.logits.weight.detach().flatten(1)  # (classes, channels)
    expected = torch.stack([torch.einsum("kthw,k->thw", acts[b], w[c]) for b, c in enumerate([1, 3])]).clamp_min(0)
    assert torch.allclose(res.raw, expected, atol=1e-6)
    assert res.saliency.shape == (2, frames, 28, 28)
