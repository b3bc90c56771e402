"""Desired state -> plan (create / update / unchanged) -> apply; tagged teardown.

Setup builds the full list of resources it wants, reads each one back, and only
writes the ones that differ, so running it twice changes nothing the second time.
Everything it creates carries the ``managed-by``/``bellwatch:stack`` tags (or, for
resources AWS cannot tag, the ``bellwatch-<stack>-`` name prefix plus our metric
namespace), and teardown deletes only what carries them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from bellwatch.aws.alarms import AlarmTargets, alarm_params
from bellwatch.aws.clients import Clients
from bellwatch.aws.dashboard import DashboardTargets, dashboard_body
from bellwatch.aws.discover import Targets
from bellwatch.aws.metric_filters import metric_filter_specs
from bellwatch.aws.resources import (
    Alarm,
    Dashboard,
    EmailSubscription,
    LogGroup,
    MetricFilter,
    Resource,
    Topic,
)

__all__ = [
    "Change",
    "Plan",
    "SetupOptions",
    "apply",
    "build_plan",
    "check_stack",
    "teardown_plan",
]

Action = Literal["create", "update", "unchanged", "delete"]
MANAGED_BY = "managed-by"
_STACK = re.compile(r"[A-Za-z0-9_-]{1,64}")
STACK_TAG = "bellwatch:stack"


def check_stack(name: str) -> str:
    """``name`` if it can prefix every resource name, else ValueError saying what is allowed."""
    # Dashboard and SNS topic names allow only these characters.
    if not _STACK.fullmatch(name):
        raise ValueError(f"name {name!r}: use letters, digits, '-' and '_' (at most 64)")
    return name


@dataclass(frozen=True, slots=True)
class SetupOptions:
    """What setup provisions, after discovery."""

    stack: str
    email: str | None
    targets: Targets
    retention_days: int = 30
    slow_threshold: float = 2.0

    def __post_init__(self) -> None:
        check_stack(self.stack)

    @property
    def prefix(self) -> str:
        return f"bellwatch-{self.stack}"

    @property
    def namespace(self) -> str:
        return f"Bellwatch/{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        return {MANAGED_BY: "bellwatch", STACK_TAG: self.stack}


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the plan."""

    action: Action
    kind: str
    name: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "detail": self.detail}

    def __str__(self) -> str:
        tail = f"  ({self.detail})" if self.detail else ""
        return f"{self.action:<9} {self.kind:<16} {self.name}{tail}"


@dataclass(slots=True)
class Plan:
    """Changes in apply order, each with the callable that makes it happen."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    _steps: list[Callable[[Clients], None] | None] = field(default_factory=list)

    def add(self, change: Change, step: Callable[[Clients], None] | None) -> None:
        self.changes.append(change)
        self._steps.append(step)

    @property
    def pending(self) -> list[Change]:
        """The changes that write something."""
        return [c for c in self.changes if c.action != "unchanged"]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "counts": self.counts(),
            "notes": self.notes,
        }


def _diff(current: Any, desired: Any) -> str:
    if isinstance(current, dict) and isinstance(desired, dict):
        keys = sorted(
            k for k in desired.keys() | current.keys() if current.get(k) != desired.get(k)
        )
        return "changed: " + ", ".join(str(k) for k in keys)
    return "changed"


def _plan_resource(plan: Plan, clients: Clients, res: Resource) -> None:
    current = res.read(clients)
    if current is None:
        plan.add(Change("create", res.kind, res.name), res.write)
    elif dict(current) == dict(res.desired):
        plan.add(Change("unchanged", res.kind, res.name), None)
    else:
        plan.add(Change("update", res.kind, res.name, _diff(current, res.desired)), res.write)


def _resources(opts: SetupOptions, clients: Clients, topic: Topic) -> list[Resource]:
    t = opts.targets
    topic_arn = topic.find_arn(clients) or (f"{clients.account_arn_prefix('sns')}:{topic.name}")
    specs = metric_filter_specs(opts.slow_threshold)
    metrics = {s.key: s.metric for s in specs}
    resources: list[Resource] = [topic]
    if opts.email:
        resources.append(EmailSubscription(topic, opts.email))
    if t.log_group:
        resources.append(LogGroup(t.log_group, opts.retention_days, opts.tags))
        resources += [
            MetricFilter(
                t.log_group,
                f"{opts.prefix}-{s.key.replace('_', '-')}",
                pattern=s.pattern,
                namespace=opts.namespace,
                metric=s.metric,
                value=s.value,
            )
            for s in specs
        ]
    alarms, _ = alarm_params(
        AlarmTargets(
            prefix=opts.prefix,
            topic_arn=topic_arn,
            namespace=opts.namespace,
            error_metric=metrics["errors"],
            cluster=t.cluster,
            service=t.service,
            load_balancer=t.load_balancer,
            target_group=t.target_group,
        )
    )
    resources += [Alarm(p, opts.tags) for p in alarms]
    if t.log_group:
        body = dashboard_body(
            DashboardTargets(
                region=str(clients.cloudwatch.meta.region_name),
                log_group=t.log_group,
                namespace=opts.namespace,
                metrics=metrics,
                cluster=t.cluster,
                service=t.service,
                load_balancer=t.load_balancer,
            )
        )
        resources.append(Dashboard(opts.prefix, body))
    return resources


def build_plan(opts: SetupOptions, clients: Clients) -> Plan:
    """Read what exists and compare it with what setup wants; writes nothing."""
    plan = Plan()
    topic = Topic(f"{opts.prefix}-alerts", opts.tags)
    for res in _resources(opts, clients, topic):
        _plan_resource(plan, clients, res)
        if isinstance(res, EmailSubscription):
            if res.pending:
                plan.notes.append(f"{res.name} has not confirmed the subscription: check the inbox")
            if res.others:
                plan.notes.append(f"the topic also notifies {', '.join(res.others)} (kept)")
    t = opts.targets
    _, skipped = alarm_params(
        AlarmTargets(opts.prefix, "-", opts.namespace, "-", t.cluster, t.service,
                     t.load_balancer, t.target_group)
    )  # fmt: skip
    plan.notes += [f"skipped alarms {s}" for s in skipped]
    if not t.log_group:
        plan.notes.append(
            "skipped retention, metric filters, error-spike data and dashboard: no log group "
            "(--log-group or BELLWATCH_LOG_GROUP)"
        )
    return plan


def apply(plan: Plan, clients: Clients) -> list[Change]:
    """Make every pending change, in plan order; returns the changes made."""
    done: list[Change] = []
    for change, step in zip(plan.changes, plan._steps, strict=True):
        if step is not None:
            step(clients)
            done.append(change)
    return done


def _is_ours(tags: dict[str, str], stack: str) -> bool:
    return tags.get(MANAGED_BY) == "bellwatch" and tags.get(STACK_TAG) == stack


def _call(service: str, method: str, **kwargs: Any) -> Callable[[Clients], None]:
    def step(clients: Clients) -> None:
        getattr(getattr(clients, service), method)(**kwargs)

    return step


def teardown_plan(stack: str, clients: Clients) -> Plan:
    """Every resource setup created for ``stack`` (by tag, or by name and namespace)."""
    opts = SetupOptions(stack=stack, email=None, targets=Targets())
    plan = Plan()
    cw = clients.cloudwatch
    for page in cw.get_paginator("describe_alarms").paginate(AlarmNamePrefix=opts.prefix + "-"):
        for alarm in page.get("MetricAlarms", []):
            raw = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"]).get("Tags", [])
            if _is_ours({t["Key"]: t["Value"] for t in raw}, stack):
                name = alarm["AlarmName"]
                plan.add(
                    Change("delete", "alarm", name),
                    _call("cloudwatch", "delete_alarms", AlarmNames=[name]),
                )
    # Metric filters cannot be tagged: ours are the ones in our namespace with our prefix.
    # (the API takes a namespace only together with a metric name: ask once per metric).
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
    if Dashboard(opts.prefix, {}).read(clients) is not None:
        plan.add(
            Change("delete", "dashboard", opts.prefix),
            _call("cloudwatch", "delete_dashboards", DashboardNames=[opts.prefix]),
        )
    topic = Topic(f"{opts.prefix}-alerts", opts.tags)
    current, arn = topic.read(clients), topic.find_arn(clients)
    if current is not None and arn and _is_ours(current["tags"], stack):
        plan.add(
            Change("delete", "sns-topic", topic.name, "with its subscriptions"),
            _call("sns", "delete_topic", TopicArn=arn),
        )
    plan.notes.append("log groups are kept (they hold your logs); their retention stays as set")
    return plan
