"""Argument checks that raise :mod:`vidxai.errors` errors with helpful messages."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import UnknownNameError


def check_choice(value: Any, choices: Iterable[str], hint: str = "",
                 error: type[UnknownNameError] = UnknownNameError) -> str:
    """Return ``str(value)`` if it is one of ``choices``; otherwise raise ``error`` with close-match suggestions.

    Args:
        value: the name given by the caller.
        choices: the accepted names.
        hint: what the name is for, appended to the message (e.g. ``"deletion mode"``).
        error: the :class:`~vidxai.errors.UnknownNameError` subclass to raise.

    Returns:
        ``value`` as a string.

    Raises:
        UnknownNameError: ``value`` is not in ``choices`` (the message suggests close matches).

    Example::

        >>> check_choice("deletion", ("deletion", "insertion"), hint="deletion mode")
        'deletion'
        >>> check_choice("delete", ("deletion", "insertion"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        vidxai.errors.UnknownNameError: unknown name 'delete'; did you mean 'deletion'...
    """
    choices = tuple(choices)
    if value not in choices:
        raise error(str(value), choices, hint=hint)
    return str(value)


__all__ = ["check_choice"]
