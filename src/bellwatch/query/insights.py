"""CloudWatch Logs Insights queries, evaluated locally with the documented semantics.

Supported (AWS pages "CloudWatch Logs Insights query syntax" and its command pages):
``fields``, ``display``, ``filter``, ``stats ... by``, ``sort``, ``limit``, ``dedup`` and
``parse`` (glob and ``/(?<name>regex)/``); comparisons, ``and/or/not``, ``like``,
``not like``, ``=~``, ``in [...]``, arithmetic ``+ - * / % ^``; the documented numeric,
string, datetime and IP functions; the aggregates ``count``, ``count_distinct``,
``sum``, ``avg``, ``min``, ``max``, ``pct``, ``stddev``, ``earliest``, ``latest``,
``sortsFirst``, ``sortsLast``, also inside arithmetic (``avg(status >= 500) * 100``).
Comparisons yield 1/0, so an error rate is ``avg(status >= 500) * 100``; Logs Insights
QL has no ``if()``, so neither does this engine.

Choices where the docs are silent: a comparison with a missing field is null (the row
is dropped by ``filter`` and skipped by aggregates); strings that look like numbers
compare as numbers, other text is never equal to or ordered against a number;
``stats`` groups come out in ascending group order; ``pct`` is the exact percentile of
:mod:`bellwatch.query.percentile` (the value at position ``floor(p/100 * (n-1))``, the
one the reports use too); ``stddev`` the sample standard deviation.

Records are the parsed JSON events plus ``@timestamp`` (epoch ms), ``@message``,
``@logStream`` and ``@log``. Result rows hold numbers as numbers and timestamps as
Insights prints them (``2026-01-02 03:04:05.678``, UTC).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from bellwatch.query._insights_commands import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    _command,
    _Compute,
    _Dedup,
    _Limit,
    _Sort,
    _Stage,
    _Stats,
)
from bellwatch.query._insights_lexer import QueryError
from bellwatch.query._insights_parser import _Expr, _Parser
from bellwatch.query._insights_values import _MSG, _TS, Rows, Timestamp, _fmt_ts, _get

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Query", "QueryError", "parse"]


class Query:
    """A parsed Logs Insights query; run it with :meth:`run`."""

    def __init__(self, text: str, stages: list[_Stage]) -> None:
        self.text = text
        self._stages = stages
        columns: list[str] | None = None
        for stage in stages:
            if isinstance(stage, _Compute):
                if stage.name == "display":
                    columns = list(stage.columns)
                else:
                    base = columns or []
                    columns = base + [c for c in stage.columns if c not in base]
            elif isinstance(stage, _Stats):
                columns = list(stage.columns)
        #: Result columns, in order.
        self.columns: list[str] = columns if columns is not None else [_TS, _MSG]
        self._getters = [(c, _get(c)) for c in self.columns]
        limits = [s.n for s in stages if isinstance(s, _Limit)]
        self._cap = limits[-1] if limits else DEFAULT_LIMIT
        first_stats = next((i for i, s in enumerate(stages) if isinstance(s, _Stats)), len(stages))
        self._copy = any(s.writes_rows for s in stages[:first_stats])
        self._needed = self._source_fields(stages[: first_stats + 1], first_stats == len(stages))

    def __repr__(self) -> str:
        return f"Query({self.text!r})"

    def _source_fields(self, stages: list[_Stage], plain: bool) -> set[str]:
        defined: set[str] = set()
        needed = {_TS}
        for stage in stages:
            needed |= stage.reads - defined
            defined.update(stage.writes)
        if plain:  # no stats: the result columns come from the records
            needed |= {c for c in self.columns if c not in defined}
        return needed

    def fields_needed(self) -> set[str] | None:
        """Record fields the query reads (dotted names as written), or None for all."""
        return set(self._needed)

    def run(self, records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Run over records: parsed JSON plus ``@timestamp`` (ms), ``@message``, ``@log``...

        Rows come in the order Insights shows them: the query's ``sort``, else newest
        ``@timestamp`` first (``limit any`` keeps input order); at most ``limit``
        rows, else :data:`DEFAULT_LIMIT`.
        """
        rows: Rows = (dict(r) for r in records) if self._copy else records
        for stage in self._stages:
            rows = stage.apply(rows)
        getters = self._getters
        return [{c: _out(c, g(row)) for c, g in getters} for row in islice(rows, self._cap)]


def _out(column: str, v: Any) -> Any:
    if isinstance(v, Timestamp) or (column in (_TS, "@ingestionTime") and type(v) is int):
        return _fmt_ts(int(v))
    if isinstance(v, bool):
        return int(v)
    return v


def _strip_comments(text: str) -> str:
    """Blank out lines starting with ``#`` (keeping offsets for error positions)."""
    return "".join(
        " " * len(line.rstrip("\r\n")) + line[len(line.rstrip("\r\n")) :]
        if line.lstrip().startswith("#")
        else line
        for line in text.splitlines(keepends=True)
    )


def parse(text: str) -> Query:
    """Parse a Logs Insights query; raises :class:`QueryError` with the position."""
    p = _Parser(_strip_comments(text))
    stages: list[_Stage] = []
    try:
        while True:
            if p.s.peek()[0] == "end":
                if not stages:
                    raise QueryError("empty query", 0)
                break
            start = p.s.peek()[2]
            stages.append(_command(p))
            stages[-1].pos = start
            kind, value, pos = p.s.take()
            if kind == "end":
                break
            if value != "|":
                raise QueryError(f"expected | or end of query, got {value!r}", pos)
    except RecursionError:
        raise QueryError("query nested too deeply", p.s.pos) from None
    for i, stage in enumerate(stages[:-1]):
        after = stages[i + 1 :]
        bad = next((s for s in after if not isinstance(s, _Limit)), None)
        if isinstance(stage, _Dedup) and bad is not None:
            raise QueryError("only limit may follow dedup", bad.pos)
    return Query(text, _plan(stages))


def _plan(stages: list[_Stage]) -> list[_Stage]:
    """Add the implicit newest-first sort and fuse sort + limit into a top-N."""
    stages = list(stages)
    first = next(
        (i for i, s in enumerate(stages) if isinstance(s, _Sort | _Dedup | _Limit | _Stats)), None
    )
    newest = _Sort([(_Expr(_get(_TS), _TS, frozenset([_TS])), True)])
    head = stages[first] if first is not None else None
    if head is None:
        stages.append(newest)
    elif isinstance(head, _Dedup) or (isinstance(head, _Limit) and not head.any_order):
        stages.insert(first or 0, newest)
    limits = [s.n for s in stages if isinstance(s, _Limit)]
    cap = limits[-1] if limits else DEFAULT_LIMIT
    for i, stage in enumerate(stages):
        if isinstance(stage, _Sort) and stage.top is None:
            following = stages[i + 1] if i + 1 < len(stages) else None
            if isinstance(following, _Limit):
                stage.top = following.n
            elif following is None:
                stage.top = cap
    return stages
