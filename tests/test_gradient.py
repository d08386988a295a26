"""Gradient family against captum (full (B, C, T, H, W) attributions via ``raw``), guided backprop's ReLU
handling, integrated-gradients completeness, SmoothGrad seeding, and clean-up after errors."""
from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from conftest import FunctionalNet, TwoPathwayNet, gelu_flat_net, linear_net, pooled_act_net
from torch import nn

import vidxai
from vidxai import errors
from vidxai.attribution.gradient import gaussian_blur, ig_alphas

captum_attr = pytest.importorskip("captum.attr")

SPEC = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)


def attribute(model, name, x, target, **params):
    return vidxai.methods.get(name)(model).attribute(x, target=target, **params)


def assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5) -> None:
    """Equal within ``rtol`` of the reference's largest magnitude (elementwise relative error is meaningless near 0)."""
    scale = b.abs().max().clamp_min(1e-30)
    err = ((a - b).abs().max() / scale).item()
    assert err <= rtol, f"max relative difference {err:.3g} > {rtol}"


@pytest.fixture
def net_and_model(tiny_model):
    return tiny_model.net, tiny_model


@pytest.fixture(autouse=True)
def quiet_captum():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning, module="captum")
        warnings.filterwarnings("ignore", message=".*requires_grad.*")
        yield


TARGETS = [1, 3]


def test_gradient_matches_captum_saliency(net_and_model, tiny_clip):
    net, model = net_and_model
    ref = captum_attr.Saliency(net).attribute(tiny_clip.clone(), target=torch.tensor(TARGETS), abs=False)
    res = attribute(model, "gradient", tiny_clip, TARGETS)
    assert_close(res.raw, ref)
    assert res.saliency.shape == (2, 8, 32, 32)
    assert torch.equal(res.saliency, ref.abs().amax(1))


def test_input_x_gradient_matches_captum(net_and_model, tiny_clip):
    net, model = net_and_model
    ref = captum_attr.InputXGradient(net).attribute(tiny_clip.clone(), target=torch.tensor(TARGETS))
    assert_close(attribute(model, "input-x-gradient", tiny_clip, TARGETS).raw, ref)


@pytest.mark.parametrize("rule", ["gausslegendre", "riemann_middle", "riemann_left", "riemann_right"])
def test_integrated_gradients_matches_captum(net_and_model, tiny_clip, rule):
    net, model = net_and_model
    ref = captum_attr.IntegratedGradients(net).attribute(tiny_clip.clone(), target=torch.tensor(TARGETS), n_steps=6,
                                                         method=rule, internal_batch_size=5)
    # internal_batch_size 5 does not divide 2 clips x 6 steps: the chunking must not matter.
    res = attribute(model, "integrated-gradients", tiny_clip, TARGETS, n_steps=6, rule=rule, internal_batch_size=5)
    assert_close(res.raw, ref)


def test_integrated_gradients_trapezoid_is_captums_rescaled(net_and_model, tiny_clip):
    # captum's trapezoid weights sum to (n-1)/n instead of 1 (documented in ig_alphas); ours sum to 1.
    net, model = net_and_model
    n = 10
    ref = captum_attr.IntegratedGradients(net).attribute(tiny_clip.clone(), target=torch.tensor(TARGETS), n_steps=n,
                                                         method="riemann_trapezoid")
    res = attribute(model, "integrated-gradients", tiny_clip, TARGETS, n_steps=n, rule="riemann_trapezoid")
    assert_close(res.raw, ref * n / (n - 1))
    for rule in ("gausslegendre", "riemann_trapezoid", "riemann_middle"):
        alphas, weights = ig_alphas(7, rule)
        assert abs(float(weights.sum()) - 1) < 1e-12 and 0 <= float(alphas.min()) and float(alphas.max()) <= 1


def test_integrated_gradients_baselines_match_captum(net_and_model, tiny_clip):
    net, model = net_and_model
    mean_std_model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=8, crop=(32, 32), mean=(0.4, 0.5, 0.6),
                                                            std=(0.2, 0.25, 0.3)), num_classes=5)
    black = mean_std_model.from_unit_rgb(torch.zeros_like(tiny_clip))
    assert torch.allclose(black[:, 0], torch.full_like(black[:, 0], -0.4 / 0.2))
    ig = captum_attr.IntegratedGradients(net)
    ref = ig.attribute(tiny_clip.clone(), baselines=black, target=torch.tensor(TARGETS), n_steps=8)
    assert_close(attribute(mean_std_model, "integrated-gradients", tiny_clip, TARGETS, n_steps=8,
                           baseline="black").raw, ref)
    blurred = gaussian_blur(tiny_clip, 2.0)
    ref = ig.attribute(tiny_clip.clone(), baselines=blurred, target=torch.tensor(TARGETS), n_steps=8)
    assert_close(attribute(model, "integrated-gradients", tiny_clip, TARGETS, n_steps=8, baseline="blur",
                           blur_sigma=2.0).raw, ref)


def test_gaussian_blur_matches_reference():
    # Independent reference: torchvision's 2-D gaussian_blur frame by frame (reflect padding, same kernel rule).
    tvf = pytest.importorskip("torchvision.transforms.functional")
    x = torch.randn(1, 3, 4, 20, 24, generator=torch.Generator().manual_seed(0))
    ours = gaussian_blur(x, 1.5)
    frames = x[0].permute(1, 0, 2, 3)  # (T, C, H, W)
    ref = tvf.gaussian_blur(frames, kernel_size=[2 * 5 + 1, 2 * 5 + 1], sigma=[1.5, 1.5]).permute(1, 0, 2, 3)[None]
    assert_close(ours, ref)
    assert torch.equal(gaussian_blur(x, (0.0, 0.0, 0.0)), x)


def test_integrated_gradients_completeness(net_and_model, tiny_clip):
    _, model = net_and_model
    res = attribute(model, "integrated-gradients", tiny_clip, TARGETS, n_steps=32, baseline="zeros",
                    convergence_delta=True)
    logits = model(tiny_clip).detach()
    f_x = logits[torch.arange(2), torch.tensor(TARGETS)]
    f_0 = model(torch.zeros_like(tiny_clip)).detach()[torch.arange(2), torch.tensor(TARGETS)]
    total = res.raw.flatten(1).sum(1)
    assert torch.allclose(total, f_x - f_0, atol=3e-3 * float((f_x - f_0).abs().max()) + 1e-6)
    assert torch.allclose(res.extras["convergence_delta"], total - (f_x - f_0), atol=1e-5)
    assert torch.allclose(res.logits, logits, atol=1e-6)
    coarse = attribute(model, "integrated-gradients", tiny_clip, TARGETS, n_steps=3, baseline="zeros",
                       convergence_delta=True)
    assert (coarse.extras["convergence_delta"].abs() > res.extras["convergence_delta"].abs()).all()


def test_smoothgrad_without_noise_matches_captum_noise_tunnel(net_and_model, tiny_clip):
    net, model = net_and_model
    nt = captum_attr.NoiseTunnel(captum_attr.Saliency(net))
    ref = nt.attribute(tiny_clip.clone(), target=torch.tensor(TARGETS), nt_type="smoothgrad", nt_samples=3,
                       stdevs=0.0, abs=False)
    assert_close(attribute(model, "smoothgrad", tiny_clip, TARGETS, noise_level=0.0, n_samples=3).raw, ref)
    nt = captum_attr.NoiseTunnel(captum_attr.InputXGradient(net))
    ref = nt.attribute(tiny_clip.clone(), target=torch.tensor(TARGETS), nt_type="smoothgrad_sq", nt_samples=2,
                       stdevs=0.0)
    assert_close(attribute(model, "smoothgrad", tiny_clip, TARGETS, noise_level=0.0, n_samples=2,
                           base="input-x-gradient", nt_type="smoothgrad_sq").raw, ref)


def test_smoothgrad_seeded_and_batch_size_independent(tiny_model, tiny_clip):
    a = attribute(tiny_model, "smoothgrad", tiny_clip, TARGETS, n_samples=4, seed=3, internal_batch_size=3)
    b = attribute(tiny_model, "smoothgrad", tiny_clip, TARGETS, n_samples=4, seed=3, internal_batch_size=8)
    c = attribute(tiny_model, "smoothgrad", tiny_clip, TARGETS, n_samples=4, seed=4)
    g = attribute(tiny_model, "gradient", tiny_clip, TARGETS)
    assert torch.allclose(a.raw, b.raw, atol=1e-9)
    assert not torch.allclose(a.raw, c.raw)
    assert not torch.allclose(a.raw, g.raw)
    sigma = a.extras["noise_std"]
    expected = 0.15 * (tiny_clip.flatten(1).amax(1) - tiny_clip.flatten(1).amin(1))
    assert torch.allclose(sigma, expected)


def test_smoothgrad_of_linear_model_is_the_gradient():
    torch.manual_seed(0)
    net = linear_net(4, 8, 8, 3)
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(8, 8)), num_classes=3)
    x = torch.randn(2, 3, 4, 8, 8)
    sg = attribute(model, "smoothgrad", x, [0, 2], noise_level=0.5, n_samples=5)
    assert_close(sg.raw, attribute(model, "gradient", x, [0, 2]).raw, rtol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# guided backprop
# ---------------------------------------------------------------------------------------------------------------
def test_guided_backprop_matches_captum_inplace_or_not(tiny_clip):
    outs = []
    for inplace in (False, True):
        from conftest import TinyNet3D

        torch.manual_seed(0)
        net = TinyNet3D(inplace=inplace).eval()
        model = vidxai.wrap(net, spec=SPEC, num_classes=5)
        ref = captum_attr.GuidedBackprop(net).attribute(tiny_clip.clone(), target=torch.tensor(TARGETS))
        res = attribute(model, "guided-backprop", tiny_clip, TARGETS)
        assert_close(res.raw, ref)
        outs.append(res.raw)
    assert torch.equal(outs[0], outs[1])


def test_guided_backprop_differs_from_gradient(tiny_model, tiny_clip):
    gb = attribute(tiny_model, "guided-backprop", tiny_clip, TARGETS).raw.flatten()
    g = attribute(tiny_model, "gradient", tiny_clip, TARGETS).raw.flatten()
    corr = torch.corrcoef(torch.stack([gb, g]))[0, 1]
    assert corr < 0.9


class ModuleBlock(nn.Module):
    def __init__(self, inplace: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 6, 3, padding=1)
        self.act1 = nn.ReLU(inplace=inplace)
        self.conv2 = nn.Conv3d(6, 6, 3, padding=1)
        self.act2 = nn.ReLU(inplace=inplace)
        self.conv3 = nn.Conv3d(6, 6, 1)
        self.act3 = nn.ReLU(inplace=inplace)
        self.conv4 = nn.Conv3d(6, 6, 1)
        self.act4 = nn.ReLU()
        self.fc = nn.Linear(6, 4)

    def forward(self, x):
        x = self.act1(self.conv1(x))
        x = self.act2(self.conv2(x) + x)  # residual, as in pytorchvideo's ResBlock
        x = self.act3(self.conv3(x))
        x = self.act4(self.conv4(x))
        return self.fc(x.mean(dim=(2, 3, 4)))


class FunctionalBlock(ModuleBlock):
    """Same weights, ReLUs called functionally in four different spellings (as in third-party blocks)."""

    def forward(self, x):
        x = torch.relu(self.conv1(x))
        x = F.relu(self.conv2(x) + x, inplace=True)
        x = self.conv3(x).relu_()
        x = self.conv4(x).clamp(min=0)
        return self.fc(x.mean(dim=(2, 3, 4)))


def test_guided_backprop_functional_relus_equal_module_relus():
    x = torch.randn(2, 3, 4, 12, 12, generator=torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    mod = ModuleBlock(inplace=False).eval()
    func = FunctionalBlock(inplace=False).eval()
    func.load_state_dict(mod.state_dict())
    spec = vidxai.InputSpec(num_frames=4, crop=(12, 12))
    a = attribute(vidxai.wrap(mod, spec=spec, num_classes=4), "guided-backprop", x, [0, 3]).raw
    b = attribute(vidxai.wrap(func, spec=spec, num_classes=4), "guided-backprop", x, [0, 3]).raw
    ref = captum_attr.GuidedBackprop(mod).attribute(x.clone(), target=torch.tensor([0, 3]))
    assert_close(a, ref)
    assert_close(b, ref)
    plain = attribute(vidxai.wrap(func, spec=spec, num_classes=4), "gradient", x, [0, 3]).raw
    assert not torch.allclose(plain, b)


def test_guided_backprop_on_r3d18_matches_captum():
    tvm = pytest.importorskip("torchvision.models.video")
    torch.manual_seed(0)
    net = tvm.r3d_18(num_classes=6).eval()
    x = torch.randn(1, 3, 2, 16, 16, generator=torch.Generator().manual_seed(2))
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=2, crop=(16, 16)), num_classes=6)
    ref = captum_attr.GuidedBackprop(net).attribute(x.clone(), target=4)
    assert_close(attribute(model, "guided-backprop", x, 4).raw, ref)
    ref = captum_attr.Saliency(net).attribute(x.clone(), target=4, abs=False)
    assert_close(attribute(model, "gradient", x, 4).raw, ref)


def test_guided_backprop_x3d_swish_is_unsupported_unless_not_strict():
    x3d = pytest.importorskip("pytorchvideo.models.x3d")
    torch.manual_seed(0)
    net = x3d.create_x3d(input_clip_length=4, input_crop_size=32, model_num_class=3, width_factor=1.0,
                         depth_factor=1.0, head_dim_out=32, head_activation=None).eval()
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(32, 32)), num_classes=3)
    x = torch.randn(1, 3, 4, 32, 32)
    with pytest.raises(errors.UnsupportedModelError, match="Swish.*strict=False"):
        attribute(model, "guided-backprop", x, 1)
    with pytest.warns(UserWarning, match="Swish"):
        res = attribute(model, "guided-backprop", x, 1, strict=False)
    assert res.saliency.shape == (1, 4, 32, 32) and torch.isfinite(res.saliency).all()
    assert res.saliency.abs().sum() > 0


def test_functional_unguidable_activation_is_reported():
    net = FunctionalNet(lambda a: F.gelu(torch.relu(a)))
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=2, crop=(8, 8)), num_classes=2)
    x = torch.randn(1, 3, 2, 8, 8)
    with pytest.raises(errors.UnsupportedModelError, match="gelu"):
        attribute(model, "guided-backprop", x, 0)
    with pytest.raises(errors.UnsupportedModelError, match="GELU"):
        attribute(vidxai.wrap(gelu_flat_net(), spec=vidxai.InputSpec(num_frames=2, crop=(8, 8)), num_classes=2),
                  "guided-backprop", x, 0)


def test_no_hooks_modes_or_flags_left_after_an_exception():
    class Exploding(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv3d(3, 4, 3, padding=1)
            self.act = nn.ReLU()
            self.fc = nn.Linear(4, 2)
            self.explode = False

        def forward(self, x):
            y = self.act(self.conv(x)).mean(dim=(2, 3, 4))
            if self.explode:
                raise RuntimeError("boom")
            return self.fc(y)

    net = Exploding()
    net.train()
    net.fc.weight.requires_grad_(False)
    flags = [p.requires_grad for p in net.parameters()]
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=2, crop=(8, 8)), num_classes=2)
    x = torch.randn(1, 3, 2, 8, 8)
    net.explode = True
    for name in ("gradient", "guided-backprop", "input-x-gradient", "integrated-gradients", "smoothgrad"):
        with pytest.raises(RuntimeError, match="boom"):
            attribute(model, name, x, 0)
        assert torch._C._len_torch_function_stack() == 0, name
        assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks
                   for m in net.modules()), name
        assert net.training and [p.requires_grad for p in net.parameters()] == flags, name
        assert all(p.grad is None for p in net.parameters()), name
    net.explode = False
    res = attribute(model, "guided-backprop", x, 0)
    assert net.training and all(p.grad is None for p in net.parameters())
    # ReLUs run normally again after guided backprop (the mode is gone): plain gradient differs from guided.
    assert res.raw.shape == x.shape


@pytest.mark.parametrize("name", ["gradient", "guided-backprop", "input-x-gradient", "integrated-gradients",
                                  "smoothgrad"])
def test_unknown_parameter_and_reduction_rejected(tiny_model, tiny_clip, name):
    with pytest.raises(errors.InputError, match="unknown parameter.*bogus"):
        attribute(tiny_model, name, tiny_clip, 0, bogus=1)
    with pytest.raises(errors.InputError, match="reduction"):
        attribute(tiny_model, name, tiny_clip, 0, reduction="median")


def test_bad_values_rejected(tiny_model, tiny_clip):
    with pytest.raises(errors.InputError, match="baseline"):
        attribute(tiny_model, "integrated-gradients", tiny_clip, 0, baseline="grey")
    with pytest.raises(errors.InputError, match="rule"):
        attribute(tiny_model, "integrated-gradients", tiny_clip, 0, rule="simpson")
    with pytest.raises(errors.InputError, match="n_steps"):
        attribute(tiny_model, "integrated-gradients", tiny_clip, 0, n_steps=0)
    with pytest.raises(errors.ShapeError, match="broadcast"):
        attribute(tiny_model, "integrated-gradients", tiny_clip, 0, baseline=torch.zeros(5, 5))
    with pytest.raises(errors.InputError, match="internal_batch_size"):
        attribute(tiny_model, "smoothgrad", tiny_clip, 0, internal_batch_size=0)
    with pytest.raises(errors.InputError, match="base"):
        attribute(tiny_model, "smoothgrad", tiny_clip, 0, base="lrp")


def test_reductions_and_batch_consistency(tiny_model, tiny_clip):
    both = attribute(tiny_model, "gradient", tiny_clip, TARGETS, reduction="l2")
    one = attribute(tiny_model, "gradient", tiny_clip[1:], TARGETS[1], reduction="l2")
    assert torch.allclose(both.saliency[1:], one.saliency, atol=1e-7)
    assert torch.allclose(both.saliency, both.raw.pow(2).sum(1).sqrt())


def test_explain_api_runs_every_gradient_method(tiny_model, tiny_clip):
    for name in ("gradient", "guided-backprop", "input-x-gradient", "integrated-gradients", "smoothgrad"):
        params = {"n_steps": 4} if name == "integrated-gradients" else {"n_samples": 2} if name == "smoothgrad" else {}
        exp = vidxai.explain(tiny_model, tiny_clip[0], method=name, target="c2", **params)
        assert exp.saliency.shape == (8, 32, 32) and exp.target == 2 and exp.method == name


def test_x3d_random_weights_match_captum():
    x3d = pytest.importorskip("pytorchvideo.models.x3d")
    torch.manual_seed(0)
    net = x3d.create_x3d(input_clip_length=4, input_crop_size=32, model_num_class=3, width_factor=1.0,
                         depth_factor=1.0, head_dim_out=32, head_activation=None).eval()
    model = vidxai.wrap(net, spec=vidxai.InputSpec(num_frames=4, crop=(32, 32)), num_classes=3)
    x = torch.randn(1, 3, 4, 32, 32, generator=torch.Generator().manual_seed(3))
    t = torch.tensor([2])
    assert_close(attribute(model, "gradient", x, [2]).raw,
                 captum_attr.Saliency(net).attribute(x.clone(), target=t, abs=False))
    assert_close(attribute(model, "integrated-gradients", x, [2], n_steps=2).raw,
                 captum_attr.IntegratedGradients(net).attribute(x.clone(), target=t, n_steps=2), rtol=1e-4)


def test_two_pathway_model_gradients_cover_both_pathways():
    torch.manual_seed(0)
    spec = vidxai.InputSpec(num_frames=8, crop=(16, 16), pathways=2, slowfast_alpha=4)
    net = TwoPathwayNet(4, 2, slow_kernel=3, slow_pool=None, fast_pool=None, inplace_fast=True)
    model = vidxai.wrap(net.eval(), spec=spec, num_classes=3)
    x = torch.randn(1, 3, 8, 16, 16, generator=torch.Generator().manual_seed(0))
    for name, ref_cls in [("gradient", captum_attr.Saliency), ("guided-backprop", captum_attr.GuidedBackprop)]:
        kwargs = {"abs": False} if name == "gradient" else {}
        ref = ref_cls(model).attribute(x.clone(), target=1, **kwargs)
        res = attribute(model, name, x, 1)
        assert_close(res.raw, ref)
        # Frames read by the slow pathway (0 and 7) get gradient from both pathways, the others from fast only.
        slow_frames = model.pathways(torch.arange(8.0).view(1, 1, 8, 1, 1))[0].flatten().long().tolist()
        assert slow_frames == [0, 7]
    for name in ("input-x-gradient", "integrated-gradients", "smoothgrad", "lrp-epsilon"):
        assert attribute(model, name, x, 1).saliency.shape == (1, 8, 16, 16)


@pytest.mark.parametrize("base,captum_cls", [("gradient", "Saliency"), ("guided-backprop", "GuidedBackprop")])
def test_smoothgrad_with_seed_matches_captum_noise_tunnel(net_and_model, tiny_clip, base, captum_cls):
    # Our noise for a clip is drawn from a generator seeded with clip_seed(clip, seed), sample by sample; captum
    # draws from the global generator, chunk by chunk. For one clip the streams coincide when captum's global
    # seed is ours: the same noisy clips, so the same result (a real oracle for the noise scale and averaging).
    net, model = net_and_model
    x = tiny_clip[:1]
    sigma = float(0.2 * (x.max() - x.min()))
    res = attribute(model, "smoothgrad", x, 2, noise_level=0.2, n_samples=5, seed=11, internal_batch_size=3,
                    base=base)
    from vidxai.attribution.baselines import clip_seed

    torch.manual_seed(clip_seed(x[0], 11))  # our generator for this clip: the seed and a digest of the clip
    kwargs = {"abs": False} if captum_cls == "Saliency" else {}
    ref = captum_attr.NoiseTunnel(getattr(captum_attr, captum_cls)(net)).attribute(
        x.clone(), target=2, nt_samples=5, nt_samples_batch_size=3, stdevs=sigma, **kwargs)
    assert_close(res.raw, ref)
    assert not torch.allclose(res.raw, attribute(model, "gradient" if base == "gradient" else base, x, 2).raw)


@pytest.mark.parametrize("cls_name", ["FastGELUActivation", "QuickGELUActivation", "GELUTanh", "MemoryEfficientSwish"])
def test_guided_backprop_refuses_library_named_activations(cls_name):
    """Activations named with a library's prefix/suffix (transformers' FastGELUActivation in ViViT) were let
    through strict=True: the exact-name check missed them and plain gradients came back silently."""
    act = type(cls_name, (nn.Module,), {"forward": lambda self, x: x * torch.sigmoid(1.702 * x)})
    net = pooled_act_net(act())
    model = vidxai.wrap(net.eval(), spec=vidxai.InputSpec(num_frames=2, crop=(8, 8)), num_classes=2)
    with pytest.raises(errors.UnsupportedModelError, match=cls_name):
        attribute(model, "guided-backprop", torch.randn(1, 3, 2, 8, 8), 1)


def test_guided_backprop_still_accepts_relu_variants():
    from vidxai.attribution.guided import _unguidable_name

    assert not any(_unguidable_name(n) for n in ("ReLU", "PReLU", "ReLU6", "Conv3d", "Sigmoid"))
