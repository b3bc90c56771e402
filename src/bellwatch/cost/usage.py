"""Bytes and events of log records, the way CloudWatch Logs counts what it ingests.

One pass over records as the record reader gives them (structured lines, and text
lines: a record with only the four ``@`` fields) adds up, for every event:

- its **bytes**: the UTF-8 size of its message (the line without its newline), and
- the **26 bytes** of overhead CloudWatch Logs counts for every log event
  ("the sum of all event messages in UTF-8, plus 26 bytes for each log event",
  PutLogEvents). ``billed`` figures include it; the report says so.

Per event type (stdlib lines per logger, text lines and EMF lines apart), per level,
and per route for ``request_complete``; the time span read, so that a day and a month
can be projected; ISO timestamps (what ``ts`` in epoch milliseconds would save);
setup's metric filters and EMF metrics by the hours they would receive data; and a
fixed-seed uniform sample of records for the what-if renderings.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from ..schema import Ev, F
from ..sources.base import MESSAGE, TIMESTAMP, Record
from .monitoring import HOUR_MS, EmfHours, FilterHours

__all__ = [
    "DAY_MS",
    "EMF",
    "EVENT",
    "LOGGER",
    "OVERHEAD",
    "TEXT",
    "Tally",
    "Usage",
    "account",
    "is_text",
    "message_bytes",
    "span_text",
]

OVERHEAD: Final = 26
"""Bytes CloudWatch Logs counts per log event on top of its message."""
DAY_MS: Final = 86_400_000
# What a group key names.
EVENT, LOGGER, TEXT, EMF = "event", "logger", "text", "emf"
_NO_EVENT = "(no event)"
_NO_PATH = "(no path)"
_OTHERS = "(others)"
# Distinct names kept per table; past it, new names add to "(others)" (free-text events
# or raw paths could otherwise grow a table with every line).
_MAX_KEYS = 5000
_EMF_KEY = "_aws"


@dataclass(slots=True)
class Tally:
    """Events and their message bytes; ``billed`` adds the per-event overhead."""

    events: int = 0
    bytes: int = 0

    def add(self, size: int) -> None:
        self.events += 1
        self.bytes += size

    @property
    def billed(self) -> int:
        """Message bytes plus 26 bytes per event: what CloudWatch counts as ingested."""
        return self.bytes + OVERHEAD * self.events

    def as_dict(self, total: Tally) -> dict[str, Any]:
        """Counts and shares of ``total`` (billed bytes), JSON-ready."""
        return {
            "events": self.events,
            "bytes": self.bytes,
            "billed_bytes": self.billed,
            "event_share": round(self.events / total.events, 4) if total.events else 0.0,
            "byte_share": round(self.billed / total.billed, 4) if total.billed else 0.0,
        }


def message_bytes(record: Record) -> int:
    """The UTF-8 size of a record's message (undecodable bytes count as the bytes they were)."""
    msg = record.get(MESSAGE)
    if not isinstance(msg, str):
        # A record built without its line: the compact JSON of its own fields.
        fields = {k: v for k, v in record.items() if not str(k).startswith("@")}
        return len(orjson.dumps(fields, default=str))
    if msg.isascii():
        return len(msg)
    return len(msg.encode("utf-8", "surrogateescape"))


def is_text(record: Record) -> bool:
    """A text line: the record reader's ``TextRecord``, or a record of only the ``@`` fields
    whose line is not a JSON object (``{}`` is a structured line with no fields)."""
    if type(record).__name__ == "TextRecord":
        return True
    if len(record) > 4 or any(not str(k).startswith("@") for k in record):
        return False
    msg = record.get(MESSAGE)
    if not isinstance(msg, str) or not msg.lstrip().startswith("{"):
        return True
    try:
        return not isinstance(orjson.loads(msg), dict)
    except orjson.JSONDecodeError:
        return True


def _bump(table: dict[str, Tally], key: str, size: int) -> None:
    tally = table.get(key)
    if tally is None:
        if len(table) >= _MAX_KEYS:
            key = _OTHERS
        tally = table.setdefault(key, Tally())
    tally.add(size)


@dataclass(slots=True)
class Usage:
    """What the records read add up to; fill it with :func:`account`."""

    total: Tally = field(default_factory=Tally)
    by_event: dict[str, Tally] = field(default_factory=dict)
    by_logger: dict[str, Tally] = field(default_factory=dict)
    text: Tally = field(default_factory=Tally)
    emf: Tally = field(default_factory=Tally)
    by_level: dict[str, Tally] = field(default_factory=dict)
    by_route: dict[str, Tally] = field(default_factory=dict)
    first_ms: int | None = None
    last_ms: int | None = None
    iso_lines: int = 0
    """Structured lines whose ``ts`` is ISO 8601 text."""
    iso_extra_bytes: int = 0
    """Bytes those ``ts`` values take beyond epoch milliseconds."""
    filters: FilterHours = field(default_factory=FilterHours)
    emf_metrics: EmfHours = field(default_factory=EmfHours)
    sample: list[Record] = field(default_factory=list)
    """A uniform sample of the records (fixed seed), for the what-if renderings."""

    @property
    def span_ms(self) -> int:
        """Milliseconds from the first to the last event with a time (0: cannot project)."""
        if self.first_ms is None or self.last_ms is None:
            return 0
        return self.last_ms - self.first_ms

    @property
    def hours(self) -> int:
        """Clock hours the events read touch (billing hours of a metric), at least 1."""
        if self.first_ms is None or self.last_ms is None:
            return 1
        return self.last_ms // HOUR_MS - self.first_ms // HOUR_MS + 1

    def per_day(self, value: float) -> float | None:
        """``value`` (seen over the time read) as a daily rate; None when no time passed."""
        return value * DAY_MS / self.span_ms if self.span_ms > 0 else None

    def groups(self) -> list[tuple[str, str, Tally]]:
        """(kind, name, tally) of every event type, biggest billed bytes first."""
        rows = [(EVENT, k, t) for k, t in self.by_event.items()]
        rows += [(LOGGER, k, t) for k, t in self.by_logger.items()]
        rows += [
            (kind, name, t)
            for kind, name, t in ((TEXT, "text lines", self.text), (EMF, "EMF metrics", self.emf))
            if t.events
        ]
        return sorted(rows, key=lambda r: (-r[2].billed, r[0], r[1]))


def _ts_extra(record: Record) -> int:
    ts, ms = record.get(F.TS), record.get(TIMESTAMP)
    if not isinstance(ts, str) or not isinstance(ms, int):
        return -1
    return len(orjson.dumps(ts)) - len(str(ms))


def _observe_time(usage: Usage, ts: object) -> int | None:
    if not isinstance(ts, int):
        return None
    if usage.first_ms is None or ts < usage.first_ms:
        usage.first_ms = ts
    if usage.last_ms is None or ts > usage.last_ms:
        usage.last_ms = ts
    return ts // HOUR_MS


def _structured(usage: Usage, record: Record, size: int, hour: int | None) -> None:
    level = record.get(F.LEVEL)
    _bump(usage.by_level, level.upper() if isinstance(level, str) else "-", size)
    if _EMF_KEY in record:
        usage.emf.add(size)
        usage.emf_metrics.add(record, hour)
        return
    extra = _ts_extra(record)
    if extra >= 0:
        usage.iso_lines += 1
        usage.iso_extra_bytes += extra
    logger, event = record.get(F.LOGGER), record.get(F.EVENT)
    if isinstance(logger, str):
        _bump(usage.by_logger, logger, size)
    else:
        _bump(usage.by_event, event if isinstance(event, str) else _NO_EVENT, size)
        if event == Ev.REQUEST:
            path = record.get(F.PATH)
            _bump(usage.by_route, path if isinstance(path, str) else _NO_PATH, size)
    if hour is not None:
        message = record.get(MESSAGE)
        usage.filters.add(record, message if isinstance(message, str) else "", hour)


def account(
    records: Iterable[Record],
    *,
    slow_threshold: float = 2.0,
    sample_size: int = 2000,
    seed: int = 0,
) -> Usage:
    """Add up ``records`` (structured and text lines, as the record reader yields them).

    ``slow_threshold`` is the one setup's slow-request filter uses; ``sample_size``
    records are kept, uniformly at random with a fixed ``seed``, for the what-if.
    """
    usage = Usage(filters=FilterHours(slow_threshold))
    total, sample = usage.total, usage.sample
    rng = random.Random(seed)
    for record in records:
        size = message_bytes(record)
        total.add(size)
        hour = _observe_time(usage, record.get(TIMESTAMP))
        # Algorithm R: every record ends up in the sample with the same probability.
        if len(sample) < sample_size:
            sample.append(record)
        else:
            slot = rng.randrange(total.events)
            if slot < sample_size:
                sample[slot] = record
        if is_text(record):
            usage.text.add(size)
            _bump(usage.by_level, "-", size)
        else:
            _structured(usage, record, size, hour)
    return usage


def span_text(ms: int) -> str:
    """``7000`` -> ``7 s``, ``1500000`` -> ``25 min``, else hours with 2 decimals: a
    projection from seconds of logs must not read as ``0.00 h``."""
    if ms < 120_000:
        return f"{ms / 1000:,.0f} s"
    if ms < 3_600_000:
        return f"{ms / 60_000:,.0f} min"
    return f"{ms / 3_600_000:,.2f} h"
