"""The documented Logs Insights scalar functions: numeric, string, datetime and IP."""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from bellwatch.query._insights_values import Fn, Row, Timestamp, _Months, _num, _text


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
