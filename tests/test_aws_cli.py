"""``bellwatch aws setup | teardown | health`` through click's runner, against moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from moto import mock_aws

from bellwatch.aws.clients import Clients
from bellwatch.cli import aws as cli_aws
from bellwatch.cli.aws import aws_group, health
from test_aws_plan import GROUP, REGION, World, aws_env, build_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        yield build_world(Clients(region=REGION))


def run(*args: str, input: str | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(aws_group, list(args), input=input, catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stdin counts as a terminal (click's runner feeds a pipe)."""
    monkeypatch.setattr(cli_aws, "interactive", lambda: True)


class TestSetupCommand:
    def test_prompts_for_the_email_and_says_to_confirm(self, world: World, terminal: None) -> None:
        """Without --email it asks, subscribes the answer and says to confirm from the inbox."""
        code, out = run("setup", input="ops@example.com\n")
        assert code == 0, out
        assert "Alert email" in out
        assert "create    sns-subscription ops@example.com" in out
        assert "ops@example.com must open the confirmation link AWS emails it" in out

    def test_dry_run_prints_the_plan_and_changes_nothing(self, world: World) -> None:
        """--dry-run lists each resource as create and leaves the account empty."""
        code, out = run("setup", "--email", "ops@example.com", "--dry-run")
        assert code == 0, out
        assert "Plan for ca-central-1 (dry run, nothing changed):" in out
        assert "create    alarm            bellwatch-bella-api-cpu-high" in out
        assert "total: 21 create, 1 unchanged" in out
        assert world.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_dry_run_prints_the_monthly_cost(self, world: World) -> None:
        """The plan ends with what its resources cost a month: 7 filter metrics at $0.30,
        10 alarm metrics at $0.10 and a $3 dashboard, all of it new on a first run."""
        code, out = run("setup", "--email", "ops@example.com", "--dry-run")
        assert code == 0, out
        assert "Monthly cost (ca-central-1 prices, table of 2026-12-07):" in out
        assert "metric-filter metrics         7 metric-months       $2.10" in out
        assert "alarms                       10 alarm metrics       $1.00" in out
        assert "total $6.10 a month, $6.10 of it for what this run creates" in out
        run("setup", "--email", "ops@example.com")
        code, out = run("setup", "--email", "ops@example.com", "--dry-run")
        assert "total $6.10 a month, $0.00 of it for what this run creates" in out

    def test_json_and_dry_run_say_the_email_must_be_confirmed(self, world: World) -> None:
        """A new subscription delivers nothing until its link is opened: the plan says so in
        a dry run and in --json too, not only in the text after applying."""
        code, out = run("setup", "--email", "ops@example.com", "--dry-run")
        assert "ops@example.com must open the confirmation link AWS emails" in out
        code, out = run("setup", "--email", "ops@example.com", "--json")
        assert code == 0
        assert any("must open the confirmation link" in n for n in json.loads(out)["notes"])

    def test_dry_run_cost_in_json_and_with_a_price_file(self, world: World, tmp_path: Path) -> None:
        """--json carries the cost; --prices sets the region's own figures."""
        prices = tmp_path / "p.csv"
        prices.write_text(
            "region,item,unit,usd,date,source\n"
            "ca-central-1,dashboards,dashboard-month,3.30,2026-12-01,our invoice\n"
        )
        code, out = run("setup", "--email", "", "--dry-run", "--json", "--prices", str(prices))
        assert code == 0, out
        cost = json.loads(out)["cost"]
        lines = {ln["item"]: ln for ln in cost["managed"]["lines"]}
        assert lines["dashboards"]["usd_per_month"] == 3.3
        assert cost["managed"]["total_usd_per_month"] == round(2.10 + 1.00 + 3.30, 2)

    def test_second_run_reports_nothing_to_change(self, world: World) -> None:
        """Run twice, the second run prints every resource unchanged."""
        run("setup", "--email", "ops@example.com")
        code, out = run("setup", "--email", "ops@example.com")
        assert code == 0, out
        assert out.startswith("Nothing to change:")
        assert "total: 22 unchanged" in out
        assert "confirmation" not in out

    def test_slow_threshold_sets_the_slow_requests_filter(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """--slow-threshold is what the slow-requests filter counts, over the environment's."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "3")
        code, out = run("setup", "--email", "", "--slow-threshold", "0.5")
        assert code == 0, out
        found = world.clients.logs.describe_metric_filters(
            logGroupName=GROUP, filterNamePrefix="bellwatch-bella-api-slow"
        )["metricFilters"]
        assert [f["filterPattern"] for f in found] == [
            '{ $.event = "request_complete" && $.duration > 0.5 }'
        ]

    def test_slow_threshold_out_of_range_is_an_option_error(self, world: World) -> None:
        """A negative --slow-threshold is refused, naming the option, before any AWS call."""
        code, out = run("setup", "--email", "", "--slow-threshold", "-1")
        assert code == 2 and "--slow-threshold" in out
        assert world.clients.sns.list_topics()["Topics"] == []

    def test_json_plan(self, world: World) -> None:
        """--json prints the plan as one JSON document with counts."""
        code, out = run("setup", "--email", "", "--dry-run", "--json")
        assert code == 0, out
        plan = json.loads(out)
        assert plan["counts"] == {"create": 20, "unchanged": 1}
        assert {c["kind"] for c in plan["changes"]} >= {"alarm", "dashboard", "metric-filter"}

    def test_explicit_names_override_discovery(self, world: World) -> None:
        """--cluster/--service/--log-group/--name are used as given."""
        code, out = run(
            "setup", "--email", "", "--dry-run", "--cluster", "bella-prod",
            "--service", "bella-api", "--log-group", "/ecs/other", "--name", "bella",
            "--create-log-group",
        )  # fmt: skip
        assert code == 0, out
        assert "create    log-group        /ecs/other" in out
        assert "bellwatch-bella-error-spike" in out

    def test_missing_log_group_is_a_clean_error(self, world: World) -> None:
        """A --log-group typo stops setup in one line naming the group and the way out, exit 2."""
        code, out = run("setup", "--email", "", "--dry-run", "--log-group", "/ecs/bela-prod")
        assert code == 2
        assert "log group /ecs/bela-prod not found" in out and "--create-log-group" in out
        assert "Traceback" not in out

    def test_config_file_and_set_flags(self, world: World, tmp_path: Path) -> None:
        """Alarm settings come from the TOML file, then --set, and show in the plan."""
        config = tmp_path / "monitoring.toml"
        config.write_text(
            '[alarms.cpu-high]\nthreshold = 90\n[alarms.response-time]\nstatistic = "p90"\n'
        )
        run("setup", "--email", "ops@example.com")
        code, out = run(
            "setup", "--email", "ops@example.com", "--dry-run", "--config", str(config),
            "--set", "response-time.statistic=p99",
        )  # fmt: skip
        assert code == 0, out
        assert "Threshold: 80.0 -> 90.0" in out
        assert "ExtendedStatistic: p95 -> p99" in out

    def test_bad_config_names_the_key(self, world: World, tmp_path: Path) -> None:
        """A bad value fails before any AWS call, naming the file and the key (exit 2)."""
        config = tmp_path / "monitoring.toml"
        config.write_text("[alarms.cpu-high]\nthreshold = 'high'\n")
        code, out = run("setup", "--email", "", "--config", str(config))
        assert code == 2
        assert f"{config}: alarms.cpu-high.threshold: expected a number, got 'high'" in out
        assert world.clients.sns.list_topics()["Topics"] == []

    def test_bad_retention_is_refused(self, world: World) -> None:
        """A retention CloudWatch does not accept fails before any AWS call."""
        code, out = run("setup", "--email", "", "--retention", "31")
        assert code == 2
        assert "not a CloudWatch retention" in out

    def test_name_with_bad_characters_is_refused(self, world: World) -> None:
        """A --name AWS would refuse in a dashboard or topic name fails before any change."""
        code, out = run("setup", "--email", "", "--name", "bella.prod")
        assert code == 2
        assert "letters, digits, '-' and '_'" in out
        assert world.clients.sns.list_topics()["Topics"] == []

    @pytest.mark.parametrize("email", ["not an email", "ops@", "@example.com",
                                       "ops@example..com", "a@b@example.com"])  # fmt: skip
    def test_email_sns_would_refuse_is_refused(self, world: World, email: str) -> None:
        """An address SNS refuses (moto takes any) fails before any AWS call, naming --email,
        instead of after the topic is made."""
        code, out = run("setup", "--email", email)
        assert code == 2
        assert "--email" in out and "not an email address" in out
        assert world.clients.sns.list_topics()["Topics"] == []

    def test_region_with_nothing_to_monitor_is_refused(self, world: World) -> None:
        """A region with no ECS cluster and no --log-group (usually the wrong --region)
        fails with one line naming the region, instead of making a topic and an alarm that
        no metric ever feeds."""
        code, out = run("setup", "--email", "", "--region", "us-west-2")
        assert code == 2  # a domain error, as every other
        assert "nothing to monitor in us-west-2" in out and "--region" in out
        other = Clients(region="us-west-2")
        assert other.sns.list_topics()["Topics"] == []
        assert other.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_ambiguous_cluster_is_a_clean_error(self, world: World) -> None:
        """With two clusters and no --cluster, the error names both and the flag, exit 2."""
        world.clients.ecs.create_cluster(clusterName="staging")
        code, out = run("setup", "--email", "", "--dry-run")
        assert code == 2
        assert "several ECS clusters found (bella-prod, staging): choose one with --cluster" in out

    def test_missing_region_is_a_clean_error(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """No region anywhere ends in one line that says how to set it (exit 2, as every
        domain error of the CLI)."""
        monkeypatch.delenv("AWS_DEFAULT_REGION")
        monkeypatch.delenv("AWS_REGION", raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        code, out = run("setup", "--email", "", "--dry-run")
        assert code == 2
        assert "--region" in out
        assert "Traceback" not in out


def answer_with(
    monkeypatch: pytest.MonkeyPatch, service: str, status: int, body: bytes, kind: str = "text/html"
) -> None:
    """Every ``service`` client the commands create gets this HTTP answer instead of moto's."""
    from botocore.awsrequest import AWSResponse

    from bellwatch.aws import session

    class Raw:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield body

    def respond(request: Any, **_: Any) -> AWSResponse:
        return AWSResponse(request.url, status, {"Content-Type": kind}, Raw())

    real = session.client

    def client(name: str, **kwargs: Any) -> Any:
        made = real(name, **kwargs)
        if name == service:
            made.meta.events.register_first("before-send", respond)  # before moto
        return made

    monkeypatch.setattr(session, "client", client)


class TestAwsFailures:
    def test_an_html_error_page_is_one_line(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An HTML page instead of an AWS answer (a proxy, or an endpoint for an unknown
        region) ends in one line that says so, not the page's markup over several lines."""
        page = (
            b"<!doctype html>\n<html lang=en>\n<title>403 Forbidden</title>\n<h1>Forbidden</h1>\n"
        )
        answer_with(monkeypatch, "ecs", 403, page)
        code, out = run("setup", "--email", "", "--dry-run")
        assert code == 2  # a domain error, as every other
        assert out.count("\n") == 1 and "<html" not in out
        assert "ListClusters" in out and "not an AWS answer" in out

    @pytest.mark.parametrize("command", [("setup", "--email", "", "--dry-run"),
                                         ("teardown", "--name", "bella-api", "--yes"),
                                         ("cost", "--log-group", "/ecs/bella-prod")])  # fmt: skip
    def test_throttling_is_one_clean_line(
        self, world: World, monkeypatch: pytest.MonkeyPatch, command: tuple[str, ...]
    ) -> None:
        """CloudWatch throttling every call, after botocore's own retries, ends each command
        in one line naming the call, never a traceback."""
        body = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        answer_with(monkeypatch, "cloudwatch", 400, body, "application/x-amz-json-1.0")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # one retry: enough, and quick
        code, out = run(*command)
        assert code == 2  # a domain error, as every other
        assert out.count("\n") == 1 and "ThrottlingException" in out and "Rate exceeded" in out

    def test_a_failure_half_way_says_what_was_made(
        self, world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Throttling that outlasts botocore's retries at the first alarm ends setup in one
        line that says how many changes were made before it and that a re-run finishes."""
        from botocore.awsrequest import AWSResponse

        from bellwatch.aws import session

        class Raw:
            def stream(self, **_: Any) -> Iterator[bytes]:
                yield b'{"__type":"Throttling","message":"Rate exceeded"}'

        def respond(request: Any, **_: Any) -> AWSResponse:
            kind = {"Content-Type": "application/x-amz-json-1.0"}
            return AWSResponse(request.url, 400, kind, Raw())

        real = session.client

        def client(name: str, **kwargs: Any) -> Any:
            made = real(name, **kwargs)
            if name == "cloudwatch":
                made.meta.events.register_first("before-send.cloudwatch.PutMetricAlarm", respond)
            return made

        monkeypatch.setattr(session, "client", client)
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
        code, out = run("setup", "--email", "ops@example.com")
        assert code == 2
        assert out.count("\n") == 1 and "Rate exceeded" in out
        assert "11 of 21 changes were made" in out and "run it again" in out
        monkeypatch.setattr(session, "client", real)
        code, out = run("setup", "--email", "ops@example.com")
        assert code == 0 and "create    dashboard" in out, out
        assert run("setup", "--email", "ops@example.com")[1].endswith("total: 22 unchanged\n")


class TestNoTerminal:
    def test_dry_run_never_asks(self, world: World) -> None:
        """--dry-run without --email asks nothing and notes that no alarm reaches anyone."""
        code, out = run("setup", "--dry-run", input="")
        assert code == 0, out
        assert "Alert email" not in out
        assert "no --email: alarms notify" in out

    def test_export_never_asks(self, world: World) -> None:
        """--export without --email asks nothing and writes the template."""
        code, out = run("setup", "--export", "cloudformation", input="")
        assert code == 0, out
        assert "Alert email" not in out
        assert "AWS::CloudWatch::Alarm" in out

    def test_setup_without_email_says_what_to_pass(self, world: World) -> None:
        """With no terminal and no --email, setup asks nothing, changes nothing, exits 2."""
        code, out = run("setup", input="ops@example.com\n")
        assert code == 2
        assert "Alert email" not in out
        assert "pass --email ADDRESS" in out
        assert world.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_teardown_without_yes_says_to_pass_it(self, world: World) -> None:
        """With no terminal, teardown without --yes asks nothing, deletes nothing, exits 2."""
        run("setup", "--email", "")
        code, out = run("teardown", "--name", "bella-api", input="y\n")
        assert code == 2
        assert "pass --yes" in out and "Delete these" not in out
        assert len(world.clients.cloudwatch.describe_alarms()["MetricAlarms"]) == 9


class TestTeardownCommand:
    def test_yes_deletes_what_setup_created(self, world: World) -> None:
        """teardown --yes deletes the stack's resources and lists them."""
        run("setup", "--email", "ops@example.com")
        code, out = run("teardown", "--name", "bella-api", "--yes")
        assert code == 0, out
        assert "delete    sns-topic        bellwatch-bella-api-alerts" in out
        assert world.clients.cloudwatch.describe_alarms()["MetricAlarms"] == []

    def test_declining_the_prompt_deletes_nothing(self, world: World, terminal: None) -> None:
        """Answering no to the confirmation aborts with everything in place."""
        run("setup", "--email", "")
        code, _ = run("teardown", "--name", "bella-api", input="n\n")
        assert code == 1
        assert len(world.clients.cloudwatch.describe_alarms()["MetricAlarms"]) == 9

    def test_dry_run_lists_without_deleting(self, world: World) -> None:
        """teardown --dry-run prints what it would delete."""
        run("setup", "--email", "")
        code, out = run("teardown", "--name", "bella-api", "--dry-run")
        assert code == 0, out
        assert "Would delete in ca-central-1:" in out and "total: 20 delete" in out
        assert len(world.clients.cloudwatch.describe_alarms()["MetricAlarms"]) == 9


class TestHealth:
    def test_reports_counts_and_targets(self, world: World) -> None:
        """health lists desired/running/pending, the deployment and each target's state."""
        world.clients.elbv2.register_targets(
            TargetGroupArn=world.tg_arn, Targets=[{"Id": "10.0.1.10", "Port": 8000}]
        )
        report = health(region=REGION)
        assert (report.cluster, report.service, report.desired) == ("bella-prod", "bella-api", 2)
        assert [t["id"] for t in report.targets] == ["10.0.1.10"]
        assert report.deployments and report.deployments[0]["status"] == "PRIMARY"
        text = "\n".join(report.lines())
        assert "tasks: desired 2" in text and "10.0.1.10:8000" in text

    def test_command_exits_non_zero_when_degraded(self, world: World) -> None:
        """Fewer running tasks than desired is DEGRADED with exit code 1."""
        code, out = run("health")
        assert code == 1
        assert out.startswith("DEGRADED  bella-prod/bella-api (ACTIVE)")

    def test_aws_failure_is_exit_2(self, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without a region health cannot ask: one line and exit 2, not 1 (degraded)."""
        for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "BELLWATCH_REGION"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        code, out = run("health")
        assert code == 2
        assert "--region" in out and "Traceback" not in out

    def test_names_an_unconfirmed_email(self, world: World) -> None:
        """After setup, health --name says the address has not confirmed and that the alarms
        reach no one until it does."""
        from bellwatch.aws import session

        run("setup", "--email", "ops@example.com", "--name", "bella")
        real = session.client

        def unconfirmed(parsed: dict[str, Any], **_: Any) -> None:
            for sub in parsed.get("Subscriptions", []):  # moto confirms at once; AWS does not
                sub["SubscriptionArn"] = "PendingConfirmation"

        def client(name: str, **kwargs: Any) -> Any:
            made = real(name, **kwargs)
            if name == "sns":
                made.meta.events.register("after-call.sns.ListSubscriptionsByTopic", unconfirmed)
            return made

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(session, "client", client)
            code, out = run("health", "--name", "bella")
        assert code == 1  # degraded: moto runs no task
        assert "pending confirmation: email:ops@example.com" in out
        assert "the alarms reach no one" in out

    def test_json(self, world: World) -> None:
        """health --json prints the report as JSON."""
        code, out = run("health", "--json")
        assert json.loads(out)["service"] == "bella-api"
        assert code == 1
