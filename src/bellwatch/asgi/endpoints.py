"""Tiny ASGI apps: ``GET /metrics`` (JSON or Prometheus text) and ``GET /health``.

They need no framework; :func:`bellwatch.instrument` mounts them on a
Starlette/FastAPI app, and any ASGI server can route to them directly. What they
serve comes from the runtime (:mod:`bellwatch._runtime`): the monitor's numbers, the
error aggregator's patterns and the registered health checks.
"""

from __future__ import annotations

import asyncio

import orjson

from .._runtime import runtime
from ..monitor.monitor import Monitor
from ._auth import authorize, failures
from ._scope import ASGIApp, Receive, Scope, Send
from .dashboard import DashboardEndpoint

__all__ = ["HealthEndpoint", "MetricsEndpoint", "routes"]

_JSON = b"application/json"
_PROM = b"text/plain; version=0.0.4; charset=utf-8"


async def _respond(
    send: Send, status: int, body: bytes, content_type: bytes, head: bool = False, **extra: bytes
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers += [(k.replace("_", "-").encode(), v) for k, v in extra.items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return b""


class MetricsEndpoint:
    """ASGI app for ``GET /metrics``: JSON, or Prometheus text on ``Accept: text/plain``
    or ``?format=prometheus``.

    Args:
        monitor: whose numbers to serve; the process-wide monitor by default.
        token: when set (setting ``metrics_token``), requests need
            ``Authorization: Bearer <token>`` (compared in constant time) or the
            dashboard's session cookie; a refusal is counted and logged
            (:mod:`bellwatch.asgi._auth`).
    """

    quiet = False  # instrument() sets it: the middleware neither logs nor counts it

    def __init__(
        self, monitor: Monitor | None = None, token: str | None = None, path: str = "/metrics"
    ) -> None:
        self.path = path
        self._monitor = monitor
        self._given = token

    @property
    def _token(self) -> bytes:
        # Read per request: instrument(app) may run before configure(metrics_token=...),
        # and a token fixed at construction would leave the endpoint open.
        return (self._given or runtime.settings.metrics_token or "").encode()

    def _allowed(self, scope: Scope) -> bool:
        token = self._token
        if not token:
            return True
        ok, why = authorize(scope, token, runtime.settings.dashboard_session_ttl)
        if not ok:
            failures.record(self.path, why)
        return ok

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Name our route for the middleware: FastAPI sets scope["route"] only for its own
        # APIRoutes, not for plain ASGI routes like this one.
        scope.setdefault("route", self)
        head = scope.get("method") == "HEAD"
        if not self._allowed(scope):
            await _respond(send, 401, b'{"error":"unauthorized"}', _JSON, head,
                           www_authenticate=b"Bearer")  # fmt: skip
            return
        monitor = self._monitor or runtime.monitor()
        fresh = True
        if runtime.shared:  # cluster numbers read now: no scrape sees them go back
            fresh = await asyncio.to_thread(runtime.refresh)
        query = scope.get("query_string", b"")
        if b"format=prometheus" in query or b"text/plain" in _header(scope, b"accept"):
            body = runtime.prometheus(monitor, cluster=fresh).encode()
            await _respond(send, 200, body, _PROM, head)
            return
        doc = runtime.metrics(monitor)
        if b"series=1" in query:  # the dashboard's charts (bellwatch.asgi.dashboard)
            doc["series"] = runtime.series()
        await _respond(send, 200, orjson.dumps(doc), _JSON, head)


class HealthEndpoint:
    """ASGI app for ``GET /health``: 200 when every registered check passes, else 503.

    Body: ``{"status": "ok"|"fail", "verdict": ..., "checks": {name: {"ok", "ms", "error"?}}}``:
    ``verdict`` is the one health word (:mod:`bellwatch.verdict`) of the rolling window,
    which never fails the probe by itself. With Redis it is the cluster's, read afresh as
    ``/metrics`` reads it: a worker's own copy may be a minute old, or, before its first
    read, only its own numbers. With no checks registered it is a plain liveness probe.
    """

    quiet = False  # instrument() sets it: the middleware neither logs nor counts it

    def __init__(self, path: str = "/health") -> None:
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope.setdefault("route", self)
        ok, by_name = await runtime.checks.run()
        if runtime.shared:  # the verdict of the numbers /metrics shows, not a stale copy
            await asyncio.to_thread(runtime.refresh)
        body = orjson.dumps(
            {"status": "ok" if ok else "fail", "verdict": runtime.verdict(), "checks": by_name}
        )
        await _respond(send, 200 if ok else 503, body, _JSON, scope.get("method") == "HEAD")


def routes(
    *,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    monitor: Monitor | None = None,
    dashboard_path: str | None = "/dashboard",
    quiet: bool = False,
) -> list[tuple[str, ASGIApp]]:
    """``(path, app)`` pairs to mount; ``None`` leaves a route out.

    The dashboard (:mod:`bellwatch.asgi.dashboard`) reads ``metrics_path``, so it is
    mounted only with it. ``quiet`` ones are neither logged nor counted by any
    :class:`~bellwatch.asgi.middleware.BellwatchMiddleware` (also one of an app they
    are mounted in).
    """
    endpoints: list[tuple[str, MetricsEndpoint | DashboardEndpoint | HealthEndpoint]] = []
    if metrics_path:
        endpoints.append((metrics_path, MetricsEndpoint(monitor, path=metrics_path)))
        if dashboard_path:
            page = DashboardEndpoint(monitor, metrics_path=metrics_path, path=dashboard_path)
            endpoints.append((dashboard_path, page))
    if health_path:
        endpoints.append((health_path, HealthEndpoint(health_path)))
    for _, endpoint in endpoints:
        endpoint.quiet = quiet
    return list(endpoints)
