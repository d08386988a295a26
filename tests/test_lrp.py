"""LRP: conservation, equality with input x gradient where theory says so, captum's LRP on a 2-D toy (captum
has no Conv3d rules), batch-norm folding, residual additions, and clear errors for unsupported models."""
from __future__ import annotations

import copy
import warnings

import pytest
import torch
from conftest import FunctionalNet, OneFrameClip, gelu_flat_net
from torch import nn

import vidxai
from vidxai import errors

RULES = [("lrp-epsilon", {"epsilon": 1e-9}), ("lrp-alphabeta", {}), ("lrp-alphabeta", {"alpha": 1.0, "beta": 0.0}),
         ("lrp-zplus", {})]


def lrp(model, name, x, target, **params):
    return vidxai.methods.get(name)(model).attribute(x, target=target, **params)


def assert_close(a, b, rtol=1e-5):
    err = ((a - b).abs().max() / b.abs().max().clamp_min(1e-30)).item()
    assert err <= rtol, f"max relative difference {err:.3g} > {rtol}"


def zero_biases(net: nn.Module) -> nn.Module:
    """No biases anywhere (batch norm: zero running mean and shift), so relevance must be conserved exactly."""
    g = torch.Generator().manual_seed(5)
    for m in net.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.zero_()
            m.bias.data.zero_()
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
    return net


class PoolNet(nn.Module):
    """Every supported layer kind once: conv, BN, ReLU, max pool, avg pool, adaptive avg pool, flatten, linear."""

    def __init__(self, bias: bool = True) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv3d(3, 6, 3, padding=1, bias=bias), nn.BatchNorm3d(6), nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 2, 2)), nn.Conv3d(6, 8, 3, padding=1, bias=bias), nn.ReLU(), nn.AvgPool3d(2),
            nn.Conv3d(8, 8, 1, bias=bias), nn.ReLU(),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(8, 4, bias=bias)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class ResidualNet(nn.Module):
    """A residual block written both ways torchvision/pytorchvideo do: ``out += identity`` and ``a + b``."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv3d(3, 6, 3, padding=1, bias=False), nn.BatchNorm3d(6), nn.ReLU(inplace=True))
        self.conv1 = nn.Sequential(nn.Conv3d(6, 6, 3, padding=1, bias=False), nn.BatchNorm3d(6), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(nn.Conv3d(6, 6, 3, padding=1, bias=False), nn.BatchNorm3d(6))
        self.down = nn.Sequential(nn.Conv3d(6, 8, 1, stride=(1, 2, 2), bias=False), nn.BatchNorm3d(8))
        self.conv3 = nn.Conv3d(6, 8, 3, padding=1, stride=(1, 2, 2), bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(8, 3, bias=False)

    def forward(self, x):
        x = self.stem(x)
        out = self.conv2(self.conv1(x))
        out += x
        x = self.relu(out)
        y = self.relu(self.conv3(x) + self.down(x))
        return self.fc(y.mean(dim=(2, 3, 4)))


def wrap(net, t=4, hw=16, k=None):
    k = k or net.fc.out_features
    return vidxai.wrap(net.eval(), spec=vidxai.InputSpec(num_frames=t, crop=(hw, hw)), num_classes=k)


@pytest.fixture
def clip():
    return torch.randn(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("net_cls", [PoolNet, ResidualNet])
@pytest.mark.parametrize("name,params", RULES)
def test_conservation_without_biases(net_cls, name, params, clip):
    torch.manual_seed(0)
    model = wrap(zero_biases(net_cls()))
    res = lrp(model, name, clip, [1, 2], **params)
    score = res.extras["target_score"]
    assert torch.allclose(res.logits[torch.arange(2), torch.tensor([1, 2])], score)
    assert_close(res.raw.flatten(1).sum(1), score, rtol=1e-4)
    # The default reduction ("sum" over colour) keeps the total.
    assert_close(res.saliency.flatten(1).sum(1), score, rtol=1e-4)
    assert res.saliency.shape == (2, 4, 16, 16)


@pytest.mark.parametrize("net_cls", [PoolNet, ResidualNet])
def test_epsilon_equals_input_x_gradient_for_bias_free_relu_nets(net_cls, clip):
    # For piecewise-linear ReLU networks without biases, LRP-0 is gradient x input (Montavon et al. 2019),
    # including through max pooling (winner takes all) and additions.
    torch.manual_seed(0)
    model = wrap(zero_biases(net_cls()))
    ixg = vidxai.methods.get("input-x-gradient")(model).attribute(clip, target=[0, 2]).raw
    assert_close(lrp(model, "lrp-epsilon", clip, [0, 2], epsilon=0.0).raw, ixg, rtol=1e-4)


def test_rules_differ_and_biases_absorb_relevance(clip):
    torch.manual_seed(0)
    model = wrap(PoolNet())
    raws = {(n, tuple(p.items())): lrp(model, n, clip, 1, **p).raw for n, p in RULES}
    vals = list(raws.values())
    for i in range(len(vals)):
        for j in range(i + 1, len(vals)):
            assert not torch.allclose(vals[i], vals[j], atol=1e-6)
    big_eps = lrp(model, "lrp-epsilon", clip, 1, epsilon=10.0).raw
    small_eps = lrp(model, "lrp-epsilon", clip, 1, epsilon=1e-9).raw
    assert big_eps.abs().sum() < small_eps.abs().sum()


# ---------------------------------------------------------------------------------------------------------------
# captum on a 2-D toy (captum's LRP supports Conv2d / Linear / pooling / BatchNorm2d, not Conv3d)
# ---------------------------------------------------------------------------------------------------------------
class CaptumLRPNet2D(nn.Module):
    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn = nn.BatchNorm2d(6) if bn else None  # captum's LRP rejects nn.Identity
        self.relu1 = nn.ReLU()
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool2 = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(32, 10)
        self.relu3 = nn.ReLU()
        self.fc = nn.Linear(10, 4)

    def forward(self, x):
        x = self.conv1(x)
        x = self.pool1(self.relu1(x if self.bn is None else self.bn(x)))
        x = self.pool2(self.relu2(self.conv2(x)))
        return self.fc(self.relu3(self.fc1(x.flatten(1))))


def _init_bn(bn: nn.BatchNorm2d) -> None:
    g = torch.Generator().manual_seed(3)
    bn.running_mean.copy_(torch.randn(bn.num_features, generator=g) * 0.2)
    bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.5)
    bn.weight.data.copy_(torch.randn(bn.num_features, generator=g))
    bn.bias.data.copy_(torch.randn(bn.num_features, generator=g) * 0.1)


def _captum_lrp(net2d, x2d, target, rules=None):
    captum_attr = pytest.importorskip("captum.attr")
    net = copy.deepcopy(net2d)
    for name, rule in (rules or {}).items():
        getattr(net, name).rule = rule
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return captum_attr.LRP(net).attribute(x2d.clone(), target=target)


def test_epsilon_matches_captum_lrp_on_2d_toy():
    torch.manual_seed(0)
    net2d = CaptumLRPNet2D().eval()
    x = torch.randn(2, 3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    ref = _captum_lrp(net2d, x[:, :, 0], torch.tensor([1, 3]))
    res = lrp(wrap(OneFrameClip(net2d), t=1, hw=12), "lrp-epsilon", x, [1, 3], epsilon=1e-9)
    assert_close(res.raw[:, :, 0], ref, rtol=1e-5)


def test_unfolded_batchnorm_matches_captum_and_folding_matches_a_hand_folded_net():
    torch.manual_seed(0)
    net2d = CaptumLRPNet2D(bn=True).eval()
    _init_bn(net2d.bn)
    x = torch.randn(2, 3, 1, 12, 12, generator=torch.Generator().manual_seed(0))
    model = wrap(OneFrameClip(net2d), t=1, hw=12)
    # captum treats BatchNorm2d as its own epsilon layer: our fold_batchnorm=False.
    ref = _captum_lrp(net2d, x[:, :, 0], 2)
    assert_close(lrp(model, "lrp-epsilon", x, 2, epsilon=1e-9, fold_batchnorm=False).raw[:, :, 0], ref)
    # Folding by hand: conv weights scaled per output channel, BN removed.
    folded = copy.deepcopy(net2d)
    bn = net2d.bn
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    folded.conv1.weight.data = net2d.conv1.weight * scale.view(-1, 1, 1, 1)
    folded.conv1.bias.data = (net2d.conv1.bias - bn.running_mean) * scale + bn.bias
    folded.bn = None
    folded_model = wrap(OneFrameClip(folded), t=1, hw=12)
    assert torch.allclose(folded_model(x), model(x), atol=1e-5)
    for name, params in RULES:
        assert_close(lrp(model, name, x, 2, **params).raw, lrp(folded_model, name, x, 2, **params).raw, rtol=1e-4)
    assert not torch.allclose(lrp(model, "lrp-alphabeta", x, 2).raw,
                              lrp(model, "lrp-alphabeta", x, 2, fold_batchnorm=False).raw, atol=1e-6)


def test_zplus_matches_captum_alpha1_beta0_on_nonnegative_input():
    rules = pytest.importorskip("captum.attr._utils.lrp_rules")
    torch.manual_seed(0)
    net2d = CaptumLRPNet2D().eval()
    x = torch.rand(2, 3, 1, 12, 12, generator=torch.Generator().manual_seed(0))  # pixels in [0, 1]
    ref = _captum_lrp(net2d, x[:, :, 0], torch.tensor([0, 1]),
                      {n: rules.Alpha1_Beta0_Rule(set_bias_to_zero=True) for n in ("conv1", "conv2", "fc1", "fc")})
    res = lrp(wrap(OneFrameClip(net2d), t=1, hw=12), "lrp-zplus", x, [0, 1])
    assert_close(res.raw[:, :, 0], ref, rtol=1e-5)


def test_torchvision_video_resnets_conserve_relevance():
    # torchvision's BasicBlock: conv-BN-ReLU(inplace) sequences, ``out += residual`` and a strided downsample.
    resnet = pytest.importorskip("torchvision.models.video.resnet")
    torch.manual_seed(0)
    x = torch.randn(1, 3, 2, 16, 16, generator=torch.Generator().manual_seed(0))
    r3d_18 = zero_biases(resnet.r3d_18(num_classes=5))
    small = zero_biases(resnet.VideoResNet(resnet.BasicBlock, [resnet.Conv3DSimple] * 4, [1, 1, 1, 1],
                                           resnet.BasicStem, num_classes=5))
    for net, name, params in [(r3d_18, "lrp-epsilon", {"epsilon": 1e-9}), (small, "lrp-zplus", {})]:
        model = vidxai.wrap(net.eval(), spec=vidxai.InputSpec(num_frames=2, crop=(16, 16)), num_classes=5)
        res = lrp(model, name, x, 3, **params)
        assert_close(res.raw.sum().view(1), res.extras["target_score"], rtol=1e-3)


# ---------------------------------------------------------------------------------------------------------------
# errors and clean-up
# ---------------------------------------------------------------------------------------------------------------
def _small(net, hw=8):
    return vidxai.wrap(net.eval(), spec=vidxai.InputSpec(num_frames=2, crop=(hw, hw)), num_classes=2)


def test_unsupported_layers_are_named():
    x = torch.randn(1, 3, 2, 8, 8)
    gelu = gelu_flat_net()
    with pytest.raises(errors.UnsupportedModelError, match=r"GELU.*1\b"):
        lrp(_small(gelu), "lrp-epsilon", x, 0)

    with pytest.raises(errors.UnsupportedModelError, match="sigmoid"):
        lrp(_small(FunctionalNet(lambda y: y * torch.sigmoid(y), kernel=1)), "lrp-zplus", x, 0)
    softmax = nn.Sequential(nn.Conv3d(3, 2, 1), nn.Flatten(), nn.Linear(2 * 2 * 64, 2), nn.Softmax(dim=1))
    with pytest.raises(errors.UnsupportedModelError, match="Softmax"):
        lrp(_small(softmax), "lrp-alphabeta", x, 0)

    class FunctionalSoftmax(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(3 * 2 * 64, 2)

        def forward(self, x):
            return self.fc(x.flatten(1)).log_softmax(dim=1)

    with pytest.raises(errors.UnsupportedModelError, match="log_softmax"):
        lrp(_small(FunctionalSoftmax()), "lrp-epsilon", x, 0)


def test_no_mode_hooks_or_weight_changes_left_behind(clip):
    class ExplodingPoolNet(PoolNet):
        def forward(self, x):
            self.features(x)
            raise RuntimeError("boom")

    net = ExplodingPoolNet()
    model = wrap(net)
    net.train()
    net.fc.weight.requires_grad_(False)
    flags = [p.requires_grad for p in net.parameters()]
    for name, params in RULES:
        with pytest.raises(RuntimeError, match="boom"):
            lrp(model, name, clip, 0, **params)
        assert torch._C._len_torch_function_stack() == 0
        assert net.training and [p.requires_grad for p in net.parameters()] == flags
    torch.manual_seed(0)
    ok = PoolNet()
    state = copy.deepcopy(ok.state_dict())
    model = wrap(ok)
    before = model(clip).detach()
    for name, params in RULES:
        lrp(model, name, clip, 0, **params)
    assert all(torch.equal(v, ok.state_dict()[k]) for k, v in state.items())
    assert all(p.grad is None for p in ok.parameters())
    assert all(not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks for m in ok.modules())
    assert torch.equal(model(clip).detach(), before)


def test_bad_parameters(clip):
    model = wrap(PoolNet())
    with pytest.raises(errors.InputError, match="unknown parameter.*gamma"):
        lrp(model, "lrp-epsilon", clip, 0, gamma=0.25)
    with pytest.raises(errors.InputError, match="unknown parameter.*alpha"):
        lrp(model, "lrp-zplus", clip, 0, alpha=2)
    with pytest.raises(errors.InputError, match="alpha and beta"):
        lrp(model, "lrp-alphabeta", clip, 0, alpha=-1)
    with pytest.raises(errors.InputError, match="epsilon"):
        lrp(model, "lrp-epsilon", clip, 0, epsilon=-1)
    with pytest.raises(errors.InputError, match="reduction"):
        lrp(model, "lrp-epsilon", clip, 0, reduction="nope")


def test_explain_api(tiny_model, tiny_clip):
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="lrp-epsilon", target=2)
    assert exp.saliency.shape == (8, 32, 32) and exp.method == "lrp-epsilon"


def test_explicit_padding_as_in_tf_style_i3d(clip):
    # I3D-style "same" padding: F.pad before an unpadded conv is the same layer as a padded conv.
    import torch.nn.functional as F

    class Padded(nn.Module):
        def __init__(self, conv, fc):
            super().__init__()
            self.conv, self.fc = conv, fc

        def forward(self, x):
            return self.fc(torch.relu(self.conv(F.pad(x, (1, 1, 1, 1, 1, 1)))).mean(dim=(2, 3, 4)))

    class Plain(Padded):
        def forward(self, x):
            return self.fc(torch.relu(F.conv3d(x, self.conv.weight, self.conv.bias, padding=1)).mean(dim=(2, 3, 4)))

    torch.manual_seed(0)
    conv, fc = nn.Conv3d(3, 5, 3), nn.Linear(5, 3)
    a, b = wrap(Padded(conv, fc)), wrap(Plain(conv, fc))
    for name, params in RULES:
        assert_close(lrp(a, name, clip, 1, **params).raw, lrp(b, name, clip, 1, **params).raw, rtol=1e-5)
