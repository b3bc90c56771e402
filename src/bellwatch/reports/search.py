"""Records of one request, records matching a filter pattern, and Logs Insights queries.

What ``bellwatch trace``, ``filter``, ``tail`` and ``insights`` read, and what the MCP
server's ``trace`` and ``query`` tools answer with: defined once here, over any
:class:`~bellwatch.sources.Source`. Local files are searched with their fast paths
(``rg``/``grep`` for a correlation id, only the columns a query needs); a CloudWatch log
group runs the pattern or the query where the logs live.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from ..schema import F
from ..sources.base import MESSAGE, SYSTEM_FIELDS, TIMESTAMP, Record, Source, TextRecord

__all__ = ["Scan", "insights", "matcher", "matching", "quoted", "trace"]

Scan = Callable[[Source, "int | None", "int | None", "str | None"], Iterator[Record]]
"""How to read a source's records (``records`` itself, or the CLI's with a progress bar)."""


def _records(
    source: Source, since_ms: int | None, until_ms: int | None, pattern: str | None
) -> Iterator[Record]:
    return source.records(since_ms, until_ms, pattern=pattern)


def matcher(pattern: str | None) -> Callable[[Record], bool]:
    """A filter pattern over events: terms, space-delimited and regex patterns read the
    line itself (text events included); JSON patterns the structured event's own fields.

    Raises:
        PatternError: the pattern is not valid CloudWatch filter-pattern syntax.
    """
    if not pattern:
        return lambda _r: True
    from ..query import filterpattern

    compiled = filterpattern.compile(pattern)
    if compiled.kind != "json":
        return lambda r: compiled.match(str(r[MESSAGE]))

    def match(r: Record) -> bool:
        if isinstance(r, TextRecord):
            return False  # not JSON: a JSON pattern cannot match it, as in CloudWatch
        return compiled.match(
            str(r[MESSAGE]), {k: v for k, v in r.items() if k not in SYSTEM_FIELDS}
        )

    return match


def matching(
    source: Source,
    pattern: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    scan: Scan = _records,
) -> Iterator[Record]:
    """The events matching a CloudWatch filter pattern, in the source's order.

    A log group evaluates the pattern server-side; every event is checked here again,
    so both sources give the same events.
    """
    matches = matcher(pattern)
    for record in scan(source, since_ms, until_ms, pattern):
        if matches(record):
            yield record


def quoted(text: str) -> str:
    """``text`` as one quoted filter-pattern term (an exact phrase)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def trace(
    source: Source, cid: str, since_ms: int | None = None, until_ms: int | None = None
) -> list[Record]:
    """Every event of one request, in time order: its structured events (``cid`` equal to
    ``cid``) and the text events that mention the id."""
    from ..sources.files import FileSource

    if isinstance(source, FileSource):
        found = list(source.correlated(cid, since_ms, until_ms))
    else:
        records = source.records(since_ms, until_ms, pattern=quoted(cid))
        found = [record for record in records if _belongs(record, cid)]
    found.sort(key=lambda r: (r.get(TIMESTAMP) is None, r.get(TIMESTAMP) or 0))
    return found


def _belongs(record: Record, cid: str) -> bool:
    if isinstance(record, TextRecord):
        return cid in str(record[MESSAGE])
    return record.get(F.CID) == cid


def insights(
    source: Source,
    query: str,
    since_ms: int | None = None,
    until_ms: int | None = None,
    *,
    scan: Scan = _records,
) -> list[dict[str, Any]]:
    """The rows of a Logs Insights query: run where the logs live (CloudWatch), else by
    the local engine over the source's records (only the fields the query reads, when
    the source can load fewer).

    Raises:
        QueryError: the query is not valid Logs Insights syntax (local engine).
    """
    rows = source.run_insights(query, since_ms, until_ms)
    if rows is not None:
        return rows
    from ..query import insights as engine

    parsed = engine.parse(query)
    fields = parsed.fields_needed()
    if fields is not None and _accepts(source.records, "columns"):
        records = source.records(  # type: ignore[call-arg]  # an optional extension of Source
            since_ms, until_ms, columns=sorted(fields)
        )
    else:
        records = scan(source, since_ms, until_ms, None)
    return parsed.run(records)


def _accepts(func: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
