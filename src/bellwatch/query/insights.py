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
``stats`` groups come out in ascending group order; ``pct`` is the exact nearest-rank
percentile; ``stddev`` the sample standard deviation.

Records are the parsed JSON events plus ``@timestamp`` (epoch ms), ``@message``,
``@logStream`` and ``@log``. Result rows hold numbers as numbers and timestamps as
Insights prints them (``2026-01-02 03:04:05.678``, UTC).
"""

from __future__ import annotations

import heapq
import ipaddress
import math
import re
import statistics
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from itertools import islice
from typing import Any

__all__ = ["DEFAULT_LIMIT", "MAX_LIMIT", "Query", "QueryError", "parse"]

#: Rows returned when a query has no ``limit`` (page "limit"; StartQuery's default).
DEFAULT_LIMIT = 10_000
#: The largest ``limit`` Insights accepts (page "limit").
MAX_LIMIT = 100_000

Row = Mapping[str, Any]
Fn = Callable[[Row], Any]
Rows = Iterable[Any]

_TS = "@timestamp"
_MSG = "@message"
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
_COMMANDS = ("fields", "display", "filter", "stats", "sort", "limit", "dedup", "parse")
# Real Insights commands that need AWS-side machinery (ML, lookup tables, masking).
_NOT_LOCAL = frozenset(
    {"unmask", "pattern", "diff", "anomaly", "lookup", "join", "unnest", "filterindex", "source"}
)


class QueryError(ValueError):
    """An invalid query; ``pos`` is the 0-based offset of the problem."""

    def __init__(self, message: str, pos: int = 0) -> None:
        super().__init__(f"{message} (at position {pos})")
        self.pos = pos


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
            elif isinstance(doc, list) and step.isdigit() and int(step) < len(doc):
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


# ---------------------------------------------------------------- functions


def _ip(v: Any) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(_text(v).strip())
    except ValueError:
        return None


def _in_subnet(v: Any, net: Any, version: int | None) -> bool:
    addr = _ip(v)
    try:
        network = ipaddress.ip_network(_text(net), strict=False)
    except ValueError:
        return False
    if addr is None or (version and addr.version != version):
        return False
    return addr.version == network.version and addr in network


def _trim(s: Any, chars: Any = None, side: str = "both") -> Any:
    text, strip = _text(s), None if chars is None else _text(chars)
    return {"left": text.lstrip, "right": text.rstrip, "both": text.strip}[side](strip)


def _substr(s: Any, start: Any, length: Any = None) -> str | None:
    i = _num(start)
    if i is None:
        return None
    text, i = _text(s), int(i)
    if length is None:
        return text[i:]
    n = _num(length)
    return None if n is None else text[i : i + int(n)]


class _Months(int):
    """A calendar period (months, quarters, years) counted in months."""

    __slots__ = ()


def _floor_to(ts: Any, period: Any, up: bool = False) -> Timestamp | None:
    ms, step = _num(ts), _num(period)
    if ms is None or not step:
        return None
    if isinstance(period, _Months):
        return _floor_months(int(ms), int(period), up)
    down = int(ms) // int(step) * int(step)
    return Timestamp(down + int(step) if up and down != ms else down)


def _floor_months(ms: int, months: int, up: bool) -> Timestamp | None:
    try:
        moment = datetime.fromtimestamp(ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    index = ((moment.year - 1970) * 12 + moment.month - 1) // months * months
    for _ in range(2):
        year, month = 1970 + index // 12, index % 12 + 1
        try:
            start = int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
        except (OverflowError, ValueError):
            return None
        if not up or start >= ms:
            return Timestamp(start)
        index += months
    return Timestamp(start)


_Impl = Callable[..., Any]
# name -> (min args, max args or -1 for any, implementation, nulls allowed in)
_FUNCS: dict[str, tuple[int, int, _Impl, bool]] = {
    "abs": (1, 1, abs, False),
    "ceil": (1, 1, math.ceil, False),
    "floor": (1, 1, math.floor, False),
    "greatest": (1, -1, max, False),
    "least": (1, -1, min, False),
    "log": (1, 1, math.log, False),
    "sqrt": (1, 1, math.sqrt, False),
    "ispresent": (1, 1, lambda v: v is not None, True),
    "coalesce": (1, -1, lambda *vs: next((v for v in vs if v is not None), None), True),
    "isempty": (1, 1, lambda v: int(v is None or v == ""), True),
    "isblank": (1, 1, lambda v: int(v is None or not _text(v).strip()), True),
    "concat": (1, -1, lambda *vs: "".join(_text(v) for v in vs if v is not None), True),
    "ltrim": (1, 2, lambda s, c=None: _trim(s, c, "left"), False),
    "rtrim": (1, 2, lambda s, c=None: _trim(s, c, "right"), False),
    "trim": (1, 2, _trim, False),
    "strlen": (1, 1, lambda s: len(_text(s)), False),
    "toupper": (1, 1, lambda s: _text(s).upper(), False),
    "tolower": (1, 1, lambda s: _text(s).lower(), False),
    "substr": (2, 3, _substr, False),
    "replace": (3, 3, lambda s, a, b: _text(s).replace(_text(a), _text(b)), False),
    "strcontains": (2, 2, lambda s, a: int(_text(a) in _text(s)), False),
    "datefloor": (2, 2, _floor_to, False),
    "dateceil": (2, 2, lambda t, p: _floor_to(t, p, up=True), False),
    "frommillis": (1, 1, lambda v: Timestamp(int(v)), False),
    "tomillis": (1, 1, int, False),
    "isvalidip": (1, 1, lambda v: _ip(v) is not None, False),
    "isvalidipv4": (1, 1, lambda v: getattr(_ip(v), "version", 0) == 4, False),
    "isvalidipv6": (1, 1, lambda v: getattr(_ip(v), "version", 0) == 6, False),
    "isipinsubnet": (2, 2, lambda v, n: _in_subnet(v, n, None), False),
    "isipv4insubnet": (2, 2, lambda v, n: _in_subnet(v, n, 4), False),
    "isipv6insubnet": (2, 2, lambda v, n: _in_subnet(v, n, 6), False),
}
_NUMERIC_FUNCS = {"abs", "ceil", "floor", "greatest", "least", "log", "sqrt"}
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


def _call(name: str, impl: _Impl, args: list[Fn], nulls_ok: bool) -> Fn:
    numeric = name in _NUMERIC_FUNCS

    def call(row: Row) -> Any:
        values = [a(row) for a in args]
        if not nulls_ok and any(v is None for v in values):
            return None
        if numeric:
            values = [_num(v) for v in values]
            if any(v is None for v in values):
                return None
        try:
            return impl(*values)
        except (ValueError, TypeError, OverflowError, ZeroDivisionError):
            return None

    return call


# ---------------------------------------------------------------- aggregates


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
            if not state[0]:
                return None
            values = sorted(state[2])
            rank = max(1, math.ceil(self.param / 100 * len(values)))
            return values[min(rank, len(values)) - 1]
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


# ---------------------------------------------------------------- lexer


_TOKEN = re.compile(
    r"(?P<ws>\s+)"
    r"|(?P<period>\d+(?:\.\d+)?(?![eE][+-]?\d)[A-Za-z]+)"
    r"|(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_@$][A-Za-z0-9_@$.]*)"
    r"|(?P<bq>`[^`]*`)"
    r"|(?P<str>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*')"
    r"|(?P<op>=~|!=|<=|>=|[=<>+\-*/%^(),\[\]|])"
)
_ESCAPES = re.compile(r"\\(.)")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self._peeked: tuple[str, str, int] | None = None

    def peek(self) -> tuple[str, str, int]:
        if self._peeked is None:
            self._peeked = self._scan()
        return self._peeked

    def take(self) -> tuple[str, str, int]:
        tok = self.peek()
        self._peeked = None
        return tok

    def _scan(self) -> tuple[str, str, int]:
        while True:
            if self.pos >= len(self.text):
                return ("end", "", len(self.text))
            m = _TOKEN.match(self.text, self.pos)
            if m is None:
                raise QueryError(f"unexpected {self.text[self.pos]!r}", self.pos)
            self.pos = m.end()
            kind = m.lastgroup or "ws"
            if kind != "ws":
                return (kind, m.group(), m.start())

    def regex(self) -> tuple[re.Pattern[str], int]:
        """Read ``/regex/`` at the next token; ``(?<name>`` becomes Python's ``(?P<name>``."""
        start = self.peek()[2]
        self._peeked = None
        if not self.text.startswith("/", start):
            raise QueryError("expected /regex/", start)
        i = start + 1
        while i < len(self.text) and self.text[i] != "/":
            i += 2 if self.text[i] == "\\" else 1
        if i >= len(self.text):
            raise QueryError("unterminated /regex/", start)
        self.pos = i + 1
        body = self.text[start + 1 : i].replace("\\/", "/")
        return _compile_regex(body, start), start


def _compile_regex(body: str, pos: int) -> re.Pattern[str]:
    flags = 0
    if "(?i)" in body:  # Python only accepts global flags at the very start
        body, flags = body.replace("(?i)", ""), re.IGNORECASE
    body = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", body)
    try:
        return re.compile(body, flags)
    except (re.error, OverflowError, RecursionError) as exc:
        raise QueryError(f"invalid regex: {exc}", pos) from None


def _unquote(tok: str) -> str:
    return _ESCAPES.sub(r"\1", tok[1:-1])


# ---------------------------------------------------------------- expressions


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


def _key_fn(fn: Fn, none_rank: int) -> Callable[[Any], tuple[Any, ...]]:
    return lambda row: _sort_key(fn(row), none_rank)


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
        if key in _UNIT_MONTHS and amount.isdigit() and int(amount) > 0:
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


# ---------------------------------------------------------------- commands


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
    if kind != "num" or not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
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
