"""CAM family (vidxai/attribution/cam.py) against pytorch-grad-cam, captum and hand-computed references."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import ConvNet2D, OneFrameClip, TwoPathwayNet, pooled_act_net
from torch import nn

import vidxai
from vidxai import errors
from vidxai.attribution.cam import cam_from_gradients, layer_gradients


# pytorch-grad-cam's Grad-CAM++ adds eps = 1e-6 to alpha's denominator (2 g^2 + sum(A) g^3); the paper's formula
# (ours) has none. Scaling the logits makes g^2 >> eps so the two agree.
SCALE = 1000.0
VARIANTS = ["gradcam", "gradcam++", "xgradcam", "layercam"]


def _attr(model, name, x, **kw):
    return vidxai.methods.get(name)(model).attribute(x, **kw)


def _count_hooks(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(getattr(m, "_backward_pre_hooks", {})) for m in module.modules())


# ---------------------------------------------------------------------------------------------------------------
# reference: pytorch-grad-cam
# ---------------------------------------------------------------------------------------------------------------
_PGC = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM", "layercam": "LayerCAM"}


def _pgc_raw(variant, net, layer, x, targets):
    """pytorch-grad-cam's rectified CAM at feature resolution and its final (normalised, resized) map."""
    import pytorch_grad_cam
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    cam = getattr(pytorch_grad_cam, _PGC[variant])(model=net, target_layers=[layer])
    try:
        out = cam(input_tensor=x, targets=[ClassifierOutputTarget(int(t)) for t in targets])
        acts = cam.activations_and_grads.activations[0].numpy()
        grads = cam.activations_and_grads.gradients[0].numpy()
        raw = np.maximum(cam.get_cam_image(x, layer, None, acts, grads, False), 0)
    finally:
        cam.activations_and_grads.release()
    return raw, out


@pytest.mark.parametrize("variant", VARIANTS)
def test_2d_cnn_matches_pytorch_grad_cam(variant):
    torch.manual_seed(0)
    net2d = ConvNet2D().eval()
    with torch.no_grad():
        net2d.fc.weight.mul_(SCALE)  # large gradients, see SCALE
    model = vidxai.wrap(OneFrameClip(net2d), spec=vidxai.InputSpec(num_frames=1, crop=(16, 16)), num_classes=4,
                        target_layers=["net2d.features.4"])
    x = torch.randn(3, 3, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    targets = [0, 2, 3]
    res = _attr(model, variant, x, target=targets, normalize=True)
    ref_raw, ref_out = _pgc_raw(variant, net2d, net2d.features[4], x[:, :, 0].clone(), targets)
    assert res.raw.shape == (3, 8, 8)
    assert ref_raw.max() > 0
    np.testing.assert_allclose(res.raw.numpy(), ref_raw, rtol=1e-4, atol=1e-6 * ref_raw.max())
    # After their conventions too: bilinear resize (cv2, half-pixel centres) and min-max normalisation.
    assert res.saliency.shape == (3, 1, 16, 16)
    np.testing.assert_allclose(res.saliency[:, 0].numpy(), ref_out, atol=1e-4)


@pytest.mark.parametrize("variant", VARIANTS)
def test_3d_cnn_raw_matches_pytorch_grad_cam(tiny_model, tiny_clip, variant):
    with torch.no_grad():
        tiny_model.net.fc.weight.mul_(SCALE)
    layer = tiny_model.layer("features.5")
    res = _attr(tiny_model, variant, tiny_clip, target=[1, 4])
    ref_raw, _ = _pgc_raw(variant, tiny_model.net, layer, tiny_clip.clone(), [1, 4])
    assert res.raw.shape == (2, 4, 16, 16) == ref_raw.shape  # T' = 4 < T = 8
    assert res.saliency.shape == (2, 8, 32, 32)
    if variant == "gradcam++":
        # 1024 positions -> small per-position gradients, where their eps still shows: same maths with eps=1e-6
        acts, grads, _, _ = layer_gradients(tiny_model, tiny_clip, [1, 4], [layer])
        same = cam_from_gradients(acts[0], grads[0], "gradcam++", eps=1e-6)
        np.testing.assert_allclose(same.numpy(), ref_raw, rtol=1e-4, atol=1e-6 * ref_raw.max())
        np.testing.assert_allclose(res.raw.numpy(), ref_raw, rtol=0, atol=0.02 * ref_raw.max())
    else:
        np.testing.assert_allclose(res.raw.numpy(), ref_raw, rtol=1e-4, atol=1e-6 * ref_raw.max())


# ---------------------------------------------------------------------------------------------------------------
# reference: hand computation with autograd through the whole network
# ---------------------------------------------------------------------------------------------------------------
def _acts_grads(net, layer, x, targets):
    store = {}
    h = layer.register_forward_hook(lambda m, a, o: store.__setitem__("a", o))
    try:
        logits = net(x)
        score = logits.gather(1, torch.as_tensor(targets).view(-1, 1)).sum()
        (g,) = torch.autograd.grad(score, store["a"])
    finally:
        h.remove()
    return store["a"].detach(), g


def test_gradcam_global_and_per_slice_by_hand(tiny_model, tiny_clip):
    acts, grads = _acts_grads(tiny_model.net, tiny_model.layer("features.5"), tiny_clip, [2, 3])
    w_global = grads.mean(dim=(2, 3, 4), keepdim=True)
    w_slice = grads.mean(dim=(3, 4), keepdim=True)  # (B, K, T', 1, 1)
    ref_global = (w_global * acts).sum(1).clamp_min(0)
    ref_slice = (w_slice * acts).sum(1).clamp_min(0)
    res_g = _attr(tiny_model, "gradcam", tiny_clip, target=[2, 3])
    res_s = _attr(tiny_model, "gradcam", tiny_clip, target=[2, 3], weighting="per_slice")
    torch.testing.assert_close(res_g.raw, ref_global, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(res_s.raw, ref_slice, rtol=1e-5, atol=1e-7)
    up = F.interpolate(ref_global.unsqueeze(1), size=(8, 32, 32), mode="trilinear", align_corners=False)[:, 0]
    torch.testing.assert_close(res_g.saliency, up, rtol=1e-5, atol=1e-7)
    assert not torch.allclose(res_g.raw, res_s.raw)
    assert res_g.logits.shape == (2, 5) and res_g.extras["target"].tolist() == [2, 3]


def test_gradcam_plus_plus_formula_by_hand(tiny_model, tiny_clip):
    acts, g = _acts_grads(tiny_model.net, tiny_model.layer("features.5"), tiny_clip, [0, 1])
    # Chattopadhay et al. eq. 19: alpha = g^2 / (2 g^2 + sum_ab A_ab g^3), w = sum alpha relu(g)
    s = acts.sum(dim=(2, 3, 4), keepdim=True)
    alpha = g**2 / (2 * g**2 + s * g**3)
    alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
    w = (alpha * g.clamp_min(0)).sum(dim=(2, 3, 4), keepdim=True)
    ref = (w * acts).sum(1).clamp_min(0)
    res = _attr(tiny_model, "gradcam++", tiny_clip, target=[0, 1])
    torch.testing.assert_close(res.raw, ref, rtol=1e-5, atol=1e-8)


class TimeGated(nn.Module):
    """Linear toy: channel 0 counts in the first half of the clip and against the class in the second half."""

    def __init__(self) -> None:
        super().__init__()
        self.feat = nn.Conv3d(3, 2, 1, bias=False)
        with torch.no_grad():
            self.feat.weight.zero_()
            self.feat.weight[0, 0] = 1.0  # channel 0 = red
            self.feat.weight[1, 1] = 1.0  # channel 1 = green
        gate = torch.ones(2, 4, 1, 1)
        gate[0, 2:] = -1.0
        self.register_buffer("gate", gate)

    def forward(self, x):
        a = self.feat(x)
        return (a * self.gate).mean(dim=(1, 2, 3, 4)).unsqueeze(1).repeat(1, 2)


def test_per_slice_keeps_time_varying_evidence_that_global_cancels():
    model = vidxai.wrap(TimeGated(), spec=vidxai.InputSpec(num_frames=4, crop=(8, 8)), num_classes=2,
                        target_layers=["feat"])
    x = torch.zeros(1, 3, 4, 8, 8)
    x[:, 0] = 1.0  # red everywhere, all the time; no green
    g = _attr(model, "gradcam", x, target=0)
    s = _attr(model, "gradcam", x, target=0, weighting="per_slice")
    # global: channel 0's gradient averages to 0 over time -> empty map; per-slice: + in t<2, clamped to 0 after
    assert g.raw.abs().max() == 0
    expected = torch.zeros(1, 4, 8, 8)
    expected[:, :2] = 1.0 / (2 * 4 * 8 * 8)
    torch.testing.assert_close(s.raw, expected)
    assert s.saliency[0, :2].min() > 0 and s.saliency[0, 2:].max() == 0


# ---------------------------------------------------------------------------------------------------------------
# multi-pathway, guided Grad-CAM, transformer reshapes
# ---------------------------------------------------------------------------------------------------------------
def test_two_pathway_model():
    torch.manual_seed(0)
    spec = vidxai.InputSpec(num_frames=8, crop=(16, 16), pathways=2, slowfast_alpha=4)
    model = vidxai.wrap(TwoPathwayNet().eval(), spec=spec, num_classes=3, target_layers=["slow.1", "fast.1"])
    x = torch.randn(2, 3, 8, 16, 16, generator=torch.Generator().manual_seed(3))
    res = _attr(model, "gradcam", x, target=[0, 2])
    assert res.saliency.shape == (2, 8, 16, 16)
    slow_map, fast_map = res.extras["pathway0"], res.extras["pathway1"]
    assert res.extras["pathways"] == 2
    assert slow_map.shape == (2, 2, 16, 16) and fast_map.shape == (2, 8, 16, 16)
    # each pathway's CAM equals the hand-computed Grad-CAM of that layer on its own pathway input
    for name, raw in zip(["slow.1", "fast.1"], [res.extras["pathway0_raw"], res.extras["pathway1_raw"]]):
        store = {}
        layer = model.layer(name)
        h = layer.register_forward_hook(lambda m, a, o: store.__setitem__("a", o))
        try:
            score = model(x).gather(1, torch.tensor([[0], [2]])).sum()
            (grad,) = torch.autograd.grad(score, store["a"])
        finally:
            h.remove()
        ref = (grad.mean(dim=(2, 3, 4), keepdim=True) * store["a"]).sum(1).clamp_min(0).detach()
        torch.testing.assert_close(raw, ref, rtol=1e-5, atol=1e-7)
    # fused = mean of the peak-normalised maps upsampled to the input's (T, H, W)
    ups = [F.interpolate(r.unsqueeze(1), size=(8, 16, 16), mode="trilinear", align_corners=False)[:, 0]
           for r in (res.extras["pathway0_raw"], res.extras["pathway1_raw"])]
    fused = sum(u / u.flatten(1).amax(1).view(-1, 1, 1, 1) for u in ups) / 2
    torch.testing.assert_close(res.saliency, fused, rtol=1e-5, atol=1e-7)
    exp = vidxai.explain(model, x[1], method="gradcam", target=2)  # extras are split per clip
    assert exp.metadata["pathway0"].shape == (2, 16, 16) and exp.metadata["pathway1_raw"].shape == (8, 16, 16)
    torch.testing.assert_close(exp.saliency, res.saliency[1])


def test_guided_gradcam_is_guided_backprop_times_gradcam(tiny_model, tiny_clip):
    from captum.attr import GuidedBackprop

    res = _attr(tiny_model, "guided-gradcam", tiny_clip, target=[1, 3])
    cam = _attr(tiny_model, "gradcam", tiny_clip, target=[1, 3])
    gb = GuidedBackprop(tiny_model).attribute(tiny_clip.clone(), target=torch.tensor([1, 3]))
    expected = gb.abs().amax(dim=1) * cam.saliency
    assert expected.abs().max() > 0
    torch.testing.assert_close(res.saliency, expected, rtol=1e-4, atol=1e-8)
    torch.testing.assert_close(res.extras["gradcam"], cam.saliency)
    assert all(p.grad is None for p in tiny_model.parameters())


def test_guided_gradcam_unguidable_activation():
    net = pooled_act_net(nn.GELU())
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(8, 8)), target_layers=["1"])
    x = torch.randn(1, 3, 4, 8, 8)
    with pytest.raises(errors.UnsupportedModelError, match="strict=False"):
        _attr(model, "guided-gradcam", x, target=0)
    with pytest.warns(UserWarning):
        res = _attr(model, "guided-gradcam", x, target=0, strict=False)
    assert res.saliency.shape == (1, 4, 8, 8) and _count_hooks(model) == 0


class Tokens(nn.Module):
    """(B,K,T,H,W) -> ([cls, tokens] (B, 1+THW, K), thw), as torchvision's MViT blocks return."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.cls = nn.Parameter(torch.randn(1, 1, k))

    def forward(self, a):
        b, k, *thw = a.shape
        tok = a.flatten(2).transpose(1, 2)
        return torch.cat([self.cls.expand(b, -1, -1), tok], dim=1), thw


class TokenNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, stride=(2, 2, 2)), nn.ReLU())
        self.tok = Tokens(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        tok, _ = self.tok(self.conv(x))
        return self.fc(tok[:, 1:].mean(1) + 0.1 * tok[:, 0])


class ChannelsLastNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1, stride=(2, 2, 2)), nn.ReLU())
        self.perm = nn.Identity()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        a = self.perm(self.conv(x).permute(0, 2, 3, 4, 1))  # (B, T, H, W, K) like Swin3D
        return self.fc(a.mean(dim=(1, 2, 3)))


def test_transformer_layers_reshape():
    torch.manual_seed(0)
    spec = vidxai.InputSpec(num_frames=4, crop=(8, 8))
    x = torch.randn(1, 3, 4, 8, 8)
    tok = vidxai.wrap(TokenNet(), spec=spec, num_classes=3)
    ref = _attr(tok, "gradcam", x, target=1, layer="conv")
    auto = _attr(tok, "gradcam", x, target=1, layer="tok")  # (tokens, thw) detected
    torch.testing.assert_close(auto.raw, ref.raw)
    assert auto.raw.shape == (1, 2, 4, 4) and auto.saliency.shape == (1, 4, 8, 8)
    cl = vidxai.wrap(ChannelsLastNet(), spec=spec, num_classes=3)
    ref = _attr(cl, "gradcam", x, target=1, layer="conv")
    torch.testing.assert_close(_attr(cl, "gradcam", x, target=1, layer="perm", reshape="channels_last").raw, ref.raw)
    with pytest.raises(errors.UnsupportedModelError, match="expected"):
        _attr(cl, "gradcam", x, target=1, layer="fc")


# ---------------------------------------------------------------------------------------------------------------
# behaviour: every method on the fixture, hooks, state, errors
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", VARIANTS + ["guided-gradcam"])
def test_every_cam_method_on_tiny_model(tiny_model, tiny_clip, name):
    tiny_model.train()
    flags = [p.requires_grad for p in tiny_model.parameters()]
    res = _attr(tiny_model, name, tiny_clip, normalize=True)
    assert res.saliency.shape == (2, 8, 32, 32) and torch.isfinite(res.saliency).all()
    assert res.saliency.min() >= 0 and res.saliency.max() <= 1
    assert tiny_model.training and [p.requires_grad for p in tiny_model.parameters()] == flags
    assert all(p.grad is None for p in tiny_model.parameters())
    assert _count_hooks(tiny_model) == 0


def test_explain_api_with_cam(tiny_model, tiny_clip):
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="gradcam", target="c2", weighting="per_slice")
    assert exp.saliency.shape == (8, 32, 32) and exp.target == 2


def test_hooks_removed_when_forward_raises(tiny_model, tiny_clip):
    def boom(*a, **k):
        raise RuntimeError("boom")

    tiny_model.net.fc.forward = boom
    layer = tiny_model.layer("features.5")
    for name in VARIANTS + ["guided-gradcam"]:
        with pytest.raises(RuntimeError, match="boom"):
            _attr(tiny_model, name, tiny_clip, target=0)
        assert len(layer._forward_hooks) == 0 and _count_hooks(tiny_model) == 0
    assert all(p.requires_grad for p in tiny_model.parameters())


def test_errors_are_clear(tiny_model, tiny_clip):
    with pytest.raises(errors.InputError, match="weighting"):
        _attr(tiny_model, "gradcam", tiny_clip, weighting="local")
    with pytest.raises(errors.InputError, match="does not apply"):
        _attr(tiny_model, "layercam", tiny_clip, weighting="per_slice")
    with pytest.raises(errors.UnknownNameError, match="features.5"):
        _attr(tiny_model, "gradcam", tiny_clip, layer="features.50")
    with pytest.raises(errors.UnsupportedModelError, match="expected"):
        _attr(tiny_model, "gradcam", tiny_clip, layer="fc")
    with pytest.raises(errors.InputError, match="unknown parameter"):
        _attr(tiny_model, "gradcam", tiny_clip, layers="features.5")
    with pytest.raises(errors.InputError, match="reshape"):
        _attr(tiny_model, "gradcam", tiny_clip, reshape="nchw")
    assert _count_hooks(tiny_model) == 0


def test_layer_as_module_and_earlier_layer(tiny_model, tiny_clip):
    a = _attr(tiny_model, "gradcam", tiny_clip, target=0, layer=tiny_model.net.features[5])
    b = _attr(tiny_model, "gradcam", tiny_clip, target=0)
    torch.testing.assert_close(a.saliency, b.saliency)
    early = _attr(tiny_model, "layercam", tiny_clip, target=0, layer="features.2")
    assert early.raw.shape == (2, 8, 32, 32)


def test_core_is_rank_agnostic():
    g = torch.Generator().manual_seed(0)
    a, d = torch.rand(2, 3, 5, generator=g), torch.randn(2, 3, 5, generator=g)
    ref = (d.mean(2, keepdim=True) * a).sum(1).clamp_min(0)
    torch.testing.assert_close(cam_from_gradients(a, d), ref)
    a4 = torch.rand(1, 2, 2, 3, 3, 3, generator=g)
    assert cam_from_gradients(a4, torch.randn_like(a4), "gradcam++").shape == (1, 2, 3, 3, 3)


@pytest.mark.parametrize("name,size", [("r3d_18", (16, 48, 48)),
                                       pytest.param("x3d_xs", (4, 160, 160), marks=pytest.mark.slow)])
def test_gradcam_matches_captum_on_zoo_models(name, size):
    """captum's LayerGradCam + trilinear LayerAttribution.interpolate, random weights, within 1e-5 relative."""
    from captum.attr import LayerAttribution, LayerGradCam

    torch.manual_seed(0)
    model = vidxai.models.load(name, weights=None)
    x = torch.randn(2, 3, *size, generator=torch.Generator().manual_seed(4))
    res = _attr(model, "gradcam", x, target=[7, 11])
    layer = model.layer(model.target_layers[0])
    ref = LayerGradCam(model.eval(), layer).attribute(x.clone(), target=torch.tensor([7, 11]), relu_attributions=True)
    up = LayerAttribution.interpolate(ref, size, interpolate_mode="trilinear")[:, 0]
    assert up.abs().max() > 0
    torch.testing.assert_close(res.raw, ref[:, 0], rtol=1e-5, atol=1e-5 * float(ref.abs().max()))
    torch.testing.assert_close(res.saliency, up, rtol=1e-5, atol=1e-5 * float(up.abs().max()))
    assert _count_hooks(model) == 0 and all(p.grad is None for p in model.parameters())


def test_a_new_cam_variant_is_one_small_override():
    """Adding a CAM variant (as in pytorch-grad-cam) is one subclass overriding the weight step: it registers
    itself as a variant, runs through the shared CAM pipeline, and jitter-cam can use it."""
    from conftest import TinyNet3D

    from vidxai.attribution.cam import CAM_VARIANTS, GradCAM, cam_weights

    class AbsGradCAM(GradCAM):
        variant = "test-abs-gradcam"

        @staticmethod
        def channel_weights(acts, grads, dims, eps=0.0):
            return grads.abs().mean(dim=dims, keepdim=True)

    try:
        acts, grads = torch.rand(2, 3, 2, 4, 4), torch.randn(2, 3, 2, 4, 4)
        assert torch.equal(cam_weights(acts, grads, "test-abs-gradcam"), grads.abs().mean(dim=(2, 3, 4), keepdim=True))
        model = vidxai.wrap(TinyNet3D().eval(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32)), num_classes=5)
        x = torch.rand(1, 3, 8, 32, 32)
        res = AbsGradCAM(model).attribute(x, target=1)
        assert res.saliency.shape == (1, 8, 32, 32) and torch.isfinite(res.saliency).all()
        jit = vidxai.methods.get("jitter-cam")(model).attribute(x, target=1, cam="test-abs-gradcam")
        assert jit.saliency.shape == (1, 8, 32, 32)
    finally:
        CAM_VARIANTS.pop("test-abs-gradcam", None)
