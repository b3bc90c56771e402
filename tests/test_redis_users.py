"""The cluster's distinct users in Redis HyperLogLogs: shipped with the store's rounds."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
import redis

from bellwatch.monitor.users import UserTracker
from bellwatch.store.redis import RedisStore
from bellwatch.store.redis_users import RedisUsers

if TYPE_CHECKING:
    from redis_server import RedisServer

pytest_plugins = ["redis_server"]
pytestmark = pytest.mark.redis


def _tracker(url: str, service: str = "hll", **kw: Any) -> tuple[UserTracker, RedisStore]:
    store = RedisStore(url, service=service, flush_interval=60.0)
    shared = RedisUsers(store, **kw)
    return UserTracker(shared=shared), store


def _requests(users: list[str], at: float | None = None) -> list[tuple[Any, ...]]:
    now = time.time() if at is None else at
    return [(u, None, now, "/r", False, False) for u in users]


@pytest.fixture
def two(redis_url: str) -> Iterator[tuple[tuple[UserTracker, RedisStore], ...]]:
    """Two processes' trackers (each with its own store) sharing one Redis."""
    pair = (_tracker(redis_url), _tracker(redis_url))
    yield pair
    pair[0][1].reset()
    for _, store in pair:
        store.close()


REDIS_ERROR = 0.0081  # Redis's documented standard error for its HyperLogLog


def close(estimate: int, exact: int) -> bool:
    """Within three standard errors (at least 1): Redis's estimate of ``exact``."""
    return abs(estimate - exact) <= max(1, math.ceil(3 * REDIS_ERROR * exact))


def _cluster(tracker: UserTracker) -> dict[str, Any]:
    assert tracker.shared is not None
    cluster = tracker.shared.cluster()
    assert cluster is not None
    return cluster


class TestClusterCounts:
    def test_workers_add_up_to_the_union(
        self, two: tuple[tuple[UserTracker, RedisStore], ...]
    ) -> None:
        """Two processes with overlapping users: the cluster counts each user once."""
        (a, store_a), (b, store_b) = two
        a.seen(_requests([f"u{i}" for i in range(0, 60)]))
        b.seen(_requests([f"u{i}" for i in range(40, 100)]))
        assert store_a.flush() and store_b.flush()
        assert store_a.flush()  # a reads after b shipped
        cluster = _cluster(a)
        assert all(close(n, 100) for n in cluster["active"].values())
        assert a.section()["active"]["5m"] == 60  # its own users only

    def test_returning_users_from_the_day_before(
        self, two: tuple[tuple[UserTracker, RedisStore], ...]
    ) -> None:
        """Users of 30 hours ago who come back are returning; the rest are new."""
        (a, store_a), (b, store_b) = two
        a.seen(_requests([f"old{i}" for i in range(30)], at=time.time() - 30 * 3600))
        b.seen(_requests([f"old{i}" for i in range(10)] + [f"new{i}" for i in range(5)]))
        assert store_a.flush() and store_b.flush() and store_a.flush()
        cluster = _cluster(a)
        assert close(cluster["active"]["24h"], 15)
        assert close(cluster["new_24h"], 5) and close(cluster["returning_24h"], 10)

    def test_users_per_error_and_per_slow_route(
        self, two: tuple[tuple[UserTracker, RedisStore], ...], redis_url: str
    ) -> None:
        """Fingerprints in the cluster's top (etop) and slow routes get their users."""
        (a, store_a), (b, store_b) = two
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        client.zadd("bellwatch:hll:etop", {"abcd1234": 9})
        for i in range(6):
            (a if i % 2 else b).error_user("abcd1234", f"u{i}")
        now = time.time()
        a.seen([(f"s{i}", None, now, "/slow", False, True) for i in range(4)])
        assert store_a.flush() and store_b.flush() and store_a.flush()
        cluster = _cluster(a)
        assert cluster["errors"] == {"abcd1234": 6}
        assert cluster["slow_routes_1h"] == [{"path": "/slow", "users": 4}]
        client.close()

    def test_every_key_is_under_the_prefix_and_expires(
        self, two: tuple[tuple[UserTracker, RedisStore], ...], redis_url: str
    ) -> None:
        """Minute, hour, fingerprint and route keys live under bellwatch:<service>: and expire."""
        (a, store_a), _ = two
        a.seen([("u1", None, time.time(), "/slow", False, True)])
        a.error_user("abcd1234", "u1")
        assert store_a.flush()
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        keys = set(client.scan_iter(match="bellwatch:hll:u:*"))
        kinds = {key.split(":")[3] for key in keys}
        assert kinds == {"m", "h", "e", "r", "rt"}
        assert all(client.ttl(key) > 0 for key in keys)
        client.close()


class TestDegraded:
    def test_counts_locally_while_redis_is_down_then_ships(self, own_redis: RedisServer) -> None:
        """Redis down: the round fails, the reader gets local numbers, the buffer is bounded;
        Redis back: the buffered users reach the cluster."""
        tracker, store = _tracker(own_redis.url, buffer_max=50)
        try:
            own_redis.stop()
            tracker.seen(_requests([f"u{i}" for i in range(80)]))
            assert not store.flush()
            assert store.shipper.degraded
            assert tracker.shared is not None and tracker.shared.cluster() is None
            assert tracker.section()["active"]["5m"] == 80  # counted here all the same
            assert tracker.shared.overflowed == 30
            own_redis.start()
            assert store.flush()
            assert _cluster(tracker)["active"]["5m"] == 50  # what the buffer held
        finally:
            store.close()
