"""``bellwatch aws setup --export cloudformation``: the same resources as a template.

For teams whose changes go through infrastructure as code. The template is built from
:func:`bellwatch.aws.plan.desired_resources`, the list setup itself applies, so both
describe the same topic, subscription, metric filters, alarms and dashboard; the
alarms notify the template's own topic (``Ref``).

The log group is in the template only when setup would set its retention
(``--retention`` or ``--create-log-group``), with ``DeletionPolicy: Retain`` so that
deleting the stack keeps the logs. An existing group must then be imported into the
stack (CloudFormation resource import) rather than created; without it, the metric
filters name the group and leave it alone.
"""

from __future__ import annotations

import json
import re
from typing import Any

from bellwatch.aws.plan import NEW_GROUP_RETENTION, SetupOptions, desired_resources
from bellwatch.aws.resources import (
    Alarm,
    Dashboard,
    EmailSubscription,
    LogGroup,
    MetricFilter,
    Topic,
    tag_list,
)

__all__ = ["TOPIC", "cloudformation"]

TOPIC = "AlertTopic"
_TOPIC_ARN = "arn:aws:sns:::bellwatch-topic-placeholder"  # replaced by a Ref to TOPIC


def _logical_id(prefix: str, name: str) -> str:
    """``Alarm`` + ``bellwatch-bella-cpu-high`` -> ``AlarmCpuHigh`` (alphanumeric only)."""
    words = re.split(r"[^A-Za-z0-9]+", name)
    return prefix + "".join(w[:1].upper() + w[1:] for w in words if w)


def _topic_refs(value: Any) -> Any:
    if value == _TOPIC_ARN:
        return {"Ref": TOPIC}
    if isinstance(value, list):
        return [_topic_refs(v) for v in value]
    if isinstance(value, dict):
        return {k: _topic_refs(v) for k, v in value.items()}
    return value


def cloudformation(opts: SetupOptions, *, region: str, log_filters: bool = True) -> dict[str, Any]:
    """The template (a JSON-ready dict) of what setup manages for ``opts`` in ``region``.

    ``log_filters`` False: the log group is not in the Standard class, so, as setup, the
    template has no metric filters nor what reads their metrics.
    """
    resources: dict[str, Any] = {}
    group_id: str | None = None
    strip = f"bellwatch-{opts.stack}-"
    wanted = desired_resources(opts, region=region, topic_arn=_TOPIC_ARN, log_filters=log_filters)
    for res in wanted:
        if isinstance(res, Topic):
            resources[TOPIC] = {
                "Type": "AWS::SNS::Topic",
                "Properties": {"TopicName": res.name, "Tags": tag_list(res.desired["tags"])},
            }
        elif isinstance(res, EmailSubscription):
            resources["AlertEmail"] = {
                "Type": "AWS::SNS::Subscription",
                "Properties": {"Protocol": "email", "Endpoint": res.name,
                               "TopicArn": {"Ref": TOPIC}},
            }  # fmt: skip
        elif isinstance(res, LogGroup):
            if res.retention_days is None and not opts.create_log_group:
                continue  # setup leaves this group's retention alone: so does the template
            group_id = "LogGroup"
            resources[group_id] = {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "LogGroupName": res.name,
                    "RetentionInDays": res.retention_days or NEW_GROUP_RETENTION,
                    "Tags": tag_list(res.tags),
                },
            }
        elif isinstance(res, MetricFilter):
            d = res.desired
            resources[_logical_id("MetricFilter", res.name.removeprefix(strip))] = {
                "Type": "AWS::Logs::MetricFilter",
                **({"DependsOn": group_id} if group_id else {}),
                "Properties": {
                    "FilterName": res.name,
                    "FilterPattern": d["pattern"],
                    "LogGroupName": res.log_group,
                    "MetricTransformations": [{"MetricNamespace": d["namespace"],
                                               "MetricName": d["metric"],
                                               "MetricValue": d["value"]}],
                },
            }  # fmt: skip
        elif isinstance(res, Alarm):
            resources[_logical_id("Alarm", res.name.removeprefix(strip))] = {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {**_topic_refs(res.params), "Tags": tag_list(res.tags)},
            }
        elif isinstance(res, Dashboard):
            resources["Dashboard"] = {
                "Type": "AWS::CloudWatch::Dashboard",
                "Properties": {
                    "DashboardName": res.name,
                    "DashboardBody": json.dumps(res.desired["body"], separators=(",", ":")),
                    "Tags": tag_list(res.tags),
                },
            }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": f"bellwatch monitoring for {opts.stack} in {region} "
        "(bellwatch aws setup --export cloudformation)",
        "Resources": resources,
        "Outputs": {"AlertTopicArn": {"Value": {"Ref": TOPIC}}},
    }
