"""`bellwatch aws cost` against moto: real log groups, metric data, alarms and dashboards.

Every call goes through real boto3 clients, so botocore validates each request as AWS
would. moto's metric filters publish nothing, so the metrics they would publish, and
AWS/Logs' own IncomingBytes and IncomingLogEvents, are put with put_metric_data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import discover
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from bellwatch.aws.usage import read_usage
from bellwatch.cli.aws import aws_group
from bellwatch.cost.aws_bill import aws_cost
from bellwatch.cost.bill import LogOptions
from bellwatch.cost.prices import shipped_prices
from test_aws_plan import GROUP, REGION, World, aws_env, build_world

GIB = 2**30
DAY_MS = 86_400_000
PRICES = shipped_prices().for_region(REGION)  # us-east-1's figures stand in


def put(c: Clients, namespace: str, metric: str, value: float, at_ms: int, **dims: str) -> None:
    c.cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": datetime.fromtimestamp(at_ms / 1000, tz=UTC),
                "Value": value,
            }
        ],
    )


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    monkeypatch.delenv("BELLWATCH_EMF_NAMESPACE", raising=False)
    with mock_aws():
        w = build_world(Clients(region=REGION))
        c = w.clients
        apply(build_plan(SetupOptions("bella", "ops@example.com", discover(c)), c), c)
        yield w


def traffic(c: Clients) -> int:
    """Three days of logs: 1, 2 and 3 GiB; 100 stored events of 100 bytes; four custom
    metrics with data. Returns the time the window ends, three days after the group."""
    (group,) = c.logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    created = group["creationTime"]
    for day in range(3):
        at = created + day * DAY_MS + DAY_MS // 2
        put(c, "AWS/Logs", "IncomingBytes", (day + 1) * GIB, at, LogGroupName=GROUP)
        put(c, "AWS/Logs", "IncomingLogEvents", (day + 1) * 5_000_000, at, LogGroupName=GROUP)
    put(c, "AWS/Logs", "IncomingBytes", 7 * GIB, created, LogGroupName="/ecs/other")
    c.logs.create_log_stream(logGroupName=GROUP, logStreamName="task-1")
    c.logs.put_log_events(
        logGroupName=GROUP,
        logStreamName="task-1",
        logEvents=[{"timestamp": created + i, "message": "x" * 100} for i in range(100)],
    )
    put(c, "Bellwatch/bella", "ErrorCount", 3, created)
    put(c, "Bellwatch/bella", "RequestCount", 90, created)
    put(c, "Bellwatch", "Requests", 90, created, Service="bella", Path="/a")
    put(c, "Bellwatch", "Requests", 9, created, Service="bella", Path="/b")
    return int(created + 3 * DAY_MS)


class TestReadUsage:
    def test_reads_what_exists(self, world: World) -> None:
        """Sums, stored bytes, retention, filters, metrics, alarms and dashboards, as read."""
        c = world.clients
        end = traffic(c)
        usage = read_usage(c, GROUP, stack="bella", namespaces=["Bellwatch"], now_ms=end)
        assert usage.incoming_bytes == 6 * GIB
        assert usage.incoming_events == 30_000_000
        assert usage.days == pytest.approx(3)
        assert (usage.retention_days, usage.log_class) == (365, "STANDARD")
        assert usage.stored_bytes == 100 * 100
        assert len(usage.metric_filters) == 9
        assert usage.custom_metrics == {"Bellwatch/bella": 2, "Bellwatch": 2}
        assert len(usage.alarms) == 9
        assert sum(a.metrics for a in usage.alarms) == 10
        assert usage.dashboards == (f"bellwatch-bella-{REGION}",)

    def test_without_a_name_every_alarm_and_dashboard_counts(self, world: World) -> None:
        """Without --name, alarms and dashboards that setup did not make count too."""
        c = world.clients
        c.cloudwatch.put_dashboard(DashboardName="hand-made", DashboardBody='{"widgets": []}')
        c.cloudwatch.put_metric_alarm(
            AlarmName="hand-made-fast",
            MetricName="X",
            Namespace="App",
            Statistic="Sum",
            Period=10,
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
        usage = read_usage(c, GROUP)
        assert len(usage.dashboards) == 2
        assert [a.kind for a in usage.alarms].count("high_resolution") == 1
        assert len(read_usage(c, GROUP, stack="bella").alarms) == 9

    def test_a_missing_group_says_so(self, world: World) -> None:
        """A log group that does not exist is one AwsError naming it and the region."""
        with pytest.raises(AwsError, match=f"log group /ecs/nope not found in {REGION}"):
            read_usage(world.clients, "/ecs/nope")


class TestAwsCost:
    def test_hand_worked_month(self, world: World) -> None:
        """6 GiB in 3 days: 2 GiB a day, 60.83 GB a month, $30.42 at $0.50; the rest as read."""
        c = world.clients
        usage = read_usage(c, GROUP, stack="bella", namespaces=["Bellwatch"], now_ms=traffic(c))
        result = aws_cost(usage, PRICES, LogOptions(queries_per_day=4, query_hours=6))
        window, events = result.window
        assert (window.quantity, window.usd, window.basis) == (6.0, 3.0, "measured")
        assert events.quantity == 30_000_000
        bill = result.bill
        ingest = bill.line("log ingestion (Standard)")
        assert ingest.quantity == pytest.approx(2 * 730 / 24)
        assert ingest.usd == pytest.approx(30.4167, abs=1e-4)
        assert ingest.basis == "estimated"
        storage = bill.line("log storage")
        assert storage.usd == pytest.approx(10_000 / GIB * 0.03)
        assert storage.basis == "measured"
        # 4 queries a day over 6 h: 2 GiB/4 a query, 2 GiB a day, 60.83 GB a month
        assert bill.line("Logs Insights scans").usd == pytest.approx(2 * 730 / 24 * 0.005)
        assert bill.line("custom metrics").usd == pytest.approx(4 * 0.30)
        assert bill.line("alarms").usd == pytest.approx(1.00)
        assert bill.line("dashboards").usd == pytest.approx(3.00)
        assert {ln.item: ln.basis for ln in bill.lines}["alarms"] == "measured"
        assert bill.total == pytest.approx(
            30.4167 + 10_000 / GIB * 0.03 + 0.30417 + 1.2 + 4.0, abs=1e-3
        )

    def test_never_expiring_storage_says_it_grows(self, world: World) -> None:
        """A group without retention: storage as it stands, and how much it grows a month."""
        c = world.clients
        c.logs.delete_retention_policy(logGroupName=GROUP)
        usage = read_usage(c, GROUP, now_ms=traffic(c))
        note = aws_cost(usage, PRICES).bill.line("log storage").note
        assert "never expires, so it grows by 60.833 GB a month" in note


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(aws_group, list(args), catch_exceptions=False)
    return result.exit_code, result.output


class TestCostCommand:
    def test_text(self, world: World) -> None:
        """The command prints the window, the month and which figures are measured."""
        traffic(world.clients)
        code, out = run("cost", "--log-group", GROUP, "--name", "bella", "--days", "30")
        assert code == 0, out
        assert out.startswith(f"{GROUP} in {REGION}: standard class, retention 365 days")
        assert "as CloudWatch reports them (measured):" in out
        assert "log ingestion (Standard)" in out and "estimated" in out and "measured" in out
        assert f"no prices for {REGION} in the table" in out
        assert all(len(x) <= 79 for x in out.splitlines())

    def test_json(self, world: World) -> None:
        """--json gives what was read, the window and the month."""
        traffic(world.clients)
        code, out = run("cost", "--log-group", GROUP, "--json")
        assert code == 0, out
        doc = json.loads(out)
        assert doc["usage"]["retention_days"] == 365
        assert doc["usage"]["dashboards"] == [f"bellwatch-bella-{REGION}"]
        assert {ln["item"] for ln in doc["month"]["lines"]} >= {"alarms", "dashboards"}

    def test_a_bad_price_file_fails_before_any_aws_call(self, world: World, tmp_path) -> None:
        """A corrupt --prices file is a usage error naming its line (exit 2)."""
        prices = tmp_path / "p.csv"
        prices.write_text("region,item,unit,usd,date,source\nca-central-1,dashboards,dash")
        code, out = run("cost", "--log-group", GROUP, "--prices", str(prices))
        assert code == 2
        assert f"{prices}:2: expected 6 fields" in out
        assert "Traceback" not in out

    def test_no_log_group(self, world: World) -> None:
        """Without a log group the command says how to give one."""
        code, out = run("cost")
        assert code == 2 and "--log-group" in out
