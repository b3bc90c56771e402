"""Renderers: the budgeted compact JSON line, and the dev console.

The JSON renderer guarantees, for any event dict, one line of valid JSON of at
most ``max_line`` characters that keeps the core keys. The common case is one
``orjson.dumps`` and a length check; only an oversized or unserializable event
takes the slow path, which cleans values and then shortens the lowest-priority
ones first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .._guard import counters
from ..schema import CORE_FIELDS, F

__all__ = ["MARK", "BudgetRenderer", "safe_repr"]

MARK = "…"  # one character; the visible truncation mark

_MIN_KEEP = 16  # a shortened free-text value keeps at least this many characters
_MAX_DEPTH = 3
_MAX_ITEMS = 32
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

# What to give up, in order, when a line is over budget. "extras" are the app's own
# keys (longest first). Error facts (type, message) outlive request facts, since a
# request line never carries them; ids and route templates are shortened late
# because they are useless once cut, free text is not.
_EXTRAS = "*"
_LADDER: tuple[tuple[str, str, int], ...] = (
    ("shorten", _EXTRAS, _MIN_KEEP),
    ("drop", _EXTRAS, 0),
    ("shorten", F.EXC, _MIN_KEEP),
    ("drop", F.EXC, 0),
    ("drop", F.LOGGER, 0),
    ("drop", F.USER_ID, 0),
    ("drop", F.SESSION_ID, 0),
    ("drop", F.METHOD, 0),
    ("drop", F.DURATION, 0),
    ("shorten", F.MESSAGE, 48),
    ("shorten", F.PATH, _MIN_KEEP),
    ("drop", F.PATH, 0),
    ("shorten", F.MESSAGE, _MIN_KEEP),
    ("drop", F.WINDOW, 0),
    ("drop", F.COUNT, 0),
    ("shorten", F.ERROR_TYPE, _MIN_KEEP),
    ("drop", F.STATUS, 0),
    ("drop", F.MESSAGE, 0),
    # severity and type last: the HIGH/CRITICAL metric filter and the CLI group on them
    ("drop", F.ERROR_TYPE, 0),
    ("drop", F.SEVERITY, 0),
)
_LADDER_KEYS = frozenset(key for _, key, _ in _LADDER)
_CORE = frozenset(CORE_FIELDS)


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
    return _fix_text(text[:limit])


def _fix_text(text: str) -> str:
    """Replace lone surrogates, which are not valid UTF-8 and so not valid JSON text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return str(text)


def _default(obj: object) -> str:
    counters.values_replaced += 1
    return safe_repr(obj)


def _clean(value: Any, depth: int, limit: int) -> Any:
    """A JSON-safe copy of ``value``: bounded depth, items and integer range."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return _fix_text(value)
    if isinstance(value, int):
        return int(value) if _INT_MIN <= value <= _INT_MAX else str(value)
    if isinstance(value, Mapping | list | tuple) and depth >= _MAX_DEPTH:
        counters.values_replaced += 1
        return safe_repr(value, limit)
    if isinstance(value, Mapping):
        try:
            items = list(value.items())[:_MAX_ITEMS]
        except Exception:
            return safe_repr(value, limit)
        return {_key(k): _clean(v, depth + 1, limit) for k, v in items}
    if isinstance(value, list | tuple):
        return [_clean(v, depth + 1, limit) for v in value[:_MAX_ITEMS]]
    counters.values_replaced += 1
    return safe_repr(value, limit)


def _key(key: object) -> str:
    return _fix_text(key) if isinstance(key, str) else safe_repr(key, 64)


def _piece(key: str, value: Any) -> str:
    return orjson.dumps({key: value}).decode("utf-8")[1:-1]


class BudgetRenderer:
    """Render an event dict as compact JSON bytes of at most ``max_line`` characters.

    Args:
        max_line: the character budget of one line, newline excluded (>= 100).
    """

    __slots__ = ("max_line",)

    def __init__(self, max_line: int = 200) -> None:
        if max_line < 100:
            raise ValueError("max_line must be at least 100 characters")
        self.max_line = max_line

    def __call__(self, _logger: object, _method: str, event: dict[str, Any]) -> bytes:
        return self.render(event)

    def render(self, event: Mapping[str, Any]) -> bytes:
        try:
            line = orjson.dumps(event, default=_default)
        except Exception:
            return self._fit(event)
        # Bytes are never fewer than characters, so this check is exact when it passes.
        if len(line) <= self.max_line or len(line.decode("utf-8")) <= self.max_line:
            return line
        return self._fit(event)

    def _fit(self, event: Mapping[str, Any]) -> bytes:
        counters.lines_truncated += 1
        limit = self.max_line
        try:
            clean = {_key(k): _clean(v, 1, limit) for k, v in event.items()}
        except Exception:
            clean = {}
        for key in CORE_FIELDS:
            if key in clean and not isinstance(clean[key], str | int | float | bool):
                clean[key] = safe_repr(clean[key], limit)
        line = _Budget(clean, limit).fit()
        return line.encode("utf-8")


class _Budget:
    """Shrink a cleaned event until its JSON line fits ``limit`` characters."""

    def __init__(self, event: dict[str, Any], limit: int) -> None:
        self.limit = limit
        self.values = event
        self.pieces = {k: _piece(k, v) for k, v in event.items()}
        # braces + commas + pieces, kept up to date by _set/_drop
        self.total = 2 + sum(len(p) for p in self.pieces.values()) + max(len(self.pieces) - 1, 0)
        self.dropped = 0

    def size(self) -> int:
        extra = len(_piece(F.DROPPED, self.dropped)) + 1 if self.dropped else 0
        return self.total + extra

    def _set(self, key: str, value: Any) -> None:
        piece = _piece(key, value)
        self.total += len(piece) - len(self.pieces[key])
        self.values[key] = value
        self.pieces[key] = piece

    def _drop(self, key: str) -> None:
        self.total -= len(self.pieces.pop(key)) + (1 if self.pieces else 0)
        self.dropped += 1

    def fit(self) -> str:
        extras = sorted(
            (k for k in self.pieces if k not in _CORE and k not in _LADDER_KEYS),
            key=lambda k: -len(self.pieces[k]),
        )
        for action, target, keep in _LADDER:
            for key in extras if target == _EXTRAS else (target,):
                if self._fits():
                    break
                if key not in self.pieces:
                    continue
                if action == "drop":
                    self._drop(key)
                else:
                    self._shorten(key, keep)
        # last resort: shorten the core values themselves
        for key in (F.EVENT, F.CID, F.ERROR_HASH, F.LEVEL, F.TS):
            if self._fits():
                break
            if key in self.pieces:
                self._shorten(key, 1)
        return self._line()

    def _fits(self) -> bool:
        return self.size() <= self.limit

    def _shorten(self, key: str, keep: int) -> None:
        value = self.values[key]
        text = value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")
        while self.size() > self.limit:
            excess = self.size() - self.limit
            target = max(keep, len(text) - excess - len(MARK))
            if target >= len(text):
                return
            text = text[:target]
            self._set(key, text + MARK)
            if target == keep:
                return

    def _line(self) -> str:
        body = ",".join(self.pieces.values())
        if self.dropped:
            body += ("," if body else "") + _piece(F.DROPPED, self.dropped)
        line = "{" + body + "}"
        if len(line) <= self.limit:
            return line
        # Unreachable for sane limits; keeps the guarantee if a key itself is huge.
        core = {k: str(self.values.get(k, ""))[:8] for k in CORE_FIELDS if k in self.values}
        return orjson.dumps(core).decode("utf-8")
