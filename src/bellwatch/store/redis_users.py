"""The cluster's distinct users: Redis HyperLogLogs, shipped with the request store's rounds.

The users tracker (:mod:`bellwatch.monitor.users`) buffers, per bucket, the distinct
users it saw (memory only, bounded by ``buffer_max``); each round of the request store's
:class:`~bellwatch.store._shipper.Shipper` then calls :meth:`RedisUsers.round`
with its client (no Redis on the request path, no thread of its own):

- ``PFADD`` into ``u:m:<minute>`` (all workers and tasks add to the same key, so the
  key is their union), then ``PFMERGE`` of that minute into its hour, ``u:h:<hour>``;
- ``PFADD`` into ``u:e:<hash>`` per error fingerprint (expiring ``error_ttl`` after
  its last user, like the pattern) and into ``u:r:<5-minute bucket>:<route>`` per slow
  route (``u:rt``: the slow routes of the last hour, by last time seen);
- reads (while someone reads, as the request store does): ``PFCOUNT`` over the last 5
  and 60 minute keys, the last 24 hour keys, the 24 before them and all 48 (new and
  returning users by inclusion-exclusion), the users of the cluster's top fingerprints
  (``etop``, :mod:`.redis_errors`) and of each slow route.

Every key lives under ``bellwatch:<service>:`` and expires (minutes after an hour,
hours after two days). ``PFADD`` and ``PFMERGE`` are idempotent, so a round that
failed half-way is simply sent again. The degraded-mode rules are the request
store's: while Redis is down the round fails, the buffer keeps up to ``buffer_max``
users (later ones counted in :attr:`RedisUsers.overflowed`, in this process's numbers
only), the reader gets this process's numbers (``source: local``), and the first
round back sends the buffer. A Redis that comes back empty has lost the distinct
users it held (no process keeps them): the counts fill again as users return, the
5-minute one within 5 minutes.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable
from typing import Any

__all__ = ["RedisUsers"]

_READ_INTEREST = 60.0
_TOP_ERRORS = 20  # the cluster's top fingerprints whose users are read
_ROUTE_BUCKET = 300
_ROUTE_BUCKETS = 12


class RedisUsers:
    """The cluster side of the users tracker, riding on a :class:`~.redis.RedisStore`'s rounds.

    Args:
        store: the request store whose shipper carries the rounds (its ``riders``).
        error_ttl: seconds a fingerprint's users are kept after the last one (setting
            ``error_ttl``).
        buffer_max: distinct users buffered while Redis is unreachable (setting
            ``buffer_max``).
    """

    def __init__(self, store: Any, *, error_ttl: float = 3600.0, buffer_max: int = 100_000) -> None:
        self.store = store
        self.prefix: str = store.prefix
        self.error_ttl = max(1, round(error_ttl))
        self.buffer_max = buffer_max
        self._lock = threading.Lock()
        self._clear()
        store.riders.append(self.round)

    def _clear(self) -> None:
        self._users: dict[int, set[str]] = {}  # minute -> users
        self._errors: dict[str, set[str]] = {}  # fingerprint -> users
        self._slow: dict[tuple[int, str], set[str]] = {}  # (5-minute bucket, route) -> users
        self._buffered = 0
        self.overflowed = 0
        self._cluster: dict[str, Any] | None = None
        self._cluster_at = 0.0
        self._read_at = 0.0

    def detach(self) -> None:
        """Stop riding on the store's rounds (the tracker is being replaced)."""
        with contextlib.suppress(ValueError):  # detached already
            self.store.riders.remove(self.round)

    # -- the request path: memory only -------------------------------------------------

    def _room(self, users: set[str], uid: str) -> bool:
        if uid in users:
            return False
        if self._buffered >= self.buffer_max:
            self.overflowed += 1
            return False
        self._buffered += 1
        return True

    def add(self, seen: Iterable[tuple[str, int]], slow: Iterable[tuple[str, str, float]]) -> None:
        """Buffer users by minute, ``(uid, minute)``, and slow requests ``(route, uid, when)``."""
        with self._lock:
            for uid, minute in seen:
                users = self._users.setdefault(minute, set())
                if self._room(users, uid):
                    users.add(uid)
            for route, uid, now in slow:
                users = self._slow.setdefault((int(now // _ROUTE_BUCKET), route), set())
                if self._room(users, uid):
                    users.add(uid)

    def add_error(self, fingerprint: str, uid: str) -> None:
        """Buffer ``uid`` as affected by the error ``fingerprint``."""
        with self._lock:
            users = self._errors.setdefault(fingerprint, set())
            if self._room(users, uid):
                users.add(uid)

    # -- the flusher's side: one call per round of the request store ---------------------

    def round(self, client: Any) -> None:
        """Send the buffer, then read the cluster's numbers if someone reads them.

        Raises what the client raises (Redis down): the round then counts as failed, the
        store's shipper degrades, and what was taken is buffered again.
        """
        self._ship(client)
        now = time.time()
        # Someone read users lately, or the store's own numbers (a scrape's refresh: flush()).
        read_at = max(self._read_at, getattr(self.store, "_read_at", 0.0))
        if self._cluster is not None and now - read_at > _READ_INTEREST:
            return
        self._cluster = self.read(client, now)
        self._cluster_at = now

    def _ship(self, client: Any) -> None:
        with self._lock:
            users, errors, slow = self._users, self._errors, self._slow
            if not (users or errors or slow):
                return
            self._users, self._errors, self._slow = {}, {}, {}
            self._buffered = 0
        p = self.prefix
        now = time.time()
        pipe = client.pipeline(transaction=False)
        for minute, uids in users.items():
            minute_key, hour = f"{p}u:m:{minute}", minute // 60
            hour_key = f"{p}u:h:{hour}"
            pipe.pfadd(minute_key, *uids)
            pipe.pfmerge(hour_key, minute_key)  # the hour is the union of its minutes
            # Expiry last: a minute buffered through a long outage may already be past its own.
            pipe.expireat(minute_key, (minute + 62) * 60)  # an hour after its minute, and a bit
            pipe.expireat(hour_key, (hour + 49) * 3600)  # two days after its hour
        for fingerprint, uids in errors.items():
            key = f"{p}u:e:{fingerprint}"
            pipe.pfadd(key, *uids)
            pipe.expire(key, self.error_ttl)
        for (bucket, route), uids in slow.items():
            key = f"{p}u:r:{bucket}:{route}"
            pipe.pfadd(key, *uids)
            pipe.expireat(key, (bucket + _ROUTE_BUCKETS + 1) * _ROUTE_BUCKET)
            pipe.zadd(f"{p}u:rt", {route: now}, gt=True)
        if slow:
            pipe.zremrangebyscore(f"{p}u:rt", "-inf", f"({now - _ROUTE_BUCKETS * _ROUTE_BUCKET}")
            pipe.expire(f"{p}u:rt", (_ROUTE_BUCKETS + 1) * _ROUTE_BUCKET)
        try:
            pipe.execute()
        except BaseException:
            self._restore(users, errors, slow)
            raise

    def _restore(
        self,
        users: dict[int, set[str]],
        errors: dict[str, set[str]],
        slow: dict[tuple[int, str], set[str]],
    ) -> None:
        """Put a round that failed back in front of what buffered meanwhile (bounded)."""
        with self._lock:
            self._refill(self._users, users)
            self._refill(self._errors, errors)
            self._refill(self._slow, slow)

    def _refill(self, into: dict[Any, set[str]], taken: dict[Any, set[str]]) -> None:
        for key, uids in taken.items():
            mine = into.setdefault(key, set())
            for uid in uids:
                if self._room(mine, uid):
                    mine.add(uid)

    def read(self, client: Any, now: float) -> dict[str, Any]:
        """The cluster's distinct users straight from Redis (two pipelined round trips)."""
        p = self.prefix
        minute = int(now // 60)
        hour = minute // 60
        minutes = [f"{p}u:m:{m}" for m in range(minute - 59, minute + 1)]
        day = [f"{p}u:h:{h}" for h in range(hour - 23, hour + 1)]
        before = [f"{p}u:h:{h}" for h in range(hour - 47, hour - 23)]
        pipe = client.pipeline(transaction=False)
        pipe.pfcount(*minutes[-5:])
        pipe.pfcount(*minutes)
        pipe.pfcount(*day)
        pipe.pfcount(*before)
        pipe.pfcount(*before, *day)
        pipe.zrevrange(f"{p}etop", 0, _TOP_ERRORS - 1)
        pipe.zrangebyscore(f"{p}u:rt", now - _ROUTE_BUCKETS * _ROUTE_BUCKET, "+inf")
        recent, last_hour, users_24h, users_before, either, top, routes = pipe.execute()
        first = int(now // _ROUTE_BUCKET) - _ROUTE_BUCKETS + 1
        pipe = client.pipeline(transaction=False)
        for fingerprint in top:
            pipe.pfcount(f"{p}u:e:{fingerprint}")
        for route in routes:
            pipe.pfcount(*(f"{p}u:r:{b}:{route}" for b in range(first, first + _ROUTE_BUCKETS)))
        counts = pipe.execute() if top or routes else []
        returning = max(0, min(users_24h, users_before, users_24h + users_before - either))
        slow = sorted(zip(routes, counts[len(top) :], strict=True), key=lambda kv: (-kv[1], kv[0]))
        return {
            "active": {"5m": int(recent), "1h": int(last_hour), "24h": int(users_24h)},
            "new_24h": int(users_24h) - returning,
            "returning_24h": returning,
            "slow_routes_1h": [{"path": route, "users": int(n)} for route, n in slow if n][:10],
            "errors": {str(f): int(n) for f, n in zip(top, counts[: len(top)], strict=True) if n},
        }

    # -- reads -------------------------------------------------------------------------

    def current(self) -> bool:
        """Whether the cluster copy is fresh and Redis answering (the request store's rules)."""
        shipper = self.store.shipper
        fresh = time.time() - self._cluster_at <= max(3 * shipper.interval, 5.0)
        return self._cluster is not None and fresh and not shipper.degraded

    def cluster(self) -> dict[str, Any] | None:
        """The cluster's numbers as of the last round, or ``None`` when they are not current
        (then the flusher is woken to fetch them)."""
        self._read_at = time.time()
        if self.current():
            return self._cluster
        shipper = self.store.shipper
        shipper.start()
        shipper.wake()
        return None

    def after_fork(self) -> None:
        """In a forked child: a new lock, nothing buffered, no cluster copy."""
        self._lock = threading.Lock()
        self._clear()
