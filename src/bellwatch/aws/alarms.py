"""The guide's six alarms as ``put_metric_alarm`` parameters, all notifying one topic.

CloudWatch evaluates alarms at the end of each period, so none of these is
"immediate": the fastest is the unhealthy-host alarm at two one-minute periods.
In-process alerts (``bellwatch.alerts``) are the immediate path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["AlarmTargets", "alarm_params"]


@dataclass(frozen=True, slots=True)
class AlarmTargets:
    """What the alarms watch; a None leaves out the alarms that need it."""

    prefix: str
    topic_arn: str
    namespace: str
    error_metric: str
    cluster: str | None = None
    service: str | None = None
    load_balancer: str | None = None  # dimension value: app/<name>/<id>
    target_group: str | None = None  # dimension value: targetgroup/<name>/<id>


def _alarm(
    t: AlarmTargets,
    suffix: str,
    description: str,
    *,
    namespace: str,
    metric: str,
    dimensions: dict[str, str],
    statistic: str,
    period: int,
    periods: int,
    threshold: float,
    datapoints: int | None = None,
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "AlarmName": f"{t.prefix}-{suffix}",
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
        "Period": period,
        "EvaluationPeriods": periods,
        "DatapointsToAlarm": datapoints or periods,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        # No traffic or no errors means no datapoints; that is healthy, not an alarm.
        "TreatMissingData": "notBreaching",
        "AlarmActions": [t.topic_arn],
        "OKActions": [t.topic_arn],
    }
    if statistic.startswith("p"):
        params["ExtendedStatistic"] = statistic
    else:
        params["Statistic"] = statistic
    return params


def alarm_params(t: AlarmTargets) -> tuple[list[dict[str, Any]], list[str]]:
    """The alarms to create, and a note for each alarm left out for lack of a name."""
    alarms: list[dict[str, Any]] = []
    skipped: list[str] = []
    if t.cluster and t.service:
        ecs = {"ClusterName": t.cluster, "ServiceName": t.service}
        alarms.append(
            _alarm(t, "cpu-high", "ECS service CPU > 80% for 5 minutes (overload)",
                   namespace="AWS/ECS", metric="CPUUtilization", dimensions=ecs,
                   statistic="Average", period=300, periods=1, threshold=80)
        )  # fmt: skip
        alarms.append(
            _alarm(t, "memory-high", "ECS service memory > 85% for 5 minutes (pressure)",
                   namespace="AWS/ECS", metric="MemoryUtilization", dimensions=ecs,
                   statistic="Average", period=300, periods=1, threshold=85)
        )  # fmt: skip
    else:
        skipped.append("cpu-high, memory-high: no ECS cluster/service (--cluster/--service)")
    if t.load_balancer and t.target_group:
        alarms.append(
            _alarm(t, "unhealthy-hosts", "ALB target group has unhealthy targets for 2 minutes",
                   namespace="AWS/ApplicationELB", metric="UnHealthyHostCount",
                   dimensions={"TargetGroup": t.target_group, "LoadBalancer": t.load_balancer},
                   statistic="Maximum", period=60, periods=2, threshold=0)
        )  # fmt: skip
    else:
        skipped.append("unhealthy-hosts: no load balancer/target group (--target-group)")
    if t.load_balancer:
        alb = {"LoadBalancer": t.load_balancer}
        alarms.append(
            _alarm(t, "response-time", "ALB target response time p95 > 5 s over 5 minutes",
                   namespace="AWS/ApplicationELB", metric="TargetResponseTime",
                   dimensions=alb, statistic="p95", period=300, periods=1, threshold=5)
        )  # fmt: skip
        alarms.append(
            _alarm(t, "target-5xx", "More than 5 target 5xx responses in 5 minutes",
                   namespace="AWS/ApplicationELB", metric="HTTPCode_Target_5XX_Count",
                   dimensions=alb, statistic="Sum", period=300, periods=1, threshold=5)
        )  # fmt: skip
    else:
        skipped.append("response-time, target-5xx: no load balancer (--load-balancer)")
    alarms.append(
        _alarm(t, "error-spike", "More than 10 ERROR lines in 5 minutes (evaluated over 10)",
               namespace=t.namespace, metric=t.error_metric, dimensions={},
               statistic="Sum", period=300, periods=2, datapoints=1, threshold=10)
    )  # fmt: skip
    return alarms, skipped
