"""Pure-ASGI request monitoring: correlation id in and out, one line and one count per request.

The per-request path is lean on purpose: one scan of the header list, a ready-cut
random id, one ContextVar set, a wrapped ``send`` that adds one header, the route
template read from ``scope["route"]`` after the call (no second route match, no
Request/Response objects), one monitor update, and the request line with the
same steps, redaction and budget as any logger call (no structlog or stdlib hop).
Finishing (counts and line) is queued and done in batches when the line would
wait for the log file's buffer anyway (see :mod:`bellwatch._batch`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from time import perf_counter, time, time_ns
from typing import Any

from .. import _settings as _config
from .._guard import record_internal_error
from ..log import pipeline
from ..log.context import _EMPTY, _Bound, _ctx, new_id, valid_id
from ..log.context import _pool as _ids
from ..log.deferred import BATCH, drain
from ..log.deferred import pending as _queued
from ..monitor.monitor import Monitor, SessionKey, bound_session, get_monitor
from ..schema import Ev, F
from ..store.base import UNMATCHED
from ._request_line import RequestLine
from ._scope import (
    EXTRACT,
    ASGIApp,
    Message,
    Receive,
    Scope,
    Send,
    is_form,
    keeping_body,
    route_template,
)

__all__ = ["BellwatchMiddleware", "instrument"]

_500_BODY = b"Internal Server Error"


class BellwatchMiddleware:
    """Correlation ids, one ``request_complete`` line and monitor counts per HTTP request.

    Works with any ASGI app; :func:`instrument` adds it to a Starlette/FastAPI app
    outermost, together with ``/metrics`` and ``/health``. Non-HTTP scopes pass
    straight through.

    Args:
        app: the ASGI app to wrap.
        monitor: where requests are counted; the process-wide one by default.
        session_key: extractor for active sessions (:mod:`bellwatch.monitor`).
        quiet_paths: route templates that are neither logged nor counted (the
            load balancer's health checks would otherwise fill the logs).
        route_of: for apps that are not Starlette-based, a function of the scope
            returning the route template (or ``None`` for unmatched).
        **settings: overrides of ``slow_threshold``, ``cid_headers``,
            ``cid_response_header``, ``cid_max_length``, ``cid_bytes`` (else the
            configured pipeline's settings).
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
        base = pipeline.current().settings
        if settings:
            merged = {f.name: getattr(base, f.name) for f in dataclasses.fields(base)}
            merged.update(settings)
            base = _config.resolve({}, **merged)
        self.settings = base
        self.monitor = monitor if monitor is not None else get_monitor()
        if "slow_threshold" in settings:
            self.monitor.slow_threshold = base.slow_threshold
        self.session_key = session_key
        self._custom_session = session_key is not bound_session
        self.quiet = frozenset(quiet_paths)
        self.route_of = route_of
        self._rank = {name.encode("latin-1"): i for i, name in enumerate(base.cid_headers)}
        self._out_header = base.cid_response_header.lower().encode("latin-1")
        self._max_len = base.cid_max_length
        self._nbytes = base.cid_bytes
        self._needs_body = session_key.needs_body
        self._line = RequestLine()
        if base.emf:
            from ..monitor.emf import enable_emf

            enable_emf(self.monitor, base)

    def _correlation_id(self, headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, bytes | None]:
        """The inbound id by configured header order, or a fresh one.

        Returns the id and, when an inbound value was rejected, the header name.
        """
        best: bytes | None = None
        best_name = b""
        best_rank = len(self._rank)
        rank_of = self._rank
        for name, value in headers:
            rank = rank_of.get(name)
            if rank is not None and rank < best_rank:
                best, best_name, best_rank = value, name, rank
        if best is None:
            return new_id(self._nbytes), None
        text = best.decode("latin-1").strip()
        extract = EXTRACT.get(best_name)
        if extract is not None:
            text = extract(text)
        if valid_id(text, self._max_len):
            return text, None
        return new_id(self._nbytes), best_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = perf_counter()
        headers = scope.get("headers", ())
        rank_of = self._rank
        for name, _ in headers:
            if name in rank_of:
                cid, rejected = self._correlation_id(headers)
                break
        else:  # no inbound id: the common case, no call for it
            cid, rejected = _ids.take(self._nbytes), None
        collected: dict[str, Any] = {}
        token = _ctx.set(_Bound(cid, _EMPTY, collected))
        root_path = scope.get("root_path", "")
        out_header = (self._out_header, cid.encode("latin-1"))
        status = 0
        end = 0.0
        body: list[bytes] | None = None
        if rejected is not None:
            _warn_rejected(rejected)

        async def send_with_id(message: Message) -> None:
            nonlocal status, end
            kind = message["type"]
            if kind == "http.response.start":
                status = message["status"]
                # A copy: an app may send the same module-level dict every time.
                message = {**message, "headers": [*message.get("headers", ()), out_header]}
            elif kind == "http.response.body" and not message.get("more_body", False):
                end = perf_counter()
            await send(message)

        app_receive = receive
        if self._needs_body and is_form(scope):
            body = []
            app_receive = keeping_body(receive, body)

        error: BaseException | None = None
        try:
            await self.app(scope, app_receive, send_with_id)
        except Exception as exc:
            error = exc
            if status == 0:
                # Nothing was sent: answer 500 ourselves so the response still carries
                # the id, then re-raise to the server as Starlette does.
                await _send_500(send_with_id)
            raise
        except BaseException:
            # Cancelled (client went away) or the process is exiting: no response.
            if status == 0:
                status = 499
            raise
        finally:
            self._finish(
                scope,
                root_path,
                status,
                (end or perf_counter()) - start,
                collected,
                body,
                cid,
                _ctx.get().fields,
                error,
            )
            _ctx.reset(token)

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
            if self.route_of is not None:
                path = self.route_of(scope) or UNMATCHED
            else:
                path = route_template(scope, root_path)
            if error is not None:
                _record_error(error, path, status or 500)
            if path in self.quiet:
                return
            key = (
                self.session_key(scope, fields, b"".join(body) if body else None)
                if fields or self._custom_session
                else None  # the default extractor reads bound fields only
            )
            monitor = self.monitor
            ns = time_ns()
            now = ns / 1e9 if monitor.clock is time else monitor.clock()
            # A copy: a task that outlives the request may still bind into the original.
            late = dict(fields) if fields else _EMPTY
            item = (self, path, scope.get("method", ""), status, duration, late, key, cid, bound,
                    now, ns)  # fmt: skip
            if (
                error is None
                and status < 500
                and duration <= monitor.slow_threshold
                and self._line.batching()
            ):
                _queued.append(item)
                if len(_queued) >= BATCH:
                    drain()
                return
            drain()  # earlier requests first: lines and counts stay in order
            self.finish_queued([item])
        except Exception as exc:
            record_internal_error(exc)

    def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
        """Count and log requests, now or from :mod:`bellwatch._batch`; never raises.

        The INFO lines of a batch go to the sink together: one append to the file.
        """
        observe = self.monitor.observe
        loggable = self.session_key.loggable
        line_of = self._line.line
        lines: list[bytes] = []
        for _, path, method, status, duration, fields, key, cid, bound, now, ns in items:
            try:
                slow = observe(path, status, duration, key, now)
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


def _warn_rejected(header: bytes) -> None:
    # Names the header, never echoes the raw value (it may be an injection attempt).
    pipeline.current().emit("warning", {F.EVENT: Ev.CID_INVALID, F.CHECK: header.decode("latin-1")})


async def _send_500(send: Send) -> None:
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


def _record_error(exc: BaseException, path: str, status: int) -> None:
    """Hand an unhandled exception to the error aggregator, or log it plainly without one."""
    try:
        from ..errors.aggregator import get_aggregator
    except ImportError:
        pipeline.current().emit("error", {F.EVENT: Ev.ERROR, F.PATH: path, "exc_info": exc})
        return
    get_aggregator().record(exc, endpoint=path, status=status, handled=False)


def instrument(
    app: Any,
    *,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    log_own_routes: bool = False,
    **options: Any,
) -> Any:
    """Add request monitoring, ``/metrics`` and ``/health`` to a Starlette or FastAPI app.

    The middleware goes *outermost*, around Starlette's ``ServerErrorMiddleware``,
    so a 500 produced by an exception handler still carries the correlation id in
    its header and its line. ``options`` go to :class:`BellwatchMiddleware`.
    Returns ``app``.

    Example::

        app = FastAPI()
        bellwatch.instrument(app)
    """
    from .endpoints import routes

    if getattr(app, "_bellwatch_instrumented", False):
        return app  # a second call would log every request twice
    own = routes(metrics_path=metrics_path, health_path=health_path)
    if not log_own_routes:
        options["quiet_paths"] = (*options.get("quiet_paths", ()), *(path for path, _ in own))
    middleware = BellwatchMiddleware(_Deferred(app), **options)
    _add_routes(app, own)
    build = app.build_middleware_stack

    def build_with_bellwatch() -> ASGIApp:
        middleware.app = build()
        return middleware

    app.build_middleware_stack = build_with_bellwatch
    app._bellwatch_instrumented = True
    app.middleware_stack = None  # rebuilt on the next request, now with us outermost
    return app


class _Deferred:
    """Placeholder app until Starlette builds its middleware stack."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _add_routes(app: Any, own: list[tuple[str, ASGIApp]]) -> None:
    from starlette.routing import Route

    for path, endpoint in own:
        app.router.routes.append(
            Route(path, endpoint, methods=["GET", "HEAD"], include_in_schema=False)
        )
