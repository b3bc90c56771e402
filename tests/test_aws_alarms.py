"""The alarms judged as CloudWatch would: outages alarm, healthy traffic does not.

moto stores alarms but never evaluates them, so this module evaluates each stored
definition itself: the metric the alarm names (namespace, name and exact dimension
set) is read back from moto's ``get_metric_data`` per period, with the alarm's
statistic, over datapoints the test ``put_metric_data``s as a real outage produces
them; then the M-out-of-N rule with the alarm's missing-data treatment decides.

The rules, from "Using Amazon CloudWatch alarms" / "Configuring how CloudWatch alarms
treat missing data":
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarms-and-missing-data.html
- the alarm looks at the most recent N (EvaluationPeriods) datapoints; M
  (DatapointsToAlarm) of them breaching sets it to ALARM, fewer to OK;
- CloudWatch retrieves more datapoints than N (the "evaluation range"; five for N = 3
  in the page's tables, so N + 2 here). With at least N real ones among them, the most
  recent N real ones are judged and the missing-data setting is not used; with fewer,
  the gaps are filled with the missing-data setting, as few as needed to make N.
The evaluator is itself checked against the two tables of that page.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from moto import mock_aws

from bellwatch.aws.clients import Clients
from bellwatch.aws.discover import discover
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from test_aws_plan import REGION, World, aws_env, build_world

Point = float | None  # one datapoint per period; None: missing


def evaluate(
    points: list[Point], breaching: list[bool | None], m: int, n: int, missing: str
) -> str:
    """The alarm state for the evaluation range ``points`` (oldest first).

    ``breaching[i]`` says whether ``points[i]`` breaches (None where missing). Only the
    ``breaching`` and ``notBreaching`` treatments are modelled: they are what setup uses.
    """
    real = [b for b in breaching if b is not None]
    if len(real) >= n:
        judged = real[-n:]
    else:
        if missing not in ("breaching", "notBreaching"):
            raise NotImplementedError(missing)
        judged = real + [missing == "breaching"] * (n - len(real))
    return "ALARM" if sum(judged) >= m else "OK"


def table_row(row: str) -> list[bool | None]:
    """``"0 - X - X"`` as the page writes datapoints: 0 fine, X breaching, - missing."""
    return [{"0": False, "X": True, "-": None}[c] for c in row.split()]


class TestEvaluatorMatchesTheDocs:
    """The evaluator gives the states of the page's tables (BREACHING, NOT BREACHING)."""

    @pytest.mark.parametrize(
        ("m", "row", "breaching_state", "not_breaching_state"),
        [
            # First table: Datapoints to Alarm and Evaluation Periods both 3.
            (3, "0 - X - X", "OK", "OK"),
            (3, "0 - - - -", "OK", "OK"),
            (3, "- - - - -", "ALARM", "OK"),
            (3, "0 X X - X", "ALARM", "ALARM"),
            (3, "- - - - X", "ALARM", "OK"),
            (3, "X - - - -", "ALARM", "OK"),
            # Second table: 2 out of 3.
            (2, "0 - X - X", "ALARM", "ALARM"),
            (2, "0 0 X 0 X", "ALARM", "ALARM"),
            (2, "0 - X - -", "ALARM", "OK"),
            (2, "- - - - 0", "ALARM", "OK"),
            (2, "- - - - X", "ALARM", "OK"),
        ],
    )
    def test_table(self, m: int, row: str, breaching_state: str, not_breaching_state: str) -> None:
        """Each row of the page's tables evaluates to the page's state."""
        marks = table_row(row)
        points: list[Point] = [None if b is None else float(b) for b in marks]
        assert evaluate(points, marks, m, 3, "breaching") == breaching_state
        assert evaluate(points, marks, m, 3, "notBreaching") == not_breaching_state


def _percentile(values: list[float], p: float) -> float:
    ranked = sorted(values)
    return ranked[max(0, math.ceil(p / 100 * len(ranked)) - 1)]


class Metrics:
    """Puts datapoints into moto, one per minute, and keeps the raw values for percentiles."""

    def __init__(self, clients: Clients, now: datetime) -> None:
        self.cw = clients.cloudwatch
        self.now = now
        self.raw: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[datetime, float]]]
        self.raw = defaultdict(list)

    def put(self, namespace: str, name: str, dims: dict[str, str], values: list[Point]) -> None:
        """``values`` for the last ``len(values)`` minutes, oldest first (None: no datapoint)."""
        data = []
        for i, value in enumerate(values):
            if value is None:
                continue
            at = self.now - timedelta(minutes=len(values) - i) + timedelta(seconds=30)
            data.append(
                {
                    "MetricName": name,
                    "Timestamp": at,
                    "Value": value,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                }
            )
            self.raw[(namespace, name, tuple(sorted(dims.items())))].append((at, value))
        for start in range(0, len(data), 500):
            self.cw.put_metric_data(Namespace=namespace, MetricData=data[start : start + 500])

    def value(self, metric: dict[str, Any], period: int, stat: str, start: datetime) -> Point:
        """The statistic of ``metric`` for the period starting at ``start``, from moto."""
        asked = "SampleCount" if stat.startswith("p") else stat
        reply = self.cw.get_metric_data(
            MetricDataQueries=[
                {"Id": "q", "MetricStat": {"Metric": metric, "Period": period, "Stat": asked}}
            ],
            StartTime=start,
            EndTime=start + timedelta(seconds=period),
        )
        (result,) = reply["MetricDataResults"]
        found = [
            v
            for t, v in zip(result["Timestamps"], result["Values"], strict=True)
            if t.replace(tzinfo=UTC) == start
        ]
        if not found:
            return None
        if not stat.startswith("p"):
            return float(found[0])
        # moto has no percentiles: compute the one asked for from the values moto counted.
        key = (
            metric["Namespace"],
            metric["MetricName"],
            tuple(sorted((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))),
        )
        values = [v for t, v in self.raw[key] if start <= t < start + timedelta(seconds=period)]
        assert len(values) == found[0]
        return _percentile(values, float(stat[1:]))


def _stat_metric(alarm: dict[str, Any]) -> tuple[dict[str, Any], str]:
    metric = {
        "Namespace": alarm["Namespace"],
        "MetricName": alarm["MetricName"],
        "Dimensions": alarm.get("Dimensions", []),
    }
    return metric, alarm.get("Statistic") or alarm["ExtendedStatistic"]


def state(alarm: dict[str, Any], metrics: Metrics) -> str:
    """What CloudWatch would set ``alarm`` (as moto stored it) to, at ``metrics.now``."""
    n, m = alarm["EvaluationPeriods"], alarm.get("DatapointsToAlarm") or alarm["EvaluationPeriods"]
    queries = alarm.get("Metrics")
    period = alarm["Period"] if not queries else queries[0]["MetricStat"]["Period"]
    points: list[Point] = []
    for i in range(n + 2, 0, -1):  # the evaluation range, oldest first
        start = metrics.now - timedelta(seconds=i * period)
        if not queries:
            metric, stat = _stat_metric(alarm)
            points.append(metrics.value(metric, period, stat, start))
            continue
        values: dict[str, Point] = {
            q["Id"]: metrics.value(
                q["MetricStat"]["Metric"], period, q["MetricStat"]["Stat"], start
            )
            for q in queries
            if "MetricStat" in q
        }
        (expression,) = [q["Expression"] for q in queries if q.get("ReturnData")]
        # A math expression over a missing input has no datapoint for that period.
        points.append(None if None in values.values() else eval(expression, {}, values))
    op, threshold = alarm["ComparisonOperator"], alarm["Threshold"]
    compare = {
        "GreaterThanThreshold": lambda v: v > threshold,
        "LessThanThreshold": lambda v: v < threshold,
    }[op]
    marks = [None if p is None else compare(p) for p in points]
    return evaluate(points, marks, m, n, alarm["TreatMissingData"])


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        w = build_world(Clients(region=REGION))
        apply(
            build_plan(SetupOptions("bella", "ops@example.com", discover(w.clients)), w.clients),
            w.clients,
        )
        yield w


def alarms(w: World) -> dict[str, dict[str, Any]]:
    found = w.clients.cloudwatch.describe_alarms(AlarmNamePrefix="bellwatch-bella-")
    return {a["AlarmName"].removeprefix("bellwatch-bella-"): a for a in found["MetricAlarms"]}


class Service:
    """The metrics of the service, as AWS and the metric filters publish them each minute."""

    def __init__(self, w: World, minutes: int = 30) -> None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        self.metrics = Metrics(w.clients, now)
        self.minutes = minutes
        self.lb = w.lb_arn.split(":loadbalancer/")[1]
        self.tg = "targetgroup/" + w.tg_arn.split(":targetgroup/")[1]
        self.ecs = {"ClusterName": "bella-prod", "ServiceName": "bella-api"}
        self.ns = "Bellwatch/bella"

    def alb(self, name: str, values: list[Point], *, tg: str | None = None) -> None:
        dims = (
            {"LoadBalancer": self.lb}
            if tg == ""
            else {"TargetGroup": tg or self.tg, "LoadBalancer": self.lb}
        )
        self.metrics.put("AWS/ApplicationELB", name, dims, values)

    def healthy(self) -> None:
        """Two tasks serving ~100 requests a minute in 0.2 s, CPU 30%, no error."""
        k = self.minutes
        self.alb("HealthyHostCount", [2] * k)
        self.alb("UnHealthyHostCount", [0] * k)
        self.alb("RequestCount", [100] * k)
        for _ in range(20):  # many requests a minute: a spread of response times
            self.alb("TargetResponseTime", [0.2] * k)
        self.metrics.put("AWS/ECS", "CPUUtilization", self.ecs, [30] * k)
        self.metrics.put("AWS/ECS", "MemoryUtilization", self.ecs, [50] * k)
        for name in ("RunningTaskCount", "DesiredTaskCount"):
            self.metrics.put("ECS/ContainerInsights", name, self.ecs, [2] * k)
        # 5xx and error counts are published only when non-zero: no datapoints at all.

    def outage(self, minutes: int) -> None:
        """The last ``minutes`` are an outage: tasks OOM-killed in a loop, none healthy.

        No task runs, so ECS publishes no CPU or memory and the app writes no log; the
        ALB finds no healthy target and answers every request 503 itself; targets answer
        nothing, so there are no target 5xx and no response times.
        """
        before = self.minutes - minutes
        self.alb("HealthyHostCount", [2] * before + [0] * minutes)
        self.alb("UnHealthyHostCount", [0] * before + [2] * minutes)
        self.alb("HTTPCode_ELB_5XX_Count", [100] * minutes, tg="")
        stopped: list[Point] = [None] * minutes
        for _ in range(20):
            self.alb("TargetResponseTime", [0.2] * before + stopped)
        self.metrics.put("AWS/ECS", "CPUUtilization", self.ecs, [30] * before + stopped)
        self.metrics.put("AWS/ECS", "MemoryUtilization", self.ecs, [50] * before + stopped)
        self.metrics.put("ECS/ContainerInsights", "DesiredTaskCount", self.ecs, [2] * self.minutes)
        self.metrics.put(
            "ECS/ContainerInsights", "RunningTaskCount", self.ecs, [2] * before + [0] * minutes
        )

    def states(self, w: World) -> dict[str, str]:
        return {name: state(a, self.metrics) for name, a in alarms(w).items()}


OUTAGE_ALARMS = {"healthy-hosts", "unhealthy-hosts", "elb-5xx", "running-tasks"}


class TestOutage:
    def test_healthy_service_sets_off_nothing(self, world: World) -> None:
        """Normal traffic, no 5xx and no errors (so no datapoints for them): every alarm OK."""
        service = Service(world)
        service.healthy()
        assert set(service.states(world).values()) == {"OK"}

    def test_full_outage_alarms(self, world: World) -> None:
        """Ten minutes with no healthy task: the outage alarms fire, within their windows."""
        service = Service(world)
        service.outage(minutes=10)
        states = service.states(world)
        assert {n for n, s in states.items() if s == "ALARM"} == OUTAGE_ALARMS
        # The guide's request alarms see no data in an outage: they stay OK.
        assert states["target-5xx"] == states["response-time"] == states["error-spike"] == "OK"

    def test_cpu_and_memory_fire_once_their_last_datapoint_ages_out(self, world: World) -> None:
        """No data is breaching, but the last real datapoint is judged while it is in range.

        With 1 x 300 s the range is three periods: CloudWatch keeps judging the last CPU
        datapoint (30%) for up to 15 minutes after the tasks died, then the gaps count.
        """
        for minutes, expected in ((10, "OK"), (20, "ALARM")):
            reset_metrics(world)
            service = Service(world)
            service.outage(minutes=minutes)
            states = service.states(world)
            assert (states["cpu-high"], states["memory-high"]) == (expected, expected), minutes

    def test_the_guides_definitions_stayed_ok_in_an_outage(self, world: World) -> None:
        """With missing data not breaching and no outage alarms, the same outage was silent."""
        service = Service(world)
        service.outage(minutes=10)
        guide = (
            "cpu-high",
            "memory-high",
            "unhealthy-hosts",
            "response-time",
            "target-5xx",
            "error-spike",
        )
        old = {
            n: {**a, "TreatMissingData": "notBreaching"}
            for n, a in alarms(world).items()
            if n in guide
        }
        # unhealthy-hosts fires only while the dead targets are still registered.
        assert {n for n, a in old.items() if state(a, service.metrics) == "ALARM"} <= {
            "unhealthy-hosts"
        }

    def test_healthy_hosts_fires_after_two_minutes(self, world: World) -> None:
        """One minute without a healthy host is not enough; two are (2 of 2 x 60 s, Minimum)."""
        for minutes, expected in ((1, "OK"), (2, "ALARM")):
            reset_metrics(world)
            service = Service(world)
            service.outage(minutes=minutes)
            assert state(alarms(world)["healthy-hosts"], service.metrics) == expected

    def test_shared_load_balancer_is_not_ours(self, world: World) -> None:
        """Another service's failing target group on the same ALB leaves our alarms OK."""
        service = Service(world)
        service.healthy()
        other = "targetgroup/other-tg/0123456789abcdef"
        service.alb("HTTPCode_Target_5XX_Count", [50] * service.minutes, tg=other)
        service.alb("HealthyHostCount", [0] * service.minutes, tg=other)
        for _ in range(20):
            service.alb("TargetResponseTime", [30.0] * service.minutes, tg=other)
        assert set(service.states(world).values()) == {"OK"}

    def test_error_storm_sets_off_error_spike(self, world: World) -> None:
        """48 errors (the metric filters' sum of n) in one minute: error-spike fires."""
        service = Service(world)
        service.healthy()
        service.metrics.put(service.ns, "ErrorCount", {}, [48, 0])
        assert state(alarms(world)["error-spike"], service.metrics) == "ALARM"

    def test_p99_from_the_config_is_what_is_judged(self, world: World) -> None:
        """With statistic p99, a slow 2% of requests sets off response-time; p95 would not."""
        from bellwatch.aws.config import load_rules

        rules = load_rules(overrides=["response-time.statistic=p99"])
        c = world.clients
        apply(
            build_plan(
                replace(SetupOptions("bella", "ops@example.com", discover(c)), rules=rules), c
            ),
            c,
        )
        service = Service(world, minutes=10)
        for i in range(100):
            service.alb("TargetResponseTime", [9.0 if i < 2 else 0.2] * 10)
        alarm = alarms(world)["response-time"]
        assert state(alarm, service.metrics) == "ALARM"
        assert state({**alarm, "ExtendedStatistic": "p95"}, service.metrics) == "OK"


def reset_metrics(w: World) -> None:
    """Forget every datapoint moto holds (the alarms stay)."""
    from moto.cloudwatch.models import cloudwatch_backends

    for backend in cloudwatch_backends.values():
        for regional in backend.values():
            regional.metric_data = []
            regional.paged_metric_data = {}
