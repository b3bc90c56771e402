"""The AWS resources setup manages, each read, compared and written the same way.

Every resource exposes ``kind``, ``name``, ``desired`` (the comparable state it
should have), ``read()`` (the same shape as ``desired``, or None when absent) and
``write()``. Comparing ``read()`` with ``desired`` is what makes setup idempotent:
a second run finds nothing to change and writes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from bellwatch.aws.clients import AwsError, Clients, is_not_found

__all__ = [
    "Alarm",
    "Dashboard",
    "EmailSubscription",
    "LogGroup",
    "MetricFilter",
    "Resource",
    "Topic",
    "tag_list",
]


class Resource(Protocol):
    """Something setup creates or updates."""

    kind: str
    name: str
    desired: Mapping[str, Any]

    def read(self, clients: Clients) -> Mapping[str, Any] | None: ...

    def write(self, clients: Clients) -> None: ...


def tag_list(tags: Mapping[str, str], *, key: str = "Key", value: str = "Value") -> list[Any]:
    """``{"a": "b"}`` as ``[{"Key": "a", "Value": "b"}]`` (key names vary by service)."""
    return [{key: k, value: v} for k, v in sorted(tags.items())]


class Topic:
    """The SNS topic every alarm notifies."""

    kind = "sns-topic"

    def __init__(self, name: str, tags: Mapping[str, str]) -> None:
        self.name = name
        self.desired: Mapping[str, Any] = {"tags": dict(tags)}
        # SNS finds a topic by name only by listing every topic of the region (a page per
        # 100): listed once per object and remembered (see known()), not once per read
        # and write of the topic and of each subscription.
        self._arn: str | None = None
        self._listed = False

    def find_arn(self, clients: Clients) -> str | None:
        """The topic's ARN, or None when no topic has this name."""
        if not self._listed:
            self._arn = self._list(clients)
            self._listed = True
        return self._arn

    def known(self, arn: str | None) -> None:
        """The ARN found by another object for this name (``None``: no such topic yet)."""
        self._arn, self._listed = arn, True

    def _list(self, clients: Clients) -> str | None:
        for page in clients.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == self.name:
                    return str(topic["TopicArn"])
        return None

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        arn = self.find_arn(clients)
        if arn is None:
            return None
        tags = clients.sns.list_tags_for_resource(ResourceArn=arn).get("Tags", [])
        return {"tags": {t["Key"]: t["Value"] for t in tags}}

    def write(self, clients: Clients) -> None:
        arn = self.find_arn(clients)
        if arn is None:
            made = clients.sns.create_topic(Name=self.name, Tags=tag_list(self.desired["tags"]))
            self._arn = str(made["TopicArn"])
        else:
            # create_topic refuses an existing name with different tags: tag instead.
            clients.sns.tag_resource(ResourceArn=arn, Tags=tag_list(self.desired["tags"]))


class EmailSubscription:
    """An email subscription of the topic; AWS mails a confirmation link to the address."""

    kind = "sns-subscription"

    def __init__(self, topic: Topic, email: str, *, resend: bool = False) -> None:
        self.topic = topic
        self.name = email
        self.resend = resend
        self.desired: Mapping[str, Any] = {"protocol": "email", "endpoint": email}
        # Set by read(): the address has not clicked the link yet; who else the topic notifies
        # (kept: a teammate added by hand is not ours to remove).
        self.pending = False
        self.others: list[str] = []

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        arn = self.topic.find_arn(clients)
        if arn is None:
            return None
        found = None
        self.others = []
        paginator = clients.sns.get_paginator("list_subscriptions_by_topic")
        for page in paginator.paginate(TopicArn=arn):
            for sub in page.get("Subscriptions", []):
                if sub["Protocol"] == "email" and sub["Endpoint"] == self.name:
                    self.pending = sub.get("SubscriptionArn") == "PendingConfirmation"
                    found = {"protocol": "email", "endpoint": sub["Endpoint"]}
                    if self.pending and self.resend:
                        # Subscribing a pending address again makes AWS mail the link again.
                        found["confirmation"] = "pending"
                else:
                    self.others.append(f"{sub['Protocol']}:{sub['Endpoint']}")
        return found

    def write(self, clients: Clients) -> None:
        arn = self.topic.find_arn(clients)
        clients.sns.subscribe(TopicArn=arn, Protocol="email", Endpoint=self.name)


class LogGroup:
    """The application's log group: its retention, created only when asked to.

    ``desired`` is the retention asked for, or the current one when none was asked for:
    setup never changes a retention it was not given (a shorter one makes CloudWatch
    delete the older events).
    """

    kind = "log-group"

    def __init__(self, name: str, retention_days: int | None, tags: Mapping[str, str]) -> None:
        self.name = name
        self.tags = dict(tags)
        self.retention_days = retention_days
        self.desired: Mapping[str, Any] = {"retention_days": retention_days}
        # Set by read(): what decides whether metric filters fit on the group (only the
        # STANDARD class runs them; at most 100 per group).
        self.log_class = "STANDARD"
        self.filter_count = 0

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        paginator = clients.logs.get_paginator("describe_log_groups")
        for page in paginator.paginate(logGroupNamePrefix=self.name):
            for group in page.get("logGroups", []):
                if group["logGroupName"] == self.name:
                    self.log_class = str(group.get("logGroupClass") or "STANDARD")
                    self.filter_count = int(group.get("metricFilterCount") or 0)
                    # No retentionInDays: the events never expire.
                    return {"retention_days": group.get("retentionInDays")}
        return None

    def write(self, clients: Clients) -> None:
        if self.read(clients) is None:
            clients.logs.create_log_group(logGroupName=self.name, tags=self.tags)
        days = self.desired["retention_days"]
        if days is not None:
            clients.logs.put_retention_policy(logGroupName=self.name, retentionInDays=days)


class MetricFilter:
    """A metric filter turning matching JSON log lines into a CloudWatch metric."""

    kind = "metric-filter"

    def __init__(
        self, log_group: str, name: str, *, pattern: str, namespace: str, metric: str, value: str
    ) -> None:
        self.log_group = log_group
        self.name = name
        self.desired: Mapping[str, Any] = {
            "pattern": pattern,
            "namespace": namespace,
            "metric": metric,
            "value": value,
        }

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        try:
            found = clients.logs.describe_metric_filters(
                logGroupName=self.log_group, filterNamePrefix=self.name
            ).get("metricFilters", [])
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        for item in found:
            if item["filterName"] == self.name:
                mt = (item.get("metricTransformations") or [{}])[0]
                return {
                    "pattern": item.get("filterPattern"),
                    "namespace": mt.get("metricNamespace"),
                    "metric": mt.get("metricName"),
                    "value": mt.get("metricValue"),
                }
        return None

    def write(self, clients: Clients) -> None:
        d = self.desired
        clients.logs.put_metric_filter(
            logGroupName=self.log_group,
            filterName=self.name,
            filterPattern=d["pattern"],
            metricTransformations=[
                {
                    "metricNamespace": d["namespace"],
                    "metricName": d["metric"],
                    "metricValue": d["value"],
                }
            ],
        )


# The put_metric_alarm parameters compared on re-run (what we set; AWS adds more).
_ALARM_KEYS = (
    "AlarmDescription",
    "Metrics",
    "Namespace",
    "MetricName",
    "Dimensions",
    "Statistic",
    "ExtendedStatistic",
    "Period",
    "EvaluationPeriods",
    "DatapointsToAlarm",
    "Threshold",
    "ComparisonOperator",
    "TreatMissingData",
    "AlarmActions",
    "OKActions",
)


def _alarm_state(alarm: Mapping[str, Any], tags: Mapping[str, str]) -> dict[str, Any]:
    state = {k: alarm[k] for k in _ALARM_KEYS if alarm.get(k) not in (None, [])}
    if "Dimensions" in state:
        state["Dimensions"] = sorted(
            ({"Name": d["Name"], "Value": d["Value"]} for d in state["Dimensions"]),
            key=lambda d: str(d["Name"]),
        )
    if "Metrics" in state:
        state["Metrics"] = [_query(q) for q in state["Metrics"]]
    state["Threshold"] = float(state["Threshold"])
    state["Tags"] = dict(tags)
    return state


def _query(q: Mapping[str, Any]) -> dict[str, Any]:
    """A metric-math query as we send it (AWS answers with extra keys and defaults)."""
    out = {k: q[k] for k in ("Id", "Expression", "Label", "ReturnData") if k in q}
    if "MetricStat" in q:
        ms = q["MetricStat"]
        metric = ms["Metric"]
        out["MetricStat"] = {
            "Metric": {
                "Namespace": metric["Namespace"],
                "MetricName": metric["MetricName"],
                "Dimensions": [{"Name": d["Name"], "Value": d["Value"]}
                               for d in metric.get("Dimensions", [])],
            },
            "Period": ms["Period"],
            "Stat": ms["Stat"],
        }  # fmt: skip
    return out


class Alarm:
    """A CloudWatch metric alarm; ``params`` are ``put_metric_alarm`` keyword arguments."""

    kind = "alarm"

    def __init__(self, params: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        self.name = str(params["AlarmName"])
        self.params = dict(params)
        self.tags = dict(tags)
        self.desired: Mapping[str, Any] = _alarm_state(params, tags)
        self._arn: str | None = None  # set by read(): the alarm exists

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        found = clients.cloudwatch.describe_alarms(AlarmNames=[self.name]).get("MetricAlarms", [])
        if not found:
            self._arn = None
            return None
        arn = self._arn = str(found[0]["AlarmArn"])
        tags = clients.cloudwatch.list_tags_for_resource(ResourceARN=arn).get("Tags", [])
        return _alarm_state(found[0], {t["Key"]: t["Value"] for t in tags})

    def write(self, clients: Clients) -> None:
        clients.cloudwatch.put_metric_alarm(**self.params, Tags=tag_list(self.tags))
        if self._arn is not None:
            # put_metric_alarm ignores Tags when the alarm already exists (read() found it);
            # a new alarm has them already. Not looked up again: DescribeAlarms right
            # after the put is one call more per alarm, and no page says it lists the
            # new alarm at once.
            clients.cloudwatch.tag_resource(ResourceARN=self._arn, Tags=tag_list(self.tags))


class Dashboard:
    """A CloudWatch dashboard and its tags; the body is compared as parsed JSON.

    Dashboards are global: one name per account whatever the region, so the name
    carries the region and teardown checks the tags before deleting.
    """

    kind = "dashboard"

    def __init__(self, name: str, body: Mapping[str, Any], tags: Mapping[str, str]) -> None:
        self.name = name
        self.tags = dict(tags)
        self.desired: Mapping[str, Any] = {
            "body": json.loads(json.dumps(body)),
            "tags": dict(tags),
        }

    def read(self, clients: Clients) -> Mapping[str, Any] | None:
        try:
            found = clients.cloudwatch.get_dashboard(DashboardName=self.name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise
        raw = clients.cloudwatch.list_tags_for_resource(ResourceARN=found["DashboardArn"])
        return {
            "body": json.loads(found["DashboardBody"]),
            "tags": {t["Key"]: t["Value"] for t in raw.get("Tags", [])},
        }

    def write(self, clients: Clients) -> None:
        cw = clients.cloudwatch
        body = json.dumps(self.desired["body"], separators=(",", ":"))
        answer = cw.put_dashboard(
            DashboardName=self.name, DashboardBody=body, Tags=tag_list(self.tags)
        )
        # PutDashboard ignores Tags when the dashboard already exists.
        arn = cw.get_dashboard(DashboardName=self.name)["DashboardArn"]
        cw.tag_resource(ResourceARN=arn, Tags=tag_list(self.tags))
        # Warnings only: AWS stored the dashboard, but "some elements of the dashboard
        # might not render" (errors fail the call itself). Never report that as success.
        warnings = [
            f"{m.get('DataPath', '')}: {m.get('Message', '')}"
            for m in answer.get("DashboardValidationMessages") or []
        ]
        if warnings:
            raise AwsError(
                f"dashboard {self.name} was stored with CloudWatch's warnings (some widgets "
                f"may not render): {'; '.join(warnings)}"
            )
