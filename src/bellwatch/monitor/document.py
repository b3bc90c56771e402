"""The ``/metrics`` document: the guide's JSON shape, and Prometheus text.

Pure functions of a :class:`~bellwatch.store.Snapshot` (and the error and business
sections): the ASGI endpoint (:mod:`bellwatch.asgi.endpoints`) serves them, the
dashboard draws them.

Two scopes never share a series. The JSON's top level is the cluster's numbers
(with the in-memory store: this process's), and ``process`` this process's own
plus bellwatch's health counters. In Prometheus text every sample carries
``scope="cluster"`` or ``scope="process"`` (with ``worker="<host>:<pid>"``): a
scraper that reaches a different worker each time still sees each series only
grow, where one name for both read 8841 -> 40001 -> 10294 (counter resets).
Cluster samples appear only while a cluster copy exists: absent, never replaced
by one worker's numbers.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..schema import Sev
from ..store.base import EndpointStats, Snapshot
from ..verdict import verdict

__all__ = ["metrics_document", "prometheus_text"]


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
    slow_threshold: float | None = None,
    process: dict[str, Any] | None = None,
    stale: bool | None = None,
    websockets: dict[str, Any] | None = None,
    users: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``/metrics`` JSON: the guide's shape plus ``window``, ``endpoints``, ``business``
    and ``websockets`` (connections, counted apart from requests, this process's), and
    ``users`` (distinct users, and who errors hurt: ``Runtime.users_section``).

    ``status`` is :func:`bellwatch.verdict.verdict` of the rolling window's 5xx rate
    and p95, and of the last ``/health``. With a shared store, ``snapshot`` is the
    cluster's and ``local`` this process's own, shown under ``process`` together with
    ``process`` (its worker id, bellwatch's own counters: lines dropped, store
    overflow, alert deliveries).
    ``stale`` (a shared store only) says whether the cluster's numbers could not be had,
    so ``snapshot`` is this process's own.
    """
    recent = snapshot.totals(windowed=True)
    window_rate = _pct(recent.errors, recent.count)
    window_p95 = round(recent.quantile(0.95), 3)
    doc: dict[str, Any] = {
        "status": verdict(window_rate, window_p95, slow_threshold, checks_ok=health_ok),
        "performance": _performance(snapshot),
        "errors": errors,
        "window": {
            "seconds": snapshot.window_seconds,
            "total_requests": recent.count,
            "avg_response_time": round(recent.avg, 3),
            "error_rate": window_rate,
            "client_error_rate": _pct(recent.client_errors, recent.count),
            "slow_requests": recent.slow,
            "p95": window_p95,
        },
        "endpoints": {
            path: _endpoint(stats, snapshot.window.get(path))
            for path, stats in sorted(snapshot.endpoints.items())
        },
        "business": business if business is not None else {"counters": {}, "ratios": {}},
        "websockets": websockets if websockets is not None else {},
        "users": users if users is not None else {"counted": False, "reason": None},
        "source": snapshot.source,
        "uptime_seconds": round(max(0.0, time.time() - snapshot.started), 1),
    }
    mine: dict[str, Any] = dict(process or {})
    if local is not None or process is not None:
        mine["performance"] = _performance(local if local is not None else snapshot)
        doc["process"] = mine
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


def prometheus_text(
    snapshot: Snapshot,
    errors: dict[str, Any] | None,
    *,
    local: Snapshot | None = None,
    worker: str = "",
    process: dict[str, Any] | None = None,
    errors_scope: str = "process",
    users: dict[str, Any] | None = None,
) -> str:
    """The numbers as Prometheus text (``prometheus_client``'s parser accepts it).

    ``snapshot`` is the cluster's when its ``source`` is ``"cluster"`` (then
    ``local`` is this process's own), else this process's. ``process`` adds
    bellwatch's own counters (``/metrics``' ``process`` section); ``errors_scope``
    says whose numbers ``errors`` holds (``None``: no error samples). ``users`` is the
    ``users`` section: its top level under ``scope="cluster"`` when its ``source`` is
    ``cluster`` (and ``process`` under this worker's labels), else under the worker's.
    """
    scopes: list[tuple[dict[str, str], Snapshot]] = []
    mine = {"scope": "process", "worker": worker}
    if snapshot.source == "cluster":
        scopes.append(({"scope": "cluster"}, snapshot))
        if local is not None:
            scopes.append((mine, local))
    else:
        scopes.append((mine, snapshot))
    out = _Text()
    _requests(out, scopes)
    if errors is not None:
        _errors(out, errors, {"scope": "cluster"} if errors_scope == "cluster" else mine)
    out.family("bellwatch_business_total", "counter", "Business counters the app records.")
    for labels, snap in scopes:
        for counter, value in sorted(snap.counters.items()):
            out.sample("bellwatch_business_total", value, name=counter, **labels)
    if users is not None and users.get("counted"):
        _users(out, users, mine)
    if process is not None:
        _own(out, process, mine)
    return "\n".join(out.lines) + "\n"


def _users(out: _Text, users: dict[str, Any], mine: dict[str, str]) -> None:
    """Distinct users (HyperLogLog estimates), cluster-wide and this process's."""
    scopes = [(mine, users)]
    if users.get("source") == "cluster":
        scopes = [({"scope": "cluster"}, users), (mine, users.get("process") or {})]
    out.family("bellwatch_active_users", "gauge", "Distinct users seen within the window.")
    for labels, numbers in scopes:
        for window, n in (numbers.get("active") or {}).items():
            out.sample("bellwatch_active_users", n, window=window, **labels)
    for name, key, text in (
        ("bellwatch_new_users", "new_24h", "Users of the last 24 h not seen in the 24 h before."),
        ("bellwatch_returning_users", "returning_24h", "Users of the last 24 h seen before too."),
    ):
        out.family(name, "gauge", text)
        for labels, numbers in scopes:
            if key in numbers:
                out.sample(name, numbers[key], **labels)


def _errors(out: _Text, errors: dict[str, Any], labels: dict[str, str]) -> None:
    out.family("bellwatch_errors_unique", "gauge", "Distinct error fingerprints tracked.")
    out.sample("bellwatch_errors_unique", int(errors.get("total_unique_errors", 0)), **labels)
    out.family("bellwatch_errors_total", "counter", "Error occurrences, by severity.")
    by_sev = errors.get("by_severity") or {}
    for sev in Sev.ORDER:
        out.sample("bellwatch_errors_total", int(by_sev.get(sev, 0)), severity=sev, **labels)


def _requests(out: _Text, scopes: list[tuple[dict[str, str], Snapshot]]) -> None:
    eps = [(labels, sorted(snap.endpoints.items())) for labels, snap in scopes]
    out.family("bellwatch_requests_total", "counter", "Requests finished, by route template.")
    for labels, items in eps:
        for path, s in items:
            out.sample("bellwatch_requests_total", s.count, path=path, **labels)
    out.family("bellwatch_request_errors_total", "counter", "Responses by error class.")
    for labels, items in eps:
        for path, s in items:
            for cls, n in (("5xx", s.errors), ("4xx", s.client_errors)):
                out.sample("bellwatch_request_errors_total", n, path=path, **labels,
                           **{"class": cls})  # fmt: skip
    out.family("bellwatch_slow_requests_total", "counter", "Requests over the slow threshold.")
    for labels, items in eps:
        for path, s in items:
            out.sample("bellwatch_slow_requests_total", s.slow, path=path, **labels)
    name = "bellwatch_request_duration_seconds"
    out.family(name, "summary", "Request duration (DDSketch, 1% relative accuracy).")
    for labels, items in eps:
        for path, s in items:
            for q in (0.5, 0.95, 0.99):
                out.sample(name, round(s.quantile(q), 6), path=path, quantile=str(q), **labels)
            out.sample(f"{name}_sum", round(s.total, 6), path=path, **labels)
            out.sample(f"{name}_count", s.count, path=path, **labels)
    out.family("bellwatch_active_sessions", "gauge", "Distinct sessions seen recently.")
    for labels, snap in scopes:
        out.sample("bellwatch_active_sessions", snap.active_sessions, **labels)


def _own(out: _Text, process: dict[str, Any], mine: dict[str, str]) -> None:
    """bellwatch's own counters: lines, drops (EMF's too), store overflow, alert deliveries."""
    own = process.get("bellwatch") or {}
    out.family("bellwatch_log_lines_total", "counter", "Lines written, and dropped by target.")
    out.sample("bellwatch_log_lines_total", own.get("lines_written", 0), outcome="written", **mine)
    for target in ("stdout", "file"):
        out.sample("bellwatch_log_lines_total", own.get(f"{target}_dropped", 0),
                   outcome="dropped", target=target, **mine)  # fmt: skip
    help_text = "EMF lines standard output did not take (in the stdout drops too)."
    out.family("bellwatch_emf_lines_dropped_total", "counter", help_text)
    out.sample("bellwatch_emf_lines_dropped_total", own.get("emf_dropped", 0), **mine)
    out.family("bellwatch_internal_errors_total", "counter", "bellwatch's own failures.")
    out.sample("bellwatch_internal_errors_total", own.get("internal_errors", 0), **mine)
    stores = process.get("stores") or {}
    help_text = "Updates past buffer_max while the shared store was down (not in cluster totals)."
    out.family("bellwatch_store_overflow_total", "counter", help_text)
    for store, state in sorted(stores.items()):
        out.sample("bellwatch_store_overflow_total", state.get("overflowed", 0), store=store,
                   **mine)  # fmt: skip
    alerts = process.get("alerts") or {}
    out.family("bellwatch_alerts_total", "counter", "Alerts by channel and outcome.")
    for channel, counts in sorted((alerts.get("channels") or {}).items()):
        for outcome in ("sent", "failed", "dropped"):
            out.sample("bellwatch_alerts_total", counts.get(outcome, 0), channel=channel,
                       outcome=outcome, **mine)  # fmt: skip
    out.sample("bellwatch_alerts_total", alerts.get("limited", 0), channel="all",
               outcome="limited", **mine)  # fmt: skip
