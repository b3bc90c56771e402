"""The C scanner (bellwatch.sources._native, _scan.c): the facts of the Python fold,
whatever the lines; plain lines folded in C, every other handed back."""

from __future__ import annotations

import json
import math
import shutil
from array import array
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.sources import _cext, _decode, _decoded, _fold, _native, histogram
from bellwatch.sources.facts import Facts

pytestmark = pytest.mark.skipif(
    not _native.AVAILABLE and shutil.which("cc") is None,
    reason="no C compiler: the scanner was not built (the Python fold runs)",
)


def test_built() -> None:
    """Where a C compiler is found, `pip install` builds the scanner (the extension is
    optional: a failed build would pass unnoticed but for this test)."""
    assert _native.AVAILABLE


def facts(data: bytes, *, native: bool) -> tuple[Any, ...]:
    """Everything a fold leaves: counters, order first met, every section."""
    out = Facts()
    if native:
        carry = _native.fold_buffer(out, data, None)
    else:
        carry = _decoded.fold_buffer(out, data, _decode.Decoder(), None)
    counts = (out.records, out.text, out.head_text, out.untimed, out.min_ts, out.max_ts)
    counts += (out.last_ts, out.error_lines, out.health_failures, carry)
    order = (list(out.ep), list(out.err), list(out.tw))
    slow = [(*row[:3], repr(row[3]), *row[4:]) for row in out.slow + out.slow_lo]  # -0.0
    hist = {k: (e[:5], e[5]) for k, e in out.ep.items()}  # bytes: -0.0 is not 0.0
    return counts, order, hist, out.err, slow, out.tw, out.eu


def agree(data: bytes) -> None:
    assert facts(data, native=True) == facts(data, native=False)


@contextmanager
def handed_back() -> Iterator[list[bytes]]:
    """The lines the scanner hands back to Python while the block runs."""
    seen: list[bytes] = []
    real = _native.parse

    def spy(line: bytes) -> Any:
        seen.append(line)
        return real(line)

    _native.parse = spy  # type: ignore[assignment]
    try:
        yield seen
    finally:
        _native.parse = real  # type: ignore[assignment]


def req(**extra: object) -> bytes:
    event = {"ts": 1_758_918_600_000, "level": "INFO", "event": "request_complete",
             "cid": "0123456789ab", "method": "GET", "path": "/api/users/{user_id}",
             "status": 200, "duration": 0.05} | extra  # fmt: skip
    return orjson.dumps({k: v for k, v in event.items() if v is not ...})


class TestPlainLines:
    def test_folded_in_c(self) -> None:
        """Requests, other events, text and blank lines: none reaches Python."""
        data = b"\n".join([
            req(), req(status=503, duration=2.5), req(status=404, cid=...),
            orjson.dumps({"ts": 5, "level": "ERROR", "event": "booking_failed", "x": [1, {}]}),
            b"Traceback (most recent call last):", b"", req(path="/twilio/voice"),
            req(path="/twilio/voice", status=500, sid="CA1"),  # failed webhooks: their
            req(path="/twilio/sms", status=302, cid=...),  # fields go to Python as read
            req(path="/twilio/voice", status=403, sid=""),
            req(path="/twilio/voice", status=403, sid="CA1"),
        ]) + b"\n"  # fmt: skip
        with handed_back() as seen:
            agree(data)
        assert seen == []

    @pytest.mark.parametrize("size", range(41))
    def test_strings_of_every_length(self, size: int) -> None:
        """Strings are scanned 8 bytes at a time: every length, and a quote, backslash,
        control or non-ASCII byte at every position, is read exactly, in C."""
        text = "".join(chr(97 + i % 26) for i in range(size))
        data = b"\n".join([
            req(path="/" + text, method=text.upper() or "GET", cid=text, duration=3.0),
            orjson.dumps({"ts": 1, "event": "x", text: text + "\u00e9\u2603"}),
        ]) + b"\n"  # fmt: skip
        with handed_back() as seen:
            agree(data)
        assert seen == []
        folded = Facts()
        _native.fold_buffer(folded, data, None)
        assert [row[1:3] + row[5:] for row in folded.slow] == [
            (text.upper() or "GET", "/" + text, text)
        ]

    def test_same_slow_rows_and_counts(self) -> None:
        data = b"\n".join(req(duration=d / 4, status=s) for d in range(12) for s in (200, 404, 500))
        agree(data)
        folded = Facts()
        _native.fold_buffer(folded, data, None)
        assert folded.records == 36
        assert folded.ep[("GET", "/api/users/{user_id}")][3:5] == [12, 12]


class TestWithoutTheScanner:
    def test_the_python_fold_gives_the_same_facts(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Where no compiler built the scanner, fold_data folds in Python: same facts."""
        data = b"\n".join([req(), req(hash="h1", uid="u1"), b"text", req(status=503)]) + b"\n"
        with_c = Facts()
        _fold.fold_data(with_c, data, at_start=True)
        monkeypatch.setattr(_native, "AVAILABLE", False)
        without = Facts()
        _fold.fold_data(without, data, at_start=True)
        assert (with_c.records, with_c.text, with_c.ep, with_c.eu) == (
            without.records,
            without.text,
            without.ep,
            without.eu,
        )


class TestHandedBack:
    @pytest.mark.parametrize(
        "line",
        [
            req(hash="abc12345", uid="u1"),  # an error's user: Python folds it
            req(n=3),
            req(path="/twilio/voice", status=500, sid=5),  # a failed webhook, odd sid
            req(path="/twilio/voice", status=500, sid="CA\u00e9"),  # sid with an escape
            req(event="signature_validation_failed"),
            req(event="health_check_failed"),
            req(ts="2025-09-26T20:30:00Z"),  # a time as text
            req(ts=1.5e12),
            req(ts=None),
            req(ts=...),
            req(status=200.0),
            req(status="200"),
            req(duration=None),
            req(duration=True),
            req(method=None),
            req(path=["/a"]),
            req(cid=7),
            req(level=None),
            req(event=None),
            req(path="/caf\u00e9/\u2603", method="G\\ET"),  # an escape in a value we read
            b'{"ts":1,"event":"request_complete","method":"GET","path":"/a","status":200,'
            b'"duration":1,"p\\u0061th":"/b"}',  # a key spelled with an escape
            b'{"ts":1,"ts":2,"event":"x"}',  # a repeated key we read
            b'{"ts":1,"event":"x","note":"\\ud83d\\ude00"}',  # a surrogate escape
            b'{"ts":1,"event":"x","note":"\\ud83d"}',  # a lone surrogate
            b'{"ts":1,"event":"x","big":1e999}',
            b'{"ts":1,"event":"x","big":1' + b"0" * 30 + b"}",
            b'{"ts":1,"event":"x","deep":' + b"[" * 70 + b"]" * 70 + b"}",
            b'{"ts":123456789012345678901,"event":"x"}',
            b' {"ts":1}',
            b'\t{"ts":1}',
            b"\r",
            b'{"ts":1,}',
            b'{"ts":NaN}',
            b'{"ts":1} x',
            b'{"ts":1}{"ts":2}',
            b'{"ts":01}',
            b'{"ts":1,"note":"\x01"}',
            b'{"ts":1,"note":"\xff"}',
            b'{"ts":1,"note":"\xed\xa0\x80"}',  # an encoded surrogate
            b'{"ts":1,"note":"\xc0\xaf"}',  # an overlong form
            b'{"ts":1,"note":"\xf4\x90\x80\x80"}',  # past U+10FFFF
            b'{"ts":1,"note":"\\x"}',
            b"{",
            b"{}",
        ],
    )
    def test_same_facts(self, line: bytes) -> None:
        """Whatever the scanner cannot be sure of goes to the reader: the same facts."""
        agree(line + b"\n" + req() + b"\n" + line)

    def test_the_handed_back_line_only(self) -> None:
        odd = req(hash="abc12345")
        with handed_back() as seen:
            agree(b"\n".join([req(), odd, req(), odd, req()]))
        assert seen == [odd, odd]

    def test_a_last_line_without_a_newline(self) -> None:
        agree(req() + b"\n" + req(hash="h"))
        agree(req() + b"\n" + req())


_TEXTS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["/twilio/x", "/a", "GET", "request_complete", "ERROR", "CRITICAL", ""]),
)
_VALUES = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(-(2**70), 2**70), _TEXTS,
        st.floats(allow_nan=False, allow_infinity=False),
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXTS, inner, max_size=3),
    max_leaves=6,
)  # fmt: skip
_KEYS = st.sampled_from(
    ["ts", "level", "event", "cid", "method", "path", "status", "duration", "hash", "n",
     "uid", "sid", "type", "msg", "sev", "x"]
)  # fmt: skip


@st.composite
def _line(draw: st.DrawFn) -> bytes:
    """A plain request, a mutation of one, or any bytes."""
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=30))
    base = orjson.loads(req(status=draw(st.sampled_from([200, 302, 404, 500, 503]))))
    base["duration"] = draw(st.floats(0, 10) | st.integers(0, 10))
    for _ in range(draw(st.integers(0, 2))):
        base[draw(_KEYS)] = draw(_VALUES)
    ascii_only = draw(st.booleans())  # escapes, or UTF-8 as is
    line = json.dumps(base, separators=(",", ":"), ensure_ascii=ascii_only).encode()
    if kind == 1:  # a repeated key, or spaces, inside the object
        line = (
            line.replace(b"{", b'{"ts":3, ', 1)
            if draw(st.booleans())
            else line.replace(b",", b" ,\t", 1)
        )
    elif kind == 2:  # cut or extended
        at = draw(st.integers(0, len(line)))
        line = line[:at] + draw(st.sampled_from([b"", b" ", b"\r", b"}", b",", b"\x00"]))
    return line


class TestAnyLines:
    @settings(max_examples=500, deadline=None)
    @given(st.lists(_line(), max_size=30), st.sampled_from([b"", b"\n"]))
    def test_same_facts(self, lines: list[bytes], end: bytes) -> None:
        """The native fold and the Python fold agree on any mix of lines."""
        agree(b"\n".join(lines) + end)


class TestHistograms:
    """The scanner's duration histograms (:mod:`bellwatch.sources.histogram` uses them)."""

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.floats() | st.sampled_from([0.0, -0.0, 0.05]), max_size=200))
    def test_count_is_the_python_count(self, values: list[float]) -> None:
        """The same bytes as counting in Python: distinct values ascending, one zero, one
        NaN last."""
        raw = array("d", values).tobytes()
        assert _cext.scan is not None
        counted = _cext.scan.count(raw)
        assert counted == histogram._from_counts(Counter(memoryview(raw).cast("d")).items())
        kept = list(memoryview(counted[0]).cast("d"))
        numbers = sorted({v + 0.0 for v in values if v == v})
        assert kept[: len(numbers)] == numbers
        assert sum(memoryview(counted[1]).cast("q")) == len(values)

    def test_every_nan_is_one_value_after_every_number(self) -> None:
        raw = array("d", [float("nan"), 1.0, float("-nan"), float("inf")]).tobytes()
        assert _cext.scan is not None
        values, counts = _cext.scan.count(raw)
        kept = list(memoryview(values).cast("d"))
        assert kept[:2] == [1.0, float("inf")] and kept[2] != kept[2]
        assert list(memoryview(counts).cast("q")) == [1, 1, 2]

    @given(
        st.dictionaries(st.floats(allow_nan=False), st.integers(1, 2**40), max_size=50),
        st.dictionaries(st.floats(allow_nan=False), st.integers(1, 2**40), max_size=50),
    )
    def test_merge_is_the_dict_sum(self, a: dict[float, int], b: dict[float, int]) -> None:
        """``merge`` of two histograms is the histogram of their counts added."""
        both = dict(a)
        for value, n in b.items():
            both[value] = both.get(value, 0) + n
        ha, hb = histogram._from_counts(a.items()), histogram._from_counts(b.items())
        assert _cext.scan is not None
        assert _cext.scan.merge(*ha, *hb) == histogram._from_counts(both.items())

    @settings(max_examples=500, deadline=None)
    @given(
        st.dictionaries(
            st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from([0.1, 1e16, -1e16]),
            st.integers(1, 2**40) | st.just(1),
            max_size=40,
        )
    )
    def test_total_is_fsum_of_the_products(self, hist: dict[float, int]) -> None:
        """The exactly rounded sum of value * count: fsum's answer; None only where fsum
        overflows (then the Python path asks fsum itself)."""
        values, counts = histogram._from_counts(hist.items())
        assert _cext.scan is not None
        got = _cext.scan.total(values, counts)
        products = [v * n for v, n in histogram.pairs((values, counts))]
        try:
            expected = math.fsum(products)
        except (OverflowError, ValueError):  # an infinite sum, or inf - inf
            assert got is None
            return
        assert got == expected if math.isfinite(expected) else got is None

    def test_merge_refuses_what_is_not_a_histogram(self) -> None:
        assert _cext.scan is not None
        with pytest.raises(ValueError, match="not two histograms"):
            _cext.scan.merge(b"1234567", b"", b"", b"")
