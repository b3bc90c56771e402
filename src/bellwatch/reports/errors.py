"""The ``errors`` report: error fingerprints, most occurrences first."""

from __future__ import annotations

from typing import Any

from ..sources.base import Source
from ..sources.facts import Facts
from . import _facts, _insights
from ._types import Report, answer, page, wanted
from .users import users_per_error

__all__ = ["errors", "rows"]


def errors(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Error fingerprints in ``[since_ms, until_ms)``, most occurrences first.

    Each row: ``hash``, ``count`` (occurrences: the sum of ``n`` over the fingerprint's
    error lines), ``users`` (distinct ``uid`` on the lines that carry its hash: request
    lines name the error recorded during them), ``sev``, ``type``, ``msg``, ``endpoints``,
    ``first_ts``, ``last_ts`` (epoch ms) and ``cid`` (the newest example correlation id).
    A source that runs Logs Insights (CloudWatch) answers with the saved ``top-errors``
    query, and its users with a ``count_distinct`` (approximate for many users).
    """
    n = wanted(limit, cursor)
    if not _facts.local(source):
        text = _insights.saved_query("top-errors", limit=("| limit 20", f"| limit {n - 1}"))
        found = source.run_insights(text, since_ms, until_ms)
        if found is not None:
            shown, after = page(_insights.errors(found), limit, cursor, more=len(found) >= n - 1)
            affected = users_per_error(source, since_ms, until_ms)
            for row in shown:
                row["users"] = affected.get(row["hash"], 0)
            return answer(shown, source.stats, after)
    shown, after = page(rows(_facts.gather(source, since_ms, until_ms)), limit, cursor)
    return answer(shown, source.stats, after)


def rows(facts: Facts) -> list[dict[str, Any]]:
    """Every fingerprint of ``facts``, most occurrences first, then most recent."""
    affected = facts.eu
    out = [
        {
            "hash": key,
            "count": r[0],
            "users": len(affected.get(key, ())),
            "sev": r[2],
            "type": r[4],
            "msg": r[5],
            "endpoints": sorted(r[9]),
            "first_ts": r[3],
            "last_ts": r[6],
            "cid": r[7],
        }
        for key, r in facts.err.items()
    ]
    out.sort(key=lambda r: (-r["count"], r["last_ts"] is None, -(r["last_ts"] or 0), r["hash"]))
    return out
