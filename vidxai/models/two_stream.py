"""Two-stream video models: an appearance (RGB) stream and a motion (optical flow) stream, fused late.

Two-stream networks (Simonyan & Zisserman 2014; Carreira & Zisserman 2017 for I3D) run one network on the RGB
frames and one on the optical flow and fuse their logits. vidxai hands every model ONE clip tensor, so a
:class:`TwoStream` model takes the RGB clip ``(B, 3, T, H, W)`` and appends its flow as two more channels:

- :meth:`TwoStream.check_input` (called by every method and by :func:`vidxai.explain` before attributing)
  turns an RGB clip into ``(B, 5, T, H, W)`` = ``[R, G, B, dx, dy]``: channels 0-2 the model-ready RGB clip,
  channels 3-4 the flow computed from it with OpenCV (:func:`vidxai.io.flow.optical_flow`, DeepMind's scaling
  :func:`vidxai.io.flow.i3d_flow_scale`: +-20 pixels -> [-1, 1]). A 5-channel clip is taken as is.
- The two streams are two *pathways* of that one tensor (``spec.pathways == 2``, as SlowFast's slow and fast
  pathways): :meth:`TwoStream.pathways` splits it into ``[rgb, flow]``.

So every method attributes both streams at once: gradient methods return ``(B, 5, T, H, W)`` attributions
(``raw``) whose channels 0-2 belong to the RGB stream and 3-4 to the flow stream; CAM methods take one layer
per stream (the defaults) and return ``extras["pathway0"]`` (RGB) and ``extras["pathway1"]`` (flow);
perturbation methods perturb both streams of a region together. :func:`vidxai.metrics.streams.stream_maps`
and :func:`vidxai.metrics.streams.appearance_motion_share` read the per-stream maps and the share of each.

The flow is computed once, outside autograd (OpenCV is not differentiable): a gradient reaches the RGB pixels
only through the RGB stream, and the flow channels get their own gradient through the flow stream. Calling the
model on a 3-channel clip also works (the flow is computed inside ``forward``), but then the flow stream's
share of the gradient is lost; methods never do that, because they call ``check_input`` first.

Time convention: ``flow[:, t]`` is the motion from frame ``t`` to frame ``t+1`` (the last index, with no next
frame, is zero); so an attribution on the flow channels at index ``t`` is about the motion between frames ``t``
and ``t+1`` and is shown on frame ``t`` (see :func:`vidxai.metrics.streams.stream_maps` for ``align="split"``).

Entries: ``two-stream-tiny`` (trained on :func:`vidxai.data.synthetic.make_stream_clip` clips, shipped
weights; a per-frame RGB stream that cannot see motion and a 3-D flow stream), ``i3d-two-stream`` (RGB I3D +
flow I3D). The flow-only I3D is ``i3d-flow`` (:mod:`vidxai.models.i3d`), a :class:`FlowModel`.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..core.checks import check_choice
from ..errors import InputError, MissingCheckpointError, ShapeError
from . import register
from .base import InputSpec, VideoModel

FUSIONS = ("logits-mean", "logits-sum", "late-weighted")

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TINY_WEIGHTS = WEIGHTS_DIR / "two_stream_tiny.pt"
TINY_METADATA = WEIGHTS_DIR / "two_stream_tiny.json"
#: 16 frames of 64x64 in [0, 1]; two pathways (RGB, flow), both at full frame rate.
TINY_SPEC = InputSpec(num_frames=16, crop=(64, 64), short_side=64, min_frames=4, pathways=2, slowfast_alpha=1)
TINY_WIDTHS = (16, 32, 48)
STREAM_CLASS_NAMES: tuple[str, ...] = ("right or red", "left or blue")
"""Classes of the two-stream synthetic clips (:func:`vidxai.data.synthetic.make_stream_clip`): on *motion* clips
(a grey object) the class is the direction only (right / left), on *appearance* clips (an object moving up or
down) the colour only (red / blue)."""


# ------------------------------------------------------------------------------------------------------------
# flow from a model-ready clip
# ------------------------------------------------------------------------------------------------------------
def clip_flow(unit_rgb: torch.Tensor, method: str = "farneback", bound: float = 20.0, **params) -> torch.Tensor:
    """Optical flow of RGB clips in [0, 1] ``(B, 3, T, H, W)`` -> ``(B, 2, T, H, W)`` scaled as DeepMind's I3D.

    The flow is computed by OpenCV on the uint8 grey frames, outside autograd, then clipped to ``+-bound`` pixels
    and divided by ``bound`` (:func:`vidxai.io.flow.i3d_flow_scale`); the result has ``unit_rgb``'s device and dtype.

    Example:
        >>> clip_flow(torch.zeros(1, 3, 4, 16, 16)).shape
        torch.Size([1, 2, 4, 16, 16])
    """
    from ..io.flow import i3d_flow_scale, optical_flow

    if unit_rgb.ndim != 5 or unit_rgb.shape[1] != 3:
        raise ShapeError(f"expected RGB clips (B, 3, T, H, W), got {tuple(unit_rgb.shape)}")
    frames = (unit_rgb.detach().float().clamp(0, 1) * 255).round().to(torch.uint8)
    frames = frames.permute(0, 2, 3, 4, 1).cpu().numpy()  # (B, T, H, W, 3) for OpenCV
    flow = np.stack([i3d_flow_scale(optical_flow(c, method, **params), bound) for c in frames])
    return torch.from_numpy(flow).to(unit_rgb.device, unit_rgb.dtype)


def _check_stream(model: VideoModel, x: torch.Tensor, what: str) -> torch.Tensor:
    """The checks of :meth:`VideoModel.check_input` for a non-RGB tensor (flow): float, non-empty, finite, long enough."""
    if not x.is_floating_point():
        raise ShapeError(f"expected a floating-point {what} tensor, got dtype {x.dtype}")
    if x.shape[0] == 0:
        raise ShapeError(f"got an empty batch (0 clips) of shape {tuple(x.shape)}; pass at least one clip")
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"the {what} tensor holds NaN or inf values")
    if x.shape[2] < model.spec.min_frames:
        raise ShapeError(f"{model.name} needs at least {model.spec.min_frames} frames, got {x.shape[2]}")
    return x


# ------------------------------------------------------------------------------------------------------------
# a flow-only model
# ------------------------------------------------------------------------------------------------------------
class FlowModel(VideoModel):
    """A flow-stream network as a :class:`VideoModel`: it takes an RGB clip (the flow is computed from it) or a flow.

    ``net`` takes ``(B, 2, T, H, W)`` flow (``[dx, dy]`` scaled by :func:`clip_flow`). ``spec`` describes the RGB
    clip the flow is computed from (frames, crop, value range). :meth:`check_input` turns a 3-channel clip into
    its flow and checks a 2-channel one; ``forward`` also accepts either. :meth:`to_unit_rgb` of a flow is its
    colour coding (:func:`vidxai.io.flow.flow_to_rgb`), so overlays show the motion.

    Args:
        flow_method: ``"farneback"``, ``"dis"`` or ``"tvl1"`` (see :func:`vidxai.io.flow.optical_flow`).
        flow_bound: displacements clipped to this many pixels, then scaled to [-1, 1] (DeepMind: 20).
        flow_params: extra OpenCV parameters.
        *args, **kwargs: as :class:`VideoModel`.

    Example:
        >>> import vidxai
        >>> model = vidxai.models.load("i3d-flow", weights=None)
        >>> model.check_input(torch.rand(1, 3, 8, 32, 32)).shape   # RGB in, flow out
        torch.Size([1, 2, 8, 32, 32])
    """

    def __init__(self, *args, flow_method: str = "farneback", flow_bound: float = 20.0,
                 flow_params: dict | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        from ..io.flow import METHODS

        check_choice(flow_method, METHODS, hint="optical flow method")
        self.flow_method, self.flow_bound, self.flow_params = flow_method, float(flow_bound), dict(flow_params or {})

    def flow_of(self, x: torch.Tensor) -> torch.Tensor:
        """The scaled flow ``(B, 2, T, H, W)`` of a model-ready RGB clip ``(B, 3, T, H, W)``."""
        return clip_flow(VideoModel.to_unit_rgb(self, x), self.flow_method, self.flow_bound, **self.flow_params)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, torch.Tensor) and x.ndim in (4, 5) and x.shape[-4] == 2:
            return _check_stream(self, x if x.ndim == 5 else x.unsqueeze(0), "flow")
        return self.flow_of(super().check_input(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.flow_of(x) if x.shape[1] == 3 else x)

    def to_unit_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """RGB in [0, 1]: an RGB clip un-normalised, a flow colour-coded (hue = direction, brightness = speed)."""
        if x.shape[1] != 2:
            return super().to_unit_rgb(x)
        from ..io.flow import flow_to_rgb

        pictures = [torch.from_numpy(flow_to_rgb(f.detach().float().cpu().numpy())) for f in x]
        return torch.stack(pictures).permute(0, 4, 1, 2, 3).to(x.device, x.dtype) / 255.0

    def from_unit_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_unit_rgb` for RGB clips; a 2-channel tensor is a flow and is returned as is (a
        zero flow, the "black" baseline of integrated gradients, is no motion)."""
        return rgb if rgb.shape[1] == 2 else super().from_unit_rgb(rgb)


# ------------------------------------------------------------------------------------------------------------
# the two-stream model
# ------------------------------------------------------------------------------------------------------------
def fuse(rgb_logits: torch.Tensor, flow_logits: torch.Tensor, fusion: str = "logits-mean",
         rgb_weight: float = 0.5) -> torch.Tensor:
    """Late fusion of the streams' logits.

    ``"logits-mean"``: ``(a + b) / 2`` (DeepMind's two-stream I3D averages the streams); ``"logits-sum"``: ``a + b``;
    ``"late-weighted"``: ``rgb_weight * a + (1 - rgb_weight) * b``.

    Example:
        >>> fuse(torch.tensor([[2.0]]), torch.tensor([[4.0]]), "late-weighted", rgb_weight=0.25)
        tensor([[3.5000]])
    """
    if fusion == "logits-mean":
        return (rgb_logits + flow_logits) / 2
    if fusion == "logits-sum":
        return rgb_logits + flow_logits
    if fusion == "late-weighted":
        return rgb_weight * rgb_logits + (1 - rgb_weight) * flow_logits
    check_choice(fusion, FUSIONS, hint="two-stream fusion")
    raise AssertionError("unreachable")


class TwoStreamNet(nn.Module):
    """``streams.rgb`` and ``streams.flow`` (each returns logits) and their late fusion; takes ``[rgb, flow]``."""

    def __init__(self, rgb: nn.Module, flow: nn.Module, fusion: str = "logits-mean", rgb_weight: float = 0.5) -> None:
        super().__init__()
        check_choice(fusion, FUSIONS, hint="two-stream fusion")
        if not 0.0 <= float(rgb_weight) <= 1.0:
            raise InputError(f"rgb_weight must be in [0, 1], got {rgb_weight}")
        # A ModuleDict: layer paths read streams.rgb... / streams.flow..., which is how vidxai.models.candidates
        # tells the pathway of a layer (the default layers differ in that one component).
        self.streams = nn.ModuleDict({"rgb": rgb, "flow": flow})
        self.fusion, self.rgb_weight = fusion, float(rgb_weight)

    def forward(self, xs: Sequence[torch.Tensor]) -> torch.Tensor:
        rgb, flow = xs
        return fuse(self.streams["rgb"](rgb), self.streams["flow"](flow), self.fusion, self.rgb_weight)

    def extra_repr(self) -> str:
        return f"fusion={self.fusion!r}" + (f", rgb_weight={self.rgb_weight}" if self.fusion == "late-weighted" else "")


def _as_video_model(model: nn.Module, channels: int) -> VideoModel:
    if isinstance(model, VideoModel):
        return model
    from .wrap import wrap

    return wrap(model, spec=InputSpec(), name="flow" if channels == 2 else "rgb")


class TwoStream(VideoModel):
    """An RGB stream and a flow stream with late fusion, as one :class:`VideoModel` (see the module docstring).

    Args:
        rgb_model: the appearance stream, taking the model-ready RGB clip ``(B, 3, T, H, W)`` (a :class:`VideoModel`
            or an ``nn.Module``, wrapped with :func:`vidxai.wrap`). Its spec is the two-stream model's.
        flow_model: the motion stream, taking ``(B, 2, T, H, W)`` flow scaled by :func:`clip_flow` (e.g. a
            :class:`FlowModel` such as ``i3d-flow``, or an ``nn.Module``).
        fusion: ``"logits-mean"`` (default), ``"logits-sum"`` or ``"late-weighted"`` (see :func:`fuse`).
        rgb_weight: the RGB stream's weight for ``"late-weighted"``.
        class_names: default: ``rgb_model``'s.
        name, weights: as :class:`VideoModel`.
        flow_method, flow_bound, flow_params: how the flow is computed (see :class:`FlowModel`).

    Example:
        >>> import vidxai
        >>> model = vidxai.models.load("two-stream-tiny")
        >>> x = model.check_input(torch.rand(1, 3, 16, 64, 64))   # RGB clip -> [R, G, B, dx, dy]
        >>> x.shape, model(x).shape
        (torch.Size([1, 5, 16, 64, 64]), torch.Size([1, 2]))
        >>> model.target_layers
        ['streams.rgb.net.features.2', 'streams.flow.net.features.2']
    """

    def __init__(self, rgb_model: nn.Module, flow_model: nn.Module, fusion: str = "logits-mean",
                 rgb_weight: float = 0.5, class_names: Sequence[str] | None = None, name: str = "two-stream",
                 weights: str = "random", flow_method: str = "farneback", flow_bound: float = 20.0,
                 flow_params: dict | None = None) -> None:
        from ..io.flow import METHODS

        rgb_model, flow_model = _as_video_model(rgb_model, 3), _as_video_model(flow_model, 2)
        class_names = list(class_names or rgb_model.class_names)
        if flow_model.num_classes != len(class_names) or rgb_model.num_classes != len(class_names):
            raise InputError(f"the streams must have the same classes: RGB {rgb_model.num_classes}, flow "
                             f"{flow_model.num_classes}, class_names {len(class_names)}")
        check_choice(flow_method, METHODS, hint="optical flow method")
        min_frames = max(2, rgb_model.spec.min_frames, flow_model.spec.min_frames)  # flow needs two frames
        spec = dataclasses.replace(rgb_model.spec, pathways=2, slowfast_alpha=1, min_frames=min_frames)
        layers = [f"streams.rgb.net.{p}" for p in rgb_model.target_layers[:1]]
        layers += [f"streams.flow.net.{p}" for p in flow_model.target_layers[:1]]
        super().__init__(TwoStreamNet(rgb_model, flow_model, fusion, rgb_weight), spec, class_names, layers,
                         name=name, weights=weights)
        self.flow_method, self.flow_bound, self.flow_params = flow_method, float(flow_bound), dict(flow_params or {})
        #: what pathway 0 and 1 are (``vidxai layers`` and :func:`vidxai.models.candidate_layers` name them)
        self.pathway_names = ("rgb", "flow")
        #: channels of the clip the methods attribute, ``[R, G, B, dx, dy]`` (SWAG-V segments the RGB part)
        self.input_channels = 5

    @property
    def rgb_model(self) -> VideoModel:
        return self.net.streams["rgb"]

    @property
    def flow_model(self) -> VideoModel:
        return self.net.streams["flow"]

    def add_flow(self, x: torch.Tensor) -> torch.Tensor:
        """Model-ready RGB ``(B, 3, T, H, W)`` -> ``(B, 5, T, H, W)``: the clip and its scaled flow (no gradient)."""
        flow = clip_flow(self.to_unit_rgb(x), self.flow_method, self.flow_bound, **self.flow_params)
        return torch.cat([x, flow], dim=1)

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """An RGB clip ``(B, 3, T, H, W)`` gains its flow; a ``(B, 5, T, H, W)`` clip is checked and kept."""
        if isinstance(x, torch.Tensor) and x.ndim in (4, 5) and x.shape[-4] == 5:
            x = x if x.ndim == 5 else x.unsqueeze(0)
            super().check_input(x[:, :3])
            _check_stream(self, x[:, 3:], "flow")
            return x
        return self.add_flow(super().check_input(x))

    def pathways(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``[rgb (B, 3, T, H, W), flow (B, 2, T, H, W)]`` of a 5-channel clip (a 3-channel one gains its flow)."""
        if x.shape[1] == 3:
            x = self.add_flow(x)
        return [x[:, :3], x[:, 3:]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(self.pathways(x))

    def to_unit_rgb(self, x: torch.Tensor) -> torch.Tensor:
        """The RGB clip in [0, 1] ``(B, 3, T, H, W)`` (the flow channels of a 5-channel clip are left out)."""
        return super().to_unit_rgb(x[:, :3])

    def from_unit_rgb(self, rgb: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`to_unit_rgb`; of a 5-channel tensor only the RGB channels are mapped, the flow kept
        (``zeros_like(x)``, the "black" baseline of integrated gradients, becomes a black clip with no motion)."""
        if rgb.shape[1] == 5:
            return torch.cat([super().from_unit_rgb(rgb[:, :3]), rgb[:, 3:]], dim=1)
        return super().from_unit_rgb(rgb)


# ------------------------------------------------------------------------------------------------------------
# two-stream-tiny
# ------------------------------------------------------------------------------------------------------------
def _block(cin: int, cout: int, kernel, stride, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU())


class AppearanceNet(nn.Module):
    """Per-frame 2-D convolutions (temporal kernel 1), global average pooling, linear head.

    Every layer treats frames independently and the pooling averages them, so the logits do not change when
    the frames are shuffled: this stream cannot tell motion directions apart (a clip and its time reversal get
    the same logits), which the two-stream benchmark relies on. ``features.2`` is the CAM layer.
    """

    def __init__(self, num_classes: int, widths: Sequence[int] = TINY_WIDTHS, in_channels: int = 3) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.features = nn.Sequential(_block(in_channels, w1, (1, 4, 4), (1, 4, 4), 0),
                                      _block(w1, w2, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
                                      _block(w2, w3, (1, 3, 3), 1, (0, 1, 1)))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(w3, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


class MotionNet(AppearanceNet):
    """3-D convolutions over the flow ``(B, 2, T, H, W)``; same layout as :class:`AppearanceNet` otherwise."""

    def __init__(self, num_classes: int, widths: Sequence[int] = TINY_WIDTHS, in_channels: int = 2) -> None:
        super().__init__(num_classes, widths, in_channels)
        w1, w2, w3 = widths
        self.features = nn.Sequential(_block(in_channels, w1, (3, 4, 4), (1, 4, 4), (1, 0, 0)),
                                      _block(w1, w2, 3, (1, 2, 2), 1),
                                      _block(w2, w3, 3, (2, 1, 1), 1))


def build_two_stream_tiny_net(num_classes: int = len(STREAM_CLASS_NAMES)) -> TwoStream:
    """A freshly initialised ``two-stream-tiny`` (what ``tools/train_two_stream_tiny.py`` trains)."""
    rgb = VideoModel(AppearanceNet(num_classes), dataclasses.replace(TINY_SPEC, pathways=1), STREAM_CLASS_NAMES,
                     ["features.2"], name="two-stream-tiny-rgb")
    flow = FlowModel(MotionNet(num_classes), dataclasses.replace(TINY_SPEC, pathways=1), STREAM_CLASS_NAMES,
                     ["features.2"], name="two-stream-tiny-flow")
    return TwoStream(rgb, flow, fusion="logits-mean", name="two-stream-tiny")


def tiny_metadata() -> dict:
    """The training record of the shipped ``two-stream-tiny`` weights (``{}`` when absent)."""
    return json.loads(TINY_METADATA.read_text()) if TINY_METADATA.is_file() else {}


@register("two-stream-tiny", description="tiny two-stream net (RGB per-frame CNN + flow 3-D CNN, logits mean) "
          "trained on vidxai's synthetic motion-only / appearance-only clips (2 classes, 16x64x64); shipped weights",
          spec=TINY_SPEC, weight_source="shipped", family="two-stream")
def two_stream_tiny(weights: str | Path | None = "default") -> TwoStream:
    """``weights="default"`` (shipped, checked against its sha256), ``None`` (random init) or a checkpoint path."""
    from .checkpoint import check_sha256, load_into, read_state_dict

    model = build_two_stream_tiny_net()
    if weights is None or weights == "random":
        model.weights = "random"
    else:
        path = TINY_WEIGHTS if weights == "default" else Path(weights).expanduser()
        if weights == "default" and not path.is_file():
            raise MissingCheckpointError(f"the shipped weights of two-stream-tiny are missing ({path}); run "
                                         "tools/train_two_stream_tiny.py or re-install vidxai")
        if weights == "default":
            check_sha256(path, tiny_metadata().get("sha256"))
        load_into(model.net, read_state_dict(path), source=f"checkpoint {path}")
        model.weights = "default" if weights == "default" else f"file:{path}"
    return model.eval()


@register("i3d-two-stream", description="two-stream Inception-I3D: RGB I3D + flow I3D (OpenCV flow), logits mean",
          spec=dataclasses.replace(InputSpec(num_frames=64, crop=(224, 224), short_side=256, value_range=(-1.0, 1.0),
                                             min_frames=2), pathways=2, slowfast_alpha=1),
          weight_source="RGB: DeepMind Kinetics-400 (as i3d); flow: random unless flow_weights=<checkpoint> "
                        "(none ships offline)", family="i3d")
def build_i3d_two_stream(weights: object = "default", flow_weights: object = "default", fusion: str = "logits-mean",
                         num_classes: int = 400, class_names: Sequence[str] | None = None,
                         flow_method: str = "farneback", progress: bool = True) -> TwoStream:
    """RGB I3D (``weights=``, as the ``i3d`` entry) and flow I3D (``flow_weights=``, as ``i3d-flow``), fused late."""
    from .i3d import build_i3d, build_i3d_flow

    rgb = build_i3d(weights=weights, num_classes=num_classes, class_names=class_names, progress=progress)
    flow = build_i3d_flow(weights=flow_weights, num_classes=num_classes, class_names=class_names,
                          flow_method=flow_method)
    return TwoStream(rgb, flow, fusion=fusion, name="i3d-two-stream", flow_method=flow_method,
                     weights=f"rgb: {rgb.weights}; flow: {flow.weights}")


__all__ = ["TwoStream", "TwoStreamNet", "FlowModel", "fuse", "clip_flow", "FUSIONS", "AppearanceNet", "MotionNet",
           "STREAM_CLASS_NAMES", "TINY_SPEC", "build_two_stream_tiny_net", "two_stream_tiny", "build_i3d_two_stream",
           "tiny_metadata"]
