"""The foundation: error messages, registries, the model wrapper, Explanation persistence, explain()."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import vidxai
from vidxai import errors
from vidxai.attribution.base import HookSet, model_state, normalize_maps, reduce_channels, upsample_to


def test_unknown_method_suggests_close_match():
    with pytest.raises(errors.UnknownMethodError) as e:
        vidxai.methods.get("gradiant")
    msg = str(e.value)
    assert "gradient" in msg and "\n" not in msg and msg.startswith("unknown method 'gradiant'")


def test_unknown_model_suggests_close_match():
    with pytest.raises(errors.UnknownModelError) as e:
        vidxai.models.load("r3d18")
    assert "r3d_18" in str(e.value) or "unknown model" in str(e.value)


def test_error_messages_are_one_line():
    err = errors.VideoDecodeError("cannot decode\n  clip.mp4:\n bad header")
    assert str(err) == "cannot decode clip.mp4: bad header"


def test_wrong_tensor_shape_and_dtype(tiny_model):
    with pytest.raises(errors.ShapeError, match=r"\(B, 3, T, H, W\)"):
        tiny_model.check_input(torch.zeros(2, 8, 32, 32))
    with pytest.raises(errors.ShapeError, match="floating-point"):
        tiny_model.check_input(torch.zeros(1, 3, 8, 32, 32, dtype=torch.uint8))
    with pytest.raises(errors.ShapeError):
        vidxai.explain(tiny_model, np.zeros((8, 32, 32), np.uint8), method="gradient")


def test_target_resolution(tiny_model):
    logits = torch.tensor([[0.0, 3.0, 1.0, 0.0, 0.0], [5.0, 0.0, 1.0, 0.0, 0.0]])
    assert tiny_model.resolve_targets(None, logits).tolist() == [1, 0]
    assert tiny_model.resolve_targets("c3", logits).tolist() == [3, 3]
    assert tiny_model.resolve_targets([2, None], logits).tolist() == [2, 0]
    with pytest.raises(errors.TargetError, match="out of range"):
        tiny_model.resolve_targets(7, logits)
    with pytest.raises(errors.UnknownClassError, match="c1"):
        tiny_model.resolve_targets("c11", logits)
    with pytest.raises(errors.TargetError, match="2 targets"):
        tiny_model.resolve_targets([1, 2], logits[:1])


def test_model_state_restored_even_on_error(tiny_model):
    tiny_model.train()
    flags = [p.requires_grad for p in tiny_model.parameters()]
    with pytest.raises(RuntimeError), model_state(tiny_model):
        assert not tiny_model.training
        raise RuntimeError("boom")
    assert tiny_model.training and [p.requires_grad for p in tiny_model.parameters()] == flags


def test_hookset_removes_hooks_on_error(tiny_model):
    layer = tiny_model.layer("features.0")
    with pytest.raises(RuntimeError), HookSet() as hooks:
        hooks.forward(layer, lambda *a: None)
        assert len(layer._forward_hooks) == 1
        raise RuntimeError("boom")
    assert len(layer._forward_hooks) == 0


def test_reductions_and_normalisation():
    g = torch.tensor([[[-3.0]], [[2.0]], [[1.0]]]).view(1, 3, 1, 1, 1)
    assert reduce_channels(g, "max_abs").item() == 3.0
    assert reduce_channels(g, "sum").item() == 0.0
    assert reduce_channels(g, "sum_abs").item() == 6.0
    m = normalize_maps(torch.tensor([[1.0, 3.0, 2.0]]))
    assert m.tolist() == [[0.0, 1.0, 0.5]]
    assert normalize_maps(torch.ones(1, 4)).abs().sum() == 0
    up = upsample_to(torch.ones(2, 2, 3, 3), (8, 12, 12))
    assert up.shape == (2, 8, 12, 12) and torch.allclose(up, torch.ones_like(up))


def test_explain_tensor_clip(tiny_model, tiny_clip):
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="gradient", target="c2")
    assert exp.saliency.shape == (8, 32, 32) and exp.saliency.dtype == torch.float32
    assert exp.target == 2 and exp.target_name == "c2" and 0 <= exp.probability <= 1
    assert exp.method == "gradient" and exp.timing > 0 and len(exp.topk) == 5
    # the saliency equals |d logit_2 / d x| maxed over colour, computed independently here
    assert all(p.grad is None for p in tiny_model.parameters())
    x = tiny_clip[:1].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(tiny_model(x)[0, 2], x)
    assert torch.allclose(exp.saliency, grad.abs().amax(1)[0])


def test_explain_batch_one_target_per_clip(tiny_model, tiny_clip):
    exps = vidxai.explain_batch(tiny_model, tiny_clip, method="gradient", target=[1, 4])
    assert [e.target for e in exps] == [1, 4]
    single = vidxai.explain(tiny_model, tiny_clip[1], method="gradient", target=4)
    assert torch.allclose(exps[1].saliency, single.saliency, atol=1e-6)


def test_explanation_save_load_roundtrip(tiny_model, tiny_clip, tmp_path):
    exp = vidxai.explain(tiny_model, tiny_clip[0], method="gradient", target=0)
    exp.segmentation = torch.arange(8 * 32 * 32).view(8, 32, 32) % 7
    path = exp.save(tmp_path / "e")
    back = vidxai.Explanation.load(path)
    assert path.suffix == ".npz"
    assert torch.equal(back.saliency, exp.saliency) and torch.equal(back.segmentation, exp.segmentation)
    assert (back.method, back.target, back.target_name) == ("gradient", 0, "c0")
    assert back.probability == pytest.approx(exp.probability)
    with pytest.raises(errors.CorruptCheckpointError):
        (tmp_path / "bad.npz").write_bytes(b"not a zip")
        vidxai.Explanation.load(tmp_path / "bad.npz")


def test_method_registry_lists_and_describes():
    names = vidxai.methods.list()
    assert "gradient" in names
    assert vidxai.methods.describe("gradient")


def test_unknown_method_parameter_is_rejected(tiny_model, tiny_clip):
    with pytest.raises(errors.InputError, match="unknown parameter"):
        vidxai.explain(tiny_model, tiny_clip[0], method="gradient", stepz=3)


def test_wrap_infers_classes_and_cam_layer():
    from conftest import TinyNet3D

    model = vidxai.wrap(TinyNet3D(num_classes=7))
    assert model.num_classes == 7 and model.target_layers == ["features.4"]
