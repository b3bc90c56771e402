"""Savings suggestions come from the numbers, biggest saving first, three at most."""

from __future__ import annotations

import pytest

from bellwatch.cost.bill import LogOptions, local_bill
from bellwatch.cost.prices import shipped_prices
from bellwatch.cost.savings import _is_health, suggestions
from bellwatch.cost.usage import OVERHEAD, Usage, account
from test_cost_usage import T0, line, records_of, size

US = shipped_prices().for_region("us-east-1")
HOUR = 3_600_000


def traffic(*extra: str, health: int = 3, api: int = 3) -> list[str]:
    lines = [
        line(
            ts=T0 + i,
            level="INFO",
            event="request_complete",
            path="/health",
            status=200,
            duration=0.001,
        )
        for i in range(health)
    ]
    lines += [
        line(
            ts=T0 + HOUR,
            level="INFO",
            event="request_complete",
            path="/api/book",
            status=201,
            duration=0.2,
        )
        for _ in range(api)
    ]
    return [*lines, *extra]


def suggest(lines: list[str], opts: LogOptions | None = None) -> tuple[Usage, float, dict]:
    usage = account(records_of(lines))
    bill = local_bill(usage, US, opts)
    found = suggestions(usage, bill, US, opts)
    return usage, bill.logs_usd, {s.key: s for s in found}


class TestCandidates:
    def test_debug_share_of_bytes(self) -> None:
        """DEBUG lines' share of billed bytes, and that share of the log dollars."""
        debug = line(ts=T0 + 5, level="DEBUG", event="cache_miss", key="k" * 300)
        usage, logs, found = suggest(traffic(debug), LogOptions(retention_days=30))
        share = (size(debug) + OVERHEAD) / usage.total.billed
        assert found["debug"].byte_share == pytest.approx(share)
        assert found["debug"].usd_per_month == pytest.approx(logs * share)
        assert found["debug"].text == (
            f"DEBUG lines are {share:.0%} of bytes: BELLWATCH_LEVEL=INFO drops them"
        )

    def test_health_checks_with_the_setting_that_drops_them(self) -> None:
        """Health-probe request lines: their share, and quiet_paths to drop them."""
        _, _, found = suggest(traffic(health=6, api=2), LogOptions(retention_days=30))
        text = found["health"].text
        assert text.startswith("request_complete for /health is 75% of events (")
        assert 'instrument(app, quiet_paths=["/health"])' in text

    def test_a_status_webhook_is_not_a_health_check(self) -> None:
        """/twilio/status is traffic; only exact probe routes such as /health are counted."""
        status = [
            line(ts=T0 + i, level="INFO", event="request_complete", path=path, status=200,
                 duration=0.01)
            for i in range(20)
            for path in ("/twilio/status", "/api/bookings/{id}/status", "/api/health/history")
        ]  # fmt: skip
        _, _, found = suggest(traffic(*status, health=30, api=2), LogOptions(retention_days=30))
        text = found["health"].text
        assert text.startswith("request_complete for /health is ")
        assert 'quiet_paths=["/health"])' in text
        assert "status" not in text and "history" not in text

    @pytest.mark.parametrize(
        ("path", "health"),
        [("/health", True), ("/healthz/", True), ("/READY", True), ("/livez", True),
         ("/ping", True), ("/twilio/status", False), ("/status", False),
         ("/api/health", False), ("/", False)],
    )  # fmt: skip
    def test_health_routes_are_exact(self, path: str, health: bool) -> None:
        """A health check is a whole probe route, in any case, with or without a last slash."""
        assert _is_health(path) is health

    def test_never_expiring_retention(self) -> None:
        """CloudWatch's default retention grows storage; 30 days keeps it flat."""
        usage, _, found = suggest(traffic())
        assert "retention is probably never-expire" in found["retention"].text
        assert "--retention 30" in found["retention"].text
        kept = local_bill(usage, US, LogOptions(retention_days=30)).line("log storage").usd
        never = local_bill(usage, US).line("log storage").usd
        assert found["retention"].usd_per_month == pytest.approx(never - kept)
        _, _, given = suggest(traffic(), LogOptions(retention_days=30))
        assert "retention" not in given

    def test_iso_timestamps(self) -> None:
        """ISO ts values: the bytes they add over epoch milliseconds, and the setting."""
        iso = [line(ts=f"2026-12-07T00:00:0{i}.000Z", level="INFO", event="x") for i in range(3)]
        _, _, found = suggest(traffic(*iso), LogOptions(retention_days=30))
        assert found["timestamp"].text.startswith("ISO timestamps add 13 bytes a line")
        assert "BELLWATCH_TIMESTAMP=ms" in found["timestamp"].text

    def test_a_noisy_library_logger_and_text_lines(self) -> None:
        """A stdlib logger over 10% of bytes, and text lines, each with what to change."""
        noisy = [
            line(
                ts=T0 + 9,
                level="INFO",
                event="Found credentials in env" * 9,
                logger="botocore.credentials",
            )
        ] * 3
        text = ["Traceback (most recent call last): " + "x" * 200] * 2
        _, _, found = suggest(traffic(*noisy, *text), LogOptions(retention_days=30))
        assert found["logger"].text.startswith("logger botocore.credentials writes ")
        assert 'logging.getLogger("botocore.credentials").setLevel(logging.WARNING)' in (
            found["logger"].text
        )
        assert "BELLWATCH_CAPTURE_STDLIB=1" in found["text"].text


class TestRanking:
    def test_three_at_most_biggest_first(self) -> None:
        """At most three, ordered by dollars a month."""
        debug = line(ts=T0 + 5, level="DEBUG", event="cache_miss", key="k" * 900)
        iso = line(ts="2026-12-07T00:00:01.000Z", level="INFO", event="x")
        text = "Traceback (most recent call last):"
        usage = account(records_of(traffic(debug, iso, text)))
        bill = local_bill(usage, US)
        found = suggestions(usage, bill, US)
        assert len(found) == 3
        assert [s.usd_per_month for s in found] == sorted(
            (s.usd_per_month for s in found), reverse=True
        )

    def test_small_shares_are_left_out(self) -> None:
        """A candidate under 1% of the bytes is not suggested."""
        debug = line(ts=T0 + 5, level="DEBUG", event="d")
        lines = traffic(debug, health=0, api=400)
        _, _, found = suggest(lines, LogOptions(retention_days=30))
        assert "debug" not in found
