"""The printed IAM policy covers every AWS call each command really makes (recorded in moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from moto import mock_aws

from bellwatch.aws import session
from bellwatch.aws.cli import aws_group
from bellwatch.aws.clients import Clients
from bellwatch.aws.discover import discover
from bellwatch.aws.health import service_health
from bellwatch.aws.permissions import ACTIONS, policy
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from bellwatch.aws.teardown import teardown_plan
from bellwatch.sources.base import SourceError
from bellwatch.sources.cloudwatch import CloudWatchSource
from test_aws_plan import REGION, World, aws_env, build_world

_IAM_PREFIX = {"monitoring": "cloudwatch"}  # CloudWatch signs as "monitoring"


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[set[str]]:
    """Every IAM action called through ``session.client`` while the test runs."""
    aws_env(monkeypatch)
    seen: set[str] = set()
    real = session.client

    def recording(service: str, **kwargs: Any) -> Any:
        client = real(service, **kwargs)
        prefix = client.meta.service_model.signing_name
        prefix = _IAM_PREFIX.get(prefix, prefix)
        client.meta.events.register(
            "before-parameter-build", lambda model, **_: seen.add(f"{prefix}:{model.name}")
        )
        return client

    monkeypatch.setattr(session, "client", recording)
    with mock_aws():
        yield seen


@pytest.fixture
def world(calls: set[str]) -> World:
    w = build_world(Clients(region=REGION))
    calls.clear()
    return w


class TestPolicy:
    def test_setup_calls_are_allowed(self, world: World, calls: set[str]) -> None:
        """Setup, first and second run, calls only actions listed for setup."""
        c = Clients(region=REGION)
        opts = SetupOptions("bella", "ops@example.com", discover(c))
        apply(build_plan(opts, c), c)
        apply(build_plan(opts, c), c)
        assert {"cloudwatch:PutMetricAlarm", "sns:Subscribe", "logs:PutMetricFilter"} <= calls
        assert calls <= set(ACTIONS["setup"])

    def test_teardown_calls_are_allowed(self, world: World, calls: set[str]) -> None:
        """Teardown calls only actions listed for teardown."""
        c = Clients(region=REGION)
        apply(build_plan(SetupOptions("bella", "ops@example.com", discover(c)), c), c)
        calls.clear()
        apply(teardown_plan("bella", Clients(region=REGION)), c)
        assert {"cloudwatch:DeleteAlarms", "sns:DeleteTopic"} <= calls
        assert calls <= set(ACTIONS["teardown"])

    def test_health_calls_are_allowed(self, world: World, calls: set[str]) -> None:
        """health calls only actions listed for health."""
        c = Clients(region=REGION)
        service_health(c, discover(c))
        assert "elasticloadbalancing:DescribeTargetHealth" in calls
        assert calls <= set(ACTIONS["health"])

    def test_source_calls_are_allowed(self, world: World, calls: set[str]) -> None:
        """Reading, following and querying a log group call only actions listed for read."""
        world.clients.logs.create_log_group(logGroupName="/g")
        calls.clear()
        src = CloudWatchSource("/g", region=REGION, sleep=lambda _: None, query_timeout=0)
        list(src.records())
        list(src.follow(stop=lambda: True))
        src.client.meta.events.register(
            "before-call.cloudwatch-logs.GetQueryResults",
            lambda **_: (type("R", (), {"status_code": 200, "headers": {}})(),
                         {"status": "Running", "statistics": {}}),
        )  # fmt: skip
        with pytest.raises(SourceError):
            src.run_insights("fields @message", 0, 1000)
        assert calls == set(ACTIONS["read"])

    def test_command_prints_a_policy(self) -> None:
        """`bellwatch aws policy --for read` prints a valid policy with the read actions."""
        out = CliRunner().invoke(aws_group, ["policy", "--for", "read"])
        assert out.exit_code == 0
        assert json.loads(out.output) == policy("read")
        assert policy("read")["Statement"][0]["Action"] == sorted(ACTIONS["read"])

    def test_unknown_part(self) -> None:
        """An unknown part is a KeyError naming the known ones."""
        with pytest.raises(KeyError, match="known: read"):
            policy("nope")
