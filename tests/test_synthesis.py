"""Feature synthesis: the optimised clip raises the target far above noise; layer/channel mode; the CLI."""
from __future__ import annotations

import pytest
import torch

import vidxai
from vidxai.attribution.synthesis import synthesize, total_variation


@pytest.fixture(scope="module")
def synthetic_tiny():
    return vidxai.models.load("synthetic-tiny")


def noise_logit(model, cls, shape, n=4):
    g = torch.Generator().manual_seed(123)
    with torch.no_grad():
        noise = model.from_unit_rgb(torch.rand((n, 3, *shape), generator=g))
        return float(model(noise)[:, cls].mean())


def test_synthesis_raises_class_logit_far_above_noise(synthetic_tiny):
    model = synthetic_tiny
    cls = 1
    res = synthesize(model, target=model.class_names[cls], steps=30, num_frames=8, size=(48, 48), seed=0,
                     learning_rate=0.1)
    assert res.frames.shape == (8, 48, 48, 3) and res.frames.dtype.name == "uint8"
    with torch.no_grad():
        logits = model(res.clip[None])[0]
    base = noise_logit(model, cls, (8, 48, 48))
    assert float(logits[cls]) > base + 5, (float(logits[cls]), base)
    assert int(logits.argmax()) == cls
    assert res.objective[-1] > res.start_score
    lo, hi = model.from_unit_rgb(torch.zeros(1, 3, 1, 1, 1)), model.from_unit_rgb(torch.ones(1, 3, 1, 1, 1))
    assert bool(((res.clip[None] >= lo - 1e-6) & (res.clip[None] <= hi + 1e-6)).all())  # a real video


def test_synthesis_is_seeded_and_checks_inputs(tiny_model):
    a = synthesize(tiny_model, target=2, steps=3, seed=4)
    b = synthesize(tiny_model, target=2, steps=3, seed=4)
    assert torch.equal(a.clip, b.clip)
    with pytest.raises(vidxai.VidxaiError, match="target"):
        synthesize(tiny_model)
    with pytest.raises(vidxai.VidxaiError, match="channels"):
        synthesize(tiny_model, layer="features.5", channel=99, steps=1)


def test_layer_channel_mode_raises_the_channel(tiny_model):
    res = synthesize(tiny_model, layer="features.5", channel=3, steps=25, learning_rate=0.1, blur_every=0,
                     temporal_blur=True, clip_value_quantile=0.1, clip_contribution_quantile=0.1)
    assert res.target == "features.5[3]"
    assert res.objective[-1] > res.start_score + 0.3, (res.start_score, res.objective[-1])


def test_regularisers_run():
    x = torch.zeros(1, 3, 4, 8, 8)
    assert float(total_variation(x)) == 0
    x[..., 2:, :, :] = 1  # a step in time only
    assert float(total_variation(x, temporal_weight=0)) == 0
    assert float(total_variation(x, temporal_weight=1)) > 0


def test_cli_writes_decodable_video(tmp_path, capsys):
    from vidxai.cli import main
    from vidxai.io import read_video

    out = tmp_path / "right.mp4"
    rc = main(["synthesize", "--model", "synthetic-tiny", "--class", "1", "--steps", "3", "--frames", "8",
               "--size", "48", "--out", str(out), "--quiet"])
    assert rc == 0
    video = read_video(out)
    assert video.frames.shape == (8, 48, 48, 3)
    assert "wrote" in capsys.readouterr().out
