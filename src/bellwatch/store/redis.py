"""The cluster-wide store: every worker's and task's requests counted in one Redis.

A request never waits on Redis. :meth:`RedisStore.record` adds to a delta buffer
under one lock (a few dict updates, no sketch object); a background
:class:`~bellwatch.store._shipper.Shipper` sends the buffer every
``flush_interval`` as one Lua script call, which applies it atomically and at most
once. Reads (:meth:`RedisStore.snapshot`) come from a copy the same thread refreshes
after each round while someone is reading, so ``/metrics`` never blocks either. This
process's own numbers (``process`` in ``/metrics``) are what it acknowledged, has in
flight, buffered, or could not buffer, added up when read.

Keys, all under ``bellwatch:<service>:`` and all expiring:

- ``ep`` (hash): ``<path>\\t<i>`` = count, 5xx, 4xx, slow, seconds since start;
- ``sk`` (hash): ``<path>\\t<bin>`` = since-start latency sketch bins;
- ``b:<bucket>`` / ``s:<bucket>`` (hashes): the same per 10-second bucket, expiring
  after the rolling window: sketches merge exactly because every process uses the
  same logarithmic mapping, so a bucket's bins simply add up;
- ``sess`` (sorted set): session key -> last seen, trimmed to ``session_window``;
  an ended session is removed (``ZREM``) unless some process saw it after the end;
- ``ctr`` (hash): business counters; ``proc:<id>``: the last batch applied per process;
- ``u:*``: the distinct users (HyperLogLogs) of :mod:`.redis_users`, sent by its
  :attr:`RedisStore.riders` hook in the same rounds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from .._guard import record_internal_error
from .._settings import Settings
from ._redis_batch import APPLY, READ, Batch, endpoints, hash_of, merge_batches, stats_of
from ._redis_client import Script, key_prefix
from ._shipper import Shipper, after_fork, attach_shipper
from .base import BUCKET_SECONDS, OTHER, EndpointStats, Snapshot

__all__ = ["RedisStore"]

_KEEP = 7 * 86_400  # since-start keys live a week past the last write
_READ_INTEREST = 60.0  # keep refreshing the cluster copy this long after a read
_APPLY, _READ = Script(APPLY), Script(READ)


class RedisStore:
    """A :class:`~bellwatch.store.Store` whose numbers are shared through Redis.

    :meth:`snapshot` returns the cluster's numbers (``source="cluster"``) as of the
    last round that read them (while Redis is down: the last ones it had; a read
    after a minute without reads wakes a refresh), or this process's own
    (``source="local"``) before the first round. :meth:`local_snapshot` always
    returns this process's own. Updates past ``buffer_max`` are counted in
    :attr:`overflowed` (``/metrics`` and ``/health``).

    Args:
        url: ``redis://host:port/db`` (setting ``redis_url``).
        service: key namespace, ``bellwatch:<service>:`` (setting ``service``); a name
            holding ``:`` or a glob character raises ``ConfigError`` (it would overlap
            another service's keys).
        flush_interval: seconds between flushes (setting ``flush_interval``).
        buffer_max: updates buffered while Redis is unreachable; later ones are
            counted locally and in :attr:`overflowed`, not in the cluster totals
            (setting ``buffer_max``).
        window, session_window, max_endpoints, max_sessions: as
            :class:`~bellwatch.store.MemoryStore`.
        timeout: seconds any one Redis call may take (the flusher's, never a request's).
    """

    # set by attach_shipper(), which also makes the store fork-safe
    _lock: threading.Lock
    shipper: Shipper

    def __init__(
        self,
        url: str,
        *,
        service: str = "app",
        flush_interval: float = 1.0,
        buffer_max: int = 100_000,
        window: float = 300.0,
        session_window: float = 300.0,
        max_endpoints: int = 500,
        max_sessions: int = 100_000,
        timeout: float = 0.5,
    ) -> None:
        self.prefix = key_prefix(service)
        self.buffer_max = buffer_max
        self.session_window = session_window
        self.max_endpoints = max_endpoints
        self.max_sessions = max_sessions
        self._nbuckets = max(1, round(window / BUCKET_SECONDS))
        # Other cluster numbers sent and read with each round (the users' HyperLogLogs).
        self.riders: list[Callable[[Any], None]] = []
        # What Redis acknowledged has a lock of its own: the request path never takes it,
        # so merging a batch in and pruning (every session of the window) never holds
        # a request up. Taken before _lock, never after it.
        self._acked_lock = threading.Lock()
        attach_shipper(self, url, name="redis", interval=flush_interval, after=self._refresh,
                       timeout=timeout, merge=merge_batches)  # fmt: skip

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> RedisStore:
        """A store for ``settings.redis_url`` with the service, interval and buffer bound."""
        if not settings.redis_url:
            raise ValueError("redis_url: a Redis URL is needed for the shared store")
        return cls(
            settings.redis_url,
            service=settings.service,
            flush_interval=settings.flush_interval,
            buffer_max=settings.buffer_max,
            session_window=settings.session_window,
            **options,
        )

    def _clear(self) -> None:
        with self._lock:
            self._pending = Batch(live=True)  # to ship next
            self._inflight = Batch()  # shipped, not yet acknowledged
            self._acked = Batch()  # acknowledged (windows and sessions pruned)
            self._unshipped = Batch()  # past buffer_max: this process's view only
            self._started = time.time()
            self._paths: set[str] = set()
            self._cluster: Snapshot | None = None
            self._cluster_at = 0.0
            self._read_at = 0.0
            self.overflowed = 0

    # -- the request path: memory only -------------------------------------------------

    def _target(self) -> Batch:
        """Where an update goes: the shipping buffer, or past its bound the local-only batch."""
        pending = self._pending
        if pending.updates + self._inflight.updates < self.buffer_max:
            return pending
        self.overflowed += 1
        return self._unshipped

    def record(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        # As cheap as the in-process store's: one lock (acquire/release: a lock's
        # __exit__ takes the slow call path), one bucket's row and bin in the live
        # batch (its totals are summed when the flusher takes it), no method call to
        # find out that the flusher runs already.
        lock = self._lock
        lock.acquire()
        try:
            if path not in self._paths:
                if len(self._paths) >= self.max_endpoints:
                    path = OTHER
                self._paths.add(path)
            pending = self._pending
            if pending.updates + self._inflight.updates < self.buffer_max:
                pending.count(path, status, duration, slow, now)
            else:
                self.overflowed += 1
                self._unshipped.add(path, status, duration, slow, now)
        finally:
            lock.release()
        if not self.shipper.running:
            self.shipper.start()

    def touch_session(self, key: str, now: float) -> None:
        lock = self._lock
        lock.acquire()
        try:
            target = self._target()
            target.updates += 1
            target.sessions[key] = now
        finally:
            lock.release()

    def end_session(self, key: str, now: float) -> None:
        """End ``key`` cluster-wide: the next flush removes it from the shared set."""
        with self._lock:
            target = self._target()
            target.updates += 1
            target.ended[key] = max(now, target.ended.get(key, 0.0))
        self.shipper.start()

    def incr(self, name: str, amount: float, now: float) -> None:
        with self._lock:
            target = self._target()
            target.updates += 1
            target.counters[name] = target.counters.get(name, 0.0) + amount
        self.shipper.start()

    # -- reads: a copy refreshed in the background ----------------------------------------

    def snapshot(self, now: float) -> Snapshot:
        """The cluster's numbers as of the last round; this process's before there is one.

        A copy that is not current (Redis down, or nobody read for a while) is still
        returned, and the flusher refreshes it now: a reader sees the cluster's
        numbers only grow, never swap to one worker's smaller ones and back.
        """
        self._read_at = time.time()
        cluster = self._cluster
        if cluster is None or self.shipper.degraded or self._stale():
            self.shipper.start()
            self.shipper.wake()
        if cluster is None:  # no cluster copy yet: this process's own, labelled "local"
            return self.local_snapshot(now)
        return cluster

    def _stale(self) -> bool:
        return time.time() - self._cluster_at > max(3 * self.shipper.interval, 5.0)

    def current(self) -> bool:
        """Whether :meth:`snapshot` would answer with the cluster's numbers right now."""
        return self._cluster is not None and not self.shipper.degraded and not self._stale()

    def local_snapshot(self, now: float) -> Snapshot:
        """This process's own numbers (``/metrics`` shows them under ``process``).

        Built from what Redis acknowledged, what is in flight, what is buffered and
        what overflowed the buffer: the request path keeps one copy of each number.
        """
        mine = Batch()
        with self._acked_lock:  # held: no batch moves from in flight to acknowledged meanwhile
            mine.merge(self._acked)
            with self._lock:
                for part in (self._inflight, self._pending, self._unshipped):
                    mine.merge(part)
        first = int(now // BUCKET_SECONDS) - self._nbuckets + 1
        window: dict[str, EndpointStats] = {}
        for index, rows in mine.b.items():
            if index < first:
                continue
            for path, stats in stats_of(rows, mine.s.get(index, {})).items():
                have = window.get(path)
                if have is None:
                    window[path] = stats
                else:
                    have.merge(stats)
        cutoff = now - self.session_window
        return Snapshot(
            endpoints=stats_of(mine.ep, mine.sk),
            window=window,
            window_seconds=self._nbuckets * BUCKET_SECONDS,
            active_sessions=mine.active(cutoff),
            counters=mine.counters,
            started=self._started,
            source="local",
        )

    def health(self) -> str:
        """``"ok"``, or ``"degraded"`` while Redis is unreachable (never fails liveness)."""
        return "degraded" if self.shipper.degraded else "ok"

    def flush(self) -> bool:
        """Ship the buffer and refresh the cluster copy now; whether Redis answered."""
        self._read_at = time.time()
        return self.shipper.flush()

    # -- the flusher's side ------------------------------------------------------------

    def _take(self) -> tuple[Batch, int]:
        with self._lock:
            batch, self._pending = self._pending, Batch(live=True)
            batch.settle()  # its totals, summed once here rather than per request
            self._inflight = batch
        return batch, batch.updates

    def _done(self, batch: Batch) -> None:
        now = time.time()
        first, cutoff = int(now // BUCKET_SECONDS) - self._nbuckets, now - self.session_window
        with self._acked_lock:
            self._acked.merge(batch)
            self._acked.prune(first, cutoff, self.max_sessions)
            with self._lock:  # only the in-flight swap (and the rarely used overflow) hold it
                self._inflight = Batch()
                if self._unshipped.updates:
                    self._unshipped.prune(first, cutoff, self.max_sessions)

    def _send(self, client: Any, proc: str, seq: int, mode: str, batch: Batch) -> str:
        if mode == "full":
            full = Batch()
            with self._acked_lock:
                full.merge(self._acked)
            full.merge(batch)
            batch = full
        now = time.time()
        reply = self.shipper.run(
            client,
            _APPLY,
            [
                self.prefix, proc, seq, mode, batch.payload(), _KEEP,
                int(self._nbuckets * BUCKET_SECONDS + 2 * BUCKET_SECONDS), now,
                self.session_window, self.max_sessions, self.shipper.acked,
            ],
        )  # fmt: skip
        return str(reply)

    def _refresh(self, client: Any) -> None:
        for ride in list(self.riders):
            ride(client)
        now = time.time()
        if self._cluster is not None and now - self._read_at > _READ_INTEREST:
            return
        # On the flusher's own connection (we hold the round): one write, one read.
        self._cluster = self._parse(self.shipper.run(client, _READ, self._read_args(now)), now)
        self._cluster_at = now

    def read(self, client: Any, now: float) -> Snapshot:
        """The cluster's numbers straight from Redis (one script call, one reply)."""
        # Any thread may call this: through the client's pool, not the flusher's connection.
        return self._parse(client.register_script(READ)(args=self._read_args(now)), now)

    def _read_args(self, now: float) -> list[Any]:
        first = int(now // BUCKET_SECONDS) - self._nbuckets + 1
        return [self.prefix, first, self._nbuckets, now - self.session_window]

    def _parse(self, reply: str, now: float) -> Snapshot:
        d = orjson.loads(reply)
        started = d.get("st")
        return Snapshot(
            endpoints=endpoints(hash_of(d["ep"]), hash_of(d["sk"])),
            window=endpoints(hash_of(d["wr"]), hash_of(d["ws"])),
            window_seconds=self._nbuckets * BUCKET_SECONDS,
            active_sessions=int(d["ss"]),
            counters={name: float(v) for name, v in hash_of(d["ct"]).items()},
            started=float(started) if started else now,
            source="cluster",
        )

    def reset(self) -> None:
        """Forget every number here and this service's keys in Redis (tests)."""
        self._clear()
        client = self.shipper._client
        try:
            if client is None:
                from ._redis_client import connect

                client = connect(self.shipper.url, timeout=self.shipper.timeout)
            # The prefix holds no glob character and the service no ':' (key_prefix), so
            # this matches this service's keys only, never those of "<service>:x".
            keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except Exception as exc:
            record_internal_error(exc)

    def close(self) -> None:
        """Stop the flusher after one last flush (bounded by the Redis timeout)."""
        self.shipper.close()

    def after_fork(self) -> None:
        """In a forked child: start from zero under the child's own process id."""
        self._acked_lock = threading.Lock()  # the parent's may have been held at the fork
        after_fork(self)
