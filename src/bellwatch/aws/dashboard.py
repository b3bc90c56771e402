"""The CloudWatch dashboard body: traffic, latency, errors, resources and top errors.

Metrics come from the load balancer and ECS when their names are known, and from
the metric filters on the logs otherwise, so the dashboard is useful either way.
Load-balancer series are this service's target group (``TargetGroup`` +
``LoadBalancer``) when it is known, so other services on a shared ALB stay out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bellwatch.query.saved import by_name

__all__ = ["DashboardTargets", "dashboard_body", "top_errors_query"]


def top_errors_query() -> str:
    """The Logs Insights text of the top-errors widget.

    It is the CLI's saved ``top-errors`` query, so the dashboard and
    ``bellwatch insights`` answer the same question with the same text.
    """
    return by_name("top-errors").query


@dataclass(frozen=True, slots=True)
class DashboardTargets:
    """Names the widgets read; ``metrics`` maps metric-filter keys to metric names (empty
    when the log group takes no filters: then only ALB and ECS series are drawn)."""

    region: str
    log_group: str
    namespace: str
    metrics: dict[str, str]
    cluster: str | None = None
    service: str | None = None
    load_balancer: str | None = None
    target_group: str | None = None


def _metric(
    t: DashboardTargets, title: str, metrics: list[list[Any]], *, x: int, y: int, stat: str
) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": t.region,
            "metrics": metrics,
            "stat": stat,
            "period": 60,
            "view": "timeSeries",
        },
    }


def dashboard_body(t: DashboardTargets) -> dict[str, Any]:
    """The dashboard JSON (``put_dashboard``'s ``DashboardBody`` once serialised)."""
    ns, m = t.namespace, t.metrics
    alb = ["AWS/ApplicationELB"]
    lb = ["LoadBalancer", t.load_balancer] if t.load_balancer else []
    tg = ["TargetGroup", t.target_group, *lb] if t.target_group and lb else lb
    logs = bool(m)
    requests: list[list[Any]] = [[ns, m["requests"], {"label": "requests (logs)"}]] if logs else []
    latency: list[list[Any]] = [[ns, m["latency"], {"label": "p95 (logs)"}]] if logs else []
    five_xx: list[list[Any]] = [[ns, m["server_errors"], {"label": "5xx (logs)"}]] if logs else []
    if lb:
        requests.insert(0, [*alb, "RequestCount", *tg, {"label": "requests (ALB)"}])
        latency.insert(0, [*alb, "TargetResponseTime", *tg, {"label": "p95 (ALB)"}])
        five_xx.insert(0, [*alb, "HTTPCode_Target_5XX_Count", *tg, {"label": "5xx (service)"}])
        # Published per load balancer only: answers of the ALB itself (tasks down or hung).
        five_xx.insert(1, [*alb, "HTTPCode_ELB_5XX_Count", *lb, {"label": "5xx (ALB itself)"}])
    widgets = []
    if requests:
        widgets.append(_metric(t, "Requests", requests, x=0, y=0, stat="Sum"))
        widgets.append(_metric(t, "Latency p95 (s)", latency, x=12, y=0, stat="p95"))
    if logs:
        error_rate: list[list[Any]] = [
            # 5xx share of requests, as the saved ``error-rate`` query computes it locally.
            [{"expression": "100 * errors / requests", "label": "5xx % of requests", "id": "rate"}],
            [ns, m["server_errors"], {"id": "errors", "visible": False}],
            [ns, m["requests"], {"id": "requests", "visible": False}],
        ]
        widgets.append(_metric(t, "Error rate (%)", error_rate, x=0, y=6, stat="Sum"))
    if five_xx:
        widgets.append(_metric(t, "5xx responses", five_xx, x=12, y=6, stat="Sum"))
    if t.cluster and t.service:
        ecs = ["AWS/ECS", "CPUUtilization", "ClusterName", t.cluster, "ServiceName", t.service]
        mem = [*ecs[:1], "MemoryUtilization", *ecs[2:]]
        widgets.append(_metric(t, "CPU and memory (%)", [ecs, mem], x=0, y=12, stat="Average"))
    if t.target_group and lb:
        hosts = [
            [*alb, "HealthyHostCount", *tg, {"label": "healthy"}],
            [*alb, "UnHealthyHostCount", *tg, {"label": "unhealthy", "stat": "Maximum"}],
        ]
        widgets.append(_metric(t, "Targets", hosts, x=12, y=12, stat="Minimum"))
    widgets.append(
        {
            "type": "log",
            "x": 0,
            "y": 18,
            "width": 24,
            "height": 6,
            "properties": {
                "title": "Top errors",
                "region": t.region,
                "query": f"SOURCE '{t.log_group}' | {top_errors_query()}",
                "view": "table",
            },
        }
    )
    return {"widgets": widgets}
