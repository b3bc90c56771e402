"""CloudWatch Embedded Metric Format: per-minute metric lines on stdout.

With ``BELLWATCH_EMF=1`` every process writes, once a minute, one EMF line per
route template and one for the whole service. The ECS ``awslogs`` driver ships
stdout to CloudWatch Logs, which extracts the metrics and aggregates them across
tasks: no agent, no ``PutMetricData`` calls, nothing on the request path but a
few increments.

Latency is pre-aggregated per minute and task (average, p50, p95, p99, max), so
the cross-task p95 CloudWatch shows is a statistic of per-task p95s, not an exact
fleet-wide quantile; the request and error counts are exact sums. ``LatencyMax`` is
the exact slowest request of the minute (one compare per request), not the sketch's
bin, so CloudWatch's Maximum of it is the fleet's slowest request exactly.

Lines go out like log lines: through the logging pipeline's standard output
:class:`~bellwatch.log.outlet.Outlet` when it writes to ``sys.stdout`` (one buffer, one
order), else through one of the writer's own. A stalled reader never stalls the
app: past the outlet's buffer a line is dropped whole and counted in
``emf_dropped`` (and in ``stdout_dropped``, like any line standard output lost), as is
a line the writer's own outlet held when its reader went away. One held by the shared
outlet then counts in ``stdout_dropped`` only: it no longer knows which lines were EMF.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import IO, Any

import orjson

from .._guard import counters, record_internal_error
from ..log import pipeline
from ..log.outlet import Outlet
from ..log.redact import scrub_text
from ..store.base import OTHER, EndpointStats

__all__ = ["GRACE", "METRICS", "EmfWriter", "MinuteStats", "lines_for"]

# Seconds past a minute's end before the timer writes it: requests that ended in it are
# still being counted for a moment (deferred ones are finished every 0.2 s); one counted
# later still is written with the next lines, under its own minute's Timestamp.
GRACE = 5.0

# (name, unit): every metric a line carries, in the order written.
METRICS: tuple[tuple[str, str], ...] = (
    ("Requests", "Count"),
    ("ServerErrors", "Count"),
    ("ClientErrors", "Count"),
    ("SlowRequests", "Count"),
    ("LatencyAvg", "Seconds"),
    ("LatencyP50", "Seconds"),
    ("LatencyP95", "Seconds"),
    ("LatencyP99", "Seconds"),
    ("LatencyMax", "Seconds"),
)


# CloudWatch's Dimension value: 1-1024 characters, ASCII, no control character, not
# blank. CloudWatch Logs extracts no metric from a document breaking one of these (it only
# counts it in AWS/Logs EMFValidationErrors), so every value is made valid here.
_DIMENSION_MAX = 1024


def _dimension(value: str) -> str:
    """``value`` redacted and made valid: other characters escaped (``\\xe9``, ``\\t``)."""
    value = scrub_text(value)
    if not (value.isascii() and value.isprintable()):
        value = "".join(
            c if " " <= c <= "~" else c.encode("unicode_escape").decode("ascii") for c in value
        )
    if not value.strip():
        return "-"
    if len(value) > _DIMENSION_MAX:
        value = value[: _DIMENSION_MAX - 3] + "..."
    return value


class MinuteStats(EndpointStats):
    """One route's (or the service's) minute: :class:`EndpointStats` and its slowest request.

    The sketch's largest value is its top bin's representative, within 1% of the
    slowest request but not it (it may even read below it); CloudWatch users read
    ``Maximum`` as exact, so the writer keeps ``slowest`` itself.
    """

    __slots__ = ("slowest",)

    def __init__(self) -> None:
        super().__init__()
        self.slowest = 0.0  # seconds; durations are never negative

    def merge(self, other: EndpointStats) -> None:
        """Add ``other`` into this one; the slowest of both stays."""
        super().merge(other)
        if isinstance(other, MinuteStats) and other.slowest > self.slowest:
            self.slowest = other.slowest


def _values(stats: MinuteStats) -> dict[str, float]:
    top = stats.slowest
    # A quantile is a bin's value, which may lie above the slowest request: never show
    # a p99 over the max.
    return {
        "Requests": stats.count,
        "ServerErrors": stats.errors,
        "ClientErrors": stats.client_errors,
        "SlowRequests": stats.slow,
        "LatencyAvg": round(stats.avg, 6),
        "LatencyP50": round(min(stats.quantile(0.5), top), 6),
        "LatencyP95": round(min(stats.quantile(0.95), top), 6),
        "LatencyP99": round(min(stats.quantile(0.99), top), 6),
        "LatencyMax": round(top, 6),
    }


def _line(
    namespace: str, timestamp_ms: int, dimensions: dict[str, str], stats: MinuteStats
) -> dict[str, Any]:
    directive = {
        "Namespace": namespace,
        "Dimensions": [list(dimensions)],
        "Metrics": [{"Name": name, "Unit": unit} for name, unit in METRICS],
    }
    return {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [directive]},
        **dimensions,
        **_values(stats),
    }


def lines_for(
    namespace: str, service: str, minute_start: float, by_path: dict[str, MinuteStats]
) -> list[dict[str, Any]]:
    """EMF documents for one minute: one per route template, then the service total."""
    timestamp_ms = int(minute_start * 1000)
    # Dimensions leave the process as metric names in CloudWatch: redacted like a line
    # (a route template holds no secret, but route_of may return a raw path).
    service = _dimension(service)
    out = [
        _line(namespace, timestamp_ms, {"Service": service, "Path": _dimension(path)}, stats)
        for path, stats in sorted(by_path.items())
    ]
    total = MinuteStats()
    for stats in by_path.values():
        total.merge(stats)
    out.append(_line(namespace, timestamp_ms, {"Service": service}, total))
    return out


# Writers with a timer (the runtime's): a fork while their thread holds the lock would
# leave the child's copy held for ever (its first request would wait on it), so the child
# gets a fresh one; and the minute counted so far is the parent's to write, not the child's.
_TIMED: weakref.WeakSet[EmfWriter] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for writer in list(_TIMED):
        writer._lock = threading.Lock()
        writer._stats = {}
        writer._thread = None  # the parent's; the child's next request starts its own


os.register_at_fork(after_in_child=_after_fork_in_child)


def _lost(lines: int) -> None:
    """Lines our own outlet took and then lost (its reader went away): EMF lines all."""
    counters.emf_dropped += lines


class EmfWriter:
    """A monitor listener that aggregates a minute of requests and writes it as EMF.

    The minute's lines are written by the first request of the next minute (one
    ``write`` a minute), at shutdown (the runtime calls :meth:`flush`) and, with
    ``timer``, by a daemon thread once the minute has ended (:data:`GRACE` seconds
    after it) if no request came since: a burst of 5xx followed by silence reaches
    CloudWatch within the minute, not with the next request hours later. The thread
    lives only while a minute is pending, so an idle service writes nothing and runs
    nothing. A line standard output cannot take now waits in the outlet's buffer;
    past it, the line is dropped and counted (``emf_dropped``).

    Args:
        namespace: the CloudWatch namespace (setting ``emf_namespace``).
        service: the ``Service`` dimension (setting ``service``).
        stream: where lines go; standard output (read at write time) by default.
        max_endpoints: route templates per minute before the rest go to ``<other>``
            (each costs a metric per line in CloudWatch).
        clock: what "now" is for ``timer`` (requests bring their own end time).
        timer: write an ended minute without waiting for the next request (the
            runtime's writer does; off, a writer is driven only by its calls).
    """

    def __init__(
        self,
        namespace: str,
        service: str,
        *,
        stream: IO[Any] | None = None,
        max_endpoints: int = 100,
        clock: Callable[[], float] = time.time,
        timer: bool = False,
    ) -> None:
        self.namespace = namespace
        self.service = service
        self.max_endpoints = max_endpoints
        self.clock = clock
        self._stream = stream
        self._minute = -1
        self._stats: dict[str, MinuteStats] = {}
        self._lock = threading.Lock()
        # Our own outlet: over ``stream``, or over a standard output the pipeline does
        # not write to (``_pid``: a forked child builds its own).
        self._own = Outlet(stream, lost=_lost) if stream is not None else None
        self._pid = os.getpid()
        self.timer = timer
        self._thread: threading.Thread | None = None
        if timer:
            _TIMED.add(self)

    def __call__(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        minute = int(now // 60)
        with self._lock:
            if minute != self._minute:
                pending, start = self._take()
                self._minute = minute
            else:
                pending = None
            stats = self._stats.get(path)
            if stats is None:
                if len(self._stats) >= self.max_endpoints:
                    path = OTHER
                    stats = self._stats.get(path)
                if stats is None:
                    stats = self._stats[path] = MinuteStats()
            stats.add(status, duration, slow)
            if duration > stats.slowest:  # noqa: PLR1730 - a compare, not a call, per request
                stats.slowest = duration
            # A new minute, or a late request of one the thread already wrote (or a forked
            # child, whose copy of the parent's thread is not alive: a new minute notices).
            if self.timer and (pending is not None or self._thread is None):
                self._watch()
        if pending:
            self._write(start, pending)

    def _watch(self) -> None:
        """Make sure a thread writes the pending minute once it ends (under the lock)."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            thread = threading.Thread(target=self._write_ended, name="bellwatch-emf", daemon=True)
            self._thread = thread
            thread.start()

    def _write_ended(self) -> None:
        """The timer thread: write each minute that ended with nobody to write it; end
        when no minute is pending (the next request's minute starts another)."""
        while True:
            with self._lock:
                if not self._stats:
                    self._thread = None
                    return
                due = (self._minute + 1) * 60.0 + GRACE
                wait = due - self.clock()
                pending, start = self._take() if wait <= 0 else ({}, 0.0)
            if wait > 0:
                # Short naps, not one long sleep: the clock may jump (a suspended host).
                time.sleep(min(wait, 1.0))
            elif pending:
                self._write(start, pending)

    def _take(self) -> tuple[dict[str, MinuteStats], float]:
        pending, start = self._stats, self._minute * 60.0
        self._stats = {}
        return pending, start

    def flush(self) -> None:
        """Write the current minute's lines now (at shutdown, after deferred requests)."""
        with self._lock:
            pending, start = self._take()
        if pending:
            self._write(start, pending)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for lines our own outlet still buffers (shutdown).

        Lines that share the log's outlet are drained with the log's lines.
        """
        own = self._own
        return own is None or own.drain(timeout)

    def _outlet(self) -> Outlet:
        """Where lines go: the pipeline's outlet when it writes to ``sys.stdout``, so
        EMF and log lines share one non-blocking descriptor, buffer and order."""
        own = self._own
        if self._stream is not None and own is not None:
            return own
        stdout = sys.stdout
        installed = pipeline.installed()
        if installed is not None and installed.sink.stream is stdout:
            shared = installed.sink.outlet
            if shared is not None:
                return shared
        pid = os.getpid()
        if own is None or own.stream is not stdout or pid != self._pid:
            if own is not None:
                if pid != self._pid:
                    own.after_fork()  # the parent's buffered lines are the parent's
                own.close()
            # The log lines' discipline: drop past the buffer, or wait if they wait.
            on_full = installed.settings.log_blocked if installed is not None else "drop"
            own = self._own = Outlet(stdout, on_full=on_full, lost=_lost)
            self._pid = pid
        return own

    def _write(self, start: float, pending: dict[str, MinuteStats]) -> None:
        try:
            docs = lines_for(self.namespace, self.service, start, pending)
            with self._lock:  # two minutes' writers must not build two outlets
                out = self._outlet()
            # One write(2) per line (~700 bytes): a pipe shared by several workers keeps
            # a write whole only up to PIPE_BUF (4 KiB), and a minute of six routes is
            # more; a torn line is a minute of metrics CloudWatch cannot read.
            for doc in docs:
                if not out.write(orjson.dumps(doc) + b"\n"):
                    counters.emf_dropped += 1
        except Exception as exc:
            record_internal_error(exc)
