"""The one record reader: which lines are events, which are structured, and their times."""

from __future__ import annotations

import io

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.sources.base import ScanStats, TextRecord
from bellwatch.sources.reader import StreamReader, Window, lines_in, lines_of, parse

DEEP = b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}"


class TestParse:
    @pytest.mark.parametrize(
        ("line", "expected"),
        [
            (b'{"ts":1,"event":"a"}', {"ts": 1, "event": "a"}),
            (b"{}", {}),  # a JSON object without our keys is still a structured event
            (b'{"x":1}', {"x": 1}),
            (b'  {"a":1}  \r', {"a": 1}),  # JSON whitespace around it, a CRLF line
            (b'{"e":"a","e":"b"}', {"e": "b"}),  # a key given twice keeps its last value
            (b'{"s":"nul\\u0000x"}', {"s": "nul\x00x"}),  # escaped controls are fine
        ],
    )
    def test_strict_objects(self, line: bytes, expected: dict[str, object]) -> None:
        """A line that is exactly one RFC 8259 object is structured, whatever its keys."""
        assert parse(line) == expected

    @pytest.mark.parametrize(
        "line",
        [
            b'{"a":1,}',  # trailing comma
            b'{"a":NaN}',
            b'{"a":Infinity}',
            b'{"a":-Infinity}',
            b'{"a":1e400}',  # beyond a 64-bit float
            b'{"a":1} // comment',
            b'{"a":1 /* c */}',
            b"{'a':1}",
            b'{"a":0x10}',
            b'{"a":01}',
            b'{"a":1}{"b":2}',
            b'{"a":1} x',
            b'{"a":"raw\x01control"}',
            b'{"a":"bad \xff byte"}',
            b'{"a":"\\ud800"}',  # a lone surrogate
            b'\xef\xbb\xbf{"a":1}',  # a byte order mark inside a file
            DEEP,  # deeper than 1024 levels
            b"[1,2]",
            b'"a string"',
            b"42",
            b"null",
            b"",
            b"INFO:     Uvicorn running on http://0.0.0.0:8000",
            b'{"ts":17589186',
            '{"a":1}'.encode("utf-16-le"),
        ],
    )
    def test_everything_else_is_text(self, line: bytes) -> None:
        """Lenient JSON (NaN, trailing commas, comments...), non-objects and junk are text."""
        assert parse(line) is None

    @given(st.binary(max_size=300))
    def test_never_raises_on_bytes(self, line: bytes) -> None:
        """Arbitrary bytes never raise: they parse to a dict or give ``None``."""
        result = parse(line)
        assert result is None or isinstance(result, dict)

    @given(
        st.dictionaries(
            st.text(max_size=10),
            st.one_of(st.integers(-(2**62), 2**62), st.text(max_size=20), st.booleans()),
            max_size=6,
        )
    )
    def test_round_trip(self, event: dict[str, object]) -> None:
        """Any JSON object written as one line parses back to itself."""
        assert parse(orjson.dumps(event)) == event


class TestLines:
    def test_final_segment_is_a_line(self) -> None:
        """What follows the last newline is a line too, as CloudWatch counts it."""
        assert list(lines_of(io.BytesIO(b"a\nb\nlast"))) == [b"a", b"b", b"last"]
        assert lines_in(b"a\nlast", at_start=True) == [b"a", b"last"]

    def test_a_trailing_newline_adds_no_line(self) -> None:
        """A file ending in a newline has no empty last line."""
        assert list(lines_of(io.BytesIO(b"a\nb\n"))) == [b"a", b"b"]
        assert lines_in(b"a\nb\n", at_start=False) == [b"a", b"b"]

    def test_byte_order_mark_at_start_only(self) -> None:
        """A BOM starting the file is dropped; one later in it stays (a text line)."""
        data = b'\xef\xbb\xbf{"a":1}\n\xef\xbb\xbf{"b":2}\n'
        assert list(lines_of(io.BytesIO(data))) == [b'{"a":1}', b'\xef\xbb\xbf{"b":2}']
        assert lines_in(data, at_start=True) == list(lines_of(io.BytesIO(data)))
        assert lines_in(data, at_start=False)[0].startswith(b"\xef\xbb\xbf")

    def test_carriage_returns_alone_do_not_split(self) -> None:
        """Only newline bytes end lines: a CR-only file is one line."""
        assert list(lines_of(io.BytesIO(b'{"a":1}\r{"b":2}\r'))) == [b'{"a":1}\r{"b":2}\r']


class TestStreamReader:
    def test_text_takes_the_time_before_it(self) -> None:
        """A text event takes the time of the last timed structured event before it."""
        reader = StreamReader("app.jsonl", "logs", ScanStats())
        lines = [b"banner", b'{"ts":5}', b"Traceback", b'{"x":1}', b"  File x"]
        records = [reader.event(line) for line in lines]
        assert [type(r).__name__ for r in records] == [
            "TextRecord", "dict", "TextRecord", "dict", "TextRecord",
        ]  # fmt: skip
        assert [r["@timestamp"] for r in records if r is not None] == [None, 5, 5, None, 5]

    def test_blank_lines_are_no_event(self) -> None:
        """Spaces, tabs and a CR alone make no event; other invisible bytes do."""
        stats = ScanStats()
        reader = StreamReader("s", "", stats)
        assert [reader.event(b) for b in (b"", b"  \t", b"\r")] == [None, None, None]
        assert isinstance(reader.event(b"\x00"), TextRecord)
        assert (stats.records, stats.text_lines) == (0, 1)

    def test_message_keeps_undecodable_bytes(self) -> None:
        """``@message`` gives back the line byte for byte (surrogate escapes)."""
        reader = StreamReader("s", "", ScanStats())
        record = reader.event(b"bad \xff\xfe bytes\r")
        assert record is not None
        assert record["@message"].encode("utf-8", "surrogateescape") == b"bad \xff\xfe bytes"

    def test_iso_time(self) -> None:
        """An ISO 8601 ``ts`` is read as epoch milliseconds."""
        record = StreamReader("s", "", ScanStats()).event(b'{"ts":"2025-09-26T20:30:00Z"}')
        assert record is not None and record["@timestamp"] == 1758918600000


class TestWindow:
    def test_bounds(self) -> None:
        """A window keeps [since, until); an event without a time only the open window."""
        window = Window(10, 20)
        assert [t in window for t in (9, 10, 19, 20, None)] == [False, True, True, False, False]
        assert None in Window() and Window().everything
