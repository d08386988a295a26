"""The record of one explain run: :class:`ExplainResult` and its nested records, the ``result.json`` schema.

:func:`vidxai.pipeline.explain_video` fills it and :mod:`vidxai.render.report` reads it; it lives here, below
both, so neither imports the other for it. Its JSON form is schema ``vidxai.explain/1`` (keys ``schema``,
``created``, ``video``, ``model``, ``clip``, ``target``, ``predictions``, ``methods``, ``outputs``, ``format``,
``fps``, ``params``, ``timings``, ``versions``); keys a record does not know are kept in ``extra``.

Example::

    from vidxai.result import ExplainResult

    result = ExplainResult.load("out/")
    result.target.name, [m.deletion_auc for m in result.methods]
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from .core.runtime import atomic_write, to_jsonable
from .errors import InputError

__all__ = ["ExplainResult", "MethodResult", "Prediction", "VideoRecord", "ModelRecord", "ClipRecord",
           "TargetRecord", "SCHEMA", "RESULT_FILE"]

SCHEMA = "vidxai.explain/1"
RESULT_FILE = "result.json"


class _Record:
    """JSON (de)serialisation shared by the result records.

    Fields that are None are left out of the JSON (except those in ``_keep_none``); keys a record does not
    know are kept in ``extra`` and written back, so files from newer versions round-trip.
    """

    _keep_none: ClassVar[tuple[str, ...]] = ()
    _records: ClassVar[dict[str, type]] = {}  # field -> record type (a list of them for list fields)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (plain dicts, lists and scalars)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            skip = f.name == "extra" or not f.metadata.get("json", True)
            if skip or (value is None and f.name not in self._keep_none):
                continue
            out[f.name] = _plain(value)
        out.update(self.extra)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]):
        """Build the record from its JSON form; missing keys become None, unknown keys go to ``extra``."""
        if not isinstance(data, dict):
            raise InputError(f"{cls.__name__}: expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls) if f.metadata.get("json", True)} - {"extra"}
        kwargs = {k: _typed(cls._records.get(k), v) for k, v in data.items() if k in known}
        return cls(**kwargs, extra={k: v for k, v in data.items() if k not in known})


def _plain(value: Any) -> Any:
    if isinstance(value, _Record):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _typed(kind: type | None, value: Any) -> Any:
    if kind is None or value is None:
        return value
    if isinstance(value, list):
        return [kind.from_dict(v) for v in value]
    return kind.from_dict(value)


@dataclass
class VideoRecord(_Record):
    """The source video (``result.json["video"]``)."""

    path: str | None = None
    codec: str | None = None
    fps: float | None = None
    num_frames: int | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ModelRecord(_Record):
    """The explained model (``result.json["model"]``): name, weights, input description and spec."""

    _keep_none: ClassVar[tuple[str, ...]] = ("weights",)

    name: str | None = None
    weights: str | None = None
    input: str | None = None
    spec: dict[str, Any] | None = None
    num_classes: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ClipRecord(_Record):
    """Which frames were explained (``result.json["clip"]``); ``windows`` are ``[start, end)`` per window."""

    _keep_none: ClassVar[tuple[str, ...]] = ("geometry",)

    mode: str | None = None
    num_windows: int | None = None
    window_frames: int | None = None
    frame_indices: list[int] = field(default_factory=list)
    windows: list[list[int]] | None = None
    geometry: dict[str, Any] | None = None
    #: per window (``--clip all``): ``{"frames": [start, end], "predictions": [{"index", "name", "probability"}]}``
    window_predictions: list[dict[str, Any]] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class TargetRecord(_Record):
    """The explained class (``result.json["target"]``); ``requested`` is what the caller asked for."""

    index: int | None = None
    name: str | None = None
    probability: float | None = None
    requested: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction(_Record):
    """One of the top-k predictions."""

    index: int | None = None
    name: str | None = None
    probability: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class MethodResult(_Record):
    """One method's outcome: timing, curve scores and the files written (relative to the output folder).

    ``on_target`` is the share of the saliency inside the ground-truth masks (when masks were given).
    ``curve_protocol`` says which protocol produced the AUCs (name, steps, baseline, mode, clip shape).
    ``normalization`` is how the maps were scaled for display (``"minmax"``, ``"percentile:99.5"``, ``"none"``;
    the saved ``.npz`` keeps the raw map). ``frame_importance`` is the mean of the stitched map (each window min-max
    normalised, as in the overlays) on each explained frame (``clip.frame_indices`` order): the report's timeline.
    """

    name: str | None = None
    description: str | None = None
    #: the explained class when several are explained side by side (``--target top3``): index, name, probability
    target: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    timing_s: float | None = None
    timing_per_window_s: float | None = None
    deletion_auc: float | None = None
    insertion_auc: float | None = None
    combined: float | None = None
    curves: dict[str, list[float]] | None = None
    curve_protocol: dict[str, Any] | None = None
    normalization: str | None = None
    frame_importance: list[float] | None = None
    overlay: str | None = None
    boundaries: str | None = None
    num_segments: int | None = None
    on_target: float | None = None
    explanation: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ExplainResult(_Record):
    """Everything :func:`explain_video` found and wrote; :meth:`save` writes it as ``result.json``.

    The JSON keys are the field names (schema ``vidxai.explain/1``); ``extra`` holds further top-level keys
    (``vidxai demo`` adds ``ground_truth``). ``explanations`` (per method, one :class:`vidxai.Explanation`
    per window) lives in memory only.

    Example::

        result = ExplainResult.load("out/result.json")
        print(result.target.name, result.predictions[0].probability)
        for m in result.methods:
            print(m.name, m.deletion_auc, m.overlay)
        result.save("copy/result.json")
    """

    _records: ClassVar[dict[str, type]] = {"video": VideoRecord, "model": ModelRecord, "clip": ClipRecord,
                                           "target": TargetRecord, "predictions": Prediction,
                                           "methods": MethodResult}

    schema: str | None = SCHEMA
    created: str | None = None
    video: VideoRecord | None = None
    model: ModelRecord | None = None
    clip: ClipRecord | None = None
    target: TargetRecord | None = None
    predictions: list[Prediction] = field(default_factory=list)
    methods: list[MethodResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    format: str | None = None
    fps: float | None = None
    params: dict[str, Any] | None = None
    timings: dict[str, float] | None = None
    versions: dict[str, str] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    explanations: dict[str, list[Any]] = field(default_factory=dict, repr=False, compare=False,
                                               metadata={"json": False})

    def method(self, name: str) -> MethodResult:
        """The entry of method ``name`` (KeyError if it was not run)."""
        for m in self.methods:
            if m.name == name:
                return m
        raise KeyError(name)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the JSON atomically (:func:`vidxai.core.atomic_write`: temp file, fsync, rename); returns the path.

        Example::

            result.save("out/result.json")
        """
        text = json.dumps(to_jsonable(self.to_dict()), indent=2, allow_nan=True)
        return atomic_write(path, lambda f: f.write(text.encode("utf-8")), single_writer=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ExplainResult:
        """Read a ``result.json`` (a file or the folder holding it); InputError if it cannot be read.

        Example::

            result = ExplainResult.load("out/")
        """
        path = Path(path)
        if path.is_dir():
            path = path / RESULT_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"cannot read {path}: {e}") from None
        return cls.from_dict(data)
