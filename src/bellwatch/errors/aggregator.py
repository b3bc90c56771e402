"""Error aggregation: severity, every-Nth or per-window lines, spike escalation, bounded memory.

Every occurrence is counted exactly (:meth:`ErrorAggregator.stats`); only the lines are
thinned: the first occurrence of a fingerprint in full, then one ``aggregated_error``
every Nth occurrence (``every_n``) or at most once per window (``window``). Counts, the
emit decision and eviction live behind :class:`PatternStore` (:mod:`bellwatch.store.patterns`,
re-exported here) so that a shared store can replace the in-memory one; what each line
says is :mod:`bellwatch.errors._lines`'s. A spike escalates a pattern once: an
``error_escalated`` line in every-Nth mode, ``escalated: true`` on the pattern's next
line in window mode (one line fewer); the alert fires at the escalation either way.

Imports the log pipeline, the patterns' stores (the Redis one lazily, with a URL),
and its siblings (fingerprint, lines, alerts, hand-over), never the runtime.
"""

from __future__ import annotations

import contextvars
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any

import structlog

from .. import _settings
from .._guard import record_internal_error, suppress_internal_errors
from ..log import pipeline
from ..log.context import _ctx
from ..log.redact import scrub_text
from ..log.stdlib import THREAD_LOGGER
from ..schema import F, Sev
from ..store.patterns import Hit, MemoryPatternStore, Pattern, PatternStore, Policy
from ._handover import SERVER_LOGGERS, current_route, mark_reported, reported
from ._lines import escalation, first_line, mark_first_line, summary
from .alerts import Alert, Alerter
from .fingerprint import default_severity, identify

__all__ = [
    "ErrorAggregator",
    "Hit",
    "MemoryPatternStore",
    "Pattern",
    "PatternStore",
    "Policy",
    "default_severity",
]

SeverityHook = Callable[[BaseException, "int | None", bool], "str | None"]
# The severities whose first occurrence alerts; every escalation alerts, except of a
# pattern that began low (unless alert_low).
_FIRST_PAGES = (Sev.HIGH, Sev.CRITICAL)
# What no code of the app handled: asyncio's default exception handler's logger, and
# the one bellwatch writes a thread's uncaught exception under (log.stdlib).
_UNHANDLED_LOGGERS = ("asyncio", THREAD_LOGGER)
_MESSAGE_MAX = 120  # normalised message kept per pattern: bounds memory and line size
Emit = Callable[[str, dict[str, Any]], None]


def _emit_current(method: str, event: dict[str, Any]) -> None:
    pipeline.current().emit(method, event)


class ErrorAggregator:
    """Fingerprints, rates and counts errors; writes the lines; raises alerts.

    :func:`bellwatch.get_aggregator` returns the process-wide one, which the runtime
    builds from the configured settings. ``clock`` and ``emit``
    exist for tests and benchmarks (simulated time, counting lines).
    """

    _SWEEP_EVERY = 1.0  # seconds between TTL/window sweeps on the record path

    def __init__(
        self,
        settings: _settings.Settings | None = None,
        *,
        store: PatternStore | None = None,
        alerter: Alerter | None = None,
        clock: Callable[[], float] = time.time,
        emit: Emit | None = None,
    ) -> None:
        self.settings = settings if settings is not None else _settings.Settings()
        self.policy = Policy.from_settings(self.settings)
        # Whether patterns that began low (validation errors, 4xx) page when they spike.
        self.page_low = self.settings.alert_low
        if store is None and self.settings.redis_url:
            # Only with a Redis URL: the shared store and its Lua stay unloaded otherwise.
            from ..store.redis_errors import shared_pattern_store

            store = shared_pattern_store(self.settings, self.policy, self.flush, _FIRST_PAGES)
        self.store: PatternStore = store if store is not None else MemoryPatternStore(self.policy)
        self.alerter = alerter if alerter is not None else Alerter.from_settings(self.settings)
        self.severity_hook: SeverityHook | None = None
        # Who an error hurts: called with (fingerprint, uid) for each occurrence that has a
        # bound uid. The runtime points it at the users tracker (this layer never imports it).
        self.on_user: Callable[[str, str], None] | None = None
        self._by_class: dict[type[BaseException], str] = {}
        self._clock = clock
        self._emit = emit if emit is not None else _emit_current
        self._next_sweep = 0.0
        self._stop = threading.Event()
        if self.policy.mode == "window" and clock is time.time and store is None:
            # A burst that stops still gets its summary when the window ends, even if no
            # other error arrives to trigger the sweep on the record path.
            every = max(0.5, min(self.policy.window / 4, 5.0))
            threading.Thread(
                target=_flush_loop,
                args=(weakref.ref(self), self._stop, every),
                name="bellwatch-errors",
                daemon=True,
            ).start()

    def set_severity(self, exc_type: type[BaseException], severity: str) -> None:
        """Give every error of ``exc_type`` (and its subclasses) this severity.

        Raises:
            ValueError: ``severity`` is not one of ``Sev.ORDER``.
        """
        if severity not in Sev.ORDER:
            raise ValueError(f"severity: expected one of {', '.join(Sev.ORDER)}, got {severity!r}")
        self._by_class[exc_type] = severity

    def severity_of(
        self, exc: BaseException, status: int | None, handled: bool, given: str | None = None
    ) -> str:
        """Per call, then by class, then the hook, then :func:`default_severity`."""
        if isinstance(given, str) and given.lower() in Sev.ORDER:
            return given.lower()
        if self._by_class:
            for cls in type(exc).__mro__:
                if cls in self._by_class:
                    return self._by_class[cls]
        if self.severity_hook is not None:
            chosen = self.severity_hook(exc, status, handled)
            if chosen in Sev.ORDER:
                return str(chosen)
        return default_severity(exc, status, handled)

    def record(
        self,
        exc: BaseException,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        handled: bool = True,
        severity: str | None = None,
        fingerprint: str | None = None,
    ) -> None:
        """Count ``exc`` and write its line if one is due; never raises.

        An exception already counted through a logger call (``log.exception`` then
        re-raise) is not counted twice. Without ``endpoint``, the route of the request
        being handled (if any) is the pattern's. A ``BaseException`` that is not an
        ``Exception`` (a cancellation, ``KeyboardInterrupt``, ``SystemExit``) is no app
        error: it is not counted.
        """
        if not isinstance(exc, Exception):
            return
        with suppress_internal_errors():
            if reported(exc) is not None:
                return
            if endpoint is None:
                endpoint = current_route()
            hit = self._observe(
                exc,
                endpoint=endpoint,
                status=status,
                handled=handled,
                severity=severity,
                forced=fingerprint,
            )
            mark_reported(exc, hit)
            if hit.kind == "first":
                self._emit("error", first_line(exc, hit, endpoint, status, handled))
            elif hit.kind == "aggregated":
                self._say("error", self._summary(hit))

    def on_log(self, method: str, event: dict[str, Any], exc: BaseException) -> dict[str, Any]:
        """The pipeline step's work for a logger call carrying an exception.

        A cancellation or an exit logged by the app (``log.exception`` inside ``except
        CancelledError``) is the app's own line, uncounted, as :meth:`record` has it.
        """
        if not isinstance(exc, Exception):
            return event
        severity = event.pop("severity", None)
        forced = event.pop("fingerprint", None)
        path = event.get(F.PATH)
        status = event.get(F.STATUS)
        prior = reported(exc)
        if prior is not None:  # the same exception object logged again: one occurrence
            if prior[1] == "none" or event.get(F.LOGGER) in SERVER_LOGGERS:
                raise structlog.DropEvent  # (a server's copy of what was reported already)
            event[F.ERROR_HASH] = prior[0]
            return event
        # A logger call rarely names the route; the request being handled does. The
        # pattern keeps it, so its summaries, /metrics and alerts name it too.
        route = path if isinstance(path, str) else current_route()
        try:
            hit = self._observe(
                exc,
                endpoint=route,
                status=status if isinstance(status, int) else None,
                # What the event loop reports (a task's exception nobody retrieved, a
                # callback that raised) no code of the app handled.
                handled=event.get(F.LOGGER) not in _UNHANDLED_LOGGERS,
                severity=severity if isinstance(severity, str) else None,
                forced=str(forced) if forced is not None else None,
            )
            mark_reported(exc, hit)
        except Exception as err:
            record_internal_error(err)
            return event  # the app's line is still written, unaggregated
        if hit.kind == "first":
            return mark_first_line(event, exc, hit, route)
        if hit.kind == "aggregated":
            # Written apart, as record() writes it: at ERROR whatever level the app's call
            # had (a log.warning(..., exc_info=True) is still an error report), and
            # without cid or bound fields (the summary speaks for many requests).
            self._say("error", self._summary(hit))
        raise structlog.DropEvent

    def _observe(
        self,
        exc: BaseException,
        *,
        endpoint: str | None,
        status: int | None,
        handled: bool,
        severity: str | None,
        forced: str | None,
    ) -> Hit:
        now = self._clock()
        key, message = identify(exc, forced)

        def make() -> Pattern:
            sev = self.severity_of(exc, status, handled, severity)
            # Every reader of a pattern (/metrics, the dashboard, alerts, the lines) shows
            # this text: redacted here, whatever made the message (identify() already did).
            text = scrub_text(message, self.settings)[:_MESSAGE_MAX]
            return Pattern(key, type(exc).__name__, text, sev, endpoint, now, now)

        hit = self.store.hit(key, now, make)
        p = hit.pattern
        self._affected(p.hash)
        if hit.escalated_now:
            self._escalate(p, hit.count, hit.severity)
        elif hit.kind == "first" and hit.alert and hit.severity in _FIRST_PAGES:
            self._alert(p, hit.count, hit.severity, escalated=False)
        if now >= self._next_sweep:
            self._next_sweep = now + self._SWEEP_EVERY
            self._write_due(now)
        return hit

    def _affected(self, key: str) -> None:
        """The occurrence's user, from the uid bound where it was recorded.

        During a request the fingerprint also goes on that request's line (``hash``,
        never an occurrence by the counting rule: no ``n``), so readers of the logs count
        the users each error hurt from the request lines, which carry the ``uid``.
        """
        now = _ctx.get()
        request = now.request
        if request is not None:
            request[F.ERROR_HASH] = key
        on_user = self.on_user
        if on_user is None:
            return
        uid = now.fields.get(F.USER_ID)
        if uid is None and request is not None:
            uid = request.get(F.USER_ID)
        if uid is not None:
            on_user(key, str(uid))

    def _escalate(self, p: Pattern, count: int, severity: str) -> None:
        if self.policy.mode != "window":  # window mode: the pattern's next line says it
            self._say("warning", escalation(self.policy, p, count, severity))
        self._alert(p, count, severity, escalated=True)

    def _alert(self, p: Pattern, count: int, severity: str, *, escalated: bool) -> None:
        """Page, unless the pattern began low (a validation error, a 4xx) and alert_low is off.

        With a shared store this runs in the one process the cluster chose (first
        occurrence and escalation alike), so one incident pages once, not once per
        worker and task.
        """
        if p.origin == Sev.LOW and not self.page_low:
            return
        self.alerter.submit(
            Alert(p.hash, p.type, p.message, severity, count, p.endpoint, escalated,
                  self.settings.service, self.settings.env)
        )  # fmt: skip

    def _summary(self, hit: Hit) -> dict[str, Any]:
        return summary(
            self.policy, hit.pattern, hit.line_count, hit.severity, announce=hit.announce, n=hit.n
        )

    def _write_due(self, now: float) -> None:
        # Escalations a shared store decided in the background: said and alerted now.
        for p in self.store.escalations():
            self._escalate(p, p.count, p.severity)
        # First occurrences the cluster says this process alerts for.
        for p in self.store.alerts():
            self._alert(p, p.count, p.severity, escalated=False)
        # A swept copy's ``unlogged`` is what it has not said: window mode's line count.
        self._state(self.store.sweep(now))

    def _say(self, method: str, event: dict[str, Any]) -> None:
        # A summary speaks for many requests: run it in an empty context so that the
        # correlation id and bound fields of whichever request triggered it stay off.
        contextvars.Context().run(self._emit, method, event)

    def flush(self, *, final: bool = False) -> None:
        """Write the summary lines that are due now (window mode, expired patterns).

        Also the escalations a shared store decided since (a Redis store calls this
        from its flusher as soon as the cluster's answer arrives).

        ``final=True`` (at shutdown) also states every count no line has stated yet:
        this process's, or with a shared store the rest of every fingerprint it knows
        (the cluster hands it over as claims, so no occurrence is stated twice). The
        patterns stay tracked, so a process that goes on after a signal keeps counting
        them exactly.
        """
        with suppress_internal_errors():
            now = self._clock()
            self._write_due(now)
            if final:
                self._state(self.store.unsaid(now))
                self._write_due(now)  # what the final round decided besides

    def _state(self, patterns: list[Pattern]) -> None:
        window = self.policy.mode == "window"
        for p in patterns:
            count = p.unlogged if window else p.count
            self._say(
                "error",
                summary(self.policy, p, count, p.severity, announce=p.announce, n=p.unlogged),
            )

    def stats(self, top: int = 10) -> dict[str, Any]:
        """The ``errors`` section of ``/metrics``: exact counts, whatever was logged."""
        if isinstance(self.store, MemoryPatternStore):
            patterns, unique, total, by_severity = self.store.top(top)
        else:
            patterns, total, by_severity = self.store.snapshot()
            unique = len(patterns)
            patterns.sort(key=lambda p: p.count, reverse=True)
        return {
            "total_unique_errors": unique,
            "total_error_count": total,
            "by_severity": {s: by_severity[s] for s in Sev.ORDER if by_severity.get(s)},
            "top_errors": [
                {
                    "hash": p.hash,
                    "type": p.type,
                    "message": p.message,
                    "count": p.count,
                    "severity": p.severity,
                    "endpoint": p.endpoint,
                    "first_seen": p.first_seen,
                    "last_seen": p.last_seen,
                }
                for p in patterns[:top]
            ],
        }

    def close(self, *, final: bool = False) -> None:
        """Write due summaries and stop the alert worker (waits briefly for queued alerts).

        ``final=True`` (at shutdown) also summarises every unwritten count.
        """
        self._stop.set()
        self.flush(final=final)
        self.alerter.close()
        _close_store(self)

    def stop(self) -> None:
        """Stop the background threads and the store without writing anything more.

        For an aggregator being replaced (new settings) or forgotten (tests).
        """
        self._stop.set()
        self.alerter.close(0.0)
        _close_store(self)


def _flush_loop(ref: weakref.ref[ErrorAggregator], stop: threading.Event, every: float) -> None:
    while not stop.wait(every):
        agg = ref()
        if agg is None:  # the aggregator was dropped without close()
            return
        agg.flush()
        del agg  # hold no reference while waiting


def _close_store(agg: ErrorAggregator) -> None:
    # A shared store (Redis) runs a flusher thread; the in-memory one has no close().
    close = getattr(agg.store, "close", None)
    if callable(close):
        close()
