"""candidate_layers / `vidxai layers`: output shapes from one forward pass, default CAM layers marked, pathways of
multi-pathway models, frames-in-batch 2-D layers, and the offline fallback to random weights."""
from __future__ import annotations

import json

import pytest
from conftest import TinyNet3D, TwoPathwayNet

import vidxai
from vidxai.cli import main
from vidxai.errors import MissingCheckpointError
from vidxai.models import candidate_layers
from vidxai.models.candidates import load_offline, offline
from vidxai.models.per_frame import FrameNet, tiny_backbone


def test_wrapped_toy_net_layers_and_shapes():
    model = vidxai.wrap(TinyNet3D().eval(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32))
    layers = {layer.name: layer for layer in candidate_layers(model)}
    assert list(layers) == ["features", "features.0", "features.4"]  # convs and the block holding them
    assert layers["features.0"].shape == (1, 8, 8, 32, 32) and layers["features.0"].kind == "Conv3d"
    assert layers["features.4"].shape == (1, 16, 4, 16, 16) and layers["features.4"].default
    assert not layers["features"].default and layers["features"].pathway is None
    assert candidate_layers(model, max_depth=1)[0].name == "features" and len(candidate_layers(model, max_depth=1)) == 2


def test_frames_in_batch_layers_are_marked():
    model = vidxai.wrap(FrameNet(tiny_backbone(4), 4, 3).eval(), spec=vidxai.InputSpec(num_frames=5, crop=(16, 16)))
    layers = {layer.name: layer for layer in candidate_layers(model)}
    assert layers["backbone.2"].shape == (5, 4, 8, 8) and layers["backbone.2"].frames_in_batch
    assert layers["backbone.2"].default


def test_pathways_are_marked():
    spec = vidxai.InputSpec(num_frames=8, crop=(8, 8), pathways=2, slowfast_alpha=4)
    net = TwoPathwayNet(2, 2, slow_kernel=3, slow_pool=None, fast_pool=None)
    model = vidxai.wrap(net.eval(), spec=spec, num_classes=3, target_layers=["slow", "fast"])
    layers = {layer.name: layer for layer in candidate_layers(model)}
    assert layers["slow"].shape == (1, 2, 2, 8, 8) and layers["slow.0"].pathway == 0
    assert layers["fast"].shape == (1, 2, 8, 8, 8) and layers["fast.0"].pathway == 1
    assert layers["slow"].default and layers["fast"].default


def test_offline_blocks_downloads_and_load_falls_back(monkeypatch):
    import socket

    with offline(), pytest.raises(OSError, match="offline"):
        socket.create_connection(("127.0.0.1", 9))
    assert socket.create_connection.__name__ == "create_connection"  # restored
    model, note = load_offline("tsn-r18")
    assert note == "" and model.weights == "random"

    def missing(**kwargs):
        raise MissingCheckpointError("not here")

    entry = vidxai.models.entry("synthetic-tiny")
    monkeypatch.setattr(entry, "builder", lambda weights=None, **kw: missing() if weights == "default"
                        else vidxai.models.synthetic.synthetic_tiny(weights=weights))
    model, note = load_offline("synthetic-tiny")
    assert model.weights == "random" and "not available offline (MissingCheckpointError)" in note


def test_cli_table_and_json(capsys):
    assert main(["layers", "synthetic-tiny", "--depth", "2"]) == 0
    out = capsys.readouterr().out
    assert "synthetic-tiny (default weights)" in out
    assert any(line.startswith("*") and "features.3" in line and "1x96x4x7x7" in line for line in out.splitlines())
    assert main(["layers", "tsn-r18", "--weights", "none", "--frames", "2", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows["weights"] == "random" and rows["note"] == ""
    default = [r for r in rows["layers"] if r["default"]]
    assert [(r["name"], r["shape"], r["frames_in_batch"]) for r in default] == [("backbone.layer4", [2, 512, 7, 7], True)]
    assert main(["layers", "no-such-model"]) == 2
    assert "unknown model 'no-such-model'" in capsys.readouterr().err


def test_two_stream_layers_are_labelled_by_stream(capsys):
    """Two-stream models name their pathways: the table says rgb / flow, not SlowFast's slow / fast."""
    assert main(["layers", "two-stream-tiny"]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert any("streams.rgb." in r and "rgb (0)" in r for r in rows)
    assert any("streams.flow." in r and "flow (1)" in r for r in rows)
    assert not any("slow (" in r or "fast (" in r for r in rows)
