"""The ``stats`` aggregates: per-group state, one adder per aggregate, the final value.

``count``, ``count_distinct``, ``sum``, ``avg``, ``min``, ``max``, ``pct``, ``stddev``,
``earliest``, ``latest``, ``sortsFirst`` and ``sortsLast``. A group's state is a small
list (``[count, sum, samples or chosen value, its sort key or time]``; a set for
``count_distinct``) so adding a row is a few index operations; :meth:`_Agg.adder` binds
the argument and the kind once per run, not per row.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import Any

from bellwatch.query._insights_values import _TS, Fn, Row, _hashable, _num, _sort_key
from bellwatch.query.percentile import from_sorted

# name -> (min args, max args)
_AGGS = {
    "avg": (1, 1),
    "count": (0, 1),
    "count_distinct": (1, 1),
    "max": (1, 1),
    "min": (1, 1),
    "pct": (2, 2),
    "stddev": (1, 1),
    "sum": (1, 1),
    "earliest": (1, 1),
    "latest": (1, 1),
    "sortsfirst": (1, 1),
    "sortslast": (1, 1),
}


class _Agg:
    """One aggregate call inside ``stats``; ``key`` is where its result lands per group."""

    __slots__ = ("arg", "key", "kind", "param", "refs")

    def __init__(
        self, kind: str, arg: Fn | None, param: float, key: str, refs: frozenset[str]
    ) -> None:
        self.kind, self.arg, self.param, self.key, self.refs = kind, arg, param, key, refs

    def new(self) -> list[Any]:
        return [0, 0, None, None] if self.kind != "count_distinct" else [set()]

    def adder(self) -> Callable[[list[Any], Row], None]:
        """``add(state, row)`` for this aggregate, with its argument and kind bound."""
        arg, add = self.arg, _ADD[self.kind]
        if arg is None:  # count(*)
            return _count_row

        def add_value(state: list[Any], row: Row) -> None:
            v = arg(row)
            if v is not None:
                add(state, v, row)

        return add_value

    def result(self, state: list[Any]) -> Any:
        kind = self.kind
        if kind == "count_distinct":
            return len(state[0])
        if kind == "count":
            return state[0]
        if kind == "sum":
            return state[1] if state[0] else None
        if kind == "avg":
            return state[1] / state[0] if state[0] else None
        if kind == "stddev":
            return statistics.stdev(state[2]) if state[0] > 1 else None
        if kind == "pct":
            return from_sorted(sorted(state[2]), self.param) if state[0] else None
        return state[2]


def _count_row(state: list[Any], row: Row) -> None:
    state[0] += 1


def _add_count(state: list[Any], v: Any, row: Row) -> None:
    state[0] += 1


def _add_distinct(state: list[Any], v: Any, row: Row) -> None:
    state[0].add(_hashable(v))


def _add_number(state: list[Any], v: Any, row: Row) -> None:
    n = _num(v)
    if n is not None:
        state[0] += 1
        state[1] += n


def _add_sample(state: list[Any], v: Any, row: Row) -> None:
    n = _num(v)
    if n is not None:
        state[0] += 1
        if state[2] is None:
            state[2] = []
        state[2].append(n)


def _best(low: bool) -> Callable[[list[Any], Any, Row], None]:
    def add(state: list[Any], v: Any, row: Row) -> None:
        key = _sort_key(v, 2)
        best = state[3]
        if best is None or (key < best if low else key > best):
            state[2], state[3] = v, key

    return add


def _by_time(first: bool) -> Callable[[list[Any], Any, Row], None]:
    def add(state: list[Any], v: Any, row: Row) -> None:
        ts = _num(row.get(_TS))
        if ts is not None and (state[3] is None or (ts < state[3] if first else ts >= state[3])):
            state[2], state[3] = v, ts

    return add


_ADD: dict[str, Callable[[list[Any], Any, Row], None]] = {
    "count": _add_count,
    "count_distinct": _add_distinct,
    "sum": _add_number,
    "avg": _add_number,
    "stddev": _add_sample,
    "pct": _add_sample,
    "min": _best(low=True),
    "sortsfirst": _best(low=True),
    "max": _best(low=False),
    "sortslast": _best(low=False),
    "earliest": _by_time(first=True),
    "latest": _by_time(first=False),
}
