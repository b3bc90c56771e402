"""The ``errors`` report: error fingerprints, most frequent first."""

from __future__ import annotations

from ..sources.base import Source
from . import _insights, _local
from ._types import Report, page, wanted

__all__ = ["errors"]


def errors(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Error fingerprints in ``[since_ms, until_ms)``, most occurrences first.

    Each row: ``hash``, ``count`` (occurrences), ``sev``, ``type``, ``msg``, ``endpoints``,
    ``first_ts``, ``last_ts`` (epoch ms) and ``cid`` (an example correlation id). A
    source that runs Logs Insights (CloudWatch) answers with the saved ``top-errors`` query.
    """
    n = wanted(limit, cursor)
    rows = None
    capped = not _local.local(source)  # Insights returns at most the rows asked for
    if capped:
        text = _insights.saved_query("top-errors", limit=("| limit 20", f"| limit {n - 1}"))
        rows = source.run_insights(text, since_ms, until_ms)
    if rows is None:
        from ..sources import aggregate

        capped = False
        rows = _local.run_aggregate(
            source,
            since_ms,
            until_ms,
            name=f"errors:{n}",
            compute=lambda con, fr: aggregate.errors(con, fr, n),
            need=aggregate.need("errors"),
        )
    shown, after = page(rows, limit, cursor, more=capped and len(rows) >= n - 1)
    return Report(shown, source.stats, after)
