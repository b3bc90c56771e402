"""The runtime's components: built from the settings in force on first use, rebuilt
when a later ``configure`` changes what they were built with.

:class:`Components` holds the process-wide state (the monitor and its store, the
error aggregator, the users tracker, the dashboard timeline, EMF, the health checks
and business ratios); the readings and the lifecycle build on it.
"""

from __future__ import annotations

import os
import socket
import threading
from typing import Any

from .._guard import suppress_internal_errors
from .._settings import Settings
from ..errors.aggregator import ErrorAggregator
from ..log import pipeline
from ..log.deferred import Deferred
from ..log.flusher import Flusher
from ..monitor.business import Ratios
from ..monitor.emf import EmfWriter
from ..monitor.health import HealthChecks
from ..monitor.monitor import Monitor
from ..monitor.timeline import Timeline
from ..monitor.users import UserTracker
from ..store.memory import MemoryStore
from ..store.patterns import Policy

__all__ = ["Components", "errors_key", "monitor_key", "users_key", "worker_name"]


def worker_name() -> str:
    """This process in ``/metrics``: ``host:pid`` (an ECS task's hostname is its own)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def monitor_key(s: Settings) -> tuple[Any, ...]:
    """The settings a monitor is built with: a change rebuilds it (and its store)."""
    return (s.redis_url, s.service, s.session_window, s.flush_interval, s.buffer_max,
            s.emf, s.emf_namespace)  # fmt: skip


def users_key(s: Settings) -> tuple[Any, ...]:
    """The settings the users tracker is built with (besides the monitor's store)."""
    return (s.user_analytics, s.error_ttl, s.buffer_max)


def errors_key(s: Settings) -> tuple[Any, ...]:
    """The settings an aggregator is built with: a change starts a fresh one."""
    return (Policy.from_settings(s), s.alert_webhook, s.alert_sns_topic, s.alert_interval,
            s.alert_low, s.redis_url, s.service, s.env, s.region, s.flush_interval,
            s.buffer_max)  # fmt: skip


class Components:
    """The process-wide components and the state they share (see :class:`Runtime`)."""

    def __init__(self) -> None:
        self.deferred = Deferred()
        self.flusher = Flusher(self.deferred)
        self.checks = HealthChecks()
        self.ratios = Ratios()
        self.generation = 0
        self._lock = threading.RLock()
        self._monitor: Monitor | None = None
        self._monitor_built: tuple[Any, ...] | None = None
        self._aggregator: ErrorAggregator | None = None
        self._errors_built: tuple[Any, ...] | None = None
        self._timeline: Timeline | None = None
        self._emf: EmfWriter | None = None
        self._users: UserTracker | None = None
        self._users_built: tuple[Any, ...] | None = None  # None: not built (or dropped)
        self.users_missing: str | None = None  # why users are not counted, when they are not
        self._signals: dict[int, Any] = {}  # signal -> the handler it had before ours
        self.worker = worker_name()

    @property
    def settings(self) -> Settings:
        """The settings in force (configuring defaults on first use)."""
        return pipeline.current().settings

    # -- the components ----------------------------------------------------------------

    def monitor(self) -> Monitor:
        """The process-wide monitor, built from the settings in force on first use."""
        monitor = self._monitor
        if monitor is not None:
            return monitor
        with self._lock:
            if self._monitor is None:
                s = self.settings
                self._monitor = self._build_monitor(s)
                self._monitor_built = monitor_key(s)
            return self._monitor

    def _build_monitor(self, s: Settings) -> Monitor:
        if s.redis_url:
            from ..store.redis import RedisStore  # the redis extra, only with a URL

            store: Any = RedisStore.from_settings(s)
            # Degraded, never failing: requests are still served and counted locally.
            self.checks.register("store", self._store_health)
        else:
            store = MemoryStore(session_window=s.session_window)
        monitor = Monitor(store, slow_threshold=s.slow_threshold, settle=self.deferred.drain)
        # The dashboard's charts cover the process from its first request (~1 us each).
        self._timeline = Timeline()
        monitor.add_listener(self._timeline)
        if s.emf:
            self._emf = EmfWriter(s.emf_namespace, s.service, timer=True)
            monitor.add_listener(self._emf)
        return monitor

    def set_monitor(self, monitor: Monitor) -> Monitor:
        """Install ``monitor`` as the process-wide one (e.g. with a store of your own)."""
        with self._lock:
            if monitor is not self._monitor:
                self.deferred.drain()  # into the monitor they were counted for
                self._monitor, self._monitor_built = monitor, None
                self._drop_users()  # its cluster side rode on the old store's rounds
                self._timeline = self._emf = None
                if monitor.settle is not self.deferred.drain:
                    monitor.settle = self.deferred.drain
                self._timeline = Timeline()
                monitor.add_listener(self._timeline)
                self.generation += 1
        return monitor

    def _drop_monitor(self) -> None:
        self.deferred.drain()  # into the store they were counted for, before it closes
        self._drop_users()
        monitor, self._monitor, self._monitor_built = self._monitor, None, None
        emf, self._emf, self._timeline = self._emf, None, None
        if emf is not None:
            emf.flush()
        if monitor is not None:
            self.checks.forget("store")
            with suppress_internal_errors():
                monitor.store.close()
        self.generation += 1

    def users(self) -> UserTracker | None:
        """The process-wide users tracker; ``None`` when users are not counted (the
        ``user_analytics`` setting is off, or the ``users`` extra is missing:
        :attr:`users_missing` says which)."""
        if self._users_built is not None:
            return self._users
        with self._lock:
            if self._users_built is None:
                s = self.settings
                self._users = self._build_users(s)
                self._users_built = users_key(s)
            return self._users

    def _build_users(self, s: Settings) -> UserTracker | None:
        if not s.user_analytics:
            self.users_missing = "off (user_analytics)"
            return None
        store = self.monitor().store
        shared = None
        try:
            tracker = UserTracker(settle=self.deferred.drain)
        except ImportError as exc:
            self.users_missing = str(exc)
            return None
        if hasattr(store, "riders"):  # a Redis store: the distinct counts ride on its rounds
            from ..store.redis_users import RedisUsers

            shared = RedisUsers(store, error_ttl=s.error_ttl, buffer_max=s.buffer_max)
        tracker.shared = shared
        self.users_missing = None
        return tracker

    def _drop_users(self) -> None:
        users, self._users, self._users_built = self._users, None, None
        detach = getattr(getattr(users, "shared", None), "detach", None)
        if callable(detach):
            detach()
        self.generation += 1

    def _error_user(self, fingerprint: str, uid: str) -> None:
        """The aggregator's ``on_user``: an error's user, to the current tracker."""
        users = self.users()
        if users is not None:
            users.error_user(fingerprint, uid)

    def aggregator(self) -> ErrorAggregator:
        """The process-wide error aggregator, built from the settings in force on first use."""
        agg = self._aggregator
        if agg is not None:
            return agg
        with self._lock:
            if self._aggregator is None:
                s = self.settings
                self._aggregator = ErrorAggregator(s)
                self._aggregator.on_user = self._error_user
                self._errors_built = errors_key(s)
            return self._aggregator

    def _drop_aggregator(self) -> None:
        agg, self._aggregator, self._errors_built = self._aggregator, None, None
        if agg is not None:
            with suppress_internal_errors():
                agg.stop()

    def timeline(self, *, create: bool = True) -> Timeline | None:
        """The dashboard's :class:`Timeline` of this process, attached with the monitor."""
        timeline = self._timeline
        if timeline is not None or not create:
            return timeline
        with self._lock:
            monitor = self.monitor()  # building it attaches one
            if self._timeline is None:
                timeline = Timeline()
                monitor.add_listener(timeline)  # requests that ended before: not charted
                self._timeline = timeline
            return self._timeline

    def enable_emf(self) -> EmfWriter:
        """Attach an :class:`EmfWriter` whatever the ``emf`` setting says (idempotent)."""
        with self._lock:
            monitor = self.monitor()
            if self._emf is None:
                s = self.settings
                self._emf = EmfWriter(s.emf_namespace, s.service, timer=True)
                monitor.add_listener(self._emf)
            return self._emf

    def _shared_stores(self) -> dict[str, Any]:
        """The shared (Redis) stores in use, by what they hold."""
        out = {}
        for name, holder in (("requests", self._monitor), ("errors", self._aggregator)):
            store = getattr(holder, "store", None)
            if store is not None and hasattr(store, "shipper"):
                out[name] = store
        return out

    def _store_health(self) -> dict[str, Any]:
        """The ``store`` check: ``degraded`` while Redis is unreachable, never failing;
        ``overflowed``: updates past ``buffer_max`` that no cluster total will hold."""
        stores = self._shared_stores().values()
        degraded = any(store.shipper.degraded for store in stores)
        overflowed = sum(store.overflowed for store in stores)
        return {"state": "degraded" if degraded else "ok", "overflowed": overflowed}
