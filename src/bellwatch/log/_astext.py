"""Values JSON cannot hold, as text: never raising, never longer than asked.

Used by the renderer (orjson's ``default``, and its clean-up of a line orjson refused),
the redactor (which scrubs the text a value is written as) and the processors.
Imports only the counters.
"""

from __future__ import annotations

import contextlib

from .._guard import counters

__all__ = ["as_text", "fix_text", "safe_repr"]


def safe_repr(obj: object, limit: int = 200) -> str:
    """``repr(obj)`` that never raises and never returns more than ``limit`` characters."""
    try:
        text = repr(obj)
        if not isinstance(text, str):
            raise TypeError("__repr__ returned a non-string")
    except Exception:
        try:
            name = type(obj).__name__
        except Exception:
            name = "object"
        text = f"<unrepresentable {name}>"
    return fix_text(text[:limit])


# Values whose text is what they are (a price, a path, an address): written as str(),
# "1.10" rather than "Decimal('1.10')", as a reader (and a filter pattern) expects. Known
# by name, subclasses included: importing decimal, pathlib and ipaddress to test them
# would cost every CLI command's start 4 ms, and no such value exists before its module does.
_TEXT_TYPES = frozenset({
    ("decimal", "Decimal"), ("pathlib", "PurePath"), ("ipaddress", "IPv4Address"),
    ("ipaddress", "IPv6Address"), ("ipaddress", "IPv4Network"), ("ipaddress", "IPv6Network"),
})  # fmt: skip


def _is_text_type(obj: object) -> bool:
    return any((c.__module__, c.__qualname__) in _TEXT_TYPES for c in type(obj).__mro__)


def as_text(obj: object, limit: int = 200) -> str:
    """A value JSON cannot hold, as text: ``str()`` of the types whose text is their
    value, else :func:`safe_repr` (counted in ``values_replaced``). Never raises."""
    if _is_text_type(obj):
        with contextlib.suppress(Exception):  # a subclass's __str__ may raise: then its repr
            return fix_text(str(obj)[:limit])
    counters.values_replaced += 1
    return safe_repr(obj, limit)


def fix_text(text: str) -> str:
    """Replace lone surrogates, which are not valid UTF-8 and so not valid JSON text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return str(text)
