"""stdlib ``logging`` records (uvicorn, botocore, httpx, the app's) through the same pipeline."""

from __future__ import annotations

import logging
import sys
import threading
from typing import TYPE_CHECKING, Any

from .._guard import record_internal_error
from ..schema import F
from .processors import STACK_INFO, reported, unformatted

if TYPE_CHECKING:
    from .pipeline import Pipeline

__all__ = [
    "THREAD_LOGGER",
    "BellwatchHandler",
    "ReportedElsewhere",
    "TakeBack",
    "absorb_server_duplicates",
    "install",
    "uninstall",
]

_METHOD = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}

# LogRecord attributes that are not user-supplied ``extra=`` fields.
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's coloured duplicate of msg
}

# The line's own keys: an ``extra=`` of the same name would rewrite what the record
# itself says (its message, level, time, logger), so it is left off, as a bound one is.
_OWN = frozenset((F.TS, F.LEVEL, F.EVENT, F.LOGGER))

# uvicorn installs its own handlers; send its records to the root instead. Its access
# log repeats what request_complete already says, so it is quietened.
_TAKEN_OVER = ("uvicorn", "uvicorn.error", "uvicorn.access", "gunicorn.error", "gunicorn.access")


class BellwatchHandler(logging.Handler):
    """A ``logging.Handler`` that renders records with bellwatch's pipeline."""

    def __init__(self, pipeline: Pipeline) -> None:
        super().__init__(level=pipeline.min_level)
        self.pipeline = pipeline

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event: dict[str, Any] = {F.EVENT: _message(record), F.LOGGER: record.name}
            for key, value in record.__dict__.items():
                if key not in _RESERVED and key not in _OWN and not key.startswith("_"):
                    event[key] = value
            if record.stack_info:
                event[STACK_INFO] = True
            if record.exc_info and record.exc_info[1] is not None:
                event["exc_info"] = record.exc_info
            method = _METHOD.get(record.levelno, "info" if record.levelno < 30 else "error")
            self.pipeline.emit(method, event)
        except Exception as exc:
            record_internal_error(exc)

    def handleError(self, record: logging.LogRecord) -> None:
        # The default prints a traceback to stderr; ours are counted instead.
        return None


def _message(record: logging.LogRecord) -> str:
    """The record's message; arguments that do not fit it are shown beside it, as given
    (the stdlib's own handlers print a "Logging error" to stderr and lose the line)."""
    try:
        return record.getMessage()
    except Exception:
        return unformatted(record.msg, record.args)


# Where ASGI servers log an exception that escaped the app ("Exception in ASGI
# application"): the middleware has reported that exception already, with its cid.
_SERVER_LOGGERS = ("uvicorn.error", "gunicorn.error", "hypercorn.error")


class ReportedElsewhere(logging.Filter):
    """Drop a record whose exception bellwatch has already counted and written.

    On the server's own loggers, so that its copy of an unhandled exception is
    written by no handler at all: not ours (it would be a second error line with
    no cid) and not the server's own (a multi-line traceback on stderr, which
    awslogs ships as one event per line). It survives the server's
    ``logging.config.dictConfig``, which replaces handlers, not filters.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exc_info = record.exc_info
        return not (exc_info and exc_info[1] is not None and reported(exc_info[1]))


def absorb_server_duplicates() -> None:
    """Put :class:`ReportedElsewhere` on the ASGI servers' loggers (idempotent)."""
    for name in _SERVER_LOGGERS:
        lg = logging.getLogger(name)
        if not any(isinstance(f, ReportedElsewhere) for f in lg.filters):
            lg.addFilter(ReportedElsewhere())


# The root's console handlers taken off by install(), put back by uninstall().
_taken_off: list[logging.Handler] = []
# Whether install() is in force (TakeBack acts only then).
_capturing = False


def _take_over() -> None:
    """Send the servers' loggers to the root, where bellwatch's handler is."""
    for name in _TAKEN_OVER:
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
        # uvicorn's log_level and a dictConfig elsewhere may have set these; ours rules now
        lg.setLevel(logging.NOTSET)
        lg.disabled = False
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _given_back() -> bool:
    """Whether a server's logger has handlers or stopped propagating since :func:`install`."""
    for name in _TAKEN_OVER:
        lg = logging.getLogger(name)
        if lg.handlers or not lg.propagate:
            return True
    return False


class TakeBack(logging.Filter):
    """Take the servers' loggers over again when their own logging config came back.

    ``uvicorn.run(app)`` after :func:`bellwatch.configure` applies uvicorn's
    ``dictConfig``, which reinstalls its plain handlers (and its access log) on
    loggers bellwatch had taken over. That replaces handlers, not filters, so this
    filter sees the first record afterwards: it takes the loggers over again and
    lets the record through to bellwatch's handler, or drops it when the level
    bellwatch set (``uvicorn.access`` at WARNING) would have.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not _capturing or not _given_back():
            return True
        _take_over()
        return record.levelno >= logging.getLogger(record.name).getEffectiveLevel()


def _console(handler: logging.Handler) -> bool:
    """A handler writing to the process's standard output or error (``basicConfig()``,
    a dictConfig's console handler): bellwatch writes each of its records already."""
    if not isinstance(handler, logging.StreamHandler) or isinstance(handler, logging.FileHandler):
        return False
    stream = getattr(handler, "stream", None)
    return stream is not None and any(
        stream is std for std in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)
    )


def install(pipeline: Pipeline) -> None:
    """Route the root logger (and uvicorn's) through ``pipeline``; idempotent.

    A console handler already on the root is taken off (and kept, for
    :func:`uninstall`): each record would come out twice, once as plain text.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, BellwatchHandler):
            root.removeHandler(handler)
        elif _console(handler):
            root.removeHandler(handler)
            _taken_off.append(handler)
    root.addHandler(BellwatchHandler(pipeline))
    root.setLevel(pipeline.min_level)
    _take_over()
    global _capturing
    _capturing = True
    for name in _TAKEN_OVER:
        lg = logging.getLogger(name)
        if not any(isinstance(f, TakeBack) for f in lg.filters):
            lg.addFilter(TakeBack())
    absorb_server_duplicates()
    if threading.excepthook is not _thread_died:
        global _previous_hook
        _previous_hook = threading.excepthook
        threading.excepthook = _thread_died
    # httpx logs every request at INFO with its full URL, query string (api_key=...)
    # included; outgoing calls are better seen through the correlation id.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def uninstall() -> None:
    """Take bellwatch's handler off the root and put back the console handlers it replaced."""
    global _capturing
    _capturing = False
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, BellwatchHandler):
            root.removeHandler(handler)
    while _taken_off:
        root.addHandler(_taken_off.pop(0))
    if threading.excepthook is _thread_died:
        threading.excepthook = _previous_hook


# The logger a thread's uncaught exception is written under (the aggregator counts it
# unhandled, as what asyncio's own handler reports).
THREAD_LOGGER = "threading"
_previous_hook = threading.__excepthook__


def _thread_died(args: threading.ExceptHookArgs) -> None:
    """A thread's uncaught exception: one ERROR line with its traceback, counted as an
    error, instead of a bare traceback on stderr (several events to awslogs, no
    count). Another library's hook (Sentry's) still runs; the default printer does
    not, while bellwatch captures (the line says it all)."""
    previous = _previous_hook
    if _capturing and args.exc_type is not SystemExit:  # the default ignores it too
        try:
            thread = args.thread.name if args.thread is not None else "?"
            # typeshed types exc_value Optional; an uncaught exception always has one
            exc_info: Any = (args.exc_type, args.exc_value, args.exc_traceback)
            logging.getLogger(THREAD_LOGGER).error(
                "Exception in thread %s", thread, exc_info=exc_info
            )
            if previous is threading.__excepthook__:
                return
        except Exception as exc:
            record_internal_error(exc)
    previous(args)
