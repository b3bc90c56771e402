"""The ``endpoints`` report: traffic, latency and 5xx rate per route."""

from __future__ import annotations

import math
from typing import Any

from ..query.percentile import from_histogram
from ..sources.base import Source
from ..sources.facts import Facts
from . import _facts, _insights
from ._types import Report, answer, page

__all__ = ["endpoints", "rows"]


def endpoints(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 100,
    cursor: str | None = None,
) -> Report:
    """Per endpoint, busiest first: ``method``, ``path``, ``count``, ``avg``, ``p95`` and
    ``max`` (seconds) and ``error_rate`` (the 5xx share, 0..1). ``p95`` is the percentile
    of :mod:`bellwatch.query.percentile`, as Logs Insights ``pct()`` computes it here."""
    if not _facts.local(source):
        found = _insights.endpoints(lambda text: source.run_insights(text, since_ms, until_ms))
        if found is not None:
            shown, after = page(found, limit, cursor)
            return answer(shown, source.stats, after)
    shown, after = page(rows(_facts.gather(source, since_ms, until_ms)), limit, cursor)
    return answer(shown, source.stats, after)


def average(hist: dict[float, int], known: int) -> float | None:
    """The mean of a duration histogram, summed exactly (the same for any fold order)."""
    return math.fsum(value * n for value, n in hist.items()) / known if known else None


def rows(facts: Facts) -> list[dict[str, Any]]:
    """Every endpoint of ``facts``, most requests first."""
    out = []
    for (method, path), e in facts.ep.items():
        count, without, peak, n5xx, _n4xx, hist = e
        known = count - without
        out.append(
            {
                "method": method,
                "path": path,
                "count": count,
                "avg": average(hist, known),
                "p95": from_histogram(hist, 95),
                "max": peak,
                "error_rate": n5xx / count if count else None,
            }
        )
    out.sort(key=lambda r: (-r["count"], r["path"] is None, r["path"] or "", r["method"] or ""))
    return out
