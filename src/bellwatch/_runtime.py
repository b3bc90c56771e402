"""The one object that owns bellwatch's process-wide state, and ``configure()``.

:func:`configure` resolves the settings once (argument > ``BELLWATCH_*`` > default)
and hands them to every component: the logging pipeline, the request monitor and
its store, the error aggregator and its alerts, EMF and the health checks. Nothing
else reads the environment. Components are built from the settings in force when
first used, and rebuilt when a later ``configure`` changes what they were built
with, so ``instrument(app)`` before or after ``configure()`` ends the same way.

The runtime is the composition root: it imports the log, store, errors and monitor
layers and wires them together (the pipeline's error step, the store's health
check), so none of them imports another one upwards. It owns the one fork hook and
the one exit hook, and :meth:`Runtime.reset` puts everything back (tests).
"""

from __future__ import annotations

import atexit
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import fields
from pathlib import Path
from types import FrameType
from typing import IO, Any

from structlog.typing import Processor

from . import _settings
from ._guard import counters, record_internal_error, suppress_internal_errors
from ._settings import ConfigError, Settings
from .errors.aggregator import ErrorAggregator, ErrorStep
from .log import pipeline, pseudonym, stdlib
from .log.deferred import Deferred
from .log.flusher import Flusher
from .log.logger import get_logger
from .log.pipeline import Pipeline
from .log.sinks import RotatingFile, Sink
from .monitor.business import Ratios
from .monitor.document import metrics_document, prometheus_text
from .monitor.emf import EmfWriter
from .monitor.health import HealthChecks
from .monitor.monitor import Monitor
from .monitor.timeline import Timeline
from .monitor.users import UserTracker
from .store.memory import MemoryStore
from .store.patterns import Policy
from .verdict import verdict

__all__ = [
    "Runtime",
    "configure",
    "end_session",
    "flush",
    "get_aggregator",
    "get_logger",
    "register_check",
    "runtime",
    "stats",
]


def _monitor_key(s: Settings) -> tuple[Any, ...]:
    """The settings a monitor is built with: a change rebuilds it (and its store)."""
    return (s.redis_url, s.service, s.session_window, s.flush_interval, s.buffer_max,
            s.emf, s.emf_namespace)  # fmt: skip


def _users_key(s: Settings) -> tuple[Any, ...]:
    """The settings the users tracker is built with (besides the monitor's store)."""
    return (s.user_analytics, s.error_ttl, s.buffer_max)


def _errors_key(s: Settings) -> tuple[Any, ...]:
    """The settings an aggregator is built with: a change starts a fresh one."""
    return (Policy.from_settings(s), s.alert_webhook, s.alert_sns_topic, s.alert_interval,
            s.alert_low, s.redis_url, s.service, s.env, s.region, s.flush_interval,
            s.buffer_max)  # fmt: skip


WORKER = f"{socket.gethostname()}:{os.getpid()}"
"""This process in ``/metrics``: ``host:pid`` (an ECS task's hostname is its own)."""

_EMPTY_ERRORS: dict[str, Any] = {
    "total_unique_errors": 0,
    "total_error_count": 0,
    "by_severity": {},
    "top_errors": [],
}


class Runtime:
    """Owns the pipeline, the monitor, the aggregator, the stores and the background threads.

    One per process (:data:`runtime`). Every getter builds its component from the
    settings in force on first use; :attr:`generation` changes whenever a component
    is replaced, so holders (the middleware) know to look again.
    """

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

    # -- settings and the pipeline ---------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The settings in force (configuring defaults on first use)."""
        return pipeline.current().settings

    def configure(
        self,
        *,
        stream: IO[Any] | None = None,
        processors: Sequence[Processor] = (),
        **settings: Any,
    ) -> Pipeline:
        """See :func:`configure`."""
        resolved = _settings.resolve(**settings)
        with self._lock:
            self.deferred.drain()  # requests that ended under the previous configuration
            out = (stream if stream is not None else sys.stdout) if resolved.stdout else None
            file = None
            if resolved.log_file:
                path = Path(resolved.log_dir) / f"{resolved.service}.jsonl"
                try:
                    file = RotatingFile(
                        path,
                        resolved.log_max_bytes,
                        resolved.log_backups,
                        resolved.log_flush,
                        flusher=self.flusher,
                        on_full=resolved.log_blocked,
                    )
                except OSError as exc:
                    raise ConfigError(f"log_dir: cannot open {path}: {exc}") from exc
            sink = Sink(out, file, self.deferred, on_full=resolved.log_blocked)
            self.flusher.tick = min(0.2, resolved.log_flush or 0.2)
            new = Pipeline(resolved, sink, processors, errors=ErrorStep(self.aggregator))
            pseudonym.install(new.uid_hasher)  # bind() hashes uid from now on (hash_uid)
            previous = pipeline.install(new)
            if previous is not None:
                previous.close()
            if resolved.capture_stdlib:
                stdlib.install(new)
            else:
                stdlib.uninstall()
            self._follow(resolved)
        self.install_signal_handlers()
        return new

    def _follow(self, s: Settings) -> None:
        """Bring the monitor and aggregator in line with ``s``; build what needs a server now.

        A Redis URL is connected to here, so a bad one fails ``configure`` (loudly, at
        start-up) rather than the first request.
        """
        if self._monitor is not None:
            if self._monitor_built is not None and self._monitor_built != _monitor_key(s):
                self._drop_monitor()
            else:
                self._monitor.slow_threshold = s.slow_threshold
        if self._aggregator is not None and self._errors_built != _errors_key(s):
            self._drop_aggregator()
        if self._users_built is not None and self._users_built != _users_key(s):
            self._drop_users()
        self.generation += 1
        if not (s.redis_url or s.emf):
            return
        try:
            self.monitor()
            if s.redis_url:
                self.aggregator()
        except (ImportError, ValueError) as exc:
            raise ConfigError(f"redis_url: {exc}") from exc

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
                self._monitor_built = _monitor_key(s)
            return self._monitor

    def _build_monitor(self, s: Settings) -> Monitor:
        if s.redis_url:
            from .store.redis import RedisStore  # the redis extra, only with a URL

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
            self._emf = EmfWriter(s.emf_namespace, s.service)
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
                self._users_built = _users_key(s)
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
            from .store.redis_users import RedisUsers

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
                self._errors_built = _errors_key(s)
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
                self._emf = EmfWriter(s.emf_namespace, s.service)
                monitor.add_listener(self._emf)
            return self._emf

    # -- reads -----------------------------------------------------------------------

    def errors_section(self) -> dict[str, Any]:
        """The ``errors`` section of ``/metrics``; empty if the aggregator cannot answer.

        Each top error carries ``users``: the distinct users it affected (the cluster's
        with a current Redis copy, else this process's; ``None``: not counted).
        """
        try:
            stats = self.aggregator().stats()
        except Exception as exc:
            record_internal_error(exc)
            return dict(_EMPTY_ERRORS)
        if not isinstance(stats, dict):
            return dict(_EMPTY_ERRORS)
        with suppress_internal_errors():
            affected = self.error_users([e["hash"] for e in stats.get("top_errors", ())])
            for entry in stats.get("top_errors", ()):
                entry["users"] = None if affected is None else affected.get(entry["hash"], 0)
        return dict(stats)

    def error_users(self, fingerprints: list[str]) -> dict[str, int] | None:
        """Distinct users affected per fingerprint: the cluster's when current, else this
        process's; ``None`` when users are not counted."""
        users = self.users()
        if users is None:
            return None
        cluster = users.shared.cluster() if users.shared is not None else None
        if cluster is not None:
            return dict(cluster["errors"])
        return users.error_users(fingerprints)

    def users_section(self) -> dict[str, Any]:
        """The ``users`` section of ``/metrics``.

        ``source`` is ``cluster`` when a current Redis copy gave the distinct counts
        (``process`` then holds this process's own, with the per-user numbers, which are
        per process), else ``local``. ``error`` is the distinct counts' relative error at
        95% (the sketches' documented bound). Without the ``users`` extra (or with
        ``user_analytics`` off): ``{"counted": false, "reason": ...}``.
        """
        users = self.users()
        if users is None:
            return {"counted": False, "reason": self.users_missing}
        try:
            mine = users.section()
            cluster = users.shared.cluster() if users.shared is not None else None
        except Exception as exc:
            record_internal_error(exc)
            return {"counted": False, "reason": f"failed: {type(exc).__name__}"}
        out: dict[str, Any] = {"counted": True, "error": round(users.error, 4)}
        if cluster is None:
            out |= {"source": "local", **mine}
        else:
            shown = {k: v for k, v in cluster.items() if k != "errors"}
            out |= {"source": "cluster", **mine, **shown}
        if users.shared is not None:
            out["process"] = mine
        return out

    def _shared(self, monitor: Monitor | None) -> list[Any]:
        """The stores whose reads come from a cluster copy (Redis): the monitor's, the errors'."""
        holders = (monitor if monitor is not None else self._monitor, self._aggregator)
        stores = [getattr(holder, "store", None) for holder in holders]
        return [store for store in stores if callable(getattr(store, "current", None))]

    def metrics(self, monitor: Monitor | None = None) -> dict[str, Any]:
        """The ``/metrics`` document of ``monitor`` (the process-wide one by default).

        With a shared store, ``stale`` says whether the cluster's numbers could not be
        had (Redis down, or not yet fetched): ``source`` is then ``local``.
        """
        monitor = monitor if monitor is not None else self.monitor()
        snapshot = monitor.snapshot()
        # A shared store also reports this process's own numbers, shown under "process".
        local_of = getattr(monitor.store, "local_snapshot", None)
        local = local_of(monitor.clock()) if callable(local_of) else None
        shared = self._shared(monitor)
        return metrics_document(
            snapshot,
            self.errors_section(),
            business=self.ratios.section(snapshot.counters),
            local=local,
            health_ok=self.checks.last_ok,
            slow_threshold=monitor.slow_threshold,
            process=self.process_section(),
            stale=not all(store.current() for store in shared) if shared else None,
            websockets=monitor.websockets.section(),
            users=self.users_section(),
        )

    def verdict(self) -> str:
        """The one health word (:mod:`bellwatch.verdict`) for the rolling window, now."""
        monitor = self.monitor()
        recent = monitor.snapshot().totals(windowed=True)
        rate = 100.0 * recent.errors / recent.count if recent.count else 0.0
        p95 = recent.quantile(0.95) if recent.count else None
        return verdict(rate, p95, monitor.slow_threshold, checks_ok=self.checks.last_ok)

    def _shared_stores(self) -> dict[str, Any]:
        """The shared (Redis) stores in use, by what they hold."""
        out = {}
        for name, holder in (("requests", self._monitor), ("errors", self._aggregator)):
            store = getattr(holder, "store", None)
            if store is not None and hasattr(store, "shipper"):
                out[name] = store
        return out

    def refresh(self) -> bool:
        """Ship this process's buffers and read the cluster's numbers again, now.

        For a scrape (``/metrics``): whichever worker answers, its cluster numbers are
        at least as new as those of any earlier answer, so counters never go back.
        Whether every shared store answered; bounded by the Redis timeout; never raises.
        """
        fresh = True
        with suppress_internal_errors():
            self.deferred.drain()  # requests still deferred ship with this round too
        for store in self._shared_stores().values():
            try:
                fresh = bool(store.flush()) and fresh
            except Exception as exc:
                record_internal_error(exc)
                fresh = False
        return fresh

    @property
    def shared(self) -> bool:
        """Whether numbers are shared through a store (Redis) in this process."""
        return bool(self._shared_stores())

    def _store_health(self) -> dict[str, Any]:
        """The ``store`` check: ``degraded`` while Redis is unreachable, never failing;
        ``overflowed``: updates past ``buffer_max`` that no cluster total will hold."""
        stores = self._shared_stores().values()
        degraded = any(store.shipper.degraded for store in stores)
        overflowed = sum(store.overflowed for store in stores)
        return {"state": "degraded" if degraded else "ok", "overflowed": overflowed}

    def process_section(self) -> dict[str, Any]:
        """What ``/metrics`` shows under ``process`` besides the numbers: the worker's id,
        bellwatch's own counters, the shared stores' state, the alert channels' counts."""
        stores = {
            name: {
                "degraded": store.shipper.degraded,
                "overflowed": store.overflowed,
                "resent": store.shipper.resent,
                "unrecoverable": store.shipper.unrecoverable,
            }
            for name, store in self._shared_stores().items()
        }
        agg = self._aggregator
        alerts: dict[str, Any] = {"channels": {}, "limited": 0}
        if agg is not None:
            alerts = {"channels": agg.alerter.channel_counts(), "limited": agg.alerter.limited}
        own = counters.as_dict()
        own.pop("last_error", None)
        return {"worker": WORKER, "bellwatch": own, "stores": stores, "alerts": alerts}

    def prometheus(self, monitor: Monitor | None = None, *, cluster: bool = True) -> str:
        """``/metrics`` as Prometheus text: cluster and process numbers under their scopes.

        ``cluster=False`` (the refresh before it failed) leaves the cluster samples out
        rather than show a copy older than one another worker may have shown.
        """
        monitor = monitor if monitor is not None else self.monitor()
        snapshot = monitor.snapshot()
        local_of = getattr(monitor.store, "local_snapshot", None)
        local = local_of(monitor.clock()) if callable(local_of) else None
        if not cluster and local is not None:
            snapshot, local = local, None
        errors: dict[str, Any] | None = self.errors_section()
        scope = "process"
        shared = self._shared_stores().get("errors")
        if shared is not None:
            # Cluster counts only from a current cluster copy; else no error samples at all.
            copy = getattr(shared, "_cluster", None) if cluster else None
            scope = "cluster"
            if copy is None:
                errors = None  # absent, never a smaller number under the same series
            else:
                patterns, total, by_severity = copy
                errors = {"total_unique_errors": len(patterns), "by_severity": by_severity,
                          "total_error_count": total}  # fmt: skip
        users = self.users_section() if self.users() is not None else None
        if users is not None and not cluster and users.get("source") == "cluster":
            users = {**users, "source": "local", **users["process"]}  # no older cluster copy
        return prometheus_text(snapshot, errors, local=local, worker=WORKER,
                               process=self.process_section(), errors_scope=scope,
                               users=users)  # fmt: skip

    def series(self) -> dict[str, Any] | None:
        """What ``/metrics?series=1`` adds for the dashboard; ``None`` without a timeline."""
        timeline = self._timeline
        if timeline is None:
            return None
        self.deferred.drain()  # requests still deferred count in their buckets
        return timeline.section()

    # -- writing out, shutting down, starting over -------------------------------------

    def flush(self) -> None:
        """Finish deferred requests and write out buffered log file lines now."""
        self.flusher.flush_all()

    def stats(self) -> dict[str, int | str | None]:
        """bellwatch's own health counters, after :meth:`flush` (so the counts are final)."""
        self.flush()
        return counters.as_dict()

    def shutdown(self, *, final: bool = True) -> None:
        """Write out everything this process still holds: deferred requests, EMF, the
        counts no error line has stated yet, queued alerts, the shared store's buffer,
        the log file's buffer. Safe to call more than once, and from any thread.

        Called by the ASGI lifespan shutdown (the middleware), by the SIGTERM/SIGINT
        handler that then hands the signal back (:meth:`install_signal_handlers`), and
        at interpreter exit (``final``: background threads are stopped too). Without
        ``final`` everything keeps working: a process that goes on after a signal
        keeps counting, and writes again at its next shutdown.
        """
        with suppress_internal_errors():
            self.deferred.drain()
        emf, agg, monitor = self._emf, self._aggregator, self._monitor
        if emf is not None:
            with suppress_internal_errors():
                emf.flush()
        if agg is not None:
            with suppress_internal_errors():
                agg.flush(final=True)
                agg.alerter.flush(self._ALERT_WAIT)
        for store in (getattr(monitor, "store", None), getattr(agg, "store", None)):
            ship = getattr(store, "flush", None)
            if callable(ship):
                with suppress_internal_errors():
                    # A shared store: send its buffer now; a slow moment gets two more tries.
                    for _ in range(3):
                        if ship():
                            break
        with suppress_internal_errors():
            self.flush()
            installed = pipeline.installed()
            if installed is not None:  # lines a slow stdout reader still owes: a moment
                installed.sink.drain(self._ALERT_WAIT)
        if final:
            if agg is not None:
                with suppress_internal_errors():
                    agg.close()
            if monitor is not None:
                with suppress_internal_errors():
                    monitor.store.close()
            with suppress_internal_errors():
                self.flush()  # what closing wrote (a last store_recovered line, say)

    _ALERT_WAIT = 2.0  # seconds a shutdown waits for queued alerts to be delivered
    _SIGNAL_WAIT = 5.0  # seconds a signal handler gives the shutdown before passing it on

    def install_signal_handlers(self) -> None:
        """Write everything out on SIGTERM and SIGINT, then hand the signal back.

        The previous handler (a server's, Python's ``KeyboardInterrupt``, or the
        default action) runs afterwards, so the process stops as it would have.
        uvicorn saves this handler, runs its graceful shutdown, restores it and raises
        the signal again: that is when it runs, after the last request. Only from the
        main thread (where Python allows it), once per process.
        """
        if self._signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # not settable here (an embedded interpreter)
                continue
            self._signals[signum] = previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # In a thread: the signal may have interrupted this very thread while it held
        # a lock the shutdown needs; then the join times out and the signal goes on.
        worker = threading.Thread(
            target=self.shutdown, kwargs={"final": False}, name="bellwatch-shutdown", daemon=True
        )
        worker.start()
        worker.join(self._SIGNAL_WAIT)
        previous = self._signals.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)  # the default action: stop, as asked
            signal.raise_signal(signum)

    def reset(self) -> None:
        """Forget the configuration and every number (tests): the next use starts afresh."""
        with self._lock:
            self.deferred.drain()
            self._drop_aggregator()
            if self._monitor is not None:
                self._drop_monitor()
            self._drop_users()
            pseudonym.forget()
            self._monitor = None
            self._timeline = self._emf = None
            self.checks.clear()
            self.ratios.clear()
            previous = pipeline.install(None)
            if previous is not None:
                previous.close()
                stdlib.uninstall()
            self.generation += 1

    def restore(self, previous: Pipeline | None) -> None:
        """Configure again as ``previous`` was configured (``None``: unconfigured).

        For :func:`bellwatch.testing.capture_logs`: the numbers and checks stay, the
        error aggregator starts afresh, as after any change of configuration.
        """
        if previous is not None:
            settings = {f.name: getattr(previous.settings, f.name) for f in fields(Settings)}
            stream = previous.sink.stream
            self.configure(stream=stream, processors=previous.extra, **settings)
            return
        with self._lock:
            self.deferred.drain()
            self._drop_aggregator()
            pseudonym.forget()
            old = pipeline.install(None)
            if old is not None:
                old.close()
                stdlib.uninstall()
            self.generation += 1

    def _before_fork(self) -> None:
        # The child must not write the parent's buffered lines again.
        with suppress_internal_errors():
            self.flush()

    def _after_fork_in_child(self) -> None:
        # Threads do not survive a fork, and locks held at that moment never unlock.
        global WORKER
        WORKER = f"{socket.gethostname()}:{os.getpid()}"
        self.deferred.after_fork()
        self.flusher.after_fork()
        installed = pipeline.installed()
        if installed is not None:
            installed.sink.after_fork()
        self._lock = threading.RLock()
        for holder in (self._monitor, self._aggregator):
            store = getattr(holder, "store", None)
            after_fork = getattr(store, "after_fork", None)
            if callable(after_fork):
                after_fork()
        if self._users is not None:
            self._users.after_fork()


runtime = Runtime()
"""The process's runtime."""

pipeline.set_default(runtime.configure)
atexit.register(runtime.shutdown)
os.register_at_fork(before=runtime._before_fork, after_in_child=runtime._after_fork_in_child)


def configure(
    *,
    stream: IO[Any] | None = None,
    processors: Sequence[Processor] = (),
    **settings: Any,
) -> Pipeline:
    """Configure bellwatch; call once at start-up.

    Every keyword of :class:`bellwatch.Settings` is accepted and wins over its
    ``BELLWATCH_*`` environment variable, e.g. ``service``, ``env`` (``"dev"`` for
    coloured console output at DEBUG), ``level``, ``max_line``, ``log_file`` (also
    write ``<log_dir>/<service>.jsonl``), ``slow_threshold``, ``redis_url``. The
    settings reach every part: the pipeline, the request monitor and its store, the
    error aggregator and its alerts, EMF, the dashboard.

    Args:
        stream: where lines go; standard output by default (what the ECS awslogs
            driver ships). Pass ``stdout=False`` to write only the file.
        processors: extra structlog processors, run after context and before
            redaction.

    Raises:
        ConfigError: a bad value, naming the key (or a Redis URL that cannot be used).
    """
    return runtime.configure(stream=stream, processors=processors, **settings)


def flush() -> None:
    """Write out the log file lines still buffered and finish deferred requests.

    Exit and fork do this already; call it before reading the local log file from
    the process that writes it.
    """
    runtime.flush()


def stats() -> dict[str, int | str | None]:
    """bellwatch's own health counters: lines written, dropped, truncated, internal errors.

    Buffered log file lines are written out first, so the counts are final.
    """
    return runtime.stats()


def get_aggregator() -> ErrorAggregator:
    """The process-wide error aggregator, e.g. ``get_aggregator().set_severity(MyError, "high")``.

    Built from the settings in force; a later :func:`configure` with different error
    settings starts a fresh one.
    """
    return runtime.aggregator()


def end_session(key: str) -> None:
    """End session ``key`` now (a call hung up, a user logged out); never raises into the app.

    The key is what the monitor's session extractor returned, e.g. a Twilio
    ``CallSid`` on the call's status callback. With the Redis store it ends
    cluster-wide at the next flush.
    """
    with suppress_internal_errors():
        runtime.monitor().end_session(str(key))


def register_check(name: str, fn: Callable[[], Any], timeout: float = 2.0) -> None:
    """Add a ``/health`` check: a sync or async callable; it fails by raising, returning
    ``False``, or taking longer than ``timeout`` seconds."""
    runtime.checks.register(name, fn, timeout)
