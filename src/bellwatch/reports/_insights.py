"""The reports as saved Logs Insights queries, for sources that run queries where the logs live.

CloudWatch answers ``errors``, ``slow``, ``endpoints``, ``twilio`` and ``summary`` with the
saved queries of :mod:`bellwatch.query.saved`; this module turns their rows into the
shape the local reports give. ``run(query_text)`` is a source's ``run_insights`` for the
window; ``None`` from it (the source has no query engine) is passed on, and the caller
computes the report locally.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from ..query.flags import at_least, between, equals
from ..schema import Ev, F, Sev

__all__ = [
    "TOTALS_QUERY",
    "RunQuery",
    "collect",
    "endpoints",
    "errors",
    "saved_query",
    "twilio",
]

RunQuery = Callable[[str], "list[dict[str, Any]] | None"]

TOTALS_QUERY = (
    f"fields {equals(F.EVENT, Ev.REQUEST)} as is_req, {at_least(F.STATUS, 500)} as is_5xx,"
    f" {between(F.STATUS, 400, 500)} as is_4xx\n"
    "| stats count(*) as lines, sum(is_req) as requests, sum(is_5xx) as s5xx,"
    f" sum(is_4xx) as s4xx, pct({F.DURATION}, 50) as p50, pct({F.DURATION}, 95) as p95,"
    " min(@timestamp) as first_ts, max(@timestamp) as last_ts"
)
"""The summary's headline numbers as one Logs Insights query."""


def saved_query(
    name: str, *, slow_threshold: float | None = None, **replace: tuple[str, str]
) -> str:
    """The text of the saved query ``name``, with literal parts swapped (``old``, ``new``);
    ``slow`` counts requests over ``slow_threshold`` seconds (default: the setting).

    Raises:
        ValueError: a part to swap is not in the query (the saved text changed).
    """
    from ..query.saved import by_name

    text = by_name(name, slow_threshold).query
    for old, new in replace.values():
        if old not in text:
            raise ValueError(f"saved query {name!r} has no {old!r} to replace")
        text = text.replace(old, new)
    return text


def collect(run: RunQuery) -> dict[str, Any] | None:
    """The digest's facts from Logs Insights queries run where the logs live.

    Facts Insights does not return (severity, last-seen time of an error) are left empty.
    """
    from ..query.saved import by_name

    head = run(TOTALS_QUERY)
    if head is None:
        return None
    totals: dict[str, Any] = {k: 0 for k in ("lines", "requests", "s5xx", "s4xx")}
    totals |= {"p50": None, "p95": None, "first_ts": None, "last_ts": None}
    totals |= {k: v for k, v in (head[0] if head else {}).items() if v is not None}
    totals["first_ts"], totals["last_ts"] = _ms(totals["first_ts"]), _ms(totals["last_ts"])
    totals["error_rate"] = totals["s5xx"] / totals["requests"] if totals["requests"] else 0.0
    return {
        "totals": totals,
        "endpoints": endpoints(run) or [],
        "errors": errors(run(by_name("top-errors").query) or []),
        "twilio": twilio(run) or [],
    }


def errors(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved ``top-errors`` query's rows in the local report's shape (the routes, which
    Insights cannot list per group, are left empty)."""
    return [
        {
            "hash": r.get(F.ERROR_HASH),
            "count": r.get("occurrences") or 0,
            "sev": _severity(r.get("severity")),
            "type": r.get("error_type"),
            "msg": r.get("message"),
            "endpoints": [],
            "first_ts": _ms(r.get("first_seen")),
            "last_ts": _ms(r.get("last_seen")),
            "cid": r.get("example_cid"),
        }
        for r in rows
        if r.get(F.ERROR_HASH) is not None
    ]


def endpoints(run: RunQuery) -> list[dict[str, Any]] | None:
    """Per endpoint, in the local report's shape, from the saved ``latency`` and
    ``error-rate`` queries (``error_rate`` a 0..1 fraction)."""
    from ..query.saved import by_name

    latency = run(by_name("latency").query)
    if latency is None:
        return None
    rates = {
        (r.get(F.METHOD), r.get(F.PATH)): (r.get("error_rate_pct") or 0) / 100
        for r in run(by_name("error-rate").query) or []
    }
    rows: list[dict[str, Any]] = [
        {
            "method": r.get(F.METHOD),
            "path": r.get(F.PATH),
            "count": r.get("requests") or 0,
            "avg": r.get("avg_s"),
            "p95": r.get("p95_s"),
            "max": r.get("max_s"),
            "error_rate": rates.get((r.get(F.METHOD), r.get(F.PATH)), 0.0),
        }
        for r in latency
    ]
    rows.sort(key=lambda e: (-e["count"], str(e["path"])))
    return rows


def twilio(run: RunQuery) -> list[dict[str, Any]] | None:
    """Twilio failures per CallSid, in the local report's shape, from the saved
    ``twilio-failures`` query."""
    from ..query.saved import by_name

    rows = run(by_name("twilio-failures").query)
    return None if rows is None else _twilio_by_sid(rows)


def _severity(rank: Any) -> str | None:
    """The saved query's severity rank (1 low .. 4 critical) as its name."""
    if isinstance(rank, float) and rank.is_integer():
        rank = int(rank)
    if isinstance(rank, int) and 1 <= rank <= len(Sev.ORDER):
        return Sev.ORDER[rank - 1]
    return None


def _ms(value: Any) -> int | None:
    """Epoch ms from the local engine's int or CloudWatch's ``2025-09-26 20:30:00.000`` text."""
    if isinstance(value, int) or value is None:
        return value
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return int(stamp.replace(tzinfo=stamp.tzinfo or UTC).timestamp() * 1000)


def _twilio_by_sid(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The saved query's rows (one per CallSid) in the local report's shape."""
    out: list[dict[str, Any]] = [
        {
            "sid": str(r.get(F.SESSION_ID) or "?"),
            "failures": r.get("failures") or 0,
            "bad_signatures": r.get("bad_signatures") or 0,
            "statuses": [],
            "cid": r.get("example_cid"),
        }
        for r in rows
    ]
    return sorted(out, key=lambda w: (-w["failures"], w["sid"]))
