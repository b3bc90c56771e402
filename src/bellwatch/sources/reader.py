"""The one record reader: how bytes become log events, for every command and engine.

``tail``, ``trace``, ``filter``, ``insights``, the reports, their cache builder and
``tail -f`` all read lines through here, so every command counts the same events in
the same input. The rules are CloudWatch's:

- Input is split on ``\\n`` only; what follows the last ``\\n`` is a line too.
- A blank line (spaces, tabs, ``\\r`` only) is no event; every other line is one.
- A line that is exactly one strict RFC 8259 JSON object is a *structured* event,
  whatever its keys. Strict means orjson's parser: no ``NaN``/``Infinity``, no trailing
  commas, no comments, valid UTF-8 without lone surrogates; a key given twice keeps its
  last value; nesting deeper than 1024 levels and numbers beyond a 64-bit float are
  refused (RFC 8259 section 9 lets a parser set such limits).
- Anything else is a *text* event (:class:`~.base.TextRecord`): a banner, a traceback
  line, a truncated, binary or UTF-16 line.
- A UTF-8 byte order mark at the start of a file is not part of its first line
  (RFC 8259 section 8.1 lets a parser ignore it).

Time: a structured event's time is its ``ts`` (epoch milliseconds, or ISO 8601); one
without a readable ``ts`` has no time. A text event takes the time of the last
structured event with a time before it in the same file or stream (a traceback belongs
to what was logged just before it, and CloudWatch would stamp it at about that moment);
with none before it, it has no time. An event without a time is outside every
``--since``/``--until`` window.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from ..schema import F
from ..timeparse import parse_ts
from .base import LOG, LOG_STREAM, MESSAGE, TIMESTAMP, Record, ScanStats, TextRecord

__all__ = [
    "BOM",
    "StreamReader",
    "Window",
    "in_window",
    "lines_in",
    "lines_of",
    "message",
    "parse",
]

BOM = b"\xef\xbb\xbf"
_BLANK = b" \t\r"


def parse(line: bytes) -> dict[str, Any] | None:
    """The JSON object ``line`` (without its ``\\n``) holds, or ``None`` for a text line."""
    if line[:1] != b"{" and line.lstrip()[:1] != b"{":
        return None  # cheap: most text lines do not even start like an object
    try:
        value = orjson.loads(line)
    except ValueError:  # orjson.JSONDecodeError, including its nesting limit
        return None
    return value if type(value) is dict else None


def message(line: bytes) -> str:
    """A line as ``@message`` text: without a trailing ``\\r``; undecodable bytes kept
    as surrogate escapes, so ``message(line).encode("utf-8", "surrogateescape")``
    gives the line back byte for byte."""
    if line[-1:] == b"\r":
        line = line[:-1]
    return line.decode("utf-8", "surrogateescape")


def lines_of(handle: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of an open binary file or stream, without their ``\\n``: the last one kept
    even without one, a leading byte order mark dropped."""
    first = True
    for raw in handle:  # binary files split on newline bytes only, in C
        line = raw[:-1] if raw[-1:] == b"\n" else raw
        if first:
            first = False
            if line[:3] == BOM:
                line = line[3:]
        yield line


def lines_in(data: bytes, *, at_start: bool) -> list[bytes]:
    """The lines of a buffer read from a file (``at_start``: from its first byte), as
    :func:`lines_of` would give them; a buffer ending in ``\\n`` has no empty last line."""
    if at_start and data[:3] == BOM:
        data = data[3:]
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return lines


def in_window(ts: int | None, since_ms: int | None, until_ms: int | None) -> bool:
    """Whether an event's time falls in ``[since, until)``; an event without a time is
    inside only when no window is set."""
    if since_ms is None and until_ms is None:
        return True
    if ts is None:
        return False
    return (since_ms is None or ts >= since_ms) and (until_ms is None or ts < until_ms)


@dataclass(frozen=True, slots=True)
class Window:
    """A ``[since_ms, until_ms)`` time window in epoch milliseconds; ``None``: unbounded."""

    since_ms: int | None = None
    until_ms: int | None = None

    @property
    def everything(self) -> bool:
        """Whether the window is unbounded (then events without a time count too)."""
        return self.since_ms is None and self.until_ms is None

    def __contains__(self, ts: int | None) -> bool:
        return in_window(ts, self.since_ms, self.until_ms)


class StreamReader:
    """Turns the lines of one file or stream into records, in order, counting them.

    Keeps the time a text event inherits (see the module docstring); give ``carry`` to
    start in the middle of a stream whose earlier lines were read elsewhere.
    """

    __slots__ = ("carry", "log", "stats", "stream")

    def __init__(self, stream: str, log: str, stats: ScanStats, carry: int | None = None) -> None:
        self.stream = stream
        self.log = log
        self.stats = stats
        self.carry = carry
        """The time of the last structured event with a time (text events inherit it)."""

    def event(self, line: bytes) -> Record | None:
        """The record of one line (without its ``\\n``), or ``None`` for a blank line."""
        obj = parse(line)
        if obj is not None:
            ts = parse_ts(obj.get(F.TS))
            if ts is not None:
                self.carry = ts
            obj[TIMESTAMP] = ts
            obj[MESSAGE] = message(line)
            obj[LOG_STREAM] = self.stream
            obj[LOG] = self.log
            self.stats.records += 1
            return obj
        if not line.strip(_BLANK):
            return None
        self.stats.text_lines += 1
        text = TextRecord()
        text[TIMESTAMP] = self.carry
        text[MESSAGE] = message(line)
        text[LOG_STREAM] = self.stream
        text[LOG] = self.log
        return text

    def events(
        self, lines: Iterable[bytes], since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[Record]:
        """The records of ``lines`` whose time is in ``[since_ms, until_ms)``."""
        stats = self.stats
        for line in lines:
            stats.bytes_read += len(line) + 1
            record = self.event(line)
            if record is not None and in_window(record[TIMESTAMP], since_ms, until_ms):
                yield record
