"""The one logging pipeline every part writes through.

The runtime (:mod:`bellwatch._runtime`) builds a :class:`Pipeline` at each
:func:`bellwatch.configure` and installs it here with :func:`install`; everything that
writes a line asks :func:`current` for it. Loggers (:mod:`bellwatch.log.logger`) ask
it for their methods (:meth:`Pipeline.method`) and ask again after every install.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import structlog
from structlog.typing import Processor

from .. import _settings
from .._guard import record_internal_error
from ..schema import F
from . import _fast, redact
from .processors import LEVEL_OF, STACK_INFO, AddContext, CompactException, compact_stack
from .pseudonym import HashingContext, UidHasher
from .redact import Redactor
from .render import BudgetRenderer
from .sinks import Sink, SplitLine

__all__ = ["FIRST_LINE", "Pipeline", "current", "install", "installed", "on_install", "set_default"]

# Set (to True) by the error aggregator on the first line of an error fingerprint:
# that line is rendered within ``error_line_max`` instead of ``max_line``, so its
# route, status and traceback fit. Removed before the line is rendered.
FIRST_LINE = "__bellwatch_first__"

_LEVEL_NUM = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
# Keys only the general way handles: the exception the error and traceback steps read,
# and the error aggregator's first-line mark.
_SPECIAL = frozenset(("exc_info", FIRST_LINE))
# Keys of a call's or a logger's own fields that only the general way handles: the
# line's own time and level, which such a field must not rewrite (AddContext.build).
# The stack step reads stack_info too.
_CALL_SPECIAL = _SPECIAL | {F.TS, F.LEVEL, STACK_INFO}

# A step: (logger, method, event) -> event. Steps run after context, before redaction.
Step = Callable[[Any, str, dict[str, Any]], dict[str, Any]]


class Pipeline:
    """The configured chain: context -> steps -> redaction -> budgeted JSON -> sink.

    ``__call__`` is the chain as a structlog processor; it never raises (a failing
    step yields a minimal line naming the failure, with no user values in it).
    Logger methods run it through :meth:`log`, or, decided once per logger and
    level, through the precompiled method of :mod:`bellwatch.log._fast`.

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
        self.context = AddContext("iso" if settings.dev else settings.timestamp)
        self.add_context: Any = self.context
        self.uid_hasher = UidHasher.from_settings(settings)
        if self.uid_hasher is not None:  # hash_uid: a uid given to one call is hashed too
            self.add_context = HashingContext(self.context, self.uid_hasher)
        self.redactor = Redactor.from_settings(settings)
        first = [errors] if errors is not None else []
        self.steps: list[Processor] = [*first, CompactException(), *extra]  # type: ignore[list-item]
        # The steps an event without an exception goes through: the error and
        # compaction steps do nothing to it, so they are left out here, once.
        self.plain_steps: list[Processor] = [s for s in self.steps if not _only_with_exception(s)]
        self._console: Callable[..., str] | None = None
        if settings.dev:
            self._console = structlog.dev.ConsoleRenderer(
                colors=_colours(sink.stream), timestamp_key=F.TS
            )
        # With hash_uid, a uid given to a call or bound to a logger is hashed the general
        # way; one bound in context was hashed when bound (``bind``), so it stays fast.
        special = _CALL_SPECIAL | {F.USER_ID} if self.uid_hasher is not None else _CALL_SPECIAL
        self.fast = _fast.Plan.build(
            add_context=self.context,
            redactor=self.redactor,
            renderer=self.renderer,
            sink=sink,
            general=self.log,
            special=special,
            context_special=_SPECIAL,
            simple=self._console is None and not self.plain_steps,
        )

    def method(self, level: str, fields: Mapping[str, Any]) -> Callable[..., None]:
        """What ``level`` (``"info"``...) of a logger bound to ``fields`` runs: chosen once.

        A filtered level is a plain no-op function; the others write through the
        precompiled fast method when this pipeline has one (:mod:`bellwatch.log._fast`).
        """
        if _METHOD_LEVEL[level] < self.min_level:
            return _nop
        if self.fast is None:
            return _fast.general_method(self.log, level, fields)
        return self.fast.method(level, fields)

    def __call__(self, logger: object, method: str, event: dict[str, Any]) -> bytes | str:
        try:
            return self._finish(logger, method, self.add_context(logger, method, event))
        except structlog.DropEvent:
            raise
        except Exception as exc:
            return self._failed(method, exc)

    def _finish(self, logger: object, method: str, event: dict[str, Any]) -> bytes | str:
        """Steps, redaction and rendering of a line's dict."""
        if STACK_INFO in event and event.pop(STACK_INFO):
            stack = compact_stack()
            if stack:
                event[F.STACK] = stack
        steps = self.steps if "exc_info" in event or method == "exception" else self.plain_steps
        for step in steps:
            event = step(logger, method, event)  # type: ignore[assignment]
        renderer = self.first_renderer if event.pop(FIRST_LINE, False) else self.renderer
        event = self.redactor(logger, method, event)
        if self._console is not None:
            # The JSON line first (the console pops the keys it shows): the file gets it,
            # since the file is what the CLI reads; the stream gets the console's text.
            line = renderer.render(event)
            try:
                return SplitLine(self._console(logger, method, event), line)
            except Exception:
                return line.decode("utf-8")
        return renderer.render(event)

    def _failed(self, method: str, exc: Exception) -> bytes:
        record_internal_error(exc)
        return self.renderer.render(
            {
                F.LEVEL: LEVEL_OF.get(method, "INFO"),
                F.EVENT: "bellwatch_internal_error",
                F.ERROR_TYPE: type(exc).__name__,
            }
        )

    def log(self, method: str, event: Any, fields: Mapping[str, Any], kw: dict[str, Any]) -> None:
        """One logger call, the general way: ``log.info(event, **kw)`` of a logger bound to
        ``fields``, as structlog's filtering bound logger ran it through this pipeline."""
        sink = self.sink
        try:
            line_dict = self.context.build(method, event, fields, kw)
            hasher = self.uid_hasher
            if hasher is not None and F.USER_ID in line_dict:
                line_dict[F.USER_ID] = hasher(line_dict[F.USER_ID])
            line = self._finish(sink, method, line_dict)
        except structlog.DropEvent:
            return
        except Exception as exc:
            line = self._failed(method, exc)
        sink.write(line, _METHOD_LEVEL.get(method, 20) >= 30)

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


def _only_with_exception(step: object) -> bool:
    """A step known to do nothing to an event without ``exc_info``."""
    return isinstance(step, CompactException) or getattr(step, "only_with_exception", False)


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


# What install() calls (loggers drop the methods they compiled for the previous pipeline).
_on_install: list[Callable[[], None]] = []
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
    for hook in _on_install:
        hook()
    return previous


def on_install(hook: Callable[[], None]) -> None:
    """Call ``hook`` whenever a pipeline is installed (:mod:`bellwatch.log.logger` does)."""
    _on_install.append(hook)


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


def _colours(stream: Any) -> bool:
    """Colours for a terminal, not a file or a pipe (``docker logs``, a CI log), unless
    ``NO_COLOR`` or ``FORCE_COLOR`` says otherwise (no-color.org, force-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    try:
        return bool(stream is not None and stream.isatty())
    except Exception:  # a stream without isatty, or a closed one
        return False
