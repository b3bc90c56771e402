"""This process's requests in fixed time buckets: the dashboard's charts."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from ..log.context import get_cid
from ..schema import F
from ..store.base import EndpointStats, Request

__all__ = ["Timeline"]


class Timeline:
    """This process's requests in fixed time buckets, for the dashboard's charts.

    A :class:`~bellwatch.monitor.Monitor` listener, attached by the runtime when it
    builds the monitor, so the charts cover the process from its first request. Per
    request: a lock, a few increments and one sketch bin (about 1 us, under a tenth
    of what the middleware costs a request). Memory is bounded: ``span / step``
    buckets and the last ``keep_slow`` slow requests.

    Args:
        step: bucket width in seconds.
        span: how far back the series reach, in seconds.
        keep_slow: how many recent slow requests to remember.
    """

    def __init__(self, step: float = 5.0, span: float = 300.0, keep_slow: int = 20) -> None:
        self.step = step
        self.nbuckets = max(1, round(span / step))
        self._buckets: deque[tuple[int, EndpointStats]] = deque()
        self._slow: deque[dict[str, Any]] = deque(maxlen=keep_slow)
        self._lock = threading.Lock()
        self._index = -1  # the newest bucket, kept apart: nearly every request lands in it
        self._stats = EndpointStats()

    def __call__(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        """Count one finished request (the monitor calls this after its store)."""
        self.many(((path, status, duration, slow, now),))

    def many(self, requests: Iterable[Request]) -> None:
        """Count several finished requests, oldest first, under one lock (a deferred batch)."""
        step = self.step
        with self._lock:
            for path, status, duration, slow, now in requests:
                index = int(now // step)
                if index == self._index:
                    self._stats.add(status, duration, slow)
                else:
                    self._roll(index).add(status, duration, slow)
                if slow:
                    self._slow.append(
                        {
                            F.TS: round(now, 3),
                            F.PATH: path,
                            F.STATUS: status,
                            F.DURATION: round(duration, 3),
                            F.CID: get_cid(),
                        }
                    )

    def _roll(self, index: int) -> EndpointStats:
        """The bucket of ``index``, made when missing (under the lock)."""
        buckets = self._buckets
        for i, stats in reversed(buckets):
            if i == index:
                return stats
            if i < index:
                break
        stats = EndpointStats()
        if index > self._index:
            buckets.append((index, stats))
            self._index, self._stats = index, stats
            while buckets[0][0] <= index - self.nbuckets:
                buckets.popleft()
        elif index > self._index - self.nbuckets:
            # Older than the newest: a request finished in a batch across a bucket edge.
            buckets.append((index, stats))
            self._buckets = deque(sorted(buckets, key=lambda b: b[0]))
        return stats  # (older than the span: charted nowhere)

    def section(self, now: float | None = None) -> dict[str, Any]:
        """The ``series`` section: one entry per bucket, oldest first, empty ones as zeros.

        ``start`` is the first bucket's start (epoch seconds); ``p95`` is in seconds;
        ``slow_recent`` lists the latest slow requests, newest first.
        """
        now = time.time() if now is None else now
        last = int(now // self.step)
        first = last - self.nbuckets + 1
        with self._lock:
            by_index = {i: s.copy() for i, s in self._buckets if i >= first}
            slow_recent = list(reversed(self._slow))
        columns: dict[str, list[float]] = {
            "count": [], "errors": [], "client_errors": [], "slow": [], "p95": []
        }  # fmt: skip
        for index in range(first, last + 1):
            stats = by_index.get(index)
            columns["count"].append(stats.count if stats else 0)
            columns["errors"].append(stats.errors if stats else 0)
            columns["client_errors"].append(stats.client_errors if stats else 0)
            columns["slow"].append(stats.slow if stats else 0)
            columns["p95"].append(round(stats.quantile(0.95), 4) if stats else 0.0)
        return {"step": self.step, "start": first * self.step, **columns,
                "slow_recent": slow_recent}  # fmt: skip
