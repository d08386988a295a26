"""vidxai.wrap on the models people already have: BTCHW inputs, dict / tuple / ModelOutput-style outputs, and
every method (Grad-CAM, guided backprop, gradient, SWAG-V) giving the same maps as on the plain network."""
from __future__ import annotations

import pytest
import torch
from conftest import TinyNet3D
from torch import nn

import vidxai
from vidxai.errors import InputError, ModelOutputError
from vidxai.models.wrap import find_logits

SPEC = vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32)


class BTCHWNet(nn.Module):
    """TinyNet3D behind a (B, T, C, H, W) interface, as many video repos define their models."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyNet3D()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[2] == 3, "expects (B, T, C, H, W)"
        return self.inner(x.permute(0, 2, 1, 3, 4))


class DictNet(nn.Module):
    """TinyNet3D returning {"features": ..., "logits": ...}."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = TinyNet3D()

    def forward(self, x: torch.Tensor) -> dict:
        return {"features": self.inner.features(x), "logits": self.inner(x)}


class FakeModelOutput:
    """Stand-in for a Hugging Face ModelOutput: an object with .logits (and other fields)."""

    def __init__(self, logits: torch.Tensor, hidden: torch.Tensor) -> None:
        self.logits = logits
        self.hidden_states = hidden


class HFStyleNet(DictNet):
    def forward(self, x: torch.Tensor) -> FakeModelOutput:
        out = super().forward(x)
        return FakeModelOutput(out["logits"], out["features"])


class TupleNet(DictNet):
    def forward(self, x: torch.Tensor) -> tuple:
        out = super().forward(x)
        return out["logits"], out["features"]


def _pair(cls, **kw):
    """A wrapped ``cls`` and a wrapped plain TinyNet3D with the same weights."""
    torch.manual_seed(0)
    net = cls().eval()
    plain = TinyNet3D().eval()
    plain.load_state_dict(net.inner.state_dict())
    names = [f"c{i}" for i in range(5)]
    return (vidxai.wrap(net, spec=SPEC, class_names=names, **kw),
            vidxai.wrap(plain, spec=SPEC, class_names=names, target_layers=["features.4"]))


@pytest.mark.parametrize("cls,kw", [(BTCHWNet, {"layout": "BTCHW"}), (DictNet, {}), (HFStyleNet, {}),
                                    (TupleNet, {}), (DictNet, {"output": "logits"}),
                                    (HFStyleNet, {"output": lambda o: o.logits}), (TupleNet, {"output": 0})])
def test_wrapped_logits_equal_the_plain_network(cls, kw, tiny_clip):
    model, plain = _pair(cls, **kw)
    assert model.num_classes == 5
    assert model.target_layers == ["inner.features.4"]  # the last conv with a kernel over 1
    torch.testing.assert_close(model(tiny_clip), plain(tiny_clip))


@pytest.mark.parametrize("cls,kw", [(BTCHWNet, {"layout": "BTCHW"}), (DictNet, {})])
@pytest.mark.parametrize("method", ["gradcam", "guided-backprop", "gradient", "swagv-ig"])
def test_every_method_works_through_the_wrapper(cls, kw, method, tiny_clip):
    model, plain = _pair(cls, **kw)
    a = vidxai.methods.get(method)(model).attribute(tiny_clip, target=[1, 3])
    b = vidxai.methods.get(method)(plain).attribute(tiny_clip, target=[1, 3])
    assert a.saliency.shape == (2, 8, 32, 32)
    torch.testing.assert_close(a.saliency, b.saliency)
    assert float(a.saliency.abs().amax()) > 0


def test_explain_runs_on_a_btchw_model(tiny_clip):
    model, _ = _pair(BTCHWNet, layout="BTCHW")
    exp = vidxai.explain(model, tiny_clip[0], method="gradcam", target="c2")
    assert tuple(exp.saliency.shape) == (8, 32, 32)


def test_missing_logits_is_one_clear_error(tiny_clip):
    model, _ = _pair(DictNet, output="scores")
    with pytest.raises(ModelOutputError, match=r"output \(a dict with keys 'features', 'logits'\) has no 'scores'"):
        model(tiny_clip)
    with pytest.raises(ModelOutputError, match="cannot find the logits.*keys 'a'"):
        find_logits({"a": torch.zeros(1, 2)})
    with pytest.raises(ModelOutputError, match=r"must be a \(B, K\) tensor, got \(2, 16, 4, 16, 16\)"):
        _pair(DictNet, output="features")[0](tiny_clip)
    with pytest.raises(ModelOutputError, match="cannot find the logits"):
        find_logits((None, "x"))
    # the CLI prints vidxai errors as one line
    assert "\n" not in str(ModelOutputError("a\nb"))


def test_bad_wrap_arguments():
    with pytest.raises(InputError, match="unknown layout 'TCHW'"):
        vidxai.wrap(TinyNet3D(), layout="TCHW")
    with pytest.raises(InputError, match="output= must be"):
        vidxai.wrap(TinyNet3D(), output=1.5)
    with pytest.raises(InputError, match="cannot infer the number of classes"):
        vidxai.wrap(nn.Conv3d(3, 2, 3))
