"""Filter pattern value tests: one JSON or space-delimited value against a literal.

Numbers compare as numbers (numeric strings too), ``*`` is a wildcard, ``%regex%`` a
search; each test is built once per condition and only called per line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from bellwatch.query._pattern_lexer import _NUMBER, PatternError, _regex

_Pred = Callable[[Any], bool]


def _to_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float) and not (
        isinstance(value, str) and _NUMBER.match(value.strip())
    ):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _glob(text: str) -> re.Pattern[str]:
    # Runs of * are one wildcard; `.*.*` would only add backtracking.
    parts = re.sub(r"\*+", "*", text).split("*")
    return re.compile(".*".join(re.escape(part) for part in parts), re.S)


def _value_test(op: str, token: tuple[str, str, int]) -> _Pred:
    """A predicate on one JSON or space-delimited value for ``op`` and a literal token."""
    kind, text, pos = token
    if kind == "re":
        search = _regex(text, pos).search
        if op not in ("=", "!="):
            raise PatternError("a %regex% needs = or !=", pos)
        hit: _Pred = lambda v: v is not None and search(_text(v)) is not None  # noqa: E731 - tiny closure
        return hit if op == "=" else (lambda v: v is not None and not hit(v))
    if kind not in ("str", "word"):
        raise PatternError("expected a value", pos)
    number = float(text) if kind == "word" and _NUMBER.match(text) else None
    if op in (">", "<", ">=", "<="):
        if number is None:
            raise PatternError(f"{op} needs a number", pos)
        return _numeric(op, number)
    if number is not None:
        eq: _Pred = _number_equals(number, text)
    elif "*" in text:
        full = _glob(text).fullmatch
        eq = lambda v: v is not None and full(_text(v)) is not None  # noqa: E731 - tiny closure
    else:
        eq = lambda v: v is not None and _text(v) == text  # noqa: E731 - tiny closure
    return eq if op == "=" else (lambda v: v is not None and not eq(v))


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    return value if isinstance(value, str) else str(value)


def _number_equals(number: float, literal: str) -> _Pred:
    def eq(value: Any) -> bool:
        found = _to_number(value)
        if found is not None:
            return found == number
        return isinstance(value, str) and value == literal

    return eq


def _numeric(op: str, number: float) -> _Pred:
    compare: Callable[[float], bool] = {
        ">": lambda x: x > number,
        "<": lambda x: x < number,
        ">=": lambda x: x >= number,
        "<=": lambda x: x <= number,
    }[op]

    def test(value: Any) -> bool:
        if type(value) is int or type(value) is float:  # JSON numbers: skip the conversions
            return compare(value)
        found = _to_number(value)
        return found is not None and compare(found)

    return test


def _any(parts: Sequence[_Pred]) -> _Pred:
    if len(parts) == 2:  # the common case, without a generator per call
        a, b = parts
        return lambda doc: a(doc) or b(doc)
    return lambda doc: any(p(doc) for p in parts)


def _all(parts: Sequence[_Pred]) -> _Pred:
    if len(parts) == 2:
        a, b = parts
        return lambda doc: a(doc) and b(doc)
    return lambda doc: all(p(doc) for p in parts)
