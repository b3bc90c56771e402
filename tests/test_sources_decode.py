"""The fast line decoder: it gives what the record reader's parse gives, or refuses."""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.sources import _decode, _fold
from bellwatch.sources._decode import FIELDS, Decoder
from bellwatch.sources.facts import Facts
from bellwatch.sources.reader import parse


@contextmanager
def _without_msgspec() -> Iterator[None]:
    """Every fold parses with the reader, as without msgspec (hypothesis tests cannot
    take the function-scoped monkeypatch fixture)."""
    saved = _decode._SHARED[:]
    _decode._SHARED[:] = [None]
    try:
        yield
    finally:
        _decode._SHARED[:] = saved


pytest.importorskip("msgspec")


def same(a: Any, b: Any) -> bool:
    """Equal values of the same types (``1``, ``1.0`` and ``True`` differ; floats by bits).
    A list or an object is never read into by the facts (a value of the wrong type counts
    as absent): only its type must agree."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return math.copysign(1, a) == math.copysign(1, b) and a == b
    return isinstance(a, list | dict) or bool(a == b)


def agrees(decoder: Decoder, line: bytes) -> None:
    """The decoder's answer for ``line``, when it gives one, is the reader's parse."""
    expected = parse(line)
    try:
        got = decoder.decode(line)
    except decoder.errors:
        got = None
    if got is not None and decoder.long(line):
        got = None  # the fold sends such a line to the reader
    fallback = decoder.fallback(line)  # what the fold reads when decode refuses
    for event in (got, fallback):
        if event is None:
            continue
        assert expected is not None, line
        # a decoded line holds None where the key is absent (each field holds its
        # schema type or None); a parsed one, UNSET
        absent = decoder.UNSET if type(event) is _decode.PARSED else None
        for attr, key in FIELDS:
            want = expected.get(key, absent)
            if absent is None and key == "duration" and type(want) is int:
                want = float(want)  # a duration is read as a float whatever its text
            assert same(getattr(event, attr), want), (line, key, getattr(event, attr), want)
    if fallback is None:
        assert expected is None and got is None, line


# Values a line may hold: valid JSON of every kind, and what a strict parser must refuse
# or read differently from a lenient one.
_ODD = [
    b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"1E400", b"2e308", b"1e-400",
    b"1.7976931348623157e308", b"1.7976931348623159e308", b"1.797693134862316e308",
    b"18446744073709551615", b"18446744073709551616", b"9223372036854775807",
    b"9223372036854775808", b"-9223372036854775808", b"-9223372036854775809",
    b"1" * 308, b"9" * 309, b"1" * 400, b"[" + b"1" * 400 + b"]", b"1" + b"0" * 300 + b"e9",
    b"[1,]", b'{"a":1,}', b"[1 2]", b'"\\ud800"', b'"\\udc00"', b'"\\ud83d\\ude00"',
    b'"\xff"', b'"\xed\xa0\x80"', b'"\xc0\x80"', b'"\xf0\x9f\x98\x80"', b'"a\x01"', b'"\\u0000"',
    b"01", b"1.", b".5", b"-", b"+1", b"-0", b"-0.0", b"1E5", b"true", b"false", b"null",
    b"True", b"nul", b"'x'", b'"\\x"', b"[" * 1100 + b"]" * 1100, b"[" * 900 + b"]" * 900,
    b'{"ts":1}', b"[[],{}]", b'"INFO"', b'"ERROR"', b'"request_complete"', b'"/a"', b'"GET"',
]  # fmt: skip
# keys: ours, learnable ones, escaped, unnameable, and bytes that are not UTF-8
_KEYS = [key for _, key in FIELDS]
_KEYS += ["uid", "note", "x", "", "a b", "t\\u0073", "\xe9", '\\"q', "\\u0000", "\xff"]
_KEYS += ["\udcff", "\udced\udca0\udc80"]  # surrogate escapes: bytes that are not UTF-8
_VALUE = st.one_of(
    st.sampled_from(_ODD),
    st.builds(
        orjson.dumps,
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(-(2**63), 2**64 - 1),
            st.floats(allow_nan=False, allow_infinity=False),
            st.text(max_size=6),
            st.lists(st.integers(-(2**63), 2**63 - 1), max_size=2),
        ),
    ),
)
_MEMBER = st.builds(lambda k, v: b'"' + k.encode("utf-8", "surrogateescape") + b'":' + v,
                    st.sampled_from(_KEYS), _VALUE)  # fmt: skip
_OBJECT = st.builds(lambda ms, sep: b"{" + sep.join(ms) + b"}", st.lists(_MEMBER, max_size=6),
                    st.sampled_from([b",", b" , ", b",\t"]))  # fmt: skip
_LINE = st.one_of(
    _OBJECT,
    st.builds(
        lambda o, pre, post: pre + o + post,
        _OBJECT,
        st.sampled_from([b"", b" ", b"\t", b"\xef\xbb\xbf", b"x"]),
        st.sampled_from([b"", b" ", b"\r", b",", b"}", b"{}", b" x", b"\x00"]),
    ),
    st.builds(lambda o, cut: o[:cut], _OBJECT, st.integers(0, 40)),
    st.sampled_from(_ODD),
    st.binary(max_size=40),
)


class TestAgreesWithTheReader:
    @pytest.mark.parametrize(
        "line",
        [
            b'{"ts":NaN}', b'{"x":Infinity}', b'{"x":1e999}', b'{"ts":1,"x":-1e999}',
            b'{"ts":1,}', b'{"ts":[1,]}', b'{"ts":1,"ts":2}', b'{"event":"a","event":"b"}',
            b"{}", b"\xef\xbb\xbf{}", b'{"x":"\xff"}', b'{"\xff":1}', b'{"x":"\xed\xa0\x80"}',
            b'{"x":' + b"[" * 1100 + b"]" * 1100 + b"}",
            b'{"x":' + b"[" * 1000 + b"]" * 1000 + b"}",
            b'{"x":' + b"[" * 1020 + b"]" * 1020 + b',"y":[[[[[]]]]]}',
            b"[1]", b'"x"', b"1", b"null", b'{"ts":18446744073709551616}',
            b'{"x":[' + b"1" * 400 + b"]}", b'{"t\\u0073":5}', b'{"ts":1}{"ts":2}', b'{"ts":1}\r',
            b' {"ts":1}', b'{"ts":1} ', b'{"x":"\\u0000"}', b'{"a\\u0000":1}',
            b'{"duration":5}', b'{"duration":true}', b'{"status":500.0}', b'{"level":30}',
            b'{"ts":"2025-01-01T00:00:00Z"}', b'{"ts":1.5}', b'{"n":2.0}', b'{"path":5}',
            b'{"cid":null,"hash":["h"]}', b'{"duration":18446744073709551615}',
        ],
    )  # fmt: skip
    def test_strictness_cases(self, line: bytes) -> None:
        """NaN, Infinity, 1e999, trailing commas, duplicate keys, ``{}``, a BOM, bad UTF-8,
        deep nesting, huge numbers and non-objects: decoded as the reader parses them."""
        decoder = Decoder()
        agrees(decoder, line)
        agrees(decoder, line)  # and again, once it has learned the line's keys

    def test_nesting_whatever_the_recursion_limit(self) -> None:
        """msgspec's nesting limit follows Python's recursion limit; orjson's is 1024 levels:
        with the limit raised, a line nested deeper still goes to the reader."""
        before = sys.getrecursionlimit()
        sys.setrecursionlimit(10_000)
        try:
            for depth in (1000, 1023, 1024, 1100, 2000):
                agrees(Decoder(), b'{"x":' + b"[" * depth + b"]" * depth + b"}")
        finally:
            sys.setrecursionlimit(before)

    @settings(max_examples=400, deadline=None)
    @given(st.lists(_LINE, min_size=1, max_size=8))
    def test_any_line(self, lines: list[bytes]) -> None:
        """Whatever the bytes, a line the decoder reads holds the values the reader parses,
        before and after it has learned the keys and values of the lines before it."""
        decoder = Decoder()
        for line in lines + lines:
            agrees(decoder, line)

    @settings(max_examples=300, deadline=None)
    @given(st.floats(allow_nan=False, allow_infinity=False), st.sampled_from(["ts", "duration"]))
    def test_numbers_read_alike(self, value: float, key: str) -> None:
        """Any float, written by orjson or as Python's repr, is read to the same bits."""
        decoder = Decoder()
        for text in (orjson.dumps(value), repr(value).encode()):
            agrees(decoder, b'{"' + key.encode() + b'":' + text + b"}")

    @settings(max_examples=300, deadline=None)
    @given(st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][-+]?[0-9]{1,3})?",
                         fullmatch=True))  # fmt: skip
    def test_decimal_text(self, number: str) -> None:
        """Any JSON number text, short or long, near the float limits or not."""
        agrees(Decoder(), b'{"duration":' + number.encode() + b',"x":' + number.encode() + b"}")


class TestLearning:
    def test_a_new_key_is_learned(self) -> None:
        """A line with a key not met before goes to the reader once; the next is decoded."""
        decoder = Decoder()
        line = b'{"ts":1,"user":"u1"}'
        with pytest.raises(decoder.errors):
            decoder.decode(line)
        decoder.fallback(line)
        assert decoder.decode(line).ts == 1

    def test_values_are_the_strings_held(self) -> None:
        """A route met before comes back as the string already held, not a new one."""
        decoder = Decoder()
        decoder.fallback(b'{"path":"/api/a"}')
        first = decoder.decode(b'{"path":"/api/a"}').path
        assert decoder.decode(b'{"path":"/api/a"}').path is first

    def test_too_many_values_become_any_text(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past MAX_VALUES distinct routes, any route is decoded (a new string each)."""
        monkeypatch.setattr(_decode, "MAX_VALUES", 3)
        decoder = Decoder()
        for i in range(5):
            decoder.fallback(b'{"path":"/p%d"}' % i)
        assert decoder.decode(b'{"path":"/never"}').path == "/never"

    def test_unnameable_keys_go_to_the_reader(self) -> None:
        """A key msgspec cannot name (a quote, backslash or control character) is never
        learned: such lines are always read by the reader, with the same answers."""
        decoder = Decoder()
        line = b'{"ts":3,"a\\"b":1}'
        decoder.fallback(line)
        with pytest.raises(decoder.errors):
            decoder.decode(line)
        agrees(decoder, line)


def facts_of(lines: list[bytes]) -> tuple[Any, ...]:
    facts = Facts()
    carry = _fold.fold_lines(facts, lines)
    counts = (facts.records, facts.text, facts.head_text, facts.untimed, facts.min_ts)
    counts += (facts.max_ts, facts.last_ts, facts.error_lines, facts.health_failures, carry)
    order = (list(facts.ep), list(facts.err), list(facts.tw))  # as first met
    return counts, order, facts.ep, facts.err, facts.slow, facts.slow_lo, facts.tw, facts.eu


_ABSENT = object()


def _event(**fields: object) -> bytes:
    return orjson.dumps({k: v for k, v in fields.items() if v is not _ABSENT})


_EVENT_LINE = st.builds(
    _event,
    ts=st.one_of(st.just(_ABSENT), st.none(), st.integers(0, 99), st.text(max_size=3)),
    event=st.sampled_from(["request_complete", "request_complete", "error", "aggregated_error",
                           "health_check_failed", "signature_validation_failed", "booking"]),
    method=st.sampled_from([_ABSENT, "GET", "POST", None, 1]),
    path=st.sampled_from([_ABSENT, "/a", "/b", "/twilio/voice", None, 3]),
    status=st.sampled_from([_ABSENT, 200, 302, 404, 500, 500.0, True, "500", None, 199]),
    duration=st.one_of(st.just(_ABSENT), st.none(), st.floats(0, 5), st.integers(0, 5),
                       st.booleans()),
    cid=st.sampled_from([_ABSENT, "c1", "c2", 5]),
    sid=st.sampled_from([_ABSENT, "CA1", "CA2"]),
    hash=st.sampled_from([_ABSENT, "h1", "h2", 7]),
    n=st.sampled_from([_ABSENT, _ABSENT, 1, 2.0, -1, None]),
    level=st.sampled_from([_ABSENT, "INFO", "ERROR", "CRITICAL", ["ERROR"]]),
    uid=st.sampled_from([_ABSENT, "u1", "u2", 1e300]),
)  # fmt: skip


class TestFoldWithoutMsgspec:
    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.one_of(_EVENT_LINE, _EVENT_LINE, _LINE), max_size=40))
    def test_same_facts_for_any_lines(self, lines: list[bytes]) -> None:
        """The decoded fold and the parsed fold give the same facts, whatever the lines."""
        fast = facts_of(lines)
        with _without_msgspec():
            assert facts_of(lines) == fast

    def test_same_facts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without msgspec every line is parsed by the reader, with the same facts."""
        lines = [
            b'{"ts":1,"event":"request_complete","method":"GET","path":"/a","status":500,'
            b'"duration":2.5,"cid":"c1"}',
            b"Traceback (most recent call last):",
            b'{"ts":2,"event":"error","hash":"h1","n":3,"level":"ERROR","path":"/a"}',
            b'{"ts":3,"event":"request_complete","path":"/a","duration":1e999}',
            b'{"ts":4,"event":"request_complete","path":"/twilio/x","status":403,"sid":"CA1"}',
            b'{"ts":5,"event":"request_complete","path":"/a","status":500,"hash":"h1","uid":"u1"}',
        ]
        fast = Facts()
        _fold.fold_lines(fast, lines)
        monkeypatch.setattr(_decode, "_SHARED", [None])
        slow = Facts()
        _fold.fold_lines(slow, lines)
        assert (fast.records, fast.text, fast.error_lines) == (slow.records, slow.text, 1)
        assert (fast.ep, fast.err, fast.slow, fast.tw) == (slow.ep, slow.err, slow.slow, slow.tw)
        assert fast.eu == slow.eu == {"h1": {"u1"}}


def buffer_facts(data: bytes) -> tuple[Any, ...]:
    facts = Facts()
    carry = _fold.fold_data(facts, data, at_start=True)
    counts = (facts.records, facts.text, facts.head_text, facts.untimed, facts.min_ts)
    counts += (facts.max_ts, facts.last_ts, facts.error_lines, facts.health_failures, carry)
    order = (list(facts.ep), list(facts.err), list(facts.tw))
    return counts, order, facts.ep, facts.err, facts.slow, facts.slow_lo, facts.tw, facts.eu


class TestBuffer:
    """A buffer of lines is decoded a run of lines at a time, with the facts of its lines
    read one by one."""

    @settings(max_examples=400, deadline=None)
    @given(
        st.lists(st.one_of(_EVENT_LINE, _EVENT_LINE, _LINE), max_size=40),
        st.sampled_from([b"", b"\n"]),
    )
    def test_same_facts_as_line_by_line(self, lines: list[bytes], end: bytes) -> None:
        """Whatever the lines (text, blank, cut, several values on a line, values over
        several lines), the buffer's facts are those of its lines parsed by the reader."""
        data = b"\n".join(lines) + end
        fast = buffer_facts(data)
        with _without_msgspec():
            assert buffer_facts(data) == fast

    @pytest.mark.parametrize(
        "data",
        [
            b'{"ts":1}\n{"ts":2} {"ts":3}\n{"ts":4}\n',  # two values on a line
            b'{"ts":1,"x":{}\n{"ts":2}}\n{"ts":5} {"ts":6}\n',  # one over two lines, two on one
            b'{"ts":1}\r\n{"ts":2}\r\n',  # CRLF
            b'{"ts":1}\n\n \n{"ts":2}',  # blank lines, a last line without a newline
            b'{"ts":1}\n{"ts":2',  # a cut last line
            b'x\n{"ts":1}\n{"ts":2} \n {"ts":3}\n{"ts":4,"x":[1]}\n{"ts":5,"y":{"a":1}}\n',
            b'\n{"ts":1}\n',
            b"{}\n{}\n[]\n",
            b'{"ts":1,"note":"\xff"}\n{"ts":2}\n',
            b'{"ts":1,"x":[' + b"1" * 400 + b']}\n{"ts":2}\n',
        ],
    )  # fmt: skip
    def test_lines_that_are_not_one_value_each(self, data: bytes) -> None:
        """Lines holding several values, values over several lines, CRLF, blank, cut,
        nested and non-UTF-8 lines: the facts of the lines read one by one."""
        fast = buffer_facts(data)
        with _without_msgspec():
            assert buffer_facts(data) == fast
