"""The small shipped models trained on the synthetic action clips (:mod:`vidxai.data.synthetic`).

``synthetic-tiny``: classifies the actor's motion (6 classes, :data:`vidxai.data.synthetic.CLASS_NAMES`).
``synthetic-tiny-background``: the same network trained on the same kind of clips to classify the
background texture (:data:`vidxai.data.synthetic.BACKGROUND_NAMES`); its evidence is the background, not
the actor, which is what the model contrast score (BAM/MCS) needs.

Both are :class:`SyntheticNet3D`: four conv3d-BN-ReLU blocks (plain, not in-place ``nn.ReLU`` so guided
backprop can hook them), global average pooling and one linear layer (so CAM/Saliency Tubes apply);
the default CAM layer is the last block, ``features.3``. Input: 16x112x112 RGB in [0, 1], mean 0, std 1.
The trained weights ship in ``vidxai/models/weights/`` with their SHA-256 and training record in
``synthetic.json`` (written by ``tools/train_synthetic.py``).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from torch import nn

from ..errors import CorruptCheckpointError, MissingCheckpointError
from . import register
from .base import InputSpec, VideoModel

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
METADATA_FILE = WEIGHTS_DIR / "synthetic.json"
WEIGHT_FILES = {"synthetic-tiny": "synthetic_tiny.pt", "synthetic-tiny-background": "synthetic_tiny_background.pt"}

SPEC = InputSpec(num_frames=16, crop=(112, 112), short_side=112, min_frames=4)
TARGET_LAYERS = ["features.3"]

CLASS_NAMES: tuple[str, ...] = (
    "moving right",
    "moving left",
    "moving up",
    "moving down",
    "rotating clockwise",
    "rotating anticlockwise",
)
"""Action classes of the synthetic clips (:mod:`vidxai.data.synthetic`): how the actor moves during the action
interval (screen directions, y down)."""
BACKGROUND_NAMES: tuple[str, ...] = ("horizontal stripes", "vertical stripes", "checkerboard", "blotches")
"""Background texture classes of the synthetic clips (the label of the ``"background"`` task)."""
WIDTHS = (16, 32, 64, 96)


def _block(cin: int, cout: int, kernel, stride, padding) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
                         nn.BatchNorm3d(cout), nn.ReLU())


class SyntheticNet3D(nn.Module):
    """A ~240k-parameter 3-D CNN: 4 conv3d-BN-ReLU blocks, global average pooling, linear head.

    The stem cuts 4x4-pixel patches (stride 4, 3 frames deep) so the net stays cheap on 2 CPU cores at
    16x112x112; then 3x3x3 blocks: 16x28x28 -> 16x14x14 -> 8x7x7 -> 4x7x7 (the CAM layer ``features.3``).
    """

    def __init__(self, num_classes: int, widths: tuple[int, int, int, int] = WIDTHS) -> None:
        super().__init__()
        w1, w2, w3, w4 = widths
        self.features = nn.Sequential(
            _block(3, w1, (3, 4, 4), (1, 4, 4), (1, 0, 0)),
            _block(w1, w2, 3, (1, 2, 2), 1),
            _block(w2, w3, 3, (2, 2, 2), 1),
            _block(w3, w4, 3, (2, 1, 1), 1),
        )
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(w4, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def metadata() -> dict:
    """The training record of the shipped weights (``{}`` when the json is absent)."""
    if not METADATA_FILE.is_file():
        return {}
    return json.loads(METADATA_FILE.read_text())


def load_state_dict_into(net: nn.Module, path: str | Path, sha256: str | None = None) -> None:
    """Load a checkpoint file into ``net`` with one-line errors.

    Accepts a bare ``state_dict`` or a dict with a ``"state_dict"``/``"model"`` entry (as saved by
    ``tools/train_synthetic.py``). Raises :class:`MissingCheckpointError` when the file does not exist and
    :class:`CorruptCheckpointError` when it fails ``sha256``, cannot be unpickled, or does not fit ``net``.
    """
    from .checkpoint import load_into, read_state_dict

    path = Path(path).expanduser()
    if path.is_file() and sha256 is not None:
        actual = sha256_file(path)
        if actual != sha256:
            raise CorruptCheckpointError(f"checkpoint {path} fails its checksum (sha256 {actual[:12]}..., "
                                         f"expected {sha256[:12]}...); re-install vidxai or retrain with "
                                         f"tools/train_synthetic.py")
    # the shared reader and loader: missing, directory, empty, unreadable, wrong keys or shapes, NaN/inf weights
    load_into(net, read_state_dict(path), source=f"checkpoint {path}")


def _build(name: str, class_names, weights) -> VideoModel:
    net = SyntheticNet3D(len(class_names))
    if weights is None or weights == "random":
        source = "random"
    elif weights == "default":
        record = metadata().get("models", {}).get(name, {})
        path = WEIGHTS_DIR / WEIGHT_FILES[name]
        if not path.is_file():
            raise MissingCheckpointError(f"the shipped weights of {name} are missing ({path}); "
                                         f"run tools/train_synthetic.py or re-install vidxai")
        load_state_dict_into(net, path, sha256=record.get("sha256"))
        source = "default"
    else:
        load_state_dict_into(net, weights)
        source = str(weights)
    net.eval()
    return VideoModel(net, SPEC, class_names, TARGET_LAYERS, name=name, weights=source)


@register("synthetic-tiny", description="tiny 3D CNN (~240k params) trained on vidxai's synthetic action clips "
          "(6 motion classes, 16x112x112); shipped weights", spec=SPEC, weight_source="shipped", family="synthetic")
def synthetic_tiny(weights: str | Path | None = "default") -> VideoModel:
    """The action model: ``weights="default"`` (shipped), ``None`` (random init) or a checkpoint path."""
    return _build("synthetic-tiny", CLASS_NAMES, weights)


@register("synthetic-tiny-background", description="same tiny 3D CNN trained on the synthetic clips' background "
          "texture (4 classes); the contrast model for BAM/MCS", spec=SPEC, weight_source="shipped",
          family="synthetic")
def synthetic_tiny_background(weights: str | Path | None = "default") -> VideoModel:
    """The background-texture model: ``weights="default"`` (shipped), ``None`` (random) or a checkpoint path."""
    return _build("synthetic-tiny-background", BACKGROUND_NAMES, weights)
