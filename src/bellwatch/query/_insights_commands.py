"""Logs Insights commands: one stage per command, and the parsers that build them.

Each stage maps rows to rows with its closures bound once in :meth:`_Stage.apply`;
``reads``/``writes`` let :class:`~bellwatch.query.insights.Query` work out which record
fields a query needs.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Callable, Iterator
from itertools import islice
from typing import Any

from bellwatch.query._insights_aggregates import _Agg
from bellwatch.query._insights_lexer import QueryError, _compile_regex, _unquote
from bellwatch.query._insights_parser import _Expr, _Parser
from bellwatch.query._insights_values import Fn, Rows, _hashable, _sort_key, _text, _truth

#: Rows returned when a query has no ``limit`` (page "limit"; StartQuery's default).
DEFAULT_LIMIT = 10_000
#: The largest ``limit`` Insights accepts (page "limit").
MAX_LIMIT = 100_000
_COMMANDS = ("fields", "display", "filter", "stats", "sort", "limit", "dedup", "parse")
# Real Insights commands that need AWS-side machinery (ML, lookup tables, masking).
_NOT_LOCAL = frozenset(
    {"unmask", "pattern", "diff", "anomaly", "lookup", "join", "unnest", "filterindex", "source"}
)


def _key_fn(fn: Fn, none_rank: int) -> Callable[[Any], tuple[Any, ...]]:
    return lambda row: _sort_key(fn(row), none_rank)


# ---------------------------------------------------------------- stages


class _Stage:
    """One command: ``apply`` maps rows to rows; ``reads``/``writes`` feed fields_needed."""

    name = ""
    writes_rows = False
    pos = 0  # where the command starts in the query text

    def __init__(self, reads: frozenset[str], writes: tuple[str, ...] = ()) -> None:
        self.reads, self.writes = reads, writes

    def apply(self, rows: Rows) -> Rows:
        raise NotImplementedError


class _Compute(_Stage):
    """``fields`` / ``display``: compute aliased expressions into the row."""

    def __init__(self, name: str, entries: list[tuple[str, _Expr]]) -> None:
        computed = [(n, e.fn) for n, e in entries if not (e.refs == {n} and e.text == n)]
        super().__init__(
            frozenset().union(*(e.refs for _, e in entries)), tuple(n for n, _ in computed)
        )
        self.name, self.columns, self.computed = name, [n for n, _ in entries], computed
        self.writes_rows = bool(computed)

    def apply(self, rows: Rows) -> Rows:
        computed = self.computed
        if not computed:
            return rows

        def run() -> Iterator[Any]:
            for row in rows:
                for name, fn in computed:
                    row[name] = fn(row)
                yield row

        return run()


class _Filter(_Stage):
    name = "filter"

    def __init__(self, e: _Expr) -> None:
        super().__init__(e.refs)
        self.fn = e.fn

    def apply(self, rows: Rows) -> Rows:
        fn = self.fn
        return (row for row in rows if _truth(fn(row)))


class _Parse(_Stage):
    name = "parse"
    writes_rows = True

    def __init__(self, src: _Expr, rx: re.Pattern[str], names: list[str]) -> None:
        super().__init__(src.refs, tuple(names))
        self.src, self.rx, self.names = src.fn, rx, names

    def apply(self, rows: Rows) -> Rows:
        src, search, names = self.src, self.rx.search, list(enumerate(self.names, 1))

        def run() -> Iterator[Any]:
            for row in rows:
                v = src(row)
                m = search(_text(v)) if v is not None else None
                if m is not None:
                    for i, name in names:
                        row[name] = m.group(i)
                yield row

        return run()


class _Stats(_Stage):
    name = "stats"

    def __init__(self, aggs: list[_Agg], out: list[tuple[str, _Expr]], by: list[tuple[str, _Expr]]):
        # Source fields: what the aggregates and the groups read; names outside an
        # aggregate refer to the stats' own columns.
        reads = frozenset().union(*(a.refs for a in aggs), *(e.refs for _, e in by))
        super().__init__(reads, tuple(n for n, _ in by) + tuple(n for n, _ in out))
        self.aggs, self.out, self.by = aggs, out, by
        self.columns = [n for n, _ in by] + [n for n, _ in out]

    def apply(self, rows: Rows) -> Rows:
        aggs, byfns = self.aggs, [e.fn for _, e in self.by]
        groups: dict[tuple[Any, ...], tuple[list[Any], list[list[Any]]]] = {}
        adders = [a.adder() for a in aggs]
        for row in rows:
            values = [f(row) for f in byfns]
            key = tuple(values)
            try:
                group = groups.get(key)
            except TypeError:  # a list or object value: group by its text
                key = tuple(_hashable(v) for v in values)
                group = groups.get(key)
            if group is None:
                group = groups[key] = (values, [a.new() for a in aggs])
            for add, state in zip(adders, group[1], strict=True):
                add(state, row)
        order = sorted(groups, key=lambda k: tuple(_sort_key(v, 2) for v in k))
        result: list[dict[str, Any]] = []
        for key in order:
            values, states = groups[key]
            out: dict[str, Any] = {n: v for (n, _), v in zip(self.by, values, strict=True)}
            for agg, state in zip(aggs, states, strict=True):
                out[agg.key] = agg.result(state)
            for name, e in self.out:
                out[name] = e.fn(out)
            result.append(out)
        return result


class _Sort(_Stage):
    name = "sort"

    def __init__(self, keys: list[tuple[_Expr, bool]], top: int | None = None) -> None:
        super().__init__(frozenset().union(*(e.refs for e, _ in keys)))
        self.keys = [(e.fn, desc) for e, desc in keys]
        self.top = top

    def apply(self, rows: Rows) -> Rows:
        if len(self.keys) == 1 and self.top is not None:
            fn, desc = self.keys[0]
            if desc:
                return heapq.nlargest(self.top, rows, key=_key_fn(fn, -1))
            return heapq.nsmallest(self.top, rows, key=_key_fn(fn, 2))
        ordered = list(rows)
        for fn, desc in reversed(self.keys):  # stable sorts, last key first
            ordered.sort(key=_key_fn(fn, -1 if desc else 2), reverse=desc)
        return ordered if self.top is None else ordered[: self.top]


class _Limit(_Stage):
    name = "limit"

    def __init__(self, n: int, any_order: bool = False) -> None:
        super().__init__(frozenset())
        self.n, self.any_order = n, any_order

    def apply(self, rows: Rows) -> Rows:
        return islice(rows, self.n)


class _Dedup(_Stage):
    name = "dedup"

    def __init__(self, fields: list[_Expr]) -> None:
        super().__init__(frozenset().union(*(e.refs for e in fields)))
        self.fns = [e.fn for e in fields]

    def apply(self, rows: Rows) -> Rows:
        fns, seen = self.fns, set()

        def run() -> Iterator[Any]:
            for row in rows:
                key = tuple(_hashable(f(row)) for f in fns)
                if None in key:  # nulls are never duplicates
                    yield row
                elif key not in seen:
                    seen.add(key)
                    yield row

        return run()


# ---------------------------------------------------------------- command parsers


def _command(p: _Parser) -> _Stage:
    kind, word, pos = p.s.take()
    cmd = word.lower() if kind == "name" else ""
    if cmd in _NOT_LOCAL:
        raise QueryError(f"{word} is an Insights command this local engine does not run", pos)
    if cmd in ("fields", "display"):
        return _Compute(cmd, p.named_list())
    if cmd == "filter":
        return _Filter(p.expr())
    if cmd == "dedup":
        return _Dedup([e for _, e in p.named_list()])
    build = _BUILDERS.get(cmd)
    if build is None:
        raise QueryError(f"expected a command ({', '.join(_COMMANDS)}), got {word!r}", pos)
    return build(p, pos)


def _stats(p: _Parser, pos: int) -> _Stage:
    p.aggs = []
    out = p.named_list()
    aggs, p.aggs = p.aggs, None
    if not aggs:
        raise QueryError("stats needs an aggregate function such as count(*)", pos)
    by = []
    if p.word("by"):
        p.s.take()
        by = p.named_list()
    return _Stats(aggs, out, by)


def _sort(p: _Parser, pos: int) -> _Stage:
    keys: list[tuple[_Expr, bool]] = []
    while True:
        e = p.expr()
        desc = False
        if p.word("asc", "desc"):
            desc = p.s.take()[1].lower() == "desc"
        keys.append((e, desc))
        if p.s.peek()[1] != ",":
            return _Sort(keys)
        p.s.take()


def _limit(p: _Parser, pos: int) -> _Stage:
    any_order = p.word("any")  # `limit any N`: the first N found, in no particular order
    if any_order:
        p.s.take()
    kind, value, at = p.s.take()
    if (
        kind != "num"
        or not (value.isascii() and value.isdigit())
        or not 1 <= int(value) <= MAX_LIMIT
    ):
        raise QueryError(f"limit takes a whole number from 1 to {MAX_LIMIT}", at)
    return _Limit(int(value), any_order)


def _parse_cmd(p: _Parser, pos: int) -> _Stage:
    src = p.primary()
    if p.s.peek()[0] == "str":
        tok = p.s.take()
        glob = _unquote(tok[1])
        parts = glob.split("*")
        groups = ["(.*?)"] * (len(parts) - 1)
        if groups and glob.endswith("*"):
            groups[-1] = "(.*)"  # a trailing * takes the rest of the line
        body = "".join(re.escape(part) + g for part, g in zip(parts, [*groups, ""], strict=True))
        rx, names = _compile_regex(body, tok[2]), []
    else:
        rx, _ = p.s.regex()
        names = sorted(rx.groupindex, key=rx.groupindex.__getitem__)
    if p.word("as"):
        p.s.take()
        names = [n for n, _ in p.named_list()]
    if not names or len(names) != rx.groups:
        raise QueryError(f"parse pattern has {rx.groups} captures for {len(names)} names", pos)
    return _Parse(src, rx, names)


_BUILDERS: dict[str, Callable[[_Parser, int], _Stage]] = {
    "stats": _stats,
    "sort": _sort,
    "limit": _limit,
    "parse": _parse_cmd,
}
