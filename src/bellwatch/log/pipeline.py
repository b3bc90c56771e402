"""The one logging pipeline every part writes through, and ``get_logger()``.

The runtime (:mod:`bellwatch._runtime`) builds a :class:`Pipeline` at each
:func:`bellwatch.configure` and installs it here with :func:`install`; everything that
writes a line asks :func:`current` for it. Loggers returned by :func:`get_logger`
before ``configure`` (module-level loggers are the norm) follow the configuration
in force when they are first used, and again after every later ``configure``.
"""

from __future__ import annotations

import sys
import weakref
from collections.abc import Callable, Sequence
from typing import Any, cast

import structlog
from structlog.typing import FilteringBoundLogger, Processor

from .. import _settings
from .._guard import record_internal_error
from ..schema import F
from . import redact
from .processors import LEVEL_OF, AddContext, CompactException
from .pseudonym import HashingContext, UidHasher
from .redact import Redactor
from .render import BudgetRenderer
from .sinks import Sink

__all__ = ["FIRST_LINE", "Pipeline", "current", "get_logger", "install", "installed", "set_default"]

# Set (to True) by the error aggregator on the first line of an error fingerprint:
# that line is rendered within ``error_line_max`` instead of ``max_line``, so its
# route, status and traceback fit. Removed before the line is rendered.
FIRST_LINE = "__bellwatch_first__"

_LEVEL_NUM = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}

# A step: (logger, method, event) -> event. Steps run after context, before redaction.
Step = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


class Pipeline:
    """The configured chain: context -> steps -> redaction -> budgeted JSON -> sink.

    ``__call__`` is the single structlog processor; it never raises (a failing step
    yields a minimal line naming the failure, with no user values in it).

    Args:
        settings: the resolved settings this pipeline writes by.
        sink: where finished lines go.
        extra: the user's own structlog processors, run after context.
        errors: the step that hands a logger call with an exception to the error
            aggregator (the runtime registers it); it runs first, since it needs the
            exception object that the compaction step turns into text.
    """

    def __init__(
        self,
        settings: _settings.Settings,
        sink: Sink,
        extra: Sequence[Processor] = (),
        errors: Step | None = None,
    ) -> None:
        self.settings = settings
        self.sink = sink
        self.extra = tuple(extra)
        self.min_level = _LEVEL_NUM[settings.level]
        self.renderer = BudgetRenderer(settings.max_line)
        self.first_renderer = BudgetRenderer(max(settings.error_line_max, settings.max_line))
        self.add_context: Any = AddContext("iso" if settings.dev else settings.timestamp)
        self.uid_hasher = UidHasher.from_settings(settings)
        if self.uid_hasher is not None:  # hash_uid: a uid given to one call is hashed too
            self.add_context = HashingContext(self.add_context, self.uid_hasher)
        self.redactor = Redactor.from_settings(settings)
        first = [errors] if errors is not None else []
        self.steps: list[Processor] = [*first, CompactException(), *extra]  # type: ignore[list-item]
        self._console: Callable[..., str] | None = None
        if settings.dev:
            self._console = structlog.dev.ConsoleRenderer(colors=True, timestamp_key=F.TS)

    def __call__(self, logger: object, method: str, event: dict[str, Any]) -> bytes | str:
        try:
            event = self.add_context(logger, method, event)
            for step in self.steps:
                event = step(logger, method, event)  # type: ignore[assignment]
            renderer = self.first_renderer if event.pop(FIRST_LINE, False) else self.renderer
            event = self.redactor(logger, method, event)
            if self._console is not None:
                try:
                    return self._console(logger, method, event)
                except Exception:
                    return renderer.render(event).decode("utf-8")
            return renderer.render(event)
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
# Set by the runtime when it is imported: builds the default pipeline on first use,
# with the error aggregator wired in. The log layer never imports the runtime itself.
_default: Callable[[], Pipeline] | None = None


def install(pipe: Pipeline | None) -> Pipeline | None:
    """Make ``pipe`` the pipeline in force (``None``: none); returns the previous one.

    Bound loggers re-bind on their next call, so they follow the new settings.
    """
    global _current
    previous, _current = _current, pipe
    redact.activate(pipe.redactor if pipe is not None else None)
    for proxy in list(_proxies):
        proxy._forget()
    return previous


def set_default(factory: Callable[[], Pipeline]) -> None:
    """Register what builds the pipeline when a line is written before any configure."""
    global _default
    _default = factory


def installed() -> Pipeline | None:
    """The pipeline in force, or ``None`` before any configure (never builds one)."""
    return _current


def current() -> Pipeline:
    """The pipeline in force, configuring defaults on first use."""
    pipe = _current
    if pipe is not None:
        return pipe
    if _default is not None:
        return _default()
    # Only reached when the log layer is used on its own, without the runtime.
    install(Pipeline(_settings.resolve(), Sink(sys.stdout)))
    assert _current is not None
    return _current


def get_logger(name: str | None = None, **initial: Any) -> FilteringBoundLogger:
    """A structlog logger writing through bellwatch's pipeline.

    ``initial`` fields are bound to every line of this logger. Filtered levels are
    no-op methods chosen when the logger binds, so ``log.debug(...)`` in production
    costs no more than an empty call with the same arguments.
    """
    return cast(FilteringBoundLogger, _LazyLogger(name, initial))
