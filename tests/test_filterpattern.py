"""CloudWatch Logs filter patterns, checked against every example of the AWS pages.

Unless a test says otherwise, examples come from the AWS page "Filter pattern syntax for
metric filters, subscription filters, filter log events, and Live Tail" (sections on
unstructured, JSON and space-delimited log events; the archived user-guide edition
`FilterAndPatternSyntax.md` and the current page carry the same examples), with the
log events and the documented results written out here.
"""

from __future__ import annotations

import json
import math
import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.query.filterpattern import Matcher, PatternError
from bellwatch.query.filterpattern import compile as compile_pattern
from bellwatch.schema import Ev, F

UNSTRUCTURED = [
    "[ERROR 400] BAD REQUEST",
    "[ERROR 401] UNAUTHORIZED REQUEST",
    "[ERROR 419] MISSING ARGUMENTS",
    "[ERROR 420] INVALID ARGUMENTS",
]

# "Matching terms in JSON log events": the example event, entered on a single line.
JSON_EVENT = json.dumps(
    {
        "eventType": "UpdateTrail",
        "sourceIPAddress": "111.111.111.111",
        "arrayKey": ["value", "another value"],
        "objectList": [{"name": "a", "id": 1}, {"name": "b", "id": 2}],
        "SomeObject": None,
    }
)

# "Using compound expressions to match terms in JSON objects": the example object.
COMPOUND_EVENT = json.dumps(
    {
        "user": {"id": 1, "email": "John.Stiles@example.com"},
        "users": [
            {"id": 2, "email": "John.Doe@example.com"},
            {"id": 3, "email": "Jane.Doe@example.com"},
        ],
        "actions": ["GET", "PUT", "DELETE"],
        "coordinates": [[0, 1, 2], [4, 5, 6], [7, 8, 9]],
    }
)

APACHE = '127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534'


def matching(pattern: str, lines: list[str]) -> list[str]:
    matcher = compile_pattern(pattern)
    return [line for line in lines if matcher.match(line)]


class TestTerms:
    def test_single_term(self) -> None:
        """`ERROR` matches all four documented events."""
        assert matching("ERROR", UNSTRUCTURED) == UNSTRUCTURED

    def test_multiple_terms_are_and(self) -> None:
        """`ERROR ARGUMENTS` matches only the events holding both words."""
        assert matching("ERROR ARGUMENTS", UNSTRUCTURED) == UNSTRUCTURED[2:]

    def test_question_mark_terms_are_or(self) -> None:
        """`?ERROR ?ARGUMENTS` matches all four documented events."""
        assert matching("?ERROR ?ARGUMENTS", UNSTRUCTURED) == UNSTRUCTURED

    def test_exact_phrase(self) -> None:
        """A quoted phrase matches only the event holding it verbatim."""
        lines = [*UNSTRUCTURED, "[ERROR 500] INTERNAL SERVER ERROR"]
        assert matching('"INTERNAL SERVER ERROR"', lines) == ["[ERROR 500] INTERNAL SERVER ERROR"]

    def test_minus_excludes(self) -> None:
        """`ERROR -ARGUMENTS` keeps the events without ARGUMENTS."""
        assert matching("ERROR -ARGUMENTS", UNSTRUCTURED) == UNSTRUCTURED[:2]

    def test_quoted_space_matches_everything(self) -> None:
        """The documented `" "` pattern returns every event."""
        assert matching('" "', [*UNSTRUCTURED, "x"]) == [*UNSTRUCTURED, "x"]

    def test_empty_pattern_matches_everything(self) -> None:
        """An empty pattern matches every event, as in filter-log-events."""
        assert matching("", ["a", ""]) == ["a", ""]

    def test_regex_term(self) -> None:
        """`%AUTHORIZED%` matches both documented events (regex section of the page)."""
        lines = ["[ERROR 401] UNAUTHORIZED REQUEST", "[SUCCESS 200] AUTHORIZED REQUEST", "x"]
        assert matching("%AUTHORIZED%", lines) == lines[:2]

    def test_terms_match_inside_words(self) -> None:
        """Terms are substrings: the older page's `ERROR` matches `ERRORCODE` lines."""
        lines = ["[ERROR] A fatal exception has occurred", "Exiting with ERRORCODE: -1"]
        assert matching("ERROR", lines) == lines
        caught = ["[ERROR] Caught IllegalArgumentException", "[ERROR] Unhandled Exception"]
        assert matching("ERROR Exception", caught) == caught
        assert matching("ERROR -Exiting", lines) == lines[:1]

    def test_unquoted_symbols_rejected(self) -> None:
        """Terms with non-alphanumeric characters must be quoted, as CloudWatch requires."""
        with pytest.raises(PatternError, match="quote") as info:
            compile_pattern("ERROR /api/users")
        assert info.value.pos == 6
        assert compile_pattern('ERROR "/api/users"').match("ERROR on /api/users/7")

    def test_quoted_percent_is_literal(self) -> None:
        """Only an unquoted %...% is a regex; quoted, it is plain text."""
        assert compile_pattern('"%a.c%"').match("x %a.c% y")
        assert not compile_pattern('"%a.c%"').match("abc")

    def test_regex_term_holds_spaces(self) -> None:
        """An unquoted %regex% runs to its closing %, spaces included."""
        assert matching("%ERROR 4[0-9]{2}%", UNSTRUCTURED) == UNSTRUCTURED
        assert not compile_pattern("%ERROR 5%").match("[ERROR 400] BAD REQUEST")

    def test_case_sensitive(self) -> None:
        """Filter patterns are case sensitive."""
        assert matching("error", UNSTRUCTURED) == []

    def test_escaped_quote_in_phrase(self) -> None:
        """A backslash escapes a double quote inside a phrase."""
        assert matching(r'"say \"hi\""', ['he said "hi"', 'say "hi" now']) == ['say "hi" now']

    def test_kind_is_terms(self) -> None:
        """Term patterns report kind `terms`."""
        assert compile_pattern("ERROR").kind == "terms"

    def test_guide_hash_search(self) -> None:
        """The guide's `abc12345` hash search finds the line carrying that fingerprint."""
        line = orjson.dumps({F.EVENT: Ev.ERROR, F.ERROR_HASH: "abc12345"}).decode()
        assert compile_pattern("abc12345").match(line)


class TestJson:
    @pytest.mark.parametrize(
        "pattern",
        [
            '{ $.eventType = "UpdateTrail" }',
            "{ $.sourceIPAddress != 123.123.* }",
            '{ $.arrayKey[0] = "value" }',
            "{ $.objectList[1].id = 2 }",
            "{ $.SomeObject IS NULL }",
            "{ $.SomeOtherObject NOT EXISTS }",
            '{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }',
        ],
    )
    def test_documented_matches(self, pattern: str) -> None:
        """Every documented JSON example matches the documented event."""
        assert compile_pattern(pattern).match(JSON_EVENT)

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ('{ ($.user.id = 1) && ($.users[0].email = "John.Doe@example.com") }', True),
            (
                '{ $.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch"'
                ' && $.actions[2] = "nonmatch" }',
                True,
            ),
            (
                '{ ($.user.email = "John.Stiles@example.com" || $.coordinates[0][1] = "nonmatch")'
                ' && $.actions[2] = "nonmatch" }',
                False,
            ),
            ('{ ($.user.id = 2 && $.users[0].email = "nonmatch") || $.actions[2] = "GET" }', False),
        ],
    )
    def test_compound_expressions(self, pattern: str, expected: bool) -> None:
        """The four documented compound expressions give the documented result."""
        assert compile_pattern(pattern).match(COMPOUND_EVENT) is expected

    @pytest.mark.parametrize(
        ("pattern", "event", "expected"),
        [
            ("{ $.bandwidth > 75 }", {"bandwidth": 80}, True),
            ("{ $.latency < 50 }", {"latency": 50}, False),
            ("{ $.refreshRate >= 60 }", {"refreshRate": 60}, True),
            ("{ $.responseTime <= 5 }", {"responseTime": 5.5}, False),
            ("{ $.errorCode = 400}", {"errorCode": 400}, True),
            ("{ $.errorCode != 500 }", {"errorCode": 400}, True),
            ("{ $.number[0] = 1e-3 }", {"number": [0.001]}, True),
            ("{ $.number[0] != 1e+3 }", {"number": [1000]}, False),
        ],
    )
    def test_numeric_examples(self, pattern: str, event: dict[str, object], expected: bool) -> None:
        """The documented numeric operators, including scientific notation."""
        assert compile_pattern(pattern).match(json.dumps(event)) is expected

    def test_is_true_and_false(self) -> None:
        """`IS TRUE` and `IS FALSE` match only JSON booleans."""
        line = json.dumps({"a": True, "b": False, "c": "true"})
        assert compile_pattern("{ $.a IS TRUE }").match(line)
        assert compile_pattern("{ $.b IS FALSE }").match(line)
        assert not compile_pattern("{ $.c IS TRUE }").match(line)

    def test_selector_on_object_never_matches(self) -> None:
        """A selector pointing at an array or object does not match."""
        assert not compile_pattern('{ $.arrayKey = "*" }').match(JSON_EVENT)

    def test_missing_field_fails_not_equal(self) -> None:
        """`!=` on an absent property does not match; `NOT EXISTS` is for that."""
        assert not compile_pattern('{ $.nope != "x" }').match(JSON_EVENT)

    def test_regex_value(self) -> None:
        """A `%regex%` value matches the string form of the property."""
        assert compile_pattern("{ $.eventType = %Update[A-Z]% }").match(JSON_EVENT)

    @pytest.mark.parametrize(
        ("pattern", "expected"),
        [
            ('{ $.* = "UpdateTrail" }', True),
            ("{ $.* = 2 }", False),  # objectList's ids are one level down
            ("{ $.objectList[*].id = 2 }", True),
            ("{ $.objectList[*].id > 2 }", False),
            ('{ $.arrayKey[*] != "value" }', True),  # some element differs
            ("{ $.nope[*] NOT EXISTS }", True),
            ("{ $.objectList[*].id NOT EXISTS }", False),
            ("{ $.* IS NULL }", True),
            ("{ $.['cluster.name'] = \"c1\" }", True),
            ('{ $["cluster.name"] = "c1" }', True),
            ("{ $.['it\\'s'] = 1 }", True),
        ],
    )
    def test_wildcards_and_bracket_keys(self, pattern: str, expected: bool) -> None:
        """A wildcard selector matches when any value it reaches does; a bracketed key may
        hold dots and quotes."""
        line = json.dumps({**json.loads(JSON_EVENT), "cluster.name": "c1", "it's": 1})
        assert compile_pattern(pattern).match(line) is expected

    def test_non_json_line_never_matches(self) -> None:
        """A banner or traceback line never matches a JSON pattern."""
        assert not compile_pattern("{ $.a NOT EXISTS }").match("Traceback (most recent call)")

    def test_parsed_event_skips_parsing(self) -> None:
        """The parsed event is used when given, whatever the raw line says."""
        assert compile_pattern('{ $.a = "b" }').match("not json", {"a": "b"})

    def test_bellwatch_slow_requests(self) -> None:
        """The guide's slow-request search, corrected to JSON form, finds slow requests."""
        matcher = compile_pattern('{ $.event = "request_complete" && $.duration > 2 }')
        slow = orjson.dumps({F.EVENT: Ev.REQUEST, F.DURATION: 2.5, F.STATUS: 200}).decode()
        fast = orjson.dumps({F.EVENT: Ev.REQUEST, F.DURATION: 0.1, F.STATUS: 200}).decode()
        assert (matcher.match(slow), matcher.match(fast), matcher.kind) == (True, False, "json")

    def test_guide_space_pattern_never_matches_json(self) -> None:
        """The guide's space-delimited slow-request pattern cannot match a JSON line."""
        matcher = compile_pattern('[timestamp, level, event="request_complete", ..., duration>2]')
        line = orjson.dumps({F.EVENT: Ev.REQUEST, F.DURATION: 3.0}).decode()
        assert not matcher.match(line)

    def test_metric_value_from_selector(self) -> None:
        """`{ $.latency = * }` with metricValue `$.latency` publishes 50."""
        matcher = compile_pattern("{ $.latency = * }", metric_value="$.latency")
        assert matcher.value('{"latency": 50, "requestType": "GET"}') == 50.0

    def test_metric_value_none_when_no_match(self) -> None:
        """A non-matching event publishes no value."""
        matcher = compile_pattern("{ $.latency > 100 }", metric_value="$.latency")
        assert matcher.value('{"latency": 50}') is None

    def test_default_metric_value_is_one(self) -> None:
        """Without a metricValue each match counts 1."""
        assert compile_pattern("{ $.a = 1 }").value('{"a": 1}') == 1.0


class TestSpaceDelimited:
    @pytest.mark.parametrize(
        "pattern",
        [
            "[ip, user, username, timestamp, request =*.html*, status_code = 4*, bytes]",
            "[..., request =*.html*, status_code = 4*, bytes]",
            "[ip, user, username, timestamp, request =*.html*, status_code = 404 || status_code"
            " = 410, bytes]",
            "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
        ],
    )
    def test_documented_apache_patterns(self, pattern: str) -> None:
        """Every documented space-delimited pattern matches the documented Apache line."""
        assert compile_pattern(pattern).match(APACHE)

    def test_extracted_values(self) -> None:
        """Quoted and bracketed text are single fields, extracted as documented."""
        matcher = compile_pattern(
            "[ip, user, username, timestamp, request, status_code, bytes]", metric_value="$bytes"
        )
        assert matcher.value(APACHE) == 1534.0
        assert compile_pattern("[ip, u, n, t, r, s, b]", metric_value="$s").value(APACHE) == 404.0

    def test_condition_that_fails(self) -> None:
        """A failing condition rejects the line."""
        assert not compile_pattern("[..., status_code = 5*, bytes]").match(APACHE)

    def test_first_word(self) -> None:
        """`[w1=ERROR, w2]` returns events whose first word is ERROR."""
        lines = ["ERROR 400 BAD REQUEST", "WARNING disk", "INFO all fine"]
        assert matching("[w1=ERROR, w2]", lines) == lines[:1]

    def test_first_word_or(self) -> None:
        """`[w1=ERROR || W1=WARNING, w2]` returns ERROR or WARNING events."""
        lines = ["ERROR 400 BAD REQUEST", "WARNING disk", "INFO all fine"]
        assert matching("[w1=ERROR || W1=WARNING, w2]", lines) == lines[:2]

    def test_first_word_excluded(self) -> None:
        """`[w1!=ERROR && w1!=WARNING, w2]` excludes both words."""
        lines = ["ERROR 400 BAD REQUEST", "WARNING disk", "INFO all fine"]
        assert matching("[w1!=ERROR && w1!=WARNING, w2]", lines) == lines[2:]

    def test_too_few_fields(self) -> None:
        """A line with fewer fields than the pattern does not match."""
        assert not compile_pattern("[a, b, c]").match("one two")

    def test_kind_is_space(self) -> None:
        """Space-delimited patterns report kind `space`."""
        assert compile_pattern("[a, ...]").kind == "space"


class TestErrors:
    @pytest.mark.parametrize(
        ("pattern", "pos"),
        [
            ('"unterminated', 0),
            ("{ $.a = 1", 9),
            ("{ $.a ~ 1 }", 6),
            ("{ $.a > abc }", 8),
            ("{ $.a IS NOT NULL }", 9),
            ("{ $.a EXISTS }", 6),
            ("[a, , b]", 4),
            ("{ $.a = %(x)% }", 8),
        ],
    )
    def test_position_reported(self, pattern: str, pos: int) -> None:
        """Invalid patterns raise PatternError pointing at the offending position."""
        with pytest.raises(PatternError) as info:
            compile_pattern(pattern)
        assert info.value.pos == pos
        assert f"position {pos}" in str(info.value)

    def test_at_most_two_regexes(self) -> None:
        """A JSON or space-delimited pattern holds at most 2 %regex% (the page's quota)."""
        compile_pattern("{ $.a = %x% && $.b = %y% }")
        with pytest.raises(PatternError, match="at most 2"):
            compile_pattern("{ $.a = %x% && $.b = %y% && $.c = %z% }")
        with pytest.raises(PatternError, match="at most 2"):
            compile_pattern("[a = %x%, b = %y%, c = %z%]")

    def test_pattern_error_is_value_error(self) -> None:
        """Callers can catch ValueError."""
        assert issubclass(PatternError, ValueError)


class TestFuzz:
    @settings(max_examples=300, deadline=None)
    @given(st.text(max_size=60))
    def test_arbitrary_patterns(self, pattern: str) -> None:
        """Any text either compiles or raises PatternError, and matching never raises."""
        try:
            matcher = compile_pattern(pattern)
        except PatternError:
            return
        assert isinstance(matcher, Matcher)
        matcher.match(pattern)
        matcher.match('{"a": [1, {"b": null}], "c": "x"}')

    @settings(max_examples=200, deadline=None)
    @given(
        st.sampled_from(["{ ", "[", ""]),
        st.lists(
            st.sampled_from(
                [
                    "$.a",
                    "=",
                    "!=",
                    ">",
                    "1",
                    '"x"',
                    "&&",
                    "||",
                    "(",
                    ")",
                    "w",
                    ",",
                    "...",
                    "IS",
                    "NULL",
                    "NOT",
                    "EXISTS",
                    "*",
                    "%a%",
                ]
            ),
            max_size=12,
        ),
        st.sampled_from([" }", "]", ""]),
    )
    def test_structured_fragments(self, head: str, parts: list[str], tail: str) -> None:
        """Near-valid patterns never raise anything but PatternError."""
        try:
            matcher = compile_pattern(head + " ".join(parts) + tail)
        except PatternError:
            return
        matcher.match('{"a": 1}')
        matcher.match("w x y")

    @settings(max_examples=200, deadline=None)
    @given(
        st.lists(
            st.text(
                st.sampled_from("abcXYZ019_"),
                min_size=1,
                max_size=6,
            ),
            min_size=1,
            max_size=4,
        ),
        st.text(max_size=40),
    )
    def test_terms_equal_substring_and(self, terms: list[str], line: str) -> None:
        """A plain multi-term pattern is exactly: every term is a substring of the line."""
        pattern = " ".join(terms)
        assert compile_pattern(pattern).match(line) is all(t in line for t in terms)

    @settings(max_examples=200, deadline=None)
    @given(
        st.one_of(
            st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6), st.text(max_size=5), st.none()
        ),
        st.integers(-100, 100),
    )
    def test_json_numeric_comparisons_partition(self, value: object, k: int) -> None:
        """For a number, exactly one of `> k` and `<= k` matches; for anything else neither."""
        line = json.dumps({"a": value})
        above = compile_pattern(f"{{ $.a > {k} }}").match(line)
        below = compile_pattern(f"{{ $.a <= {k} }}").match(line)
        is_number = isinstance(value, int | float) or (
            isinstance(value, str) and _is_number_text(value)
        )
        assert (above or below) is is_number and not (above and below)

    @settings(max_examples=200, deadline=None)
    @given(st.dictionaries(st.sampled_from(["a", "b", "c"]), st.integers(0, 3), max_size=3))
    def test_json_and_or_match_python(self, event: dict[str, int]) -> None:
        """`&&` and `||` agree with Python's and/or over the same comparisons."""
        line = json.dumps(event)
        a, b = event.get("a") == 1, event.get("b", -1) > 1
        assert compile_pattern("{ $.a = 1 && $.b > 1 }").match(line) is (a and b)
        assert compile_pattern("{ $.a = 1 || $.b > 1 }").match(line) is (a or b)


def _is_number_text(text: str) -> bool:
    """JSON-pattern numbers: optional sign, digits, decimals, exponent; spaces around ok."""
    if not re.fullmatch(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", text.strip()):
        return False
    return math.isfinite(float(text))
