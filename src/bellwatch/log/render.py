"""Renderers: the budgeted compact JSON line, and the dev console.

The JSON renderer guarantees, for any event dict, one line of valid JSON of at
most ``max_line`` characters that keeps the core keys (a level of ``INFO`` may go:
readers take a missing level as INFO). The common case is one ``orjson.dumps`` and
a length check. An oversized event takes the budget path: values orjson could not
write are cleaned, then the lowest-priority keys are shortened or dropped first,
by arithmetic on per-key sizes, and the line is dumped once more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import orjson

from .._guard import counters
from ..schema import CORE_FIELDS, F
from ._astext import as_text, fix_text, safe_repr

__all__ = ["MARK", "BudgetRenderer", "safe_repr", "showable"]

MARK = "…"  # one character; the visible truncation mark

_MIN_KEEP = 16  # a shortened free-text value keeps at least this many characters
_MAX_DEPTH = 3
_MAX_ITEMS = 32
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1

# What to give up, in order, when a line is over budget. First the app's own keys
# (longest first: shortened, then dropped; see _fit_values). Then what a reader can
# do without: the traceback, the stdlib logger's name, a level of INFO (a missing level
# reads as INFO: the CLI does so, so nothing is lost), then the HTTP method (the
# endpoints report keys on it: a line without one counts under method "?"). Then the request's other
# keys (uid and sid are on its other lines, found by cid; duration), and the message,
# which an error line's hash names on its first line anyway: shortened, then dropped.
# A route is never shortened: a cut route reads as another route in every report
# (``/api/assistant/bo…``), so it is whole or dropped, after the message. Severity
# and type go last; cid, hash and n are core.
_LADDER: tuple[tuple[str, str, int], ...] = (
    ("shorten", F.EXC, _MIN_KEEP),
    ("drop", F.EXC, 0),
    ("drop", F.LOGGER, 0),
    ("drop_info", F.LEVEL, 0),
    ("drop", F.METHOD, 0),
    ("drop", F.MESSAGES_OUT, 0),
    ("drop", F.MESSAGES_IN, 0),
    ("shorten", F.MESSAGE, 48),
    ("drop", F.WINDOW, 0),
    ("drop", F.USER_ID, 0),
    ("drop", F.SESSION_ID, 0),
    ("drop", F.DURATION, 0),
    ("shorten", F.MESSAGE, _MIN_KEEP),
    ("drop", F.MESSAGE, 0),
    ("drop", F.PATH, 0),
    ("drop", F.COUNT, 0),
    ("shorten", F.ERROR_TYPE, _MIN_KEEP),
    ("drop", F.STATUS, 0),
    ("drop", F.CLOSE_CODE, 0),
    # severity and type last: the HIGH/CRITICAL metric filter and the CLI group on them
    ("drop", F.ERROR_TYPE, 0),
    ("drop", F.SEVERITY, 0),
)
# A request (or WebSocket) line, the only lines with a duration, names the error
# recorded during it by its hash: the error's own line carries the hash and the cid,
# so on a request line it is the first thing to go. Core on every other line, it
# would otherwise push out the method and the CallSid of a failing Twilio call.
_REQUEST_HASH: tuple[tuple[str, str, int], ...] = (("drop", F.ERROR_HASH, 0),)
_LADDER_KEYS = frozenset(key for _, key, _ in _LADDER)
_CORE = frozenset(CORE_FIELDS)
_NOT_EXTRA = _CORE | _LADDER_KEYS
_SCALARS = (str, int, float, bool)


def _default(obj: object) -> str:
    return as_text(obj)


def _clean(value: Any, depth: int, limit: int) -> Any:
    """A JSON-safe copy of ``value``: bounded depth, items and integer range."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return fix_text(value)
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
    return as_text(value, limit)


def _key(key: object) -> str:
    return fix_text(key) if isinstance(key, str) else safe_repr(key, 64)


def _chars(raw: bytes) -> int:
    """Characters of UTF-8 JSON text (the budget counts characters, not bytes)."""
    return len(raw) if raw.isascii() else len(raw.decode("utf-8"))


_KEY_CHARS: dict[str, int] = {}  # a line's keys repeat: their JSON length, measured once
_KEY_CACHE_MAX = 4096
_DROPPED_KEY = _chars(orjson.dumps(F.DROPPED)) + 1  # "_dropped": before its number


def _key_chars(key: str) -> int:
    n = _KEY_CHARS.get(key)
    if n is None:
        n = _chars(orjson.dumps(key))
        if len(_KEY_CHARS) < _KEY_CACHE_MAX:
            _KEY_CHARS[key] = n
    return n


# Characters JSON allows raw inside a string that a terminal acts on or that reorder
# what it shows: C1 controls (U+0080-009F: some terminals read U+009B as CSI), bidi
# marks and overrides, the line and paragraph separators. As UTF-8 (each lead byte
# starts a character: no match can straddle two).
_UNSHOWABLE = re.compile(
    rb"\xc2[\x80-\x9f]|\xd8\x9c|\xe2\x80[\x8e\x8f\xa8-\xae]|\xe2\x81[\xa6-\xa9]"
)
_REPLACEMENT = "\ufffd".encode()


def _escaped(match: re.Match[bytes]) -> bytes:
    return b"\\u%04x" % ord(match.group().decode("utf-8"))


def showable(line: bytes, limit: int) -> bytes:
    """``line`` (JSON, non-ASCII) with every character :data:`_UNSHOWABLE` matches
    written as a ``\\uXXXX`` escape: the same JSON, but ``tail -f`` or ``less`` on the
    file shows the escape and never obeys it. When the escapes would take the line past
    ``limit`` characters, each such character becomes U+FFFD instead (one for one).
    """
    escaped, found = _UNSHOWABLE.subn(_escaped, line)
    if not found:
        return line
    if _chars(escaped) <= limit:
        return escaped
    return _UNSHOWABLE.sub(_REPLACEMENT, line)


class BudgetRenderer:
    """Render an event dict as compact JSON bytes of at most ``max_line`` characters.

    Characters a terminal would act on are escaped (:func:`showable`) when the escapes
    fit the budget, and replaced by U+FFFD when they do not.

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
        replaced = counters.values_replaced
        try:
            line = orjson.dumps(event, default=_default)
        except Exception:
            return self._fit(event, None)
        if line.isascii():
            if len(line) <= self.max_line:
                return line
            chars = len(line)
        else:
            chars = len(line.decode("utf-8"))
            if chars <= self.max_line:  # as it is; escaped if that fits, else replaced
                return showable(line, self.max_line)
        # A value orjson could not write itself (our _default ran) is cleaned first;
        # otherwise the event is JSON already and its line's length is known.
        line = self._fit(event, chars if counters.values_replaced == replaced else None)
        return line if line.isascii() else showable(line, self.max_line)

    def over(self, event: dict[str, Any], data: bytes) -> bytes:
        """:meth:`render` with its newline, for the logger's fast path, which dumped already.

        ``data`` is ``orjson.dumps(event, option=OPT_APPEND_NEWLINE)``, longer than
        ``max_line + 1`` bytes or not ASCII. ``event`` is the caller's own: it is cut in
        place.
        """
        if data.isascii():
            chars = len(data) - 1
        else:
            chars = len(data.decode("utf-8")) - 1
            if chars <= self.max_line:  # as it is; escaped if that fits, else replaced
                return showable(data, self.max_line + 1)
        if chars <= self.max_line:
            return data
        counters.lines_truncated += 1
        data = _fit_values(event, self.max_line, chars, orjson.OPT_APPEND_NEWLINE)
        return data if data.isascii() else showable(data, self.max_line + 1)

    def _fit(self, event: Mapping[str, Any], chars: int | None) -> bytes:
        """The budget path; ``chars``: the line's length when ``event`` is JSON as it is."""
        counters.lines_truncated += 1
        limit = self.max_line
        if chars is not None:
            return _fit_values(dict(event), limit, chars)
        try:
            values = {_key(k): _clean(v, 1, limit) for k, v in event.items()}
        except Exception:
            values = {}
        for key in CORE_FIELDS:
            if key in values and not isinstance(values[key], _SCALARS):
                values[key] = safe_repr(values[key], limit)
        return _fit_values(values, limit, _chars(orjson.dumps(values)))


def _piece(key: str, value: Any) -> int:
    """Characters of ``"key":value`` in a compact JSON line."""
    raw = orjson.dumps(value)
    n = _KEY_CHARS.get(key) or _key_chars(key)
    return n + 1 + (len(raw) if raw.isascii() else len(raw.decode("utf-8")))


def _room(limit: int, dropped: int, others: int) -> int:
    """What the other pieces may take once ``"_dropped":N`` is on a line of ``others`` pieces."""
    if not dropped:
        return limit
    return limit - _DROPPED_KEY - len(str(dropped)) - (1 if others else 0)


# (action, key, characters to keep, characters of the key's JSON and its colon)
_Step = tuple[str, str, int, int]
_PLANS: dict[tuple[str, ...], tuple[list[str], list[_Step]]] = {}
_PLANS_MAX = 256  # shapes of line remembered (a service writes a few dozen)


def _plan(values: dict[str, Any]) -> tuple[list[str], list[_Step]]:
    """The app's own keys, and the ladder's other steps that apply to a line with these keys.

    Worked out once per shape of line (its keys, in order) and cached.
    """
    shape = tuple(values)
    plan = _PLANS.get(shape)
    if plan is None:
        extras = [key for key in values if key not in _NOT_EXTRA]
        ladder = _LADDER
        if F.ERROR_HASH in values and F.DURATION in values:
            ladder = _REQUEST_HASH + ladder
        steps = [(a, key, keep, _key_chars(key) + 1) for a, key, keep in ladder if key in values]
        plan = (extras, steps)
        if len(_PLANS) < _PLANS_MAX:
            _PLANS[shape] = plan
    return plan


def _fit_values(  # noqa: PLR0912 - the ladder's steps written out: the cut line's hot path
    values: dict[str, Any], limit: int, total: int, option: int = 0
) -> bytes:
    """Shrink ``values`` (ours, JSON-safe) until its line of ``total`` characters fits.

    The length is kept up to date by arithmetic: a key's piece is measured (one
    ``orjson.dumps`` of its value) only when the ladder reaches that key, the steps
    that apply are worked out once per shape of line, and the line is dumped once
    at the end (with ``option``: orjson's). A request line a few characters over
    budget costs two small dumps and one of the line.
    """
    extras, steps = _plan(values)
    if extras:
        total, dropped = _fit_extras(values, extras, limit, total)
        room = _room(limit, dropped, len(values))
    else:
        dropped, room = 0, limit
    # _piece and _room are written out in this loop: it is the cut line's hot path.
    dumps = orjson.dumps
    for action, key, keep, key_colon in steps:
        if total <= room:
            break
        if key not in values:
            continue
        value = values[key]
        if action == "shorten":
            if type(value) is not str or len(value) > keep:  # else nothing to cut
                total = _shorten(values, key, keep, total, room)
        elif action == "drop":
            del values[key]
            raw = dumps(value)
            total -= (
                key_colon
                + (len(raw) if raw.isascii() else len(raw.decode("utf-8")))
                + (1 if values else 0)  # the comma before the next piece
            )
            dropped += 1
            room = (
                limit
                - _DROPPED_KEY
                - (1 if dropped < 10 else len(str(dropped)))
                - (1 if values else 0)
            )
        elif value == "INFO":  # drop_info: a level of INFO only (its JSON is '"INFO"')
            # Implied by its absence (a reader takes a missing level as INFO): nothing is
            # lost, so it is not counted in _dropped, whose 13 characters would take back
            # most of the 15 it frees and push out the method with it.
            del values[key]
            total -= key_colon + 6 + (1 if values else 0)
    if total > room:  # last resort: shorten the core values themselves
        for key in (F.EVENT, F.CID, F.ERROR_HASH, F.LEVEL, F.TS):
            if total <= room:
                break
            if key in values:
                total = _shorten(values, key, 1, total, room)
    if dropped:
        values[F.DROPPED] = dropped
    line = dumps(values, option=option)
    if (len(line) if line.isascii() else len(line.decode("utf-8"))) - (option != 0) <= limit:
        return line
    # Unreachable for sane limits; keeps the guarantee if a key itself is huge.
    core = {k: str(values.get(k, ""))[:8] for k in CORE_FIELDS if k in values}
    return orjson.dumps(core, option=option)


def _fit_extras(
    values: dict[str, Any], extras: list[str], limit: int, total: int
) -> tuple[int, int]:
    """The app's own keys go first, longest first: shortened, then dropped.

    Returns the new total and how many were dropped.
    """
    if len(extras) > 1:
        sizes = {key: _piece(key, values[key]) for key in extras}
        extras = sorted(extras, key=sizes.__getitem__, reverse=True)
    for key in extras:
        if total <= limit:
            return total, 0
        total = _shorten(values, key, _MIN_KEEP, total, limit)
    dropped = 0
    for key in extras:
        if total <= _room(limit, dropped, len(values)):
            break
        total -= _piece(key, values.pop(key)) + (1 if values else 0)
        dropped += 1
    return total, dropped


def _shorten(values: dict[str, Any], key: str, keep: int, total: int, room: int) -> int:
    """Cut ``values[key]`` (as text, marked) toward ``room``; never below ``keep``; new total."""
    value = values[key]
    text = value if isinstance(value, str) else orjson.dumps(value).decode("utf-8")
    piece = _piece(key, value)
    while total > room:
        target = max(keep, len(text) - (total - room) - len(MARK))
        if target >= len(text):
            break
        text = text[:target]
        values[key] = text + MARK
        cut = _piece(key, values[key])
        total += cut - piece
        piece = cut
        if target == keep:
            break
    return total
