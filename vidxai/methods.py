"""Method registry: ``vidxai.methods.register``, ``vidxai.methods.list()``, ``vidxai.methods.get(name)``.

Methods are :class:`vidxai.attribution.base.Attribution` subclasses registered under a short name::

    @vidxai.methods.register("my-method", description="what it shows", family="gradient")
    class MyMethod(Attribution):
        def compute(self, x, target, logits, strength: float = 1.0) -> AttributionResult: ...

``attribute(inputs, target=..., **params)`` is the template every method shares (see
:class:`vidxai.attribution.base.Attribution`); a method writes only its ``compute``.
"""
from __future__ import annotations

import builtins
from collections.abc import Callable

from .errors import UnknownMethodError
from .registry import Registry

_REGISTRY: Registry[type] = Registry("method", UnknownMethodError)

#: The method used when none is named (SWAG-V I+G once supervoxels are available, see DEFAULT).
DEFAULT_METHOD = "swagv-ig"
FALLBACK_METHOD = "guided-backprop"


def register(name: str, description: str = "", family: str = "") -> Callable[[type], type]:
    """Class decorator registering an :class:`~vidxai.attribution.base.Attribution` subclass."""

    def add(cls: type) -> type:
        cls.name = name
        if description:
            cls.description = description
        if family:
            cls.family = family
        _REGISTRY.register(name, cls, description=description or getattr(cls, "description", ""))
        return cls

    return add


def _load_all() -> None:
    from . import attribution  # noqa: F401  (importing registers the built-in methods)


def list() -> builtins.list[str]:  # noqa: A001
    """Names of every registered method."""
    _load_all()
    return _REGISTRY.names()


def get(name: str) -> type:
    """The method class registered as ``name`` (unknown names get close-match suggestions)."""
    _load_all()
    return _REGISTRY.get(name)


def describe(name: str) -> str:
    """One-line description of a method."""
    _load_all()
    return _REGISTRY.describe(name)


def reference(name: str) -> dict:
    """Everything a user needs to call method ``name``: description, capabilities, parameters with their
    defaults (read from its ``compute()`` signature), presets and the class docstring.

    Example::

        ref = vidxai.methods.reference("smoothgrad")
        ref["parameters"]["n_samples"], ref["presets"]["paper"]   # ('16', {'n_samples': 50, 'noise_level': 0.15})
    """
    import inspect

    from .attribution.base import parameter_defaults

    cls = get(name)
    params = {k: ("(required)" if v is inspect.Parameter.empty and k not in getattr(cls, "forwarded_params", {})
                  else "(see the function it is handed to)" if v is inspect.Parameter.empty else repr(v))
              for k, v in parameter_defaults(cls).items()} if hasattr(cls, "compute") else {}
    caps = cls.capabilities() if hasattr(cls, "capabilities") else {}
    return {"name": name, "description": describe(name), "capabilities": {k: v for k, v in caps.items()
                                                                          if k != "parameters"},
            "parameters": params, "presets": dict(getattr(cls, "presets", {}) or {}),
            "doc": inspect.getdoc(cls) or ""}


def default_method() -> str:
    """The default method: SWAG-V I+G when registered, guided backprop otherwise."""
    _load_all()
    return DEFAULT_METHOD if DEFAULT_METHOD in _REGISTRY else FALLBACK_METHOD


__all__ = ["register", "list", "get", "describe", "reference", "default_method", "DEFAULT_METHOD"]
