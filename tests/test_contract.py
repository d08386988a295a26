"""The contract every registered method keeps, generated from ``vidxai.methods.list()``: a new method is tested
the moment it registers.

For each method on the shared tiny 3-D CNN (``conftest.TinyNet3D``; transformer-only methods on
``videomae-tiny``): output shape, dtype and device; finite values; no parameter ``.grad`` written; hooks
removed and train/eval flags and ``requires_grad`` restored, also after an exception raised inside the model;
unknown parameters rejected with a one-line error; a batch of two equals two singles; a seed reproduces the
map; the signature prints cleanly and the class and ``attribute()`` are documented.
"""
from __future__ import annotations

import inspect

import pytest
import torch
from conftest import TinyNet3D

import vidxai
from vidxai.errors import InputError, VidxaiError

#: small settings so every method runs in well under a second on the tiny model
FAST = {"integrated-gradients": {"n_steps": 4}, "smoothgrad": {"n_samples": 3}, "rise": {"n_masks": 16},
        "lime": {"n_samples": 16, "n_segments": 8}, "kernelshap": {"n_samples": 16, "n_segments": 8},
        "extremal-perturbation": {"iterations": 3}, "occlusion": {"window": (2, 8, 8)},
        "feature-occlusion": {"n_segments": 8}, "jitter-cam": {"n_jitters": 2},
        "swagv-i": {"n_segments": 8}, "swagv-g": {"n_segments": 8}, "swagv-ig": {"n_segments": 8}}
TRANSFORMER_ONLY = {"attention-rollout", "transformer-attribution"}
METHODS = vidxai.methods.list()


def _params(method: str) -> dict:
    """FAST settings the method really takes (names differ across versions: keep only accepted ones)."""
    from vidxai.attribution.base import method_parameters

    accepted = set(method_parameters(method))
    return {k: v for k, v in FAST.get(method, {}).items() if k in accepted}


@pytest.fixture(scope="module")
def cnn():
    torch.manual_seed(0)
    return vidxai.wrap(TinyNet3D().eval(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32),
                       num_classes=5)


@pytest.fixture(scope="module")
def transformer():
    pytest.importorskip("transformers", reason="transformer-only methods need the 'transformers' extra")
    torch.manual_seed(0)
    return vidxai.models.load("videomae-tiny", weights=None)


def _model_and_clip(method: str, request) -> tuple:
    model = request.getfixturevalue("transformer" if method in TRANSFORMER_ONLY else "cnn")
    n = model.spec.num_frames
    h, w = model.spec.crop
    clips = torch.rand(2, 3, n, h, w, generator=torch.Generator().manual_seed(1))
    return model, clips


def _attribute(model, method: str, clips: torch.Tensor, target, **extra):
    cls = vidxai.methods.get(method)
    return cls(model).attribute(clips, target=target, **{**_params(method), **extra})


def _hooks(model: torch.nn.Module) -> int:
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(len(getattr(m, n, {}) or {}) for m in model.modules() for n in names)


def _state(model: torch.nn.Module) -> tuple:
    return (tuple(m.training for m in model.modules()), tuple(p.requires_grad for p in model.parameters()))


@pytest.mark.parametrize("method", METHODS)
def test_output_shape_dtype_device_and_no_side_effects(method, request):
    model, clips = _model_and_clip(method, request)
    before_state, before_hooks = _state(model), _hooks(model)
    for p in model.parameters():
        p.grad = None
    res = _attribute(model, method, clips, [1, 2])
    b, _, t, h, w = clips.shape
    assert tuple(res.saliency.shape) == (b, t, h, w), method
    assert res.saliency.dtype == torch.float32 and res.saliency.device == clips.device
    assert torch.isfinite(res.saliency).all()
    assert all(p.grad is None for p in model.parameters()), f"{method} wrote parameter gradients"
    assert _hooks(model) == before_hooks and _state(model) == before_state


@pytest.mark.parametrize("method", METHODS)
def test_state_and_hooks_restored_after_an_exception(method, request):
    """An error raised inside the model's forward (after the method set up its hooks) leaves nothing behind."""
    model, clips = _model_and_clip(method, request)
    before_state, before_hooks = _state(model), _hooks(model)
    first = next(m for m in model.modules() if isinstance(m, (torch.nn.Conv3d, torch.nn.Linear)))

    def boom(module, args):
        raise RuntimeError("injected failure")

    handle = first.register_forward_pre_hook(boom)
    try:
        with pytest.raises((RuntimeError, VidxaiError)):
            _attribute(model, method, clips, [1, 2])
    finally:
        handle.remove()
    assert _hooks(model) == before_hooks and _state(model) == before_state


@pytest.mark.parametrize("method", METHODS)
def test_unknown_parameter_is_a_one_line_error(method, request):
    model, clips = _model_and_clip(method, request)
    with pytest.raises(InputError) as info:
        _attribute(model, method, clips[:1], 1, no_such_parameter=3)
    assert "no_such_parameter" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("method", METHODS)
def test_a_batch_of_two_equals_two_singles(method, request):
    model, clips = _model_and_clip(method, request)
    seeded = {"seed": 0} if vidxai.methods.get(method).capabilities()["stochastic"] else {}
    both = _attribute(model, method, clips, [1, 2], **seeded).saliency
    one = _attribute(model, method, clips[:1], [1], **seeded).saliency
    two = _attribute(model, method, clips[1:], [2], **seeded).saliency
    # batched least squares (LIME, KernelSHAP) differ from single ones in the last float bits: tolerance
    # relative to the map's scale
    scale = float(both.abs().max()) or 1.0
    torch.testing.assert_close(both, torch.cat([one, two]), rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.parametrize("method", METHODS)
def test_signature_and_docstrings(method):
    cls = vidxai.methods.get(method)
    sig = str(inspect.signature(cls.compute))
    assert "object at 0x" not in sig, f"{method}: a sentinel leaks into the signature: {sig}"
    assert inspect.getdoc(cls), f"{method}: the class has no docstring"
    assert "Example" in inspect.getdoc(cls), f"{method}: the class docstring has no example"
    assert "Example" in inspect.getdoc(cls.attribute), "attribute() has no example"
    assert vidxai.methods.describe(method), f"{method}: no one-line description"


@pytest.mark.parametrize("method", METHODS)
def test_every_method_uses_the_template(method):
    """A method writes ``compute`` only: ``attribute`` (validate -> prepare -> compute -> finish) is the base
    class's, so no method repeats the parameter check, the input preparation or the model-state guard."""
    from vidxai.attribution.base import Attribution

    cls = vidxai.methods.get(method)
    assert cls.attribute is Attribution.attribute, f"{method} overrides attribute(); implement compute()"
    assert cls.compute is not Attribution.compute, f"{method} has no compute()"


def test_no_method_module_repeats_the_template_steps():
    import pathlib

    root = pathlib.Path(vidxai.__file__).parent / "attribution"
    for path in sorted(root.glob("*.py")):
        if path.name == "base.py":
            continue
        text = path.read_text()
        for step in ("check_params(", "self.prepare(", "def attribute(", "def _attribute("):
            assert step not in text, f"{path.name} repeats a template step: {step}"


@pytest.mark.parametrize("method", [m for m in METHODS if m not in TRANSFORMER_ONLY
                                    and (vidxai.methods.get(m).choices or vidxai.methods.get(m).positive_ints)])
def test_bad_choices_fail_before_any_forward_pass(method, request):
    """Declared choices and positive integers are checked by the template before the model runs."""
    cls = vidxai.methods.get(method)
    bad = {k: "no-such-choice" for k in cls.choices}
    bad.update({k: 0 for k in cls.positive_ints})
    model, clips = _model_and_clip(method, request)
    calls = []
    handle = model.register_forward_pre_hook(lambda *a: calls.append(1))
    try:
        for key, value in bad.items():
            with pytest.raises(InputError, match=key):
                cls(model).attribute(clips[:1], **{key: value})
    finally:
        handle.remove()
    assert not calls, f"{method}: the model ran before its parameters were checked"


def test_a_method_written_on_the_template():
    """The base class docstring's example: a new method is a compute() and declarative checks."""
    from vidxai.attribution.base import REDUCTIONS, Attribution, AttributionResult, input_gradient, reduce_channels
    from vidxai.errors import ShapeError

    class GradientSquared(Attribution):
        name = "gradient-squared-test"
        choices = {"reduction": REDUCTIONS}

        def compute(self, x, target, logits, reduction: str = "max_abs", broken: bool = False):
            grad = input_gradient(self.model, x, target)
            sal = reduce_channels(grad * grad, reduction)
            return AttributionResult(sal[:, :1] if broken else sal)

    torch.manual_seed(0)
    model = vidxai.wrap(TinyNet3D().eval(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32), short_side=32),
                        num_classes=5)
    clips = torch.rand(2, 3, 8, 32, 32)
    res = GradientSquared(model).attribute(clips)  # top-1 targets: prepare's logits are handed on
    assert res.saliency.shape == (2, 8, 32, 32) and res.logits.shape == (2, 5)
    assert GradientSquared.capabilities()["parameters"] == ["reduction", "broken"]
    with pytest.raises(InputError, match="reductio"):
        GradientSquared(model).attribute(clips, reductio="l2")
    with pytest.raises(ShapeError, match="gradient-squared-test"):
        GradientSquared(model).attribute(clips, target=1, broken=True)


@pytest.mark.parametrize("method", METHODS)
def test_capabilities_are_declared_and_consistent(method):
    """Capabilities live on the class (captum style): the benchmark, the pipeline and `vidxai methods` read them."""
    cls = vidxai.methods.get(method)
    caps = cls.capabilities()
    assert caps["family"] and caps["output"] in ("pixel", "layer", "segment", "map")
    params = inspect.signature(cls.compute).parameters
    assert caps["stochastic"] == ("seed" in caps["parameters"]) and caps["takes_layer"] == ("layer" in caps["parameters"])
    named = [p for p, v in params.items() if v.kind is not v.VAR_KEYWORD and p not in ("self", "x", "target", "logits")]
    assert set(named) | set(cls.forwarded_params) == set(caps["parameters"]) - {"preset"}
    assert ("preset" in caps["parameters"]) == bool(cls.presets)


def test_benchmark_defaults_follow_the_declared_capabilities():
    from vidxai.runner.benchmark import default_methods

    chosen = default_methods()
    assert "lime" not in chosen and "attention-rollout" not in chosen and "gradcam" in chosen
    assert all(not vidxai.methods.get(m).slow and vidxai.methods.get(m).requires is None for m in chosen)


def test_metric_directions_are_declared_once_on_the_metrics():
    """The benchmark's ranking directions come from the metric classes (vidxai.metrics.REGISTRY), and every
    metric a run config can name is registered."""
    from vidxai import metrics
    from vidxai.runner.benchmark import RANKED, REPORTED

    for key, _, higher in RANKED + REPORTED:
        if key in metrics.RESULT_KEYS:
            assert higher == metrics.higher_is_better(key), key
    assert metrics.higher_is_better("deletion_auc") is False and metrics.higher_is_better("insertion_auc") is True
    assert metrics.higher_is_better("pointing.pointing_game") is True
    for name, acc in metrics.REGISTRY.items():
        assert acc.name in acc.directions, name  # the primary score has a direction
        assert acc.higher_is_better == acc.directions[acc.name], name
    from vidxai.runner.config import parse_config

    for name in ("deletion", "localization", "pointing", "temporal"):
        assert name in metrics.REGISTRY
    parse_config({"name": "x", "model": {"name": "synthetic-tiny"}, "dataset": {"type": "synthetic", "num_clips": 2},
                  "methods": ["centre"], "evaluate": {k: {} for k in ("deletion", "localization", "pointing",
                                                                          "temporal")}})


def test_dataset_types_come_from_a_registry():
    from vidxai.errors import ConfigError
    from vidxai.runner.datasets import DATASETS, build_dataset

    assert {"synthetic", "ucf101_24", "kinetics400", "ucf101", "folder"} <= set(DATASETS.names())
    with pytest.raises(ConfigError, match="unknown dataset type 'kinetcs400'; did you mean 'kinetics400'"):
        build_dataset({"type": "kinetcs400"}, None)
    DATASETS.register("contract-test", lambda opts, spec, names: ("built", opts))
    try:
        assert build_dataset({"type": "contract-test", "n": 2}, None) == ("built", {"n": 2})
    finally:
        DATASETS._items.pop("contract-test")


def test_a_registered_dataset_type_passes_the_config_schema():
    from vidxai.runner.config import parse_config
    from vidxai.runner.datasets import DATASETS

    DATASETS.register("contract-schema", lambda opts, spec, names: None)
    try:
        cfg = parse_config({"name": "x", "model": {"name": "synthetic-tiny"}, "methods": ["centre"],
                            "dataset": {"type": "contract-schema", "anything": 1}})
        assert cfg.dataset["type"] == "contract-schema"
    finally:
        DATASETS._items.pop("contract-schema")


def test_the_public_api_is_documented_with_examples():
    """Every function and class ``import vidxai`` exports (errors aside) has a docstring with an example."""
    import vidxai.errors as errors_mod

    missing = []
    for name in vidxai.__all__:
        obj = getattr(vidxai, name)
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and not (inspect.isclass(obj) and issubclass(
                obj, errors_mod.VidxaiError)):
            doc = inspect.getdoc(obj) or ""
            if "Example" not in doc and ">>>" not in doc:
                missing.append(name)
    assert not missing, f"no docstring example: {missing}"


@pytest.mark.parametrize("method", METHODS)
def test_the_method_reference_comes_from_the_class(method):
    """``vidxai.methods.reference`` (and ``vidxai methods NAME``) lists exactly the parameters the template
    accepts, with the signature's defaults."""
    from vidxai.attribution.base import parameter_defaults

    ref = vidxai.methods.reference(method)
    cls = vidxai.methods.get(method)
    assert list(ref["parameters"]) == list(parameter_defaults(cls)) == cls.capabilities()["parameters"]
    assert ref["doc"] == inspect.getdoc(cls) and ref["description"] == vidxai.methods.describe(method)
    for name, default in parameter_defaults(cls).items():
        if default is not inspect.Parameter.empty:
            assert ref["parameters"][name] == repr(default)


def test_methods_command_shows_one_method(capsys):
    from vidxai.cli import main

    assert main(["methods", "smoothgrad"]) == 0
    out = capsys.readouterr().out
    assert "n_samples" in out and "preset 'paper': n_samples=50" in out and "Smilkov" in out
    assert main(["methods", "smothgrad"]) == 2
    assert "did you mean 'smoothgrad'" in capsys.readouterr().err
