"""Class-name lists shipped with vidxai (one name per line, in logit order)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from ...errors import UnknownNameError

LABELS_DIR = Path(__file__).resolve().parent


class UnknownLabelSetError(UnknownNameError):
    kind = "label set"


def available() -> list[str]:
    """Names of the shipped label sets (file stems)."""
    return sorted(p.stem for p in LABELS_DIR.glob("*.txt"))


@lru_cache(maxsize=None)
def _read(name: str) -> tuple[str, ...]:
    path = LABELS_DIR / f"{name}.txt"
    if not path.is_file():
        raise UnknownLabelSetError(name, available())
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


def load_labels(name: str) -> list[str]:
    """Class names of a shipped label set, e.g. ``load_labels("kinetics400")`` (400 names, alphabetical,
    the order of torchvision's, pytorchvideo's and DeepMind's Kinetics-400 models)."""
    return list(_read(name))


__all__ = ["load_labels", "available", "LABELS_DIR"]
