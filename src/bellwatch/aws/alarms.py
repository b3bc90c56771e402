"""The alarms setup creates, as ``put_metric_alarm`` parameters, all notifying one topic.

The guide's six (CPU, memory, unhealthy hosts, response time, target 5xx, error
spike) only fire when the service is slow or failing requests. A service that is
down produces none of those: a crashed, OOM-killed or hung task makes the load
balancer answer 502/503/504 itself (``HTTPCode_ELB_5XX_Count``), the target group
loses its healthy hosts, and ECS runs fewer tasks than desired. Three alarms watch
exactly that (``elb-5xx``, ``healthy-hosts``, ``running-tasks``).

Load-balancer metrics are scoped to this service's target group (``TargetGroup`` +
``LoadBalancer``) wherever AWS publishes them per target group, so other services
behind a shared ALB do not set them off. ``HTTPCode_ELB_5XX_Count`` is published per
load balancer only; its description says so.

CloudWatch evaluates alarms at the end of each period, so none of these is
"immediate": in-process alerts (``bellwatch.alerts``) are the immediate path.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bellwatch.aws.config import DEFAULT_RULES, AlarmRule

__all__ = ["AlarmTargets", "alarm_params"]

_GT, _LT = "GreaterThanThreshold", "LessThanThreshold"
_SYMBOL = {_GT: ">", _LT: "<"}
ALB = "AWS/ApplicationELB"


@dataclass(frozen=True, slots=True)
class AlarmTargets:
    """What the alarms watch; a None leaves out the alarms that need it."""

    prefix: str
    topic_arn: str
    namespace: str
    error_metric: str | None
    """None: no metric filter feeds one (the log group cannot take filters)."""
    cluster: str | None = None
    service: str | None = None
    load_balancer: str | None = None  # dimension value: app/<name>/<id>
    target_group: str | None = None  # dimension value: targetgroup/<name>/<id>
    container_insights: bool = False


def _describe(what: str, op: str, rule: AlarmRule, unit: str = "") -> str:
    threshold = f"{rule.threshold:g}{unit}"
    window = f"{rule.datapoints_to_alarm} of {rule.evaluation_periods} x {rule.period} s"
    return (
        f"{what} {_SYMBOL[op]} {threshold} ({rule.statistic}, {window}; "
        f"missing data {rule.treat_missing_data})"
    )


def _alarm(
    t: AlarmTargets,
    name: str,
    rule: AlarmRule,
    description: str,
    *,
    metric: dict[str, Any],
    op: str = _GT,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": f"{t.prefix}-{name}",
        "AlarmDescription": description,
        **metric,
        "EvaluationPeriods": rule.evaluation_periods,
        "DatapointsToAlarm": rule.datapoints_to_alarm,
        "Threshold": rule.threshold,
        "ComparisonOperator": op,
        "TreatMissingData": rule.treat_missing_data,
        "AlarmActions": [t.topic_arn],
        "OKActions": [t.topic_arn],
    }
    return params


def _single(
    namespace: str, metric: str, dims: Mapping[str, str], rule: AlarmRule
) -> dict[str, Any]:
    """One metric with its statistic (percentiles go in ``ExtendedStatistic``)."""
    out: dict[str, Any] = {
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
        "Period": rule.period,
    }
    out["ExtendedStatistic" if rule.statistic.startswith("p") else "Statistic"] = rule.statistic
    return out


def _tasks_missing(dims: Mapping[str, str], rule: AlarmRule) -> dict[str, Any]:
    """Metric math: desired - running tasks, from Container Insights' per-service counts."""

    def stat(query_id: str, metric: str) -> dict[str, Any]:
        return {
            "Id": query_id,
            "MetricStat": {
                "Metric": {
                    "Namespace": "ECS/ContainerInsights",
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                },
                "Period": rule.period,
                "Stat": rule.statistic,
            },
            "ReturnData": False,
        }

    return {
        "Metrics": [
            stat("desired", "DesiredTaskCount"),
            stat("running", "RunningTaskCount"),
            {
                "Id": "missing",
                "Expression": "desired - running",
                "Label": "tasks missing",
                "ReturnData": True,
            },
        ]
    }


def alarm_params(
    t: AlarmTargets, rules: Mapping[str, AlarmRule] = DEFAULT_RULES
) -> tuple[list[dict[str, Any]], list[str]]:
    """The alarms to create, and a note for each alarm left out or widened, and why."""
    alarms: list[dict[str, Any]] = []
    notes: list[str] = []
    r = rules
    if t.cluster and t.service:
        ecs = {"ClusterName": t.cluster, "ServiceName": t.service}
        alarms.append(_alarm(t, "cpu-high", r["cpu-high"],
            _describe("ECS service CPU", _GT, r["cpu-high"], "%") + "; no data: no task runs",
            metric=_single("AWS/ECS", "CPUUtilization", ecs, r["cpu-high"])))  # fmt: skip
        alarms.append(_alarm(t, "memory-high", r["memory-high"],
            _describe("ECS service memory", _GT, r["memory-high"], "%")
            + "; no data: no task runs",
            metric=_single("AWS/ECS", "MemoryUtilization", ecs, r["memory-high"])))  # fmt: skip
        if t.container_insights:
            alarms.append(_alarm(t, "running-tasks", r["running-tasks"],
                _describe("ECS tasks missing (desired - running, Container Insights)", _GT,
                          r["running-tasks"]),
                metric=_tasks_missing(ecs, r["running-tasks"])))  # fmt: skip
        else:
            notes.append(
                f"running-tasks: Container Insights is off on cluster {t.cluster}, and only it "
                "publishes running and desired task counts (aws ecs update-cluster-settings "
                f"--cluster {t.cluster} --settings name=containerInsights,value=enabled); "
                "healthy-hosts still alarms when no task serves"
            )
    else:
        notes.append("cpu-high, memory-high, running-tasks: no ECS cluster/service "
                     "(--cluster/--service)")  # fmt: skip
    if t.load_balancer and t.target_group:
        tg = {"TargetGroup": t.target_group, "LoadBalancer": t.load_balancer}
        alarms.append(_alarm(t, "healthy-hosts", r["healthy-hosts"],
            _describe("Healthy targets of the target group", _LT, r["healthy-hosts"])
            + "; no data: the target group is gone",
            metric=_single(ALB, "HealthyHostCount", tg, r["healthy-hosts"]), op=_LT))  # fmt: skip
        alarms.append(_alarm(t, "unhealthy-hosts", r["unhealthy-hosts"],
            _describe("Unhealthy targets of the target group", _GT, r["unhealthy-hosts"]),
            metric=_single(ALB, "UnHealthyHostCount", tg, r["unhealthy-hosts"])))  # fmt: skip
    else:
        notes.append("healthy-hosts, unhealthy-hosts: no load balancer/target group "
                     "(--target-group)")  # fmt: skip
    if t.load_balancer:
        lb = {"LoadBalancer": t.load_balancer}
        # Target metrics are published per target group too: scope to ours when known.
        scoped = {"TargetGroup": t.target_group, **lb} if t.target_group else lb
        if not t.target_group:
            notes.append("response-time, target-5xx: no target group, so they watch the whole "
                         "load balancer (other services behind it count too)")  # fmt: skip
        alarms.append(_alarm(t, "response-time", r["response-time"],
            _describe("Target response time", _GT, r["response-time"], " s"),
            metric=_single(ALB, "TargetResponseTime", scoped, r["response-time"])))  # fmt: skip
        alarms.append(_alarm(t, "target-5xx", r["target-5xx"],
            _describe("5xx responses from the service", _GT, r["target-5xx"]),
            metric=_single(ALB, "HTTPCode_Target_5XX_Count", scoped, r["target-5xx"])))  # fmt: skip
        alarms.append(_alarm(t, "elb-5xx", r["elb-5xx"],
            _describe("5xx answered by the load balancer itself (502/503/504: tasks down, "
                      "crashed or hung)", _GT, r["elb-5xx"])
            + "; AWS counts these per load balancer only",
            metric=_single(ALB, "HTTPCode_ELB_5XX_Count", lb, r["elb-5xx"])))  # fmt: skip
    else:
        notes.append("response-time, target-5xx, elb-5xx: no load balancer (--load-balancer)")
    if t.error_metric:
        alarms.append(_alarm(t, "error-spike", r["error-spike"],
            _describe("Errors (sum of n over error lines)", _GT, r["error-spike"]),
            metric=_single(t.namespace, t.error_metric, {}, r["error-spike"])))  # fmt: skip
    else:
        notes.append("error-spike: no metric filter on the log group counts the errors")
    return alarms, notes
