"""The Shipper under a Redis that comes back with older data, its script calls and
back-off, and overflow made visible.

A real ``redis-server`` writes ``dump.rdb`` on ``SAVE``, takes more batches, and is
restarted from that older file (what a restart with RDB persistence, or a failover
to a replica that lagged, does). Each process notices that Redis holds fewer of its
batches than it acknowledged and resends exactly those, once.
"""

from __future__ import annotations

import io
import socket
import time
from typing import TYPE_CHECKING, Any

import pytest
import redis

import bellwatch
from bellwatch import _settings
from bellwatch._runtime import runtime
from bellwatch.errors.aggregator import ErrorAggregator
from bellwatch.store._redis_client import BACKOFF_MAX, backoff, connect, refused
from bellwatch.store.redis import RedisStore
from bellwatch.testing import capture_logs

if TYPE_CHECKING:
    from redis_server import RedisServer

pytest_plugins = ["redis_server"]
pytestmark = pytest.mark.redis

NOW = time.time()


def _record(store: RedisStore, n: int) -> None:
    for _ in range(n):
        store.record("/ok", 200, 0.01, False, NOW)


def _cluster_count(store: RedisStore) -> int:
    assert store.flush()
    client = store.shipper._client
    return store.read(client, NOW).endpoints["/ok"].count


class TestOlderData:
    def test_each_process_resends_what_the_older_data_lacks(self, rdb_redis: RedisServer) -> None:
        """A before the snapshot, B only after it: both converge exactly, resent once."""
        a = RedisStore(rdb_redis.url, flush_interval=3600)
        b = RedisStore(rdb_redis.url, flush_interval=3600)
        try:
            _record(a, 100)
            assert a.flush()
            rdb_redis.client().save()  # dump.rdb holds A's first 100
            _record(b, 30)
            _record(a, 50)
            assert a.flush() and b.flush()
            assert _cluster_count(a) == 180
            rdb_redis.stop()
            rdb_redis.start()  # back with the older data: 100
            _record(a, 10)
            _record(b, 5)
            with capture_logs() as cap:
                assert a.flush() and b.flush()
                resent = [e for e in cap.events if e["event"] == "store_resent"]
            assert _cluster_count(a) == _cluster_count(b) == 195
            assert _cluster_count(a) == 195  # a later round sends nothing again
            assert (a.shipper.resent, b.shipper.resent) == (50, 0)  # B's key was gone: reset
            assert [e["count"] for e in resent] == [50]
        finally:
            a.close()
            b.close()

    def test_error_counts_come_back_too(self, rdb_redis: RedisServer) -> None:
        """The error store's totals converge the same way, with no summary line for them."""
        settings = _settings.resolve({}, redis_url=rdb_redis.url, service="err",
                                     flush_interval=3600.0, spike_threshold=1_000_000)  # fmt: skip
        lines: list[dict[str, Any]] = []
        agg = ErrorAggregator(settings, emit=lambda method, event: lines.append(event))
        store: Any = agg.store
        try:
            for i in range(25):
                agg.record(ValueError(f"card {i} declined"))
            assert store.flush()
            rdb_redis.client().save()
            for i in range(40):
                agg.record(ValueError(f"card {i} declined"))
            assert store.flush()
            rdb_redis.stop()
            rdb_redis.start()
            agg.record(ValueError("card 1 declined"))
            with capture_logs():
                assert store.flush()
            total = rdb_redis.client().hget("bellwatch:err:etot", "total")
            assert int(total or 0) == 66
            assert store.shipper.resent == 40
            counts = [e["count"] for e in lines if e["event"] == "aggregated_error"]
            assert counts == [10, 20, 30, 40, 50, 60]  # none written twice, none for the resend
        finally:
            agg.close()


class TestScripts:
    def test_a_script_redis_no_longer_has_is_sent_in_full(self, own_redis: RedisServer) -> None:
        """After SCRIPT FLUSH the next round sends the script itself, and counts once."""
        store = RedisStore(own_redis.url, service="sf", flush_interval=60.0)
        try:
            _record(store, 2)
            assert _cluster_count(store) == 2
            own_redis.client().script_flush()
            _record(store, 3)
            assert _cluster_count(store) == 5
        finally:
            store.close()

    def test_a_connection_closed_by_redis_is_opened_again(self, own_redis: RedisServer) -> None:
        """Redis dropping the flusher's connection (CLIENT KILL) costs no failed round."""
        store = RedisStore(own_redis.url, service="ck", flush_interval=60.0)
        try:
            _record(store, 1)
            assert _cluster_count(store) == 1
            own_redis.client().client_kill_filter(_type="normal", skipme=True)
            _record(store, 1)
            assert store.flush()
            assert not store.shipper.degraded
            assert _cluster_count(store) == 2
        finally:
            store.close()


class TestBackoff:
    def test_rounds_keep_the_interval_while_redis_answers(self) -> None:
        """No failed round: the next one comes after the interval."""
        assert backoff(1.0, 0) == 1.0

    def test_rounds_back_off_while_redis_is_down(self) -> None:
        """Each failed round doubles the wait, up to BACKOFF_MAX."""
        waits = [backoff(1.0, failed) for failed in range(1, 8)]
        assert waits == sorted(waits)
        assert waits[0] == 2.0
        assert waits[-1] == BACKOFF_MAX

    def test_a_long_interval_is_never_shortened(self) -> None:
        """An interval above BACKOFF_MAX stays the wait, failed or not."""
        assert backoff(60.0, 3) == 60.0


class TestRefused:
    def test_a_refused_connection_is_told_apart(self) -> None:
        """redis-py's error for a port nobody listens on is a refusal."""
        client = connect("redis://127.0.0.1:1/0")
        try:
            with pytest.raises(redis.ConnectionError) as raised:
                client.ping()
        finally:
            client.close()
        assert refused(raised.value)

    def test_a_stalled_or_reset_connection_is_not_a_refusal(self) -> None:
        """A timeout or a reset may be a failover: no refusal, so the exit tries again."""
        assert not refused(TimeoutError("timed out"))
        try:
            try:
                raise ConnectionResetError(104, "Connection reset by peer")
            except ConnectionResetError as exc:
                raise ConnectionError("Error while reading from socket") from exc
        except ConnectionError as exc:
            assert not refused(exc)


class TestFinalRounds:
    def test_the_exit_does_not_wait_for_a_refusing_redis(self) -> None:
        """A final round Redis refuses is not tried again; its failure is still said."""
        store = RedisStore("redis://127.0.0.1:1/0", flush_interval=3600)
        try:
            _record(store, 3)
            with capture_logs() as cap:
                assert not store.shipper.final_flush(60.0)
            assert store.shipper.final_retries == 0
            assert [e["event"] for e in cap.events] == ["store_degraded"]
        finally:
            with capture_logs():
                store.close()

    def test_a_redis_found_down_a_moment_ago_is_not_tried_again(self) -> None:
        """A Redis that stalls, found down by the last round: the shutdown's round and
        close() connect no more (each would wait out the timeout for the same answer)."""
        with socket.socket() as silent:  # accepts connections, never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(16)
            silent.setblocking(False)
            url = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
            store = RedisStore(url, flush_interval=3600, timeout=0.2)
            store.shipper.answer_stands = 3600.0  # "a moment ago", however slow this machine
            try:
                _record(store, 3)
                with capture_logs():
                    assert not store.flush()
                    tried = _connections(silent)
                    assert not store.shipper.final_flush(60.0)
                    store.close()
                assert tried >= 1
                assert _connections(silent) == 0
                assert store.shipper.final_retries == 0
            finally:
                with capture_logs():
                    store.close()


def _connections(listening: socket.socket) -> int:
    """How many connections were made to ``listening`` since the last call (closed now)."""
    made = 0
    while True:
        try:
            conn, _ = listening.accept()
        except BlockingIOError:
            return made
        conn.close()
        made += 1


class TestOverflow:
    def test_overflow_shows_in_health_and_metrics(self) -> None:
        """Redis down, buffer_max 5, 20 requests: 15 overflowed, in /health and /metrics."""
        bellwatch.configure(stream=io.StringIO(), redis_url="redis://127.0.0.1:1/0",
                            buffer_max=5)  # fmt: skip
        store: Any = runtime.monitor().store
        for _ in range(20):
            store.record("/ok", 200, 0.01, False, NOW)
        assert runtime._store_health()["overflowed"] == 15
        assert runtime.metrics()["process"]["stores"]["requests"]["overflowed"] == 15
        text = runtime.prometheus()
        assert 'bellwatch_store_overflow_total{store="requests",scope="process"' in text
