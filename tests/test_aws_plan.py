"""Provisioning against moto: setup, re-run, drift, dry run and tag-scoped teardown.

Every call goes through real boto3 clients, so botocore validates each request's
parameters exactly as it would against AWS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

import pytest
from moto import mock_aws

from bellwatch.aws.clients import Clients
from bellwatch.aws.discover import Targets, discover
from bellwatch.aws.plan import SetupOptions, apply, build_plan, teardown_plan

REGION = "ca-central-1"


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


def build_world(c: Clients, *, cluster: str = "bella-prod", service: str = "bella-api") -> World:
    """Create the VPC, ALB, target group, ECS cluster, task definition and service."""
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
    c.ecs.create_cluster(clusterName=cluster)
    log = {"awslogs-group": "/ecs/bella-prod", "awslogs-region": REGION}
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


class TestSetup:
    def test_first_run_creates_every_resource(self, world: World) -> None:
        """On an empty account every planned resource is a create."""
        plan = build_plan(options(world), world.clients)
        kinds = [c.kind for c in plan.changes]
        assert {c.action for c in plan.changes} == {"create"}
        assert kinds.count("alarm") == 6
        assert kinds.count("metric-filter") == 9
        assert {"sns-topic", "sns-subscription", "log-group", "dashboard"} <= set(kinds)
        assert plan.notes == []

    def test_alarms_have_the_guide_thresholds(self, world: World) -> None:
        """Each alarm has the guide's metric, threshold, period and evaluation window."""
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
        """All six alarms send to the one SNS topic, which has the email subscription."""
        apply(build_plan(options(world), world.clients), world.clients)
        c = world.clients
        (topic,) = c.sns.list_topics()["Topics"]
        alarms = c.cloudwatch.describe_alarms(AlarmNamePrefix="bellwatch-bella-")["MetricAlarms"]
        assert len(alarms) == 6
        assert all(a["AlarmActions"] == [topic["TopicArn"]] for a in alarms)
        subs = c.sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])["Subscriptions"]
        assert [(s["Protocol"], s["Endpoint"]) for s in subs] == [("email", "ops@example.com")]

    def test_alarm_dimensions_come_from_the_service(self, world: World) -> None:
        """ECS alarms name the cluster and service; ALB alarms use the ARN suffixes."""
        apply(build_plan(options(world), world.clients), world.clients)
        dims = {
            d["Name"]: d["Value"] for d in alarm(world.clients, "unhealthy-hosts")["Dimensions"]
        }
        assert dims["LoadBalancer"] == world.lb_arn.split(":loadbalancer/")[1]
        assert dims["TargetGroup"].startswith("targetgroup/bella-tg/")
        cpu = {d["Name"]: d["Value"] for d in alarm(world.clients, "cpu-high")["Dimensions"]}
        assert cpu == {"ClusterName": "bella-prod", "ServiceName": "bella-api"}

    def test_log_group_gets_retention_and_filters(self, world: World) -> None:
        """The log group gets 30-day retention and the JSON metric filters."""
        apply(build_plan(options(world), world.clients), world.clients)
        logs = world.clients.logs
        (group,) = logs.describe_log_groups(logGroupNamePrefix="/ecs/bella-prod")["logGroups"]
        assert group["retentionInDays"] == 30
        filters = logs.describe_metric_filters(logGroupName="/ecs/bella-prod")["metricFilters"]
        patterns = {f["filterName"]: f["filterPattern"] for f in filters}
        assert patterns["bellwatch-bella-slow-requests"] == (
            '{ $.event = "request_complete" && $.duration > 2 }'
        )

    def test_dashboard_has_the_guide_widgets(self, world: World) -> None:
        """The dashboard shows requests, p95, error rate, 5xx, CPU/memory and top errors."""
        apply(build_plan(options(world), world.clients), world.clients)
        body = world.clients.cloudwatch.get_dashboard(DashboardName="bellwatch-bella")
        import json

        titles = [w["properties"]["title"] for w in json.loads(body["DashboardBody"])["widgets"]]
        assert titles == [
            "Requests",
            "Latency p95 (s)",
            "Error rate (%)",
            "5xx responses",
            "CPU and memory (%)",
            "Top errors",
        ]


class TestRerun:
    def test_second_run_changes_nothing(self, world: World) -> None:
        """After one apply, a new plan is all unchanged and applying it writes nothing."""
        apply(build_plan(options(world), world.clients), world.clients)
        again = build_plan(options(world), world.clients)
        assert again.pending == []
        assert apply(again, world.clients) == []

    def test_drift_is_updated_alone(self, world: World) -> None:
        """A hand-edited alarm threshold is the only update, and apply restores it."""
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
        assert "Threshold" in change.detail
        apply(plan, world.clients)
        assert alarm(world.clients, "cpu-high")["Threshold"] == 80
        assert build_plan(options(world), world.clients).pending == []

    def test_new_retention_is_an_update(self, world: World) -> None:
        """Changing --retention updates only the log group."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = build_plan(options(world, retention_days=90), world.clients)
        assert [(c.action, c.kind) for c in plan.pending] == [("update", "log-group")]


class TestDryRun:
    def test_planning_writes_nothing(self, world: World) -> None:
        """Building a plan creates no topic, alarm, filter, group or dashboard."""
        build_plan(options(world), world.clients)
        c = world.clients
        assert c.sns.list_topics()["Topics"] == []
        assert c.cloudwatch.describe_alarms()["MetricAlarms"] == []
        assert c.cloudwatch.list_dashboards()["DashboardEntries"] == []
        assert c.logs.describe_log_groups()["logGroups"] == []

    def test_missing_names_are_notes_not_errors(self, world: World) -> None:
        """Without a load balancer or log group, the plan says which parts it left out."""
        plan = build_plan(options(world, targets=Targets("bella-prod", "bella-api")), world.clients)
        assert [c.name.rsplit("-", 2)[-2:] for c in plan.changes if c.kind == "alarm"] == [
            ["cpu", "high"],
            ["memory", "high"],
            ["error", "spike"],
        ]
        assert any("unhealthy-hosts" in n for n in plan.notes)
        assert any("no log group" in n for n in plan.notes)


class TestTeardown:
    def test_removes_what_setup_created(self, world: World) -> None:
        """Teardown deletes the alarms, filters, dashboard and topic, and keeps the log group."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = teardown_plan("bella", world.clients)
        assert len(plan.changes) == 6 + 9 + 1 + 1
        apply(plan, world.clients)
        c = world.clients
        assert c.cloudwatch.describe_alarms()["MetricAlarms"] == []
        assert c.sns.list_topics()["Topics"] == []
        assert c.logs.describe_metric_filters(logGroupName="/ecs/bella-prod")["metricFilters"] == []
        assert len(c.logs.describe_log_groups()["logGroups"]) == 1
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
        assert sum(n.startswith("bellwatch-other-") for n in names) == 6
        assert [t["TopicArn"].rsplit(":", 1)[1] for t in c.sns.list_topics()["Topics"]] == [
            "bellwatch-other-alerts"
        ]


class TestSubscription:
    def test_unconfirmed_email_is_noted(self, world: World) -> None:
        """A subscription pending confirmation is unchanged, with a note to check the inbox."""
        apply(build_plan(options(world), world.clients), world.clients)

        def pending(parsed: dict[str, Any], **_: Any) -> None:
            for sub in parsed.get("Subscriptions", []):
                sub["SubscriptionArn"] = "PendingConfirmation"

        world.clients.sns.meta.events.register("after-call.sns.ListSubscriptionsByTopic", pending)
        plan = build_plan(options(world), world.clients)
        assert plan.pending == []
        assert plan.notes == ["ops@example.com has not confirmed the subscription: check the inbox"]

    def test_other_subscribers_are_kept_and_noted(self, world: World) -> None:
        """A new --email adds a subscription; the old address stays and is named in a note."""
        apply(build_plan(options(world), world.clients), world.clients)
        plan = build_plan(options(world, email="new@example.com"), world.clients)
        assert [(c.action, c.name) for c in plan.pending] == [("create", "new@example.com")]
        assert plan.notes == ["the topic also notifies email:ops@example.com (kept)"]
