"""The schema of a ``vidxai run`` config: every key at every depth, its type and its range.

A key the runner does not read is an error, not a silent default: a misspelt ``evaluate: {deletion: {stepz: 4}}``
used to run the 28-step default (a "hang" for a config sized for 4 steps), a misspelt ``dataset: {num_clip: 2}``
ran all 16 clips. Every problem is one :class:`~vidxai.errors.ConfigError` line naming the key path (e.g.
``evaluate.deletion.stepz``) with a close-match suggestion.

The schema is a tree of small validators (functions ``(value, path) -> None`` that raise); mappings list their
keys, so the schema doubles as the list of what each section accepts. Only the structure, types and ranges are
checked here; names that need a registry (models, methods, method parameters) are checked by
:func:`vidxai.runner.config.parse_config`.

Example::

    validate({"model": "synthetic-tiny", "dataset": {"type": "synthetic"}, "methods": ["gradcam"],
              "batch_size": 0}, "cfg.yaml")
    # ConfigError: cfg.yaml: batch_size: must be an integer >= 1, got 0
"""
from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import ConfigError

Validator = Callable[[Any, str], None]

#: Options of each dataset ``type`` (the keyword arguments :func:`vidxai.runner.datasets.build_dataset` passes on).
DATASET_KEYS: dict[str, tuple[str, ...]] = {
    "synthetic": ("num_clips", "seed", "task", "num_frames", "size"),
    "ucf101_24": ("videos", "annotations", "split_list", "clip_len", "stride", "multi_actor", "limit"),
    "kinetics400": ("root", "csv", "split"),
    "ucf101": ("root", "split_file", "class_index"),
    "folder": ("root", "class_names"),
}


class SchemaError(ConfigError):
    """A config value breaks the schema; ``path`` is the offending key path (``evaluate.deletion.steps``)."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        super().__init__(f"{path or 'the config'}: {problem}")


def describe(value: Any) -> str:
    """``value`` as the message shows it, with its YAML type where the repr does not make it plain."""
    kind = {bool: "a boolean", str: "a string", list: "a list", dict: "a mapping", type(None): "empty"}.get(
        type(value), type(value).__name__)
    text = repr(value)
    text = text if len(text) <= 60 else text[:57] + "..."
    return f"{text} ({kind})" if isinstance(value, (str, bool, list, dict)) or value is None else text


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


# -- leaf validators ---------------------------------------------------------------------------------------------
def integer(minimum: int | None = None) -> Validator:
    """An int (not a bool, not a float such as 4.0: YAML says what it means) of at least ``minimum``."""
    def check(value: Any, path: str) -> None:
        rule = "an integer" + (f" >= {minimum}" if minimum is not None else "")
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(path, f"must be {rule}, got {describe(value)}")
        if minimum is not None and value < minimum:
            raise SchemaError(path, f"must be {rule}, got {value}")
    return check


def number(low: float, high: float, open_low: bool = False, open_high: bool = False) -> Validator:
    """A finite int or float in ``[low, high]`` (``open_*``: that end excluded)."""
    def check(value: Any, path: str) -> None:
        rule = f"a number in {'(' if open_low else '['}{low:g}, {high:g}{')' if open_high else ']'}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SchemaError(path, f"must be {rule}, got {describe(value)}")
        if value < low or value > high or (open_low and value == low) or (open_high and value == high):
            raise SchemaError(path, f"must be {rule}, got {value:g}")
    return check


def string(nonempty: bool = True) -> Validator:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, str) or (nonempty and not value.strip()):
            raise SchemaError(path, f"must be a {'non-empty ' if nonempty else ''}string, got {describe(value)}")
    return check


def boolean(value: Any, path: str) -> None:
    if not isinstance(value, bool):
        raise SchemaError(path, f"must be true or false, got {describe(value)}")


def choice(options: Sequence[str]) -> Validator:
    """One of ``options``, with a close-match suggestion."""
    def check(value: Any, path: str) -> None:
        if value not in options:
            raise SchemaError(path, f"must be one of {', '.join(options)}, got {describe(value)}{_suggest(value, options)}")
    return check


def either(*validators: Validator, expected: str) -> Validator:
    """Valid when one of ``validators`` accepts the value; otherwise says what was ``expected``."""
    def check(value: Any, path: str) -> None:
        for v in validators:
            try:
                v(value, path)
                return
            except SchemaError:
                continue
        raise SchemaError(path, f"must be {expected}, got {describe(value)}")
    return check


def device(value: Any, path: str) -> None:
    """``auto`` or a torch device name (whether CUDA is there is checked when the run starts)."""
    string()(value, path)
    if value == "auto":
        return
    import torch

    try:
        torch.device(value)
    except (RuntimeError, ValueError):
        raise SchemaError(path, f"must be auto, cpu, cuda or cuda:N, got {describe(value)}"
                                f"{_suggest(value, ('auto', 'cpu', 'cuda'))}") from None


def list_of(item: Validator, nonempty: bool = False) -> Validator:
    def check(value: Any, path: str) -> None:
        if not isinstance(value, list):
            raise SchemaError(path, f"must be a list, got {describe(value)}")
        if nonempty and not value:
            raise SchemaError(path, "must not be empty")
        for i, v in enumerate(value):
            item(v, f"{path}[{i}]")
    return check


# -- mappings ----------------------------------------------------------------------------------------------------
def _suggest(key: Any, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(key), [str(k) for k in known], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def check_keys(value: dict, known: Sequence[str], path: str, what: str = "", noun: str = "key") -> None:
    """Reject the keys of ``value`` that are not in ``known`` (the first one, with a suggestion and the list)."""
    for key in value:
        if key not in known:
            takes = f"{what or path or 'the config'} takes " + (", ".join(known) if known else "no options")
            raise SchemaError(_join(path, key), f"unknown {noun}{_suggest(key, known)} ({takes})")


def mapping(fields: dict[str, Validator], required: Sequence[str] = (), optional: bool = False,
            noun: str = "key") -> Validator:
    """A mapping whose keys are ``fields`` (each checked by its validator); ``optional``: null means empty;
    ``noun`` names an unknown key in the message (``unknown metric``)."""
    def check(value: Any, path: str) -> None:
        if value is None and optional:
            return
        if not isinstance(value, dict):
            raise SchemaError(path, f"must be a mapping (key: value), got {describe(value)}")
        check_keys(value, list(fields), path, noun=noun)
        for key in required:
            if key not in value:
                raise SchemaError(_join(path, key), "missing required key")
        for key, v in value.items():
            fields[key](v, _join(path, key))
    return check


def metric(fields: dict[str, Validator]) -> Validator:
    """An ``evaluate`` entry: options, or null / true (the defaults), or false (off)."""
    inner = mapping(fields)

    def check(value: Any, path: str) -> None:
        if value is None or isinstance(value, bool):
            return
        inner(value, path)
    return check


def _metrics() -> dict[str, Validator]:
    from ..metrics.deletion import BASELINES, MODES
    from .evaluate import SCHEMES

    # exactly the options evaluate_batch hands on: an option it ignored would be keyed but never applied
    return {
        "deletion": metric({"steps": integer(1), "baseline": choice(BASELINES), "mode": choice(MODES),
                            "chunk_size": either(integer(1), choice(("auto",)), expected="an integer >= 1 or auto")}),
        "localization": metric({"calibration_fraction": number(0, 1, open_low=True, open_high=True),
                                "schemes": list_of(choice(SCHEMES), nonempty=True), "largest_component": boolean,
                                "normalize": either(boolean, lambda v, p: None if v is None else boolean(v, p),
                                                    expected="true, false or null")}),
        "pointing": metric({"tolerance": either(number(0, math.inf, open_high=True), choice(("auto",)),
                                                expected="a number >= 0 or auto"),
                            "per": choice(("frame", "clip")), "ties": choice(("random", "plateau", "first"))}),
        "temporal": metric({}),
    }


def dataset(value: Any, path: str) -> None:
    """A dataset ``type`` with its own options, or your ``builder`` with any options."""
    if not isinstance(value, dict):
        raise SchemaError(path, f"must be a mapping with a 'type' (or a 'builder'), got {describe(value)}")
    if "builder" in value:
        string()(value["builder"], _join(path, "builder"))
        return
    if "type" not in value:
        check_keys(value, ("type", "builder", *sorted({k for ks in DATASET_KEYS.values() for k in ks})), path)
        raise SchemaError(_join(path, "type"), f"missing required key (one of {', '.join(DATASET_KEYS)}, or a "
                                                "'builder': 'module:function')")
    from .datasets import DATASETS

    choice(tuple(DATASETS.names()))(value["type"], _join(path, "type"))
    kind = value["type"]
    if kind not in DATASET_KEYS:  # a type registered by the user: its builder checks its own options
        return
    check_keys(value, ("type", *DATASET_KEYS[kind]), path, what=f"dataset type {kind}")
    ints = {"num_clips": 1, "seed": 0, "num_frames": 1, "size": 1, "clip_len": 1, "stride": 1, "limit": 1}
    for key, v in value.items():
        if key in ints and not (key == "limit" and v is None):
            integer(ints[key])(v, _join(path, key))
        elif key in ("videos", "annotations", "root", "csv", "split_file", "class_index"):
            string()(v, _join(path, key))


def model(value: Any, path: str) -> None:
    """A registry ``name`` (its options are checked against its builder later) or your own ``builder``."""
    if isinstance(value, str):
        string()(value, path)
        return
    if not isinstance(value, dict):
        raise SchemaError(path, f"must be a model name or a mapping with a 'name', got {describe(value)}")
    if "name" not in value and "builder" not in value:
        check_keys(value, ("name", "builder", "weights", "num_frames"), path)
        raise SchemaError(_join(path, "name"), "missing required key (or a 'builder': 'module:function')")
    for key in ("name", "builder"):
        if key in value:
            string()(value[key], _join(path, key))
    if "num_frames" in value:
        integer(1)(value["num_frames"], _join(path, "num_frames"))


def method(value: Any, path: str) -> None:
    if isinstance(value, str):
        string()(value, path)
        return
    mapping({"name": string(), "params": _params, "label": string(nonempty=False)}, required=("name",))(value, path)


def _params(value: Any, path: str) -> None:
    # the names are the method's own (checked against it by parse_config); here only the shape
    if value is not None and not isinstance(value, dict):
        raise SchemaError(path, f"must be a mapping of the method's parameters, got {describe(value)}")


def top_level() -> dict[str, Validator]:
    return {
        "name": string(), "output": string(), "seed": integer(0), "device": device, "model": model,
        "dataset": dataset, "batch_size": integer(1), "num_workers": integer(0),
        "methods": list_of(method, nonempty=True), "evaluate": mapping(_metrics(), optional=True, noun="metric"),
        "target": choice(("top1", "label")), "report": mapping({}, optional=True),
    }


def validate(raw: Any, source: str = "<dict>") -> None:
    """Check a whole config against the schema.

    Args:
        raw: the parsed YAML (after ``--set`` overrides and environment expansion).
        source: the config file, named at the start of the message.

    Raises:
        ConfigError: one line: ``<source>: <key path>: <problem>`` with a close match where there is one.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the config must be a mapping of keys (name:, model:, dataset:, methods:, ...), "
                          f"got {describe(raw)}")
    try:
        mapping(top_level(), required=("model", "dataset", "methods"))(raw, "")
    except SchemaError as e:
        raise ConfigError(f"{source}: {e}") from None


__all__ = ["DATASET_KEYS", "SchemaError", "validate", "check_keys"]
