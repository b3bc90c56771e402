"""Rollups and SQL relations: built from one with DuckDB, and standing in for one.

:func:`from_relation` is the cache builder's way to a rollup. :func:`register`
gives a plan a token to use as its relation: :mod:`.aggregate` answers from the
rollup behind it when it can, and :func:`resolve` turns it into real SQL (the
Parquet cache) when it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..schema import Ev, F
from ._rollup import _ERR_EVENTS, _ERR_LEVELS, _RANK, SLOW_FLOOR, Rollup, _fold_ep

if TYPE_CHECKING:
    import duckdb


def from_relation(con: duckdb.DuckDBPyConnection, relation: str) -> Rollup:
    """Build a rollup with DuckDB from a relation with the cache's columns (the builder)."""
    r = Rollup()
    c = {k: f'"{getattr(F, k)}"' for k in _SQL_NAMES}
    ts, path, cid, sev = c["TS"], c["PATH"], c["CID"], c["SEVERITY"]
    src = f"FROM ({relation})"
    req = f"WHERE {c['EVENT']} = '{Ev.REQUEST}'"
    sql = f"SELECT {c['METHOD']}, {path}, {c['DURATION']}, count(*), count(*) FILTER (WHERE {c['STATUS']} >= 500)"  # noqa: E501 - schema names, our relation
    for method, p, dur, n, n5 in con.execute(
        f"{sql} {src} {req} GROUP BY ALL ORDER BY 3"
    ).fetchall():
        e = r.ep.get((method, p))
        if e is None:
            e = r.ep[(method, p)] = [0, 0, 0.0, None, 0, {}]
        _fold_ep(e, dur, False, n)
        e[4] += n5
    sql = f"SELECT {ts}, {c['METHOD']}, {path}, {c['DURATION']}, {c['STATUS']}, {cid} {src}"
    rows = con.execute(f"{sql} {req} AND {c['DURATION']} >= {SLOW_FLOOR}").fetchall()
    r.add_slow(rows)
    rank = "CASE " + " ".join(f"WHEN {sev} = '{s}' THEN {i}" for s, i in _RANK.items()) + " END"
    events = ", ".join(f"'{e}'" for e in _ERR_EVENTS)
    levels = ", ".join(f"'{e}'" for e in _ERR_LEVELS)
    count, win, has_cid = c["COUNT"], c["WINDOW"], f"FILTER (WHERE {cid} IS NOT NULL)"
    sql = (  # the row layout of Rollup.err
        f"SELECT {c['ERROR_HASH']}, max({count}) FILTER (WHERE {win} IS NULL), count(*), "
        f"max({rank}), arg_max({sev}, {rank}), min({ts}), arg_min({c['ERROR_TYPE']}, {ts}), "
        f"arg_min({c['MESSAGE']}, {ts}), max({ts}), arg_max({cid}, {ts}) {has_cid}, "
        f"list(DISTINCT {path}) FILTER (WHERE {path} IS NOT NULL), "
        f"coalesce(sum({count}) FILTER (WHERE {win} IS NOT NULL), 0), "
        f"count(*) FILTER (WHERE {win} IS NOT NULL), max({ts}) {has_cid}, "
        f"count(*) FILTER (WHERE {path} IS NULL AND {cid} IS NOT NULL) {src} "
        f"WHERE ({c['EVENT']} IN ({events}) OR {c['LEVEL']} IN ({levels})) "
        f"AND {c['ERROR_HASH']} IS NOT NULL GROUP BY 1"
    )
    for row in con.execute(sql).fetchall():
        r.err[row[0]] = [*row[1:10], sorted(row[10] or []), int(row[11]), row[12], row[13]]
        r.pathless = r.pathless or bool(row[14])
    junk = f"{ts} IS NULL AND {c['EVENT']} IS NULL"
    sql = (
        f"SELECT count(*) FILTER (WHERE {junk}), "
        f"count(*) FILTER (WHERE NOT ({junk}) AND {ts} IS NULL), min({ts}), max({ts}) {src}"
    )
    one = con.execute(sql).fetchone()
    if one is not None:
        r.skipped, r.null_ts, r.min_ts, r.max_ts = int(one[0]), int(one[1]), one[2], one[3]
    return r


_SQL_NAMES = (
    "TS",
    "LEVEL",
    "EVENT",
    "METHOD",
    "PATH",
    "DURATION",
    "STATUS",
    "CID",
    "ERROR_HASH",
    "SEVERITY",
    "ERROR_TYPE",
    "MESSAGE",
    "COUNT",
    "WINDOW",
)


class _Pending:
    """A rollup standing in for a relation, and how to get the real relation."""

    def __init__(self, rollup: Rollup, resolve: Callable[[duckdb.DuckDBPyConnection], str]) -> None:
        self.rollup = rollup
        self.resolve = resolve
        self.relation: str | None = None


_PENDING: dict[str, _Pending] = {}


def register(rollup: Rollup, resolve: Callable[[duckdb.DuckDBPyConnection], str]) -> str:
    """A token to use as a :class:`.aggregate.Frame` relation (an SQL comment)."""
    token = f"-- bellwatch rollup {len(_PENDING)}:{id(rollup)}\n"
    _PENDING[token] = _Pending(rollup, resolve)
    return token


def lookup(relation: str) -> Rollup | None:
    """The rollup behind a token relation, else ``None``."""
    pending = _PENDING.get(relation)
    return pending.rollup if pending is not None else None


def resolve(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """The real SQL relation for a token (resolved once), or ``relation`` itself."""
    pending = _PENDING.get(relation)
    if pending is None:
        return relation
    if pending.relation is None:
        pending.relation = pending.resolve(con)
    return pending.relation
