"""The ``endpoints`` report: traffic, latency and 5xx rate per route."""

from __future__ import annotations

from ..sources.base import Source
from . import _insights, _local
from ._types import Report, page, wanted

__all__ = ["endpoints"]


def endpoints(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> Report:
    """Per endpoint, busiest first: ``method``, ``path``, ``count``, ``avg``, ``p95`` and
    ``max`` (seconds) and ``error_rate`` (the 5xx share, 0..1)."""
    n = wanted(limit, cursor)
    run = _runner(source, since_ms, until_ms)
    rows = None if _local.local(source) else _insights.endpoints(run)
    if rows is None:
        from ..sources import aggregate

        rows = _local.run_aggregate(
            source,
            since_ms,
            until_ms,
            name=f"endpoints:{n}",
            compute=lambda con, fr: aggregate.endpoints(con, fr, n),
            need=aggregate.need("endpoints"),
        )
    shown, after = page(rows, limit, cursor)
    return Report(shown, source.stats, after)


def _runner(source: Source, since_ms: int | None, until_ms: int | None) -> _insights.RunQuery:
    return lambda text: source.run_insights(text, since_ms, until_ms)
