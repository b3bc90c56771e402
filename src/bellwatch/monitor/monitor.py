"""The performance monitor: what the middleware counts and /metrics reads.

The hot path (:meth:`Monitor.observe`) is a few increments and one sketch insert
behind the :class:`~bellwatch.store.Store` interface; percentages, quantiles and
Prometheus text are computed only when read, from a :class:`~bellwatch.store.Snapshot`.
The runtime builds the process-wide monitor from the configured settings
(:func:`bellwatch.configure`); nothing here reads the environment.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..store.base import Request, Snapshot, Store
from ..store.memory import MemoryStore
from .websockets import WebSocketStats

__all__ = ["Listener", "Monitor"]

Listener = Callable[[str, int, float, bool, float], None]


def _nothing() -> None:
    """What :meth:`Monitor.settle` runs without a runtime: nothing is ever deferred."""


class Monitor:
    """Counts requests into a store and reads them back.

    Args:
        store: where numbers live; a :class:`~bellwatch.store.MemoryStore` by default
            (the runtime passes a :class:`~bellwatch.store.redis.RedisStore` when
            ``redis_url`` is set).
        slow_threshold: seconds above which a request is slow (setting ``slow_threshold``).
        session_window: seconds a session stays active in the default store (setting
            ``session_window``).
        clock: wall-clock source, for tests.
        settle: called before every read: finishes requests whose counting was
            deferred (the runtime passes its :class:`~bellwatch.log.deferred.Deferred`'s
            ``drain``), so a read includes every request that ended before it.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        slow_threshold: float = 2.0,
        session_window: float = 300.0,
        clock: Callable[[], float] = time.time,
        settle: Callable[[], None] = _nothing,
    ) -> None:
        self.slow_threshold = slow_threshold
        self.store: Store = store or MemoryStore(session_window=session_window)
        self.clock = clock
        self.settle = settle
        # Per-minute observers (the EMF writer, the dashboard); called after the store,
        # from whichever thread finishes the request (deferred ones too): thread-safe.
        self.listeners: list[Listener] = []
        # WebSocket connections, apart from requests (this process's).
        self.websockets = WebSocketStats()

    def observe(
        self,
        path: str,
        status: int,
        duration: float,
        session: str | None = None,
        now: float | None = None,
    ) -> bool:
        """Count one finished request; returns whether it was slow.

        ``now`` is when it ended, by this monitor's clock (default: now).
        """
        if now is None:
            now = self.clock()
        slow = duration > self.slow_threshold
        self.store.record(path, status, duration, slow, now)
        if session is not None:
            self.store.touch_session(session, now)
        for listener in self.listeners:
            listener(path, status, duration, slow, now)
        return slow

    def observe_many(self, requests: list[Request], sessions: list[tuple[str, float]]) -> None:
        """Count finished requests, oldest first; the caller decided each one's ``slow``.

        A batch of deferred requests (:mod:`bellwatch.log.deferred`): one lock per
        store and per listener instead of one per request, where they offer it
        (``record_many``, ``many``). ``sessions`` are ``(key, ended)`` to mark seen.
        """
        store = self.store
        record_many = getattr(store, "record_many", None)
        if record_many is not None:
            record_many(requests)
        else:
            for request in requests:
                store.record(*request)
        for key, now in sessions:
            store.touch_session(key, now)
        for listener in self.listeners:
            many = getattr(listener, "many", None)
            if many is not None:
                many(requests)
            else:
                for request in requests:
                    listener(*request)

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(path, status, duration, slow, now)`` for every request from now on.

        Requests that ended before, still deferred, are finished first: a listener sees
        only what ends after it was added.
        """
        self.settle()
        self.listeners.append(listener)

    def end_session(self, key: str) -> None:
        """Stop counting session ``key`` as active now (a call hung up, a user logged out).

        Without it a session stays active for ``session_window`` after its last request.
        With the Redis store it ends cluster-wide at the next flush.
        """
        self.settle()  # a deferred request of this session must not revive it
        self.store.end_session(key, self.clock())

    def incr(self, name: str, amount: float = 1.0) -> None:
        """Add to a business counter (see :mod:`bellwatch.metrics`)."""
        self.store.incr(name, amount, self.clock())

    def snapshot(self) -> Snapshot:
        """Everything counted so far, as of now."""
        self.settle()
        return self.store.snapshot(self.clock())

    def reset(self) -> None:
        """Forget every number."""
        self.settle()
        self.store.reset()
        self.websockets.reset()
