"""Logs Insights value semantics: numbers, text, nulls, comparison, arithmetic, order.

Every operator and function of :mod:`bellwatch.query.insights` goes through these, so
the choices listed in that module's docstring (null comparisons, numeric strings, text
never equal to a number, Insights' natural sort order) are made here, once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

Row = Mapping[str, Any]
Fn = Callable[[Row], Any]
Rows = Iterable[Any]

_TS = "@timestamp"
_MSG = "@message"


class Timestamp(int):
    """Epoch milliseconds that print the way Insights shows a timestamp."""

    __slots__ = ()

    def __str__(self) -> str:
        return _fmt_ts(int(self))


def _fmt_ts(ms: int) -> str:
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return str(ms)
    return moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{ms % 1000:03d}"


class _Months(int):
    """A calendar period (months, quarters, years) counted in months."""

    __slots__ = ()


# ---------------------------------------------------------------- value semantics


def _num(v: Any) -> float | int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def _text(v: Any) -> str:
    return v if isinstance(v, str) else str(v)


def _get(name: str) -> Fn:
    """Field getter; dotted names also walk nested JSON (Insights flattens with dots)."""
    if "." not in name:
        return lambda row: row.get(name)
    path = name.split(".")

    def get(row: Row) -> Any:
        v = row.get(name)
        if v is not None:
            return v
        doc: Any = row
        for step in path:
            if isinstance(doc, Mapping):
                doc = doc.get(step)
            elif (
                isinstance(doc, list) and step.isascii() and step.isdigit() and int(step) < len(doc)
            ):
                doc = doc[int(step)]
            else:
                return None
        return doc

    return get


def _compare(op: str, a: Any, b: Any) -> bool | None:
    if a is None or b is None:
        return None
    x, y = _num(a), _num(b)
    if (x is None) != (y is None):  # a number against text: never equal, never ordered
        return op == "!=" if op in ("=", "!=") else None
    if x is None or y is None:
        x, y = _text(a), _text(b)  # type: ignore[assignment]
    if op == "=":
        return x == y
    if op == "!=":
        return x != y
    try:
        if op == "<":
            return x < y  # type: ignore[operator]
        if op == "<=":
            return x <= y  # type: ignore[operator]
        if op == ">":
            return x > y  # type: ignore[operator]
        return x >= y  # type: ignore[operator]
    except TypeError:
        return None


def _arith(op: str, a: Any, b: Any) -> Any:
    x, y = _num(a), _num(b)
    if x is None or y is None:
        return None
    try:
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            return x / y
        if op == "%":
            return x % y
        # Insights numbers are doubles; float power also keeps 10 ^ 999999999 from
        # building a gigantic integer.
        result = float(x) ** float(y)
        return None if isinstance(result, complex) else result
    except (ZeroDivisionError, OverflowError, ValueError):
        return None


def _truth(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return v != 0
    return bool(v)


_CHUNKS = re.compile(r"[0-9]+|[A-Za-z]+|[^0-9A-Za-z]+")


def _sort_key(v: Any, none_rank: int) -> tuple[Any, ...]:
    """Insights' natural order: text before numbers; text compared chunk by chunk.

    Digit runs compare by length, then value; other chunks by Unicode. A digit run
    against another chunk is decided by their first characters, hence the 48 (``"0"``)
    standing for every digit run. Missing values go to ``none_rank``.
    """
    if v is None:
        return (none_rank,)
    n = _num(v)
    if n is not None:
        return (1, n)
    chunks = _CHUNKS.findall(_text(v))
    return (
        0,
        tuple((48, len(c), c) if "0" <= c[0] <= "9" else (ord(c[0]), c) for c in chunks),
    )


def _hashable(v: Any) -> Any:
    return repr(v) if isinstance(v, list | dict) else v
