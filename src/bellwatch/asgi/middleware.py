"""Pure-ASGI request monitoring: correlation id in and out, one line and one count per request.

The per-request path is lean on purpose: one scan of the header list, a ready-cut
random id, one ContextVar set, a wrapped ``send`` that adds one header, the route
template read from ``scope["route"]`` after the call (no second route match, no
Request/Response objects), one monitor update, and the request line with the
same steps, redaction and budget as any logger call (no structlog or stdlib hop).
Finishing (counts and line) is deferred and done in batches when the line would
wait for the log file's buffer anyway (see :mod:`bellwatch.log.deferred`).

Settings, the monitor and the deferred queue come from the runtime
(:mod:`bellwatch._runtime`) and are looked up again whenever it replaces one of
them (a later ``configure()``), so the middleware may be built before or after
``configure()``: one integer comparison per request.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from time import perf_counter, time, time_ns
from typing import Any

from .. import _settings
from .._guard import record_internal_error
from .._runtime import runtime
from ..errors._handover import set_request_route
from ..log import pipeline, stdlib
from ..log.context import _EMPTY, _Bound, _ctx, current_scope
from ..log.deferred import Deferred
from ..log.redact import scrub_text
from ..monitor.monitor import Monitor
from ..monitor.sessions import SessionKey, bound_session
from ..schema import Ev, F
from ..store.base import UNMATCHED, Request
from ._correlation import CorrelationIds
from ._exchange import CLIENT_CLOSED, Exchange, client_left, send_500
from ._lifespan import shutting_down
from ._request_line import RequestLine
from ._scope import (
    ASGIApp,
    Receive,
    Scope,
    Send,
    is_form,
    keeping_body,
    route_template,
)
from ._websocket import Connection
from .dashboard import DashboardEndpoint
from .endpoints import HealthEndpoint, MetricsEndpoint

__all__ = ["BellwatchMiddleware"]


class BellwatchMiddleware:
    """Correlation ids, one ``request_complete`` line and monitor counts per HTTP request.

    Works with any ASGI app; :func:`instrument` adds it to a Starlette/FastAPI app
    outermost, together with ``/metrics`` and ``/health``. Non-HTTP scopes pass
    straight through.

    Args:
        app: the ASGI app to wrap.
        monitor: where requests are counted; the process-wide one by default.
        session_key: extractor for active sessions (:mod:`bellwatch.monitor.sessions`).
        quiet_paths: route templates that are neither logged nor counted (the
            load balancer's health checks would otherwise fill the logs).
        route_of: for apps that are not Starlette-based, a function of the scope
            returning the route template (or ``None`` for unmatched).
        **settings: overrides of ``slow_threshold``, ``cid_headers``,
            ``cid_response_header``, ``cid_max_length``, ``cid_bytes`` for this
            middleware (else the settings in force, :func:`bellwatch.configure`).

    Raises:
        ConfigError: an override with a bad value, naming the key.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        monitor: Monitor | None = None,
        session_key: SessionKey = bound_session,
        quiet_paths: Iterable[str] = (),
        route_of: Callable[[Scope], str | None] | None = None,
        **settings: Any,
    ) -> None:
        self.app = app
        # Explicit overrides win over configure() and the environment; checked now,
        # so a bad value fails here instead of at the first request.
        checked = _settings.resolve({}, **settings)
        self._overrides = {name: getattr(checked, name) for name in settings}
        self._given_monitor = monitor
        self.session_key = session_key
        self._custom_session = session_key is not bound_session
        self.quiet = frozenset(quiet_paths)
        self.route_of = route_of
        self._needs_body = session_key.needs_body
        self._line = RequestLine()
        self._generation = -1  # adopt the runtime's settings on the first request
        runtime.install_signal_handlers()
        # The server's own copy of an exception we report ("Exception in ASGI
        # application") is dropped before any handler, even one it installs later.
        stdlib.absorb_server_duplicates()
        set_request_route(_request_route)

    def _adopt(self) -> None:
        """Take settings, monitor and queue from the runtime (first request, or after a change)."""
        base = runtime.settings
        if self._overrides:
            base = dataclasses.replace(base, **self._overrides)
        self.settings = base
        monitor = self._given_monitor or runtime.monitor()
        if "slow_threshold" in self._overrides:
            monitor.slow_threshold = base.slow_threshold
        self.monitor: Monitor = monitor
        self._users = runtime.users()  # None: users are not counted
        self._deferred: Deferred = runtime.deferred
        self._number = self._deferred.number(self)  # how a queued request names us
        self._ids = CorrelationIds(base.cid_headers, base.cid_max_length, base.cid_bytes)
        self._out_header = base.cid_response_header.lower().encode("latin-1")
        self._generation = runtime.generation  # read last: building may have changed it

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._not_http(scope, receive, send)
            return
        held = _ctx.get().scope
        if held is not None and held[0] is scope:
            # Instrumented twice (an instrumented app mounted in another): the outer
            # middleware follows this request already; a second would log and count it
            # again, under another id and without the mount prefix.
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        if self._generation != runtime.generation:
            self._adopt()
        cid, rejected = self._ids.choose(scope.get("headers", ()))
        root_path = scope.get("root_path", "")
        ex = Exchange(self, scope, root_path, start, cid, send)
        token = _ctx.set(ex)
        if rejected is not None:
            _warn_rejected(rejected)
        app_receive = receive
        if self._needs_body and is_form(scope):
            ex.body = []
            app_receive = keeping_body(receive, ex.body)

        try:
            await self.app(scope, app_receive, ex.send)
        except Exception as exc:
            if client_left(exc):  # nobody to answer, and nothing failed here
                if not ex.done:
                    ex.status = CLIENT_CLOSED
                raise
            await self._failed(ex, scope, root_path, exc)
            raise
        except BaseException:
            # Cancelled (client went away) or the process is exiting: no response.
            if ex.status == 0:
                ex.status = CLIENT_CLOSED
            raise
        finally:
            if not ex.done:
                self._finish(
                    scope,
                    root_path,
                    ex.status,
                    (ex.end or perf_counter()) - start,
                    ex.request,
                    ex.body,
                    cid,
                    _ctx.get().fields,
                    ex.error,
                )
            _ctx.reset(token)

    async def _failed(self, ex: Exchange, scope: Scope, root_path: str, exc: Exception) -> None:
        """The app raised: note it, and answer 500 when nothing was sent yet."""
        if ex.done:  # raised after the answer (a background task): counted as an error only
            self._late_error(scope, root_path, ex.status, exc)
        ex.error = exc
        if ex.status == 0:
            # Nothing was sent: answer 500 ourselves so the response still carries
            # the id, then re-raise to the server as Starlette does.
            await send_500(ex.send)
        elif ex.status < 500 and not ex.done:
            # The answer had started (a streamed body) and breaks off here: the
            # client has a truncated body, a failure, whatever status went first.
            ex.status = 500

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One WebSocket connection: a correlation id, then one line and one count when it ends.

        Counted apart from HTTP requests (:mod:`bellwatch.monitor.websockets`).
        """
        held = _ctx.get().scope
        if held is not None and held[0] is scope:  # instrumented twice: the outer one counts
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        if self._generation != runtime.generation:
            self._adopt()
        cid, rejected = self._ids.choose(scope.get("headers", ()))
        root_path = scope.get("root_path", "")
        token = _ctx.set(_Bound(cid, _EMPTY, {}, (scope, root_path)))
        if rejected is not None:
            _warn_rejected(rejected)
        conn = Connection((self._out_header, cid.encode("latin-1")))
        self.monitor.websockets.opened()
        error: BaseException | None = None
        try:
            await self.app(scope, conn.receive(receive), conn.send(send))
        except Exception as exc:
            error = exc
            raise
        finally:
            try:
                path = self._route(scope, root_path)
                if error is not None:
                    _record_error(error, path, None)
                raised = error is not None
                level, event = conn.line(path, perf_counter() - start, raised)
                counted = (event[F.CLOSE_CODE], event[F.DURATION], conn.received, conn.sent)
                self.monitor.websockets.closed(path, *counted, raised)
                if path not in self.quiet:
                    pipeline.current().emit(level, event)
            except Exception as exc:
                record_internal_error(exc)
            _ctx.reset(token)

    def _route(self, scope: Scope, root_path: str) -> str:
        if self.route_of is not None:
            # A route of the app's choosing may be a raw URL: it is a metric name, a
            # label and an EMF dimension as well as a log value, so redacted here.
            return scrub_text(self.route_of(scope) or UNMATCHED)
        return route_template(scope, root_path)

    async def _not_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSockets, lifespan (written out at its shutdown), anything else: straight through."""
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] == "lifespan":
            send = shutting_down(send)
        await self.app(scope, receive, send)

    def _finish(  # noqa: PLR0917 - once per request: positional is the cheaper call
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
    ) -> None:
        """Name the route, then count and log the request now or queue it; never raises.

        The line carries ``cid``, the id the response header carried.

        A queued request keeps only strings and numbers, not the scope: holding
        scopes until the batch is drained made the garbage collector slower.
        """
        try:
            path = (
                route_template(scope, root_path)
                if self.route_of is None
                else self._route(scope, root_path)
            )
            if error is not None:
                _record_error(error, path, status or 500)
            route: Any = scope.get("route")
            if path in self.quiet or (type(route) in _OWN and route.quiet):
                return  # (ours: a mounted instrumented app's /metrics is quiet here too)
            key = (
                self.session_key(scope, fields, b"".join(body) if body else None)
                if fields or self._custom_session
                else None  # the default extractor reads bound fields only
            )
            monitor = self.monitor
            ns = time_ns()
            now = ns / 1e9 if monitor.clock is time else monitor.clock()
            # A copy: a task that outlives the request may still bind into the original.
            # None for nothing bound: a queued item of strings, numbers and None only is
            # one the garbage collector stops tracking (see Deferred).
            late = dict(fields) if fields else None
            item = (self._number, path, scope.get("method", ""), status, duration, late, key, cid,
                    bound or None, now, ns)  # fmt: skip
            if (
                error is None
                and status < 500
                and duration <= monitor.slow_threshold
                and self._line.batching()
            ):
                self._deferred.add(item)
                return
            self._deferred.drain()  # earlier requests first: lines and counts stay in order
            self.finish_queued([item])
        except Exception as exc:
            record_internal_error(exc)

    def _late_error(self, scope: Scope, root_path: str, status: int, error: Exception) -> None:
        """An exception after the response was finished: to the aggregator; never raises."""
        try:
            _record_error(error, self._route(scope, root_path), status or 500)
        except Exception as exc:
            record_internal_error(exc)

    def finish_queued(self, items: list[tuple[Any, ...]]) -> None:  # noqa: PLR0912 - one pass per batch
        """Count and log requests, now or deferred (:mod:`bellwatch.log.deferred`); never raises.

        The INFO lines of a batch go to the sink together: one append to the file.
        """
        monitor = self.monitor
        threshold = monitor.slow_threshold
        loggable = self.session_key.loggable
        line_of = self._line.line
        lines: list[bytes] = []
        users = self._users
        seen: list[tuple[Any, ...]] = []  # requests of a bound uid: one hand-over per batch
        # Counted after the batch's lines, in one call: one lock per store and listener.
        counted: list[Request] = []
        sessions: list[tuple[str, float]] = []
        for _, path, method, status, duration, late, key, cid, held, now, ns in items:
            fields = late or _EMPTY
            bound = held or _EMPTY
            try:
                slow = duration > threshold
                counted.append((path, status, duration, slow, now))
                if key is not None:
                    sessions.append((key, now))
                if users is not None and (fields or bound):
                    uid = fields.get(F.USER_ID) or bound.get(F.USER_ID)
                    if uid is not None:
                        failed = status >= 500 or F.ERROR_HASH in fields
                        seen.append((str(uid), key, now, path, failed, slow))
                level = "error" if status >= 500 else "warning" if slow else "info"
                sid = key if loggable else None
                line = line_of(level, method, path, status, duration, fields, sid, cid, bound, ns)
                if line is None:
                    continue
                if level == "info":
                    lines.append(line)
                    continue
                if lines:  # written in order: what came before this urgent line first
                    pipeline.current().sink.write_lines(lines)
                    lines = []
                pipeline.current().sink.write(line, True)
            except Exception as exc:
                record_internal_error(exc)
        if lines:
            try:
                pipeline.current().sink.write_lines(lines)
            except Exception as exc:
                record_internal_error(exc)
        try:
            monitor.observe_many(counted, sessions)
        except Exception as exc:
            record_internal_error(exc)
        if seen and users is not None:
            try:
                users.seen(seen)
            except Exception as exc:
                record_internal_error(exc)


# bellwatch's own endpoints: ``quiet`` when instrument() made them so.
_OWN = frozenset({MetricsEndpoint, HealthEndpoint, DashboardEndpoint})


def _warn_rejected(header: bytes) -> None:
    # Names the header, never echoes the raw value (it may be an injection attempt).
    pipeline.current().emit("warning", {F.EVENT: Ev.CID_INVALID, F.CHECK: header.decode("latin-1")})


def _request_route() -> str | None:
    """The route template of the request being handled (for errors logged during it)."""
    held = current_scope()
    if held is None:
        return None
    scope, root_path = held
    return route_template(scope, root_path) if scope.get("route") is not None else None


def _record_error(exc: BaseException, path: str, status: int | None) -> None:
    """Hand an unhandled exception to the error aggregator."""
    runtime.aggregator().record(exc, endpoint=path, status=status, handled=False)
