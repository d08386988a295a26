"""Two-stream models: fusion, the [R, G, B, dx, dy] input, per-stream attributions and shares (hand-computed on
linear streams), the flow-stream I3D, the motion-only / appearance-only synthetic clips and the shipped
two-stream-tiny (its streams are blind by construction; Grad-CAM credits the flow on motion clips)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import vidxai
from vidxai.attribution.base import AttributionResult
from vidxai.data.synthetic import STREAM_COLOURS, SyntheticStreams, make_clip, make_stream_clip
from vidxai.errors import InputError, ShapeError, UnknownNameError
from vidxai.io.flow import to_grey
from vidxai.metrics.streams import align_flow, appearance_motion_share, stream_maps, stream_shares
from vidxai.models.two_stream import FlowModel, TwoStream, clip_flow, fuse

SPEC = vidxai.InputSpec(num_frames=4, crop=(16, 16), short_side=16)
FRESH_SEED = 31337  # not a seed stream of tools/train_two_stream_tiny.py (2024, 2025, 2026) or its benchmark


class SumNet(nn.Module):
    """Logit k = w_k * (sum of the input): every input voxel has gradient w_k."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(weights, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1).sum(1, keepdim=True) * self.w


def linear_two_stream(a: float, b: float, fusion: str = "logits-mean", rgb_weight: float = 0.5) -> TwoStream:
    rgb = vidxai.models.base.VideoModel(SumNet([a, -a]), SPEC, ["x", "y"])
    flow = vidxai.models.base.VideoModel(SumNet([b, -b]), SPEC, ["x", "y"])
    return TwoStream(rgb, flow, fusion=fusion, rgb_weight=rgb_weight).eval()


def test_fusion_by_hand():
    a, b = torch.tensor([[2.0, -1.0]]), torch.tensor([[4.0, 3.0]])
    assert fuse(a, b).tolist() == [[3.0, 1.0]]
    assert fuse(a, b, "logits-sum").tolist() == [[6.0, 2.0]]
    assert fuse(a, b, "late-weighted", rgb_weight=0.25).tolist() == [[3.5, 2.0]]
    with pytest.raises(UnknownNameError, match="logits-mean"):
        fuse(a, b, "mean")
    with pytest.raises(InputError):
        linear_two_stream(1, 1, "late-weighted", rgb_weight=1.5)


def test_input_gains_its_flow_and_forward_fuses_the_streams():
    model = linear_two_stream(1.0, 3.0, "logits-sum")
    rgb = torch.rand(2, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    x = model.check_input(rgb)
    assert x.shape == (2, 5, 4, 16, 16)
    torch.testing.assert_close(x[:, :3], rgb)
    torch.testing.assert_close(x[:, 3:], clip_flow(rgb))  # spec [0, 1], mean 0, std 1: unit RGB = the clip
    assert model.check_input(x) is x  # a 5-channel clip is kept as is
    expected = rgb.flatten(1).sum(1) * 1.0 + x[:, 3:].flatten(1).sum(1) * 3.0
    torch.testing.assert_close(model(x)[:, 0], expected)
    torch.testing.assert_close(model(rgb), model(x))  # a 3-channel clip gains its flow inside forward
    assert [p.shape[1] for p in model.pathways(x)] == [3, 2]
    torch.testing.assert_close(model.to_unit_rgb(x), rgb)
    with pytest.raises(ShapeError):
        model.check_input(torch.rand(1, 4, 4, 16, 16))
    with pytest.raises(InputError, match="NaN"):
        model.check_input(torch.cat([x[:1, :3], torch.full_like(x[:1, 3:], float("nan"))], 1))


def test_gradient_share_on_linear_streams_by_hand():
    # logits-mean: d logit / d rgb voxel = a / 2, d logit / d flow voxel = b / 2. With N voxels per channel the
    # absolute attribution is 3 N |a| / 2 on RGB and 2 N |b| / 2 on flow: motion share = 2|b| / (3|a| + 2|b|).
    a, b = 1.0, 3.0
    model = linear_two_stream(a, b)
    x = model.check_input(torch.rand(1, 3, 4, 16, 16))
    result = vidxai.methods.get("gradient")(model).attribute(x, target=0)
    assert result.raw.shape == (1, 5, 4, 16, 16)
    torch.testing.assert_close(result.raw[:, :3], torch.full_like(result.raw[:, :3], a / 2))
    torch.testing.assert_close(result.raw[:, 3:], torch.full_like(result.raw[:, 3:], b / 2))
    share = appearance_motion_share(result)
    torch.testing.assert_close(share, torch.tensor([[1 - 2 * b / (3 * a + 2 * b), 2 * b / (3 * a + 2 * b)]]))
    exp = vidxai.explain(model, x[0], method="gradient", target=0)  # the same from an Explanation
    torch.testing.assert_close(appearance_motion_share(exp), share)


def test_stream_maps_and_shares_by_hand():
    a = torch.zeros(5, 3, 1, 2)
    a[0, 0, 0, 0], a[2, 0, 0, 0], a[1, 2, 0, 1] = -1.0, 2.0, 4.0  # RGB: |.| summed over its channels
    a[3, 0, 0, 1], a[4, 0, 0, 1], a[4, 1, 0, 0] = 2.0, -2.0, 6.0  # flow
    rgb, flow = stream_maps(a)
    assert rgb.shape == (1, 3, 1, 2)
    assert rgb[0, :, 0].tolist() == [[3.0, 0.0], [0.0, 0.0], [0.0, 4.0]]
    assert flow[0, :, 0].tolist() == [[0.0, 4.0], [6.0, 0.0], [0.0, 0.0]]
    # shares: RGB 7, flow 10 of 17
    torch.testing.assert_close(stream_shares(rgb, flow), torch.tensor([[7 / 17, 10 / 17]]))
    # "split": flow index t (motion t -> t+1) half on frame t, half on t+1; the last index keeps its whole value
    split = stream_maps(a, align="split")[1]
    assert split[0, :, 0].tolist() == [[0.0, 2.0], [3.0, 2.0], [3.0, 0.0]]
    assert align_flow(torch.tensor([2.0, 4.0, 6.0]).view(1, 3, 1, 1), "split").flatten().tolist() == [1.0, 3.0, 8.0]
    assert stream_shares(torch.zeros(1, 4), torch.zeros(1, 2)).isnan().all()  # no attribution: undefined
    with pytest.raises(ShapeError):
        stream_maps(torch.zeros(1, 3, 2, 2, 2))
    with pytest.raises(InputError, match="per-stream"):
        appearance_motion_share(AttributionResult(saliency=torch.zeros(1, 2, 2, 2)))


def test_cam_per_stream_maps_and_candidate_layers():
    model = vidxai.models.load("two-stream-tiny", weights=None)
    x = torch.rand(2, 3, 8, 64, 64, generator=torch.Generator().manual_seed(1))
    result = vidxai.methods.get("gradcam")(model).attribute(x, target=0)
    assert result.saliency.shape == (2, 8, 64, 64) and result.extras["pathways"] == 2
    assert result.extras["pathway0"].shape == result.extras["pathway1"].shape == (2, 8, 64, 64)
    share = appearance_motion_share(result)
    torch.testing.assert_close(share, stream_shares(result.extras["pathway0"], result.extras["pathway1"]))
    layers = {layer.name: layer for layer in vidxai.models.candidate_layers(model)}
    assert layers["streams.rgb.net.features.2"].default and layers["streams.flow.net.features.2"].default
    assert layers["streams.rgb.net.features.0"].pathway_name == "rgb"
    assert layers["streams.flow.net.features.1"].pathway == 1
    assert layers["streams.flow.net.features.1"].pathway_name == "flow"


def test_swagv_ig_and_occlusion_run_on_the_five_channel_clip():
    model = vidxai.models.load("two-stream-tiny", weights=None)
    x = torch.rand(1, 3, 4, 64, 64, generator=torch.Generator().manual_seed(2))
    swag = vidxai.methods.get("swagv-ig")(model).attribute(x, target=1, n_segments=20)
    assert swag.saliency.shape == (1, 4, 64, 64) and swag.segmentation.shape == (1, 4, 64, 64)
    occ = vidxai.methods.get("occlusion")(model).attribute(x, target=1, window=(4, 32, 32), stride=(4, 32, 32))
    assert occ.saliency.shape == (1, 4, 64, 64)
    ig = vidxai.methods.get("integrated-gradients")(model).attribute(x, target=1, n_steps=4, baseline="black")
    assert ig.raw.shape == (1, 5, 4, 64, 64)


@pytest.fixture(scope="module")
def flow_i3d():
    return vidxai.models.load("i3d-flow", weights=None, num_classes=3)


def test_flow_i3d_takes_rgb_or_flow(flow_i3d):
    model = flow_i3d
    assert isinstance(model, FlowModel) and model.net.Conv3d_1a_7x7.conv.in_channels == 2
    assert model.weights == "random" and "no flow weights" in vidxai.models.entry("i3d-flow").weight_source
    rgb = torch.rand(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1  # I3D: [-1, 1]
    flow = model.check_input(rgb)
    assert flow.shape == (1, 2, 8, 32, 32) and flow.abs().max() <= 1
    torch.testing.assert_close(flow, clip_flow((rgb + 1) / 2))  # computed from the clip in unit RGB
    with torch.no_grad():
        torch.testing.assert_close(model(rgb), model(flow))
    assert model.to_unit_rgb(flow).shape == (1, 3, 8, 32, 32)  # the flow's colour coding


@pytest.mark.slow
def test_flow_i3d_loads_a_user_checkpoint_and_two_stream_i3d(flow_i3d, tmp_path):
    model = flow_i3d
    rgb = torch.rand(1, 3, 8, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    flow = model.check_input(rgb)
    with torch.no_grad():
        out = model(flow)
    torch.save(model.net.state_dict(), tmp_path / "flow.pt")
    again = vidxai.models.load("i3d-flow", weights=str(tmp_path / "flow.pt"), num_classes=3)
    assert again.weights.startswith("file:")
    with torch.no_grad():
        torch.testing.assert_close(again(flow), out)
    two = vidxai.models.load("i3d-two-stream", weights=None, flow_weights=None, num_classes=3)
    assert two.target_layers == ["streams.rgb.net.Mixed_5c", "streams.flow.net.Mixed_5c"]
    with torch.no_grad():
        assert two(two.check_input(rgb)).shape == (1, 3)


# ------------------------------------------------------------------------------------------------------------
# synthetic clips whose class is in the motion only or in the appearance only
# ------------------------------------------------------------------------------------------------------------
def _centroid_x(masks: np.ndarray) -> np.ndarray:
    xx = np.arange(masks.shape[2])
    return (masks * xx).sum((1, 2)) / masks.sum((1, 2))


def test_stream_clips_put_the_class_in_one_cue_only():
    right, left = make_stream_clip(5, "motion", 0), make_stream_clip(5, "motion", 1)
    assert (right.direction, left.direction, right.colour, left.colour) == ("right", "left", "grey", "grey")
    assert np.all(np.diff(_centroid_x(right.object_masks)) > 0) and np.all(np.diff(_centroid_x(left.object_masks)) < 0)
    obj = right.frames[right.object_masks]
    assert (obj.max(1) - obj.min(1) <= 1).all()  # grey: R = G = B up to rounding
    red, blue = make_stream_clip(6, "appearance", 0), make_stream_clip(6, "appearance", 1)
    assert red.direction == blue.direction in ("up", "down") and (red.colour, blue.colour) == ("red", "blue")
    np.testing.assert_array_equal(red.object_masks, blue.object_masks)  # same geometry, only the colour differs
    # every colour has the same grey level, so the grey frames the flow is computed on barely differ (rounding)
    assert np.abs(to_grey(red.frames).astype(int) - to_grey(blue.frames).astype(int)).max() <= 1
    for colour in STREAM_COLOURS.values():
        assert abs(float(colour @ [0.299, 0.587, 0.114]) - 0.4) < 1e-9
    r = red.frames[red.object_masks].astype(int)
    b = blue.frames[blue.object_masks].astype(int)
    assert (r[:, 0] >= r[:, 2]).all() and (b[:, 2] > b[:, 0]).all()
    np.testing.assert_array_equal(make_stream_clip(5, "motion", 0).frames, right.frames)  # deterministic


def test_stream_dataset_and_the_existing_generator_is_unchanged():
    ds = SyntheticStreams(4, seed=1)
    assert [(ds[i]["kind"], ds[i]["label"]) for i in range(4)] == [("motion", 0), ("motion", 1), ("appearance", 0),
                                                                   ("appearance", 1)]
    assert ds[0]["video"].shape == (3, 16, 64, 64)
    with pytest.raises(UnknownNameError):
        SyntheticStreams(2, kind="colour")
    with pytest.raises(InputError):
        make_stream_clip(0, "motion", label=2)
    # make_clip draws from its own seed exactly as before (the shipped synthetic-tiny depends on it)
    clip = make_clip(11)
    assert (clip.label, clip.background_label, clip.action_start, clip.action_end) == (
        make_clip(11).label, make_clip(11).background_label, make_clip(11).action_start, make_clip(11).action_end)


# ------------------------------------------------------------------------------------------------------------
# the shipped two-stream-tiny
# ------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny():
    model = vidxai.models.load("two-stream-tiny")
    ds = SyntheticStreams(8, seed=FRESH_SEED)
    x = model.check_input(torch.stack([ds[i]["video"] for i in range(len(ds))]))
    return model, x, torch.tensor([ds[i]["label"] for i in range(len(ds))]), [ds[i]["kind"] for i in range(len(ds))]


def test_shipped_weights_classify_fresh_clips(tiny):
    model, x, y, _ = tiny
    assert model.weights == "default" and model.class_names == ["right or red", "left or blue"]
    with torch.no_grad():
        assert (model(x).argmax(1) == y).float().mean() >= 0.85  # recorded: 0.99 on 256 test clips
    assert vidxai.models.entry("two-stream-tiny").weight_source == "shipped"
    assert (vidxai.models.two_stream.TINY_WEIGHTS.stat().st_size < 1_000_000)


def test_rgb_stream_cannot_see_the_direction(tiny):
    model, x, _, kinds = tiny
    rgb, flow = model.pathways(x)
    with torch.no_grad():
        # per-frame layers + a global average: reversing time (right <-> left) leaves the RGB logits unchanged
        torch.testing.assert_close(model.rgb_model(rgb.flip(2)), model.rgb_model(rgb), atol=1e-5, rtol=1e-5)
        # while the flow stream separates the motion clips
        motion = torch.tensor([k == "motion" for k in kinds])
        flow_logits = model.flow_model(flow[motion])
        assert (flow_logits.argmax(1) == torch.tensor([0, 1, 0, 1])).all()


def test_gradcam_credits_the_flow_stream_on_motion_clips(tiny):
    model, x, y, kinds = tiny
    result = vidxai.methods.get("gradcam")(model).attribute(x, target=y.tolist())
    motion_share = appearance_motion_share(result)[:, 1]
    motion = torch.tensor([k == "motion" for k in kinds])
    # measured (docs/benchmarks/two_stream.md): ~1.0 on motion clips, ~0.0 on appearance clips
    assert (motion_share[motion] > 0.5).all() and (motion_share[~motion] < 0.5).all()
    grad = appearance_motion_share(vidxai.methods.get("gradient")(model).attribute(x, target=y.tolist()))[:, 1]
    assert grad[motion].mean() > grad[~motion].mean()
