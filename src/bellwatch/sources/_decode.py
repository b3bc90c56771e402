"""The record reader's fast path for the report facts: a line decoded by msgspec straight
into the few fields the facts read, with the answer :func:`.reader.parse` gives, or not at all.

orjson builds a dict of every key and value of a line; msgspec decodes into a Struct of
the fields named here, and a route, level, method or event name seen before comes back
as the string already held, not a new one: about two thirds of the CPU of a parse
(``decode_ns`` against ``orjson_ns`` in bench/results/query.md). Both parsers
are strict RFC 8259 (no ``NaN``/``Infinity``, no trailing commas, no comments, no lone
surrogates, the last of duplicated keys kept). Where msgspec would answer differently,
:meth:`Decoder.decode` raises and the line goes to :meth:`Decoder.fallback`, which is
the reader's own parse (measured over the hostile corpus and by property tests):

- msgspec skips a field the Struct does not name without checking the range of its
  numbers (``1e999``) or the UTF-8 of its text, which orjson refuses: so no field is
  skipped. The Struct names every key the decoder has met (up to :data:`MAX_KEYS`), and a
  line with a key it has not met raises; the fallback reads it and the decoder learns
  the key for the next lines.
- msgspec reads integers beyond 64 bits exactly where orjson gives a float, or refuses
  them past a float's range: every field accepts 64-bit integers only, and a line long
  enough to hold 309 digits in a row (in a list or object, where the facts never look)
  is checked for one.
- msgspec's nesting limit is Python's recursion limit (1000 unless a program raises
  it), orjson's 1024 levels: a line with 1024 brackets or more goes to the reader.

``decode_lines`` decodes a run of lines in one call (:mod:`._decoded` checks that it
read one value per line) into the same struct without lists or objects as values: a
line with one is refused and read alone, so no line of a run needs those checks.

Needs the ``cli`` extra's ``msgspec``; without it :func:`shared` is ``None`` and the fold
parses every line with the reader, with the same answers, slower.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Literal, Protocol, Union, cast

from ..schema import EVENTS, LEVELS, F
from .reader import parse

msgspec: Any = None
"""The module, once :func:`_load` imported it: a cached report (which folds no line)
never does, and starts 5 ms sooner."""

__all__ = ["FIELDS", "LONG_LINE", "MAX_KEYS", "MAX_VALUES", "Decoder", "Event", "shared"]

FIELDS = (
    ("ts", F.TS), ("level", F.LEVEL), ("event", F.EVENT), ("cid", F.CID),
    ("method", F.METHOD), ("path", F.PATH), ("status", F.STATUS), ("duration", F.DURATION),
    ("uid", F.USER_ID), ("sid", F.SESSION_ID), ("type", F.ERROR_TYPE), ("msg", F.MESSAGE),
    ("sev", F.SEVERITY), ("hash", F.ERROR_HASH), ("n", F.OCCURRENCES),
)  # fmt: skip
"""The Struct's attribute names (ours) and the JSON keys they hold: all the facts read,
in the order bellwatch writes them (msgspec matches keys met in its fields' order
fastest: about 6% of a decode)."""
_ATTR = {key: attr for attr, key in FIELDS}
_KEY = dict(FIELDS)
_FEW = {
    "level": LEVELS,
    "event": tuple(e.name for e in EVENTS),
    "method": ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"),
    "path": (),
}
"""Fields with few distinct values, seeded: a value is learned when met (up to
:data:`MAX_VALUES`) and comes back as the string held, not a new one."""
MAX_KEYS = 256
MAX_VALUES = 256
_MAX_BUILDS = 600  # a rebuild costs about 0.2 ms; past this, what is unknown goes to the reader
LONG_LINE = 309
"""Bytes: a line this short cannot hold a 309-digit number (see :meth:`Decoder.long`)."""
_LONG_NUMBER = re.compile(rb"[0-9]{309}").search
_DEEP = 1024  # orjson's nesting limit
_NO_KEY = object()
_UNNAMEABLE = re.compile(r'["\\\x00-\x1f]').search
"""Keys msgspec cannot name (a quote, a backslash or a control character)."""


class Event(Protocol):
    """A decoded line: the attributes of :data:`FIELDS`, ``UNSET`` where absent."""

    ts: Any
    level: Any
    event: Any
    method: Any
    path: Any
    status: Any
    duration: Any
    cid: Any
    n: Any
    hash: Any
    sev: Any
    type: Any
    msg: Any
    sid: Any
    uid: Any

    def get(self, key: str, default: Any = None) -> Any:
        """The value of JSON key ``key`` (one of :data:`FIELDS`), or ``default``."""

    def __contains__(self, key: str) -> bool:
        """Whether the line has JSON key ``key`` (one of :data:`FIELDS`)."""


def _get(self: Any, key: str, default: Any = None) -> Any:
    value = getattr(self, _ATTR.get(key, ""), _NO_KEY)
    return default if value is _NO_KEY or value is msgspec.UNSET else value


def _contains(self: Any, key: str) -> bool:
    return _get(self, key, _NO_KEY) is not _NO_KEY


class Decoder:
    """Decodes lines into :class:`Event` structs, learning a file's keys and values."""

    def __init__(self) -> None:
        if not _load():
            raise ImportError("msgspec is missing: pip install 'bellwatch[cli]'")
        self.UNSET: Any = msgspec.UNSET
        self.errors: tuple[type[BaseException], ...] = (msgspec.DecodeError, RecursionError)
        self._keys = set(_ATTR)
        self._extra: list[str] = []
        self._values: dict[str, set[str] | None] = {a: set(v) for a, v in _FEW.items()}
        self._builds = 0
        self._fallback = PARSED
        self.decode: Callable[[bytes], Event]
        self.decode_lines: Callable[[bytes | memoryview], list[Event]]
        self.decode, self.decode_lines = self._build()

    def _build(
        self,
    ) -> tuple[Callable[[bytes], Event], Callable[[bytes | memoryview], list[Event]]]:
        """:meth:`decode`, and :meth:`decode_lines`: the same struct without lists or
        objects as values (see the module docstring)."""
        self._builds += 1
        rename = {a: k for a, k in FIELDS} | {f"x{i}": k for i, k in enumerate(self._extra)}
        out = []
        for containers in (True, False):
            fields: list[tuple[str, Any, Any]] = [
                (attr, _typed(attr, self._values.get(attr, set())), None) for attr, _ in FIELDS
            ]
            fields += [(f"x{i}", _union(None, ints=True, containers=containers), msgspec.UNSET)
                       for i in range(len(self._extra))]  # fmt: skip
            struct = msgspec.defstruct(
                "Event", fields, rename=rename, forbid_unknown_fields=True, gc=False,
                namespace={"get": _get, "__contains__": _contains},
            )  # fmt: skip
            out.append(msgspec.json.Decoder(struct))
        return (
            cast("Callable[[bytes], Event]", out[0].decode),
            cast("Callable[[bytes | memoryview], list[Event]]", out[1].decode_lines),
        )

    def long(self, line: bytes) -> bool:
        """Whether a line :meth:`decode` read holds a 309-digit number or may nest 1024
        levels deep, so that the reader must decide (callers check ``len(line) >
        LONG_LINE`` first: that is rare)."""
        if _LONG_NUMBER(line) is not None:
            return True
        return len(line) > _DEEP and line.count(b"[") + line.count(b"{") >= _DEEP

    def fallback(self, line: bytes) -> Event | None:
        """The reader's answer for a line :meth:`decode` refused: an event, or ``None``
        for a text line; learns the keys and values of the line for the next ones."""
        obj = parse(line)
        if obj is None:
            return None
        self._learn(obj)
        return cast("Event", self._fallback(*(obj.get(k, msgspec.UNSET) for _, k in FIELDS)))

    def _learn(self, obj: dict[str, Any]) -> None:
        new = [k for k in obj if k not in self._keys]
        self._keys.update(new)  # met: never learned twice
        new = [k for k in new if not _UNNAMEABLE(k)]  # lines with those go to the reader
        if len(self._extra) + len(new) > MAX_KEYS:
            new = []
        values = {
            attr: value
            for attr, seen in self._values.items()
            if seen is not None and type(value := obj.get(_KEY[attr])) is str and value not in seen
        }
        if (not new and not values) or self._builds >= _MAX_BUILDS:
            return  # nothing to learn (a line refused for its numbers or nesting), or enough
        before = self._extra, self._values
        self._extra = self._extra + new
        self._values = {a: None if v is None else set(v) for a, v in self._values.items()}
        for attr, value in values.items():
            seen = self._values[attr]
            if seen is not None:
                seen.add(value)
                if len(seen) > MAX_VALUES:
                    self._values[attr] = None  # too many: any text, a new string each time
        try:
            self.decode, self.decode_lines = self._build()
        except (ValueError, TypeError):  # a name msgspec refuses: keep what worked
            self._extra, self._values = before


_TYPES: dict[str, Any] = {}
"""The typed fields' types (:func:`_load` fills it)."""


def _typed(attr: str, values: set[str] | None) -> Any:
    """What a decoded line's field holds: its schema type or ``None`` (a time may be a
    number or text); a name of few values (:data:`_FEW`), one of ``values`` (``None``:
    any text)."""
    if attr in _TYPES:
        return _TYPES[attr]
    if attr not in _FEW or values is None:
        return str | None
    return Literal[tuple(sorted(values))] | None if values else None


def _union(text: set[str] | None, *, ints: bool = False, containers: bool = True) -> Any:
    """Any JSON value; ``text``: only these strings (``None``: any); ``ints``: integers
    that orjson also reads as integers (64-bit signed; others go to the reader);
    ``containers``: lists and objects too."""
    whole: Any = Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] if ints else int
    parts: list[Any] = [whole, float, bool, None]
    if containers:
        parts += [list, dict]
    if text is None:
        parts.append(str)
    elif text:
        parts.append(Literal[tuple(sorted(text))])
    return Union[tuple(parts)]  # noqa: UP007 - built at run time from a list


PARSED: Any = None
"""The struct of a line the reader parsed (:meth:`Decoder.fallback`): any JSON value in
each field, ``UNSET`` where absent (:func:`_load` makes it)."""


def _load() -> bool:
    """Import msgspec and make what needs it, once; False without it (the ``cli`` extra)."""
    global msgspec, PARSED
    if msgspec is not None:
        return True
    try:
        import msgspec as module
    except ImportError:  # pragma: no cover - the cli extra brings it
        return False
    msgspec = module
    int64: Any = Annotated[int, module.Meta(ge=-(2**63), le=2**63 - 1)]
    _TYPES.update({
        "ts": int64 | float | str | None, "status": int64 | None, "n": int64 | None,
        "duration": float | None,
    })  # fmt: skip
    PARSED = module.defstruct(
        "Event", [(a, _union(None), module.UNSET) for a, _ in FIELDS],
        namespace={"get": _get, "__contains__": _contains}, gc=False,
    )  # fmt: skip
    return True


_SHARED: list[Decoder | None] = []


def shared() -> Decoder | None:
    """This process's decoder (its learning is kept across files), or ``None`` without
    msgspec."""
    if not _SHARED:
        _SHARED.append(Decoder() if _load() else None)
    return _SHARED[0]
