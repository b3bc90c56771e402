"""Teardown: delete what setup created for a stack in this region, found by its tags.

Alarms, the dashboard and the topic are deleted only when their tags say setup made
them for this stack (the dashboard also for this region: dashboards are global, and
another region's setup of the same stack has its own). Metric filters cannot be
tagged: ours are the ones in our namespace with our name prefix.

Nothing setup did not create is removed or restored: log groups are kept with the
retention they have, and a topic that also notifies addresses setup did not
subscribe is kept, with them (setup promised to keep them); only setup's own
confirmed subscriptions are removed from it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bellwatch.aws.changes import Change, Plan
from bellwatch.aws.clients import Clients, is_not_found
from bellwatch.aws.discover import Targets
from bellwatch.aws.metric_filters import metric_filter_specs
from bellwatch.aws.plan import (
    MANAGED_BY,
    REGION_TAG,
    STACK_TAG,
    SetupOptions,
    subscribed_addresses,
)
from bellwatch.aws.resources import Topic

__all__ = ["teardown_plan"]


def _is_ours(tags: dict[str, str], stack: str) -> bool:
    return tags.get(MANAGED_BY) == "bellwatch" and tags.get(STACK_TAG) == stack


def _tags(raw: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in raw.get("Tags", [])}


def _call(service: str, method: str, **kwargs: Any) -> Callable[[Clients], None]:
    def step(clients: Clients) -> None:
        getattr(getattr(clients, service), method)(**kwargs)

    return step


def _alarms(plan: Plan, opts: SetupOptions, clients: Clients) -> None:
    cw = clients.cloudwatch
    pages = cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=opts.prefix + "-")
    for page in pages:
        for alarm in page.get("MetricAlarms", []):
            if _is_ours(
                _tags(cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])), opts.stack
            ):
                name = alarm["AlarmName"]
                plan.add(
                    Change("delete", "alarm", name),
                    _call("cloudwatch", "delete_alarms", AlarmNames=[name]),
                )


def _metric_filters(plan: Plan, opts: SetupOptions, clients: Clients) -> None:
    # The API takes a namespace only together with a metric name: ask once per metric.
    paginator = clients.logs.get_paginator("describe_metric_filters")
    pages = (
        page
        for metric in sorted({s.metric for s in metric_filter_specs()})
        for page in paginator.paginate(metricNamespace=opts.namespace, metricName=metric)
    )
    for page in pages:
        for mf in page.get("metricFilters", []):
            if mf["filterName"].startswith(opts.prefix + "-"):
                group, name = mf["logGroupName"], mf["filterName"]
                plan.add(
                    Change("delete", "metric-filter", name, group),
                    _call("logs", "delete_metric_filter", logGroupName=group, filterName=name),
                )


def _dashboard(plan: Plan, opts: SetupOptions, clients: Clients) -> None:
    cw = clients.cloudwatch
    region = str(cw.meta.region_name)
    name = opts.dashboard_name(region)
    try:
        arn = cw.get_dashboard(DashboardName=name)["DashboardArn"]
    except Exception as exc:
        if is_not_found(exc):
            return
        raise
    tags = _tags(cw.list_tags_for_resource(ResourceARN=arn))
    if _is_ours(tags, opts.stack) and tags.get(REGION_TAG) == region:
        plan.add(
            Change("delete", "dashboard", name),
            _call("cloudwatch", "delete_dashboards", DashboardNames=[name]),
        )
    else:
        plan.notes.append(f"dashboard {name} is not tagged as this stack's in {region}: kept")


def _topic(plan: Plan, opts: SetupOptions, clients: Clients) -> None:
    topic = Topic(f"{opts.prefix}-alerts", {})
    current, arn = topic.read(clients), topic.find_arn(clients)
    if current is None or not arn or not _is_ours(current["tags"], opts.stack):
        return
    ours = subscribed_addresses(current["tags"])
    mine: list[str] = []
    others: list[str] = []
    for page in clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn):
        for sub in page.get("Subscriptions", []):
            if sub["Protocol"] == "email" and sub["Endpoint"] in ours:
                if sub["SubscriptionArn"].startswith("arn:"):  # pending ones have no ARN
                    mine.append(sub["SubscriptionArn"])
            else:
                others.append(f"{sub['Protocol']}:{sub['Endpoint']}")
    if not others:
        plan.add(
            Change("delete", "sns-topic", topic.name, "with its subscriptions"),
            _call("sns", "delete_topic", TopicArn=arn),
        )
        return
    for sub_arn in mine:
        plan.add(
            Change("delete", "sns-subscription", sub_arn.rsplit(":", 1)[-1], topic.name),
            _call("sns", "unsubscribe", SubscriptionArn=sub_arn),
        )
    plan.add(Change("keep", "sns-topic", topic.name, f"also notifies {', '.join(others)}"), None)


def teardown_plan(stack: str, clients: Clients) -> Plan:
    """Every resource setup created for ``stack`` in this region, and nothing else."""
    opts = SetupOptions(stack=stack, email=None, targets=Targets())
    plan = Plan()
    _alarms(plan, opts, clients)
    _metric_filters(plan, opts, clients)
    _dashboard(plan, opts, clients)
    _topic(plan, opts, clients)
    plan.notes.append("log groups are kept (they hold your logs), with the retention they have")
    return plan
