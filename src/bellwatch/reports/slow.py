"""The ``slow`` report: the requests slower than a threshold, slowest first."""

from __future__ import annotations

from typing import Any

from .. import _settings
from ..schema import F
from ..sources.base import TIMESTAMP, Source
from ..sources.facts import SLOW_FLOOR, SLOW_SPLIT, Facts, slowest
from . import _facts, _insights
from ._types import Report, answer, page, wanted

__all__ = ["rows", "slow"]


def slow(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    threshold: float | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Requests that took longer than ``threshold`` seconds (default: the ``slow_threshold``
    setting; ``>``, as the middleware and the metric filter count them), slowest first.

    Each row: ``ts`` (epoch ms), ``method``, ``path``, ``duration`` (s), ``status``, ``cid``.
    """
    limit_s = _settings.resolve().slow_threshold if threshold is None else float(threshold)
    n = wanted(limit, cursor)
    if not _facts.local(source):
        text = _insights.saved_query(
            "slow", slow_threshold=limit_s, limit=("| limit 50", f"| limit {n - 1}")
        )
        found = source.run_insights(text, since_ms, until_ms)
        if found is not None:
            shaped = [_local_shape(r) for r in found]
            shown, after = page(shaped, limit, cursor, more=len(found) >= n - 1)
            return answer(shown, source.stats, after)
    floor = min(SLOW_FLOOR, limit_s)  # below the cached floor: fold again with this one
    facts = _facts.gather(source, since_ms, until_ms, floor=floor)
    shown, after = page(rows(facts, limit_s, n), limit, cursor)
    return answer(shown, source.stats, after)


def _local_shape(row: dict[str, Any]) -> dict[str, Any]:
    """A row of the saved ``slow`` query in the local report's shape (``ts``, not
    ``@timestamp``), so both sources answer alike."""
    keys = (F.METHOD, F.PATH, F.DURATION, F.STATUS, F.CID)
    return {"ts": row.get(TIMESTAMP), **{k: row.get(k) for k in keys}}


def rows(facts: Facts, threshold: float, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` requests of ``facts`` slower than ``threshold``, slowest first."""
    if threshold < facts.floor:
        raise ValueError(f"facts keep requests over {facts.floor}s, not {threshold}s")
    found = slowest(facts.slow, threshold, limit)
    if len(found) < limit and threshold < SLOW_SPLIT:  # the faster band is needed too
        found += slowest(facts.slow_lo, threshold, limit - len(found))
    return [
        {"ts": ts, "method": m, "path": p, "duration": d, "status": s, "cid": c}
        for ts, m, p, d, s, c in found
    ]
