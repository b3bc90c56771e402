"""What a log group and its monitoring use, read from CloudWatch (``bellwatch aws cost``).

Everything here is measured: the group's ``IncomingBytes`` and ``IncomingLogEvents``
over the last days (GetMetricData, one sum a day), its stored bytes, retention and
log class (DescribeLogGroups), its metric filters, the custom metrics that received
data in the filters' namespaces and the EMF namespace in the last two weeks
(ListMetrics), and the alarms and dashboards that exist (setup's, with ``stack``;
else every one in the region, and every dashboard of the account). Prices are
applied elsewhere (:func:`bellwatch.cost.bill.aws_bill`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from bellwatch.aws.clients import AwsError, Clients

__all__ = ["AlarmUse", "GroupUsage", "read_usage"]

_DAY_S: Final = 86_400
_METRICS: Final = ("IncomingBytes", "IncomingLogEvents")
_HIGH_RESOLUTION = 60


@dataclass(frozen=True, slots=True)
class AlarmUse:
    """One alarm and what it is billed for."""

    name: str
    kind: str
    """``standard``, ``high_resolution`` (a period under a minute) or ``composite``."""
    metrics: int
    """Alarm metrics billed (a metric-math alarm: each metric it reads; composite: 1)."""


@dataclass(frozen=True, slots=True)
class GroupUsage:
    """A log group and its monitoring, as CloudWatch reports them now."""

    log_group: str
    region: str
    log_class: str
    """``STANDARD`` or ``INFREQUENT_ACCESS`` (``DELIVERY`` groups are not priced here)."""
    retention_days: int | None
    """None: the group's events never expire."""
    stored_bytes: int
    created_ms: int
    start_ms: int
    end_ms: int
    incoming_bytes: float
    incoming_events: float
    metric_filters: tuple[tuple[str, str, str], ...] = ()
    """(filter name, metric namespace, metric name) of each filter on the group."""
    custom_metrics: dict[str, int] = field(default_factory=dict)
    """Namespace -> metrics that received data in the last two weeks."""
    alarms: tuple[AlarmUse, ...] = ()
    dashboards: tuple[str, ...] = ()
    scope: str = ""
    """Which alarms and dashboards were counted: the stack's, or all."""

    @property
    def days(self) -> float:
        """Days of the window the group existed in (what the sums cover)."""
        start = max(self.start_ms, self.created_ms)
        return max(self.end_ms - start, 0) / (_DAY_S * 1000)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, every figure as read."""
        return {
            "log_group": self.log_group,
            "region": self.region,
            "log_class": self.log_class,
            "retention_days": self.retention_days,
            "stored_bytes": self.stored_bytes,
            "created_ms": self.created_ms,
            "window": {
                "start_ms": self.start_ms,
                "end_ms": self.end_ms,
                "days": round(self.days, 4),
            },
            "incoming_bytes": self.incoming_bytes,
            "incoming_events": self.incoming_events,
            "metric_filters": [
                {"name": n, "namespace": ns, "metric": m} for n, ns, m in self.metric_filters
            ],
            "custom_metrics": dict(self.custom_metrics),
            "alarms": [{"name": a.name, "kind": a.kind, "metrics": a.metrics} for a in self.alarms],
            "dashboards": list(self.dashboards),
            "scope": self.scope,
        }


def _group(clients: Clients, name: str) -> dict[str, Any]:
    for page in clients.logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        for group in page.get("logGroups", []):
            if group["logGroupName"] == name:
                return dict(group)
    region = clients.logs.meta.region_name
    raise AwsError(f"log group {name} not found in {region}: check --log-group and --region")


def _sums(clients: Clients, name: str, start: datetime, end: datetime) -> dict[str, float]:
    """Sum of each metric over the window, from one datapoint a day."""
    queries = [
        {
            "Id": metric.lower(),
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/Logs",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "LogGroupName", "Value": name}],
                },
                "Period": _DAY_S,
                "Stat": "Sum",
            },
        }
        for metric in _METRICS
    ]
    sums = dict.fromkeys(_METRICS, 0.0)
    ids = {metric.lower(): metric for metric in _METRICS}
    for page in clients.cloudwatch.get_paginator("get_metric_data").paginate(
        MetricDataQueries=queries, StartTime=start, EndTime=end
    ):
        for result in page.get("MetricDataResults", []):
            sums[ids[result["Id"]]] += float(sum(result.get("Values", [])))
    return sums


def _filters(clients: Clients, name: str) -> list[tuple[str, str, str]]:
    out = []
    for page in clients.logs.get_paginator("describe_metric_filters").paginate(logGroupName=name):
        for item in page.get("metricFilters", []):
            for mt in item.get("metricTransformations", []):
                out.append((item["filterName"], mt["metricNamespace"], mt["metricName"]))
    return out


def _metric_count(clients: Clients, namespace: str) -> int:
    seen = set()
    for page in clients.cloudwatch.get_paginator("list_metrics").paginate(Namespace=namespace):
        for metric in page.get("Metrics", []):
            dims = tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", [])))
            seen.add((metric["MetricName"], dims))
    return len(seen)


def _alarm_use(alarm: dict[str, Any]) -> AlarmUse:
    queries = alarm.get("Metrics") or []
    stats = [q["MetricStat"] for q in queries if "MetricStat" in q]
    periods = [alarm.get("Period"), *(s.get("Period") for s in stats)]
    high = any(isinstance(p, int) and p < _HIGH_RESOLUTION for p in periods)
    return AlarmUse(
        str(alarm["AlarmName"]), "high_resolution" if high else "standard", len(stats) or 1
    )


def _alarms(clients: Clients, prefix: str | None) -> list[AlarmUse]:
    kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}
    if prefix:
        kwargs["AlarmNamePrefix"] = prefix
    out: list[AlarmUse] = []
    for page in clients.cloudwatch.get_paginator("describe_alarms").paginate(**kwargs):
        out += [_alarm_use(a) for a in page.get("MetricAlarms", [])]
        out += [
            AlarmUse(str(a["AlarmName"]), "composite", 1) for a in page.get("CompositeAlarms", [])
        ]
    return out


def _dashboards(clients: Clients, prefix: str | None) -> list[str]:
    kwargs = {"DashboardNamePrefix": prefix} if prefix else {}
    out: list[str] = []
    for page in clients.cloudwatch.get_paginator("list_dashboards").paginate(**kwargs):
        out += [str(d["DashboardName"]) for d in page.get("DashboardEntries", [])]
    return out


def read_usage(
    clients: Clients,
    log_group: str,
    *,
    stack: str | None = None,
    namespaces: Iterable[str] = (),
    days: int = 30,
    now_ms: int | None = None,
) -> GroupUsage:
    """Read what ``log_group`` and its monitoring use, over the last ``days`` days.

    ``stack``: count only setup's alarms and dashboards for that name; else every alarm
    in the region and every dashboard (dashboards are global). ``namespaces``: more
    metric namespaces to count (the EMF namespace), besides those the filters write to.

    Raises:
        AwsError: the log group does not exist.
    """
    end_ms = int(time.time() * 1000) if now_ms is None else now_ms
    start_ms = end_ms - days * _DAY_S * 1000
    group = _group(clients, log_group)
    start, end = (datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in (start_ms, end_ms))
    sums = _sums(clients, log_group, start, end)
    filters = _filters(clients, log_group)
    spaces = dict.fromkeys([*(ns for _, ns, _ in filters), *namespaces])
    prefix = f"bellwatch-{stack}-" if stack else None
    return GroupUsage(
        log_group=log_group,
        region=str(clients.logs.meta.region_name),
        log_class=str(group.get("logGroupClass", "STANDARD")),
        retention_days=group.get("retentionInDays"),
        stored_bytes=int(group.get("storedBytes", 0)),
        created_ms=int(group.get("creationTime", start_ms)),
        start_ms=start_ms,
        end_ms=end_ms,
        incoming_bytes=sums["IncomingBytes"],
        incoming_events=sums["IncomingLogEvents"],
        metric_filters=tuple(filters),
        custom_metrics={ns: _metric_count(clients, ns) for ns in spaces},
        alarms=tuple(_alarms(clients, prefix)),
        dashboards=tuple(_dashboards(clients, prefix)),
        scope=f"setup's for {stack}" if stack else "every alarm in the region, every dashboard",
    )
