"""Hugging Face video transformers in the zoo: videomae / timesformer / vivit (tiny configs only), their token
layout (CAM reshape to the (T', H', W') grid, hand-checked), Grad-CAM against a hand computation, gradient and
supervoxel methods unchanged, weights from a save_pretrained folder, a checkpoint and (mocked) the hub."""
from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers", reason="transformers is not installed: pip install "
                                   "'vidxai[transformers]' (or the dev extra)")

import vidxai  # noqa: E402
from vidxai.errors import MissingCheckpointError, UnsupportedModelError  # noqa: E402
from vidxai.models.hf_models import TokenLayout, build_network, wrap_transformer  # noqa: E402

TINY = ["videomae-tiny", "timesformer-tiny", "vivit-tiny"]
#: (T', H', W') of the tiny configs: 8 frames of 32x32, patches of 8, tubelets of 2 frames (not TimeSformer)
GRIDS = {"videomae-tiny": (4, 4, 4), "timesformer-tiny": (8, 4, 4), "vivit-tiny": (4, 4, 4)}


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: vidxai.models.load(name, weights=None) for name in TINY}


@pytest.fixture(scope="module")
def clip():
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))


def test_entries_are_listed_and_import_is_lazy():
    names = vidxai.models.list()
    for family in ("videomae", "timesformer", "vivit"):
        assert family in names and f"{family}-tiny" in names
    assert vidxai.models.entry("videomae").weight_source.startswith("huggingface:MCG-NJU/videomae-base-finetuned")
    assert vidxai.models.entry("vivit-tiny").spec.describe().startswith("8x32x32 RGB [-1,1]")
    code = ("import sys, vidxai; vidxai.models.list(); vidxai.methods.list(); "
            "assert 'transformers' not in sys.modules, 'imported transformers'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_building_without_transformers_is_one_clear_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import transformers -> ImportError
    with pytest.raises(UnsupportedModelError, match=r"optional dependency 'transformers': pip install "
                       r"'vidxai\[transformers\]'"):
        vidxai.models.load("vivit-tiny", weights=None)


@pytest.mark.parametrize("name", TINY)
def test_tiny_models_take_bcthw_and_match_the_raw_network(name, models, clip):
    model = models[name]
    assert model.spec.num_frames == 8 and model.spec.crop == (32, 32) and model.num_classes == 400
    assert model.target_layers[0].endswith(".1.layernorm_before")  # the last block's, documented default
    assert model.token_layout.grid == GRIDS[name]
    with torch.no_grad():
        ours = model(clip)
        raw = model.net(pixel_values=clip.transpose(1, 2)).logits  # the network itself takes (B, T, C, H, W)
    torch.testing.assert_close(ours, raw)


def test_token_layout_reshapes_against_a_hand_placement():
    """Token k holds value k; every output cell must hold the token the model's layout puts there."""
    t, h, w = 2, 2, 3
    # TimeSformer: class token, then patches in (h, w, t) order -> token 1 + (y*W' + x)*T' + f
    lay = TokenLayout(grid=(t, h, w), cls_token=True, order="hwt")
    full = torch.arange(1 + t * h * w, dtype=torch.float32).view(1, -1, 1).repeat(1, 1, 2)
    out = lay(full)
    assert out.shape == (1, 2, t, h, w)
    for f in range(t):
        for y in range(h):
            for x in range(w):
                assert out[0, 0, f, y, x] == 1 + (y * w + x) * t + f
    # TimeSformer's spatial input (B*T', 1 + H'W', D): frame-major rows, class token first in each
    spatial = torch.arange(2 * t * (1 + h * w), dtype=torch.float32).view(2 * t, 1 + h * w, 1)
    out = lay(spatial)
    assert out.shape == (2, 1, t, h, w)
    assert out[1, 0, 1, 1, 2] == spatial[1 * t + 1, 1 + 1 * w + 2, 0]
    # its temporal input (B*H'W', T', D): one row per position
    temporal = torch.arange(2 * h * w * t, dtype=torch.float32).view(2 * h * w, t, 1)
    out = lay(temporal)
    assert out[1, 0, 1, 0, 2] == temporal[1 * h * w + 0 * w + 2, 1, 0]
    # VideoMAE: no class token, (t, h, w) order; 5-D maps pass through
    lay = TokenLayout(grid=(t, h, w), cls_token=False, order="thw")
    out = lay(torch.arange(t * h * w, dtype=torch.float32).view(1, -1, 1))
    assert out[0, 0, 1, 1, 0] == 1 * h * w + 1 * w + 0
    fmap = torch.zeros(1, 3, t, h, w)
    assert lay(fmap) is fmap
    with pytest.raises(UnsupportedModelError, match=r"cannot read tokens of shape \(1, 5, 1\)"):
        lay(torch.zeros(1, 5, 1))


def _hand_gradcam(model, clip, target):
    """Grad-CAM by hand: hooks of our own on the default layer, numpy for the weights and the grid placement."""
    layer = model.layer(model.target_layers[0])
    saved = {}

    def keep(module, args, out):
        out.retain_grad()
        saved["a"] = out

    handle = layer.register_forward_hook(keep)
    try:
        x = clip.clone().requires_grad_(True)
        logits = model(x)
        logits[torch.arange(len(target)), torch.tensor(target)].sum().backward()
    finally:
        handle.remove()
    a, g = saved["a"].detach().numpy(), saved["a"].grad.numpy()
    t, h, w = model.token_layout.grid
    cls = int(model.token_layout.cls_token)
    cams = np.zeros((clip.shape[0], t, h, w))
    for i in range(clip.shape[0]):
        weights = _weights(a, g, model, i)
        for f, y, xx in itertools.product(range(t), range(h), range(w)):
            if model.name == "timesformer-tiny":  # (B*T', 1 + H'W', D): frame f of clip i, class token first
                vec = a[i * t + f, 1 + y * w + xx]
            else:  # (B, [1 +] T'H'W', D) in (t, h, w) order
                vec = a[i, cls + (f * h + y) * w + xx]
            cams[i, f, y, xx] = (vec * weights).sum()
    return np.maximum(cams, 0)


def _weights(a, g, model, i):
    """Mean gradient per channel over the patch tokens of clip i (class tokens excluded: they have no place)."""
    t, h, w = model.token_layout.grid
    if model.name == "timesformer-tiny":
        return g[i * t:(i + 1) * t, 1:].reshape(-1, g.shape[-1]).mean(0)
    cls = int(model.token_layout.cls_token)
    return g[i, cls:].mean(0)


@pytest.mark.parametrize("name", ["videomae-tiny", "timesformer-tiny", "vivit-tiny"])
def test_gradcam_on_tokens_matches_a_hand_computation(name, models, clip):
    model = models[name]
    res = vidxai.methods.get("gradcam")(model).attribute(clip, target=[3, 7])
    assert res.raw.shape == (2, *GRIDS[name]) and res.saliency.shape == (2, 8, 32, 32)
    expected = _hand_gradcam(model, clip, [3, 7])
    np.testing.assert_allclose(res.raw.numpy(), expected, rtol=1e-4, atol=1e-7)
    assert float(res.raw.amax()) > 0


@pytest.mark.parametrize("name", TINY)
@pytest.mark.parametrize("method,params", [("gradient", {}), ("integrated-gradients", {"n_steps": 4}),
                                           ("guided-backprop", {"strict": False}),
                                           ("swagv-ig", {"strict": False, "n_segments": 8}),
                                           ("gradcam++", {}), ("attention-rollout", {})])
@pytest.mark.filterwarnings("ignore:.*strict=False:UserWarning")  # GELU: plain gradients pass (strict=False)
def test_methods_run_unchanged(name, method, params, models, clip):
    res = vidxai.methods.get(method)(models[name]).attribute(clip[:1], target=2, **params)
    assert res.saliency.shape == (1, 8, 32, 32)
    assert torch.isfinite(res.saliency).all() and float(res.saliency.abs().amax()) > 0


def test_guided_backprop_is_strict_about_gelu(models, clip):
    # VideoMAE's GELUActivation calls F.gelu, which guided backprop refuses without strict=False
    with pytest.raises(UnsupportedModelError, match="strict=False"):
        vidxai.methods.get("guided-backprop")(models["videomae-tiny"]).attribute(clip[:1], target=0)


def test_save_pretrained_folder_and_checkpoint_load_with_identical_logits(models, clip, tmp_path):
    model = models["videomae-tiny"]
    model.net.save_pretrained(tmp_path / "hf")
    # the base entry takes the folder's own (tiny) config: its spec follows the checkpoint
    loaded = vidxai.models.load("videomae", weights=str(tmp_path / "hf"))
    assert loaded.spec.num_frames == 8 and loaded.spec.crop == (32, 32) and loaded.weights == str(tmp_path / "hf")
    assert loaded.net.config._attn_implementation == "eager"
    with torch.no_grad():
        torch.testing.assert_close(loaded(clip), model(clip), rtol=0, atol=0)
    vidxai.models.checkpoint.save(model, tmp_path / "m.pt")
    again = vidxai.models.load("videomae-tiny", weights=str(tmp_path / "m.pt"))
    from safetensors.torch import save_file

    save_file(model.net.state_dict(), tmp_path / "m.safetensors")
    third = vidxai.models.load("videomae-tiny", weights=str(tmp_path / "m.safetensors"))
    with torch.no_grad():
        torch.testing.assert_close(again(clip), model(clip), rtol=0, atol=0)
        torch.testing.assert_close(third(clip), model(clip), rtol=0, atol=0)


def test_hub_names_are_passed_to_from_pretrained(monkeypatch, models, clip):
    calls = []
    net = models["timesformer-tiny"].net

    def fake(name, **kwargs):
        calls.append((name, kwargs))
        return net

    monkeypatch.setattr(transformers.TimesformerForVideoClassification, "from_pretrained", staticmethod(fake))
    a = vidxai.models.load("timesformer")  # weights="default": the Kinetics-400 checkpoint on the hub
    b = vidxai.models.load("timesformer", weights="someone/timesformer-finetuned", num_classes=5)
    assert calls[0] == ("facebook/timesformer-base-finetuned-k400", {"attn_implementation": "eager"})
    assert calls[1][0] == "someone/timesformer-finetuned"
    assert calls[1][1]["num_labels"] == 5 and calls[1][1]["ignore_mismatched_sizes"]
    assert a.weights == "huggingface:facebook/timesformer-base-finetuned-k400"
    assert b.net is net

    def offline(name, **kwargs):
        raise OSError("We couldn't connect to 'https://huggingface.co' to load the files,\n and couldn't find them")

    monkeypatch.setattr(transformers.TimesformerForVideoClassification, "from_pretrained", staticmethod(offline))
    with pytest.raises(MissingCheckpointError) as err:
        vidxai.models.load("timesformer")
    msg = str(err.value)
    assert "facebook/timesformer-base-finetuned-k400" in msg and "weights=None" in msg and "\n" not in msg


def test_wrap_transformer_and_default_layer_listing(models):
    net = build_network("vivit", tiny=True, num_labels=3)
    model = wrap_transformer(net)
    assert model.num_classes == 3 and model.name == "vivit" and model.token_layout.cls_token
    layers = vidxai.models.candidate_layers(models["timesformer-tiny"])
    default = [(info.name, info.shape) for info in layers if info.default]
    assert default == [("timesformer.encoder.layer.1.layernorm_before", (8, 17, 64))]  # (T', 1 + H'W', D)
    with pytest.raises(UnsupportedModelError, match="not a Hugging Face video transformer"):
        wrap_transformer(torch.nn.Linear(2, 2))


def test_layers_command_marks_the_default(capsys):
    from vidxai.cli import main

    assert main(["layers", "videomae-tiny"]) in (0, None)
    out = capsys.readouterr().out
    assert "videomae.encoder.layer.1.layernorm_before" in out
    line = next(ln for ln in out.splitlines() if "layer.1.layernorm_before" in ln)
    assert line.lstrip().startswith("*")
