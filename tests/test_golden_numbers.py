"""Behaviour unchanged across refactors: every method's map and the demo's numbers equal recorded ones.

``tests/golden/methods.json`` holds, for every registered CNN method on the shared tiny 3-D CNN (seeded weights,
seeded clips, the contract test's small settings), summary numbers of its map; ``tests/golden/demo.json`` the
numbers ``vidxai demo`` writes to result.json. Both were recorded with the code before the attribution template
(``validate -> prepare -> compute``) replaced the methods' own ``attribute()``; a refactor that changes a number
fails here. A deliberate change of a method's output re-records them::

    .venv/bin/python tests/test_golden_numbers.py --write
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

GOLDEN = Path(__file__).parent / "golden"
TRANSFORMER_ONLY = {"attention-rollout", "transformer-attribution"}
#: small settings (the contract test's) so every method runs in well under a second
FAST = {"integrated-gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 3}, "rise": {"n_masks": 16},
        "lime": {"n_samples": 16, "n_segments": 8}, "kernelshap": {"n_samples": 16, "n_segments": 8},
        "extremal-perturbation": {"iterations": 3}, "occlusion": {"window": (2, 8, 8)},
        "feature-occlusion": {"n_segments": 8}, "swagv-i": {"n_segments": 8}, "swagv-g": {"n_segments": 8},
        "swagv-ig": {"n_segments": 8}}
#: voxels whose values are recorded (t, h, w)
PROBES = [(0, 0, 0), (3, 16, 16), (7, 31, 31), (5, 8, 24), (2, 20, 4)]


def _model():
    sys.path.insert(0, str(Path(__file__).parent))
    from conftest import TinyNet3D

    import vidxai

    torch.manual_seed(0)
    return vidxai.wrap(TinyNet3D().eval(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32),
                       num_classes=5)


def method_numbers() -> dict:
    """``{method: {sum, abs_sum, max, min, probes}}`` of each CNN method's maps for two seeded clips."""
    import vidxai

    model = _model()
    clips = torch.rand(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    out = {}
    for name in vidxai.methods.list():
        if name in TRANSFORMER_ONLY or not vidxai.methods.get(name).__module__.startswith("vidxai."):
            continue  # (methods other tests register are not vidxai's)
        sal = vidxai.methods.get(name)(model).attribute(clips, target=[1, 2], **FAST.get(name, {})).saliency
        sal = sal.detach().double()
        out[name] = {"sum": float(sal.sum()), "abs_sum": float(sal.abs().sum()), "max": float(sal.max()),
                     "min": float(sal.min()), "probes": [float(sal[b][p]) for b in range(2) for p in PROBES]}
    return out


def demo_numbers(out: Path) -> dict:
    """The numbers of ``vidxai demo``'s result.json (predictions, AUCs, on-actor shares), paths left out."""
    from vidxai.cli import main

    assert main(["demo", "--out", str(out), "--quiet", "--format", "png"]) == 0
    result = json.loads((out / "result.json").read_text())
    return _numbers(result)


def _numbers(value):
    if isinstance(value, dict):
        kept = {k: _numbers(v) for k, v in value.items()
                if not k.startswith(("seconds", "timing", "elapsed", "peak_rss")) and k not in ("created", "version")}
        return {k: v for k, v in kept.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def _close(actual, expected, path=""):
    if isinstance(expected, dict):
        assert set(actual) == set(expected), f"{path}: keys {sorted(set(actual) ^ set(expected))} differ"
        for k in expected:
            _close(actual[k], expected[k], f"{path}.{k}")
    elif isinstance(expected, list):
        assert len(actual) == len(expected), f"{path}: length {len(actual)} != {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            _close(a, e, f"{path}[{i}]")
    elif expected is not None:
        assert actual == pytest.approx(expected, rel=1e-5, abs=1e-6), f"{path}: {actual} != recorded {expected}"


def test_every_method_gives_the_recorded_numbers():
    _close(method_numbers(), json.loads((GOLDEN / "methods.json").read_text()), "methods")


def test_demo_gives_the_recorded_numbers(tmp_path):
    _close(demo_numbers(tmp_path / "demo"), json.loads((GOLDEN / "demo.json").read_text()), "demo")


if __name__ == "__main__" and "--write" in sys.argv:
    import tempfile

    GOLDEN.mkdir(exist_ok=True)
    (GOLDEN / "methods.json").write_text(json.dumps(method_numbers(), indent=1) + "\n")
    with tempfile.TemporaryDirectory() as tmp:
        (GOLDEN / "demo.json").write_text(json.dumps(demo_numbers(Path(tmp) / "demo"), indent=1) + "\n")
    print(f"wrote {GOLDEN / 'methods.json'} and {GOLDEN / 'demo.json'}")
