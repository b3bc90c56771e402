"""The ``twilio`` report: failed Twilio webhooks grouped by CallSid."""

from __future__ import annotations

from typing import Any

from ..sources.base import Source
from ..sources.facts import Facts
from . import _facts, _insights
from ._types import Report, answer, page

__all__ = ["rows", "twilio"]


def twilio(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Failed Twilio webhooks per CallSid, most first: ``sid``, ``failures`` (each failed
    webhook once, whether it failed its signature, got a non-2xx answer, or both),
    ``bad_signatures``, ``statuses``, ``cid`` and, locally, ``paths`` and
    ``first_ts``/``last_ts`` (epoch ms)."""
    if not _facts.local(source):
        found = _insights.twilio(lambda text: source.run_insights(text, since_ms, until_ms))
        if found is not None:
            shown, after = page(found, limit, cursor)
            return answer(shown, source.stats, after)
    shown, after = page(rows(_facts.gather(source, since_ms, until_ms)), limit, cursor)
    return answer(shown, source.stats, after)


def rows(facts: Facts) -> list[dict[str, Any]]:
    """Every CallSid with a failed webhook in ``facts``, most failures first."""
    out = [
        {
            "sid": sid,
            "failures": len(w[0]) + w[2],
            "bad_signatures": len(w[1]) + w[3],
            "statuses": sorted(w[4]),
            "paths": sorted(w[5]),
            "first_ts": w[6],
            "last_ts": w[7],
            "cid": w[8],
        }
        for sid, w in facts.tw.items()
    ]
    out.sort(key=lambda r: (-r["failures"], r["last_ts"] is None, -(r["last_ts"] or 0), r["sid"]))
    return out
