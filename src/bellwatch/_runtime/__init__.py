"""The one object that owns bellwatch's process-wide state, and ``configure()``.

:func:`configure` resolves the settings once (argument > ``BELLWATCH_*`` > default)
and hands them to every component: the logging pipeline, the request monitor and
its store, the error aggregator and its alerts, EMF and the health checks. Nothing
else reads the environment. Components are built from the settings in force when
first used, and rebuilt when a later ``configure`` changes what they were built
with, so ``instrument(app)`` before or after ``configure()`` ends the same way.

The runtime (:mod:`.runtime`) is the composition root: it imports the log, store, errors and monitor
layers and wires them together (the pipeline's error step, the store's health
check), so none of them imports another one upwards. It owns the one fork hook and
the one exit hook, and :meth:`Runtime.reset` puts everything back (tests).
"""

from __future__ import annotations

import atexit
import os
from collections.abc import Callable, Sequence
from typing import IO, Any

from structlog.typing import Processor

from .._guard import suppress_internal_errors
from ..errors.aggregator import ErrorAggregator
from ..log import pipeline
from ..log.logger import get_logger
from ..log.pipeline import Pipeline
from .runtime import Runtime

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
