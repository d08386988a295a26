"""Error hierarchy of vidxai.

Every error a user can cause (bad file, bad tensor, unknown name, broken checkpoint) is raised as a
subclass of :class:`VidxaiError` with a one-line message that names the problem. The CLI prints
``error: <message>`` and exits with :attr:`VidxaiError.exit_code` instead of showing a traceback.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable


class VidxaiError(Exception):
    """Base class of every error raised on purpose by vidxai."""

    exit_code = 2

    def __str__(self) -> str:  # keep messages on one line
        return " ".join(str(super().__str__()).split())


class VideoError(VidxaiError):
    """A video cannot be used."""


class VideoNotFoundError(VideoError, FileNotFoundError):
    """The video file does not exist."""


class VideoDecodeError(VideoError):
    """The file exists but cannot be decoded as a video."""


class EmptyVideoError(VideoError):
    """The video decodes but holds no frames."""


class TooFewFramesError(VideoError):
    """The video is shorter than the clip that was asked for."""


class InputError(VidxaiError, ValueError):
    """A tensor or array argument has the wrong shape, dtype or value."""


class ShapeError(InputError):
    """A tensor or array has the wrong shape or dtype."""


class TargetError(InputError):
    """A target class index is out of range or a class name is unknown."""


class UnknownNameError(VidxaiError, KeyError):
    """A registry lookup failed (model, method, class name...)."""

    kind = "name"

    def __init__(self, name: str, choices: Iterable[str] = (), hint: str = "") -> None:
        self.name = name
        self.choices = sorted(choices)
        close = difflib.get_close_matches(str(name), self.choices, n=3, cutoff=0.5)
        msg = f"unknown {self.kind} {name!r}"
        if close:
            msg += "; did you mean " + " or ".join(repr(c) for c in close) + "?"
        elif self.choices and len(self.choices) <= 12:
            msg += "; choose from " + ", ".join(self.choices)
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)

    def __str__(self) -> str:  # KeyError would quote the message
        return " ".join(str(self.args[0]).split())


class UnknownModelError(UnknownNameError):
    kind = "model"


class UnknownMethodError(UnknownNameError):
    kind = "method"


class UnknownPresetError(UnknownNameError, InputError):
    """A method's ``preset=`` names no preset (also an :class:`InputError`: it is a bad parameter value)."""

    kind = "preset"


class UnknownClassError(UnknownNameError, TargetError):
    kind = "class name"


class CheckpointError(VidxaiError):
    """A checkpoint is missing, corrupt or does not fit the model."""


class MissingCheckpointError(CheckpointError, FileNotFoundError):
    """A checkpoint file does not exist or cannot be fetched."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file exists but cannot be read, fails its checksum, or does not fit the model."""


class UnsupportedModelError(VidxaiError):
    """A method cannot work with this model (e.g. no pooling+linear head, an activation it cannot guide)."""


class ModelOutputError(UnsupportedModelError):
    """The logits cannot be found in what a wrapped network returns (see ``vidxai.wrap(..., output=)``)."""


class ConfigError(VidxaiError, ValueError):
    """An experiment configuration is invalid."""


def check(condition: bool, error: type[VidxaiError], message: str) -> None:
    """Raise ``error(message)`` unless ``condition`` holds."""
    if not condition:
        raise error(message)
