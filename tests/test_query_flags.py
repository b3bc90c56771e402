"""1-or-0 flags from documented Insights functions, and every query text bellwatch sends."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.aws.dashboard import top_errors_query
from bellwatch.query._insights_lexer import _Scanner
from bellwatch.query.flags import at_least, between, equals, non_empty
from bellwatch.query.insights import parse
from bellwatch.query.saved import saved_queries
from bellwatch.reports._insights import TOTALS_QUERY

_users = importlib.import_module("bellwatch.reports.users")

_MISSING = object()


def _flag(expr: str, value: Any) -> Any:
    """``expr`` over one record whose field ``f`` is ``value`` (absent for ``_MISSING``)."""
    record: dict[str, Any] = {"@timestamp": 1}
    if value is not _MISSING:
        record["f"] = value
    return parse(f"fields {expr} as flag").run([record])[0].get("flag")


class TestAtLeast:
    @given(st.integers(min_value=-2000, max_value=5000))
    def test_is_the_comparison_as_a_number(self, status: int) -> None:
        """at_least(f, 500) is 1 where f >= 500 holds and 0 where it does not."""
        assert _flag(at_least("f", 500), status) == int(status >= 500)

    @given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
    def test_fractions_compare_as_numbers(self, value: float) -> None:
        """A fractional value (a duration) is compared as the number it is."""
        assert _flag(at_least("f", 2), value) == int(value >= 2)

    def test_missing_field_is_null(self) -> None:
        """A line without the field gives null, which sum() and avg() skip."""
        assert _flag(at_least("f", 500), _MISSING) is None

    def test_refuses_a_non_positive_bound(self) -> None:
        """Division by the bound needs a positive one."""
        with pytest.raises(ValueError, match="positive"):
            at_least("f", 0)


class TestBetween:
    @given(st.integers(min_value=-1000, max_value=2000))
    def test_is_the_range_as_a_number(self, status: int) -> None:
        """between(f, 400, 500) is 1 for a 4xx status, else 0."""
        assert _flag(between("f", 400, 500), status) == int(400 <= status < 500)

    def test_refuses_an_empty_range(self) -> None:
        """low must be below high."""
        with pytest.raises(ValueError, match="low < high"):
            between("f", 500, 400)


class TestEquals:
    @given(
        st.one_of(
            st.text(max_size=30),
            st.sampled_from(
                ["request_complete", "request_completed", "request_complet", "xrequest_complete"]
            ),
        )
    )
    def test_is_exact_equality_as_a_number(self, value: str) -> None:
        """equals(f, name) is 1 for that name only: not a longer or shorter value holding it."""
        assert _flag(equals("f", "request_complete"), value) == int(value == "request_complete")

    def test_missing_field_is_null(self) -> None:
        """A line without the field gives null (counted by nothing)."""
        assert _flag(equals("f", "error"), _MISSING) is None

    def test_refuses_text_needing_quoting(self) -> None:
        """Only plain names: a quote could end the string literal."""
        with pytest.raises(ValueError, match="plain name"):
            equals("f", 'a"b')


class TestNonEmpty:
    @pytest.mark.parametrize(("value", "flag"), [("h1", 1), (7, 1), ("", 0), (_MISSING, 0)])
    def test_one_when_the_field_has_a_value(self, value: Any, flag: int) -> None:
        """non_empty(f) is 1 for any value but "", and 0 without the field."""
        assert _flag(non_empty("f"), value) == flag


# -- every query text bellwatch sends keeps to the documented positions ----------------------

_COMPARISONS = {"=", "!=", "<", ">", "<=", ">=", "=~"}
_BOOLEAN_WORDS = {"and", "or", "not", "like", "in"}
_KEYWORDS = _BOOLEAN_WORDS | {"as", "by", "asc", "desc"}


def _sent_queries() -> dict[str, str]:
    texts = {f"saved {q.name}": q.query for q in saved_queries(1.5)}
    texts["summary totals"] = TOTALS_QUERY
    texts["dashboard top errors"] = top_errors_query()
    texts["users per error"] = _users._PER_ERROR
    for by in ("hour", "day"):
        for name, text in _users._queries(by, 10).items():
            texts[f"users {by} {name}"] = text
    return texts


def _undocumented(text: str) -> list[str]:
    """Comparisons and Boolean operators outside ``filter`` and outside any function's
    parentheses: the positions the AWS page does not document for them."""
    found: list[str] = []
    scanner = _Scanner(text)
    command: str | None = None
    parens: list[bool] = []  # per open parenthesis: is it a function call's?
    previous = ("op", "|", 0)
    while True:
        kind, value, _ = scanner.take()
        if kind == "end":
            return found
        if kind == "op" and value == "|" and not parens:
            command = None
        elif command is None and kind == "name":
            command = value.lower()
            kind = "command"  # the `(` after a command word is not a call's
        elif kind == "op" and value == "(":
            call = previous[0] == "name" and previous[1].lower() not in _KEYWORDS
            parens.append(call)
        elif kind == "op" and value == ")":
            parens.pop()
        elif command != "filter" and not any(parens):
            operator = kind == "op" and value in _COMPARISONS
            word = kind == "name" and value.lower() in _BOOLEAN_WORDS
            if operator or word:
                found.append(f"{command}: {value}")
        previous = (kind, value, 0)


class TestSentQueries:
    @pytest.mark.parametrize(("name", "text"), sorted(_sent_queries().items()))
    def test_compare_only_where_documented(self, name: str, text: str) -> None:
        """No query bellwatch sends compares in fields, stats, sort or display."""
        assert _undocumented(text) == [], name

    @pytest.mark.parametrize(("name", "text"), sorted(_sent_queries().items()))
    def test_parses_locally(self, name: str, text: str) -> None:
        """Every query bellwatch sends runs on the local engine."""
        parse(text)

    def test_checker_finds_a_comparison_in_fields(self) -> None:
        """The checker itself sees the undocumented form it guards against."""
        assert _undocumented("filter a = 1 | fields status >= 500 as e") == ["fields: >="]

    def test_checker_allows_a_comparison_as_an_argument(self) -> None:
        """A comparison inside a function's parentheses is documented."""
        assert _undocumented('fields coalesce(n, event = "error") as o') == []

    def test_checker_sees_grouping_parentheses(self) -> None:
        """Parentheses that only group are not a function's: a comparison there counts."""
        assert _undocumented('fields (sev = "low") * 1 as r') == ["fields: ="]
