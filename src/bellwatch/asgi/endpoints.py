"""Tiny ASGI apps: ``GET /metrics`` (JSON or Prometheus text) and ``GET /health``.

They need no framework; :func:`bellwatch.instrument` mounts them on a
Starlette/FastAPI app, and any ASGI server can route to them directly.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import math
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from .._guard import record_internal_error
from ..log import pipeline
from ..monitor import business as metrics
from ..monitor.monitor import Monitor, get_monitor
from ..schema import Ev, F, Sev
from ..store.base import EndpointStats, Snapshot

__all__ = [
    "HealthEndpoint",
    "MetricsEndpoint",
    "clear_checks",
    "errors_section",
    "metrics_document",
    "prometheus_text",
    "register_check",
    "routes",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# "degraded" when the rolling window's 5xx rate reaches this many percent.
DEGRADED_ERROR_RATE = 5.0

_JSON = b"application/json"
_PROM = b"text/plain; version=0.0.4; charset=utf-8"


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def _endpoint(stats: EndpointStats, recent: EndpointStats | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "count": stats.count,
        "errors": stats.errors,
        "client_errors": stats.client_errors,
        "slow": stats.slow,
        "avg": round(stats.avg, 3),
        "p50": round(stats.quantile(0.5), 3),
        "p95": round(stats.quantile(0.95), 3),
        "p99": round(stats.quantile(0.99), 3),
    }
    if recent is not None:
        out["window"] = {
            "count": recent.count,
            "errors": recent.errors,
            "avg": round(recent.avg, 3),
            "p95": round(recent.quantile(0.95), 3),
        }
    return out


def _performance(snapshot: Snapshot) -> dict[str, Any]:
    total = snapshot.totals()
    return {
        "active_sessions": snapshot.active_sessions,
        "total_requests": total.count,
        "avg_response_time": round(total.avg, 3),
        "error_rate": _pct(total.errors, total.count),
        "slow_requests": total.slow,
    }


def errors_section() -> dict[str, Any]:
    """The error aggregator's stats, or an empty section while it is absent."""
    empty: dict[str, Any] = {
        "total_unique_errors": 0,
        "total_error_count": 0,
        "by_severity": {},
        "top_errors": [],
    }
    try:
        from ..errors.aggregator import get_aggregator
    except ImportError:
        return empty
    try:
        stats = get_aggregator().stats()
    except Exception as exc:
        record_internal_error(exc)
        return empty
    return dict(stats) if isinstance(stats, dict) else empty


def metrics_document(
    snapshot: Snapshot,
    errors: dict[str, Any],
    *,
    local: Snapshot | None = None,
    health_ok: bool = True,
) -> dict[str, Any]:
    """The ``/metrics`` JSON: the guide's shape plus ``window``, ``endpoints``, ``business``.

    ``status`` is ``unhealthy`` when the last ``/health`` failed, ``degraded`` when
    the rolling window's 5xx rate is at least 5 %, else ``healthy``. With a shared
    store, ``snapshot`` is the cluster's and ``local`` this process's own, shown
    under ``process``.
    """
    recent = snapshot.totals(windowed=True)
    window_rate = _pct(recent.errors, recent.count)
    if not health_ok:
        status = "unhealthy"
    elif window_rate >= DEGRADED_ERROR_RATE:
        status = "degraded"
    else:
        status = "healthy"
    doc: dict[str, Any] = {
        "status": status,
        "performance": _performance(snapshot),
        "errors": errors,
        "window": {
            "seconds": snapshot.window_seconds,
            "total_requests": recent.count,
            "avg_response_time": round(recent.avg, 3),
            "error_rate": window_rate,
            "client_error_rate": _pct(recent.client_errors, recent.count),
            "slow_requests": recent.slow,
            "p95": round(recent.quantile(0.95), 3),
        },
        "endpoints": {
            path: _endpoint(stats, snapshot.window.get(path))
            for path, stats in sorted(snapshot.endpoints.items())
        },
        "business": metrics.section(snapshot.counters),
        "source": snapshot.source,
        "uptime_seconds": round(max(0.0, time.time() - snapshot.started), 1),
    }
    if local is not None:
        doc["process"] = {"performance": _performance(local)}
    return doc


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN"
    return repr(value) if isinstance(value, float) else str(value)


class _Text:
    """Builds Prometheus text exposition 0.0.4, one metric family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def sample(self, metric: str, value: float, **labels: str) -> None:
        if labels:
            inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
            self.lines.append(f"{metric}{{{inner}}} {_num(value)}")
        else:
            self.lines.append(f"{metric} {_num(value)}")


def prometheus_text(snapshot: Snapshot, errors: dict[str, Any]) -> str:
    """The snapshot as Prometheus text (``prometheus_client``'s parser accepts it)."""
    out = _Text()
    eps = sorted(snapshot.endpoints.items())
    out.family("bellwatch_requests_total", "counter", "Requests finished, by route template.")
    for path, s in eps:
        out.sample("bellwatch_requests_total", s.count, path=path)
    out.family("bellwatch_request_errors_total", "counter", "Responses by error class.")
    for path, s in eps:
        out.sample("bellwatch_request_errors_total", s.errors, path=path, **{"class": "5xx"})
        out.sample("bellwatch_request_errors_total", s.client_errors, path=path, **{"class": "4xx"})
    out.family("bellwatch_slow_requests_total", "counter", "Requests over the slow threshold.")
    for path, s in eps:
        out.sample("bellwatch_slow_requests_total", s.slow, path=path)
    name = "bellwatch_request_duration_seconds"
    out.family(name, "summary", "Request duration (DDSketch, 1% relative accuracy).")
    for path, s in eps:
        for q in (0.5, 0.95, 0.99):
            out.sample(name, round(s.quantile(q), 6), path=path, quantile=str(q))
        out.sample(f"{name}_sum", round(s.total, 6), path=path)
        out.sample(f"{name}_count", s.count, path=path)
    out.family("bellwatch_active_sessions", "gauge", "Distinct sessions seen recently.")
    out.sample("bellwatch_active_sessions", snapshot.active_sessions)
    out.family("bellwatch_errors_unique", "gauge", "Distinct error fingerprints tracked.")
    out.sample("bellwatch_errors_unique", int(errors.get("total_unique_errors", 0)))
    out.family("bellwatch_errors_total", "counter", "Error occurrences, by severity.")
    by_sev = errors.get("by_severity") or {}
    for sev in Sev.ORDER:
        out.sample("bellwatch_errors_total", int(by_sev.get(sev, 0)), severity=sev)
    out.family("bellwatch_business_total", "counter", "Business counters the app records.")
    for counter, value in sorted(snapshot.counters.items()):
        out.sample("bellwatch_business_total", value, name=counter)
    return "\n".join(out.lines) + "\n"


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
            ``Authorization: Bearer <token>``; compared in constant time.
    """

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
        return (self._given or pipeline.current().settings.metrics_token or "").encode()

    def _allowed(self, scope: Scope) -> bool:
        if not self._token:
            return True
        given = _header(scope, b"authorization")
        scheme, _, value = given.partition(b" ")
        if scheme.lower() == b"bearer" and hmac.compare_digest(value.strip(), self._token):
            return True
        from .dashboard import cookie_ok

        return cookie_ok(scope, self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Name our route for the middleware: FastAPI sets scope["route"] only for its own
        # APIRoutes, not for plain ASGI routes like this one.
        scope.setdefault("route", self)
        head = scope.get("method") == "HEAD"
        if not self._allowed(scope):
            await _respond(send, 401, b'{"error":"unauthorized"}', _JSON, head,
                           www_authenticate=b"Bearer")  # fmt: skip
            return
        monitor = self._monitor or get_monitor()
        snapshot = monitor.snapshot()
        errors = errors_section()
        query = scope.get("query_string", b"")
        if b"format=prometheus" in query or b"text/plain" in _header(scope, b"accept"):
            body = prometheus_text(snapshot, errors).encode()
            await _respond(send, 200, body, _PROM, head)
            return
        # A shared store also reports this process's own numbers, shown under "process".
        local_of = getattr(monitor.store, "local_snapshot", None)
        local = local_of(monitor.clock()) if callable(local_of) else None
        doc = metrics_document(snapshot, errors, local=local, health_ok=_last_health_ok)
        if b"series=1" in query:  # the dashboard's charts (bellwatch.dashboard)
            from .dashboard import series_section

            doc["series"] = series_section(monitor)
        await _respond(send, 200, orjson.dumps(doc), _JSON, head)


@dataclass(frozen=True)
class _Check:
    name: str
    fn: Callable[[], Any]
    timeout: float


_checks: dict[str, _Check] = {}
_checks_lock = threading.Lock()
_last_health_ok = True


def register_check(name: str, fn: Callable[[], Any], timeout: float = 2.0) -> None:
    """Add a health check: a sync or async callable; it fails by raising, returning
    ``False``, or taking longer than ``timeout`` seconds."""
    if timeout <= 0:
        raise ValueError("timeout must be positive")
    with _checks_lock:
        _checks[name] = _Check(name, fn, timeout)


def clear_checks() -> None:
    """Forget every registered check (for tests)."""
    global _last_health_ok
    with _checks_lock:
        _checks.clear()
    _last_health_ok = True


async def _run(check: _Check) -> dict[str, Any]:
    start = time.perf_counter()
    error: str | None = None
    state: str | None = None
    try:
        if inspect.iscoroutinefunction(check.fn):
            result = await asyncio.wait_for(check.fn(), check.timeout)
        else:
            # A sync check runs in a thread; on timeout it is abandoned, not killed.
            result = await asyncio.wait_for(asyncio.to_thread(check.fn), check.timeout)
            if inspect.isawaitable(result):
                result = await asyncio.wait_for(result, check.timeout)
        ok = result is not False
        if not ok:
            error = "returned False"
        elif isinstance(result, str):  # a state that does not fail liveness, e.g. "degraded"
            state = result
    except TimeoutError:
        ok, error = False, f"timed out after {check.timeout:g}s"
    except Exception as exc:
        ok, error = False, type(exc).__name__
    out: dict[str, Any] = {"ok": ok, "ms": round((time.perf_counter() - start) * 1000, 1)}
    if state is not None:
        out["state"] = state
    if error is not None:
        out["error"] = error
        pipeline.current().emit(
            "warning", {F.EVENT: Ev.HEALTH_FAILED, F.CHECK: check.name, F.MESSAGE: error}
        )
    return out


class HealthEndpoint:
    """ASGI app for ``GET /health``: 200 when every registered check passes, else 503.

    Body: ``{"status": "ok"|"fail", "checks": {name: {"ok", "ms", "error"?}}}``.
    With no checks registered it is a plain liveness probe.
    """

    def __init__(self, path: str = "/health") -> None:
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        global _last_health_ok
        scope.setdefault("route", self)
        with _checks_lock:
            checks = list(_checks.values())
        results = await asyncio.gather(*(_run(c) for c in checks))
        by_name = {c.name: r for c, r in zip(checks, results, strict=True)}
        ok = all(r["ok"] for r in results)
        _last_health_ok = ok
        body = orjson.dumps({"status": "ok" if ok else "fail", "checks": by_name})
        await _respond(send, 200 if ok else 503, body, _JSON, scope.get("method") == "HEAD")


def routes(
    *,
    metrics_path: str | None = "/metrics",
    health_path: str | None = "/health",
    monitor: Monitor | None = None,
    dashboard_path: str | None = "/dashboard",
) -> list[tuple[str, ASGIApp]]:
    """``(path, app)`` pairs to mount; ``None`` leaves a route out.

    The dashboard (:mod:`bellwatch.dashboard`) reads ``metrics_path``, so it is
    mounted only with it.
    """
    out: list[tuple[str, ASGIApp]] = []
    if metrics_path:
        out.append((metrics_path, MetricsEndpoint(monitor, path=metrics_path)))
        if dashboard_path:
            from .dashboard import DashboardEndpoint

            page = DashboardEndpoint(monitor, metrics_path=metrics_path, path=dashboard_path)
            out.append((dashboard_path, page))
    if health_path:
        out.append((health_path, HealthEndpoint(health_path)))
    return out
