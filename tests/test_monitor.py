"""The performance monitor and its in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch import end_session
from bellwatch._runtime import runtime
from bellwatch.monitor import Monitor, form_field, header
from bellwatch.store import OTHER, EndpointStats, MemoryStore, Snapshot, Store
from bellwatch.store.base import MAPPING, _bin_key, new_sketch


@pytest.fixture(autouse=True)
def _fresh_monitor() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()


class Clock:
    """A settable wall clock."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


durations = st.lists(st.floats(min_value=0.0005, max_value=60.0), min_size=1, max_size=300)


class TestEndpointStats:
    def test_counts_classes_of_status(self) -> None:
        """5xx are errors, 4xx client errors, the rest neither."""
        stats = EndpointStats()
        for status in (200, 404, 500, 503):
            stats.add(status, 0.1, slow=False)
        assert (stats.count, stats.errors, stats.client_errors) == (4, 2, 1)

    @given(durations)
    def test_quantiles_within_one_percent(self, values: list[float]) -> None:
        """p50/p95/p99 are within the sketch's 1% relative accuracy of the exact rank."""
        stats = EndpointStats()
        for v in values:
            stats.add(200, v, slow=False)
        ordered = sorted(values)
        for q in (0.5, 0.95, 0.99):
            exact = ordered[int(q * (len(ordered) - 1))]
            assert abs(stats.quantile(q) - exact) <= 0.0101 * exact

    @given(st.lists(st.floats(min_value=0.0, max_value=60.0), min_size=1, max_size=300))
    def test_bins_give_the_quantiles_of_the_library_sketch(self, values: list[float]) -> None:
        """Counting bins per request reads the same quantiles as DDSketch.add per value."""
        stats, direct = EndpointStats(), new_sketch()
        for v in values:
            stats.add(200, v, slow=False)
            direct.add(v)
        for q in (0.0, 0.5, 0.95, 0.99, 1.0):
            assert stats.quantile(q) == pytest.approx(direct.get_quantile_value(q), rel=1e-9)

    @given(st.floats(min_value=1e-300, max_value=1e300))
    def test_inline_bin_key_is_the_librarys(self, value: float) -> None:
        """The hot path's one-expression key equals LogarithmicMapping.key."""
        assert _bin_key(value) == MAPPING.key(value)

    def test_requests_after_a_read_are_still_counted(self) -> None:
        """Bins folded into the sketch by one read do not hide the next requests."""
        stats = EndpointStats()
        stats.add(200, 0.1, slow=False)
        assert stats.quantile(0.5) == pytest.approx(0.1, rel=0.01)
        stats.add(200, 5.0, slow=False)
        stats.add(200, 5.0, slow=False)
        assert stats.quantile(0.5) == pytest.approx(5.0, rel=0.01)
        assert stats.sketch.count == 3

    @given(durations, durations)
    def test_merge_equals_counting_everything_once(self, a: list[float], b: list[float]) -> None:
        """Merging two stats gives the same counts and quantiles as one stats of both."""
        left, right, both = EndpointStats(), EndpointStats(), EndpointStats()
        for v in a:
            left.add(200, v, slow=v > 2)
            both.add(200, v, slow=v > 2)
        for v in b:
            right.add(500, v, slow=v > 2)
            both.add(500, v, slow=v > 2)
        left.merge(right)
        assert (left.count, left.errors, left.slow) == (both.count, both.errors, both.slow)
        assert left.quantile(0.95) == both.quantile(0.95)


class TestMemoryStore:
    def test_is_a_store(self) -> None:
        """The default store satisfies the Store protocol a shared store implements."""
        assert isinstance(MemoryStore(), Store)

    def test_window_forgets_old_buckets(self) -> None:
        """Requests older than the window leave the window but stay in the totals."""
        store = MemoryStore(window=60.0)
        store.record("/a", 200, 0.1, False, now=1000.0)
        store.record("/a", 500, 0.2, False, now=1100.0)
        snap = store.snapshot(now=1100.0)
        assert snap.endpoints["/a"].count == 2
        assert snap.window["/a"].count == 1
        assert snap.window["/a"].errors == 1

    def test_endpoint_cardinality_is_capped(self) -> None:
        """Route templates beyond the cap count under one extra <other> bucket."""
        store = MemoryStore(max_endpoints=3)
        for i in range(10):
            store.record(f"/r{i}", 200, 0.1, False, now=1.0)
        snap = store.snapshot(now=1.0)
        assert len(snap.endpoints) == 4
        assert snap.endpoints[OTHER].count == 7

    def test_sessions_expire(self) -> None:
        """A session not seen within session_window is no longer active."""
        store = MemoryStore(session_window=60.0)
        store.touch_session("old", now=1000.0)
        store.touch_session("new", now=1050.0)
        assert store.snapshot(now=1070.0).active_sessions == 1

    def test_touching_a_session_keeps_it_alive(self) -> None:
        """Seeing a session again moves its expiry forward."""
        store = MemoryStore(session_window=60.0)
        store.touch_session("s", now=1000.0)
        store.touch_session("other", now=1001.0)
        store.touch_session("s", now=1050.0)
        assert store.snapshot(now=1070.0).active_sessions == 1

    def test_an_ended_session_is_no_longer_active(self) -> None:
        """end_session() stops counting a session at once, not after session_window."""
        store = MemoryStore(session_window=60.0)
        store.touch_session("call", now=1000.0)
        store.touch_session("other", now=1000.0)
        store.end_session("call", now=1001.0)
        assert store.snapshot(now=1002.0).active_sessions == 1

    def test_a_session_seen_after_its_end_stays_active(self) -> None:
        """An end older than the session's last touch does not remove it."""
        store = MemoryStore(session_window=60.0)
        store.touch_session("call", now=1005.0)
        store.end_session("call", now=1001.0)
        assert store.snapshot(now=1006.0).active_sessions == 1

    def test_session_memory_is_capped(self) -> None:
        """At most max_sessions keys are kept, least recently seen dropped first."""
        store = MemoryStore(max_sessions=100)
        for i in range(1000):
            store.touch_session(f"s{i}", now=1.0)
        assert store.snapshot(now=1.0).active_sessions == 100

    def test_counters_add_up(self) -> None:
        """Business counters accumulate."""
        store = MemoryStore()
        store.incr("booking_success", 1, now=1.0)
        store.incr("booking_success", 2, now=1.0)
        assert store.snapshot(now=1.0).counters == {"booking_success": 3}

    def test_snapshots_merge(self) -> None:
        """Cluster plus local: counts, sessions and counters add."""
        a, b = MemoryStore(), MemoryStore()
        a.record("/x", 200, 0.1, False, now=1.0)
        b.record("/x", 500, 0.3, True, now=1.0)
        b.record("/y", 200, 0.1, False, now=1.0)
        a.incr("n", 1, now=1.0)
        b.incr("n", 1, now=1.0)
        merged = a.snapshot(now=1.0).merge(b.snapshot(now=1.0))
        assert merged.endpoints["/x"].count == 2
        assert merged.totals().count == 3
        assert merged.counters == {"n": 2}

    def test_snapshot_is_a_copy(self) -> None:
        """Later requests do not change a snapshot already taken."""
        store = MemoryStore()
        store.record("/x", 200, 0.1, False, now=1.0)
        snap = store.snapshot(now=1.0)
        store.record("/x", 200, 0.1, False, now=1.0)
        assert snap.endpoints["/x"].count == 1

    def test_reset_forgets_everything(self) -> None:
        """reset() empties totals, window, sessions and counters."""
        store = MemoryStore()
        store.record("/x", 200, 0.1, False, now=1.0)
        store.touch_session("s", now=1.0)
        store.reset()
        snap = store.snapshot(now=1.0)
        assert (snap.endpoints, snap.active_sessions) == ({}, 0)


class TestMonitor:
    def test_slow_threshold_decides_slow(self) -> None:
        """observe() counts a request over slow_threshold as slow and says so."""
        monitor = Monitor(slow_threshold=0.5)
        assert monitor.observe("/x", 200, 0.6) is True
        assert monitor.observe("/x", 200, 0.4) is False
        assert monitor.snapshot().totals().slow == 1

    def test_listeners_see_every_request(self) -> None:
        """Registered listeners (the EMF writer) get each request after the store."""
        monitor = Monitor(clock=Clock())
        seen: list[tuple[str, int]] = []
        monitor.listeners.append(lambda path, status, *rest: seen.append((path, status)))
        monitor.observe("/x", 201, 0.1)
        assert seen == [("/x", 201)]

    def test_slow_threshold_comes_from_the_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BELLWATCH_SLOW_THRESHOLD sets the process-wide monitor's threshold."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "0.25")
        assert runtime.monitor().slow_threshold == 0.25

    def test_end_session_ends_it_in_the_store(self) -> None:
        """Monitor.end_session() ends the key at the monitor's clock."""
        monitor = Monitor(clock=Clock())
        monitor.observe("/x", 200, 0.1, session="CA1")
        monitor.end_session("CA1")
        assert monitor.snapshot().active_sessions == 0

    def test_module_end_session_reaches_the_process_monitor(self) -> None:
        """bellwatch.monitor.end_session() ends a session of the process-wide monitor."""
        monitor = runtime.set_monitor(Monitor(clock=Clock()))
        monitor.observe("/x", 200, 0.1, session="CA1")
        end_session("CA1")
        assert runtime.monitor().snapshot().active_sessions == 0

    def test_snapshot_type(self) -> None:
        """snapshot() returns a Snapshot of this process."""
        snap = Monitor().snapshot()
        assert isinstance(snap, Snapshot)
        assert snap.source == "local"


class TestSessionKeys:
    def test_header_key_is_hashed(self) -> None:
        """header() returns a digest, never the header's value."""
        key = header("x-session")({"headers": [(b"x-session", b"secret")]}, {}, None)
        assert key is not None
        assert "secret" not in key

    def test_form_field_falls_back_to_bound_sid(self) -> None:
        """Without a CallSid in the body, the bound sid is used."""
        assert form_field()({}, {"sid": "CA9"}, b"From=%2B1555") == "CA9"

    def test_form_field_reads_urlencoded_body(self) -> None:
        """CallSid is read from a urlencoded body."""
        assert form_field()({}, {}, b"From=x&CallSid=CAabc") == "CAabc"
