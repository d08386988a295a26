"""Model zoo: every entry builds with random weights, has a sane input spec, an existing CAM layer that
yields a (B, C, T', H', W') map, and returns (B, num_classes) logits; SlowFast takes two pathways from one
clip; checkpoints round-trip and fail with one-line errors; offline hub loads fail clearly."""
from __future__ import annotations

import urllib.error

import pytest
import torch

import vidxai
from vidxai.errors import CorruptCheckpointError, MissingCheckpointError, ShapeError, UnknownNameError
from vidxai.models import checkpoint as ckpt

ZOO = ["c3d", "i3d", "r3d_18", "mc3_18", "r2plus1d_18", "s3d", "mvit_v1_b", "mvit_v2_s", "swin3d_t", "x3d_xs",
       "x3d_s", "x3d_m", "slow_r50", "slowfast_r50", "r2plus1d_r50", "csn_r101"]

# Small inputs keep the default suite fast; pytorchvideo heads get a head pool that fits them (the builder
# passes such keyword arguments to the pytorchvideo create_* function).
SMALL = {
    "c3d": ({}, (16, 112, 112)),
    "i3d": ({}, (8, 32, 32)),
    "r3d_18": ({}, (8, 32, 32)),
    "mc3_18": ({}, (8, 32, 32)),
    "r2plus1d_18": ({}, (8, 32, 32)),
    "swin3d_t": ({}, (4, 32, 32)),
    "x3d_xs": ({"input_crop_size": 32}, (4, 32, 32)),
    "x3d_s": ({"input_crop_size": 32}, (13, 32, 32)),
    "x3d_m": ({"input_crop_size": 32}, (16, 32, 32)),
    "slow_r50": ({"head_pool_kernel_size": (8, 1, 1)}, (8, 32, 32)),
    "slowfast_r50": ({"head_pool_kernel_sizes": ((8, 1, 1), (32, 1, 1))}, (32, 32, 32)),
    "r2plus1d_r50": ({"head_pool_kernel_size": (4, 1, 1)}, (16, 32, 32)),
    "csn_r101": ({"head_pool_kernel_size": (4, 1, 1)}, (32, 32, 32)),
}
# Networks that only run at (or near) their full native size: checked at it, in the slow suite.
NATIVE_ONLY = ["s3d", "mvit_v1_b", "mvit_v2_s"]


@pytest.fixture(autouse=True)
def offline_hub(monkeypatch):
    """Make hub downloads fail as on an offline machine, whatever this machine can reach."""

    def refuse(url, *a, **k):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    import torchvision.models._api as tv_api

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(tv_api, "load_state_dict_from_url", refuse)  # torchvision imported its own reference


def test_registry_lists_every_zoo_entry():
    names = vidxai.models.list()
    assert set(ZOO) <= set(names)
    for name in ZOO:
        e = vidxai.models.entry(name)
        assert e.spec is not None and e.weight_source and e.description and e.family


@pytest.mark.parametrize("name", ZOO)
def test_entry_builds_with_sane_spec_and_cam_layers(name):
    torch.manual_seed(0)
    model = vidxai.models.load(name, weights=None)
    spec = model.spec
    assert model.name == name and model.weights == "random"
    assert spec == vidxai.models.entry(name).spec
    assert len(spec.mean) == 3 and len(spec.std) == 3 and all(s > 0 for s in spec.std)
    assert spec.value_range in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0))
    assert spec.min_frames <= spec.num_frames and min(spec.crop) <= spec.short_side
    assert model.num_classes == (487 if name == "c3d" else 400)
    if name != "c3d":
        assert model.class_names[0] == "abseiling" and model.class_names[-1] == "zumba"
    assert len(model.target_layers) == spec.pathways
    for path in model.target_layers:
        assert isinstance(model.layer(path), torch.nn.Module)
    assert not model.training


@pytest.mark.parametrize("name", sorted(SMALL))
def test_forward_shape_and_cam_map(name):
    kwargs, (t, h, w) = SMALL[name]
    torch.manual_seed(0)
    model = vidxai.models.load(name, weights=None, **kwargs)
    x = torch.randn(2 if name in ("r3d_18", "i3d") else 1, 3, t, h, w)
    maps = []
    hooks = [model.layer(p).register_forward_hook(lambda m, a, o: maps.append(o)) for p in model.target_layers]
    try:
        with torch.no_grad():
            logits = model(model.check_input(x))
    finally:
        for hk in hooks:
            hk.remove()
    assert logits.shape == (x.shape[0], model.num_classes)
    assert torch.isfinite(logits).all()
    assert len(maps) == len(model.target_layers)
    for m in maps:  # CAM layers give (B, C, T', H', W') maps
        assert isinstance(m, torch.Tensor) and m.ndim == 5 and m.shape[0] == x.shape[0]
    if name.startswith("x3d") or name == "r2plus1d_r50":  # their pytorchvideo heads default to a softmax
        assert not torch.allclose(logits.sum(1), torch.ones(x.shape[0]), atol=1e-3), "softmax, not logits"


def test_slowfast_takes_two_pathways_from_one_clip():
    kwargs, (t, h, w) = SMALL["slowfast_r50"]
    model = vidxai.models.load("slowfast_r50", weights=None, **kwargs)
    assert model.spec.pathways == 2 and model.spec.slowfast_alpha == 4
    x = torch.randn(1, 3, t, h, w, requires_grad=True)
    slow, fast = model.pathways(x)
    assert slow.shape[2] == t // 4 and fast.shape[2] == t
    model(x)[0, 3].backward()
    # gradients reach frames used only by the fast pathway and those shared with the slow one
    assert x.grad.abs().sum(dim=(0, 1, 3, 4)).gt(0).all()


def test_fixed_input_models_reject_other_shapes():
    model = vidxai.models.load("mvit_v2_s", weights=None)
    assert model.spec.fixed_frames and model.spec.fixed_size and model.spec.num_frames == 16
    with pytest.raises(ShapeError, match="exactly 16 frames"):
        model.check_input(torch.zeros(1, 3, 20, 224, 224))
    with pytest.raises(ShapeError, match="224x224"):
        model.check_input(torch.zeros(1, 3, 16, 112, 112))
    c3d = vidxai.models.load("c3d", weights=None)
    with pytest.raises(ShapeError):
        c3d.check_input(torch.zeros(1, 3, 8, 112, 112))


def test_transformer_cam_adapters_do_not_change_outputs():
    """The Swin3D adapter (a Permute module for CAM) computes exactly torchvision's forward."""
    from torchvision.models.video import swin3d_t

    torch.manual_seed(0)
    ref = swin3d_t().eval()
    model = vidxai.models.load("swin3d_t", weights=None)
    model.net.load_state_dict(ref.state_dict())  # same keys: the adapter adds no parameters
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))


@pytest.mark.slow
def test_mvit_adapter_matches_torchvision():
    from torchvision.models.video import mvit_v2_s

    torch.manual_seed(0)
    ref = mvit_v2_s().eval()
    model = vidxai.models.load("mvit_v2_s", weights=None)
    model.net.load_state_dict(ref.state_dict())
    x = torch.randn(1, 3, 16, 224, 224)
    with torch.no_grad():
        assert torch.allclose(model(x), ref(x), atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("name", NATIVE_ONLY)
def test_native_only_forward(name):
    model = vidxai.models.load(name, weights=None)
    t = model.spec.num_frames if model.spec.fixed_frames else model.spec.min_frames
    x = torch.randn(1, 3, t, *model.spec.crop)
    maps = []
    hk = model.layer(model.target_layers[0]).register_forward_hook(lambda m, a, o: maps.append(o))
    with torch.no_grad():
        logits = model(model.check_input(x))
    hk.remove()
    assert logits.shape == (1, 400) and maps[0].ndim == 5


# ------------------------------------------------------------------------------------------------------------
# weights: hub (offline), local checkpoints, errors
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,weights", [("r3d_18", "default"), ("r3d_18", "KINETICS400_V1"),
                                          ("swin3d_t", "Swin3D_T_Weights.KINETICS400_V1"), ("x3d_xs", "default"),
                                          ("slowfast_r50", "default")])
def test_offline_hub_weights_fail_in_one_line(name, weights):
    with pytest.raises(MissingCheckpointError) as err:
        vidxai.models.load(name, weights=weights)
    msg = str(err.value)
    assert "\n" not in msg and "weights=" in msg and "https://" in msg and name in msg


def test_c3d_default_needs_a_local_file(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path))
    monkeypatch.delenv("VIDXAI_C3D_CKPT", raising=False)
    with pytest.raises(MissingCheckpointError) as err:
        vidxai.models.load("c3d")
    assert "\n" not in str(err.value) and "VIDXAI_C3D_CKPT" in str(err.value)
    # a file at the documented cache place is the default
    net = vidxai.models.load("c3d", weights=None).net
    (tmp_path / "c3d").mkdir()
    torch.save(net.state_dict(), tmp_path / "c3d" / "c3d.pickle")
    assert vidxai.models.load("c3d").weights.startswith("file:")


def test_unknown_weight_name_suggests_choices():
    with pytest.raises(UnknownNameError, match="KINETICS400_V1"):
        vidxai.models.load("r3d_18", weights="KINETICS400_V2")


def test_missing_checkpoint_file():
    with pytest.raises(MissingCheckpointError, match="not found") as err:
        vidxai.models.load("r3d_18", weights="/nonexistent/r3d.pth")
    assert "\n" not in str(err.value)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = vidxai.models.load("r3d_18", weights=None)
    path = ckpt.save(model, tmp_path / "r3d.pt")
    again = vidxai.models.load("r3d_18", weights=str(path))
    assert again.weights == f"file:{path}"
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, again.net.state_dict()[k]), k
    x = torch.randn(1, 3, 8, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    saved = torch.load(path, weights_only=True)
    assert saved["name"] == "r3d_18" and saved["spec"]["crop"] == (112, 112) and len(saved["class_names"]) == 400


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "model_state", "module_prefix", "net_prefix"])
def test_checkpoint_layouts(tmp_path, wrap):
    torch.manual_seed(1)
    ref = vidxai.models.load("mc3_18", weights=None)
    sd = ref.net.state_dict()
    payload = {
        "plain": sd,
        "state_dict": {"state_dict": sd, "epoch": 3},
        "model": {"model": sd, "optimizer": {"lr": 0.1}},
        "model_state": {"model_state": sd},
        "module_prefix": {"state_dict": {f"module.{k}": v for k, v in sd.items()}},
        "net_prefix": {f"net.{k}": v for k, v in ref.state_dict().items() if k.startswith("net.")},
    }[wrap]
    torch.save(payload, tmp_path / "w.pth")
    model = vidxai.models.load("mc3_18", weights=str(tmp_path / "w.pth"))
    assert torch.equal(model.net.fc.weight, ref.net.fc.weight)


def test_checkpoint_mismatch_messages(tmp_path):
    sd = vidxai.models.load("r3d_18", weights=None).net.state_dict()
    missing = {k: v for k, v in sd.items() if not k.startswith("fc.")}
    torch.save(missing, tmp_path / "missing.pt")
    with pytest.raises(CorruptCheckpointError, match=r"2 missing key\(s\): fc.weight, fc.bias") as err:
        vidxai.models.load("r3d_18", weights=str(tmp_path / "missing.pt"))
    assert "\n" not in str(err.value)
    torch.save({**sd, "extra.weight": torch.zeros(1)}, tmp_path / "extra.pt")
    with pytest.raises(CorruptCheckpointError, match=r"1 unexpected key\(s\): extra.weight"):
        vidxai.models.load("r3d_18", weights=str(tmp_path / "extra.pt"))
    torch.save({**sd, "fc.weight": torch.zeros(10, 512), "fc.bias": torch.zeros(10)}, tmp_path / "shape.pt")
    with pytest.raises(CorruptCheckpointError, match="shape mismatch"):
        vidxai.models.load("r3d_18", weights=str(tmp_path / "shape.pt"))
    # ...but a 10-class head is fine when asked for
    model = vidxai.models.load("r3d_18", weights=str(tmp_path / "shape.pt"), num_classes=10)
    assert model.num_classes == 10 and model.class_names[0] == "class_0"
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CorruptCheckpointError, match="cannot read"):
        vidxai.models.load("r3d_18", weights=str(tmp_path / "junk.pth"))


def test_cache_dir_and_sha256(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path / "c"))
    assert ckpt.cache_dir("i3d") == tmp_path / "c" / "i3d" and (tmp_path / "c" / "i3d").is_dir()
    f = tmp_path / "f.bin"
    f.write_bytes(b"abc")
    # sha256("abc") from FIPS 180-2, appendix B.1
    assert ckpt.sha256_file(f) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        ckpt.check_sha256(f, "0" * 64)


def test_kinetics_labels_match_torchvision_and_deepmind(realdata):
    from torchvision.models._meta import _KINETICS400_CATEGORIES

    from vidxai.data.labels import load_labels

    names = load_labels("kinetics400")
    assert names == list(_KINETICS400_CATEGORIES) and len(names) == 400
    deepmind = (realdata / "labels" / "kinetics_i3d_label_map_400.txt").read_text().split("\n")
    assert names == [n.strip() for n in deepmind if n.strip()]


def test_registry_aliases_resolve_but_are_not_listed():
    from vidxai.errors import UnknownModelError
    from vidxai.registry import Registry

    reg = Registry("model", UnknownModelError)
    reg.register("videomae", object(), description="VideoMAE")
    reg.alias("videomae-base", "videomae")
    assert reg.get("videomae-base") is reg.get("videomae") and "videomae-base" in reg
    assert reg.names() == ["videomae"] and reg.describe("videomae-base") == "VideoMAE"
    with pytest.raises(UnknownModelError):
        reg.alias("x", "missing")
    with pytest.raises(ValueError, match="already registered"):
        reg.alias("videomae", "videomae")


def test_hub_style_names_of_the_video_transformers():
    """Issue 18's acceptance names `--model videomae-base`: it loads the videomae entry (not listed twice)."""
    assert "videomae-base" not in vidxai.models.list()
    for family in ("videomae", "timesformer", "vivit"):
        assert vidxai.models.entry(f"{family}-base") is vidxai.models.entry(family)


def test_models_load_a_checkpoint_path_as_documented(tmp_path):
    """``vidxai.models.load(path)`` rebuilds the entry a checkpoint names (its docstring promised it; only the
    CLI did it); a bare state dict names no model and gets a one-line InputError."""
    from vidxai.errors import InputError
    from vidxai.models.checkpoint import save

    model = vidxai.models.load("synthetic-tiny")
    path = save(model, tmp_path / "tiny.pt")
    again = vidxai.models.load(str(path))
    assert again.name == "synthetic-tiny"
    x = torch.rand(1, 3, 16, 112, 112)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    torch.save(model.net.state_dict(), tmp_path / "bare.pt")
    with pytest.raises(InputError, match="does not name a registered model"):
        vidxai.models.load(str(tmp_path / "bare.pt"))
