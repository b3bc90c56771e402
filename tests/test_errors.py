"""Error aggregation: severity rules, every-Nth and window lines, spikes, cleanup, stats."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bellwatch import get_logger
from bellwatch._runtime import runtime
from bellwatch._settings import resolve
from bellwatch.errors.aggregator import (
    ErrorAggregator,
    MemoryPatternStore,
    Pattern,
    Policy,
    default_severity,
)
from bellwatch.errors.alerts import Alert, Alerter
from bellwatch.log import context
from bellwatch.testing import capture_logs


class Clock:
    """Simulated time: tests move it by hand."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Recorder:
    """A notifier that keeps what it was sent."""

    name = "test"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Harness:
    def __init__(self, clock: Clock | None = None, **overrides: Any) -> None:
        self.clock = clock or Clock()
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self.notifier = Recorder()
        self.agg = ErrorAggregator(
            resolve(environ={}, **overrides),
            clock=self.clock,
            emit=lambda method, event: self.lines.append((method, event)),
            alerter=Alerter([self.notifier], interval=0.0),
        )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        return [e for _, e in self.lines if name is None or e["event"] == name]

    def alerts(self) -> list[Alert]:
        assert self.agg.alerter.flush(5.0)
        return self.notifier.alerts


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h.agg.close()


def order_failed(n: int) -> ValueError:
    try:
        raise ValueError(f"order {n} failed")
    except ValueError as exc:
        return exc


def other_error(n: int) -> KeyError:
    try:
        raise KeyError(f"user {n}")
    except KeyError as exc:
        return exc


class TestDefaultSeverity:
    def test_validation_error_is_low(self) -> None:
        """A class named *ValidationError* is low, handled or not."""

        class RequestValidationError(Exception):
            pass

        assert default_severity(RequestValidationError(), None, handled=False) == "low"

    def test_client_error_status_is_low(self) -> None:
        """A 4xx response is low."""
        assert default_severity(ValueError(), 422, handled=True) == "low"

    def test_handled_error_is_medium(self) -> None:
        """A handled application error is medium."""
        assert default_severity(RuntimeError(), None, handled=True) == "medium"

    def test_unhandled_error_is_high(self) -> None:
        """An unhandled error (a 500) is high."""
        assert default_severity(RuntimeError(), 500, handled=False) == "high"

    @pytest.mark.parametrize("exc", [MemoryError(), ConnectionRefusedError(), TimeoutError()])
    def test_out_of_memory_and_connections_are_critical(self, exc: BaseException) -> None:
        """Memory exhaustion and lost connections are critical."""
        expected = "critical" if not isinstance(exc, TimeoutError) else "medium"
        assert default_severity(exc, None, handled=True) == expected

    def test_database_error_is_critical(self) -> None:
        """A DB-API ``OperationalError`` is critical."""

        class OperationalError(Exception):
            pass

        assert default_severity(OperationalError(), None, handled=True) == "critical"

    def test_signature_failure_is_high(self) -> None:
        """A forged signature is high (a burst of them escalates to critical)."""

        class SignatureError(Exception):
            pass

        assert default_severity(SignatureError(), 403, handled=True) == "high"


class TestSeverityOverrides:
    def test_per_call_wins(self, harness: Harness) -> None:
        """``severity=`` on the call beats every rule."""
        harness.agg.record(order_failed(1), severity="critical")
        assert harness.events("error")[0]["sev"] == "critical"

    def test_by_class_covers_subclasses(self, harness: Harness) -> None:
        """A severity set for a class applies to its subclasses."""
        harness.agg.set_severity(LookupError, "high")
        harness.agg.record(other_error(1))
        assert harness.events("error")[0]["sev"] == "high"

    def test_hook_decides_when_it_answers(self, harness: Harness) -> None:
        """A callable rule is consulted before the defaults."""
        harness.agg.severity_hook = lambda exc, status, handled: "low"
        harness.agg.record(order_failed(1))
        assert harness.events("error")[0]["sev"] == "low"

    def test_unknown_per_call_severity_falls_back(self, harness: Harness) -> None:
        """A misspelt severity on a call is ignored rather than raised."""
        harness.agg.record(order_failed(1), severity="urgent")
        assert harness.events("error")[0]["sev"] == "medium"

    def test_set_severity_rejects_unknown(self, harness: Harness) -> None:
        """Configuring an unknown severity fails loudly."""
        with pytest.raises(ValueError, match="severity"):
            harness.agg.set_severity(KeyError, "urgent")


class TestEveryNth:
    def test_first_occurrence_is_full(self, harness: Harness) -> None:
        """The first line carries hash, type, message, severity, endpoint and frames."""
        harness.agg.record(order_failed(7), endpoint="/api/orders")
        (event,) = harness.events()
        assert event["event"] == "error"
        assert event["msg"] == "order 7 failed"
        assert event["path"] == "/api/orders"
        assert "test_errors:order_failed" in event["exc"]

    def test_low_handled_first_line_has_no_traceback(self, harness: Harness) -> None:
        """A handled validation error's first line stays compact."""
        harness.agg.record(order_failed(1), status=422)
        assert "exc" not in harness.events("error")[0]

    def test_every_tenth_is_one_aggregated_line(self) -> None:
        """25 occurrences: the first, then count 10 and 20."""
        h = Harness(spike_threshold=1_000_000)
        for n in range(25):
            h.agg.record(order_failed(n))
        assert [e["event"] for e in h.events()] == ["error", "aggregated_error", "aggregated_error"]
        assert [e["count"] for e in h.events("aggregated_error")] == [10, 20]
        h.agg.close()

    def test_aggregated_line_has_the_normalised_message(self, harness: Harness) -> None:
        """The summary speaks for many messages, so its ids are placeholders."""
        for n in range(10):
            harness.agg.record(order_failed(n))
        assert harness.events("aggregated_error")[0]["msg"] == "order <num> failed"

    @settings(max_examples=30, deadline=None)
    @given(st.integers(1, 60), st.integers(1, 12))
    def test_line_count_follows_the_rule(self, occurrences: int, every: int) -> None:
        """Lines written = 1 + floor(n / N) minus the first when N is 1; counts exact."""
        h = Harness(error_every=every, spike_threshold=1_000_000)
        try:
            for n in range(occurrences):
                h.agg.record(order_failed(n))
            expected = 1 + occurrences // every - (1 if every == 1 else 0)
            assert len(h.lines) == expected
            assert h.agg.stats()["total_error_count"] == occurrences
        finally:
            h.agg.close()


class TestWindowMode:
    def test_at_most_one_line_per_window(self) -> None:
        """Within the window nothing more is written; after it, one line with the count since."""
        h = Harness(error_mode="window", error_window=60.0, spike_threshold=1_000_000)
        for n in range(30):
            h.agg.record(order_failed(n))
            h.clock.now += 1.0
        h.clock.now += 31.0
        h.agg.record(order_failed(99))
        assert [e["event"] for e in h.events()] == ["error", "aggregated_error"]
        assert h.events("aggregated_error")[0]["count"] == 30  # the first line said the 31st
        h.agg.close()

    def test_window_lines_say_their_counts_must_be_summed(self) -> None:
        """A window line carries its window length, which tells readers to sum counts."""
        h = Harness(error_mode="window", error_window=60.0, spike_threshold=1_000_000)
        for n in range(3):
            h.agg.record(order_failed(n))
        h.clock.now += 61.0
        h.agg.flush()
        assert h.events("aggregated_error")[0]["window"] == 60
        h.agg.close()

    def test_pending_count_is_flushed_when_window_ends(self) -> None:
        """A burst that stops is still summarised once its window has passed."""
        h = Harness(error_mode="window", error_window=60.0, spike_threshold=1_000_000)
        for n in range(5):
            h.agg.record(order_failed(n))
        h.clock.now += 61.0
        h.agg.flush()
        assert h.events("aggregated_error")[0]["count"] == 4
        h.agg.close()

    def test_float_times_at_window_edges_terminate(self) -> None:
        """Times like ``k * 0.6`` that land on a window edge give one line per window."""
        h = Harness(Clock(0.0), error_mode="window", error_window=60.0, spike_threshold=10**6)
        for k in range(1000):
            h.clock.now = k * 0.6
            h.agg.record(order_failed(k))
        assert 9 <= len(h.events("aggregated_error")) <= 10
        h.agg.close()

    def test_background_flush_writes_a_stopped_burst(self) -> None:
        """With the real clock, a burst's summary appears after its window with no new error."""
        with capture_logs(error_mode="window", error_window=0.2) as cap:
            agg = runtime.aggregator()
            for n in range(3):
                agg.record(order_failed(n))
            deadline = time.monotonic() + 10
            while len(cap.events) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert [e["event"] for e in cap.events] == ["error", "aggregated_error"]
        assert cap.events[1]["count"] == 2

    def test_final_flush_summarises_everything_unwritten(self) -> None:
        """At exit, counts still inside their window are written too."""
        h = Harness(error_mode="window", error_window=60.0)
        for n in range(4):
            h.agg.record(order_failed(n))
        h.agg.close(final=True)
        assert h.events("aggregated_error")[0]["count"] == 3

    @settings(max_examples=30, deadline=None)
    @given(st.lists(st.floats(0.0, 200.0), min_size=1, max_size=40))
    def test_line_counts_add_up_to_the_total(self, gaps: list[float]) -> None:
        """Each window line counts the occurrences since the last, so all lines sum to the total."""
        h = Harness(error_mode="window", error_window=60.0, spike_threshold=10**6)
        try:
            for n, gap in enumerate(gaps):
                h.clock.now += gap
                h.agg.record(order_failed(n))
            assert h.agg.stats()["top_errors"][0]["count"] == len(gaps)  # the running total
            h.agg.close(final=True)
            summaries = h.events("aggregated_error")
            assert 1 + sum(e["count"] for e in summaries) == len(gaps)
        finally:
            h.agg.close()


class TestOccurrences:
    @settings(max_examples=40, deadline=None)
    @given(
        st.sampled_from(["every_n", "window"]),
        st.integers(1, 12),
        st.lists(st.tuples(st.integers(0, 2), st.floats(0.0, 90.0)), min_size=1, max_size=60),
    )
    def test_n_sums_to_every_occurrence(
        self, mode: str, every: int, hits: list[tuple[int, float]]
    ) -> None:
        """Summing ``n`` over a fingerprint's lines, final flush included, gives its exact total."""
        h = Harness(error_mode=mode, error_every=every, error_window=60.0, spike_threshold=10**6)
        makers = (order_failed, other_error, lambda n: RuntimeError(f"job {n}"))
        try:
            for i, (which, gap) in enumerate(hits):
                h.clock.now += gap
                h.agg.record(makers[which](i))
            h.agg.close(final=True)
            by_hash: dict[str, int] = {}
            for event in h.events():
                if "n" in event:
                    by_hash[event["hash"]] = by_hash.get(event["hash"], 0) + event["n"]
            assert sum(by_hash.values()) == len(hits)
        finally:
            h.agg.close()


class TestSpike:
    def test_burst_escalates_once_and_says_so(self, harness: Harness) -> None:
        """More than 10 in 5 minutes: severity up one level, one line, one alert."""
        for n in range(30):
            harness.agg.record(order_failed(n))
        (line,) = harness.events("error_escalated")
        assert (line["sev"], line["escalated"], line["count"]) == ("high", True, 11)
        assert [a.escalated for a in harness.alerts()] == [True]
        assert harness.agg.stats()["by_severity"] == {"medium": 10, "high": 20}

    def test_window_mode_folds_the_escalation_into_the_next_line(self) -> None:
        """In window mode no ``error_escalated`` line: the next summary says it, the alert fires."""
        h = Harness(error_mode="window", error_window=60.0)
        try:
            for n in range(30):
                h.agg.record(order_failed(n))
            assert [e["event"] for e in h.events()] == ["error"]  # nothing until the window ends
            assert [a.escalated for a in h.alerts()] == [True]  # the alert did not wait
            h.clock.now += 61.0
            h.agg.flush()
            (line,) = h.events("aggregated_error")
            assert (line["sev"], line["escalated"], line["count"]) == ("high", True, 29)
            h.clock.now += 61.0
            h.agg.record(order_failed(99))
            h.clock.now += 61.0
            h.agg.flush()
            assert "escalated" not in h.events("aggregated_error")[1]  # said once
        finally:
            h.agg.close()

    def test_slow_trickle_does_not_escalate(self, harness: Harness) -> None:
        """Eleven errors a minute apart stay below the threshold."""
        for n in range(30):
            harness.agg.record(order_failed(n))
            harness.clock.now += 60.0
        assert harness.events("error_escalated") == []

    def test_critical_cannot_escalate(self, harness: Harness) -> None:
        """Critical is the top: a burst writes no escalation line."""
        for _ in range(20):
            harness.agg.record(ConnectionRefusedError("db down"))
        assert harness.events("error_escalated") == []


class TestAlertsFromErrors:
    def test_high_first_occurrence_alerts(self, harness: Harness) -> None:
        """An unhandled error's first occurrence is announced."""
        harness.agg.record(order_failed(1), status=500, handled=False, endpoint="/pay")
        (alert,) = harness.alerts()
        assert (alert.severity, alert.endpoint, alert.escalated) == ("high", "/pay", False)

    def test_medium_does_not_alert(self, harness: Harness) -> None:
        """A handled error below HIGH stays quiet."""
        harness.agg.record(order_failed(1))
        assert harness.alerts() == []

    def test_a_spiking_validation_error_never_pages_by_default(self, harness: Harness) -> None:
        """A 4xx pattern that escalates to medium is logged as escalated, and pages no one."""
        for n in range(12):
            harness.agg.record(order_failed(n), status=422)
        assert [e["sev"] for e in harness.events("error_escalated")] == ["medium"]
        assert harness.alerts() == []

    def test_alert_low_pages_for_a_spiking_validation_error(self) -> None:
        """With alert_low, the escalation of a low pattern pages as any other would."""
        h = Harness(alert_low=True)
        for n in range(12):
            h.agg.record(order_failed(n), status=422)
        assert [(a.severity, a.escalated) for a in h.alerts()] == [("medium", True)]
        h.agg.close()

    def test_a_spiking_medium_error_still_pages(self, harness: Harness) -> None:
        """Only patterns that began low are spared: a handled error's spike pages."""
        for n in range(12):
            harness.agg.record(order_failed(n))
        assert [(a.severity, a.escalated) for a in harness.alerts()] == [("high", True)]


class TestCleanup:
    def test_idle_patterns_expire_after_ttl(self) -> None:
        """A pattern unseen for longer than the TTL is forgotten."""
        h = Harness(error_ttl=100.0)
        h.agg.record(order_failed(1))
        h.clock.now += 101.0
        h.agg.record(other_error(1))
        assert [e["type"] for e in h.agg.stats()["top_errors"]] == ["KeyError"]
        h.agg.close()

    def test_expiry_summarises_unlogged_occurrences(self) -> None:
        """Occurrences not yet written are summarised when their pattern expires."""
        h = Harness(error_ttl=100.0)
        for n in range(4):
            h.agg.record(order_failed(n))
        h.clock.now += 101.0
        h.agg.flush()
        assert h.events("aggregated_error")[0]["count"] == 4
        h.agg.close()

    def test_cap_evicts_least_recently_seen(self) -> None:
        """Over the cap, the pattern seen longest ago goes first."""
        store = MemoryPatternStore(Policy(max_patterns=2))
        h = Harness()
        h.agg.store = store
        h.agg.record(order_failed(1))
        h.agg.record(other_error(1))
        h.agg.record(order_failed(2))  # order_failed is now the most recent
        h.agg.record(RuntimeError("third"))
        assert {e["type"] for e in h.agg.stats()["top_errors"]} == {"ValueError", "RuntimeError"}
        assert h.agg.stats()["total_error_count"] == 4
        h.agg.close()


class TestMemoryStoreModel:
    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(st.tuples(st.integers(0, 6), st.floats(0, 50)), max_size=80),
        st.integers(1, 4),
        st.sampled_from(["every_n", "window"]),
    )
    def test_invariants_hold_for_any_sequence(
        self, hits: list[tuple[int, float]], cap: int, mode: str
    ) -> None:
        """Whatever arrives: at most ``cap`` patterns, exact totals, counts never exceed hits."""
        store = MemoryPatternStore(Policy(mode=mode, every=3, window=10, ttl=20, max_patterns=cap))
        now = 0.0
        for key, step in hits:
            now += step
            store.hit(
                f"{key:08x}",
                now,
                lambda k=key, t=now: Pattern(f"{k:08x}", "E", "m", "low", None, t, t),
            )
            store.sweep(now)
        patterns, total, by_severity = store.snapshot()
        assert len(patterns) <= cap
        assert total == len(hits) == sum(by_severity.values())
        for p in patterns:
            assert 0 <= p.unlogged <= p.count <= sum(1 for k, _ in hits if f"{k:08x}" == p.hash)


class TestStats:
    def test_exact_shape(self, harness: Harness) -> None:
        """The ``errors`` section has exactly the four keys, and each top error its eight."""
        harness.agg.record(order_failed(1), endpoint="/api/orders")
        stats = harness.agg.stats()
        assert set(stats) == {
            "total_unique_errors",
            "total_error_count",
            "by_severity",
            "top_errors",
        }
        assert set(stats["top_errors"][0]) == {
            "hash", "type", "message", "count", "severity", "endpoint", "first_seen", "last_seen"
        }  # fmt: skip

    def test_counts_are_exact_whatever_was_logged(self, harness: Harness) -> None:
        """Every occurrence counts, though only three lines were written."""
        for n in range(23):
            harness.agg.record(order_failed(n))
        for n in range(4):
            harness.agg.record(other_error(n), status=404)
        stats = harness.agg.stats()
        assert (stats["total_unique_errors"], stats["total_error_count"]) == (2, 27)
        assert sum(stats["by_severity"].values()) == 27
        assert stats["top_errors"][0]["count"] == 23

    def test_patterns_stay_listed_after_traffic_stops_until_their_ttl(self) -> None:
        """A shutdown-style flush (what the demo does after its traffic) keeps every pattern;
        only the TTL forgets them."""
        h = Harness(error_ttl=3600.0)
        for n in range(23):
            h.agg.record(order_failed(n))
        h.agg.flush(final=True)
        h.clock.now += 3000.0
        h.agg.flush()
        stats = h.agg.stats()
        assert (stats["total_unique_errors"], stats["top_errors"][0]["count"]) == (1, 23)
        h.clock.now += 601.0
        h.agg.flush()
        assert h.agg.stats()["total_unique_errors"] == 0
        h.agg.close()

    def test_concurrent_records_are_all_counted(self, harness: Harness) -> None:
        """Eight threads recording at once lose no count."""

        def work() -> None:
            for n in range(500):
                harness.agg.record(order_failed(n))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert harness.agg.stats()["total_error_count"] == 4000


class TestRecordNeverRaises:
    def test_broken_exception_str(self, harness: Harness) -> None:
        """An exception whose ``__str__`` raises is still counted."""

        class Broken(Exception):
            def __str__(self) -> str:
                raise RuntimeError("nope")

        harness.agg.record(Broken())
        assert harness.agg.stats()["total_error_count"] == 1

    @pytest.mark.internal_errors
    def test_failing_store_is_counted_not_raised(self, harness: Harness) -> None:
        """A store failure becomes an internal error, never the app's problem."""

        class Failing(MemoryPatternStore):
            def hit(self, *args: Any, **kwargs: Any) -> Any:
                raise OSError("store down")

        harness.agg.store = Failing(Policy())
        harness.agg.record(order_failed(1))
        assert harness.lines == []


class TestNotAppErrors:
    @pytest.mark.parametrize(
        "exc", [KeyboardInterrupt(), SystemExit(1), GeneratorExit(), asyncio.CancelledError()]
    )
    def test_record_leaves_a_base_exception_uncounted(
        self, harness: Harness, exc: BaseException
    ) -> None:
        """A cancellation or an exit handed to ``record`` is no app error: no count, no line."""
        harness.agg.record(exc, endpoint="/x", handled=False)
        assert harness.agg.stats()["total_error_count"] == 0
        assert harness.lines == []

    def test_a_logged_cancellation_is_an_ordinary_line(self) -> None:
        """``log.exception`` inside ``except CancelledError`` writes the app's line, uncounted."""
        with capture_logs() as cap:
            try:
                raise asyncio.CancelledError()
            except asyncio.CancelledError:
                get_logger().exception("work cancelled")
                logging.getLogger("lib").exception("work cancelled (stdlib)")
            assert runtime.aggregator().stats()["total_error_count"] == 0
        assert [e["event"] for e in cap.events] == ["work cancelled", "work cancelled (stdlib)"]
        assert not any("hash" in e or "n" in e for e in cap.events)


class TestLoggerCalls:
    def test_log_exception_is_aggregated(self) -> None:
        """``log.exception`` writes the first occurrence in full and drops the rest."""
        log = get_logger()
        with capture_logs(spike_threshold=1000) as cap:
            for n in range(12):
                try:
                    raise ValueError(f"order {n} failed")
                except ValueError:
                    log.exception("checkout failed")
        events = cap.events
        assert [e["event"] for e in events] == ["checkout failed", "aggregated_error"]
        assert events[0]["hash"] == events[1]["hash"]
        assert events[0]["msg"] == "order 0 failed"
        assert "exc" in events[0]

    @pytest.mark.parametrize("how", ["structlog", "stdlib"])
    def test_summary_is_an_error_whatever_the_call_level(self, how: str) -> None:
        """A warning with exc_info keeps its level; the every-10th summary is at ERROR."""
        with capture_logs(spike_threshold=1000) as cap:
            for n in range(10):
                try:
                    raise ValueError(f"retry {n} failed")
                except ValueError:
                    if how == "stdlib":
                        logging.getLogger("lib").warning("retrying", exc_info=True)
                    else:
                        get_logger().warning("retrying", exc_info=True)
        first, summary = cap.events
        assert (first["event"], first["level"]) == ("retrying", "WARNING")
        assert (summary["event"], summary["level"]) == ("aggregated_error", "ERROR")
        assert summary["n"] == 9

    def test_severity_keyword_sets_severity(self) -> None:
        """``log.error(..., exc_info=True, severity="high")`` is HIGH and alerts."""
        log = get_logger()
        with capture_logs() as cap:
            try:
                raise RuntimeError("gateway 502")
            except RuntimeError:
                log.error("payment failed", exc_info=True, severity="high")
            assert runtime.aggregator().alerter.flush(5.0)
        by_event = {e["event"]: e for e in cap.events}
        assert by_event["payment failed"]["sev"] == "high"
        assert by_event["alert_fired"]["hash"] == by_event["payment failed"]["hash"]
        assert "severity" not in by_event["payment failed"]

    def test_stdlib_exception_goes_through(self) -> None:
        """``logging.exception`` from another library is aggregated too."""
        with capture_logs() as cap:
            for _ in range(3):
                try:
                    raise KeyError("k")
                except KeyError:
                    logging.getLogger("lib").exception("lookup")
            assert runtime.aggregator().stats()["total_error_count"] == 3
        assert [e["event"] for e in cap.events] == ["lookup"]

    def test_logged_then_recorded_counts_once(self) -> None:
        """An exception logged by the app and then recorded by the middleware is one error."""
        log = get_logger()
        with capture_logs():
            try:
                raise RuntimeError("boom")
            except RuntimeError as exc:
                log.exception("failed")
                runtime.aggregator().record(exc, endpoint="/x", status=500, handled=False)
            assert runtime.aggregator().stats()["total_error_count"] == 1

    def test_low_severity_log_exception_has_no_traceback(self) -> None:
        """``log.exception`` of a validation error writes a compact first line."""

        class PhoneValidationError(ValueError):
            pass

        with capture_logs() as cap:
            try:
                raise PhoneValidationError("Invalid phone number format")
            except ValueError:
                get_logger().exception("booking_failed")
        (line,) = cap.events
        assert (line["sev"], line["type"]) == ("low", "PhoneValidationError")
        assert "exc" not in line

    def test_an_exception_the_event_loop_reports_is_unhandled(self) -> None:
        """A task's exception nobody retrieved (asyncio's own report) is unhandled: high."""
        loop = asyncio.new_event_loop()
        with capture_logs() as cap:
            try:
                raise RuntimeError("task 1 crashed")
            except RuntimeError as exc:
                message = "Task exception was never retrieved"
                loop.call_exception_handler({"message": message, "exception": exc})
            finally:
                loop.close()
        (line,) = [e for e in cap.events if e.get("logger") == "asyncio"]
        assert (line["n"], line["sev"]) == (1, "high")

    def test_an_exception_a_thread_did_not_catch_is_an_unhandled_error(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A thread that dies of an exception writes one ERROR line with it, counted
        unhandled (high), instead of a bare traceback on stderr."""
        # the interpreter's own printer, not pytest's per-test hook, comes before ours
        monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)

        def boom() -> None:
            raise RuntimeError("worker 3 crashed")

        with capture_logs() as cap:
            worker = threading.Thread(target=boom, name="sync-worker")
            worker.start()
            worker.join()
        (line,) = [e for e in cap.events if e.get("logger") == "threading"]
        assert line["event"] == "Exception in thread sync-worker"
        assert (line["type"], line["n"], line["sev"]) == ("RuntimeError", 1, "high")
        assert "Traceback" not in capsys.readouterr().err

    def test_a_thread_hook_someone_else_set_still_runs(self) -> None:
        """Another library's threading.excepthook (Sentry's) still sees the exception."""
        seen: list[str] = []
        before = threading.excepthook
        threading.excepthook = lambda args: seen.append(str(args.exc_value))
        try:
            with capture_logs():
                worker = threading.Thread(target=lambda: 1 / 0)
                worker.start()
                worker.join()
        finally:
            threading.excepthook = before
        assert seen == ["division by zero"]

    def test_a_first_line_of_an_exception_never_raised_has_no_exc(self) -> None:
        """``log.error(..., exc_info=ValueError(...))`` (never raised): a first line
        without an empty ``exc``."""
        with capture_logs() as cap:
            get_logger().error("refund refused", exc_info=ValueError("over limit"))
        (line,) = cap.events
        assert (line["n"], line["type"], "exc" in line) == (1, "ValueError", False)

    def test_plain_error_without_exception_is_untouched(self) -> None:
        """``log.error`` with no exception is an ordinary line."""
        log = get_logger()
        with capture_logs() as cap:
            log.error("disk almost full", severity="high")
        assert cap.events[0]["severity"] == "high"
        assert "hash" not in cap.events[0]


def _deep(depth: int) -> None:
    if depth:
        _deep(depth - 1)
    raise RuntimeError("payment service said no, card 4242 4242 declined after retries")


class TestFirstLine:
    def test_carries_route_status_cid_and_frames(self) -> None:
        """An unhandled error's first line has route, status, cid, n and the failing frame."""
        with capture_logs() as cap, context.request_scope("c0ffee000001"):
            try:
                _deep(0)
            except RuntimeError as exc:
                runtime.aggregator().record(exc, endpoint="/api/pay", status=500, handled=False)
        (line,) = [e for e in cap.events if e["event"] == "error"]
        assert (line["cid"], line["path"], line["status"], line["n"]) == (
            "c0ffee000001",
            "/api/pay",
            500,
            1,
        )
        assert line["exc"].split(" > ")[-1].startswith("test_errors:_deep:")

    def test_has_its_own_budget_and_keeps_five_frames(self) -> None:
        """Five app frames and a long message fit error_line_max while max_line stays 200."""
        with capture_logs() as cap:
            try:
                _deep(6)
            except RuntimeError as exc:
                runtime.aggregator().record(
                    exc, endpoint="/api/v1/payments/{payment_id}/capture", status=500, handled=False
                )
        (line,) = [raw for raw in cap.lines if '"event":"error"' in raw]
        event = orjson.loads(line)
        assert 200 < len(line) <= 600
        assert "_dropped" not in event
        assert event["exc"].count("test_errors:_deep:") == 5
        assert not event["msg"].endswith("…")

    def test_every_other_line_keeps_max_line(self) -> None:
        """The every-10th summary of the same error stays within max_line."""
        with capture_logs(spike_threshold=1000) as cap:
            for _ in range(10):
                try:
                    _deep(6)
                except RuntimeError as exc:
                    runtime.aggregator().record(
                        exc, endpoint="/api/v1/payments/{payment_id}/capture", handled=False
                    )
        first, summary = [raw for raw in cap.lines if "error" in raw]
        assert len(first) > 200
        assert len(summary) <= 200

    def test_a_logged_error_names_the_route_of_its_request(self) -> None:
        """log.exception inside an instrumented route: its first line carries the route."""
        import asyncio

        import httpx
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        from bellwatch import instrument

        async def pay(request: Any) -> PlainTextResponse:
            try:
                _deep(1)
            except RuntimeError:
                get_logger().exception("payment_failed")
            return PlainTextResponse("later", status_code=202)

        app = instrument(Starlette(routes=[Route("/api/pay/{order}", pay)]))

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                return await client.get("/api/pay/17")

        with capture_logs() as cap:
            response = asyncio.run(go())
        (line,) = [e for e in cap.events if e["event"] == "payment_failed"]
        assert line["path"] == "/api/pay/{order}"
        assert line["cid"] == response.headers["x-request-id"]
        assert line["exc"].endswith(line["exc"].split(" > ")[-1])
        assert "test_errors:_deep:" in line["exc"]


def _logged_in_a_route(how: str, times: int) -> dict[str, Any]:
    """Log one exception ``times`` times inside an instrumented route, with ``how``
    (``structlog`` or ``stdlib``); the aggregator's stats, read before the capture ends."""
    import asyncio

    import httpx
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from bellwatch import instrument

    async def pay(request: Any) -> PlainTextResponse:
        try:
            raise RuntimeError("card declined")  # short: the summary keeps every field
        except RuntimeError:
            if how == "stdlib":
                logging.getLogger("app.payments").exception("payment_failed")
            else:
                get_logger().exception("payment_failed")
        return PlainTextResponse("later", status_code=202)

    app = instrument(Starlette(routes=[Route("/api/pay/{order}", pay)]))

    async def go() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            for n in range(times):
                await client.get(f"/api/pay/{n}")

    asyncio.run(go())
    return runtime.aggregator().stats()


class TestRouteOfLoggedErrors:
    @pytest.mark.parametrize("how", ["structlog", "stdlib"])
    def test_the_pattern_keeps_the_route_of_the_request(self, how: str) -> None:
        """An error logged during a request: its summary line and /metrics name the route."""
        with capture_logs(spike_threshold=1000) as cap:
            stats = _logged_in_a_route(how, 10)
        first, summary = [e for e in cap.events if "hash" in e and "n" in e]
        assert first["path"] == summary["path"] == "/api/pay/{order}"
        assert (summary["event"], summary["n"]) == ("aggregated_error", 9)
        (top,) = stats["top_errors"]
        assert (top["endpoint"], top["count"]) == ("/api/pay/{order}", 10)

    def test_a_route_given_by_the_call_wins(self) -> None:
        """A ``path`` passed to the logger call is the pattern's, not the request's."""
        with capture_logs(spike_threshold=1000) as cap:
            try:
                _deep(0)
            except RuntimeError:
                get_logger().exception("payment_failed", path="/jobs/nightly")
            stats = runtime.aggregator().stats()
        assert cap.events[0]["path"] == "/jobs/nightly"
        assert stats["top_errors"][0]["endpoint"] == "/jobs/nightly"

    def test_record_without_endpoint_takes_the_request_route(self) -> None:
        """``record(exc)`` with no endpoint during a request names the request's route."""
        from bellwatch.errors._handover import set_request_route

        set_request_route(lambda: "/api/book/{slot}")
        try:
            with capture_logs() as cap:
                runtime.aggregator().record(order_failed(1))
                stats = runtime.aggregator().stats()
        finally:
            set_request_route(None)
        assert cap.events[0]["path"] == "/api/book/{slot}"
        assert stats["top_errors"][0]["endpoint"] == "/api/book/{slot}"


class TestSummaryLines:
    def test_summaries_carry_no_request_context(self) -> None:
        """The first line has its request's cid; a summary of many requests has none."""
        with capture_logs(spike_threshold=1000) as cap:
            for n in range(10):
                with context.request_scope(f"{n:012x}"), context.bound(uid="u1"):
                    runtime.aggregator().record(order_failed(n))
        first, summary = cap.events
        assert (first["cid"], first["uid"]) == ("000000000000", "u1")
        assert "cid" not in summary
        assert "uid" not in summary

    def test_escalation_line_fits_the_budget(self) -> None:
        """The escalation line keeps ``escalated`` and drops nothing."""
        with capture_logs() as cap:
            for n in range(11):
                runtime.aggregator().record(order_failed(n), endpoint="/api/assistant/book/{slot}")
        (line,) = [e for e in cap.events if e["event"] == "error_escalated"]
        assert line["escalated"] is True
        assert "_dropped" not in line


class TestGetAggregator:
    def test_same_instance_while_settings_hold(self) -> None:
        """Two calls under one configuration share counts."""
        with capture_logs():
            assert runtime.aggregator() is runtime.aggregator()

    def test_new_instance_when_error_settings_change(self) -> None:
        """Reconfiguring with another error mode starts afresh."""
        with capture_logs():
            first = runtime.aggregator()
        with capture_logs(error_mode="window"):
            assert runtime.aggregator() is not first
            assert runtime.aggregator().policy.mode == "window"

    def test_pipeline_reset_forgets_patterns(self) -> None:
        """``runtime.reset()`` (used between tests) clears the counts."""
        with capture_logs():
            runtime.aggregator().record(order_failed(1))
        runtime.reset()
        with capture_logs():
            assert runtime.aggregator().stats()["total_error_count"] == 0


class TestUsersAffected:
    def test_each_occurrence_hands_its_bound_uid_to_on_user(self, harness: Harness) -> None:
        """record() and a logged exception both give (fingerprint, uid) from the bound uid."""
        seen: list[tuple[str, str]] = []
        harness.agg.on_user = lambda key, uid: seen.append((key, uid))
        with context.bound(uid="alice"):
            harness.agg.record(order_failed(1))
        with context.bound(uid=42):
            harness.agg.record(order_failed(2))
        harness.agg.record(order_failed(3))  # no uid bound: nobody to count
        assert [uid for _, uid in seen] == ["alice", "42"]
        assert len({key for key, _ in seen}) == 1

    def test_a_uid_bound_in_a_threadpool_copy_counts(self, harness: Harness) -> None:
        """A sync route binds in a copy of the context: the request's collected fields hold it."""
        seen: list[str] = []
        harness.agg.on_user = lambda key, uid: seen.append(uid)
        collected: dict[str, Any] = {"uid": "bob"}
        token = context._ctx.set(context._Bound("cid1", context._EMPTY, collected))
        try:
            harness.agg.record(order_failed(4))
        finally:
            context._ctx.reset(token)
        assert seen == ["bob"]
        assert collected["hash"]  # the request's line will name the error it met

    def test_the_request_line_names_the_error_and_its_user(self) -> None:
        """A 500 from Starlette (which answers before re-raising): the request line carries
        hash and uid, and the tracker counts the user against the fingerprint."""
        import asyncio

        import httpx
        from starlette.applications import Starlette
        from starlette.responses import PlainTextResponse
        from starlette.routing import Route

        import bellwatch

        async def boom(request: Any) -> PlainTextResponse:
            bellwatch.bind(uid="carol")
            raise RuntimeError("calendar down")

        async def go(app: Any) -> None:
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.get("/boom")

        with capture_logs() as logs:
            asyncio.run(go(bellwatch.instrument(Starlette(routes=[Route("/boom", boom)]))))
            runtime.flush()
            (line,) = [e for e in logs.events if e["event"] == "request_complete"]
            (first,) = [e for e in logs.events if e["event"] == "error"]
            users = runtime.users()
            assert users is not None
            assert users.error_users([first["hash"]]) == {first["hash"]: 1}
        assert (line["status"], line["uid"], line["hash"]) == (500, "carol", first["hash"])
        assert "n" not in line  # not an occurrence: the counting rule is unchanged
