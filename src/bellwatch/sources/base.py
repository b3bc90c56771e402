"""The ``Source`` protocol: where the commands and reports read log events from.

A source yields *records*, one per log event (see :mod:`.reader` for what makes a line
an event): the event's JSON fields, plus four keys named as CloudWatch Logs Insights
names them, so that the local query engines and CloudWatch see the same shape:

- ``@timestamp``: epoch milliseconds (from ``ts``, which may be epoch ms or ISO 8601),
- ``@message``: the raw line, as text,
- ``@logStream``: the file (or CloudWatch log stream) it came from,
- ``@log``: the directory (or CloudWatch log group).

A line that is not one JSON object (a banner, a traceback line, a truncated or binary
line) is a *text* event: a :class:`TextRecord` carrying only those four keys.

Implementations: :mod:`bellwatch.sources.files` (local JSONL, ``.gz``, stdin) and
:mod:`bellwatch.sources.cloudwatch`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "LOG",
    "LOG_STREAM",
    "MESSAGE",
    "SYSTEM_FIELDS",
    "TIMESTAMP",
    "Record",
    "ScanStats",
    "Source",
    "SourceError",
    "TextRecord",
]

# The Insights system fields every record carries.
TIMESTAMP = "@timestamp"
MESSAGE = "@message"
LOG_STREAM = "@logStream"
LOG = "@log"
SYSTEM_FIELDS = frozenset({TIMESTAMP, MESSAGE, LOG_STREAM, LOG})

Record = dict[str, Any]
"""One log event: its JSON fields (none for a text event) plus the four ``@`` fields."""


class TextRecord(dict[str, Any]):
    """A text event: a line that is not one JSON object; only the four ``@`` fields.

    A ``dict`` like any record, so queries read it the same way; its type says that it
    has no fields of its own (a JSON ``{}`` is a structured event with none either).
    """

    __slots__ = ()


class SourceError(Exception):
    """A source cannot be read at all (missing file, unreadable directory, no credentials).

    The CLI prints the message (no traceback) and exits with code 2.
    """


@dataclass(slots=True)
class ScanStats:
    """What a scan read, and what it could not; filled in while events are yielded."""

    records: int = 0
    """Structured events read (lines that are one JSON object)."""
    text_lines: int = 0
    """Text events read (non-blank lines that are not one JSON object)."""
    bytes_read: int = 0
    """Bytes consumed so far (for progress bars)."""
    bytes_total: int = 0
    """Bytes expected in total when known up front, else 0."""
    files: int = 0
    """Files (or streams) opened."""
    skipped_sources: list[str] = field(default_factory=list)
    """One line each naming a source that could not be read (whole or in part), and why."""
    warnings: list[str] = field(default_factory=list)
    """Other things that could not be used (the cache), one line each, and why."""

    def merge(self, other: ScanStats) -> None:
        """Add another scan's counts to this one."""
        self.records += other.records
        self.text_lines += other.text_lines
        self.bytes_read += other.bytes_read
        self.bytes_total += other.bytes_total
        self.files += other.files
        self.skipped_sources += [s for s in other.skipped_sources if s not in self.skipped_sources]
        self.warnings += [w for w in other.warnings if w not in self.warnings]

    def skip_source(self, name: str, why: str) -> None:
        """Record a source that could not be read (once per name and reason)."""
        line = f"{name}: {why}"
        if line not in self.skipped_sources:
            self.skipped_sources.append(line)

    def text_note(self) -> str | None:
        """The closing note about text events, or ``None`` when there were none."""
        if not self.text_lines:
            return None
        what = "text line" if self.text_lines == 1 else "text lines"
        total = self.records + self.text_lines
        return f"{self.text_lines:,} {what} (not JSON) among {total:,} events"

    def as_dict(self) -> dict[str, Any]:
        """The statistics as JSON-ready values (what a report's caller may print or send)."""
        return {
            "records": self.records,
            "text_lines": self.text_lines,
            "skipped_sources": list(self.skipped_sources),
            "bytes_scanned": self.bytes_read,
        }


@runtime_checkable
class Source(Protocol):
    """Anything the CLI can read log records from.

    ``since_ms`` / ``until_ms`` are epoch milliseconds, inclusive / exclusive,
    ``None`` meaning unbounded. A source may use them (and ``pattern``) to read
    less, but callers still apply their own time window and pattern to what is
    yielded, so a source that ignores these hints is correct, only slower.
    Raise :class:`SourceError` for failures the user must fix.
    """

    stats: ScanStats
    """Counts for everything read through this source so far."""

    def describe(self) -> str:
        """A short human name for messages, e.g. ``logs/*.jsonl*`` or ``/ecs/bella-prod``."""
        ...

    def records(
        self,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> Iterator[Record]:
        """Yield every event (structured and text) in time order per stream.

        ``pattern`` is a CloudWatch filter pattern the source may evaluate
        server-side to transfer less; it is a hint only.
        """
        ...

    def follow(
        self,
        since_ms: int | None = None,
        *,
        pattern: str | None = None,
        poll_interval: float = 1.0,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Record]:
        """Yield new records as they arrive (``tail -f``), until ``stop()`` is true.

        Files follow appends and rotation; CloudWatch polls or live-tails.
        """
        ...

    def run_insights(
        self, query_text: str, since_ms: int | None, until_ms: int | None
    ) -> list[dict[str, Any]] | None:
        """Run a Logs Insights query where the logs live, or return ``None``.

        ``None`` means "not supported here": the CLI then runs the query locally
        over :meth:`records` with :mod:`bellwatch.query.insights`.
        """
        ...
