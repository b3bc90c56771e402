"""Progress on a terminal: a byte bar for long scans, spinners for reports and Logs Insights.

Rich is imported only when an indicator is actually drawn, so ``--help`` and ``tail``
stay light. Nothing here prints log text.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from ..sources.base import Record, Source

if TYPE_CHECKING:
    from rich.status import Status

__all__ = [
    "PROGRESS_BYTES",
    "InsightsSpinner",
    "byte_spinner",
    "describe_statistics",
    "progress_records",
]

PROGRESS_BYTES = 8 * 1024 * 1024  # show a progress indicator above this much input
_DONE = frozenset({"Complete", "Failed", "Cancelled", "Timeout"})


def progress_records(
    source: Source,
    since_ms: int | None,
    until_ms: int | None,
    pattern: str | None = None,
) -> Iterator[Record]:
    """The source's records, with a byte progress bar on a terminal for large inputs."""
    records = source.records(since_ms, until_ms, pattern=pattern)
    if not sys.stderr.isatty():
        yield from records
        return
    first = next(records, None)
    if first is None:
        return
    total = source.stats.bytes_total
    if total < PROGRESS_BYTES:
        yield first
        yield from records
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task("scanning", total=total)
        yield first
        for i, record in enumerate(records):
            if not i % 20_000:
                bar.update(task, completed=source.stats.bytes_read)
            yield record


@contextlib.contextmanager
def byte_spinner(size: int, quiet: bool) -> Iterator[None]:
    """A spinner while a report reads ``size`` bytes (terminal only, large inputs only)."""
    if size < PROGRESS_BYTES or not sys.stderr.isatty() or quiet:
        yield
        return
    from rich.console import Console

    with Console(stderr=True).status(f"reading {size / 1e6:,.0f} MB of logs"):
        yield


class InsightsSpinner:
    """The ``progress`` callback of a CloudWatch source: a Rich spinner on a terminal.

    Called after each ``get_query_results`` poll with the query's status and statistics;
    the spinner shows them and disappears when the query is done (or on :meth:`stop`).
    Off a terminal, or with ``--json``, it draws nothing.
    """

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.polls = 0
        self.last: tuple[str, dict[str, float]] | None = None
        self._status: Status | None = None

    def __call__(self, status: str, statistics: Mapping[str, float]) -> None:
        self.polls += 1
        self.last = (status, dict(statistics))
        if status in _DONE:
            self.stop()
            return
        if not self.enabled:
            return
        text = f"Logs Insights: {status.lower()}" + describe_statistics(statistics)
        if self._status is None:
            from rich.console import Console

            self._status = Console(stderr=True).status(text)
            self._status.start()
        else:
            self._status.update(text)

    def stop(self) -> None:
        """Remove the spinner (idempotent)."""
        if self._status is not None:
            self._status.stop()
            self._status = None


def describe_statistics(statistics: Mapping[str, float]) -> str:
    """``, 12,345 records, 3.2 MB scanned`` from Insights' statistics (empty when none)."""
    records = statistics.get("recordsScanned")
    scanned = statistics.get("bytesScanned")
    parts = []
    if records:
        parts.append(f"{int(records):,} records")
    if scanned:
        parts.append(f"{scanned / 1e6:,.1f} MB")
    return f", {', '.join(parts)} scanned" if parts else ""
