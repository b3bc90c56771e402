"""A source whose Logs Insights scans are counted apart, and what a reply says it read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..sources.base import Record, ScanStats, Source
from .reply import Scan

if TYPE_CHECKING:
    from ._context import Context

__all__ = ["Metered", "scan_of"]


class Metered:
    """A remote source (a CloudWatch log group) that also counts the bytes its Logs
    Insights queries scanned (``bytesScanned``), apart from what ``filter_log_events``
    returned. Local files are used as they are: they run no queries of their own."""

    def __init__(self, inner: Source) -> None:
        self.inner = inner
        self.stats: ScanStats = inner.stats
        self.insights_bytes = 0
        self.queries = 0

    @staticmethod
    def open(ctx: Context) -> Source:
        """A fresh source for one tool call, metered when it is remote."""
        from ..sources.files import FileSource

        source = ctx.open_source()
        return source if isinstance(source, FileSource) else Metered(source)

    def describe(self) -> str:
        return self.inner.describe()

    def records(
        self,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> Iterator[Record]:
        return self.inner.records(since_ms, until_ms, pattern=pattern)

    def follow(
        self,
        since_ms: int | None = None,
        *,
        pattern: str | None = None,
        poll_interval: float = 1.0,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Record]:
        return self.inner.follow(since_ms, pattern=pattern, poll_interval=poll_interval, stop=stop)

    def run_insights(
        self, query_text: str, since_ms: int | None, until_ms: int | None
    ) -> list[dict[str, Any]] | None:
        before = self.stats.bytes_read
        rows = self.inner.run_insights(query_text, since_ms, until_ms)
        if rows is not None:
            self.queries += 1
            self.insights_bytes += self.stats.bytes_read - before
        return rows


def scan_of(source: Source) -> Scan:
    """What ``source`` read for this reply, from its statistics."""
    from ..sources.files import FileSource

    stats = source.stats
    local = source if isinstance(source, FileSource) else None
    return Scan(
        log_bytes=local.total_bytes() if local is not None else None,
        compressed=local is not None and any(p.endswith(".gz") for p in local.paths()),
        records=stats.records,
        text_lines=stats.text_lines,
        bytes_scanned=stats.bytes_read,
        insights_bytes_scanned=(
            source.insights_bytes if isinstance(source, Metered) and source.queries else None
        ),
        skipped=list(stats.skipped_sources),
        notes=list(stats.warnings),
    )
