"""The ``/metrics`` document: the guide's JSON shape, and Prometheus text.

Pure functions of a :class:`~bellwatch.store.Snapshot` (and the error and business
sections): the ASGI endpoint (:mod:`bellwatch.asgi.endpoints`) serves them, the
dashboard draws them.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..schema import Sev
from ..store.base import EndpointStats, Snapshot

__all__ = ["DEGRADED_ERROR_RATE", "metrics_document", "prometheus_text"]

# "degraded" when the rolling window's 5xx rate reaches this many percent.
DEGRADED_ERROR_RATE = 5.0


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


def metrics_document(
    snapshot: Snapshot,
    errors: dict[str, Any],
    *,
    business: dict[str, Any] | None = None,
    local: Snapshot | None = None,
    health_ok: bool = True,
    stale: bool | None = None,
    websockets: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``/metrics`` JSON: the guide's shape plus ``window``, ``endpoints``, ``business``
    and ``websockets`` (connections, counted apart from requests, this process's).

    ``status`` is ``unhealthy`` when the last ``/health`` failed, ``degraded`` when
    the rolling window's 5xx rate is at least 5 %, else ``healthy``. With a shared
    store, ``snapshot`` is the cluster's and ``local`` this process's own, shown
    under ``process``, and ``stale`` (a shared store only) says whether the
    cluster's numbers could not be had, so ``snapshot`` is this process's own.
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
        "business": business if business is not None else {"counters": {}, "ratios": {}},
        "websockets": websockets if websockets is not None else {},
        "source": snapshot.source,
        "uptime_seconds": round(max(0.0, time.time() - snapshot.started), 1),
    }
    if local is not None:
        doc["process"] = {"performance": _performance(local)}
    if stale is not None:
        doc["stale"] = stale
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
