"""Provisioning against moto: setup, re-run, drift, dry run and tag-scoped teardown.

Every call goes through real boto3 clients, so botocore validates each request's
parameters exactly as it would against AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import Targets, discover
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from bellwatch.aws.teardown import teardown_plan
from moto_dashboards import global_dashboards

REGION = "ca-central-1"
GROUP = "/ecs/bella-prod"


@dataclass
class World:
    """An ECS service behind an ALB, logging to /ecs/bella-prod, in moto."""

    clients: Clients
    tg_arn: str
    lb_arn: str
    vpc: str


def aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and a region, and no real AWS endpoint or profile."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "BELLWATCH_REGION", "BELLWATCH_LOG_GROUP"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    global_dashboards(monkeypatch)  # AWS keeps dashboards per account, tagged


def build_world(
    c: Clients,
    *,
    cluster: str = "bella-prod",
    service: str = "bella-api",
    insights: str = "enabled",
    retention: int | None = 365,
) -> World:
    """Create the VPC, ALB, target group, ECS cluster, task definition, service and log group.

    The log group exists, as the awslogs driver's does, with a year of retention.
    """
    vpc = c.ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        c.ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{z}")[
            "Subnet"
        ]["SubnetId"]
        for i, z in ((1, "a"), (2, "b"))
    ]
    lb = c.elbv2.create_load_balancer(Name="bella-alb", Subnets=subnets)["LoadBalancers"][0]
    tg = c.elbv2.create_target_group(
        Name="bella-tg", Protocol="HTTP", Port=8000, VpcId=vpc, TargetType="ip"
    )["TargetGroups"][0]
    c.elbv2.create_listener(
        LoadBalancerArn=lb["LoadBalancerArn"],
        Protocol="HTTP",
        Port=80,
        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}],
    )
    c.ecs.create_cluster(
        clusterName=cluster, settings=[{"name": "containerInsights", "value": insights}]
    )
    if not c.logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]:
        c.logs.create_log_group(logGroupName=GROUP)  # (test_cli may have made it)
    if retention is not None:
        c.logs.put_retention_policy(logGroupName=GROUP, retentionInDays=retention)
    log = {"awslogs-group": GROUP, "awslogs-region": REGION}
    c.ecs.register_task_definition(
        family="bella",
        containerDefinitions=[
            {
                "name": "app",
                "image": "bella:1",
                "memory": 512,
                "logConfiguration": {"logDriver": "awslogs", "options": log},
            }
        ],
    )
    c.ecs.create_service(
        cluster=cluster,
        serviceName=service,
        taskDefinition="bella",
        desiredCount=2,
        loadBalancers=[
            {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8000}
        ],
    )
    return World(c, tg["TargetGroupArn"], lb["LoadBalancerArn"], vpc)


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        yield build_world(Clients(region=REGION))


def options(w: World, **changes: Any) -> SetupOptions:
    targets = discover(w.clients)
    return replace(SetupOptions(stack="bella", email="ops@example.com", targets=targets), **changes)


def alarm(c: Clients, suffix: str) -> dict[str, Any]:
    found = c.cloudwatch.describe_alarms(AlarmNames=[f"bellwatch-bella-{suffix}"])
    return dict(found["MetricAlarms"][0])


ALARMS = (
    "cpu-high", "memory-high", "running-tasks", "healthy-hosts", "unhealthy-hosts",
    "response-time", "target-5xx", "elb-5xx", "error-spike",
)  # fmt: skip


def dims(a: dict[str, Any]) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in a["Dimensions"]}


class TestSetup:
    def test_first_run_creates_every_resource(self, world: World) -> None:
        """On a fresh account every resource is created; the existing log group is left as is."""
        plan = build_plan(options(world), world.clients)
        kinds = [c.kind for c in plan.changes]
        assert {(c.action, c.kind) for c in plan.changes if c.action != "create"} == {
            ("unchanged", "log-group")
        }
        assert kinds.count("alarm") == len(ALARMS)
        assert kinds.count("metric-filter") == 9
        assert {"sns-topic", "sns-subscription", "log-group", "dashboard"} <= set(kinds)
        assert plan.notes == [  # an email subscription delivers nothing until confirmed
            "ops@example.com must open the confirmation link AWS emails it: until then no "
            "alert is delivered"
        ]

    def test_alarms_have_the_guide_thresholds(self, world: World) -> None:
        """The guide's alarms keep its metric, threshold, period and evaluation window."""
        apply(build_plan(options(world), world.clients), world.clients)
        c = world.clients
        expect = {
            "cpu-high": ("CPUUtilization", 80, 300, 1),
            "memory-high": ("MemoryUtilization", 85, 300, 1),
            "unhealthy-hosts": ("UnHealthyHostCount", 0, 60, 2),
            "response-time": ("TargetResponseTime", 5, 300, 1),
            "target-5xx": ("HTTPCode_Target_5XX_Count", 5, 300, 1),
            "error-spike": ("ErrorCount", 10, 300, 2),
        }
        for suffix, (metric, threshold, period, periods) in expect.items():
            a = alarm(c, suffix)
            got = (a["MetricName"], a["Threshold"], a["Period"], a["EvaluationPeriods"])
            assert got == (metric, threshold, period, periods), suffix
            assert a["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm(c, "error-spike")["DatapointsToAlarm"] == 1
        assert alarm(c, "target-5xx")["TreatMissingData"] == "notBreaching"
        assert alarm(c, "response-time")["ExtendedStatistic"] == "p95"

    def test_every_alarm_notifies_the_topic(self, world: World) -> None:
        """All alarms send to the one SNS topic, which has the email subscription."""
        apply(build_plan(options(world), world.clients), world.clients)
        c = world.clients
        (topic,) = c.sns.list_topics()["Topics"]
        alarms = c.cloudwatch.describe_alarms(AlarmNamePrefix="bellwatch-bella-")["MetricAlarms"]
        assert sorted(a["AlarmName"] for a in alarms) == sorted(
            f"bellwatch-bella-{n}" for n in ALARMS
        )
        assert all(a["AlarmActions"] == [topic["TopicArn"]] for a in alarms)
        subs = c.sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
        assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]

    def test_load_balancer_alarms_are_scoped_to_the_target_group(self, world: World) -> None:
        """Alarms on metrics AWS publishes per target group name it as well as the ALB."""
        apply(build_plan(options(world), world.clients), world.clients)
        lb = world.lb_arn.split(":loadbalancer/")[1]
        for name in ("healthy-hosts", "unhealthy-hosts", "response-time", "target-5xx"):
            d = dims(alarm(world.clients, name))
            assert d["LoadBalancer"] == lb, name
            assert d["TargetGroup"].startswith("targetgroup/bella-tg/"), name
        # Load-balancer-generated 5xx are published per load balancer only.
        assert dims(alarm(world.clients, "elb-5xx")) == {"LoadBalancer": lb}
        cpu = dims(alarm(world.clients, "cpu-high"))
        assert cpu == {"ClusterName": "bella-prod", "ServiceName": "bella-api"}

    def test_existing_retention_is_kept(self, world: World) -> None:
        """Without --retention a year of retention stays a year; the filters are added."""
        apply(build_plan(options(world), world.clients), world.clients)
        logs = world.clients.logs
        (group,) = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
        assert group["retentionInDays"] == 365
        filters = logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"]
        patterns = {f["filterName"]: f["filterPattern"] for f in filters}
        assert patterns["bellwatch-bella-slow-requests"] == (
            '{ $.event = "request_complete" && $.duration > 2 }'
        )

    def test_dashboard_has_the_guide_widgets(self, world: World) -> None:
        """The dashboard, named for its region, shows the guide's widgets and the targets."""
        apply(build_plan(options(world), world.clients), world.clients)
        got = world.clients.cloudwatch.get_dashboard(DashboardName=f"bellwatch-bella-{REGION}")
        body = json.loads(got["DashboardBody"])
        titles = [w["properties"]["title"] for w in body["widgets"]]
        assert titles == [
            "Requests",
            "Latency p95 (s)",
            "Error rate (%)",
            "5xx responses",
            "CPU and memory (%)",
            "Targets",
            "Top errors",
        ]
        alb_series = [
            row for w in body["widgets"] for row in w["properties"].get("metrics", [])
            if row[0] == "AWS/ApplicationELB" and row[1] != "HTTPCode_ELB_5XX_Count"
        ]  # fmt: skip
        assert alb_series and all("TargetGroup" in row for row in alb_series)

    def test_missing_log_group_is_an_error(self, world: World) -> None:
        """A log group that does not exist (a typo) stops the plan and names the flag."""
        targets = replace(discover(world.clients), log_group="/ecs/bela-prod")
        with pytest.raises(AwsError, match=r"/ecs/bela-prod not found.*--create-log-group"):
            build_plan(options(world, targets=targets), world.clients)

    def test_missing_log_group_is_created_when_asked(self, world: World) -> None:
        """With create_log_group the group is created, tagged, with 30-day retention."""
        targets = replace(discover(world.clients), log_group="/ecs/new")
        opts = options(world, targets=targets, create_log_group=True)
        plan = build_plan(opts, world.clients)
        assert ("create", "/ecs/new") in [(c.action, c.name) for c in plan.changes]
        apply(plan, world.clients)
        (group,) = world.clients.logs.describe_log_groups(logGroupNamePrefix="/ecs/new")[
            "logGroups"
        ]
        assert group["retentionInDays"] == 30


class TestRerun:
    def test_second_run_changes_nothing(self, world: World) -> None:
        """After one apply, a new plan is all unchanged and applying it writes nothing."""
        apply(build_plan(options(world), world.clients), world.clients)
        again = build_plan(options(world), world.clients)
        assert again.pending == []
        assert apply(again, world.clients) == []

    def test_drift_is_updated_alone_and_shown_old_to_new(self, world: World) -> None:
        """A hand-edited alarm threshold is the only update, shown old -> new; apply restores it."""
        apply(build_plan(options(world), world.clients), world.clients)
        edited = alarm(world.clients, "cpu-high")
        keep = ("AlarmName", "Namespace", "MetricName", "Dimensions", "Statistic", "Period")
        world.clients.cloudwatch.put_metric_alarm(
            **{k: edited[k] for k in keep},
            EvaluationPeriods=1,
            Threshold=95,
            ComparisonOperator="GreaterThanThreshold",
        )
        plan = build_plan(options(world), world.clients)
        (change,) = plan.pending
        assert (change.action, change.name) == ("update", "bellwatch-bella-cpu-high")
        assert "Threshold: 95.0 -> 80.0" in change.detail
        assert "TreatMissingData: none -> breaching" in change.detail
        apply(plan, world.clients)
        assert alarm(world.clients, "cpu-high")["Threshold"] == 80
        assert build_plan(options(world), world.clients).pending == []

    def test_explicit_retention_is_an_update_shown_and_warned(self, world: World) -> None:
        """--retention 30 on a 365-day group updates only it, shows 365 -> 30, and warns."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = build_plan(options(world, retention_days=30), world.clients)
        (change,) = plan.pending
        assert (change.kind, change.detail) == ("log-group", "retention_days: 365 -> 30")
        assert any("deletes events older than 30 days" in n for n in plan.notes)

    def test_configured_rule_is_used(self, world: World) -> None:
        """A rule from the config changes the alarm's statistic, and only that alarm."""
        from bellwatch.aws.config import load_rules

        apply(build_plan(options(world), world.clients), world.clients)
        rules = load_rules(overrides=["response-time.statistic=p99"])
        plan = build_plan(options(world, rules=rules), world.clients)
        (change,) = plan.pending
        assert change.name == "bellwatch-bella-response-time"
        assert "ExtendedStatistic: p95 -> p99" in change.detail


class TestDryRun:
    def test_planning_writes_nothing(self, world: World) -> None:
        """Building a plan creates no topic, alarm, filter or dashboard."""
        build_plan(options(world), world.clients)
        c = world.clients
        assert c.sns.list_topics()["Topics"] == []
        assert c.cloudwatch.describe_alarms()["MetricAlarms"] == []
        assert c.cloudwatch.list_dashboards()["DashboardEntries"] == []
        assert c.logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"] == []

    def test_missing_names_are_notes_not_errors(self, world: World) -> None:
        """Without a load balancer or log group, the plan says which parts it left out."""
        targets = Targets("bella-prod", "bella-api", container_insights=True)
        plan = build_plan(options(world, targets=targets), world.clients)
        assert [
            c.name.removeprefix("bellwatch-bella-") for c in plan.changes if c.kind == "alarm"
        ] == [
            "cpu-high",
            "memory-high",
            "running-tasks",
        ]  # no error-spike: without a log group no filter feeds it, and it could never fire
        assert any("healthy-hosts" in n for n in plan.notes)
        assert any("no log group" in n for n in plan.notes)
        assert "alarms: error-spike: no metric filter on the log group counts the errors" in (
            plan.notes
        )

    def test_running_tasks_needs_container_insights(self, world: World) -> None:
        """Without Container Insights there is no running-tasks alarm, and a note says why."""
        targets = replace(discover(world.clients), container_insights=False)
        plan = build_plan(options(world, targets=targets), world.clients)
        assert "bellwatch-bella-running-tasks" not in [c.name for c in plan.changes]
        assert any("Container Insights is off" in n for n in plan.notes)

    def test_no_email_is_a_warning(self, world: World) -> None:
        """Without an email, the plan says the alarms would reach nobody."""
        plan = build_plan(options(world, email=None), world.clients)
        assert any("no alarm reaches anyone" in n for n in plan.notes)


class TestTeardown:
    def test_removes_what_setup_created(self, world: World) -> None:
        """Teardown deletes the alarms, filters, dashboard and topic, and keeps the log group."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = teardown_plan("bella", world.clients)
        assert len(plan.changes) == len(ALARMS) + 9 + 1 + 1
        apply(plan, world.clients)
        c = world.clients
        assert c.cloudwatch.describe_alarms()["MetricAlarms"] == []
        assert c.cloudwatch.list_dashboards()["DashboardEntries"] == []
        assert c.sns.list_topics()["Topics"] == []
        assert c.logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"] == []
        (group,) = c.logs.describe_log_groups()["logGroups"]
        assert group["retentionInDays"] == 365
        assert teardown_plan("bella", c).changes == []

    def test_leaves_untagged_and_other_stacks_alone(self, world: World) -> None:
        """An alarm with our prefix but no tags, and another stack's resources, survive."""
        apply(build_plan(options(world), world.clients), world.clients)
        apply(build_plan(options(world, stack="other"), world.clients), world.clients)
        c = world.clients
        c.cloudwatch.put_metric_alarm(
            AlarmName="bellwatch-bella-handmade",
            Namespace="AWS/ECS",
            MetricName="CPUUtilization",
            Statistic="Average",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        apply(teardown_plan("bella", c), c)
        names = {a["AlarmName"] for a in c.cloudwatch.describe_alarms()["MetricAlarms"]}
        assert "bellwatch-bella-handmade" in names
        assert sum(n.startswith("bellwatch-other-") for n in names) == len(ALARMS)
        assert [t["TopicArn"].rsplit(":", 1)[1] for t in c.sns.list_topics()["Topics"]] == [
            "bellwatch-other-alerts"
        ]

    def test_untagged_dashboard_of_the_same_name_is_kept(self, world: World) -> None:
        """A dashboard named like ours but not tagged as ours is not deleted."""
        name = f"bellwatch-bella-{REGION}"
        world.clients.cloudwatch.put_dashboard(DashboardName=name, DashboardBody='{"widgets":[]}')
        plan = teardown_plan("bella", world.clients)
        assert "dashboard" not in [c.kind for c in plan.changes]
        assert any(f"dashboard {name} is not tagged" in n for n in plan.notes)

    def test_keeps_the_topic_for_subscribers_setup_did_not_add(self, world: World) -> None:
        """A teammate subscribed by hand keeps the topic; setup's own subscription goes."""
        apply(build_plan(options(world), world.clients), world.clients)
        c = world.clients
        (topic,) = c.sns.list_topics()["Topics"]
        c.sns.subscribe(TopicArn=topic["TopicArn"], Protocol="email", Endpoint="bob@example.com")
        plan = teardown_plan("bella", c)
        assert ("keep", "sns-topic") in [(x.action, x.kind) for x in plan.changes]
        apply(plan, c)
        subs = c.sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
        assert [s["Endpoint"] for s in subs] == ["bob@example.com"]


class TestGlobalDashboards:
    """Dashboards are one namespace per account (moto_dashboards adds that rule to moto)."""

    # "All dashboards in your account are global, not region-specific."
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutDashboard.html

    def test_names_are_unique_across_every_region(self) -> None:
        """One stack's dashboard names differ in every region CloudWatch runs in."""
        import boto3

        regions = boto3.session.Session().get_available_regions("cloudwatch")
        opts = SetupOptions(stack="bella", email=None, targets=Targets())
        names = [opts.dashboard_name(r) for r in regions]
        assert len(regions) > 20 and len(set(names)) == len(names)
        assert all(len(n) <= 255 for n in names)  # PutDashboard: DashboardName up to 255

    def test_two_regions_keep_two_dashboards(self, world: World) -> None:
        """Set up in two regions, re-run both: two dashboards, no flip-flop; teardown one."""
        east = Clients(region="us-east-1")
        build_world(east)
        for c in (world.clients, east):
            apply(build_plan(options(replace(world, clients=c)), c), c)
        for c in (world.clients, east):
            assert build_plan(options(replace(world, clients=c)), c).pending == []
        names = [d["DashboardName"] for d in east.cloudwatch.list_dashboards()["DashboardEntries"]]
        assert names == ["bellwatch-bella-ca-central-1", "bellwatch-bella-us-east-1"]
        apply(teardown_plan("bella", east), east)
        left = world.clients.cloudwatch.list_dashboards()["DashboardEntries"]
        assert [d["DashboardName"] for d in left] == ["bellwatch-bella-ca-central-1"]


class TestSubscription:
    def test_unconfirmed_email_is_noted(self, world: World) -> None:
        """A subscription pending confirmation is unchanged, with a note to check the inbox."""
        apply(build_plan(options(world), world.clients), world.clients)
        pending(world.clients)
        plan = build_plan(options(world), world.clients)
        assert plan.pending == []
        assert plan.notes == [
            "ops@example.com has not confirmed the subscription: check the inbox "
            "(--resend-confirmation mails it again)"
        ]

    def test_resend_subscribes_the_pending_address_again(self, world: World) -> None:
        """With resend_confirmation a pending address is subscribed again (AWS re-mails it)."""
        apply(build_plan(options(world), world.clients), world.clients)
        pending(world.clients)
        plan = build_plan(options(world, resend_confirmation=True), world.clients)
        (change,) = plan.pending
        assert (change.action, change.kind, change.name) == (
            "update", "sns-subscription", "ops@example.com"
        )  # fmt: skip

    def test_other_subscribers_are_kept_and_noted(self, world: World) -> None:
        """A new --email adds a subscription; the old address stays and is named in a note."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = build_plan(options(world, email="new@example.com"), world.clients)
        assert [(c.action, c.name) for c in plan.pending] == [
            ("update", "bellwatch-bella-alerts"),  # its tag records both addresses
            ("create", "new@example.com"),
        ]
        assert plan.notes[-1] == "the topic also notifies email:ops@example.com (kept)"


def pending(c: Clients) -> None:
    """Make every subscription look unconfirmed to this client (moto confirms at once)."""

    def hook(parsed: dict[str, Any], **_: Any) -> None:
        for sub in parsed.get("Subscriptions", []):
            sub["SubscriptionArn"] = "PendingConfirmation"

    c.sns.meta.events.register("after-call.sns.ListSubscriptionsByTopic", hook)


class TestSubscribedTag:
    # SNS tag values: "Maximum length of 256" (moto takes any length).
    # https://docs.aws.amazon.com/sns/latest/api/API_Tag.html

    def test_many_addresses_keep_every_tag_value_within_256(self, world: World) -> None:
        """Seven long addresses subscribed over seven runs spread over tags of at most 256
        characters each, and teardown still knows every one as setup's own."""
        c = world.clients
        emails = [f"oncall-rotation-engineer-number-{i}@bella-example.com" for i in range(7)]
        for email in emails:
            apply(build_plan(options(world, email=email), c), c)
        (topic,) = c.sns.list_topics()["Topics"]
        tags = c.sns.list_tags_for_resource(ResourceArn=topic["TopicArn"])["Tags"]
        assert max(len(t["Value"]) for t in tags) <= 256
        assert build_plan(options(world, email=emails[0]), c).pending == []
        c.sns.subscribe(TopicArn=topic["TopicArn"], Protocol="email", Endpoint="bob@example.com")
        plan = teardown_plan("bella", c)
        assert sum(x.kind == "sns-subscription" for x in plan.changes) == len(emails)


def log_groups_report(c: Clients, **facts: Any) -> None:
    """DescribeLogGroups answers with ``facts`` in every group, as AWS does (moto leaves
    out ``logGroupClass`` and keeps ``metricFilterCount`` at 0)."""

    def add(parsed: dict[str, Any], **_: Any) -> None:
        for group in parsed.get("logGroups", []):
            group.update(facts)

    c.logs.meta.events.register("after-call.cloudwatch-logs.DescribeLogGroups", add)


class TestLogGroupLimits:
    def test_infrequent_access_group_gets_no_metric_filters(self, world: World) -> None:
        """An Infrequent Access group gets no metric filters, which AWS refuses there
        ("Metric filters are supported only for log groups in the Standard log class",
        https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/MonitoringLogData.html),
        nor the error-spike alarm they feed; a note says why."""
        log_groups_report(world.clients, logGroupClass="INFREQUENT_ACCESS")
        plan = build_plan(options(world), world.clients)
        names = [c.name for c in plan.changes]
        assert not [c for c in plan.changes if c.kind == "metric-filter"]
        assert "bellwatch-bella-error-spike" not in names
        assert "bellwatch-bella-cpu-high" in names and "bellwatch-bella-ca-central-1" in names
        assert any("INFREQUENT_ACCESS" in n and "metric filters" in n for n in plan.notes)
        apply(plan, world.clients)
        assert world.clients.logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"] == []

    def test_infrequent_access_dashboard_has_no_log_metric_series(self, world: World) -> None:
        """Without metric filters the dashboard shows the ALB and ECS series only, never a
        series of a metric nothing publishes."""
        log_groups_report(world.clients, logGroupClass="INFREQUENT_ACCESS")
        plan = build_plan(options(world), world.clients)
        apply(plan, world.clients)
        body = world.clients.cloudwatch.get_dashboard(DashboardName="bellwatch-bella-ca-central-1")
        text = body["DashboardBody"]
        assert "Bellwatch/bella" not in text and "HTTPCode_Target_5XX_Count" in text
        assert "SOURCE '/ecs/bella-prod'" in text  # Insights reads Infrequent Access groups

    def test_more_than_100_filters_stops_the_plan(self, world: World) -> None:
        """A group whose filters and ours would pass 100 stops the plan before any write
        ("The maximum number of metric filters that can be associated with a log group is
        100", https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutMetricFilter.html)."""
        log_groups_report(world.clients, metricFilterCount=92)
        with pytest.raises(AwsError, match=r"92 metric filters.*9 more.*at most 100"):
            build_plan(options(world), world.clients)
        assert world.clients.sns.list_topics()["Topics"] == []

    def test_a_rerun_on_a_full_group_is_fine(self, world: World) -> None:
        """Filters setup already made are counted once: a re-run on a group at 100 passes."""
        apply(build_plan(options(world), world.clients), world.clients)
        log_groups_report(world.clients, metricFilterCount=100)
        assert build_plan(options(world), world.clients).pending == []


class TestTopicLookups:
    @staticmethod
    def _count_list_topics(c: Clients) -> list[int]:
        calls = [0]

        def seen(**_: Any) -> None:
            calls[0] += 1

        c.sns.meta.events.register("before-call.sns.ListTopics", seen)
        return calls

    def test_setup_lists_the_regions_topics_once(self, world: World) -> None:
        """Plan and apply on a fresh account list SNS topics once (a page per 100 topics),
        not once per read and write of the topic and its subscription."""
        calls = self._count_list_topics(world.clients)
        apply(build_plan(options(world), world.clients), world.clients)
        assert calls == [1]

    def test_rerun_finds_the_topic_setup_made(self, world: World) -> None:
        """A second setup finds the topic by one listing and changes nothing."""
        apply(build_plan(options(world), world.clients), world.clients)
        calls = self._count_list_topics(world.clients)
        again = build_plan(options(world), world.clients)
        assert again.pending == [] and calls == [1]

    def test_subscription_goes_to_the_topic_just_made(self, world: World) -> None:
        """The subscription written after the topic's creation names the new topic's ARN."""
        apply(build_plan(options(world), world.clients), world.clients)
        (topic,) = world.clients.sns.list_topics()["Topics"]
        subs = world.clients.sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])
        assert [s["Endpoint"] for s in subs["Subscriptions"]] == ["ops@example.com"]


class TestAlarmWrites:
    def test_new_alarms_are_not_described_again_after_the_put(self, world: World) -> None:
        """A first setup describes each alarm once (the plan's read), created with its tags."""
        calls = [0]

        def seen(**_: Any) -> None:
            calls[0] += 1

        world.clients.cloudwatch.meta.events.register("before-call.cloudwatch.DescribeAlarms", seen)
        apply(build_plan(options(world), world.clients), world.clients)
        assert calls == [len(ALARMS)]
        tags = world.clients.cloudwatch.list_tags_for_resource(
            ResourceARN=alarm(world.clients, "cpu-high")["AlarmArn"]
        )["Tags"]
        assert {"Key": "bellwatch:stack", "Value": "bella"} in tags

    def test_an_existing_alarm_gets_its_tags_back(self, world: World) -> None:
        """An alarm whose tags were removed by hand is an update that tags it again."""
        apply(build_plan(options(world), world.clients), world.clients)
        arn = alarm(world.clients, "cpu-high")["AlarmArn"]
        world.clients.cloudwatch.untag_resource(ResourceARN=arn, TagKeys=["bellwatch:stack"])
        again = build_plan(options(world), world.clients)
        assert [(c.action, c.name) for c in again.pending] == [
            ("update", "bellwatch-bella-cpu-high")
        ]
        apply(again, world.clients)
        tags = world.clients.cloudwatch.list_tags_for_resource(ResourceARN=arn)["Tags"]
        assert {"Key": "bellwatch:stack", "Value": "bella"} in tags
