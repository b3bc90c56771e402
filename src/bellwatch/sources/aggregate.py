"""The aggregate reports (errors, slow, endpoints, twilio, totals) as DuckDB SQL.

Each function takes a connection and a :class:`Frame` (the relation to read,
from :mod:`.cache`, and the time window) and returns plain dicts, so the CLI,
``--json`` and :mod:`bellwatch.digest` share one computation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..schema import Ev, F, Sev
from . import _rollup, _rollup_sql

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "TWILIO_PREFIX",
    "Frame",
    "Need",
    "endpoints",
    "errors",
    "need",
    "slow",
    "totals",
    "twilio",
]

TWILIO_PREFIX = "/twilio"
STREAM_MARK = "-- bellwatch stream\n"
"""Starts a relation read straight from JSON whose junk rows the report counts."""
_JUNK_SEEN: dict[str, int] = {}
_JUNK = f'("{F.TS}" IS NULL AND "{F.EVENT}" IS NULL)'
_LOOKUP_MAX = 200  # pathless error lines looked up per fingerprint (older writers only)


@dataclass(frozen=True)
class Need:
    """What a report reads: a cold run parses only these columns, keeps only these rows."""

    columns: tuple[str, ...]
    where: str | None = None
    """SQL condition on a raw row (``None``: every row)."""


# Columns each report reads: a cold run parses only these from the JSON.
_COLUMNS: dict[str, tuple[str, ...]] = {
    "errors": (
        F.TS,
        F.LEVEL,
        F.EVENT,
        F.CID,
        F.PATH,
        F.ERROR_HASH,
        F.ERROR_TYPE,
        F.MESSAGE,
        F.SEVERITY,
        F.COUNT,
        F.WINDOW,
    ),
    "slow": (F.TS, F.EVENT, F.METHOD, F.PATH, F.DURATION, F.STATUS, F.CID),
    "endpoints": (F.EVENT, F.METHOD, F.PATH, F.DURATION, F.STATUS),
    "twilio": (F.TS, F.EVENT, F.SESSION_ID, F.STATUS, F.PATH, F.CID),
    "totals": (F.TS, F.LEVEL, F.EVENT, F.STATUS, F.DURATION),
}


def need(report: str, threshold: float = 0.0) -> Need:
    """The :class:`Need` of ``errors``, ``slow``, ``endpoints``, ``twilio`` or ``totals``."""
    req = f"{Q.EVENT} = '{Ev.REQUEST}'"
    where = {
        # a superset the JSON reader filters fast: the report applies _ERROR_LINE itself
        "errors": f"{Q.ERROR_HASH} IS NOT NULL",
        "slow": f"{req} AND {Q.DURATION} >= {float(threshold)}",
        "endpoints": req,
        "twilio": f"{Q.EVENT} = '{Ev.SIGNATURE_FAILED}' OR ({req} AND {_twilio_fail()})",
        "totals": None,
    }[report]
    return Need(_COLUMNS[report], where)


def _twilio_fail() -> str:
    return f"starts_with({Q.PATH}, '{TWILIO_PREFIX}') AND NOT ({Q.STATUS} BETWEEN 200 AND 299)"


class _Quoted:
    """``Q.CID`` is ``F.CID`` as a quoted SQL identifier (``count``, ``type`` are keywords)."""

    def __getattr__(self, name: str) -> str:
        return '"' + str(getattr(F, name)) + '"'


Q = _Quoted()

# Our error events, or a first occurrence logged through a logger under the app's own
# event name (it carries the hash at ERROR level; alert lines are WARNING).
_ERROR_LINE = (
    f"{Q.EVENT} IN ('{Ev.ERROR}', '{Ev.AGGREGATED_ERROR}') OR {Q.LEVEL} IN ('ERROR', 'CRITICAL')"
)
_SEV_RANK = "CASE " + " ".join(
    f"WHEN {Q.SEVERITY} = '{s}' THEN {i}" for i, s in enumerate(Sev.ORDER)
)


@dataclass(frozen=True)
class Frame:
    """A relation (SQL with the cache's columns) and an optional ``[since, until)`` window."""

    relation: str
    since_ms: int | None = None
    until_ms: int | None = None
    full: str | None = None
    """Every row (when ``relation`` was pre-filtered): for lookups outside the report's rows."""

    def sql(self) -> str:
        """``logs`` restricted to the window."""
        where = []
        if self.since_ms is not None:
            where.append(f"{Q.TS} >= {int(self.since_ms)}")
        if self.until_ms is not None:
            where.append(f"{Q.TS} < {int(self.until_ms)}")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        if where and self.relation.startswith(STREAM_MARK):
            clause += f" OR {_JUNK}"  # counted whatever the window, as from the cache
        return f"(SELECT * FROM ({self.relation}){clause})"  # noqa: S608 - our own SQL


def _rolled(frame: Frame) -> _rollup.Rollup | None:
    """The rollup behind ``frame`` when its facts are exact for the window, else ``None``."""
    rolled = _rollup_sql.lookup(frame.relation)
    return rolled if rolled is not None and rolled.covers(frame.since_ms, frame.until_ms) else None


def _from_rollup(
    frame: Frame, answer: Callable[[_rollup.Rollup], list[dict[str, Any]] | None]
) -> list[dict[str, Any]] | None:
    """``answer(rollup)``, or ``None`` when it cannot answer (or a section is damaged)."""
    rolled = _rolled(frame)
    if rolled is None:
        return None
    try:
        return answer(rolled)
    except (EOFError, ValueError, TypeError, KeyError, IndexError):
        return None  # a damaged section: DuckDB reads the Parquet cache instead


def _real(con: duckdb.DuckDBPyConnection, frame: Frame) -> Frame:
    """``frame`` with a rollup token replaced by its SQL relation (Parquet, via DuckDB)."""
    relation = _rollup_sql.resolve(con, frame.relation)
    return frame if relation is frame.relation else replace(frame, relation=relation, full=None)


def _rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def errors(con: duckdb.DuckDBPyConnection, frame: Frame, limit: int = 50) -> list[dict[str, Any]]:
    """Error fingerprints, most frequent first.

    ``count`` is the occurrences: the sum of the ``count`` of lines that carry a
    ``window`` (window mode: each says how many since the previous line), plus,
    over the other lines, the largest ``count`` (every-Nth mode: a running
    total) or their number when that is larger (a first ``error`` line counts
    1). Exact for a log of either mode. A writer that restarted (running totals
    start again) or switched modes gives a lower bound: each window-mode first
    line is counted only when no running total is larger.
    ``cid`` is the newest line's correlation id among lines that carry one
    (summary lines carry none).
    Endpoints come from the error lines' ``path``; for lines without one (older
    writers), from the request line with the same correlation id.
    """
    fast = _from_rollup(frame, lambda r: r.errors(limit))
    if fast is not None:
        return fast
    frame = _real(con, frame)
    junk = _junk_test(frame)
    rows = _rows(
        con,
        f"""
        SELECT CASE WHEN {junk} THEN NULL ELSE {Q.ERROR_HASH} END AS hash,
               coalesce(sum({Q.COUNT}) FILTER (WHERE {Q.WINDOW} IS NOT NULL), 0)
                   + greatest(coalesce(max({Q.COUNT}) FILTER (WHERE {Q.WINDOW} IS NULL), 0),
                              count(*) FILTER (WHERE {Q.WINDOW} IS NULL)) AS count,
               arg_max({Q.SEVERITY}, {_SEV_RANK} END) AS sev,
               arg_min({Q.ERROR_TYPE}, {Q.TS}) AS type,
               arg_min({Q.MESSAGE}, {Q.TS}) AS msg,
               list(DISTINCT {Q.PATH} ORDER BY {Q.PATH}) FILTER (WHERE {Q.PATH} IS NOT NULL)
                   AS endpoints,
               list(DISTINCT {Q.CID}) FILTER (WHERE {Q.PATH} IS NULL AND {Q.CID} IS NOT NULL)
                   AS pathless,
               min({Q.TS}) AS first_ts, max({Q.TS}) AS last_ts,
               arg_max({Q.CID}, {Q.TS}) FILTER (WHERE {Q.CID} IS NOT NULL) AS cid,
               {junk} AS _junk
        FROM {frame.sql()}
        WHERE (({_ERROR_LINE}) AND {Q.ERROR_HASH} IS NOT NULL) OR {junk}
        GROUP BY 1, _junk
        ORDER BY _junk DESC, count DESC, last_ts DESC
        LIMIT {int(limit) + 1}
        """,  # noqa: S608 - names from schema, numbers via int()/float()
    )
    rows = _without_junk(frame, rows, limit)
    lookups = [(row.pop("pathless") or [])[:_LOOKUP_MAX] for row in rows]
    wanted = sorted({cid for cids in lookups for cid in cids})
    found = _paths_of(con, frame, wanted) if wanted else {}
    for row, cids in zip(rows, lookups, strict=True):
        extra = {found[c] for c in cids if c in found}
        row["endpoints"] = sorted({*(row["endpoints"] or ()), *extra})
    return rows


def _paths_of(con: duckdb.DuckDBPyConnection, frame: Frame, cids: list[str]) -> dict[str, str]:
    """Request path per correlation id, read from every row (a second scan on a cold run)."""
    cur = con.execute(
        f"""
        SELECT {Q.CID}, any_value({Q.PATH}) FROM ({frame.full or frame.relation})
        WHERE {Q.EVENT} = '{Ev.REQUEST}' AND {Q.PATH} IS NOT NULL AND list_contains($1, {Q.CID})
        GROUP BY {Q.CID}
        """,  # noqa: S608 - names from schema; the ids are a bound parameter
        [cids],
    )
    return {str(cid): str(path) for cid, path in cur.fetchall()}


def slow(
    con: duckdb.DuckDBPyConnection, frame: Frame, threshold: float = 2.0, limit: int = 50
) -> list[dict[str, Any]]:
    """Requests at or over ``threshold`` seconds, slowest first."""
    fast = _from_rollup(frame, lambda r: r.slow_rows(float(threshold), limit))
    if fast is not None:
        return fast
    frame = _real(con, frame)
    return _rows(
        con,
        f"""
        SELECT {Q.TS} AS ts, {Q.METHOD} AS method, {Q.PATH} AS path,
               {Q.DURATION} AS duration, {Q.STATUS} AS status, {Q.CID} AS cid
        FROM {frame.sql()}
        WHERE {Q.EVENT} = '{Ev.REQUEST}' AND {Q.DURATION} >= {float(threshold)}
        ORDER BY {Q.DURATION} DESC, {Q.TS}
        LIMIT {int(limit)}
        """,  # noqa: S608 - names from schema, numbers via int()/float()
    )


def endpoints(
    con: duckdb.DuckDBPyConnection, frame: Frame, limit: int = 100
) -> list[dict[str, Any]]:
    """Per endpoint: requests, average and p95 seconds, 5xx rate; busiest first."""
    fast = _from_rollup(frame, lambda r: r.endpoints(limit))
    if fast is not None:
        return fast
    frame = _real(con, frame)
    junk = _junk_test(frame)
    rows = _rows(
        con,
        f"""
        SELECT {Q.METHOD} AS method, {Q.PATH} AS path, count(*) AS count,
               avg({Q.DURATION}) AS avg, quantile_cont({Q.DURATION}, 0.95) AS p95,
               max({Q.DURATION}) AS max,
               avg(CASE WHEN {Q.STATUS} >= 500 THEN 1.0 ELSE 0.0 END) AS error_rate,
               {junk} AS _junk
        FROM {frame.sql()}
        WHERE {Q.EVENT} = '{Ev.REQUEST}' OR {junk}
        GROUP BY {Q.METHOD}, {Q.PATH}, _junk
        ORDER BY _junk DESC, count DESC, path
        {"" if junk != "false" else f"LIMIT {int(limit)}"}
        """,  # noqa: S608 - names from schema, numbers via int()/float()
    )
    # Junk rows without ts and event but with a method or path form groups of their
    # own: every such group must be counted, so a streamed read has no SQL LIMIT
    # (endpoints are few).
    return _without_junk(frame, rows, limit)


def _junk_test(frame: Frame) -> str:
    """SQL true for the junk rows a streamed relation's report counts itself, else false."""
    return _JUNK if frame.relation.startswith(STREAM_MARK) else "false"


def _without_junk(frame: Frame, rows: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """The report's rows up to ``limit``; a streamed read's junk rows are counted, not kept.

    The one pass over the JSON also counts its non-JSON lines (all-NULL rows).
    """
    if frame.relation.startswith(STREAM_MARK):
        _JUNK_SEEN[frame.relation] = sum(r["count"] for r in rows if r["_junk"])
    return [r for r in rows if not r.pop("_junk")][: max(int(limit), 0)]


def junk_seen(relation: str) -> int | None:
    """Non-JSON lines a streamed report counted over ``relation`` (``None``: not run yet)."""
    return _JUNK_SEEN.get(relation)


def twilio(con: duckdb.DuckDBPyConnection, frame: Frame, limit: int = 50) -> list[dict[str, Any]]:
    """Twilio webhook failures (non-2xx on Twilio routes, bad signatures) grouped by CallSid."""
    frame = _real(con, frame)
    return _rows(
        con,
        f"""
        SELECT coalesce({Q.SESSION_ID}, '?') AS sid, count(*) AS failures,
               count(*) FILTER (WHERE {Q.EVENT} = '{Ev.SIGNATURE_FAILED}') AS bad_signatures,
               list(DISTINCT {Q.STATUS}) FILTER (WHERE {Q.STATUS} IS NOT NULL) AS statuses,
               list(DISTINCT {Q.PATH}) FILTER (WHERE {Q.PATH} IS NOT NULL) AS paths,
               min({Q.TS}) AS first_ts, max({Q.TS}) AS last_ts,
               arg_max({Q.CID}, {Q.TS}) AS cid
        FROM {frame.sql()}
        WHERE {Q.EVENT} = '{Ev.SIGNATURE_FAILED}'
           OR ({Q.EVENT} = '{Ev.REQUEST}' AND starts_with({Q.PATH}, '{TWILIO_PREFIX}')
               AND NOT ({Q.STATUS} BETWEEN 200 AND 299))
        GROUP BY 1
        ORDER BY failures DESC, last_ts DESC
        LIMIT {int(limit)}
        """,  # noqa: S608 - names from schema, numbers via int()/float()
    )


def totals(con: duckdb.DuckDBPyConnection, frame: Frame) -> dict[str, Any]:
    """Headline numbers: lines, requests, 5xx and 4xx counts, error lines, latency, time span."""
    frame = _real(con, frame)
    rows = _rows(
        con,
        f"""
        SELECT count(*) FILTER (WHERE {Q.TS} IS NOT NULL OR {Q.EVENT} IS NOT NULL) AS lines,
               count(*) FILTER (WHERE {Q.EVENT} = '{Ev.REQUEST}') AS requests,
               count(*) FILTER (WHERE {Q.EVENT} = '{Ev.REQUEST}' AND {Q.STATUS} >= 500) AS s5xx,
               count(*) FILTER (WHERE {Q.EVENT} = '{Ev.REQUEST}'
                                AND {Q.STATUS} BETWEEN 400 AND 499) AS s4xx,
               count(*) FILTER (WHERE {Q.LEVEL} IN ('ERROR', 'CRITICAL')) AS error_lines,
               quantile_cont({Q.DURATION}, 0.5) FILTER (WHERE {Q.EVENT} = '{Ev.REQUEST}') AS p50,
               quantile_cont({Q.DURATION}, 0.95) FILTER (WHERE {Q.EVENT} = '{Ev.REQUEST}') AS p95,
               count(*) FILTER (WHERE {Q.EVENT} = '{Ev.HEALTH_FAILED}') AS health_failures,
               min({Q.TS}) AS first_ts, max({Q.TS}) AS last_ts
        FROM {frame.sql()}
        """,  # noqa: S608 - names from schema, numbers via int()/float()
    )
    out = rows[0]
    out["error_rate"] = out["s5xx"] / out["requests"] if out["requests"] else 0.0
    return out
