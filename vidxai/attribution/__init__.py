"""Attribution methods, one module per family. Importing this package registers all of them.

Each module registers its classes with :func:`vidxai.methods.register`; modules are discovered
automatically so adding a family means adding a module.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import (ActivationRecorder, Attribution, AttributionResult, HookSet, input_gradient, model_state,
                   normalize_maps, reduce_channels, upsample_to)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["Attribution", "AttributionResult", "HookSet", "ActivationRecorder", "model_state", "input_gradient",
           "reduce_channels", "normalize_maps", "upsample_to"]
