"""The ``slow`` report: the slowest requests over a threshold."""

from __future__ import annotations

from .. import _config
from ..schema import F
from ..sources.base import Source
from . import _insights, _local
from ._types import Report, page, wanted

__all__ = ["slow"]


def slow(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    threshold: float | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Requests slower than ``threshold`` seconds (default: the ``slow_threshold``
    setting), slowest first.

    Each row: ``ts`` (epoch ms), ``method``, ``path``, ``duration`` (s), ``status``, ``cid``.
    """
    limit_s = _config.resolve().slow_threshold if threshold is None else float(threshold)
    n = wanted(limit, cursor)
    rows = None
    capped = not _local.local(source)  # Insights returns at most the rows asked for
    if capped:
        text = _insights.saved_query(
            "slow",
            threshold=(f"{F.DURATION} > 2", f"{F.DURATION} >= {limit_s!r}"),
            limit=("| limit 50", f"| limit {n - 1}"),
        )
        rows = source.run_insights(text, since_ms, until_ms)
    if rows is None:
        from ..sources import aggregate

        capped = False
        rows = _local.run_aggregate(
            source,
            since_ms,
            until_ms,
            name=f"slow:{limit_s}:{n}",
            compute=lambda con, fr: aggregate.slow(con, fr, limit_s, n),
            need=aggregate.need("slow", limit_s),
        )
    shown, after = page(rows, limit, cursor, more=capped and len(rows) >= n - 1)
    return Report(shown, source.stats, after)
