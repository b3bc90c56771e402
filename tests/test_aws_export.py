"""``setup --export cloudformation``: a template cfn-lint accepts, of exactly what setup creates.

The comparison turns each template resource back into the resource class setup uses
(same name, desired state) and reads it from moto after the imperative setup ran:
equal states mean the template and setup describe the same thing. Resource types and
properties follow the CloudFormation resource reference (AWS::SNS::Topic,
AWS::SNS::Subscription, AWS::Logs::LogGroup, AWS::Logs::MetricFilter,
AWS::CloudWatch::Alarm, AWS::CloudWatch::Dashboard), which cfn-lint's schemas encode:
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-template-resource-type-ref.html
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from cfnlint.api import lint
from click.testing import CliRunner
from moto import mock_aws

from bellwatch.aws.clients import Clients
from bellwatch.aws.discover import discover
from bellwatch.aws.export import TOPIC, cloudformation
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from bellwatch.aws.resources import Alarm, Dashboard, MetricFilter, Topic
from bellwatch.cli.aws import aws_group
from test_aws_plan import GROUP, REGION, World, aws_env, build_world, log_groups_report


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        yield build_world(Clients(region=REGION))


def tags(props: dict[str, Any]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in props.get("Tags", [])}


def resolve(value: Any, topic_arn: str) -> Any:
    """The template with its one Ref (the topic) replaced by the topic setup created."""
    if value == {"Ref": TOPIC}:
        return topic_arn
    if isinstance(value, list):
        return [resolve(v, topic_arn) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, topic_arn) for k, v in value.items()}
    return value


def as_resource(kind: str, props: dict[str, Any]) -> Any:
    """A template resource as the class setup writes and reads it with."""
    if kind == "AWS::SNS::Topic":
        return Topic(props["TopicName"], tags(props))
    if kind == "AWS::Logs::MetricFilter":
        (mt,) = props["MetricTransformations"]
        return MetricFilter(props["LogGroupName"], props["FilterName"],
                            pattern=props["FilterPattern"], namespace=mt["MetricNamespace"],
                            metric=mt["MetricName"], value=mt["MetricValue"])  # fmt: skip
    if kind == "AWS::CloudWatch::Alarm":
        return Alarm({k: v for k, v in props.items() if k != "Tags"}, tags(props))
    if kind == "AWS::CloudWatch::Dashboard":
        return Dashboard(props["DashboardName"], json.loads(props["DashboardBody"]), tags(props))
    raise AssertionError(kind)


class TestTemplate:
    def test_passes_cfn_lint(self, world: World) -> None:
        """cfn-lint finds nothing in the template (errors, warnings or informational)."""
        opts = SetupOptions("bella", "ops@example.com", discover(world.clients), retention_days=90)
        template = json.dumps(cloudformation(opts, region=REGION))
        assert [str(m) for m in lint(template, regions=[REGION])] == []

    def test_has_the_resources_setup_creates(self, world: World) -> None:
        """Topic, subscription, nine filters, nine alarms and the dashboard, as setup plans."""
        opts = SetupOptions("bella", "ops@example.com", discover(world.clients))
        template = cloudformation(opts, region=REGION)
        kinds = [r["Type"] for r in template["Resources"].values()]
        plan = build_plan(opts, world.clients)
        planned = [c.kind for c in plan.changes if c.kind != "log-group"]  # retention untouched
        assert len(kinds) == len(planned)
        assert kinds.count("AWS::CloudWatch::Alarm") == planned.count("alarm") == 9
        assert kinds.count("AWS::Logs::MetricFilter") == planned.count("metric-filter") == 9
        assert "AWS::Logs::LogGroup" not in kinds

    def test_every_resource_equals_what_setup_created(self, world: World) -> None:
        """Each template resource, read back from moto after setup, is in the desired state."""
        c = world.clients
        opts = SetupOptions("bella", "ops@example.com", discover(c))
        apply(build_plan(opts, c), c)
        (topic,) = c.sns.list_topics()["Topics"]
        template = resolve(cloudformation(opts, region=REGION), topic["TopicArn"])
        compared = 0
        for logical_id, res in template["Resources"].items():
            if res["Type"] == "AWS::SNS::Subscription":
                subs = c.sns.list_subscriptions_by_topic(TopicArn=topic["TopicArn"])
                got = [(s["Protocol"], s["Endpoint"]) for s in subs["Subscriptions"]]
                assert got == [(res["Properties"]["Protocol"], res["Properties"]["Endpoint"])]
                continue
            resource = as_resource(res["Type"], res["Properties"])
            assert resource.read(c) == resource.desired, logical_id
            compared += 1
        assert compared == 1 + 9 + 9 + 1

    def test_retention_makes_a_retained_log_group(self, world: World) -> None:
        """With --retention the group is in the template, kept when the stack is deleted."""
        opts = SetupOptions("bella", None, discover(world.clients), retention_days=90)
        group = cloudformation(opts, region=REGION)["Resources"]["LogGroup"]
        assert group["DeletionPolicy"] == group["UpdateReplacePolicy"] == "Retain"
        assert group["Properties"]["RetentionInDays"] == 90
        assert group["Properties"]["LogGroupName"] == GROUP

    def test_running_tasks_alarm_is_metric_math(self, world: World) -> None:
        """The Container Insights alarm exports its metric-math queries."""
        opts = SetupOptions("bella", None, discover(world.clients))
        alarm = cloudformation(opts, region=REGION)["Resources"]["AlarmRunningTasks"]
        ids = [q["Id"] for q in alarm["Properties"]["Metrics"]]
        assert ids == ["desired", "running", "missing"]
        without = replace(opts, targets=replace(opts.targets, container_insights=False))
        assert "AlarmRunningTasks" not in cloudformation(without, region=REGION)["Resources"]


class TestCommand:
    def test_export_writes_the_template_and_changes_nothing(self, world: World) -> None:
        """`setup --export cloudformation` prints the template; the account stays empty."""
        args = ["setup", "--email", "ops@example.com", "--export", "cloudformation"]
        out = CliRunner().invoke(aws_group, args, catch_exceptions=False)
        assert out.exit_code == 0, out.output
        template = json.loads(out.output)
        assert template["Resources"][TOPIC]["Properties"]["TopicName"] == (
            "bellwatch-bella-api-alerts"
        )
        assert world.clients.sns.list_topics()["Topics"] == []
        assert world.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_infrequent_access_group_gets_no_metric_filters(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """On an Infrequent Access group the template, as setup, has no metric filters nor
        the error-spike alarm (CloudFormation would fail creating them), and says why on
        stderr, the template alone on stdout."""
        log_groups_report(world.clients, logGroupClass="INFREQUENT_ACCESS")
        monkeypatch.setattr("bellwatch.cli.aws.aws_clients", lambda region, profile: world.clients)
        args = ["setup", "--email", "ops@example.com", "--export", "cloudformation"]
        out = CliRunner().invoke(aws_group, args, catch_exceptions=False)
        assert out.exit_code == 0, out.output
        template = json.loads(out.stdout)
        kinds = [r["Type"] for r in template["Resources"].values()]
        assert "AWS::Logs::MetricFilter" not in kinds and "AWS::CloudWatch::Alarm" in kinds
        assert "AlarmErrorSpike" not in template["Resources"]
        assert "INFREQUENT_ACCESS" in out.stderr and "metric filters" in out.stderr
