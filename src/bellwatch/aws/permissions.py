"""The IAM policy ``bellwatch aws policy`` prints: one statement per job and resource kind.

Parts: ``setup``, ``teardown``, ``read`` (the CLI reading a log group, and ``aws cost``
reading its usage, metric filters, metrics, alarms and dashboards), ``alerts``
(in-process alerts publishing to the topic) and ``health``. Each statement names the
resources of one stack by ARN (``bellwatch-<stack>-*`` alarms and dashboards, the
``bellwatch-<stack>-alerts`` topic, the log group), and deletes also require the
``managed-by``/``bellwatch:stack`` tags where IAM can test them (alarms, topics).
Listing by prefix is granted on every resource of that type in the region
(``alarm:*``, ``log-group:*``). What IAM cannot scope at all stays on ``"*"``, in
statements of list and describe actions plus ``sns:Unsubscribe``: the Service
Authorization Reference lists no resource type for them.
``sts:GetCallerIdentity`` needs no permission.
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatch.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsns.html
https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html

The tests record every call setup, teardown, the CloudWatch source, health and SNS
alerts make (botocore hooks against moto) and evaluate this policy on each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

__all__ = ["PARTS", "PolicyScope", "policy"]

PARTS: Final = ("setup", "teardown", "read", "alerts", "health")
_DISCOVER: Final = (
    "ecs:ListClusters",
    "ecs:ListServices",
    "ecs:DescribeServices",
    "ecs:DescribeClusters",
    "ecs:DescribeTaskDefinition",
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeTargetGroups",
)


@dataclass(frozen=True, slots=True)
class PolicyScope:
    """Whose resources the policy names; ``*`` stands for any (any stack, region, ...)."""

    stack: str = "*"
    region: str = "*"
    account: str = "*"
    log_group: str = "*"
    alert_topic: str | None = None
    """The topic in-process alerts publish to (default: the stack's alerts topic)."""
    partition: str = "aws"

    def arn(self, service: str, resource: str, *, region: bool = True) -> str:
        where = self.region if region else ""
        return f"arn:{self.partition}:{service}:{where}:{self.account}:{resource}"

    @property
    def alarms(self) -> str:
        return self.arn("cloudwatch", f"alarm:bellwatch-{self.stack}-*")

    @property
    def any_alarm(self) -> str:
        """Listing alarms by name prefix is a request on every alarm of the region."""
        return self.arn("cloudwatch", "alarm:*")

    @property
    def any_log_group(self) -> str:
        return self.arn("logs", "log-group:*")

    @property
    def dashboards(self) -> str:
        # Dashboards are global: their ARN has no region.
        return self.arn("cloudwatch", f"dashboard/bellwatch-{self.stack}-*", region=False)

    @property
    def topic(self) -> str:
        name = "bellwatch-*-alerts" if self.stack == "*" else f"bellwatch-{self.stack}-alerts"
        return self.arn("sns", name)

    @property
    def log_groups(self) -> list[str]:
        # The reference's log-group ARN, and the ":*" form CloudWatch Logs also checks.
        group = self.arn("logs", f"log-group:{self.log_group}")
        return [group] if self.log_group == "*" else [group, f"{group}:*"]

    def ours(self) -> dict[str, Any]:
        """The condition that the resource carries setup's tags."""
        tags = {"aws:ResourceTag/managed-by": "bellwatch"}
        if self.stack != "*":
            tags["aws:ResourceTag/bellwatch:stack"] = self.stack
        return {"StringEquals": tags}


def _statement(
    sid: str,
    actions: tuple[str, ...],
    resources: list[str],
    condition: dict[str, Any] | None = None,
    *,
    drop: tuple[str, ...] = (),
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(set(actions) - set(drop)),
        "Resource": resources[0] if len(resources) == 1 else resources,
    }
    if condition:
        out["Condition"] = condition
    return out


def _statements(part: str, s: PolicyScope) -> list[dict[str, Any]]:
    if part == "setup":
        return [
            _statement(
                "SetupDiscover",
                (
                    *_DISCOVER,
                    "sns:ListTopics",
                    "logs:DescribeLogGroups",
                ),
                ["*"],
            ),
            _statement("SetupListAlarms", ("cloudwatch:DescribeAlarms",), [s.any_alarm]),
            _statement(
                "SetupTopic",
                (
                    "sns:CreateTopic",
                    "sns:TagResource",
                    "sns:ListTagsForResource",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Subscribe",
                ),
                [s.topic],
            ),
            _statement(
                "SetupLogGroup",
                (
                    "logs:CreateLogGroup",
                    "logs:TagResource",
                    "logs:PutRetentionPolicy",
                    "logs:DescribeMetricFilters",
                    "logs:PutMetricFilter",
                ),
                s.log_groups,
            ),
            _statement(
                "SetupAlarms",
                (
                    "cloudwatch:PutMetricAlarm",
                    "cloudwatch:TagResource",
                    "cloudwatch:ListTagsForResource",
                ),
                [s.alarms],
                # Alarms may notify only the stack's topic.
                {"ForAllValues:StringLike": {"cloudwatch:AlarmActions": [s.topic]}}
                if s.stack != "*"
                else None,
            ),
            _statement(
                "SetupDashboard",
                (
                    "cloudwatch:GetDashboard",
                    "cloudwatch:PutDashboard",
                    "cloudwatch:TagResource",
                    "cloudwatch:ListTagsForResource",
                ),
                [s.dashboards],
            ),
        ]
    if part == "teardown":
        return [
            _statement(
                "TeardownFind",
                # Unsubscribe names a subscription, which IAM cannot scope.
                ("sns:ListTopics", "sns:Unsubscribe"),
                ["*"],
            ),
            _statement("TeardownListAlarms", ("cloudwatch:DescribeAlarms",), [s.any_alarm]),
            # Filters are listed by metric namespace across the region's log groups.
            _statement("TeardownListFilters", ("logs:DescribeMetricFilters",), [s.any_log_group]),
            _statement(
                "TeardownInspect",
                ("cloudwatch:ListTagsForResource", "cloudwatch:GetDashboard"),
                [s.alarms, s.dashboards],
            ),
            _statement(
                "TeardownInspectTopic",
                ("sns:ListTagsForResource", "sns:ListSubscriptionsByTopic"),
                [s.topic],
            ),
            _statement("TeardownAlarms", ("cloudwatch:DeleteAlarms",), [s.alarms], s.ours()),
            _statement("TeardownTopic", ("sns:DeleteTopic",), [s.topic], s.ours()),
            # Dashboards take no tag condition: teardown reads their tags before deleting.
            _statement("TeardownDashboard", ("cloudwatch:DeleteDashboards",), [s.dashboards]),
            _statement("TeardownFilters", ("logs:DeleteMetricFilter",), s.log_groups),
        ]
    if part == "read":
        return [
            _statement(
                "ReadLogGroup",
                ("logs:FilterLogEvents", "logs:StartQuery", "logs:DescribeMetricFilters"),
                s.log_groups,
            ),
            # aws cost lists alarms (setup's by prefix, or all): every alarm of the region.
            _statement("ReadAlarms", ("cloudwatch:DescribeAlarms",), [s.any_alarm]),
            # A query is named by its id only, tail and aws cost find the group by listing
            # groups by prefix, and metric data, metric and dashboard listings take no
            # resource: nothing to scope to.
            _statement(
                "ReadUnscoped",
                (
                    "logs:GetQueryResults",
                    "logs:StopQuery",
                    "logs:DescribeLogGroups",
                    "cloudwatch:GetMetricData",
                    "cloudwatch:ListMetrics",
                    "cloudwatch:ListDashboards",
                ),
                ["*"],
            ),
        ]
    if part == "alerts":
        return [_statement("Alerts", ("sns:Publish",), [s.alert_topic or s.topic])]
    return [
        # health takes --target-group but no --load-balancer: no DescribeLoadBalancers.
        _statement(
            "Health",
            (*_DISCOVER, "elasticloadbalancing:DescribeTargetHealth", "sns:ListTopics"),
            ["*"],
            drop=("elasticloadbalancing:DescribeLoadBalancers",),
        ),
        # Who the alarms reach: confirmed and pending subscriptions of the stack's topic.
        _statement("HealthAlerts", ("sns:ListSubscriptionsByTopic",), [s.topic]),
    ]


def policy(*parts: str, scope: PolicyScope | None = None) -> dict[str, Any]:
    """An IAM policy document for ``parts`` (all of them when none is given).

    Raises:
        KeyError: an unknown part (the message lists the known ones).
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise KeyError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    s = scope or PolicyScope()
    chosen = [p for p in PARTS if p in parts] if parts else list(PARTS)
    return {
        "Version": "2012-10-17",
        "Statement": [st for part in chosen for st in _statements(part, s)],
    }
