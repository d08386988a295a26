"""Experiment configuration (YAML) for ``vidxai run``.

Example (see ``configs/``)::

    name: ci-synthetic
    output: runs/ci-synthetic          # relative paths are relative to the current directory
    seed: 0
    device: auto                       # auto | cpu | cuda | cuda:1
    model: {name: synthetic-tiny, weights: default, num_frames: 16}   # num_frames: optional clip length
    dataset: {type: synthetic, num_clips: 16, seed: 1000}
    batch_size: 4
    num_workers: 0
    methods:
      - gradcam
      - {name: swagv-ig, params: {n_segments: 120}}
    evaluate:
      deletion: {steps: 28, chunk_size: 16}
      localization: {calibration_fraction: 0.25}
      pointing: {}
      temporal: {}
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, VidxaiError
from .schema import validate

#: Metric options that never change a cached value: ``chunk_size`` only sets how many clips go through the model
#: at once, ``calibration_fraction`` is applied by the report to the cached per-clip IoUs. They are left out of
#: the cache keys, so changing them reuses the cache; every other option is part of its metric's key.
NOT_IN_KEY = {"deletion": ("chunk_size",), "localization": ("calibration_fraction",)}


@dataclass
class MethodSpec:
    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""  # how the method is shown in tables (defaults to the name)

    @property
    def key(self) -> str:
        """Cache key: the method name plus a short hash of its parameters."""
        return f"{self.name}-{param_hash(self.params)}"

    @property
    def title(self) -> str:
        return self.label or self.name


@dataclass
class RunConfig:
    name: str
    output: Path
    model: dict[str, Any]
    dataset: dict[str, Any]
    methods: list[MethodSpec]
    evaluate: dict[str, dict[str, Any]] = field(default_factory=dict)
    seed: int = 0
    device: str = "auto"
    batch_size: int = 4
    num_workers: int = 0
    report: dict[str, Any] = field(default_factory=dict)
    target: str = "top1"  # top1 (the model's prediction) | label (the dataset's label)
    source: str = ""

    @property
    def model_key(self) -> str:
        return f"{self.model['name']}-{param_hash(self.model)}"

    @property
    def dataset_key(self) -> str:
        return f"{self.dataset.get('type', 'custom')}-{param_hash(self.dataset)}"


def explain_key(method: MethodSpec, target: str, seed: int) -> str:
    """Cache key of a method's maps within a dataset and model: every setting that changes them.

    The parameters, the explained class (``target``) and the seed (batch ``k`` is explained after seeding the
    global generators with ``seed + k``, which methods may draw from) all change the maps.
    """
    return f"{method.name}-{param_hash({'params': method.params, 'target': target, 'seed': int(seed)})}"


def metric_key(metric: str, options: dict[str, Any]) -> str:
    """Cache key of one metric's per-clip results of one method's maps: its options, less :data:`NOT_IN_KEY`."""
    kept = {k: v for k, v in options.items() if k not in NOT_IN_KEY.get(metric, ())}
    return f"{metric}-{param_hash(kept)}"


def param_hash(params: dict[str, Any]) -> str:
    """A short stable hash of a JSON-able parameter dict (key order does not matter)."""
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:10]


def check_model_options(model: dict[str, Any], source: str = "<dict>") -> None:
    """Reject options a registry model's builder does not take (before any work, as one line).

    ``num_frames`` is always allowed: :func:`vidxai.models.load` sets the clip length with it. A ``builder``
    of your own receives the options as they are.
    """
    if "builder" in model:
        return
    import inspect

    from .. import models

    builder = models.entry(model["name"]).builder  # an unknown name fails here, with suggestions
    params = inspect.signature(builder).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = {"name", "weights", "num_frames"} | set(params)
    unknown = sorted(set(model) - known)
    if unknown:
        raise ConfigError(f"{source}: model {model['name']!r} has no option(s) {unknown}; "
                          f"it takes {', '.join(sorted(known - {'name'}))}")


def check_method_params(method: MethodSpec, where: str) -> None:
    """Reject parameters ``method`` does not take, before any work (as a :class:`ConfigError` naming ``where``).

    Every :class:`~vidxai.attribution.base.Attribution` resolves its settings without running (``resolve_params``:
    its ``compute()`` signature, its forwarded parameters and presets), with close matches for typos.
    """
    from .. import methods as registry

    cls = registry.get(method.name)
    if not hasattr(cls, "resolve_params"):  # a duck-typed method of a user's: it checks its parameters itself
        return
    try:
        cls.resolve_params(**method.params)
    except VidxaiError as e:
        raise ConfigError(f"{where}: {e}") from None


def load_config(path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Read and validate a YAML config; ``overrides`` replace keys (e.g. from the CLI's ``--set``): a top-level
    key, or a dotted path into nested mappings (``dataset.num_clips``, ``evaluate.deletion.steps``)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path} is not valid YAML: {str(e).splitlines()[0]}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the config {path}: {e}") from None
    if not isinstance(raw, dict):  # a YAML list or scalar: there is nothing to override or expand
        validate(raw, str(path))
    for key, value in (overrides or {}).items():
        _set_path(raw, key, value, str(path))
    return parse_config(expand_env(raw, str(path)), source=str(path))


def _set_path(raw: dict[str, Any], key: str, value: Any, source: str) -> None:
    """``raw[a][b][c] = value`` for ``key = "a.b.c"``; missing mappings on the way are created (the schema then
    names an unknown key); a non-mapping on the way is a ConfigError naming the path."""
    *parents, last = key.split(".")
    node = raw
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            where = ".".join(parents[:i + 1])
            raise ConfigError(f"{source}: --set {key}: {where} is a {type(child).__name__}, not a mapping")
        node = child
    node[last] = value


def expand_env(value: Any, source: str = "<dict>", where: str = "") -> Any:
    """Expand ``$VAR``/``${VAR}`` and ``~`` in every string of a config; an unset variable is an error."""
    import re

    if isinstance(value, dict):
        return {k: expand_env(v, source, f"{where}.{k}" if where else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, source, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, str) and ("$" in value or value.startswith("~")):
        out = os.path.expanduser(os.path.expandvars(value))
        missing = re.findall(r"\$\{?(\w+)", out)
        if missing:
            raise ConfigError(f"{source}: {where} uses the environment variable {missing[0]}, which is not set")
        return out
    return value


def parse_config(raw: dict[str, Any], source: str = "<dict>") -> RunConfig:
    """Validate a config dict (see the module docstring) against the schema (:mod:`.schema`: unknown keys at any
    depth, types, ranges) and the registries (models and their options, methods and their parameters).

    Raises:
        ConfigError: one line naming the source and the offending key path (or an :class:`UnknownNameError`
            for an unknown model or method name, with suggestions).
    """
    validate(raw, source)
    model = raw["model"] if isinstance(raw["model"], dict) else {"name": raw["model"]}
    if "name" not in model and "builder" not in model:
        raise ConfigError(f"{source}: model needs a 'name' (or a 'builder': 'module:function')")
    model.setdefault("name", str(model.get("builder", "")).rpartition(":")[2])
    check_model_options(model, source)
    dataset = raw["dataset"]
    if not isinstance(dataset, dict) or not ("type" in dataset or "builder" in dataset):
        raise ConfigError(f"{source}: dataset must be a mapping with a 'type' (or a 'builder': 'module:function')")
    methods = []
    for m in raw["methods"] or []:
        if isinstance(m, str):
            methods.append(MethodSpec(m))
        elif isinstance(m, dict) and "name" in m:
            methods.append(MethodSpec(m["name"], dict(m.get("params") or {}), m.get("label", "")))
        else:
            raise ConfigError(f"{source}: each method is a name or a mapping with a 'name', got {m!r}")
    if not methods:
        raise ConfigError(f"{source}: no methods to run")
    from .. import methods as registry

    for i, m in enumerate(methods):
        registry.get(m.name)  # unknown names fail now, with suggestions, not after an hour of work
        check_method_params(m, f"{source}: methods[{i}].params")
    evaluate = raw.get("evaluate") or {}
    evaluate = {k: (v if isinstance(v, dict) else {}) for k, v in evaluate.items() if v is not False}
    target = str(raw.get("target", "top1"))
    name = str(raw.get("name") or Path(source).stem)
    return RunConfig(name=name, output=Path(raw.get("output") or f"runs/{name}"), model=model, dataset=dataset,
                     methods=methods, evaluate=evaluate, seed=int(raw.get("seed", 0)),
                     device=str(raw.get("device", "auto")), batch_size=int(raw.get("batch_size", 4)),
                     num_workers=int(raw.get("num_workers", 0)), target=target,
                     report=dict(raw.get("report") or {}), source=source)
