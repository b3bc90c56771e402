"""The IAM actions each part of bellwatch calls, as a policy ``bellwatch aws policy`` prints.

The lists are checked by the tests against the API calls the code really makes
(recorded from botocore during setup, teardown, health and every source read).
"""

from __future__ import annotations

from typing import Any, Final

__all__ = ["ACTIONS", "policy"]

ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    "read": (
        "logs:FilterLogEvents",
        "logs:StartQuery",
        "logs:GetQueryResults",
        "logs:StopQuery",
    ),
    "health": (
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:DescribeServices",
        "ecs:DescribeClusters",
        "ecs:DescribeTaskDefinition",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
    ),
    "setup": (
        "sts:GetCallerIdentity",
        "ecs:ListClusters",
        "ecs:ListServices",
        "ecs:DescribeServices",
        "ecs:DescribeClusters",
        "ecs:DescribeTaskDefinition",
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "sns:ListTopics",
        "sns:CreateTopic",
        "sns:TagResource",
        "sns:ListTagsForResource",
        "sns:ListSubscriptionsByTopic",
        "sns:Subscribe",
        "logs:DescribeLogGroups",
        "logs:CreateLogGroup",
        "logs:TagResource",  # tags given to CreateLogGroup
        "logs:TagLogGroup",  # the same, in accounts still on the older tagging API
        "logs:PutRetentionPolicy",
        "logs:DescribeMetricFilters",
        "logs:PutMetricFilter",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:TagResource",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:GetDashboard",
        "cloudwatch:PutDashboard",
    ),
    "teardown": (
        "cloudwatch:DescribeAlarms",
        "cloudwatch:ListTagsForResource",
        "cloudwatch:DeleteAlarms",
        "cloudwatch:GetDashboard",
        "cloudwatch:DeleteDashboards",
        "logs:DescribeMetricFilters",
        "logs:DeleteMetricFilter",
        "sns:ListTopics",
        "sns:ListTagsForResource",
        "sns:ListSubscriptionsByTopic",
        "sns:Unsubscribe",
        "sns:DeleteTopic",
    ),
}


def policy(*parts: str) -> dict[str, Any]:
    """An IAM policy document allowing the actions of ``parts`` (all parts when none given).

    Raises:
        KeyError: an unknown part (the message lists the known ones).
    """
    unknown = [p for p in parts if p not in ACTIONS]
    if unknown:
        raise KeyError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(ACTIONS)}")
    actions = sorted({a for p in (parts or tuple(ACTIONS)) for a in ACTIONS[p]})
    return {
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Bellwatch", "Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
