"""Each tool's answer: one library call (the CLI's), shaped by :mod:`.reply`.

Rows are redacted while they are still mappings (so secret keys are masked by name), then
laid out; times are ISO 8601 UTC to the second, durations seconds, rates 0..1.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from .. import reports
from ..log.redact import scrub
from ..reports import search
from ..schema import F
from ..sources.base import (
    LOG,
    LOG_STREAM,
    MESSAGE,
    TIMESTAMP,
    Record,
    Source,
    TextRecord,
)
from . import _text, reply
from ._context import Context
from ._digest import digest
from ._metered import Metered, scan_of
from .reply import Column, Reply

__all__ = [
    "LIMITS",
    "digest",
    "endpoints",
    "error_detail",
    "errors",
    "query",
    "service",
    "slow",
    "trace",
]

LIMITS = {"errors": 50, "slow": 50, "endpoints": 100, "trace": 200, "query": 200}
FETCH = 500  # rows asked of a report beyond the cursor: enough to count what is left out


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    if not cursor.isascii() or not cursor.isdigit():
        raise ValueError(f"not a cursor: {cursor!r}")
    return int(cursor)


def _rows(ctx: Context, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return reports.masked(rows, ctx.settings)


def _paged(
    ctx: Context,
    title: str,
    columns: tuple[Column, ...],
    report: reports.Report,
    *,
    args: dict[str, Any],
    tool: str,
    source: Source,
    extra: dict[str, Any] | None = None,
) -> Reply:
    return reply.table(
        title,
        columns,
        _rows(ctx, report.rows),
        budget=args["budget"],
        scan=scan_of(source),
        offset=_offset(args.get("cursor")),
        limit=args.get("limit", LIMITS[tool]),
        more=report.next_cursor is not None,
        extra=extra,
    )


def _secs(value: Any) -> Any:
    return round(value, 3) if isinstance(value, int | float) else value


def _pct(value: Any) -> Any:
    return round(value, 4) if isinstance(value, int | float) else value


AT_MOST = (
    "true: the count is at most this; the pattern also has lines before since, and a summary "
    "line's n counts occurrences since the one before it"
)
ERRORS = (
    Column("count", "count"),
    Column("users", "users"),
    Column("sev", "sev"),
    Column("hash", "hash"),
    Column("type", "type"),
    Column("msg", "msg", limit=200),
    Column("endpoints", "routes"),
    Column("first_ts", "first", _text.stamp),
    Column("last_ts", "last", _text.stamp),
    Column("cid", "cid"),
)
SLOW = (
    Column("duration", "seconds", _secs),
    Column("ts", "time", _text.stamp),
    Column("method", "method"),
    Column("path", "route"),
    Column("status", "status"),
    Column("cid", "cid"),
)
ENDPOINTS = (
    Column("method", "method"),
    Column("path", "route"),
    Column("count", "requests"),
    Column("avg", "avg_s", _secs),
    Column("p95", "p95_s", _secs),
    Column("max", "max_s", _secs),
    Column("error_rate", "rate_5xx", _pct),
)
EVENTS = (
    Column("time", "time", _text.stamp),
    Column("level", "level"),
    Column("event", "event", limit=120),
    Column("cid", "cid"),
    Column("detail", "detail", limit=400),
)


def errors(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    found = reports.errors(
        source, args.get("since"), args.get("until"), limit=FETCH, cursor=args.get("cursor")
    )
    if not any(row.get("count_is_upper_bound") for row in found.rows):
        return _paged(
            ctx, "errors by fingerprint", ERRORS, found, args=args, tool="errors", source=source
        )
    # as bellwatch errors shows ≤N: the column and its meaning only when a count is one
    columns = (ERRORS[0], Column("count_is_upper_bound", "at_most"), *ERRORS[1:])
    extra = {"at_most": AT_MOST}
    return _paged(
        ctx, "errors by fingerprint", columns, found, args=args, tool="errors", source=source,
        extra=extra,
    )  # fmt: skip


def slow(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    threshold = float(args.get("threshold", ctx.settings.slow_threshold))
    found = reports.slow(
        source,
        args.get("since"),
        args.get("until"),
        threshold=threshold,
        limit=FETCH,
        cursor=args.get("cursor"),
    )
    title = f"requests slower than {threshold:g}s"
    return _paged(ctx, title, SLOW, found, args=args, tool="slow", source=source)


def endpoints(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    found = reports.endpoints(
        source, args.get("since"), args.get("until"), limit=FETCH, cursor=args.get("cursor")
    )
    return _paged(ctx, "endpoints", ENDPOINTS, found, args=args, tool="endpoints", source=source)


def _event_row(record: Record) -> dict[str, Any]:
    """An event as a row: time, level, event, cid, and the rest (a text event: its line)."""
    if isinstance(record, TextRecord):
        return {"time": record.get(TIMESTAMP), "level": "text", "detail": record.get(MESSAGE)}
    shown = (F.TS, F.LEVEL, F.EVENT, F.CID, TIMESTAMP, MESSAGE, LOG_STREAM, LOG)
    return {
        "time": record.get(TIMESTAMP),
        "level": record.get(F.LEVEL),
        "event": record.get(F.EVENT),
        "cid": record.get(F.CID),
        "detail": {k: v for k, v in record.items() if k not in shown} or None,
    }


def _listed(
    ctx: Context,
    title: str,
    found: Iterator[dict[str, Any]],
    *,
    args: dict[str, Any],
    tool: str,
    source: Source,
    columns: tuple[Column, ...] | None = None,
    extra: dict[str, Any] | None = None,
) -> Reply:
    """Rows the tool pages itself: from the cursor, as many as can be shown and counted."""
    offset = _offset(args.get("cursor"))
    window = list(itertools.islice(found, offset, offset + FETCH + 1))
    more = len(window) > FETCH
    rows = _rows(ctx, window[:FETCH])
    if columns is None:  # a query's own columns: CloudWatch leaves a row's empty ones out,
        # so the fullest row gives their order, and any others follow as they first appear
        fullest = max(rows, key=len, default={})
        keys = dict.fromkeys([*fullest, *(k for row in rows for k in row)])
        columns = tuple(Column(k, k) for k in keys)
    return reply.table(
        title,
        columns,
        rows,
        budget=args["budget"],
        scan=scan_of(source),
        offset=offset,
        limit=args.get("limit", LIMITS[tool]),
        more=more,
        extra=extra,
    )


def trace(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    cid = args["cid"]
    found = search.trace(source, cid, args.get("since"), args.get("until"))
    rows = (_event_row(r) for r in found)
    extra = None if found else {"found": False}
    title = f"trace {_text.cell(cid)}"
    return _listed(
        ctx, title, rows, args=args, tool="trace", source=source, columns=EVENTS, extra=extra
    )


def query(ctx: Context, args: dict[str, Any]) -> Reply:
    source = Metered.open(ctx)
    text, since, until = args["text"], args.get("since"), args.get("until")
    if args["language"] == "filter":
        found = (_event_row(r) for r in search.matching(source, text, since, until))
        return _listed(
            ctx, "filter pattern", found, args=args, tool="query", source=source, columns=EVENTS
        )
    rows = search.insights(source, text, since, until)
    shaped = ({k: _insights_value(k, v) for k, v in row.items()} for row in rows)
    return _listed(ctx, "Logs Insights", shaped, args=args, tool="query", source=source)


def _insights_value(key: str, value: Any) -> Any:
    return _text.stamp(value) if key == TIMESTAMP else value


def error_detail(ctx: Context, args: dict[str, Any]) -> Reply:
    from ..reports.error_detail import error_detail as detail

    source = Metered.open(ctx)
    key = args["hash"]
    found = detail(source, key, args.get("since"), args.get("until"))
    scan = scan_of(source)
    if found.row is None:
        return reply.document(
            f"error {_text.cell(key)}: no line has this hash in the window",
            [],
            budget=args["budget"],
            scan=scan,
            head={"hash": _text.value(key), "found": False},
        )
    row = _rows(ctx, [found.row])[0]
    summary = {
        "count": row["count"],
        "sev": row["sev"],
        "type": row["type"],
        "msg": row["msg"],
        "first": _text.stamp(row["first_ts"]),
        "last": _text.stamp(row["last_ts"]),
        "lines": found.lines,
    }
    if row.get("count_is_upper_bound"):  # as the errors tool (and bellwatch errors' ≤N)
        summary = {"count": row["count"], "at_most": True, **summary}
    first = _rows(ctx, [found.first_line or {}])[0]
    first_line = {k: v for k, v in first.items() if k != TIMESTAMP}
    timeline = [[_text.stamp(t["from_ts"]), t["count"]] for t in found.timeline]
    routes = [[path, n] for path, n in found.routes]
    traceback = scrub(found.traceback, ctx.settings) if found.traceback else None
    parts = [
        ("summary", _text.value(summary), [_kv(summary)]),
        ("first_line", _text.value(first_line), ["first line: " + _kv(first_line, 600)]),
        ("traceback", _text.value(traceback, 1200),
         ["traceback: " + _text.cell(traceback, 1200)]),
        ("routes", _text.value(routes), ["routes: " + _pairs(routes)]),
        ("cids", _text.value(found.cids), ["example cids: " + _text.cell(found.cids)]),
        ("timeline", _text.value(timeline), ["occurrences from: " + _pairs(timeline)]),
        ("fingerprint", _text.value(found.explanation),
         ["fingerprint: " + _kv(found.explanation, 400)]),
    ]  # fmt: skip
    return reply.document(
        f"error {_text.cell(key)}",
        parts,
        budget=args["budget"],
        scan=scan,
        head={"hash": _text.value(key), "found": True},
    )


def _kv(data: dict[str, Any], limit: int = _text.TEXT_MAX) -> str:
    return " ".join(f"{_text.cell(k)}={_text.cell(v, limit)}" for k, v in data.items())


def _pairs(pairs: list[list[Any]]) -> str:
    return " ".join(f"{_text.cell(a)}:{_text.cell(b)}" for a, b in pairs) or "-"


def service(ctx: Context, args: dict[str, Any]) -> Reply:
    from ..reports.service import fetch, summarise

    base = ctx.url.rstrip("/")
    token = ctx.settings.metrics_token
    summary = summarise(fetch(base + "/metrics", token), fetch(base + "/health", token))
    summary = scrub(summary, ctx.settings)
    if summary.get("metrics_status") == 401:
        summary["note"] = "401 from /metrics: set BELLWATCH_METRICS_TOKEN for bellwatch mcp"
    elif summary.get("metrics_status") == 404:
        summary["note"] = (
            f"404 from {base}/metrics: --url is the service's base URL (http://host:port, "
            "without /metrics), and the service mounts bellwatch's endpoints"
        )
    head = {k: v for k, v in summary.items() if not isinstance(v, list | dict)}
    parts = [
        (k, _text.value(v), [f"{k}: {_text.cell(v, 600)}"])
        for k, v in summary.items()
        if isinstance(v, list | dict)
    ]
    return reply.document(
        f"service {_text.cell(base)}: {_kv(head)}",
        parts,
        budget=args["budget"],
        scan=None,
        head=_text.value(head),
    )
