"""The performance monitor: what the middleware counts and /metrics reads.

The hot path (:meth:`Monitor.observe`) is a few increments and one sketch insert
behind the :class:`~bellwatch.store.Store` interface; percentages, quantiles and
Prometheus text are computed only when read, from a :class:`~bellwatch.store.Snapshot`.

Active sessions are the distinct keys a :data:`SessionKey` extractor returns,
seen within ``session_window``: by default the session or user id the app binds
(``bellwatch.bind(sid=...)``); :func:`form_field` reads Twilio's ``CallSid``
from the webhook's form body, :func:`header` and :func:`cookie` read request
metadata (hashed, so secrets are never kept).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from .. import _settings as _config
from .._guard import suppress_internal_errors
from ..log.deferred import drain as _drain_queued
from ..schema import F
from ..store.base import Snapshot, Store
from ..store.memory import MemoryStore

__all__ = [
    "Monitor",
    "SessionKey",
    "bound_session",
    "cookie",
    "end_session",
    "form_field",
    "get_monitor",
    "header",
    "reset_monitor",
    "set_monitor",
]


class SessionKey:
    """Pulls a session key out of a finished request; ``None`` when there is none.

    Called with the ASGI scope, the fields bound during the request, and the
    request body when ``needs_body`` is true (form posts only, capped in size).
    ``loggable`` keys also go on the request line as ``sid``.
    """

    needs_body = False
    loggable = False

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        raise NotImplementedError


class _Bound(SessionKey):
    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        key = fields.get(F.SESSION_ID) or fields.get(F.USER_ID)
        return None if key is None else str(key)


bound_session: SessionKey = _Bound()
"""The default: the ``sid`` the app bound, else its ``uid``."""


def _digest(raw: bytes) -> str:
    # Secrets (cookies, tokens) are counted by a short hash, never kept or shipped.
    return hashlib.blake2b(raw, digest_size=8).hexdigest()


class _Header(SessionKey):
    def __init__(self, name: str) -> None:
        self.name = name.lower().encode("latin-1")

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == self.name and value:
                return _digest(value)
        return None


class _Cookie(SessionKey):
    def __init__(self, name: str) -> None:
        self.prefix = name.encode("latin-1") + b"="

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        for name, value in scope.get("headers", ()):
            if name != b"cookie":
                continue
            for raw in value.split(b";"):
                part = raw.strip()
                if part.startswith(self.prefix) and len(part) > len(self.prefix):
                    return _digest(part[len(self.prefix) :])
        return None


class _FormField(SessionKey):
    needs_body = True
    loggable = True

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(
        self, scope: Mapping[str, Any], fields: Mapping[str, Any], body: bytes | None
    ) -> str | None:
        if body:
            # No field limit: the body is already capped, and a limit that raises would
            # let a request with many fields go unlogged and uncounted.
            values = parse_qs(body.decode("latin-1")).get(self.name)
            if values and values[0]:
                return values[0][:64]
        return bound_session(scope, fields, body)


def header(name: str) -> SessionKey:
    """Sessions keyed by a request header (hashed), e.g. ``header("x-session-id")``."""
    return _Header(name)


def cookie(name: str) -> SessionKey:
    """Sessions keyed by a cookie's value (hashed), e.g. ``cookie("session")``."""
    return _Cookie(name)


def form_field(name: str = "CallSid") -> SessionKey:
    """Sessions keyed by a urlencoded form field: Twilio's ``CallSid`` by default.

    Falls back to the bound ``sid``/``uid`` for requests without that field.
    """
    return _FormField(name)


class Monitor:
    """Counts requests into a store and reads them back.

    Args:
        store: where numbers live; a :class:`~bellwatch.store.MemoryStore` by default,
            a :class:`~bellwatch.store.redis.RedisStore` when ``redis_url`` is set.
        slow_threshold: seconds above which a request is slow (setting ``slow_threshold``).
        session_window: seconds a session stays active (setting ``session_window``).
        clock: wall-clock source, for tests.
    """

    def __init__(
        self,
        store: Store | None = None,
        *,
        slow_threshold: float | None = None,
        session_window: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        settings = _config.resolve(slow_threshold=slow_threshold, session_window=session_window)
        self.slow_threshold = settings.slow_threshold
        if store is None and settings.redis_url:
            from ..store.redis import shared_store

            store = shared_store(settings)
        self.store: Store = store or MemoryStore(session_window=settings.session_window)
        self.clock = clock
        # Per-minute observers (the EMF writer, the dashboard); called after the store,
        # from whichever thread finishes the request (see bellwatch._batch): thread-safe.
        self.listeners: list[Callable[[str, int, float, bool, float], None]] = []

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

    def add_listener(self, listener: Callable[[str, int, float, bool, float], None]) -> None:
        """Call ``listener(path, status, duration, slow, now)`` for every request from now on.

        Requests that ended before, still queued (see :mod:`bellwatch._batch`), are
        finished first: a listener sees only what ends after it was added.
        """
        _drain_queued()
        self.listeners.append(listener)

    def end_session(self, key: str) -> None:
        """Stop counting session ``key`` as active now (a call hung up, a user logged out).

        Without it a session stays active for ``session_window`` after its last request.
        With the Redis store it ends cluster-wide at the next flush.
        """
        _drain_queued()  # a queued request of this session must not revive it
        self.store.end_session(key, self.clock())

    def incr(self, name: str, amount: float = 1.0) -> None:
        """Add to a business counter (see :mod:`bellwatch.metrics`)."""
        self.store.incr(name, amount, self.clock())

    def snapshot(self) -> Snapshot:
        """Everything counted so far, as of now."""
        _drain_queued()
        return self.store.snapshot(self.clock())

    def reset(self) -> None:
        """Forget every number."""
        _drain_queued()
        self.store.reset()


_monitor: Monitor | None = None
_lock = threading.Lock()


def get_monitor() -> Monitor:
    """The process-wide monitor, created with default settings on first use."""
    global _monitor
    if _monitor is None:
        with _lock:
            if _monitor is None:
                _monitor = Monitor()
    return _monitor


def end_session(key: str) -> None:
    """End session ``key`` in the process-wide monitor; never raises into the app.

    The key is what the monitor's :class:`SessionKey` returned, e.g. a Twilio
    ``CallSid`` on the call's status callback.
    """
    with suppress_internal_errors():
        get_monitor().end_session(str(key))


def set_monitor(monitor: Monitor) -> Monitor:
    """Install ``monitor`` as the process-wide one (e.g. with a shared store)."""
    global _monitor
    _monitor = monitor
    return monitor


def reset_monitor() -> None:
    """Forget the process-wide monitor (for tests): the next use makes a fresh one."""
    global _monitor
    _drain_queued()  # into the store they were counted for, before it closes
    if _monitor is not None:
        _monitor.store.close()
    _monitor = None
