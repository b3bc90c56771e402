"""How errors reach the aggregator: from the log pipeline (:class:`ErrorStep`), with the
route of the request being handled (registered by the ASGI layer), each exception
counted once (a mark on the exception object).

The lower layers never import this package; the runtime and the ASGI layer register
what they hand over here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, Protocol

from .._guard import record_internal_error
from ..log.processors import REPORTED, exception_from
from ..store.patterns import Hit

__all__ = [
    "SERVER_LOGGERS", "ErrorStep", "current_route", "mark_reported", "reported",
    "set_request_route",
]  # fmt: skip

# Loggers of ASGI servers: their "Exception in ASGI application" record repeats an
# exception the middleware already reported (bellwatch.log.stdlib filters it out
# before any handler; this catches it if it still arrives).
SERVER_LOGGERS = frozenset({"uvicorn.error", "gunicorn.error", "hypercorn.error"})


def reported(exc: BaseException) -> tuple[str, str] | None:
    """``(hash, line kind)`` when ``exc`` was already counted (logged, then re-raised)."""
    try:
        mark = getattr(exc, REPORTED, None)
    except Exception:
        return None
    return mark if isinstance(mark, tuple) else None


def mark_reported(exc: BaseException, hit: Hit) -> None:
    """Mark ``exc`` as counted under ``hit``'s pattern, so a re-raise is not counted again."""
    # An exception type with __slots__ cannot be marked; it may then be counted twice.
    with contextlib.suppress(Exception):
        setattr(exc, REPORTED, (hit.pattern.hash, hit.kind))


RouteOf = Callable[[], "str | None"]
_request_route: RouteOf | None = None


def set_request_route(route_of: RouteOf | None) -> None:
    """Register what names the route template of the request being handled.

    The ASGI layer registers it (this layer never imports that one), so that the
    first line of an error an app logs during a request carries the route.
    """
    global _request_route
    _request_route = route_of


def current_route() -> str | None:
    """The route template of the request being handled, when the ASGI layer says."""
    route_of = _request_route
    if route_of is None:
        return None
    try:
        return route_of()
    except Exception as exc:
        record_internal_error(exc)
        return None


class _OnLog(Protocol):
    def on_log(self, method: str, event: dict[str, Any], exc: BaseException) -> dict[str, Any]:
        """A logger call's exception: counted, and its line now, thinned or dropped."""


class ErrorStep:
    """Pipeline step: a logger call with an exception goes through the aggregator.

    The runtime registers it when it builds the pipeline (the log layer never imports
    this package). It runs before ``CompactException`` (it needs the exception object)
    and raises ``structlog.DropEvent`` for an occurrence whose line is not due. Events
    without an exception pass through untouched (``only_with_exception``).
    """

    __slots__ = ("_aggregator",)
    only_with_exception = True

    def __init__(self, aggregator: Callable[[], _OnLog]) -> None:
        self._aggregator = aggregator

    def __call__(self, _logger: object, method: str, event: dict[str, Any]) -> dict[str, Any]:
        exc_info = event.get("exc_info")
        if exc_info is None:
            if method != "exception":
                return event
            exc_info = True
        exc = exception_from(exc_info)
        if exc is None:
            return event
        return self._aggregator().on_log(method, event, exc)
