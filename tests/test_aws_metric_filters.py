"""What the metric filters and the dashboard query mean, checked on the local engines.

moto stores filter patterns but never evaluates them, so each pattern setup sends is
run through :mod:`bellwatch.query.filterpattern` (and the dashboard's Insights query
through :mod:`bellwatch.query.insights`) on the same sample lines, and the error
counts over the lines of a real error storm written by the real aggregator.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import bellwatch
from bellwatch import _settings, get_aggregator
from bellwatch.aws.alarms import AlarmTargets, alarm_params
from bellwatch.aws.dashboard import top_errors_query
from bellwatch.aws.metric_filters import MetricFilterSpec, metric_filter_specs
from bellwatch.errors import ErrorAggregator
from bellwatch.query import filterpattern, insights
from bellwatch.testing import capture_logs

# Literal wire format, as the pipeline writes it (INFO lines carry no level; error lines
# carry n, the occurrences each accounts for: the totals are its sums).
LINES: list[dict[str, Any]] = [
    {"ts": 1, "level": "ERROR", "event": "error", "hash": "ab12cd34", "type": "ValueError",
     "msg": "bad phone", "sev": "high", "n": 1},
    {"ts": 2, "level": "CRITICAL", "event": "aggregated_error", "hash": "ee00ff11",
     "type": "DBError", "msg": "down", "sev": "critical", "count": 10, "n": 10},
    {"ts": 3, "level": "ERROR", "event": "aggregated_error", "hash": "ab12cd34",
     "type": "ValueError", "msg": "bad phone", "sev": "high", "count": 10, "n": 9},
    {"ts": 4, "event": "request_complete", "method": "GET", "path": "/a", "status": 200,
     "duration": 0.1},
    {"ts": 5, "level": "ERROR", "event": "request_complete", "method": "POST", "path": "/b",
     "status": 503, "duration": 0.25},
    {"ts": 6, "level": "WARNING", "event": "request_complete", "method": "GET", "path": "/c",
     "status": 200, "duration": 2.5},
    {"ts": 7, "event": "request_complete", "method": "GET", "path": "/d", "status": 404,
     "duration": 2.0},
    {"ts": 8, "level": "WARNING", "event": "signature_validation_failed", "path": "/twilio"},
    {"ts": 9, "event": "ERROR looked up in a message", "level": "INFO", "sev": "low"},
    {"ts": 10, "level": "WARNING", "event": "alert_fired", "channel": "log", "hash": "ab12cd34",
     "type": "ValueError", "sev": "high", "count": 11},
    {"ts": 11, "level": "WARNING", "event": "error_escalated", "hash": "ab12cd34",
     "type": "ValueError", "sev": "critical", "count": 11, "escalated": True},
    {"ts": 12, "level": "ERROR", "event": "booking failed", "hash": "77aa88bb", "sev": "medium",
     "n": 1, "msg": "no slot", "type": "SlotError"},
]  # fmt: skip


def spec(key: str) -> MetricFilterSpec:
    return next(s for s in metric_filter_specs() if s.key == key)


def matching(key: str) -> list[int]:
    s = spec(key)
    m = filterpattern.compile(s.pattern, s.value)
    return [line["ts"] for line in LINES if m.match(json.dumps(line), line)]


def metric_total(metric: str, lines: list[str]) -> float:
    """What CloudWatch would add to ``metric`` for ``lines``: every filter publishing to it."""
    total = 0.0
    for s in metric_filter_specs():
        if s.metric == metric:
            m = filterpattern.compile(s.pattern, s.value)
            total += sum(v for line in lines if (v := m.value(line)) is not None)
    return total


class TestPatterns:
    def test_error_lines_are_those_carrying_n(self) -> None:
        """Error lines count (the app's own event text too); alert and escalation lines do not."""
        assert matching("errors") == [1, 2, 3, 12]

    def test_severe_errors_are_high_and_critical(self) -> None:
        """Only error lines rated high or critical count; the high alert line does not."""
        assert matching("severe_errors") == [1, 2, 3]

    def test_errors_add_up_n(self) -> None:
        """The error metric adds each line's n (1 + 10 + 9 + 1), not 1 per line."""
        assert metric_total("ErrorCount", [json.dumps(x) for x in LINES]) == 21

    def test_server_errors_are_5xx_requests(self) -> None:
        """A 503 counts; 200 and 404 do not."""
        assert matching("server_errors") == [5]

    def test_slow_requests_are_strictly_over_two_seconds(self) -> None:
        """2.5 s is slow; exactly 2.0 s is not."""
        assert matching("slow_requests") == [6]

    def test_signature_failures(self) -> None:
        """The Twilio signature failure event counts."""
        assert matching("signature_failures") == [8]

    def test_latency_publishes_the_duration(self) -> None:
        """The latency filter publishes each request's duration as the metric value."""
        s = spec("latency")
        m = filterpattern.compile(s.pattern, s.value)
        values = [m.value(json.dumps(x), x) for x in LINES if m.match(json.dumps(x), x)]
        assert values == [0.1, 0.25, 2.5, 2.0]

    def test_every_pattern_is_json_form(self) -> None:
        """Each pattern is a JSON pattern (space-delimited ones never match JSON lines)."""
        assert {filterpattern.compile(s.pattern).kind for s in metric_filter_specs()} == {"json"}

    @given(
        threshold=st.integers(0, 3_600_000).map(lambda ms: ms / 1000),
        duration=st.floats(0, 4000, allow_nan=False),
    )
    def test_slow_threshold_round_trips(self, threshold: float, duration: float) -> None:
        """For any millisecond threshold, the pattern matches exactly durations above it."""
        s = next(x for x in metric_filter_specs(threshold) if x.key == "slow_requests")
        line = {"event": "request_complete", "duration": duration}
        assert filterpattern.compile(s.pattern).match(json.dumps(line), line) is (
            duration > threshold
        )


class TestAlarmSource:
    def test_error_spike_reads_the_error_filter_metric(self) -> None:
        """The error-spike alarm watches the metric the error-count filter publishes."""
        alarms, _ = alarm_params(AlarmTargets("p", "arn:t", "Bellwatch/x", spec("errors").metric))
        (spike,) = [a for a in alarms if a["AlarmName"] == "p-error-spike"]
        assert (spike["Namespace"], spike["MetricName"]) == ("Bellwatch/x", "ErrorCount")


class TestDashboardQuery:
    def test_top_errors_ranks_fingerprints(self) -> None:
        """The dashboard's query puts the most frequent fingerprint first."""
        records = [
            {**x, "@timestamp": x["ts"], "@message": json.dumps(x), "@log": "g", "@logStream": "s"}
            for x in LINES
        ]
        rows = insights.parse(top_errors_query()).run(records)
        assert rows[0]["hash"] == "ab12cd34"
        assert {r["hash"] for r in rows} == {"ab12cd34", "ee00ff11", "77aa88bb"}

    def test_error_rate_is_5xx_over_requests(self) -> None:
        """The error-rate widget divides the 5xx metric by the request metric (1 of 4 here)."""
        from bellwatch.aws.dashboard import DashboardTargets, dashboard_body

        metrics = {s.key: s.metric for s in metric_filter_specs()}
        body = dashboard_body(DashboardTargets("r", "/g", "Bellwatch/x", metrics))
        (widget,) = [w for w in body["widgets"] if w["properties"]["title"] == "Error rate (%)"]
        inputs = {row[-1]["id"]: row[1] for row in widget["properties"]["metrics"][1:]}
        assert inputs == {"errors": "Http5xxCount", "requests": "RequestCount"}
        assert (len(matching("server_errors")), len(matching("requests"))) == (1, 4)


def storm(**settings: Any) -> tuple[list[str], dict[str, Any]]:
    """A real error storm through the logger and the aggregator, every-Nth mode by default.

    25 handled errors logged with ``log.exception`` (medium), 12 unhandled 500s (high),
    7 database failures (critical) and 4 validation errors (low). Returns every line
    written (error, summary, escalation and alert lines) and the aggregator's exact stats.
    """
    with capture_logs(**settings) as cap:
        log = bellwatch.get_logger()
        agg = get_aggregator()
        for i in range(25):
            try:
                raise ValueError(f"bad phone {i}")
            except ValueError:
                log.exception("booking failed")
        for _ in range(12):
            agg.record(RuntimeError("upstream down"), endpoint="/book", status=500, handled=False)
        for _ in range(7):
            agg.record(ConnectionError("db gone"), severity="critical")
        for _ in range(4):
            agg.record(ValueError("phone format"), status=422)
        stats = agg.stats()
        agg.close(final=True)  # the unwritten counts and queued alerts, as at exit
        return cap.lines, stats


def window_storm(**settings: Any) -> tuple[list[str], dict[str, Any]]:
    """300 errors of 4 fingerprints over ~8 minutes of simulated time, window mode."""
    clock = [1_000.0]
    lines: list[str] = []
    with capture_logs() as cap:  # alert lines go through the pipeline
        agg = ErrorAggregator(
            _settings.resolve(error_mode="window", error_window=60, **settings),
            clock=lambda: clock[0],
            emit=lambda _method, event: lines.append(json.dumps(event)),
        )
        for i in range(300):
            clock[0] += 1.7
            exc = RuntimeError("down") if i % 2 else ValueError(f"bad {i % 3}")
            agg.record(exc, handled=i % 5 != 0)
        stats = agg.stats()
        agg.close(final=True)
        return lines + cap.lines, stats


class TestErrorStorm:
    """The error metrics over a real storm equal the number of errors (the counting rule)."""

    # The patterns are the exact texts setup sends (metric_filter_specs), run through the
    # local filter engine, which follows "Filter pattern syntax for metric filters":
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/FilterAndPatternSyntaxForMetricFilters.html
    # (a metric value from $.n is published only for lines the pattern matched, so the
    # pattern requires $.n = *; Matcher.value returns None, "nothing published", otherwise).

    @pytest.mark.parametrize("make", [storm, window_storm], ids=["every_n", "window"])
    def test_error_count_is_the_number_of_errors(self, make: Any) -> None:
        """ErrorCount sums to the exact occurrence total, though far fewer lines were written."""
        lines, stats = make()
        assert stats["total_error_count"] in (48, 300)
        assert metric_total("ErrorCount", lines) == stats["total_error_count"]
        assert sum('"n":' in line for line in lines) < stats["total_error_count"] / 4

    def test_the_storm_has_lines_the_rule_excludes(self) -> None:
        """The storm wrote alert and escalation lines (rated high), and counted none of them."""
        lines, _ = storm()
        events = [json.loads(line)["event"] for line in lines]
        assert "alert_fired" in events and "error_escalated" in events
        assert "booking failed" in events  # log.exception's first line keeps the app's text
        excluded = [
            x for x in lines if json.loads(x)["event"] in ("alert_fired", "error_escalated")
        ]
        assert metric_total("ErrorCount", excluded) == 0
        assert metric_total("SevereErrorCount", excluded) == 0

    @pytest.mark.parametrize("make", [storm, window_storm], ids=["every_n", "window"])
    def test_severe_count_is_the_high_and_critical_errors(self, make: Any) -> None:
        """Without escalation, SevereErrorCount is exactly the high and critical occurrences."""
        lines, stats = make(spike_threshold=1_000_000)
        severe = stats["by_severity"].get("high", 0) + stats["by_severity"].get("critical", 0)
        assert severe > 0
        assert metric_total("SevereErrorCount", lines) == severe

    def test_lines_without_n_count_one_per_first_occurrence(self) -> None:
        """Older lines without n: each `error` line counts 1, summaries and others 0."""
        lines, _ = storm()
        older = []
        for line in lines:
            event = json.loads(line)
            event.pop("n", None)
            older.append(json.dumps(event))
        firsts = sum(json.loads(x)["event"] == "error" for x in older)
        assert firsts == 3  # log.exception's first line is not an `error` event
        assert metric_total("ErrorCount", older) == firsts
