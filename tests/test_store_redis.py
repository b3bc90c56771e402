"""The Redis store and the Redis pattern store, against a real redis-server."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import orjson
import pytest
import redis
from ddsketch import DDSketch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bellwatch import _settings
from bellwatch._runtime import runtime
from bellwatch._settings import ConfigError
from bellwatch.errors.aggregator import ErrorAggregator
from bellwatch.errors.alerts import Alert, Alerter
from bellwatch.monitor.monitor import Monitor
from bellwatch.store import MemoryStore
from bellwatch.store._redis_batch import Batch
from bellwatch.store._redis_client import connect
from bellwatch.store.base import RELATIVE_ACCURACY, Store
from bellwatch.store.patterns import Policy
from bellwatch.store.redis import RedisStore
from bellwatch.store.redis_errors import RedisPatternStore
from bellwatch.testing import capture_logs
from fresh_python import run_python

if TYPE_CHECKING:
    from redis_server import RedisServer

pytest_plugins = ["redis_server"]
pytestmark = pytest.mark.redis

NOW = 1_800_000_000.0


@pytest.fixture
def stores(redis_url: str) -> Iterator[list[RedisStore]]:
    """Two stores of one service, as two worker processes would have."""
    made = [RedisStore(redis_url, service="svc", flush_interval=60.0) for _ in range(2)]
    yield made
    for store in made:
        store.close()


def _flush(*stores: RedisStore | RedisPatternStore) -> None:
    for store in stores:
        assert store.flush()
    for store in stores:  # a second round so every copy read the others' batches
        assert store.flush()


class TestRedisStore:
    def test_implements_the_store_protocol(self, stores: list[RedisStore]) -> None:
        """RedisStore is a Store, so the monitor takes it unchanged."""
        assert isinstance(stores[0], Store)

    def test_totals_add_up_across_processes(self, stores: list[RedisStore]) -> None:
        """Counts, error classes, slow requests and seconds from two processes sum exactly."""
        a, b = stores
        for i in range(50):
            a.record("/a", 200, 0.01, False, NOW)
            b.record("/a", 500 if i % 5 == 0 else 404, 0.5, True, NOW)
        _flush(a, b)
        snap = a.snapshot(NOW)
        stats = snap.endpoints["/a"]
        assert snap.source == "cluster"
        assert (stats.count, stats.errors, stats.client_errors, stats.slow) == (100, 10, 40, 50)
        assert stats.total == pytest.approx(50 * 0.01 + 50 * 0.5)

    def test_quantiles_match_one_sketch_of_all_requests(self, stores: list[RedisStore]) -> None:
        """Merged bins give the quantiles one sketch of every duration would give."""
        a, b = stores
        one = DDSketch(RELATIVE_ACCURACY)
        for i in range(1, 201):
            duration = i / 1000
            (a if i % 2 else b).record("/q", 200, duration, False, NOW)
            one.add(duration)
        _flush(a, b)
        stats = b.snapshot(NOW).endpoints["/q"]
        for q in (0.5, 0.95, 0.99):
            assert stats.quantile(q) == pytest.approx(one.get_quantile_value(q), rel=0.02)

    def test_window_holds_only_recent_buckets(self, stores: list[RedisStore]) -> None:
        """Requests older than the rolling window count since start but not in the window."""
        a, b = stores
        a.record("/w", 200, 0.1, False, NOW - 3600)
        b.record("/w", 200, 0.1, False, NOW)
        _flush(a, b)
        snap = a.read(a.shipper._client, NOW)
        assert snap.endpoints["/w"].count == 2
        assert snap.window["/w"].count == 1

    def test_sessions_are_distinct_across_processes(self, stores: list[RedisStore]) -> None:
        """A session seen by both processes counts once; one not seen recently not at all."""
        a, b = stores
        a.touch_session("call-1", NOW)
        b.touch_session("call-1", NOW)
        b.touch_session("call-2", NOW)
        a.touch_session("old", NOW - 3600)
        _flush(a, b)
        assert a.read(a.shipper._client, NOW).active_sessions == 2

    def test_an_ended_session_ends_cluster_wide(self, stores: list[RedisStore]) -> None:
        """A session one process saw and another ended is no longer active anywhere."""
        a, b = stores
        a.touch_session("call-1", NOW)
        a.touch_session("call-2", NOW)
        _flush(a, b)
        b.end_session("call-1", NOW + 1)
        _flush(a, b)
        assert a.read(a.shipper._client, NOW + 2).active_sessions == 1

    def test_a_session_seen_after_its_end_stays_active(self, stores: list[RedisStore]) -> None:
        """An end that reaches Redis after a newer touch (another process) removes nothing."""
        a, b = stores
        a.touch_session("call-1", NOW + 5)
        b.end_session("call-1", NOW + 1)
        _flush(a, b)
        assert a.read(a.shipper._client, NOW + 6).active_sessions == 1

    def test_the_process_view_drops_an_ended_session(self, stores: list[RedisStore]) -> None:
        """This process's own numbers stop counting a session it ended, flushed or not."""
        a, _ = stores
        a.touch_session("call-1", NOW)
        a.touch_session("call-2", NOW)
        _flush(a)
        a.end_session("call-1", NOW + 1)
        assert a.local_snapshot(NOW + 2).active_sessions == 1
        _flush(a)
        assert a.local_snapshot(NOW + 2).active_sessions == 1

    def test_business_counters_add_up(self, stores: list[RedisStore]) -> None:
        """Business counters from two processes sum."""
        a, b = stores
        a.incr("bookings", 2.0, NOW)
        b.incr("bookings", 3.0, NOW)
        _flush(a, b)
        assert a.snapshot(NOW).counters == {"bookings": 5.0}

    def test_process_numbers_stay_separate(self, stores: list[RedisStore]) -> None:
        """local_snapshot is this process's own count, snapshot the cluster's."""
        a, b = stores
        a.record("/p", 200, 0.1, False, NOW)
        b.record("/p", 200, 0.1, False, NOW)
        _flush(a, b)
        assert a.local_snapshot(NOW).endpoints["/p"].count == 1
        assert a.snapshot(NOW).endpoints["/p"].count == 2

    def test_process_view_matches_the_in_process_store(self, redis_url: str) -> None:
        """This process's numbers equal what a MemoryStore fed the same requests reports."""
        store = RedisStore(redis_url, service="v", flush_interval=60.0)
        memory = MemoryStore()
        try:
            for i in range(60):
                when = NOW - 600 + i * 10  # half of them older than the 5-minute window
                for target in (store, memory):
                    target.record(f"/v/{i % 3}", 500 if i % 7 == 0 else 200, i / 100, i % 4 == 0,
                                  when)  # fmt: skip
                    target.touch_session(f"s{i % 9}", when)
                    target.incr("calls", 1.0, when)
                if i == 30:
                    _flush(store)  # part acknowledged, part still buffered
            mine, theirs = store.local_snapshot(NOW), memory.snapshot(NOW)
            assert mine.source == "local"
            assert mine.active_sessions == theirs.active_sessions
            assert mine.counters == theirs.counters
            for view in ("endpoints", "window"):
                a, b = getattr(mine, view), getattr(theirs, view)
                assert sorted(a) == sorted(b)
                for path in a:
                    assert (a[path].count, a[path].errors, a[path].slow) == (
                        b[path].count, b[path].errors, b[path].slow)  # fmt: skip
                    assert a[path].quantile(0.95) == pytest.approx(b[path].quantile(0.95),
                                                                   rel=0.03)  # fmt: skip
        finally:
            store.close()

    def test_keys_are_namespaced_and_expire(
        self, stores: list[RedisStore], redis_server: RedisServer
    ) -> None:
        """Every key is under bellwatch:<service>: and has a TTL."""
        a, _ = stores
        a.record("/k", 200, 0.1, False, time.time())
        a.touch_session("s", time.time())
        a.incr("c", 1.0, time.time())
        _flush(a)
        client = redis_server.client()
        keys = client.keys("*")
        assert keys
        assert all(key.startswith("bellwatch:svc:") for key in keys)
        assert all(client.ttl(key) > 0 for key in keys)

    def test_a_resent_batch_counts_once(self, stores: list[RedisStore]) -> None:
        """A batch whose reply was lost is acknowledged as a duplicate, not counted twice."""
        a, _ = stores
        a.record("/d", 200, 0.1, False, NOW)
        batch, _n = a._take()
        client = connect(a.shipper.url)
        assert a._send(client, "p1", 1, "first", batch) == "ok"
        assert a._send(client, "p1", 1, "delta", batch) == "dup"
        assert a.read(client, NOW).endpoints["/d"].count == 1

    def test_totals_converge_after_redis_restarts_empty(self, own_redis: RedisServer) -> None:
        """Redis restarted without its data: each process resends its totals once."""
        a, b = (RedisStore(own_redis.url, service="r", flush_interval=60.0) for _ in range(2))
        try:
            for _ in range(10):
                a.record("/r", 200, 0.1, False, NOW)
                b.record("/r", 200, 0.1, False, NOW)
            _flush(a, b)
            own_redis.restart()
            a.record("/r", 200, 0.1, False, NOW)
            with capture_logs():
                _flush(a, b)
            assert a.snapshot(NOW).endpoints["/r"].count == 21
        finally:
            a.close()
            b.close()


class TestNamespaces:
    @pytest.mark.parametrize("service", ["a:e", "a*", "a?", "[a]"])
    def test_a_service_that_would_reach_another_services_keys_is_refused(
        self, redis_url: str, service: str
    ) -> None:
        """A ':' or glob character in the service name raises when a store is built."""
        with pytest.raises(ConfigError, match="any character but"):
            RedisStore(redis_url, service=service)
        with pytest.raises(ConfigError, match="any character but"):
            RedisPatternStore(redis_url, Policy(), service=service)

    @pytest.mark.parametrize("neighbour", ["ab", "a-e", "a.e", "A", "a e"])
    def test_resetting_a_service_leaves_its_neighbours_numbers(
        self, redis_url: str, redis_server: RedisServer, neighbour: str
    ) -> None:
        """Two services in one Redis: resetting one deletes none of the other's keys or numbers."""
        made = {name: RedisStore(redis_url, service=name, flush_interval=60.0)
                for name in ("a", neighbour)}  # fmt: skip
        aggs = {name: _aggregators(redis_url, 1, service=name)[0][0] for name in made}
        try:
            for name, store in made.items():
                store.record("/n", 200, 0.1, False, time.time())
                store.touch_session("s", time.time())
                store.incr("calls", 1.0, time.time())
                aggs[name].record(_boom(1))
                _flush(store, aggs[name].store)  # type: ignore[arg-type]
            client = redis_server.client()
            theirs = set(client.scan_iter(match=f"bellwatch:{neighbour}:*"))
            assert {key.split(":")[2] for key in theirs} >= {"ep", "sess", "ctr", "errs", "etot"}
            made["a"].reset()
            assert not set(client.scan_iter(match="bellwatch:a:*"))
            assert set(client.scan_iter(match=f"bellwatch:{neighbour}:*")) == theirs
            snap = made[neighbour].read(connect(redis_url), time.time())
            assert (snap.endpoints["/n"].count, snap.active_sessions) == (1, 1)
            assert snap.counters == {"calls": 1.0}
            _flush(aggs[neighbour].store)  # type: ignore[arg-type]
            assert aggs[neighbour].stats()["total_error_count"] == 1
        finally:
            for store in made.values():
                store.close()
            for agg in aggs.values():
                agg.close()


def _wait_stalled(server: RedisServer) -> None:
    """Return once the server stops answering (a short-timeout PING times out)."""
    probe = connect(server.url, timeout=0.05)  # no retries, unlike redis-py's default
    try:
        for _ in range(200):
            try:
                probe.ping()
            except redis.TimeoutError:
                return
            time.sleep(0.01)
        raise AssertionError("redis-server never stalled")
    finally:
        probe.close()


requests = st.lists(
    st.tuples(
        st.sampled_from(["/a", "/b/{id}"]),
        st.sampled_from([200, 404, 500]),
        st.floats(min_value=0, max_value=30),
        st.booleans(),
        st.floats(min_value=0, max_value=60),
    ),
    max_size=40,
)


class TestBatch:
    @given(requests)
    def test_a_live_batch_settles_to_what_counting_both_ways_gives(
        self, reqs: list[tuple[str, int, float, bool, float]]
    ) -> None:
        """Counted per bucket then settled, a live batch equals one counted since start too."""
        live, plain = Batch(live=True), Batch()
        for path, status, duration, slow, offset in reqs:
            live.count(path, status, duration, slow, NOW + offset)
            plain.add(path, status, duration, slow, NOW + offset)
        merged = Batch()
        merged.merge(live)  # a live batch merges in with its totals
        live.settle()
        for batch in (live, merged):
            assert (batch.updates, batch.b, batch.s) == (plain.updates, plain.b, plain.s)
            assert batch.sk == plain.sk
            assert batch.ep.keys() == plain.ep.keys()
            for path, row in batch.ep.items():
                assert row[:4] == plain.ep[path][:4]
                assert row[4] == pytest.approx(plain.ep[path][4])
        assert orjson.loads(live.payload())["ep"].keys() == plain.ep.keys()


class TestDegraded:
    def test_requests_are_counted_locally_while_redis_is_down(self) -> None:
        """With Redis unreachable, record never raises and the snapshot is this process's."""
        store = RedisStore("redis://127.0.0.1:1/0", flush_interval=60.0, timeout=0.2)
        try:
            with capture_logs() as captured:
                store.record("/x", 200, 0.1, False, NOW)
                assert not store.flush()
                assert not store.flush()
                lines = captured.events
            snap = store.snapshot(NOW)
            assert snap.source == "local"
            assert snap.endpoints["/x"].count == 1
            assert store.health() == "degraded"
            assert [line["event"] for line in lines] == ["store_degraded"]
        finally:
            store.close()

    def test_the_degraded_line_says_what_failed(self) -> None:
        """store_degraded names the error and its reason (the address refused), not a bare type."""
        store = RedisStore("redis://127.0.0.1:1/0", flush_interval=60.0, timeout=0.2)
        try:
            with capture_logs() as captured:
                store.record("/x", 200, 0.1, False, NOW)
                assert not store.flush()
            (line,) = captured.events
            assert line["msg"].startswith("ConnectionError: ")
            assert "127.0.0.1:1" in line["msg"]
        finally:
            store.close()

    def test_closing_with_queued_requests_does_not_hang(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The degraded line written on close finishes queued requests into this very store."""
        import asyncio

        import httpx
        from fastapi import FastAPI

        from bellwatch import instrument
        from bellwatch.log.deferred import Deferred

        store = RedisStore("redis://127.0.0.1:1/0", flush_interval=60.0, timeout=0.2)
        app = FastAPI()

        @app.get("/q")
        async def queued() -> dict[str, bool]:
            return {"ok": True}

        async def go() -> None:
            transport = httpx.ASGITransport(app=instrument(app, monitor=Monitor(store)))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                await client.get("/q")

        closer = threading.Thread(target=store.close, daemon=True)
        with capture_logs():
            with monkeypatch.context() as patch:
                # the flusher thread must leave it queued
                patch.setattr(runtime.flusher, "deferred", Deferred())
                time.sleep(runtime.flusher.tick + 0.05)  # a tick that read the real queue ends
                asyncio.run(go())
                queued_now = len(runtime.deferred.pending)
            closer.start()
            closer.join(10)
        assert queued_now == 1
        assert not closer.is_alive()
        assert store.snapshot(NOW).endpoints["/q"].count == 1

    def test_buffer_is_flushed_when_redis_returns(self, own_redis: RedisServer) -> None:
        """Updates made during an outage reach Redis afterwards; one recovered line says so."""
        store = RedisStore(own_redis.url, service="o", flush_interval=60.0, timeout=0.2)
        try:
            store.record("/o", 200, 0.1, False, NOW)
            _flush(store)
            own_redis.stop()
            with capture_logs() as captured:
                for _ in range(5):
                    store.record("/o", 200, 0.1, False, NOW)
                assert not store.flush()
                own_redis.start()
                _flush(store)
                lines = captured.events
            assert store.snapshot(NOW).endpoints["/o"].count == 6
            assert [line["event"] for line in lines] == ["store_degraded", "store_recovered"]
            assert lines[1]["count"] == 5
            assert store.health() == "ok"
        finally:
            store.close()

    def test_a_slow_redis_delays_no_request_and_counts_once(self, own_redis: RedisServer) -> None:
        """A batch that timed out behind a stalled Redis is applied once, not twice."""
        store = RedisStore(own_redis.url, service="slow", flush_interval=60.0, timeout=0.2)
        try:
            _flush(store)
            stall = threading.Thread(
                target=lambda: own_redis.client().execute_command("DEBUG", "SLEEP", "1")
            )
            stall.start()
            _wait_stalled(own_redis)
            store.record("/s", 200, 0.1, False, NOW)
            with capture_logs() as captured:
                assert not store.flush()  # timed out; Redis runs the batch once it wakes
                stall.join()
                _flush(store)  # resent with the same sequence number: a duplicate
                events = [line["event"] for line in captured.events]
            assert events == ["store_degraded", "store_recovered"]
            assert store.snapshot(NOW).endpoints["/s"].count == 1
        finally:
            store.close()

    def test_redis_answering_errors_degrades_then_recovers(self, own_redis: RedisServer) -> None:
        """Out-of-memory errors from Redis degrade the store; counts arrive once it accepts."""
        store = RedisStore(own_redis.url, service="oom", flush_interval=60.0)
        client = own_redis.client()
        try:
            _flush(store)
            client.config_set("maxmemory", "1")
            store.record("/m", 200, 0.1, False, NOW)
            with capture_logs() as captured:
                assert not store.flush()
                assert store.health() == "degraded"
                client.config_set("maxmemory", "0")
                _flush(store)
                events = [line["event"] for line in captured.events]
            assert events == ["store_degraded", "store_recovered"]
            assert store.snapshot(NOW).endpoints["/m"].count == 1
        finally:
            client.config_set("maxmemory", "0")
            store.close()

    def test_overflow_beyond_the_buffer_is_counted(self, own_redis: RedisServer) -> None:
        """Past buffer_max updates are counted locally and in overflowed, not shipped."""
        store = RedisStore(own_redis.url, service="b", buffer_max=3, flush_interval=60.0)
        try:
            own_redis.stop()
            for _ in range(5):
                store.record("/b", 200, 0.1, False, NOW)
            own_redis.start()
            with capture_logs():
                _flush(store)
            assert store.overflowed == 2
            assert store.local_snapshot(NOW).endpoints["/b"].count == 5
            assert store.snapshot(NOW).endpoints["/b"].count == 3
        finally:
            store.close()


class TestWiring:
    def test_monitor_picks_redis_when_the_url_is_set(
        self, redis_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BELLWATCH_REDIS_URL makes the process-wide monitor use the shared store."""
        monkeypatch.setenv("BELLWATCH_REDIS_URL", redis_url)
        try:
            assert isinstance(runtime.monitor().store, RedisStore)
        finally:
            runtime.reset()

    def test_a_bad_url_fails_at_construction(self) -> None:
        """A URL that is not a Redis URL raises when the store is built, not later."""
        with pytest.raises(ValueError, match="redis://"):
            RedisStore("http://127.0.0.1:6379")

    def test_missing_extra_names_the_install_command(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the redis package the error says how to install it."""
        monkeypatch.setitem(sys.modules, "redis", None)
        with pytest.raises(ImportError, match=r"bellwatch\[redis\]"):
            RedisStore("redis://127.0.0.1:6379/0")

    def test_monitor_keeps_memory_without_a_url(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a Redis URL the in-process store stays the default."""
        monkeypatch.delenv("BELLWATCH_REDIS_URL", raising=False)
        assert isinstance(Monitor().store, MemoryStore)

    def test_store_package_exports_redis_store_lazily(self) -> None:
        """``bellwatch.store.RedisStore`` works, yet importing the package loads no redis."""
        code = (
            "import sys, bellwatch.store as s; loaded = 'redis' in sys.modules; "
            "from bellwatch.store import RedisStore; "
            "print(loaded, RedisStore.__module__, 'redis' in sys.modules)"
        )
        # Even the class loads no redis: only building a store does (store._redis_client).
        assert run_python(code).split() == ["False", "bellwatch.store.redis", "False"]


def _aggregators(url: str, n: int, **settings: Any) -> tuple[list[ErrorAggregator], list[Any]]:
    lines: list[Any] = []
    settings = {"service": "err", **settings}
    resolved = _settings.resolve({}, redis_url=url, flush_interval=60.0, **settings)
    out = [
        ErrorAggregator(resolved, emit=lambda method, event: lines.append(event)) for _ in range(n)
    ]
    return out, lines


class _Keep:
    """A notifier that keeps what it was sent."""

    name = "test"

    def __init__(self, into: list[Alert]) -> None:
        self.into = into

    def send(self, alert: Alert) -> None:
        self.into.append(alert)


def _boom(i: int) -> ValueError:
    try:
        raise ValueError(f"card {i} declined")
    except ValueError as exc:
        return exc


class TestRedisPatternStore:
    def test_every_nth_line_is_written_once_cluster_wide(self, redis_url: str) -> None:
        """Four aggregators write one aggregated line per 10 occurrences between them."""
        aggs, lines = _aggregators(redis_url, 4, spike_threshold=1_000_000)
        try:
            for i in range(95):
                aggs[i % 4].record(_boom(i))
                if i % 7 == 0:
                    aggs[i % 4].store.flush()  # type: ignore[attr-defined]
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            counts = [e["count"] for e in lines if e["event"] == "aggregated_error"]
            assert sorted(counts) == [10, 20, 30, 40, 50, 60, 70, 80, 90]
        finally:
            for agg in aggs:
                agg.close()

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=60))
    def test_every_nth_holds_for_any_interleaving(
        self, redis_url: str, redis_server: RedisServer, steps: list[tuple[int, bool]]
    ) -> None:
        """Whatever the order of occurrences and flushes, each multiple of 10 is written once."""
        client = redis_server.client()
        client.flushall()
        aggs, lines = _aggregators(redis_url, 3, spike_threshold=1_000_000)
        try:
            for i, (worker, flush) in enumerate(steps):
                aggs[worker].record(_boom(i))
                if flush:
                    aggs[worker].store.flush()  # type: ignore[attr-defined]
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            counts = sorted(e["count"] for e in lines if e["event"] == "aggregated_error")
            assert counts == list(range(10, len(steps) + 1, 10))
            assert aggs[0].stats()["total_error_count"] == len(steps)
        finally:
            for agg in aggs:
                agg.close()

    def test_a_known_fingerprint_is_not_written_in_full_again(self, redis_url: str) -> None:
        """A process meeting an error the cluster already knows writes no first line."""
        aggs, lines = _aggregators(redis_url, 2)
        try:
            aggs[0].record(_boom(1))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            aggs[1].record(_boom(2))
            assert [e["event"] for e in lines] == ["error"]
        finally:
            for agg in aggs:
                agg.close()

    def test_a_pattern_idle_past_its_ttl_is_written_in_full_again(self, redis_url: str) -> None:
        """As in memory: an error back after its TTL has a first line (its traceback) again,
        at its own severity, not the one a spike gave it before."""
        now = [1_000_000.0]
        lines: list[Any] = []
        resolved = _settings.resolve({}, redis_url=redis_url, flush_interval=60.0, service="err",
                                     error_ttl=60.0, spike_threshold=5)  # fmt: skip
        agg = ErrorAggregator(resolved, clock=lambda: now[0], emit=lambda _m, e: lines.append(e))
        try:
            for i in range(8):
                agg.record(_boom(i))
            assert agg.store.flush()  # type: ignore[attr-defined]
            assert [e["sev"] for e in lines if e["event"] == "error_escalated"] == ["high"]
            now[0] += 61.0
            agg.record(_boom(9))
            firsts = [e for e in lines if e["event"] == "error"]
            assert len(firsts) == 2
            assert ("exc" in firsts[1], firsts[1]["sev"]) == (True, "medium")
        finally:
            agg.close()

    def test_stats_are_the_cluster_totals(self, redis_url: str) -> None:
        """/metrics' errors section counts every process's occurrences."""
        aggs, _ = _aggregators(redis_url, 2)
        try:
            for i in range(6):
                aggs[i % 2].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            stats = aggs[0].stats()
            assert stats["total_error_count"] == 6
            assert stats["total_unique_errors"] == 1
            assert stats["top_errors"][0]["count"] == 6
        finally:
            for agg in aggs:
                agg.close()

    def test_a_spike_escalates_once_cluster_wide(self, redis_url: str) -> None:
        """The spike threshold applies to the cluster's count; one process escalates."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=5)
        try:
            for i in range(8):
                aggs[i % 2].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for i in range(4):
                aggs[i % 2].record(_boom(i))
            escalated = [e for e in lines if e["event"] == "error_escalated"]
            assert len(escalated) == 1
            assert escalated[0]["sev"] == "high"
        finally:
            for agg in aggs:
                agg.close()

    def test_a_cluster_escalation_is_said_when_the_decision_arrives(self, redis_url: str) -> None:
        """The escalating process writes the line and fires the alert from its flush, not later."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=5)
        sent: list[Alert] = []
        for agg in aggs:
            agg.alerter.close(0.0)
            agg.alerter = Alerter([_Keep(sent)], interval=0.0)
        try:
            for i in range(8):
                aggs[i % 2].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            (line,) = [e for e in lines if e["event"] == "error_escalated"]  # no new occurrence
            assert (line["sev"], line["count"]) == ("high", 8)
            for agg in aggs:
                assert agg.alerter.flush(5.0)
            assert [(a.severity, a.escalated) for a in sent] == [("high", True)]
        finally:
            for agg in aggs:
                agg.close()

    def test_window_mode_writes_one_summary_per_window(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """In window mode a quiet pattern's summary is written once, by one process."""
        aggs, lines = _aggregators(redis_url, 3, error_mode="window", error_window=3600.0)
        try:
            aggs[0].record(_boom(0))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for i in range(1, 30):
                aggs[i % 3].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            assert [e["event"] for e in lines] == ["error"]  # the first line opened the window
            client = redis_server.client()
            for key in client.zrange("bellwatch:err:edue", 0, -1):
                client.zadd("bellwatch:err:edue", {key: 0})  # the window has now elapsed
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            summaries = [e for e in lines if e["event"] == "aggregated_error"]
            assert [e["count"] for e in summaries] == [29]  # since the first line
        finally:
            for agg in aggs:
                agg.close()

    def test_window_mode_folds_the_escalation_into_the_summary(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """In window mode a cluster spike writes no line of its own; the summary says it."""
        aggs, lines = _aggregators(
            redis_url, 2, error_mode="window", error_window=3600.0, spike_threshold=5
        )
        try:
            aggs[0].record(_boom(0))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for i in range(1, 12):
                aggs[i % 2].record(_boom(i))
                if i == 7:
                    _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            assert [e["event"] for e in lines] == ["error"]
            client = redis_server.client()
            for key in client.zrange("bellwatch:err:edue", 0, -1):
                client.zadd("bellwatch:err:edue", {key: 0})  # the window has now elapsed
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            (summary,) = [e for e in lines if e["event"] == "aggregated_error"]
            assert (summary["sev"], summary["escalated"], summary["count"]) == ("high", True, 11)
        finally:
            for agg in aggs:
                agg.close()

    def test_error_keys_are_namespaced_and_expire(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """Every error-pattern key is under bellwatch:<service>: and has a TTL."""
        aggs, _ = _aggregators(redis_url, 1)
        try:
            aggs[0].record(_boom(1))
            _flush(aggs[0].store)  # type: ignore[arg-type]
            client = redis_server.client()
            keys = client.keys("*")
            assert any(key.startswith("bellwatch:err:e:") for key in keys)
            assert all(key.startswith("bellwatch:err:") for key in keys)
            assert all(client.ttl(key) > 0 for key in keys)
        finally:
            aggs[0].close()

    def test_recording_never_raises_while_redis_is_down(self) -> None:
        """With Redis unreachable, errors are still counted locally and lines still written."""
        resolved = _settings.resolve({}, redis_url="redis://127.0.0.1:1/0", flush_interval=60.0)
        lines: list[Any] = []
        agg = ErrorAggregator(resolved, emit=lambda method, event: lines.append(event))
        try:
            for i in range(3):
                agg.record(_boom(i))
            with capture_logs():
                assert not agg.store.flush()  # type: ignore[attr-defined]
            assert agg.stats()["total_error_count"] == 3
            assert [e["event"] for e in lines] == ["error"]
        finally:
            with capture_logs():
                agg.close()


_SEVERITIES = ("low", "medium", "high")


def _by_severity(url: str | None, steps: list[tuple[int, bool]]) -> dict[str, int]:
    """/metrics' by_severity after ``steps`` (pattern, flush after it) through one aggregator.

    Pattern k starts at _SEVERITIES[k]; 5 occurrences within the (day-long) spike window
    escalate it, so a batch of more straddles the escalation.
    """
    options: dict[str, Any] = {"spike_threshold": 5, "spike_window": 86_400.0}
    if url is not None:
        options["redis_url"] = url
    resolved = _settings.resolve({}, service="sev", flush_interval=60.0, **options)
    agg = ErrorAggregator(resolved, emit=lambda method, event: None)
    try:
        for i, (k, flush) in enumerate(steps):
            agg.record(_boom(i), fingerprint=f"fp{k}", severity=_SEVERITIES[k])
            if flush and url is not None:
                assert agg.store.flush()  # type: ignore[attr-defined]
        if url is not None:
            _flush(agg.store)  # type: ignore[arg-type]
        return dict(agg.stats()["by_severity"])
    finally:
        agg.close()


class TestBySeverity:
    def test_a_batch_that_escalates_counts_each_occurrence_at_its_severity(
        self, redis_url: str
    ) -> None:
        """The 5 occurrences before a spike count at medium, the 7 from it on at high."""
        steps = [(1, i == 2) for i in range(12)]  # flushed after 3, then 9 in one batch
        assert _by_severity(redis_url, steps) == {"medium": 5, "high": 7}
        assert _by_severity(None, steps) == {"medium": 5, "high": 7}

    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=40))
    def test_redis_and_memory_count_the_same_by_severity(
        self, redis_url: str, redis_server: RedisServer, steps: list[tuple[int, bool]]
    ) -> None:
        """Whatever the patterns and the flushes, Redis's by_severity is the in-memory one."""
        client = redis_server.client()
        client.flushall()
        assert _by_severity(redis_url, steps) == _by_severity(None, steps)

    def test_the_process_view_counts_each_occurrence_at_the_severity_it_had_here(
        self, own_redis: RedisServer
    ) -> None:
        """With Redis down, by_severity is this process's: occurrences before it learnt of
        the escalation at the old severity, later ones at the new, summing to the total."""
        aggs, _ = _aggregators(own_redis.url, 1, spike_threshold=5, spike_window=86_400.0)
        (agg,) = aggs
        try:
            for i in range(6):
                agg.record(_boom(i))
            _flush(agg.store)  # type: ignore[arg-type]
            assert agg.stats()["by_severity"] == {"medium": 5, "high": 1}  # the cluster's
            own_redis.stop()
            for i in range(2):
                agg.record(_boom(i))
            with capture_logs():
                assert not agg.store.flush()  # type: ignore[attr-defined]
            stats = agg.stats()
            assert stats["by_severity"] == {"medium": 6, "high": 2}
            assert stats["total_error_count"] == 8
        finally:
            with capture_logs():
                agg.close()


def _n(lines: list[Any]) -> int:
    """The counting rule: the sum of n over the lines that carry it."""
    return sum(e.get("n", 0) for e in lines if "hash" in e)


class TestExactCounts:
    @settings(max_examples=25, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
    @given(
        steps=st.lists(st.tuples(st.integers(0, 2), st.booleans()), max_size=60),
        every=st.integers(1, 12),
        mode=st.sampled_from(["every_n", "window"]),
    )
    def test_n_sums_to_the_cluster_total_for_any_interleaving(
        self,
        redis_url: str,
        redis_server: RedisServer,
        steps: list[tuple[int, bool]],
        every: int,
        mode: str,
    ) -> None:
        """Occurrences and flushes in any order, then each process shuts down: sum n = total."""
        redis_server.client().flushall()
        aggs, lines = _aggregators(
            redis_url, 3, spike_threshold=1_000_000, error_every=every, error_mode=mode,
            error_window=0.001,
        )  # fmt: skip
        try:
            for i, (worker, flush) in enumerate(steps):
                aggs[worker].record(_boom(i))
                if flush:
                    aggs[worker].store.flush()  # type: ignore[attr-defined]
            for agg in aggs:
                agg.flush(final=True)
            assert _n(lines) == len(steps)
            assert all(e["n"] > 0 for e in lines if "n" in e)
        finally:
            for agg in aggs:
                agg.close()

    def test_two_first_lines_still_sum_exactly(self, redis_url: str) -> None:
        """Two workers meeting a new error before either flushed each write it in full, n 1."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=1_000_000)
        try:
            for i in range(15):
                aggs[i % 2].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for agg in aggs:
                agg.flush(final=True)
            assert [e["event"] for e in lines].count("error") == 2
            assert _n(lines) == 15
            (tenth,) = [e for e in lines if e.get("count") == 10]
            assert tenth["n"] == 8  # 10 minus the two first lines' claims
        finally:
            for agg in aggs:
                agg.close()

    def test_the_rest_of_a_pattern_is_stated_before_it_is_forgotten(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """Past its TTL a pattern's unclaimed occurrences get a line before Redis forgets it."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=1_000_000)
        try:
            for i in range(14):
                aggs[0].record(_boom(i))
            _flush(aggs[0].store)  # type: ignore[arg-type]
            client = redis_server.client()
            for key in client.zrange("bellwatch:err:errs", 0, -1):
                client.zadd("bellwatch:err:errs", {key: 0})  # idle since 1970: past the TTL
            _flush(aggs[1].store)  # type: ignore[arg-type]
            assert _n(lines) == 14
            assert not client.exists(f"bellwatch:err:e:{lines[0]['hash']}")
        finally:
            for agg in aggs:
                agg.close()

    def test_a_final_round_whose_reply_was_lost_is_recovered(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """Redis stalls past the timeout at shutdown, then applies the round: resending it
        returns the lines it handed out, so none is lost."""
        aggs, lines = _aggregators(redis_url, 1, spike_threshold=1_000_000)
        agg = aggs[0]
        try:
            for i in range(12):
                agg.record(_boom(i))
            _flush(agg.store)  # type: ignore[arg-type]
            for i in range(7):
                agg.record(_boom(i))
            stall = threading.Thread(
                target=lambda: redis_server.client().execute_command("DEBUG", "SLEEP", "0.8")
            )
            stall.start()
            time.sleep(0.2)
            with capture_logs():
                agg.flush(final=True)
            stall.join()
            assert _n(lines) == 19
            assert agg.store.shipper.final_retries > 0  # type: ignore[attr-defined]
        finally:
            with capture_logs():
                agg.close()

    def test_redis_refusing_at_shutdown_states_what_was_never_acknowledged(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """A process Redis refuses at shutdown states its unshipped occurrences itself; what
        Redis had acknowledged is claimed by the next process that stops."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=1_000_000)
        admin = redis_server.client()
        try:
            for i in range(12):
                aggs[0].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for i in range(7):
                aggs[0].record(_boom(i))
            admin.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
            try:
                with capture_logs():
                    aggs[0].flush(final=True)  # refused: states its 7 unshipped itself
            finally:
                admin.execute_command("ACL", "SETUSER", "default", "+@all")
            assert _n(lines) == 10 + 7  # the first line, the 10th, its own 7
            with capture_logs():
                aggs[1].flush(final=True)
            assert _n(lines) == 19  # 11 and 12, acknowledged, claimed by the other process
        finally:
            admin.close()
            with capture_logs():
                for agg in aggs:
                    agg.close()

    def test_a_process_that_goes_on_after_redis_returns_counts_nothing_twice(
        self, redis_url: str, redis_server: RedisServer
    ) -> None:
        """Lines stated locally at a signal are claims: shipped later, they get no line again."""
        aggs, lines = _aggregators(redis_url, 1, spike_threshold=1_000_000)
        agg = aggs[0]
        admin = redis_server.client()
        try:
            agg.record(_boom(0))
            _flush(agg.store)  # type: ignore[arg-type]
            for i in range(6):
                agg.record(_boom(i))
            admin.execute_command("ACL", "SETUSER", "default", "-eval", "-evalsha")
            try:
                with capture_logs():
                    agg.flush(final=True)  # a SIGTERM the process survives
            finally:
                admin.execute_command("ACL", "SETUSER", "default", "+@all")
            for i in range(5):
                agg.record(_boom(i))
            with capture_logs():
                _flush(agg.store)  # type: ignore[arg-type]
                agg.flush(final=True)
            assert _n(lines) == 12
        finally:
            admin.close()
            with capture_logs():
                agg.close()


class TestEscalationSurvivesARedisRestart:
    def test_an_escalation_is_not_decided_again_after_redis_lost_its_data(
        self, own_redis: RedisServer
    ) -> None:
        """Redis restarted empty mid-spike: the restored counts escalate nothing twice,
        the cluster keeps the raised severity, and one escalation alert went out."""
        aggs, lines = _aggregators(own_redis.url, 2, spike_threshold=5)
        sent: list[Alert] = []
        for agg in aggs:
            agg.alerter.close(0.0)
            agg.alerter = Alerter([_Keep(sent)], interval=0.0)  # no cooldown hides a repeat
        try:
            for i in range(10):  # aggs[0]'s batch (the 9th) escalates; aggs[1] learns of it
                aggs[i % 2].record(_boom(i))
                if i >= 7:
                    assert aggs[i % 2].store.flush()  # type: ignore[attr-defined]
            own_redis.restart()
            with capture_logs():
                # Each worker's first round after the loss restores, the next one is live:
                # a spike on the worker that only learnt of the escalation, before the one
                # that decided it has restored anything.
                for agg in (aggs[1], aggs[1], aggs[0]):
                    for i in range(6):
                        agg.record(_boom(i))
                    assert agg.store.flush()  # type: ignore[attr-defined]
                _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for agg in aggs:
                assert agg.alerter.flush(5.0)
            assert [e["sev"] for e in lines if e["event"] == "error_escalated"] == ["high"]
            assert [a.severity for a in sent if a.escalated] == ["high"]
            (top,) = aggs[1].stats()["top_errors"]
            assert (top["count"], top["severity"]) == (28, "high")
        finally:
            for agg in aggs:
                agg.close()


class TestPatternsStayListed:
    def test_a_final_round_keeps_the_cluster_patterns_listed(self, redis_url: str) -> None:
        """After a worker's shutdown claims, every worker still lists the patterns."""
        aggs, _ = _aggregators(redis_url, 2)
        try:
            for i in range(14):
                aggs[i % 2].record(_boom(i))
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            aggs[0].flush(final=True)
            _flush(aggs[1].store)  # type: ignore[arg-type]
            stats = aggs[1].stats()
            assert (stats["total_unique_errors"], stats["total_error_count"]) == (1, 14)
            assert stats["top_errors"][0]["count"] == 14
        finally:
            for agg in aggs:
                agg.close()


class TestAlertsOncePerCluster:
    def test_a_new_error_seen_by_every_worker_pages_once(self, redis_url: str) -> None:
        """Three workers meet the same new critical error: one alert between them."""
        aggs, _ = _aggregators(redis_url, 3)
        sent: list[Alert] = []
        for agg in aggs:
            agg.alerter.close(0.0)
            agg.alerter = Alerter([_Keep(sent)], interval=0.0)
        try:
            for round_ in range(3):
                for i, agg in enumerate(aggs):
                    agg.record(ConnectionRefusedError(f"db {round_}{i} down"), handled=False)
                _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            for agg in aggs:
                assert agg.alerter.flush(5.0)
            assert [(a.severity, a.escalated) for a in sent] == [("critical", False)]
        finally:
            for agg in aggs:
                agg.close()

    def test_a_spiking_validation_error_does_not_page(self, redis_url: str) -> None:
        """A 4xx pattern that escalates says so in the log but sends no alert."""
        aggs, lines = _aggregators(redis_url, 2, spike_threshold=5)
        sent: list[Alert] = []
        for agg in aggs:
            agg.alerter.close(0.0)
            agg.alerter = Alerter([_Keep(sent)], interval=0.0)
        try:
            for i in range(8):
                aggs[i % 2].record(_boom(i), status=422)
            _flush(*(agg.store for agg in aggs))  # type: ignore[misc]
            assert [e["sev"] for e in lines if e["event"] == "error_escalated"] == ["medium"]
            for agg in aggs:
                assert agg.alerter.flush(5.0)
            assert sent == []
        finally:
            for agg in aggs:
                agg.close()


def _paging_aggregator(url: str, sent: list[Alert]) -> ErrorAggregator:
    """An aggregator on ``url`` whose alerts land in ``sent``."""
    (agg,), _ = _aggregators(url, 1)
    agg.alerter.close(0.0)
    agg.alerter = Alerter([_Keep(sent)], interval=0.0)
    return agg


class TestAlertsWhileRedisIsDown:
    def test_a_new_error_pages_from_the_process_while_redis_is_down(self) -> None:
        """Redis unreachable from the start: the first occurrence of a critical error still
        pages (from this process, as without Redis), and so does one met once it is known down."""
        sent: list[Alert] = []
        agg = _paging_aggregator("redis://127.0.0.1:1/0", sent)
        try:
            agg.record(ConnectionRefusedError("db down"), handled=False)
            with capture_logs():
                assert not agg.store.flush()  # type: ignore[attr-defined]
            agg.flush()
            agg.record(TimeoutError("cache down"), handled=False)
            assert agg.alerter.flush(5.0)
            assert [(a.severity, a.escalated) for a in sent] == [
                ("critical", False),
                ("high", False),
            ]
        finally:
            with capture_logs():
                agg.close()

    def test_a_page_sent_while_down_is_not_sent_again_once_redis_is_back(self) -> None:
        """When Redis comes back and the cluster decides on the error, nobody pages twice."""
        from redis_server import RedisServer

        server = RedisServer()
        sent: list[Alert] = []
        agg = _paging_aggregator(server.url, sent)
        try:
            agg.record(ConnectionRefusedError("db down"), handled=False)
            with capture_logs():
                assert not agg.store.flush()  # type: ignore[attr-defined]
                agg.flush()
                server.start()
                _flush(agg.store)  # type: ignore[arg-type]
                agg.flush()
            assert agg.alerter.flush(5.0)
            assert len(sent) == 1
        finally:
            with capture_logs():
                agg.close()
            server.stop()
