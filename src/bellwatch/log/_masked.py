"""Report rows a redactor found plain, marked so that a later pass of the same redactor
skips them (the CLI masks all it prints, a report's rows included), and the column-wise
check that finds a whole report plain at once. Imports nothing of the package at run
time (the redactor is passed in)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from operator import itemgetter
from typing import Any, Protocol

__all__ = ["MaskedRow", "MaskedRows", "plain_rows"]


class Redactor(Protocol):
    """What these need of :class:`~.redact.Redactor` (which imports this module)."""

    def kind(self, key: object) -> int: ...

    def plain(self, row: Mapping[Any, Any]) -> bool: ...

    def plain_texts(self, values: Collection[str]) -> bool: ...

    def plain_int(self, value: int) -> bool: ...


_PLAIN = frozenset({str, int, float, bool, type(None)})  # the types a plain row holds


class MaskedRow(dict[Any, Any]):
    """A flat row that redactor ``by`` found plain (:meth:`~.redact.Redactor.plain`)."""

    __slots__ = ("by",)

    def __init__(self, row: Mapping[Any, Any], by: Redactor) -> None:
        super().__init__(row)
        self.by = by


class MaskedRows(list[Any]):
    """Rows that redactor ``by`` found plain, every one (:func:`plain_rows`): marked as a
    list, so a report of ten thousand rows is neither copied row by row nor walked again."""

    __slots__ = ("by",)

    def __init__(self, rows: Sequence[Any], by: Redactor) -> None:
        super().__init__(rows)
        self.by = by


def plain_rows(r: Redactor, rows: Sequence[Mapping[Any, Any]]) -> bool:
    """Whether every row is one ``r.plain`` passes. Rows that share their keys are judged
    a column at a time, each distinct string once (a report's ids repeat, its routes and
    methods far more); other rows one by one."""
    if not rows:
        return True
    keys = list(rows[0])
    if len(keys) < 2 or set(map(len, rows)) != {len(keys)}:
        return all(map(r.plain, rows))
    for key in keys:
        try:
            column = list(map(itemgetter(key), rows))
        except KeyError:  # the same number of keys, not the same keys
            return all(map(r.plain, rows))
        kinds = set(map(type, column))
        if r.kind(key) or not kinds <= _PLAIN:
            return False
        if str in kinds:
            texts = set(column) if len(kinds) == 1 else {v for v in column if type(v) is str}
            if not r.plain_texts(texts):
                return False
        if int in kinds:
            top = max(column) if len(kinds) == 1 else max(v for v in column if type(v) is int)
            if not r.plain_int(top):
                return False
    return True
