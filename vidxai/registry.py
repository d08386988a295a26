"""A small name -> object registry with close-match suggestions (in the spirit of timm's)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; unknown names raise ``error`` with suggestions."""

    def __init__(self, kind: str, error: type[UnknownNameError] = UnknownNameError) -> None:
        self.kind = kind
        self.error = error
        self._items: dict[str, T] = {}
        self._descriptions: dict[str, str] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, obj: T | None = None, *, description: str = "", overwrite: bool = False):
        """Register ``obj`` under ``name``; used as a decorator when ``obj`` is omitted."""

        def add(o: T) -> T:
            if name in self._items and not overwrite and self._items[name] is not o:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = o
            doc = description or (getattr(o, "description", "") or (o.__doc__ or "").strip().split("\n")[0])
            self._descriptions[name] = doc
            return o

        return add(obj) if obj is not None else add

    def alias(self, alias: str, name: str) -> None:
        """Let ``alias`` resolve to the registered ``name`` (e.g. a hub-style name); aliases are not listed.

        Example::

            registry.alias("videomae-base", "videomae")
        """
        self.get(name)
        if alias in self._items:
            raise ValueError(f"{self.kind} {alias!r} is already registered")
        self._aliases[alias] = name

    def get(self, name: str) -> T:
        try:
            return self._items[self._aliases.get(name, name)]
        except KeyError:
            raise self.error(name, self._items) from None

    def describe(self, name: str) -> str:
        self.get(name)
        return self._descriptions.get(self._aliases.get(name, name), "")

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]


Factory = Callable[..., T]
