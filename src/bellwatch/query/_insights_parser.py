"""Logs Insights expressions: recursive descent that compiles each expression to a closure.

Operators, function calls, periods, ``bin()`` and aggregate calls (which register an
:class:`_Agg` with the enclosing ``stats`` and read its per-group result back).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from bellwatch.query._insights_aggregates import _AGGS, _Agg
from bellwatch.query._insights_functions import _FUNCS, _call, _floor_to
from bellwatch.query._insights_lexer import QueryError, _Scanner, _unquote
from bellwatch.query._insights_values import (
    _TS,
    Fn,
    Row,
    Timestamp,
    _arith,
    _compare,
    _get,
    _Months,
    _num,
    _text,
    _truth,
)

# bin()/datefloor() units from the `stats` page; multi-letter ones may take a plural s.
_UNIT_MS = {
    **dict.fromkeys(("millisecond", "ms", "msec"), 1),
    **dict.fromkeys(("second", "s", "sec"), 1000),
    **dict.fromkeys(("minute", "m", "min"), 60_000),
    **dict.fromkeys(("hour", "h", "hr"), 3_600_000),
    **dict.fromkeys(("day", "d"), 86_400_000),
    **dict.fromkeys(("week", "w"), 604_800_000),
}
_UNIT_MONTHS = {
    **dict.fromkeys(("month", "mo", "mon"), 1),
    **dict.fromkeys(("quarter", "q", "qtr"), 3),
    **dict.fromkeys(("year", "y", "yr"), 12),
}


class _Expr:
    """A compiled expression: ``fn(row)``, its source text and the fields it reads."""

    __slots__ = ("fn", "period", "refs", "text")

    def __init__(self, fn: Fn, text: str, refs: frozenset[str], period: int | None = None):
        self.fn, self.text, self.refs, self.period = fn, text, refs, period


def _const(value: Any, text: str, period: int | None = None) -> _Expr:
    return _Expr(lambda row: value, text, frozenset(), period)


def _label(text: str) -> str:
    return re.sub(r"\s+\(", "(", " ".join(text.split()))


def _bin(step: int) -> Fn:
    if isinstance(step, _Months):
        return lambda row: _floor_to(row.get(_TS), step)

    def bin_(row: Row) -> Timestamp | None:
        ms = row.get(_TS)
        if type(ms) is int:  # the usual case, without the generic conversions
            return Timestamp(ms - ms % step)
        return _floor_to(ms, step)

    return bin_


def _arith_fn(op: str, a: Fn, b: Fn) -> Fn:
    return lambda row: _arith(op, a(row), b(row))


class _Parser:
    """Recursive descent over one query; builds closures as it goes."""

    def __init__(self, text: str) -> None:
        self.s = _Scanner(text)
        self.text = text
        self.aggs: list[_Agg] | None = None  # set while parsing stats
        self.depth = 0

    # -- helpers
    def error(self, message: str, pos: int | None = None) -> QueryError:
        return QueryError(message, self.s.peek()[2] if pos is None else pos)

    def word(self, *words: str) -> bool:
        kind, value, _ = self.s.peek()
        return kind == "name" and value.lower() in words

    def expect(self, value: str) -> int:
        _, got, pos = self.s.take()
        if got != value:
            raise QueryError(f"expected {value!r}", pos)
        return pos

    def at_command_end(self) -> bool:
        return self.s.peek()[0] == "end" or self.s.peek()[1] == "|"

    # -- expressions, lowest precedence first
    def expr(self) -> _Expr:
        self.depth += 1
        if self.depth > 60:
            raise self.error("expression nested too deeply")
        try:
            return self.or_expr()
        finally:
            self.depth -= 1

    def _fold(self, parts: list[_Expr], fn: Fn, start: int) -> _Expr:
        end = self.s.peek()[2]
        refs = frozenset().union(*(p.refs for p in parts))
        return _Expr(fn, self.text[start:end].strip(), refs)

    def or_expr(self) -> _Expr:
        start = self.s.peek()[2]
        parts = [self.and_expr()]
        while self.word("or"):
            self.s.take()
            parts.append(self.and_expr())
        if len(parts) == 1:
            return parts[0]
        fns = [p.fn for p in parts]

        def any_of(row: Row) -> bool | None:
            seen = [_truth(f(row)) for f in fns]
            return True if True in seen else None if None in seen else False

        return self._fold(parts, any_of, start)

    def and_expr(self) -> _Expr:
        start = self.s.peek()[2]
        parts = [self.not_expr()]
        while self.word("and"):
            self.s.take()
            parts.append(self.not_expr())
        if len(parts) == 1:
            return parts[0]
        fns = [p.fn for p in parts]

        def all_of(row: Row) -> bool | None:
            seen = [_truth(f(row)) for f in fns]
            return False if False in seen else None if None in seen else True

        return self._fold(parts, all_of, start)

    def not_expr(self) -> _Expr:
        if self.word("not"):
            start = self.s.take()[2]
            inner = self.not_expr()
            f = inner.fn

            def negate(row: Row) -> bool | None:
                t = _truth(f(row))
                return None if t is None else not t

            return self._fold([inner], negate, start)
        return self.comparison()

    def comparison(self) -> _Expr:
        start = self.s.peek()[2]
        left = self.additive()
        kind, op, _ = self.s.peek()
        negate = False
        if self.word("not"):
            self.s.take()
            negate = True
            if not self.word("like", "in"):
                raise self.error("expected like or in after not")
            op = self.s.peek()[1].lower()
        elif kind == "name" and op.lower() in ("like", "in"):
            op = op.lower()
        elif kind != "op" or op not in ("=", "!=", "<", "<=", ">", ">=", "=~"):
            return left
        self.s.take()
        lf = left.fn
        if op in ("like", "=~"):
            if op == "like" and self.s.peek()[0] == "str":
                needle = _unquote(self.s.take()[1])
                test: Callable[[str], bool] = lambda t: needle in t  # noqa: E731 - tiny closure
            else:
                if self.s.peek()[1] != "/":
                    raise self.error("expected a quoted string or /regex/")
                rx, _ = self.s.regex()
                search = rx.search
                test = lambda t: search(t) is not None  # noqa: E731 - tiny closure

            def like(row: Row) -> bool | None:
                v = lf(row)
                return None if v is None else test(_text(v)) is not negate

            return self._fold([left], like, start)
        if op == "in":
            self.expect("[")
            items: list[_Expr] = []
            while self.s.peek()[1] != "]":
                items.append(self.additive())
                if self.s.peek()[1] != ",":
                    break
                self.s.take()
            self.expect("]")
            ifns = [i.fn for i in items]

            def member(row: Row) -> bool | None:
                v = lf(row)
                if v is None:
                    return None
                return any(_compare("=", v, f(row)) for f in ifns) is not negate

            return self._fold([left, *items], member, start)
        right = self.additive()
        rf, cmp_op = right.fn, op
        return self._fold([left, right], lambda row: _compare(cmp_op, lf(row), rf(row)), start)

    def _binary(self, ops: tuple[str, ...], below: Callable[[], _Expr]) -> _Expr:
        start = self.s.peek()[2]
        left = below()
        while self.s.peek()[0] == "op" and self.s.peek()[1] in ops:
            op = self.s.take()[1]
            right = below()
            lf, rf = left.fn, right.fn
            left = self._fold([left, right], _arith_fn(op, lf, rf), start)
        return left

    def additive(self) -> _Expr:
        return self._binary(("+", "-"), self.multiplicative)

    def multiplicative(self) -> _Expr:
        return self._binary(("*", "/", "%"), self.power)

    def power(self) -> _Expr:
        return self._binary(("^",), self.unary)

    def unary(self) -> _Expr:
        if self.s.peek()[1] == "-":
            start = self.s.take()[2]
            inner = self.unary()
            f = inner.fn
            return self._fold([inner], lambda row: _arith("-", 0, f(row)), start)
        return self.primary()

    def primary(self) -> _Expr:
        kind, value, pos = self.s.take()
        if kind == "num":
            number = float(value)
            n: float | int = int(number) if number.is_integer() and "." not in value else number
            return _const(n, value)
        if kind == "str":
            return _const(_unquote(value), value)
        if kind == "period":
            amount, unit = re.fullmatch(r"([\d.]+)([A-Za-z]+)", value).groups()  # type: ignore[union-attr]
            return self.period(value, amount, unit, pos)
        if kind == "bq":
            name = value[1:-1]
            return _Expr(_get(name), name, frozenset([name]))
        if value == "(":
            inner = self.expr()
            self.expect(")")
            return _Expr(inner.fn, f"({inner.text})", inner.refs, inner.period)
        if kind == "name":
            if self.s.peek()[1] == "(":
                return self.call(value, pos)
            if value.lower() in ("and", "or", "not", "like", "in", "as", "by", "asc", "desc"):
                raise QueryError(f"expected a value, got keyword {value!r}", pos)
            return _Expr(_get(value), value, frozenset([value]))
        raise QueryError(f"expected a value, got {value or 'end of query'!r}", pos)

    def period(self, text: str, amount: str, unit: str, pos: int) -> _Expr:
        key = unit if unit in _UNIT_MS or unit in _UNIT_MONTHS else unit[:-1]
        if len(key) < len(unit) and (len(key) < 2 or not unit.endswith("s")):
            key = ""  # only multi-letter units take a plural s
        if key in _UNIT_MS:
            ms = int(float(amount) * _UNIT_MS[key])
            if ms <= 0:
                raise QueryError("a period must be longer than 0", pos)
            return _const(ms, text, period=ms)
        if key in _UNIT_MONTHS and amount.isascii() and amount.isdigit() and int(amount) > 0:
            months = _Months(int(amount) * _UNIT_MONTHS[key])
            return _const(months, text, period=months)
        raise QueryError(f"unsupported period {text!r}: use e.g. 30s, 5m, 1h, 1d, 1w, 1mo, 1y", pos)

    def call(self, name: str, pos: int) -> _Expr:
        lname = name.lower()
        self.expect("(")
        if lname in _AGGS:
            return self.aggregate(lname, name, pos)
        if lname == "bin":
            arg = self.expr()
            self.expect(")")
            if arg.period is None:
                raise QueryError("bin() takes a period such as 5m or 1h", pos)
            step = arg.period
            return _Expr(
                _bin(step),
                self.text[pos : self.s.pos].strip(),
                frozenset([_TS]),
            )
        if lname not in _FUNCS:
            raise QueryError(f"unknown function {name!r}", pos)
        lo, hi, impl, nulls_ok = _FUNCS[lname]
        args = self.args()
        if len(args) < lo or (hi >= 0 and len(args) > hi):
            raise QueryError(f"{name}() takes {lo}..{hi if hi >= 0 else 'n'} arguments", pos)
        refs = frozenset().union(*(a.refs for a in args))
        fn = _call(lname, impl, [a.fn for a in args], nulls_ok)
        return _Expr(fn, self.text[pos : self.s.pos].strip(), refs)

    def args(self) -> list[_Expr]:
        args: list[_Expr] = []
        while self.s.peek()[1] != ")":
            args.append(self.expr())
            if self.s.peek()[1] != ",":
                break
            self.s.take()
        self.expect(")")
        return args

    def aggregate(self, lname: str, name: str, pos: int) -> _Expr:
        if self.aggs is None:
            raise QueryError(f"{name}() is an aggregate: use it in stats", pos)
        outer, self.aggs = self.aggs, None  # no aggregates inside aggregates
        try:
            if lname == "count" and self.s.peek()[1] in ("*", ")"):
                if self.s.peek()[1] == "*":
                    self.s.take()
                self.expect(")")
                args: list[_Expr] = []
            else:
                args = self.args()
        finally:
            self.aggs = outer
        lo, hi = _AGGS[lname]
        if not lo <= len(args) <= hi:
            raise QueryError(f"{name}() takes {lo}..{hi} arguments", pos)
        param = 0.0
        if lname == "pct":
            number = _num(args[1].fn({}))
            if number is None or args[1].refs or not 0 <= number <= 100:
                raise QueryError("pct() takes a percentile between 0 and 100", pos)
            param = float(number)
        refs = frozenset().union(*(a.refs for a in args[:1]))
        if lname in ("earliest", "latest"):
            refs |= {_TS}
        agg = _Agg(lname, args[0].fn if args else None, param, f"\x00agg{len(outer)}", refs)
        outer.append(agg)
        key = agg.key
        return _Expr(lambda row: row.get(key), self.text[pos : self.s.pos].strip(), refs)

    def named_list(self) -> list[tuple[str, _Expr]]:
        """``expr [as name], ...`` as (column name, expression)."""
        out: list[tuple[str, _Expr]] = []
        while True:
            e = self.expr()
            name = _label(e.text)
            if self.word("as"):
                self.s.take()
                kind, alias, pos = self.s.take()
                if kind not in ("name", "bq"):
                    raise QueryError("expected a name after as", pos)
                name = alias.strip("`")
            out.append((name, e))
            if self.s.peek()[1] != ",":
                return out
            self.s.take()
