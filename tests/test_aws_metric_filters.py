"""What the metric filters and the dashboard query mean, checked on the local engines.

moto stores filter patterns but never evaluates them, so each pattern setup sends is
run through :mod:`bellwatch.query.filterpattern` (and the dashboard's Insights query
through :mod:`bellwatch.query.insights`) on the same sample lines.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bellwatch.aws.alarms import AlarmTargets, alarm_params
from bellwatch.aws.dashboard import top_errors_query
from bellwatch.aws.metric_filters import MetricFilterSpec, metric_filter_specs
from bellwatch.query import filterpattern, insights

# Literal wire format, as the pipeline writes it (INFO lines carry no level; error lines
# carry n, the occurrences each accounts for: the totals are its sums).
LINES: list[dict[str, Any]] = [
    {"ts": 1, "level": "ERROR", "event": "error", "hash": "ab12cd34", "type": "ValueError",
     "msg": "bad phone", "sev": "high", "count": 1, "n": 1},
    {"ts": 2, "level": "CRITICAL", "event": "aggregated_error", "hash": "ee00ff11",
     "type": "DBError", "msg": "down", "sev": "critical", "count": 10, "n": 4},
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
]  # fmt: skip


def spec(key: str) -> MetricFilterSpec:
    return next(s for s in metric_filter_specs() if s.key == key)


def matching(key: str) -> list[int]:
    s = spec(key)
    m = filterpattern.compile(s.pattern, s.value)
    return [line["ts"] for line in LINES if m.match(json.dumps(line), line)]


class TestPatterns:
    def test_error_count_is_error_and_critical_levels(self) -> None:
        """ERROR and CRITICAL lines count; the word ERROR inside a message does not."""
        assert matching("errors") == [1, 2, 3, 5]

    def test_severe_errors_are_high_and_critical(self) -> None:
        """Only lines the aggregator rated high or critical count."""
        assert matching("severe_errors") == [1, 2, 3]

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
        assert [r["hash"] for r in rows] == ["ab12cd34", "ee00ff11"]
        assert rows[0]["occurrences"] == 10

    def test_error_rate_is_5xx_over_requests(self) -> None:
        """The error-rate widget divides the 5xx metric by the request metric (1 of 4 here)."""
        from bellwatch.aws.dashboard import DashboardTargets, dashboard_body

        metrics = {s.key: s.metric for s in metric_filter_specs()}
        body = dashboard_body(DashboardTargets("r", "/g", "Bellwatch/x", metrics))
        (widget,) = [w for w in body["widgets"] if w["properties"]["title"] == "Error rate (%)"]
        inputs = {row[-1]["id"]: row[1] for row in widget["properties"]["metrics"][1:]}
        assert inputs == {"errors": "Http5xxCount", "requests": "RequestCount"}
        assert (len(matching("server_errors")), len(matching("requests"))) == (1, 4)
