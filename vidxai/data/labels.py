"""Class-name lists shipped with vidxai: they live in :mod:`vidxai.models.labels` (models name their classes,
datasets reuse the names); this module keeps the old import path working."""
from __future__ import annotations

from ..models.labels import LABELS_DIR, UnknownLabelSetError, available, load_labels

__all__ = ["load_labels", "available", "LABELS_DIR", "UnknownLabelSetError"]
