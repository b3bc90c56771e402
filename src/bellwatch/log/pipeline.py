"""``configure()`` and ``get_logger()``: the one logging pipeline every part writes through.

The chain is built once per :func:`configure` call. Loggers returned by
:func:`get_logger` before ``configure`` (module-level loggers are the norm) follow
the configuration in force when they are first used, and again after every
later ``configure``.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any, cast

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from .. import _settings as _config
from .._guard import counters, record_internal_error
from ..errors.aggregator import aggregate_errors
from ..schema import F
from .deferred import drain as drain_queued
from .processors import LEVEL_OF, AddContext, CompactException, Redactor
from .render import BudgetRenderer
from .sinks import RotatingFile, Sink, flush_all

__all__ = ["Pipeline", "configure", "current", "flush", "get_logger", "stats"]

_LEVEL_NUM = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# Extra steps other modules register (the error aggregator); run before redaction.
Step = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


class Pipeline:
    """The configured chain: context -> steps -> redaction -> budgeted JSON -> sink.

    ``__call__`` is the single structlog processor; it never raises (a failing step
    yields a minimal line naming the failure, with no user values in it).
    """

    def __init__(
        self,
        settings: _config.Settings,
        sink: Sink,
        extra: Sequence[Processor] = (),
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.min_level = _LEVEL_NUM[settings.level]
        self.renderer = BudgetRenderer(settings.max_line)
        self.add_context = AddContext("iso" if settings.dev else settings.timestamp)
        self.redactor = Redactor(settings.redact_keys, settings.mask_phones)
        # The error aggregator needs the exception object, so it runs before compaction.
        self.steps: list[Processor] = [aggregate_errors, CompactException(), *extra]  # type: ignore[list-item]
        self._console: Callable[..., str] | None = None
        if settings.dev:
            self._console = structlog.dev.ConsoleRenderer(colors=True, timestamp_key=F.TS)

    def add_step(self, step: Processor) -> None:
        """Insert a step before redaction (used by the error aggregator)."""
        self.steps.append(step)

    def __call__(self, logger: object, method: str, event: dict[str, Any]) -> bytes | str:
        try:
            event = self.add_context(logger, method, event)
            for step in self.steps:
                event = step(logger, method, event)  # type: ignore[assignment]
            event = self.redactor(logger, method, event)
            if self._console is not None:
                try:
                    return self._console(logger, method, event)
                except Exception:
                    return self.renderer.render(event).decode("utf-8")
            return self.renderer.render(event)
        except structlog.DropEvent:
            raise
        except Exception as exc:
            record_internal_error(exc)
            return self.renderer.render(
                {
                    F.LEVEL: LEVEL_OF.get(method, "INFO"),
                    F.EVENT: "bellwatch_internal_error",
                    F.ERROR_TYPE: type(exc).__name__,
                }
            )

    def emit(self, method: str, event: dict[str, Any]) -> None:
        """Render and write one event outside structlog (the middleware's fast path).

        Same steps, redaction, budget and sink as a logger call; never raises.
        """
        if _LEVEL_NUM.get(LEVEL_OF.get(method, "INFO"), 20) < self.min_level:
            return
        try:
            line = self(None, method, event)
        except structlog.DropEvent:
            return
        self.sink.write(line, _METHOD_LEVEL.get(method, 20) >= 30)

    def close(self) -> None:
        self.sink.close()


_METHOD_LEVEL = {
    "debug": 10,
    "info": 20,
    "warning": 30,
    "warn": 30,
    "error": 40,
    "exception": 40,
    "critical": 50,
}


def _nop(event: object = None, *args: object, **kw: object) -> None:
    """What a filtered-out level's method is."""


class _LazyLogger:
    """What :func:`get_logger` returns: binds to the current pipeline on first use."""

    def __init__(self, name: str | None, initial: dict[str, Any]) -> None:
        self._name = name
        self._initial = initial
        _proxies.add(self)

    def _resolve(self) -> FilteringBoundLogger:
        pipe = current()
        wrapper = structlog.make_filtering_bound_logger(pipe.min_level)
        real: FilteringBoundLogger = wrapper(pipe.sink, [pipe], dict(self._initial))  # type: ignore[call-arg]
        # Cache the methods on the instance: later calls skip __getattr__. A filtered
        # level gets a plain function (no bound-method creation, no *args), so calling
        # it costs what an empty call with the same arguments costs.
        for name, level in _METHOD_LEVEL.items():
            self.__dict__[name] = _nop if level < pipe.min_level else getattr(real, name)
        self.__dict__["_real"] = real
        return real

    def _forget(self) -> None:
        for name in ("debug", "info", "warning", "warn", "error", "exception", "critical", "_real"):
            self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._resolve(), name)


_proxies: weakref.WeakSet[_LazyLogger] = weakref.WeakSet()
_current: Pipeline | None = None


def configure(
    *,
    stream: IO[Any] | None = None,
    processors: Sequence[Processor] = (),
    **settings: Any,
) -> Pipeline:
    """Configure bellwatch's logging pipeline; call once at start-up.

    Every keyword of :class:`bellwatch.Settings` is accepted and wins over its
    ``BELLWATCH_*`` environment variable, e.g. ``service``, ``env`` (``"dev"`` for
    coloured console output at DEBUG), ``level``, ``max_line``, ``log_file`` (also
    write ``<log_dir>/<service>.jsonl``), ``redact_keys``.

    Args:
        stream: where lines go; standard output by default (what the ECS awslogs
            driver ships). Pass ``stdout=False`` to write only the file.
        processors: extra structlog processors, run after context and before
            redaction.

    Raises:
        ConfigError: a bad value, naming the key.
    """
    global _current
    resolved = _config.resolve(**settings)
    drain_queued()  # requests that ended under the previous configuration
    out = (stream if stream is not None else sys.stdout) if resolved.stdout else None
    file = None
    if resolved.log_file:
        path = Path(resolved.log_dir) / f"{resolved.service}.jsonl"
        try:
            file = RotatingFile(
                path, resolved.log_max_bytes, resolved.log_backups, resolved.log_flush
            )
        except OSError as exc:
            raise _config.ConfigError(f"log_dir: cannot open {path}: {exc}") from exc
    previous = _current
    _current = Pipeline(resolved, Sink(out, file), processors)
    if previous is not None:
        previous.close()
    for proxy in list(_proxies):
        proxy._forget()
    if resolved.capture_stdlib:
        from .stdlib import install

        install(_current)
    return _current


def current() -> Pipeline:
    """The pipeline in force, configuring defaults on first use."""
    return _current if _current is not None else configure()


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger writing through bellwatch's pipeline.

    ``initial`` fields are bound to every line of this logger. Filtered levels are
    no-op methods chosen when the logger binds, so ``log.debug(...)`` in production
    costs no more than an empty call with the same arguments.
    """
    return cast(FilteringBoundLogger, _LazyLogger(name, initial))


def stats() -> dict[str, int | str | None]:
    """bellwatch's own health counters: lines written, dropped, truncated, internal errors.

    Buffered log file lines are written out first, so the counts are final.
    """
    flush_all()
    return counters.as_dict()


def flush() -> None:
    """Write out the log file lines still buffered (see the ``log_flush`` setting).

    Exit and fork do this already; call it before reading the local log file from
    the process that writes it.
    """
    flush_all()


def reset() -> None:
    """Forget the configuration (for tests): the next use configures defaults again."""
    global _current
    from ..errors.aggregator import reset as reset_errors

    drain_queued()

    reset_errors()
    if _current is not None:
        _current.close()
        from .stdlib import uninstall

        uninstall()
    _current = None
    for proxy in list(_proxies):
        proxy._forget()
