"""The ``Source`` protocol: where the CLI reads log records from.

A source yields *records*: the parsed JSON object of one log line, plus four
keys named as CloudWatch Logs Insights names them, so that the local query
engines and CloudWatch see the same shape:

- ``@timestamp``: epoch milliseconds (from ``ts``, which may be epoch ms or ISO 8601),
- ``@message``: the raw line, as text,
- ``@logStream``: the file (or CloudWatch log stream) it came from,
- ``@log``: the directory (or CloudWatch log group).

Lines that are not a JSON object (banners, tracebacks, truncated or binary
lines) are never yielded: they are counted in :class:`ScanStats` and reported
once at the end of a command.

Implementations: :mod:`bellwatch.sources.files` (local JSONL, ``.gz``, stdin)
and ``bellwatch.sources.cloudwatch`` (issue 6).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

__all__ = [
    "LOG",
    "LOG_STREAM",
    "MESSAGE",
    "TIMESTAMP",
    "Record",
    "ScanStats",
    "Source",
    "SourceError",
]

# The Insights system fields every record carries.
TIMESTAMP = "@timestamp"
MESSAGE = "@message"
LOG_STREAM = "@logStream"
LOG = "@log"

Record = dict[str, Any]
"""One parsed log line: its JSON fields plus the four ``@`` fields above."""


class SourceError(Exception):
    """A source cannot be read at all (missing file, unreadable directory, no credentials).

    The CLI prints the message (no traceback) and exits with code 2.
    """


@dataclass(slots=True)
class ScanStats:
    """What a scan read and what it had to skip; filled in while records are yielded."""

    lines: int = 0
    """Lines seen, including skipped ones."""
    skipped: int = 0
    """Lines that were not a JSON object (non-JSON, truncated, binary)."""
    bytes_read: int = 0
    """Bytes consumed so far (for progress bars)."""
    bytes_total: int = 0
    """Bytes expected in total when known up front, else 0."""
    files: int = 0
    """Files (or streams) opened."""
    warnings: list[str] = field(default_factory=list)
    """One line each about what could not be used (a source, the cache) and why."""

    def merge(self, other: ScanStats) -> None:
        """Add another scan's counts to this one."""
        self.lines += other.lines
        self.skipped += other.skipped
        self.bytes_read += other.bytes_read
        self.bytes_total += other.bytes_total
        self.files += other.files
        self.warnings += other.warnings

    def skipped_note(self) -> str | None:
        """The one line the CLI prints at the end, or ``None`` when nothing was skipped."""
        if not self.skipped:
            return None
        what = "line that was not a JSON log record"
        if self.skipped != 1:
            what = "lines that were not JSON log records"
        if not self.lines:  # a scan that counts skipped lines only (the aggregates)
            return f"skipped {self.skipped:,} {what}"
        return f"skipped {self.skipped:,} {what} (of {self.lines:,} read)"


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
        """Yield records in time order per stream (streams may interleave).

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
