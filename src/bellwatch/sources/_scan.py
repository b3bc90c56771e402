"""The SQL text that reads logs: JSON scans, Parquet scans, and the lazy DuckDB connection.

Shared by :mod:`.cache` and :mod:`.aggregate`; DuckDB itself is imported only
when a connection is first used.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import orjson

from ..schema import F

if TYPE_CHECKING:
    import duckdb

# Columns kept, with the type read from JSON. ``ts`` is read as text because it
# may be epoch ms or ISO 8601; the cache stores it as epoch ms.
COLUMNS: dict[str, str] = {
    F.TS: "VARCHAR",
    F.LEVEL: "VARCHAR",
    F.EVENT: "VARCHAR",
    F.CID: "VARCHAR",
    F.METHOD: "VARCHAR",
    F.PATH: "VARCHAR",
    F.STATUS: "BIGINT",
    F.DURATION: "DOUBLE",
    F.SESSION_ID: "VARCHAR",
    F.USER_ID: "VARCHAR",
    F.ERROR_HASH: "VARCHAR",
    F.ERROR_TYPE: "VARCHAR",
    F.MESSAGE: "VARCHAR",
    F.SEVERITY: "VARCHAR",
    F.COUNT: "BIGINT",
    F.WINDOW: "BIGINT",
    F.CHECK: "VARCHAR",
}
# A non-JSON line comes back from the JSON reader as an all-NULL row.
_JUNK = f'("{F.TS}" IS NULL AND "{F.EVENT}" IS NULL)'
_SNIFF = 16384  # bytes read to tell epoch-ms files from ISO 8601 ones


def connect() -> duckdb.DuckDBPyConnection:
    """A DuckDB connection in UTC (naive ISO times are UTC), opened on first use.

    Commands answered from rollups never touch it, so they never import DuckDB
    (~0.1 s on its own). Raises a clear install hint when DuckDB is missing.
    """
    return cast("duckdb.DuckDBPyConnection", _LazyConnection())


class _LazyConnection:
    """Stands in for a DuckDB connection; opens the real one at the first call."""

    def __init__(self) -> None:
        self._con: duckdb.DuckDBPyConnection | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if self._con is None:
            self._con = _open()
        return getattr(self._con, name)


def _engine() -> Any:
    """DuckDB's engine module: ``_duckdb`` where the package ships one, else ``duckdb``.

    DuckDB 1.4+ builds its C++ engine as the top-level extension ``_duckdb``, which
    the ``duckdb`` package re-exports behind a Python layer (relational API, typing,
    ``importlib.metadata``) that no report uses. Loading the engine alone takes
    ~17 ms where ``import duckdb`` takes ~80 ms here, and a cold command pays it
    every time. The connection object is the same class either way.
    """
    try:
        import _duckdb  # absent before DuckDB 1.4

        if callable(getattr(_duckdb, "connect", None)):
            return _duckdb
    except ImportError:
        pass
    try:
        import duckdb
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the aggregate commands need DuckDB: pip install 'bellwatch[cli]'"
        ) from None
    return duckdb


def _open() -> duckdb.DuckDBPyConnection:
    con = cast("duckdb.DuckDBPyConnection", _engine().connect())
    con.execute("SET TimeZone = 'UTC'")
    # Every report orders its own output, so scans and temp tables may run unordered
    # (measured: the cold endpoints scan materialises ~0.9M rows noticeably faster).
    con.execute("SET preserve_insertion_order = false")
    return con


def _sql_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _q(name: str) -> str:
    return '"' + name + '"'


def _ts_expr() -> str:
    # Epoch ms digits first (the default wire form), then ISO 8601 with or without offset.
    ts = _q(F.TS)
    return f"COALESCE(TRY_CAST({ts} AS BIGINT), epoch_ms(TRY_CAST({ts} AS TIMESTAMPTZ))) AS {ts}"


def epoch_ts(paths: Sequence[str]) -> bool:
    """Whether every file's first records carry ``ts`` as epoch ms (an integer).

    Then ``ts`` is read as ``BIGINT`` like a hand-written query would, instead
    of as text converted row by row; a file whose first lines say ISO 8601 (or
    that cannot be sniffed) keeps the text path.
    """
    return bool(paths) and all(_sniff_epoch(p) for p in paths)


def _sniff_epoch(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            head = handle.read(_SNIFF)
        if head[:2] == b"\x1f\x8b":
            import gzip  # compressed files only: ~1 ms of every start-up otherwise

            with gzip.open(path, "rb") as packed:
                head = packed.read(_SNIFF)
    except (OSError, EOFError, zlib.error):
        return False
    seen = 0
    for line in head.split(b"\n")[:-1]:
        raw = line.strip()
        if not raw.startswith(b"{"):
            continue
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        ts = value.get(F.TS) if isinstance(value, dict) else None
        if ts is None:
            continue
        if not isinstance(ts, int) or isinstance(ts, bool):
            return False
        seen += 1
    return seen > 0


def json_scan(
    paths: Sequence[str], columns: Sequence[str] | None = None, *, epoch: bool = False
) -> str:
    """SQL for a relation with :data:`COLUMNS` (or just ``columns``) read from JSONL files.

    ``epoch`` (see :func:`epoch_ts`) reads ``ts`` as ``BIGINT`` directly.
    """
    wanted = [c for c in COLUMNS if columns is None or c in columns]
    files = "[" + ", ".join(_sql_str(p) for p in paths) + "]"
    types = {**COLUMNS, F.TS: "BIGINT"} if epoch else COLUMNS
    cols = "{" + ", ".join(f"{_sql_str(k)}: {_sql_str(types[k])}" for k in wanted) + "}"
    names = ", ".join(_ts_expr() if k == F.TS and not epoch else _q(k) for k in wanted)
    return (
        f"SELECT {names} FROM read_ndjson({files}, columns = {cols}, "  # noqa: S608 - paths quoted by _sql_str
        "ignore_errors = true, format = 'newline_delimited', maximum_object_size = 16777216)"
    )


def parquet_scan(parts: Sequence[str]) -> str:
    """SQL for a relation with :data:`COLUMNS` read from cache parts."""
    files = "[" + ", ".join(_sql_str(p) for p in parts) + "]"
    names = ", ".join(_q(c) for c in COLUMNS)
    return f"SELECT {names} FROM read_parquet({files})"  # noqa: S608 - paths quoted by _sql_str
