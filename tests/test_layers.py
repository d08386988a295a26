"""The fast max pool of the model ports: same values as torch's, torch's own path whenever a gradient flows."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidxai.models import layers
from vidxai.models.i3d import InceptionI3d
from vidxai.models.layers import MaxPool3d, separable_max_pool3d, use_fast_max_pools


@pytest.mark.parametrize("shape,kernel,stride,padding", [
    ((2, 3, 9, 17, 13), (3, 3, 3), (1, 1, 1), (0, 0, 0)),
    ((1, 4, 8, 15, 15), (1, 3, 3), (1, 2, 2), (0, 0, 0)),
    ((1, 2, 7, 10, 11), (3, 3, 3), (2, 2, 2), (1, 1, 1)),
    ((1, 2, 8, 9, 9), (2, 2, 2), (2, 2, 2), (0, 1, 1)),
    ((1, 5, 6, 12, 7), (2, 3, 1), (1, 3, 2), (1, 0, 0)),
])
def test_separable_max_pool_equals_torch_bit_for_bit(shape, kernel, stride, padding):
    torch.manual_seed(0)
    x = torch.randn(shape)
    x[0, 0, :2] = float("-inf")  # whole windows of -inf stay -inf, as in torch
    expected = F.max_pool3d(x, kernel, stride, padding)
    got = separable_max_pool3d(x, kernel, stride, padding)
    assert got.shape == expected.shape and got.is_contiguous()
    assert torch.equal(got, expected)


@pytest.mark.parametrize("kernel,stride,padding", [(3, 2, 1), ((1, 3, 3), (1, 2, 2), 0), ((3, 3, 3), 1, 0),
                                                    ((2, 2, 2), 2, (0, 1, 1))])
def test_max_pool_values_and_gradients_equal_torch_ties_included(monkeypatch, kernel, stride, padding):
    calls = []
    real = layers.separable_max_pool3d
    monkeypatch.setattr(layers, "separable_max_pool3d", lambda *a: calls.append(1) or real(*a))
    pool, ref = MaxPool3d(kernel, stride, padding=padding), nn.MaxPool3d(kernel, stride, padding=padding)
    torch.manual_seed(0)
    x = torch.randint(0, 3, (2, 3, 6, 9, 9)).float()  # many ties: the argmax rule must be torch's
    with torch.no_grad():
        assert torch.equal(pool(x), ref(x)) and len(calls) == 1
    assert torch.equal(pool(x), ref(x)) and len(calls) == 2  # no tensor needs a gradient: no indices either
    xg = x.clone().requires_grad_()
    out = pool(xg)
    assert len(calls) == 2 and type(out.grad_fn).__name__.startswith("_ChannelsLastMaxPool")
    g = torch.randn_like(out)
    assert torch.equal(out, ref(x))
    assert torch.equal(torch.autograd.grad(out, xg, g)[0], torch.autograd.grad(ref(xg), xg, g)[0])
    with torch.no_grad():  # channels-last inputs have a fast torch kernel already
        cl = x.contiguous(memory_format=torch.channels_last_3d)
        assert torch.equal(pool(cl), ref(x))
    assert len(calls) == 2


def test_max_pool_errors_and_double_backward():
    with torch.no_grad(), pytest.raises(RuntimeError, match="pad should be at most half"):
        MaxPool3d(2, padding=2)(torch.rand(1, 1, 4, 4, 4))  # torch's own check and message
    with pytest.raises(ValueError, match="larger than the input"):
        separable_max_pool3d(torch.zeros(1, 1, 1, 4, 4), (3, 3, 3), (1, 1, 1))
    # The backward is itself differentiable (a scatter of the incoming gradient), as torch's is.
    x = torch.rand(1, 2, 4, 5, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(MaxPool3d(2, 1, padding=1), (x,))
    assert torch.autograd.gradgradcheck(MaxPool3d(2, 1, padding=1), (x,))


def test_fast_pools_leave_i3d_logits_and_gradients_unchanged(monkeypatch):
    torch.manual_seed(1)
    net = InceptionI3d(num_classes=7).eval()
    x = torch.randn(1, 3, 8, 64, 64)
    with torch.no_grad():
        fast = net(x)
    xg = x.clone().requires_grad_()
    grad_fast = torch.autograd.grad(net(xg)[0, 3], xg)[0]
    monkeypatch.setattr(MaxPool3d, "_fast_path", lambda self, x: False)
    with torch.no_grad():
        assert torch.equal(net(x), fast)
    assert torch.equal(torch.autograd.grad(net(xg)[0, 3], xg)[0], grad_fast)


def test_hub_models_get_the_fast_pool():
    net = nn.Sequential(nn.Conv3d(3, 4, 1), nn.MaxPool3d(2), nn.Sequential(nn.MaxPool3d((1, 2, 2))))
    use_fast_max_pools(net)
    assert [type(m) for m in net.modules() if isinstance(m, nn.MaxPool3d)] == [MaxPool3d, MaxPool3d]
    assert not list(net[1].state_dict())  # nothing added to the state dict


def test_lrp_and_guided_backprop_on_i3d_unchanged_by_the_fast_pools(monkeypatch):
    # LRP sees torch calls through a TorchFunctionMode and guided backprop hooks the ReLUs: both must treat
    # the custom pooling exactly like nn.MaxPool3d.
    import vidxai
    from vidxai.models.base import InputSpec, VideoModel

    torch.manual_seed(2)
    model = VideoModel(InceptionI3d(num_classes=5), InputSpec(num_frames=8, crop=(48, 48)), [str(i) for i in range(5)],
                       ["Mixed_5c"], name="i3d-small")
    x = torch.randn(1, 3, 8, 48, 48)

    def maps():
        return [vidxai.methods.get(m)(model).attribute(x, target=1).saliency for m in ("lrp-epsilon", "guided-backprop")]

    fast = maps()
    monkeypatch.setattr(MaxPool3d, "_fast_path", lambda self, x: False)
    for a, b in zip(fast, maps()):
        assert torch.equal(a, b)
