"""Byte and event accounting: exact counts of the lines the tests write, 26 bytes per event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest

from bellwatch.cost import usage as usage_module
from bellwatch.cost.usage import OVERHEAD, account, is_text, message_bytes
from bellwatch.sources.base import LOG, LOG_STREAM, MESSAGE, TIMESTAMP, Record
from bellwatch.sources.files import FileSource
from bellwatch.timeparse import parse_ts

T0 = 1_796_601_600_000  # 2026-12-07T00:00:00Z, on an hour boundary
HOUR = 3_600_000


def line(**fields: Any) -> str:
    """A compact JSON line, as bellwatch writes them."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def records_of(lines: list[str]) -> list[Record]:
    """The records the record reader gives for ``lines``: a JSON object's fields plus the
    four @ fields, else a text line (only the @ fields, the time of the line before it)."""
    out: list[Record] = []
    carry = None
    for text in lines:
        try:
            event = orjson.loads(text)
        except orjson.JSONDecodeError:
            event = None
        if not isinstance(event, dict):
            out.append({TIMESTAMP: carry, MESSAGE: text, LOG_STREAM: "t", LOG: ""})
            continue
        carry = event[TIMESTAMP] = parse_ts(event.get("ts"))
        event.update({MESSAGE: text, LOG_STREAM: "t", LOG: ""})
        out.append(event)
    return out


def size(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


REQ = [
    line(
        ts=T0,
        level="INFO",
        event="request_complete",
        cid="a1",
        method="GET",
        path="/health",
        status=200,
        duration=0.001,
    ),
    line(
        ts=T0 + 1000,
        level="INFO",
        event="request_complete",
        cid="a2",
        method="POST",
        path="/api/book",
        status=201,
        duration=0.25,
    ),
    line(
        ts=T0 + 2000,
        level="WARNING",
        event="request_complete",
        cid="a3",
        method="POST",
        path="/api/book",
        status=200,
        duration=2.5,
    ),
]
DEBUG = line(ts=T0 + 3000, level="DEBUG", event="cache_miss", key="user:42")
STDLIB = line(ts=T0 + 4000, level="INFO", event="Started server process [7]", logger="uvicorn")
ERROR = line(
    ts=T0 + 5000,
    level="ERROR",
    event="error",
    hash="ab12cd34",
    type="ValueError",
    msg="bad phone",
    sev="low",
    n=1,
)
TEXT = "Traceback (most recent call last):"


class TestBytes:
    def test_exact_counts_of_a_file(self, tmp_path: Path) -> None:
        """Bytes are each line's UTF-8 size without its newline; billed adds 26 per event."""
        lines = [*REQ, DEBUG, STDLIB, ERROR]
        path = tmp_path / "app.jsonl"
        path.write_text("".join(f"{x}\n" for x in lines))
        usage = account(FileSource([str(path)]).records())
        expected = sum(size(x) for x in lines)
        assert usage.total.events == 6
        assert usage.total.bytes == expected == path.stat().st_size - len(lines)
        assert usage.total.billed == expected + OVERHEAD * 6

    def test_per_event_logger_level_and_route(self) -> None:
        """Each table adds exactly the lines that belong to it."""
        usage = account(records_of([*REQ, DEBUG, STDLIB, ERROR, TEXT]))
        assert usage.by_event["request_complete"].bytes == sum(size(x) for x in REQ)
        assert usage.by_event["cache_miss"].events == 1
        assert usage.by_event["error"].bytes == size(ERROR)
        assert "Started server process [7]" not in usage.by_event
        assert usage.by_logger["uvicorn"].bytes == size(STDLIB)
        assert (usage.text.events, usage.text.bytes) == (1, size(TEXT))
        assert usage.by_level["INFO"].bytes == size(REQ[0]) + size(REQ[1]) + size(STDLIB)
        assert usage.by_level["WARNING"].bytes == size(REQ[2])
        assert usage.by_level["DEBUG"].billed == size(DEBUG) + OVERHEAD
        assert usage.by_level["-"].bytes == size(TEXT)
        assert usage.by_route["/api/book"].events == 2
        assert usage.by_route["/api/book"].bytes == size(REQ[1]) + size(REQ[2])
        assert usage.by_route["/health"].billed == size(REQ[0]) + OVERHEAD
        kinds = [(kind, name) for kind, name, _ in usage.groups()]
        assert kinds[0] == ("event", "request_complete")
        assert ("logger", "uvicorn") in kinds and ("text", "text lines") in kinds

    def test_multibyte_and_undecodable_bytes_count_as_written(self) -> None:
        """UTF-8 characters count their bytes; an undecodable byte counts one."""
        text = line(ts=T0, level="INFO", event="réservé ✓")
        raw = "caf\udce9 au lait"  # the byte 0xE9 alone, as the reader keeps it
        assert message_bytes(records_of([text])[0]) == len(text.encode()) == len(text) + 4
        assert message_bytes(records_of([raw])[0]) == len(raw)

    def test_a_json_empty_object_is_structured_and_a_text_line_is_not(self) -> None:
        """Only a line that is not one JSON object is a text line."""
        empty, text = records_of(["{}", "  {not json"])
        assert not is_text(empty)
        assert is_text(text)


class TestTime:
    def test_span_and_daily_projection(self) -> None:
        """Two events an hour apart project to 24 times their bytes a day."""
        a = line(ts=T0, level="INFO", event="x")
        b = line(ts=T0 + HOUR, level="INFO", event="x")
        usage = account(records_of([a, b]))
        assert usage.span_ms == HOUR
        assert usage.per_day(usage.total.billed) == 24 * (size(a) + size(b) + 2 * OVERHEAD)
        assert usage.hours == 2

    def test_no_time_cannot_be_projected(self) -> None:
        """Records without a time span nothing: no daily rate."""
        usage = account(records_of([TEXT, TEXT]))
        assert usage.span_ms == 0 and usage.per_day(100) is None

    def test_iso_timestamps_are_measured(self) -> None:
        """An ISO ts costs its quoted length minus the 13 digits of epoch milliseconds."""
        iso = "2026-12-07T00:00:00.000Z"
        usage = account(records_of([line(ts=iso, level="INFO", event="x"), REQ[0]]))
        assert usage.iso_lines == 1
        assert usage.iso_extra_bytes == len(iso) + 2 - 13


class TestMetrics:
    def test_filter_metrics_count_the_hours_they_would_get_data(self) -> None:
        """Setup's filters are replayed: errors in one hour of three feed ErrorCount once."""
        late = line(
            ts=T0 + 2 * HOUR,
            level="INFO",
            event="request_complete",
            path="/a",
            status=200,
            duration=0.1,
        )
        usage = account(records_of([*REQ, ERROR, late]))
        hours = usage.filters.hours
        assert hours["ErrorCount"] == {T0 // HOUR}
        assert hours["RequestCount"] == {T0 // HOUR, T0 // HOUR + 2}
        assert hours["SlowRequestCount"] == {T0 // HOUR}  # the 2.5 s request
        assert hours["Http5xxCount"] == set()
        assert hours["SevereErrorCount"] == set()  # severity low
        assert usage.hours == 3

    def test_emf_lines_are_counted_apart_with_their_metrics(self) -> None:
        """An EMF line is its own kind; each metric x dimension values is one metric."""
        emf = line(
            _aws={
                "Timestamp": T0,
                "CloudWatchMetrics": [
                    {
                        "Namespace": "Bellwatch",
                        "Dimensions": [["Service", "Path"]],
                        "Metrics": [{"Name": "Requests", "Unit": "Count"}, {"Name": "LatencyP95"}],
                    }
                ],
            },
            Service="bella",
            Path="/a",
            Requests=3,
            LatencyP95=0.2,
        )
        usage = account(records_of([emf, REQ[0]]))
        assert (usage.emf.events, usage.emf.bytes) == (1, size(emf))
        assert "(no event)" not in usage.by_event
        assert set(usage.emf_metrics.hours) == {
            ("Bellwatch", "Requests", (("Path", "/a"), ("Service", "bella"))),
            ("Bellwatch", "LatencyP95", (("Path", "/a"), ("Service", "bella"))),
        }


class TestBounds:
    def test_free_text_events_stop_growing_the_table(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Past the cap, new event names add to (others); totals stay exact."""
        monkeypatch.setattr(usage_module, "_MAX_KEYS", 3)
        lines = [line(ts=T0 + i, level="INFO", event=f"user {i} did a thing") for i in range(10)]
        usage = account(records_of(lines))
        assert len(usage.by_event) == 4
        assert usage.by_event["(others)"].events == 7
        assert usage.total.bytes == sum(size(x) for x in lines)

    def test_the_sample_is_bounded_and_repeatable(self) -> None:
        """The what-if sample holds at most sample_size records, the same ones each run."""
        lines = [line(ts=T0 + i, level="INFO", event="x", i=i) for i in range(500)]
        first = account(records_of(lines), sample_size=50)
        again = account(records_of(lines), sample_size=50)
        assert len(first.sample) == 50
        assert [r["i"] for r in first.sample] == [r["i"] for r in again.sample]
        assert len(account(records_of(lines[:20]), sample_size=50).sample) == 20
