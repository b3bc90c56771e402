"""The ``twilio`` report: webhook failures grouped by CallSid."""

from __future__ import annotations

from ..sources.base import Source
from . import _insights, _local
from ._types import Report, page, wanted

__all__ = ["twilio"]


def twilio(
    source: Source,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    limit: int = 50,
    cursor: str | None = None,
) -> Report:
    """Twilio webhook failures (non-2xx answers, bad signatures) per CallSid, most first:
    ``sid``, ``failures``, ``bad_signatures``, ``statuses``, ``cid`` and, locally, the
    ``paths`` and ``first_ts``/``last_ts`` (epoch ms)."""
    n = wanted(limit, cursor)
    run: _insights.RunQuery = lambda text: source.run_insights(text, since_ms, until_ms)  # noqa: E731
    rows = None if _local.local(source) else _insights.twilio(run)
    if rows is None:
        from ..sources import aggregate

        rows = _local.run_aggregate(
            source,
            since_ms,
            until_ms,
            name=f"twilio:{n}",
            compute=lambda con, fr: aggregate.twilio(con, fr, n),
            need=aggregate.need("twilio"),
        )
    shown, after = page(rows, limit, cursor)
    return Report(shown, source.stats, after)
