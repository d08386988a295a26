"""``model: {name: ..., num_frames: N}`` sets the clip length, as ``--frames`` does for one video."""
from __future__ import annotations

import pytest

from vidxai import models
from vidxai.errors import ConfigError, InputError, UnknownModelError
from vidxai.runner import cache
from vidxai.runner.config import parse_config
from vidxai.runner.run import RunPaths, run

BASE = {"name": "frames", "device": "cpu", "seed": 0, "batch_size": 2, "methods": ["centre"],
        "dataset": {"type": "synthetic", "num_clips": 2, "seed": 100000, "size": 64}, "evaluate": {"temporal": {}}}


def test_config_num_frames_sets_the_explained_clip_length(tmp_path):
    assert models.entry("synthetic-tiny").spec.num_frames == 16
    cfg = parse_config({**BASE, "model": {"name": "synthetic-tiny", "num_frames": 8}, "output": str(tmp_path / "o")})
    report = run(cfg, progress=False)
    assert report["clips"] == 2 and report["model"]["num_frames"] == 8
    maps, _ = cache.read_shard(RunPaths.of(cfg).maps(cfg.methods[0]) / cache.shard_name(0))
    assert maps["saliency"].shape == (2, 8, 64, 64)
    # another clip length is another model key: both caches coexist
    other = parse_config({**BASE, "model": {"name": "synthetic-tiny"}, "output": str(tmp_path / "o")})
    assert other.model_key != cfg.model_key


def test_load_num_frames_and_its_errors():
    assert models.load("synthetic-tiny", weights=None, num_frames=12).spec.num_frames == 12
    assert models.load("synthetic-tiny", weights=None).spec.num_frames == 16
    with pytest.raises(InputError, match="at least 4 frames"):
        models.load("synthetic-tiny", weights=None, num_frames=2)
    with pytest.raises(InputError, match="whole number"):
        models.load("synthetic-tiny", weights=None, num_frames=8.5)


def test_unknown_model_keys_are_rejected_before_any_work(tmp_path):
    with pytest.raises(ConfigError, match=r"model 'synthetic-tiny' has no option\(s\) \['num_frame'\]; it takes "
                                          r".*num_frames"):
        parse_config({**BASE, "model": {"name": "synthetic-tiny", "num_frame": 8}})
    with pytest.raises(ConfigError, match=r"model 'i3d' has no option\(s\) \['frames'\]"):
        parse_config({**BASE, "model": {"name": "i3d", "frames": 16}})
    with pytest.raises(UnknownModelError, match="synthetic-tny"):
        parse_config({**BASE, "model": {"name": "synthetic-tny"}})
    # i3d's clip length is accepted without building it (no weights needed to parse)
    assert parse_config({**BASE, "model": {"name": "i3d", "num_frames": 16}}).model["num_frames"] == 16


def test_builder_models_get_num_frames_too(tmp_path, monkeypatch):
    from test_runner import TESTS

    monkeypatch.syspath_prepend(str(TESTS))
    cfg = parse_config({**BASE, "model": {"builder": "runner_toy:build", "num_classes": 6, "num_frames": 6},
                        "dataset": {"type": "synthetic", "num_clips": 2, "seed": 5, "size": 32},
                        "output": str(tmp_path / "o")})
    run(cfg, progress=False)
    maps, _ = cache.read_shard(RunPaths.of(cfg).maps(cfg.methods[0]) / cache.shard_name(0))
    assert maps["saliency"].shape == (2, 6, 32, 32)
