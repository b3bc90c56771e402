"""Desired state -> plan (create / update / unchanged) -> apply; tagged teardown.

Setup builds the full list of resources it wants, reads each one back, and only
writes the ones that differ, so running it twice changes nothing the second time.
Everything it creates carries the ``managed-by``/``bellwatch:stack`` tags (or, for
resources AWS cannot tag, the ``bellwatch-<stack>-`` name prefix plus our metric
namespace), and teardown (:mod:`bellwatch.aws.teardown`) deletes only what carries them.
A plan line that updates says ``key: old -> new`` for every attribute it changes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bellwatch.aws.alarms import AlarmTargets, alarm_params
from bellwatch.aws.changes import Change, Plan, apply, describe_diff
from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.config import DEFAULT_RULES, AlarmRule
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
    "MANAGED_BY",
    "REGION_TAG",
    "STACK_TAG",
    "SUBSCRIBED_TAG",
    "Change",
    "Plan",
    "SetupOptions",
    "apply",
    "build_plan",
    "check_email",
    "check_stack",
    "desired_resources",
    "log_filters_allowed",
    "subscribed_addresses",
]

MANAGED_BY = "managed-by"
_STACK = re.compile(r"[A-Za-z0-9_-]{1,64}")
# An address SNS's Subscribe accepts for the email protocol: one @, no spaces, a dotted
# domain without empty labels. moto subscribes anything; AWS answers InvalidParameter,
# after setup has already made the topic.
_EMAIL = re.compile(r"[^@\s]{1,64}@(?=.{1,253}$)[^@\s.]+(\.[^@\s.]+)+")
STACK_TAG = "bellwatch:stack"
REGION_TAG = "bellwatch:region"
# On the topic: the addresses setup subscribed (space-separated), so that teardown
# can tell them from subscribers added by hand, which it keeps.
SUBSCRIBED_TAG = "bellwatch:subscribed"
# SNS tag values hold at most 256 characters: past that, the addresses go on in
# bellwatch:subscribed:2, :3, ...
_TAG_VALUE_MAX = 256
NEW_GROUP_RETENTION = 30
"""Days a log group created by setup keeps events, unless --retention says otherwise."""
# PutMetricFilter: "The maximum number of metric filters that can be associated with a
# log group is 100." Past it AWS refuses the next filter, after setup made the topic.
_MAX_FILTERS = 100


def check_stack(name: str) -> str:
    """``name`` if it can prefix every resource name, else ValueError saying what is allowed."""
    # Dashboard and SNS topic names allow only these characters.
    if not _STACK.fullmatch(name):
        raise ValueError(f"name {name!r}: use letters, digits, '-' and '_' (at most 64)")
    return name


def _subscribed_tags(emails: Iterable[str]) -> dict[str, str]:
    """The addresses as space-separated tag values of at most 256 characters each."""
    values: list[str] = []
    for email in sorted(emails):
        if values and len(values[-1]) + 1 + len(email) <= _TAG_VALUE_MAX:
            values[-1] += f" {email}"
        else:
            values.append(email)
    return {SUBSCRIBED_TAG + (f":{i}" if i > 1 else ""): v for i, v in enumerate(values, 1)}


def subscribed_addresses(tags: Mapping[str, str]) -> set[str]:
    """The addresses setup subscribed, from the topic's tags."""
    return {
        address
        for key, value in tags.items()
        if key == SUBSCRIBED_TAG or key.startswith(f"{SUBSCRIBED_TAG}:")
        for address in value.split()
    }


def check_email(address: str) -> str:
    """``address`` if SNS would subscribe it by email, else ValueError saying why."""
    if not _EMAIL.fullmatch(address):
        raise ValueError(f"{address!r} is not an email address SNS can subscribe")
    return address


@dataclass(frozen=True, slots=True)
class SetupOptions:
    """What setup provisions, after discovery.

    ``retention_days`` None leaves an existing log group's retention as it is.
    """

    stack: str
    email: str | None
    targets: Targets
    retention_days: int | None = None
    slow_threshold: float = 2.0
    rules: Mapping[str, AlarmRule] = field(default_factory=lambda: dict(DEFAULT_RULES))
    create_log_group: bool = False
    resend_confirmation: bool = False

    def __post_init__(self) -> None:
        check_stack(self.stack)
        if self.email is not None:
            check_email(self.email)

    @property
    def prefix(self) -> str:
        return f"bellwatch-{self.stack}"

    @property
    def namespace(self) -> str:
        return f"Bellwatch/{self.stack}"

    @property
    def tags(self) -> dict[str, str]:
        return {MANAGED_BY: "bellwatch", STACK_TAG: self.stack}

    def dashboard_name(self, region: str) -> str:
        """Dashboards are global: the region in the name keeps two regions' apart."""
        return f"{self.prefix}-{region}"

    def dashboard_tags(self, region: str) -> dict[str, str]:
        return {**self.tags, REGION_TAG: region}


def _plan_resource(plan: Plan, current: Mapping[str, Any] | None, res: Resource) -> None:
    if current is None:
        plan.add(Change("create", res.kind, res.name), res.write)
    elif dict(current) == dict(res.desired):
        plan.add(Change("unchanged", res.kind, res.name), None)
    else:
        plan.add(
            Change("update", res.kind, res.name, describe_diff(current, res.desired)), res.write
        )


def desired_resources(
    opts: SetupOptions,
    *,
    region: str,
    topic_arn: str,
    subscribed: Iterable[str] = (),
    log_filters: bool = True,
) -> list[Resource]:
    """Everything setup wants, in apply order; reads nothing (the export uses it too).

    ``subscribed``: the addresses setup subscribed before (from the topic's tag).
    ``log_filters`` False leaves out the metric filters and what reads their metrics
    (the error-spike alarm, the dashboard's log series): the log group cannot take them.
    """
    t = opts.targets
    # No filter, no error metric: an error-spike alarm on it could never fire.
    specs = metric_filter_specs(opts.slow_threshold) if log_filters and t.log_group else ()
    metrics = {s.key: s.metric for s in specs}
    emails = set(subscribed) | ({opts.email} if opts.email else set())
    topic_tags = {**opts.tags, **_subscribed_tags(emails)}
    topic = Topic(f"{opts.prefix}-alerts", topic_tags)
    resources: list[Resource] = [topic]
    if opts.email:
        resources.append(EmailSubscription(topic, opts.email, resend=opts.resend_confirmation))
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
    alarms, _ = alarm_params(_alarm_targets(opts, topic_arn, metrics.get("errors")), opts.rules)
    resources += [Alarm(p, opts.tags) for p in alarms]
    if t.log_group:
        body = dashboard_body(
            DashboardTargets(
                region=region,
                log_group=t.log_group,
                namespace=opts.namespace,
                metrics=metrics,
                cluster=t.cluster,
                service=t.service,
                load_balancer=t.load_balancer,
                target_group=t.target_group,
            )
        )
        resources.append(Dashboard(opts.dashboard_name(region), body, opts.dashboard_tags(region)))
    return resources


def _alarm_targets(opts: SetupOptions, topic_arn: str, error_metric: str | None) -> AlarmTargets:
    t = opts.targets
    return AlarmTargets(
        prefix=opts.prefix,
        topic_arn=topic_arn,
        namespace=opts.namespace,
        error_metric=error_metric,
        cluster=t.cluster,
        service=t.service,
        load_balancer=t.load_balancer,
        target_group=t.target_group,
        container_insights=t.container_insights,
    )


def _log_group(plan: Plan, opts: SetupOptions, res: LogGroup, clients: Clients) -> None:
    current = res.read(clients)
    if current is None:
        if not opts.create_log_group:
            region = clients.logs.meta.region_name
            raise AwsError(
                f"log group {res.name} not found in {region}: check --log-group (or "
                "BELLWATCH_LOG_GROUP), or pass --create-log-group to create it"
            )
        res.desired = {"retention_days": res.retention_days or NEW_GROUP_RETENTION}
    elif res.retention_days is None:
        res.desired = current  # never touched unless --retention is given
    else:
        old, new = current["retention_days"], res.retention_days
        if old is None or new < old:
            was = "never expire" if old is None else f"are kept {old} days"
            plan.notes.append(
                f"--retention {new} shortens {res.name}'s retention (its events {was}): "
                f"CloudWatch then deletes events older than {new} days"
            )
    _plan_resource(plan, current, res)


def _check_log_group(plan: Plan, opts: SetupOptions, clients: Clients) -> LogGroup | None:
    """Read the log group's class: only STANDARD runs metric filters ("Metric filters are
    supported only for log groups in the Standard log class", CloudWatch Logs user guide,
    MonitoringLogData.html); elsewhere PutMetricFilter is refused."""
    if not opts.targets.log_group:
        return None
    group = LogGroup(opts.targets.log_group, None, {})
    if group.read(clients) is not None and group.log_class != "STANDARD":
        plan.log_filters = False
        plan.notes.append(
            f"{group.name} is in the {group.log_class} log class, where CloudWatch runs no "
            "metric filters: no filters, no error-spike alarm and no log series on the "
            "dashboard (the ALB and ECS ones stay)"
        )
    return group


def log_filters_allowed(opts: SetupOptions, clients: Clients) -> tuple[bool, list[str]]:
    """Whether the log group runs metric filters (it is in the Standard class, or there is
    none), with the note that says why not; for the export, which plans nothing."""
    plan = Plan()
    _check_log_group(plan, opts, clients)
    return plan.log_filters, plan.notes


def _check_filter_quota(plan: Plan, group: LogGroup | None) -> None:
    creating = sum(1 for c in plan.changes if c.kind == "metric-filter" and c.action == "create")
    if group is not None and creating and group.filter_count + creating > _MAX_FILTERS:
        raise AwsError(
            f"{group.name} has {group.filter_count} metric filters and setup would add "
            f"{creating} more: CloudWatch allows at most {_MAX_FILTERS} per log group; delete "
            f"unused ones (aws logs describe-metric-filters --log-group-name {group.name})"
        )


def build_plan(opts: SetupOptions, clients: Clients) -> Plan:
    """Read what exists and compare it with what setup wants; writes nothing.

    Raises:
        AwsError: AWS would refuse part of the plan (a missing log group, too many filters).
    """
    plan = Plan()
    region = str(clients.cloudwatch.meta.region_name)
    group = _check_log_group(plan, opts, clients)
    probe = Topic(f"{opts.prefix}-alerts", {})
    existing = probe.read(clients)
    subscribed = sorted(subscribed_addresses((existing or {}).get("tags", {})))
    topic_arn = probe.find_arn(clients) or f"{clients.account_arn_prefix('sns')}:{probe.name}"
    wanted = desired_resources(
        opts,
        region=region,
        topic_arn=topic_arn,
        subscribed=subscribed,
        log_filters=plan.log_filters,
    )
    for res in wanted:
        if isinstance(res, LogGroup):
            _log_group(plan, opts, res, clients)
            continue
        if isinstance(res, Topic):
            res.known(probe.find_arn(clients))  # listed once already: not again
        _plan_resource(plan, res.read(clients), res)
        if isinstance(res, EmailSubscription):
            if plan.changes[-1].action == "create":
                plan.notes.append(
                    f"{res.name} must open the confirmation link AWS emails it: until then "
                    "no alert is delivered"
                )
            if res.pending:
                plan.notes.append(
                    f"{res.name} has not confirmed the subscription: check the inbox"
                    + (
                        ""
                        if opts.resend_confirmation
                        else " (--resend-confirmation mails it again)"
                    )
                )
            if res.others:
                plan.notes.append(f"the topic also notifies {', '.join(res.others)} (kept)")
    if not opts.email and not subscribed:
        plan.notes.append(
            f"no --email: alarms notify {probe.name}, which nobody setup subscribed receives; "
            "pass --email ADDRESS (or subscribe someone) or no alarm reaches anyone"
        )
    feeds = plan.log_filters and opts.targets.log_group
    _, skipped = alarm_params(_alarm_targets(opts, "-", "-" if feeds else None), opts.rules)
    plan.notes += [f"alarms: {s}" for s in skipped]
    if not opts.targets.log_group:
        plan.notes.append(
            "skipped retention, metric filters, the error-spike alarm and dashboard: no log group "
            "(--log-group or BELLWATCH_LOG_GROUP)"
        )
    _check_filter_quota(plan, group)
    return plan
