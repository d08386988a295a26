"""Imports every model family module so its entries register (discovered, not listed by hand)."""
from __future__ import annotations

import importlib
import pkgutil

from . import __path__ as _models_path

_SKIP = {"base", "wrap", "zoo", "checkpoint", "checkpoints"}

for _info in sorted(pkgutil.iter_modules(_models_path), key=lambda m: m.name):
    if _info.name not in _SKIP and not _info.name.startswith("_"):
        importlib.import_module(f"{__package__}.{_info.name}")
