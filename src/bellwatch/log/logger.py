"""``get_logger()`` and its bound logger: structlog's ``FilteringBoundLogger`` API, our pipeline.

A :class:`BoundLogger` holds its own fields and nothing else. Its level methods
are compiled by the pipeline in force (:meth:`~bellwatch.log.pipeline.Pipeline.method`)
the first time one is used and kept on the instance, so a call is one plain function
call: a filtered level is a no-op function, any other writes its line through the
precompiled fast path (:mod:`bellwatch.log._fast`). Every ``configure`` installs a new
pipeline, and loggers drop their compiled methods then: loggers made at import time,
before ``configure`` (the norm), follow the configuration in force when they are
first used, and again after every later ``configure``.

The API is structlog's filtering bound logger's: ``bind``, ``unbind``,
``try_unbind``, ``new``, ``debug`` ... ``critical`` (and ``msg``, ``warn``, ``err``,
``fatal``), ``exception``, ``log``, ``is_enabled_for``, ``get_effective_level``, and
the ``a``-prefixed async methods, which write at once (a bellwatch write never waits
on I/O, so there is nothing to hand to a thread).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from . import pipeline

__all__ = ["BoundLogger", "get_logger"]

_LEVELS = ("debug", "info", "warning", "error", "critical")
_ALIASES = (("msg", "info"), ("warn", "warning"), ("err", "error"), ("fatal", "critical"))
_COMPILED = (*_LEVELS, *(alias for alias, _ in _ALIASES))
_NAME_OF = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


class _Level:
    """A level method (``log.info``): compiled on first access, then found on the instance.

    A descriptor rather than a method, so that ``info = log.info`` taken before the
    first call is already the compiled function, not a bound method that compiles.
    """

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, logger: BoundLogger | None, owner: type | None = None) -> Any:
        if logger is None:
            return self
        return logger._compile(self.name)


class BoundLogger:
    """A logger with its own bound fields, writing through bellwatch's pipeline.

    Made by :func:`get_logger` and :meth:`bind`; see the module docstring. Each level
    method (``debug``, ``info``, ``warning``, ``error``, ``critical``, and ``msg``,
    ``warn``, ``err``, ``fatal``) takes ``(event, *args, **fields)``: ``args`` are
    %-interpolated into ``event``, ``fields`` go on the line after the bound ones.
    """

    def __init__(self, name: str | None, context: dict[str, Any]) -> None:
        self._name = name
        self._context = context  # structlog.get_context() reads this
        _loggers.add(self)

    def __repr__(self) -> str:
        return f"<BoundLogger(name={self._name!r}, context={self._context!r})>"

    # -- the level methods: compiled per pipeline on first use, then found on the instance

    def _compile(self, level: str) -> Callable[..., Any]:
        pipe = pipeline.current()
        compiled = self.__dict__
        for name in _LEVELS:
            compiled[name] = pipe.method(name, self._context)
        for alias, name in _ALIASES:
            compiled[alias] = compiled[name]
        return compiled[level]  # type: ignore[no-any-return]

    def _forget(self) -> None:
        for name in _COMPILED:
            self.__dict__.pop(name, None)

    debug = _Level("debug")
    info = _Level("info")
    warning = _Level("warning")
    error = _Level("error")
    critical = _Level("critical")
    msg = _Level("msg")
    warn = _Level("warn")
    err = _Level("err")
    fatal = _Level("fatal")

    def exception(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """:meth:`error` with the exception being handled (``exc_info=True`` unless given)."""
        kw.setdefault("exc_info", True)
        return self.error(event, *args, **kw)

    def log(self, level: int, event: str | None = None, *args: Any, **kw: Any) -> Any:
        """Log at a numeric ``level`` (``logging.INFO``...), as ``logging.Logger.log``."""
        if level < pipeline.current().min_level:
            return None
        return getattr(self, _NAME_OF[level])(event, *args, **kw)

    def is_enabled_for(self, level: int) -> bool:
        """Whether a line at numeric ``level`` would be written."""
        return level >= pipeline.current().min_level

    def get_effective_level(self) -> int:
        """The lowest numeric level written."""
        return pipeline.current().min_level

    # -- async variants: a write never waits, so they write at once ------------------

    async def adebug(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.debug(event, *args, **kw)

    async def ainfo(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.info(event, *args, **kw)

    async def amsg(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.info(event, *args, **kw)

    async def awarning(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.warning(event, *args, **kw)

    async def awarn(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.warning(event, *args, **kw)

    async def aerror(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.error(event, *args, **kw)

    async def acritical(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.critical(event, *args, **kw)

    async def afatal(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.critical(event, *args, **kw)

    async def aexception(self, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.exception(event, *args, **kw)

    async def alog(self, level: int, event: str | None = None, *args: Any, **kw: Any) -> Any:
        return self.log(level, event, *args, **kw)

    # -- binding ------------------------------------------------------------------------

    def bind(self, **new_values: Any) -> BoundLogger:
        """A new logger with ``new_values`` added to this one's fields."""
        return BoundLogger(self._name, {**self._context, **new_values})

    def unbind(self, *keys: str) -> BoundLogger:
        """A new logger without ``keys``; a key that is not bound raises ``KeyError``."""
        context = dict(self._context)
        for key in keys:
            del context[key]
        return BoundLogger(self._name, context)

    def try_unbind(self, *keys: str) -> BoundLogger:
        """:meth:`unbind`, ignoring keys that are not bound."""
        context = dict(self._context)
        for key in keys:
            context.pop(key, None)
        return BoundLogger(self._name, context)

    def new(self, **new_values: Any) -> BoundLogger:
        """Clear this logger's fields, then :meth:`bind` ``new_values`` (as structlog does)."""
        self._context.clear()
        self._forget()
        return self.bind(**new_values)


_loggers: weakref.WeakSet[BoundLogger] = weakref.WeakSet()


def _forget_all() -> None:
    for logger in list(_loggers):
        logger._forget()


pipeline.on_install(_forget_all)


def get_logger(name: str | None = None, **initial: Any) -> BoundLogger:
    """A logger writing through bellwatch's pipeline, with structlog's bound-logger API.

    ``initial`` fields are bound to every line of this logger. Filtered levels are
    no-op methods chosen when the logger first logs, so ``log.debug(...)`` in
    production costs no more than an empty call with the same arguments.
    """
    return BoundLogger(name, initial)
