"""One HTTP request between its call and its end, as the middleware follows it.

:class:`Exchange` holds what the wrapped ``send`` needs (status, end time, the
correlation id header) and hands the request to the middleware's ``_finish`` as
its answer completes, and tells a client that went away from a failure. Imports only
the log layer's context and its mark for exceptions already reported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable
from time import perf_counter
from typing import Any, Protocol

from .._guard import record_internal_error
from ..log.context import _EMPTY, _NOTHING, _Bound, _ctx
from ..log.processors import REPORTED
from ._scope import Message, Scope, Send

__all__ = ["CLIENT_CLOSED", "Exchange", "Finishes", "client_left", "send_500"]

_500_BODY = b"Internal Server Error"
# nginx's status for a request whose client closed the connection before the answer.
CLIENT_CLOSED = 499
# What frameworks and servers raise when the client has gone: Starlette's
# ClientDisconnect (a body read found the connection closed), uvicorn's
# ClientDisconnected (a send to a closed connection). Matched by name: no import.
_GONE = frozenset({"ClientDisconnect", "ClientDisconnected"})


def client_left(exc: Exception) -> bool:
    """Whether ``exc`` says the client went away: then it is no application failure (no
    error pattern, no alert, no 5xx; a framework may have "sent" its 500 to nobody). It
    is marked, so that the server's own report of it, once raised on as every app
    exception is, is dropped (:class:`~bellwatch.log.stdlib.ReportedElsewhere`)."""
    if not any(cls.__name__ in _GONE for cls in type(exc).__mro__):
        return False
    with contextlib.suppress(Exception):  # a type with __slots__ stays unmarked
        setattr(exc, REPORTED, ("", "client-left"))
    return True


class Finishes(Protocol):
    """The middleware as an exchange sees it."""

    _out_header: bytes

    def _finish(  # noqa: PLR0917 - mirrors the middleware's positional hot-path call
        self,
        scope: Scope,
        root_path: str,
        status: int,
        duration: float,
        fields: dict[str, Any],
        body: list[bytes] | None,
        cid: str,
        bound: Any,
        error: BaseException | None,
    ) -> None: ...


class Exchange(_Bound):
    """One HTTP request between its call and its end: the context's value, and ``send``.

    It is what the request binds in the context (a :class:`_Bound`: the id, the
    fields collected for the request line, the scope) and what the wrapped
    ``send`` needs (status, end time, the id header): one object with slots per
    request, cheaper to build than a ``_Bound`` beside a closure with a cell per
    variable.

    At the answer's last message the server's ``send`` runs with the context value
    unset: uvicorn's keep-alive timer copies the context there and keeps the copy
    for seconds, which kept each request's whole object graph alive and made the
    garbage collector's passes several times as frequent (CHANGELOG, Fixed).
    """

    __slots__ = (
        "body",
        "done",
        "end",
        "error",
        "mw",
        "out_header",
        "server_send",
        "start",
        "status",
    )
    cid: str  # never None here, unlike a context with nothing bound
    scope: tuple[Scope, str]

    def __init__(  # noqa: PLR0917 - once per request: positional is the cheaper call
        self,
        mw: Finishes,
        scope: Scope,
        root_path: str,
        start: float,
        cid: str,
        server_send: Send,
    ) -> None:
        # _Bound's slots set here rather than by its __init__: one call fewer per request.
        self.cid = cid
        self.fields = _EMPTY
        self.request: dict[str, Any] = {}  # what bind() adds anywhere during the request
        self.scope = (scope, root_path)
        self.memo = None
        self.mw = mw
        self.start = start
        self.server_send = server_send
        self.out_header = (mw._out_header, cid.encode("latin-1"))
        self.body: list[bytes] | None = None
        self.status = 0
        self.end = 0.0
        self.error: BaseException | None = None
        self.done = False  # the request was finished (counted, its line written or queued)

    def send(self, message: Message) -> Awaitable[None]:
        """The app's ``send``: the id header on the response, the request finished at its end.

        A plain function returning the server's awaitable (ASGI's ``send`` is any
        callable whose result is awaited): no coroutine of our own per message, but
        for the answer's last one, which finishes the request around the server's send.
        """
        kind = message["type"]
        if kind == "http.response.start":
            self.status = message["status"]
            # A copy: an app may send the same module-level dict every time. An id
            # header of the app's own goes: the response carries the one id logged.
            name = self.out_header[0]
            headers = [h for h in message.get("headers", ()) if h[0].lower() != name]
            headers.append(self.out_header)
            return self.server_send({**message, "headers": headers})
        if kind == "http.response.body" and not message.get("more_body", False):
            return self._last(message)
        return self.server_send(message)

    async def _last(self, message: Message) -> None:
        """The answer's last message: the request finished first, then sent with the
        context unset (see the class docstring)."""
        end = self.end = perf_counter()
        if not self.done and self.status < 500:
            # Finished before the client has its answer: a process killed right
            # after the answer still has the line written (or queued) already.
            # A 5xx is finished as the app's call ends, microseconds later: a
            # framework (Starlette) sends its 500 before re-raising, and the line
            # then names the error's fingerprint (``hash``) and counts its user.
            self.done = True
            scope, root_path = self.scope
            self.mw._finish(scope, root_path, self.status, end - self.start, self.request,
                            self.body, self.cid, _ctx.get().fields, self.error)  # fmt: skip
        token = _ctx.set(_NOTHING)
        try:
            await self.server_send(message)
        finally:
            _ctx.reset(token)


async def send_500(send: Send) -> None:
    """Answer 500 ourselves (the app raised before sending anything); never raises."""
    try:
        await send(
            {
                "type": "http.response.start",
                "status": 500,
                "headers": [
                    (b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(_500_BODY)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": _500_BODY})
    except Exception as exc:  # the client may be gone; the app's error still re-raises
        record_internal_error(exc)
