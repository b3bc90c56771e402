"""Pipeline steps, structlog-style: ``(logger, method_name, event_dict) -> event_dict``.

Each step with settings is a small class that decides everything in ``__init__``
so that ``__call__`` does only per-event work.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from types import FrameType, TracebackType
from typing import Any

from ..schema import F
from ._astext import safe_repr
from .context import _ctx

__all__ = [
    "LEVEL_OF",
    "REPORTED",
    "STACK_INFO",
    "AddContext",
    "CompactException",
    "compact_stack",
    "compact_traceback",
    "exception_from",
    "interpolate",
    "reported",
    "unformatted",
]

# Set on an exception once bellwatch has counted it (the error aggregator does), so
# that a second report of the same exception object (a server's own traceback
# record, a second logger call) is recognised as one failure.
REPORTED = "__bellwatch_counted__"


def reported(exc: BaseException) -> bool:
    """Whether bellwatch has already counted ``exc``."""
    try:
        return getattr(exc, REPORTED, None) is not None
    except Exception:
        return False


def interpolate(event: Any, args: tuple[Any, ...]) -> Any:
    """``event % args`` as structlog's bound loggers do it (a lone mapping: by name).

    Never raises: arguments that do not fit the event (too few, too many, a missing
    name, a ``__str__`` that raises) give :func:`unformatted` instead, so that the
    app's line is written, as given, rather than lost or raised into the app.
    """
    try:
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            return event % args[0]
        return event % args
    except Exception:
        return unformatted(event, args)


def unformatted(event: object, args: object) -> str:
    """The event of a call whose arguments do not fit it: the event, then the arguments."""
    text = event if isinstance(event, str) else safe_repr(event)
    if not isinstance(args, tuple):  # a stdlib record's lone mapping
        return f"{text} {safe_repr(args)}"
    # Item by item, so that one argument whose repr raises is named by its type alone.
    shown = ", ".join(safe_repr(arg, 100) for arg in args[:10])
    more = ", ..." if len(args) > 10 else "," if len(args) == 1 else ""
    return f"{text} ({shown}{more})"


# ``stack_info=True`` of a logger call or a stdlib record: the line gets the app's
# frames that led to the call (``stack``), as structlog's StackInfoRenderer does.
STACK_INFO = "stack_info"

LEVEL_OF = {
    "debug": "DEBUG",
    "info": "INFO",
    "msg": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "exception": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
}


def _ts_ms() -> int:
    return time.time_ns() // 1_000_000


def _ts_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _ts_ms_at(ns: int) -> int:
    return ns // 1_000_000


def _ts_iso_at(ns: int) -> str:
    # Whole seconds, then the microseconds as an integer: a float of ns rounds up
    # across a millisecond that the live timestamp would truncate.
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The keys a line's own context writes first; bound fields never rewrite them.
_OWN = frozenset((F.TS, F.LEVEL, F.EVENT, F.CID))


class AddContext:
    """Put ``ts``, ``level``, ``event`` and ``cid`` first, then bound fields, then call fields.

    Core keys lead the line so that a reader (or ``head -c``) sees them first.
    """

    __slots__ = ("_now", "iso", "stamp")

    def __init__(self, timestamp: str = "ms") -> None:
        self.iso = timestamp == "iso"
        self._now = _ts_iso if self.iso else _ts_ms
        # The same format for a moment taken earlier (``time.time_ns()``): a request
        # line finished in a batch carries the time its request ended.
        self.stamp = _ts_iso_at if self.iso else _ts_ms_at

    @property
    def now(self) -> Any:
        """The function giving the current timestamp in this format."""
        return self._now

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        out = self._start(method, event.pop("event", ""))
        if event:
            ts, level = out[F.TS], out[F.LEVEL]
            out.update(event)
            out[F.TS], out[F.LEVEL] = ts, level  # a field's "ts" or "level" must not rewrite them
        return out

    def build(
        self, method: str, event: Any, fields: Mapping[str, Any], kw: dict[str, Any]
    ) -> dict[str, Any]:
        """The line of a logger call: what ``__call__`` makes of structlog's event dict
        (the logger's ``fields``, then the call's ``kw``, then ``event`` unless None),
        built in one dict instead of two."""
        out = self._start(method, "")
        if fields or kw:
            ts, level = out[F.TS], out[F.LEVEL]
            out.update(fields)  # a bound "event" is the line's event when the call has none
            out.update(kw)
            out[F.TS], out[F.LEVEL] = ts, level  # a field's "ts" or "level" must not rewrite them
        if event is not None:
            out[F.EVENT] = event
        return out

    def _start(self, method: str, event: Any) -> dict[str, Any]:
        out: dict[str, Any] = {
            F.TS: self._now(),
            F.LEVEL: LEVEL_OF.get(method, "INFO"),
            F.EVENT: event,
        }
        now = _ctx.get()
        cid = now.cid
        if cid is not None:
            out[F.CID] = cid
        bound = now.fields
        if bound:
            if _OWN.isdisjoint(bound):
                out.update(bound)
            else:
                core = dict(out)
                out.update(bound)
                out.update(core)  # a bound "level" or "event" must not rewrite the line's own
        return out


def _library_roots() -> tuple[str, ...]:
    roots = set()
    for key in ("stdlib", "platstdlib", "purelib", "platlib"):
        path = sysconfig.get_paths().get(key)
        if path:
            roots.add(os.path.realpath(path) + os.sep)
    return tuple(sorted(roots))


_LIBRARY_ROOTS = _library_roots()
_IS_LIBRARY: dict[str, bool] = {}
_CACHE_MAX = 4096


def _library(filename: str, module: str) -> bool:
    """Whether a frame is a library's (standard library, site-packages, bellwatch itself).

    bellwatch's own frames count as library frames wherever it is installed, except
    the demo service, which is an app like any other.
    """
    if module.startswith("bellwatch.") and not module.startswith("bellwatch.demo"):
        return True
    hit = _IS_LIBRARY.get(filename)
    if hit is None:
        if filename.startswith("<"):  # <frozen ...>: the interpreter's own
            hit = filename.startswith("<frozen")
        else:
            real = os.path.realpath(filename)
            hit = real.startswith(_LIBRARY_ROOTS) or "site-packages" in real
        if len(_IS_LIBRARY) < _CACHE_MAX:
            _IS_LIBRARY[filename] = hit
    return hit


def compact_traceback(exc: BaseException, limit: int = 5) -> str:
    """Where ``exc`` happened: the app's own frames, innermost last, then the last library frame.

    ``module:function:line`` of the innermost ``limit`` frames of the app's code joined
    by ``" > "`` (caller, then callee), followed by the frame that raised when it is a
    library's (``httpx._transports.default:map_httpcore_exceptions:86``). With no app
    frame at all, the innermost frame alone. Never includes local variables
    (structlog's dict tracebacks do by default).
    """
    tb: TracebackType | None = exc.__traceback__
    app: list[str] = []
    last = ""
    last_is_library = False
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        module = frame.f_globals.get("__name__", "?")
        last = f"{module}:{code.co_name}:{tb.tb_lineno}"
        last_is_library = _library(code.co_filename, str(module))
        if not last_is_library:
            app.append(last)
        tb = tb.tb_next
    frames = app[-limit:] if limit > 0 else []
    if last and (last_is_library or not frames):
        frames.append(last)
    return " > ".join(frames)


def compact_stack(limit: int = 5) -> str:
    """Where the current call came from: the app's own frames, innermost last.

    ``module:function:line`` of the innermost ``limit`` frames of the app's code on
    the current stack (bellwatch's, ``logging``'s and other libraries' left out),
    joined by ``" > "`` as :func:`compact_traceback` joins them; ``""`` with none.
    """
    frame: FrameType | None = sys._getframe(1)
    app: list[str] = []
    while frame is not None and len(app) < limit:
        code = frame.f_code
        module = str(frame.f_globals.get("__name__", "?"))
        if not _library(code.co_filename, module):
            app.append(f"{module}:{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return " > ".join(reversed(app))


def exception_from(exc_info: object) -> BaseException | None:
    """The exception an ``exc_info`` value refers to (True, an instance, or a 3-tuple)."""
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    if exc_info:
        return sys.exc_info()[1]
    return None


class CompactException:
    """Turn ``exc_info`` into ``type``, ``msg`` and a short ``exc`` frame list."""

    __slots__ = ("_frames",)

    def __init__(self, frames: int = 5) -> None:
        self._frames = frames

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        exc_info = event.pop("exc_info", None)
        if exc_info is None and method == "exception":
            exc_info = True
        exc = exception_from(exc_info) if exc_info is not None else None
        if exc is None:
            return event
        event.setdefault(F.ERROR_TYPE, type(exc).__name__)
        event.setdefault(F.MESSAGE, safe_repr(exc, 200) if _str_fails(exc) else str(exc))
        where = compact_traceback(exc, self._frames)
        if where:  # an exception never raised has no traceback: no empty "exc"
            event[F.EXC] = where
        return event


def _str_fails(exc: BaseException) -> bool:
    try:
        str(exc)
    except Exception:
        return True
    return False
