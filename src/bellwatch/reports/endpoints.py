"""The ``endpoints`` report: traffic, latency and 5xx rate per route."""

from __future__ import annotations

from typing import Any

from ..sources import histogram
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


def rows(facts: Facts) -> list[dict[str, Any]]:
    """Every endpoint of ``facts``, most requests first."""
    out = []
    for (method, path), e in _methods_filled(facts.ep).items():
        count, without, peak, n5xx, _n4xx, hist = e
        known = count - without
        out.append(
            {
                "method": method,
                "path": path,
                "count": count,
                "avg": histogram.mean(hist, known),
                "p95": histogram.percentile(hist, 95),
                "max": peak,
                "error_rate": n5xx / count if count else None,
            }
        )
    out.sort(key=lambda r: (-r["count"], r["path"] is None, r["path"] or "", r["method"] or ""))
    return out


def _methods_filled(ep: dict[tuple[Any, Any], list[Any]]) -> dict[tuple[Any, Any], list[Any]]:
    """Request lines whose method the line budget dropped, counted under their route's
    one method when the route has exactly one: one row per route, not a ``None`` row
    beside it. A route served under several methods keeps its method-less row."""
    methods: dict[Any, list[Any]] = {}
    for method, path in ep:
        if method is not None:
            methods.setdefault(path, []).append(method)
    out: dict[tuple[Any, Any], list[Any]] = {}
    for (method, path), e in ep.items():
        known = methods.get(path, [])
        key = (known[0], path) if method is None and len(known) == 1 else (method, path)
        into = out.get(key)
        if into is None:
            out[key] = list(e)
            continue
        into[0] += e[0]
        into[1] += e[1]
        into[2] = e[2] if into[2] is None else (into[2] if e[2] is None else max(into[2], e[2]))
        into[3] += e[3]
        into[4] += e[4]
        into[5] = histogram.merged(into[5], e[5])
    return out
