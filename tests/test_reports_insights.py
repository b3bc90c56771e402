"""The reports as saved Logs Insights queries (the CloudWatch path)."""

from __future__ import annotations

from typing import Any

from bellwatch.reports import _insights, digest


def _lines() -> list[dict[str, Any]]:
    """Records as a source yields them (the local engine stands in for CloudWatch)."""
    base = {"event": "request_complete", "method": "POST"}
    return [
        {**base, "@timestamp": 1000, "path": "/api/book", "status": 200, "duration": 0.1},
        {**base, "@timestamp": 2000, "path": "/api/book", "status": 503, "duration": 3.0},
        {
            **base,
            "@timestamp": 3000,
            "path": "/twilio/voice",
            "status": 403,
            "duration": 0.01,
            "sid": "CA9",
            "cid": "c3",
        },
        {
            "@timestamp": 3500,
            "event": "signature_validation_failed",
            "path": "/twilio/voice",
            "sid": "CA9",
            "cid": "c4",
        },
        {
            "@timestamp": 4000,
            "event": "error",
            "hash": "abc",
            "type": "Timeout",
            "msg": "calendar",
            "cid": "c2",
            "level": "ERROR",
        },
    ]


def _run_locally(text: str) -> list[dict[str, Any]]:
    from bellwatch.query import insights

    return insights.parse(text).run(_lines())


class TestCollectInsights:
    def test_no_query_engine_is_none(self) -> None:
        """A source without Insights (``None``) leaves the digest to the local reports."""
        assert _insights.collect(lambda _text: None) is None

    def test_reports_without_query_engine_are_none(self) -> None:
        """The endpoint and Twilio reports also pass ``None`` on, for the local fallback."""
        assert _insights.endpoints(lambda _t: None) is None
        assert _insights.twilio(lambda _t: None) is None

    def test_endpoints_busiest_first(self) -> None:
        """Endpoint rows come busiest first, in the local report's shape."""
        rows = _insights.endpoints(_run_locally)
        assert rows is not None
        assert [(r["path"], r["count"]) for r in rows] == [("/api/book", 2), ("/twilio/voice", 1)]
        assert set(rows[0]) == {"method", "path", "count", "avg", "p95", "max", "error_rate"}

    def test_totals_from_the_headline_query(self) -> None:
        """The headline numbers come from one query: requests, 5xx, 4xx, span."""
        t = _insights.collect(_run_locally)["totals"]  # type: ignore[index]
        assert (t["lines"], t["requests"], t["s5xx"], t["s4xx"]) == (5, 3, 1, 1)
        assert (t["first_ts"], t["last_ts"], round(t["error_rate"], 3)) == (1000, 4000, 0.333)

    def test_sections_from_saved_queries(self) -> None:
        """Endpoints carry a 0..1 error rate; errors and Twilio calls keep their example ids."""
        facts = _insights.collect(_run_locally)
        assert facts is not None
        book = next(e for e in facts["endpoints"] if e["path"] == "/api/book")
        assert (book["count"], book["error_rate"]) == (2, 0.5)
        assert [(e["hash"], e["count"], e["cid"]) for e in facts["errors"]] == [("abc", 1, "c2")]
        (call,) = facts["twilio"]
        assert (call["sid"], call["failures"], call["bad_signatures"]) == ("CA9", 2, 1)

    def test_renders_within_budget(self) -> None:
        """The Insights facts render like the local ones, within the budget."""
        facts = _insights.collect(_run_locally)
        assert facts is not None
        text = digest.render(facts, 300)
        assert "Timeout" in text and "c2" in text and digest.count_tokens(text) <= 300

    def test_rows_without_a_fingerprint_are_dropped(self) -> None:
        """An error row with no hash (a group of lines lacking the field) is no pattern."""
        rows = {_insights.TOTALS_QUERY: [{"lines": 1}]}
        facts = _insights.collect(lambda text: rows.get(text, [{"lines": 3}]))
        assert facts is not None and facts["errors"] == []

    def test_cloudwatch_timestamps_become_epoch_ms(self) -> None:
        """CloudWatch returns min(@timestamp) as text; the digest reads it as a time."""
        rows = {_insights.TOTALS_QUERY: [{"lines": 1, "first_ts": "2025-09-26 20:30:00.000"}]}
        facts = _insights.collect(lambda text: rows.get(text, []))
        assert facts is not None and facts["totals"]["first_ts"] == 1758918600000


class TestErrorRows:
    def test_severity_and_times_come_back(self) -> None:
        """The saved query's severity rank and first/last times fill the local row's fields."""
        (row,) = _insights.errors(
            [
                {
                    "hash": "abc",
                    "occurrences": 3,
                    "severity": 4,
                    "first_seen": "2025-09-26 20:30:00.000",
                    "last_seen": 1758918660000,
                }
            ]
        )
        assert (row["sev"], row["first_ts"], row["last_ts"]) == (
            "critical",
            1758918600000,
            1758918660000,
        )

    def test_unknown_rank_is_no_severity(self) -> None:
        """A rank outside 1..4 (no line said a severity) leaves it empty."""
        (row,) = _insights.errors([{"hash": "abc", "severity": None}])
        assert row["sev"] is None
