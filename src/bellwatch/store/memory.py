"""The default store: this process's numbers, in memory, bounded."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable

from .base import BUCKET_SECONDS, OTHER, EndpointStats, Request, Snapshot, _merge_into

__all__ = ["MemoryStore"]


class MemoryStore:
    """Per-endpoint totals, a rolling window of time buckets, sessions and counters.

    Memory is bounded whatever the traffic: at most ``max_endpoints`` route
    templates (the rest count under ``<other>``), ``window / 10 s`` buckets, and
    ``max_sessions`` session keys (the least recently seen are forgotten first).

    Args:
        window: length of the rolling window in seconds (the "last 5 minutes").
        session_window: a session is active when seen within this many seconds.
    """

    def __init__(
        self,
        *,
        window: float = 300.0,
        session_window: float = 300.0,
        max_endpoints: int = 500,
        max_sessions: int = 100_000,
    ) -> None:
        self.window = window
        self.session_window = session_window
        self.max_endpoints = max_endpoints
        self.max_sessions = max_sessions
        self._nbuckets = max(1, round(window / BUCKET_SECONDS))
        # One lock for all state: record() is a handful of increments, so an
        # uncontended lock (~0.1 us) is cheaper than reasoning about lost updates
        # between the event loop, threadpool routes and a /metrics read.
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            # Each request is added once, to the current time bucket. A bucket that
            # leaves the window is merged into ``_expired``; totals since start are
            # ``_expired`` plus the live buckets, summed only when read.
            self._expired: dict[str, EndpointStats] = {}
            self._paths: set[str] = set()
            self._buckets: deque[tuple[int, dict[str, EndpointStats]]] = deque()
            self._bucket_index = -1
            self._bucket: dict[str, EndpointStats] = {}
            # Insertion order = last-seen order: re-inserting a key moves it to the end.
            self._sessions: dict[str, float] = {}
            self._counters: dict[str, float] = {}
            self._started = time.time()

    def record(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        self.record_many(((path, status, duration, slow, now),))

    def record_many(self, requests: Iterable[Request]) -> None:
        """Count finished requests, oldest first, under one lock (a deferred batch).

        One loop and no call per request but the endpoint's own count: a batch of 64
        runs here warm (see :mod:`bellwatch.log.deferred`).
        """
        with self._lock:
            bucket = self._bucket
            for path, status, duration, slow, now in requests:
                index = int(now // BUCKET_SECONDS)
                if index != self._bucket_index:
                    bucket = self._rotate(index)
                stats = bucket.get(path)
                if stats is None:
                    stats = self._stats_of(path)
                stats.add(status, duration, slow)

    def _stats_of(self, path: str) -> EndpointStats:
        """The current bucket's stats of a route seen first in it (``<other>`` past the cap)."""
        if path not in self._paths:
            if len(self._paths) >= self.max_endpoints:
                path = OTHER
            self._paths.add(path)
        stats = self._bucket.get(path)
        if stats is None:
            stats = self._bucket[path] = EndpointStats()
        return stats

    def _rotate(self, index: int) -> dict[str, EndpointStats]:
        """Make ``index`` the current bucket; returns it."""
        self._bucket_index = index
        self._bucket = {}
        self._buckets.append((index, self._bucket))
        while self._buckets and self._buckets[0][0] <= index - self._nbuckets:
            _, old = self._buckets.popleft()
            _merge_into(self._expired, old)
        return self._bucket

    def touch_session(self, key: str, now: float) -> None:
        with self._lock:
            sessions = self._sessions
            sessions.pop(key, None)
            sessions[key] = now
            if len(sessions) > self.max_sessions:
                del sessions[next(iter(sessions))]

    def end_session(self, key: str, now: float) -> None:
        with self._lock:
            seen = self._sessions.get(key)
            if seen is not None and seen <= now:
                del self._sessions[key]

    def incr(self, name: str, amount: float, now: float) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0.0) + amount

    def _expire_sessions(self, now: float) -> None:
        cutoff = now - self.session_window
        sessions = self._sessions
        while sessions:
            key = next(iter(sessions))
            if sessions[key] >= cutoff:
                break
            del sessions[key]

    def snapshot(self, now: float) -> Snapshot:
        first = int(now // BUCKET_SECONDS) - self._nbuckets + 1
        with self._lock:
            self._expire_sessions(now)
            endpoints: dict[str, EndpointStats] = {}
            window: dict[str, EndpointStats] = {}
            _merge_into(endpoints, self._expired)
            for index, bucket in self._buckets:
                _merge_into(endpoints, bucket)
                if index >= first:
                    _merge_into(window, bucket)
            return Snapshot(
                endpoints=endpoints,
                window=window,
                window_seconds=self._nbuckets * BUCKET_SECONDS,
                active_sessions=len(self._sessions),
                counters=dict(self._counters),
                started=self._started,
                source="local",
            )

    def close(self) -> None:
        """Nothing to release in memory."""
