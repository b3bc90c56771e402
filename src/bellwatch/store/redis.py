"""The cluster-wide store: every worker's and task's requests counted in one Redis.

A request never waits on Redis. :meth:`RedisStore.record` adds to a delta buffer
under one lock (a few dict updates, no sketch object); a background
:class:`~bellwatch.store._redis_client.Shipper` sends the buffer every
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
- ``ctr`` (hash): business counters; ``proc:<id>``: the last batch applied per process.
"""

from __future__ import annotations

import heapq
import os
import threading
import time
import weakref
from typing import Any

import orjson
from ddsketch.mapping import LogarithmicMapping

from .._config import Settings
from .._guard import record_internal_error
from ._redis_client import Shipper
from .base import BUCKET_SECONDS, OTHER, RELATIVE_ACCURACY, EndpointStats, Snapshot, new_sketch

__all__ = ["RedisStore", "shared_store"]

_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
_ZERO = "z"  # bin of durations too small for the log mapping
_MIN = _MAPPING.min_possible
_KEEP = 7 * 86_400  # since-start keys live a week past the last write
_READ_INTEREST = 60.0  # keep refreshing the cluster copy this long after a read

# ARGV: prefix, proc, seq, mode, payload, keep, bucket ttl, now, session window, max sessions.
_APPLY = """
local p = ARGV[1]
local seqkey = p .. 'proc:' .. ARGV[2]
local seq = tonumber(ARGV[3])
local cur = redis.call('GET', seqkey)
if cur and tonumber(cur) >= seq then return 'dup' end
if ARGV[4] == 'delta' and not cur then return 'reset' end
local d = cjson.decode(ARGV[5])
local keep, bttl, now = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local function rows(key, t)
  if next(t) == nil then return end
  for path, v in pairs(t) do
    for i = 1, 4 do
      if v[i] ~= 0 then redis.call('HINCRBY', key, path .. '\\t' .. i, v[i]) end
    end
    redis.call('HINCRBYFLOAT', key, path .. '\\t5', v[5])
  end
end
local function bins(key, t)
  if next(t) == nil then return end
  for path, b in pairs(t) do
    for bin, n in pairs(b) do redis.call('HINCRBY', key, path .. '\\t' .. bin, n) end
  end
end
rows(p .. 'ep', d.ep)
bins(p .. 'sk', d.sk)
redis.call('SET', p .. 'started', ARGV[8], 'NX')
for _, k in ipairs({'ep', 'sk', 'started'}) do redis.call('EXPIRE', p .. k, keep) end
for bucket, t in pairs(d.b) do
  rows(p .. 'b:' .. bucket, t)
  redis.call('EXPIRE', p .. 'b:' .. bucket, bttl)
end
for bucket, t in pairs(d.s) do
  bins(p .. 's:' .. bucket, t)
  redis.call('EXPIRE', p .. 's:' .. bucket, bttl)
end
local sess = p .. 'sess'
for key, seen in pairs(d.ss) do redis.call('ZADD', sess, 'GT', seen, key) end
if next(d.ss) ~= nil then
  redis.call('ZREMRANGEBYSCORE', sess, '-inf', '(' .. (now - tonumber(ARGV[9])))
  local extra = redis.call('ZCARD', sess) - tonumber(ARGV[10])
  if extra > 0 then redis.call('ZREMRANGEBYRANK', sess, 0, extra - 1) end
  redis.call('EXPIRE', sess, math.ceil(tonumber(ARGV[9])) + 60)
end
for name, v in pairs(d.ct) do redis.call('HINCRBYFLOAT', p .. 'ctr', name, v) end
if next(d.ct) ~= nil then redis.call('EXPIRE', p .. 'ctr', keep) end
redis.call('SET', seqkey, seq, 'EX', keep)
return 'ok'
"""

Row = list[float]  # count, 5xx, 4xx, slow, seconds
Bins = dict[int | str, int]  # log-mapping bin (or "z") -> count


class _Batch:
    """Updates in the wire shape; a delta between flushes or everything acknowledged."""

    __slots__ = ("b", "counters", "ep", "s", "sessions", "sk", "updates")

    def __init__(self) -> None:
        self.ep: dict[str, Row] = {}
        self.sk: dict[str, Bins] = {}
        self.b: dict[int, dict[str, Row]] = {}
        self.s: dict[int, dict[str, Bins]] = {}
        self.sessions: dict[str, float] = {}
        self.counters: dict[str, float] = {}
        self.updates = 0

    def merge(self, other: _Batch) -> None:
        _rows(self.ep, other.ep)
        _bins(self.sk, other.sk)
        for index, rows in other.b.items():
            _rows(self.b.setdefault(index, {}), rows)
        for index, bins in other.s.items():
            _bins(self.s.setdefault(index, {}), bins)
        for key, seen in other.sessions.items():
            self.sessions[key] = max(seen, self.sessions.get(key, 0.0))
        for name, value in other.counters.items():
            self.counters[name] = self.counters.get(name, 0.0) + value
        self.updates += other.updates

    def prune(self, first_bucket: int, session_cutoff: float, max_sessions: int) -> None:
        """Forget buckets before ``first_bucket`` and sessions not seen since the cutoff
        (and the least recently seen beyond ``max_sessions``)."""
        for index in [i for i in self.b if i < first_bucket]:
            del self.b[index]
            self.s.pop(index, None)
        for key in [k for k, seen in self.sessions.items() if seen < session_cutoff]:
            del self.sessions[key]
        if len(self.sessions) > max_sessions:
            newest = heapq.nlargest(max_sessions, self.sessions.items(), key=lambda kv: kv[1])
            self.sessions = dict(newest)

    def add(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        """Count one request (the hot path: dict updates, no allocation once warm)."""
        self.updates += 1
        server = 1 if status >= 500 else 0
        client = 1 if 400 <= status < 500 else 0
        was_slow = 1 if slow else 0
        key = _MAPPING.key(duration) if duration > _MIN else _ZERO
        index = int(now // BUCKET_SECONDS)
        # Written out twice (since start, this bucket): no tuples or loops on the hot path.
        mine = self.ep.get(path)
        if mine is None:
            self.ep[path] = [1, server, client, was_slow, duration]
            self.sk[path] = {key: 1}
        else:
            mine[0] += 1
            mine[1] += server
            mine[2] += client
            mine[3] += was_slow
            mine[4] += duration
            counts = self.sk[path]
            counts[key] = counts.get(key, 0) + 1
        rows = self.b.get(index)
        if rows is None:
            rows = self.b[index] = {}
            self.s[index] = {}
        mine = rows.get(path)
        if mine is None:
            rows[path] = [1, server, client, was_slow, duration]
            self.s[index][path] = {key: 1}
        else:
            mine[0] += 1
            mine[1] += server
            mine[2] += client
            mine[3] += was_slow
            mine[4] += duration
            counts = self.s[index][path]
            counts[key] = counts.get(key, 0) + 1

    def payload(self) -> bytes:
        # Bin keys are ints on the hot path; JSON (and the script) sees them as strings.
        return orjson.dumps(
            {
                "ep": self.ep,
                "sk": self.sk,
                "b": {str(i): rows for i, rows in self.b.items()},
                "s": {str(i): bins for i, bins in self.s.items()},
                "ss": self.sessions,
                "ct": self.counters,
            },
            option=orjson.OPT_NON_STR_KEYS,
        )


def _rows(into: dict[str, Row], other: dict[str, Row]) -> None:
    for path, row in other.items():
        mine = into.get(path)
        if mine is None:
            into[path] = list(row)
        else:
            for i in range(5):
                mine[i] += row[i]


def _bins(into: dict[str, Bins], other: dict[str, Bins]) -> None:
    for path, bins in other.items():
        mine = into.setdefault(path, {})
        for key, n in bins.items():
            mine[key] = mine.get(key, 0) + n


def _stats(row: dict[int, float], bins: dict[str, int]) -> EndpointStats:
    out = EndpointStats()
    out.count = int(row.get(1, 0))
    out.errors = int(row.get(2, 0))
    out.client_errors = int(row.get(3, 0))
    out.slow = int(row.get(4, 0))
    out.total = float(row.get(5, 0.0))
    sketch = new_sketch()
    for key, n in bins.items():
        if n > 0:
            sketch.add(0.0 if key == _ZERO else _MAPPING.value(int(key)), n)
    out.sketch = sketch
    return out


def _stats_of(rows: dict[str, Row], bins: dict[str, Bins]) -> dict[str, EndpointStats]:
    """Per-path stats from rows and bins in the wire shape (this process's own view)."""
    out: dict[str, EndpointStats] = {}
    for path, row in rows.items():
        stats = EndpointStats()
        stats.count, stats.errors, stats.client_errors, stats.slow = (int(x) for x in row[:4])
        stats.total = float(row[4])
        sketch = new_sketch()
        for key, n in bins.get(path, {}).items():
            sketch.add(0.0 if key == _ZERO else _MAPPING.value(int(key)), n)
        stats.sketch = sketch
        out[path] = stats
    return out


def _endpoints(rows: dict[str, str], bins: dict[str, str]) -> dict[str, EndpointStats]:
    by_path: dict[str, dict[int, float]] = {}
    for field, value in rows.items():
        path, _, i = field.rpartition("\t")
        by_path.setdefault(path, {})[int(i)] = float(value)
    bins_by_path: dict[str, dict[str, int]] = {}
    for field, value in bins.items():
        path, _, key = field.rpartition("\t")
        bins_by_path.setdefault(path, {})[key] = int(value)
    return {path: _stats(row, bins_by_path.get(path, {})) for path, row in by_path.items()}


class RedisStore:
    """A :class:`~bellwatch.store.Store` whose numbers are shared through Redis.

    :meth:`snapshot` returns the cluster's numbers (``source="cluster"``), or this
    process's own (``source="local"``) while there is no current cluster copy: before
    the first round, while Redis is down, and on the first read after a minute
    without reads (the copy is refreshed only while someone reads it).
    :meth:`local_snapshot` always returns this process's own.

    Args:
        url: ``redis://host:port/db`` (setting ``redis_url``).
        service: key namespace, ``bellwatch:<service>:`` (setting ``service``).
        flush_interval: seconds between flushes (setting ``flush_interval``).
        buffer_max: updates buffered while Redis is unreachable; later ones are
            counted locally and in :attr:`overflowed`, not in the cluster totals
            (setting ``buffer_max``).
        window, session_window, max_endpoints, max_sessions: as
            :class:`~bellwatch.store.MemoryStore`.
        timeout: seconds any one Redis call may take (the flusher's, never a request's).
    """

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
        self.prefix = f"bellwatch:{service}:"
        self.buffer_max = buffer_max
        self.session_window = session_window
        self.max_endpoints = max_endpoints
        self.max_sessions = max_sessions
        self._nbuckets = max(1, round(window / BUCKET_SECONDS))
        self._lock = threading.Lock()
        self.shipper = Shipper(
            url,
            interval=flush_interval,
            name="redis",
            take=self._take,
            send=self._send,
            done=self._done,
            after=self._refresh,
            timeout=timeout,
        )
        self._script: Any = None
        self._clear()
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

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
            self._pending = _Batch()  # to ship next
            self._inflight = _Batch()  # shipped, not yet acknowledged
            self._acked = _Batch()  # acknowledged (windows and sessions pruned)
            self._unshipped = _Batch()  # past buffer_max: this process's view only
            self._started = time.time()
            self._paths: set[str] = set()
            self._cluster: Snapshot | None = None
            self._cluster_at = 0.0
            self._read_at = 0.0
            self.overflowed = 0

    # -- the request path: memory only -------------------------------------------------

    def _target(self) -> _Batch:
        """Where an update goes: the shipping buffer, or past its bound the local-only batch."""
        pending = self._pending
        if pending.updates + self._inflight.updates < self.buffer_max:
            return pending
        self.overflowed += 1
        return self._unshipped

    def record(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        with self._lock:
            if path not in self._paths:
                if len(self._paths) >= self.max_endpoints:
                    path = OTHER
                self._paths.add(path)
            self._target().add(path, status, duration, slow, now)
        self.shipper.start()

    def touch_session(self, key: str, now: float) -> None:
        with self._lock:
            target = self._target()
            target.updates += 1
            target.sessions[key] = now

    def incr(self, name: str, amount: float, now: float) -> None:
        with self._lock:
            target = self._target()
            target.updates += 1
            target.counters[name] = target.counters.get(name, 0.0) + amount
        self.shipper.start()

    # -- reads: a copy refreshed in the background ----------------------------------------

    def snapshot(self, now: float) -> Snapshot:
        """The cluster's numbers as of the last round; this process's when that is not current."""
        self._read_at = time.time()
        cluster = self._cluster
        if cluster is None or self.shipper.degraded or self._stale():
            # No current cluster copy (first read, Redis down, or nobody read for a while):
            # this process's own numbers, labelled "local"; the flusher refreshes now.
            self.shipper.start()
            self.shipper.wake()
            return self.local_snapshot(now)
        return cluster

    def _stale(self) -> bool:
        return time.time() - self._cluster_at > max(3 * self.shipper.interval, 5.0)

    def local_snapshot(self, now: float) -> Snapshot:
        """This process's own numbers (``/metrics`` shows them under ``process``).

        Built from what Redis acknowledged, what is in flight, what is buffered and
        what overflowed the buffer: the request path keeps one copy of each number.
        """
        mine = _Batch()
        with self._lock:
            for part in (self._acked, self._inflight, self._pending, self._unshipped):
                mine.merge(part)
        first = int(now // BUCKET_SECONDS) - self._nbuckets + 1
        window: dict[str, EndpointStats] = {}
        for index, rows in mine.b.items():
            if index < first:
                continue
            for path, stats in _stats_of(rows, mine.s.get(index, {})).items():
                have = window.get(path)
                if have is None:
                    window[path] = stats
                else:
                    have.merge(stats)
        cutoff = now - self.session_window
        return Snapshot(
            endpoints=_stats_of(mine.ep, mine.sk),
            window=window,
            window_seconds=self._nbuckets * BUCKET_SECONDS,
            active_sessions=sum(1 for seen in mine.sessions.values() if seen >= cutoff),
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

    def _take(self) -> tuple[_Batch, int]:
        with self._lock:
            batch, self._pending = self._pending, _Batch()
            self._inflight = batch
        return batch, batch.updates

    def _done(self, batch: _Batch) -> None:
        now = time.time()
        with self._lock:
            self._acked.merge(batch)
            self._inflight = _Batch()
            first, cutoff = int(now // BUCKET_SECONDS) - self._nbuckets, now - self.session_window
            for part in (self._acked, self._unshipped):
                part.prune(first, cutoff, self.max_sessions)

    def _send(self, client: Any, proc: str, seq: int, mode: str, batch: _Batch) -> str:
        if mode == "full":
            full = _Batch()
            with self._lock:
                full.merge(self._acked)
            full.merge(batch)
            batch = full
        if self._script is None:
            self._script = client.register_script(_APPLY)
        now = time.time()
        reply = self._script(
            args=[
                self.prefix, proc, seq, mode, batch.payload(), _KEEP,
                int(self._nbuckets * BUCKET_SECONDS + 2 * BUCKET_SECONDS), now,
                self.session_window, self.max_sessions,
            ]
        )  # fmt: skip
        return str(reply)

    def _refresh(self, client: Any) -> None:
        now = time.time()
        if self._cluster is not None and now - self._read_at > _READ_INTEREST:
            return
        self._cluster = self.read(client, now)
        self._cluster_at = now

    def read(self, client: Any, now: float) -> Snapshot:
        """The cluster's numbers straight from Redis (one pipelined round trip)."""
        p = self.prefix
        first = int(now // BUCKET_SECONDS) - self._nbuckets + 1
        pipe = client.pipeline(transaction=False)
        pipe.hgetall(p + "ep")
        pipe.hgetall(p + "sk")
        pipe.zcount(p + "sess", now - self.session_window, "+inf")
        pipe.hgetall(p + "ctr")
        pipe.get(p + "started")
        for index in range(first, first + self._nbuckets):
            pipe.hgetall(f"{p}b:{index}")
            pipe.hgetall(f"{p}s:{index}")
        replies = pipe.execute()
        ep, sk, sessions, counters, started = replies[:5]
        window: dict[str, EndpointStats] = {}
        rest = replies[5:]
        for i in range(0, len(rest), 2):
            for path, stats in _endpoints(rest[i], rest[i + 1]).items():
                mine = window.get(path)
                if mine is None:
                    window[path] = stats
                else:
                    mine.merge(stats)
        return Snapshot(
            endpoints=_endpoints(ep, sk),
            window=window,
            window_seconds=self._nbuckets * BUCKET_SECONDS,
            active_sessions=int(sessions),
            counters={name: float(v) for name, v in counters.items()},
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
            keys = list(client.scan_iter(match=self.prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except Exception as exc:
            record_internal_error(exc)

    def close(self) -> None:
        """Stop the flusher after one last flush (bounded by the Redis timeout)."""
        self.shipper.close()


def _after_fork(ref: weakref.ReferenceType[RedisStore]) -> None:
    store = ref()
    if store is not None:
        # The child counts its own requests from zero, under its own process id.
        store._lock = threading.Lock()
        store._clear()
        store.shipper.forked()
        store._script = None


def shared_store(settings: Settings) -> RedisStore:
    """The store :class:`~bellwatch.monitor.Monitor` picks when ``redis_url`` is set.

    Also registers a ``store`` check on ``/health`` that reports ``degraded`` while
    Redis is unreachable but never fails: requests are still served and counted.
    """
    store = RedisStore.from_settings(settings)
    from ..endpoints import register_check  # endpoints imports the monitor, which imports us

    register_check("store", store.health)
    return store
