"""``health --source aws``: ECS counts, deployments, events and target health (moto)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import Targets, discover
from bellwatch.aws.health import ServiceHealth, service_health
from bellwatch.aws.plan import SetupOptions, apply, build_plan
from test_aws_plan import REGION, World, aws_env, build_world, pending


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        yield build_world(Clients(region=REGION))


def report(**changes: object) -> ServiceHealth:
    base: dict[str, object] = {"cluster": "c", "service": "s", "status": "ACTIVE", "desired": 2,
                               "running": 2, "pending": 0}  # fmt: skip
    base.update(changes)
    return ServiceHealth(**base)  # type: ignore[arg-type]


class TestServiceHealth:
    def test_reads_counts_deployments_and_targets(self, world: World) -> None:
        """Counts, the primary deployment and each registered target are reported."""
        world.clients.elbv2.register_targets(
            TargetGroupArn=world.tg_arn,
            Targets=[{"Id": "10.0.1.10", "Port": 8000}, {"Id": "10.0.2.11", "Port": 8000}],
        )
        h = service_health(world.clients, discover(world.clients))
        assert (h.desired, h.status) == (2, "ACTIVE")
        assert [d["status"] for d in h.deployments] == ["PRIMARY"]
        assert sorted(t["id"] for t in h.targets) == ["10.0.1.10", "10.0.2.11"]

    def test_needs_a_service(self, world: World) -> None:
        """Without cluster and service there is nothing to check."""
        with pytest.raises(AwsError, match="--cluster and --service"):
            service_health(world.clients, Targets())


class TestVerdict:
    def test_all_running_and_healthy_is_ok(self) -> None:
        """Desired tasks running and healthy targets is OK."""
        h = report(targets=[{"id": "a", "port": 1, "state": "healthy", "reason": "",
                             "description": ""}])  # fmt: skip
        assert h.ok and h.lines()[0].startswith("OK")

    def test_unhealthy_target_is_degraded(self) -> None:
        """One unhealthy target makes the service DEGRADED, with the reason shown."""
        bad = {"id": "a", "port": 1, "state": "unhealthy", "reason": "Target.Timeout",
               "description": "Request timed out"}  # fmt: skip
        h = report(targets=[bad])
        assert not h.ok
        assert "  a:1 unhealthy (Target.Timeout: Request timed out)" in h.lines()

    def test_missing_tasks_are_degraded(self) -> None:
        """Fewer running than desired tasks is DEGRADED."""
        assert not report(running=1, pending=1).ok


class TestAlertReach:
    def setup_alerts(self, w: World, email: str = "ops@example.com") -> None:
        opts = SetupOptions("bella-api", email, discover(w.clients))
        apply(build_plan(opts, w.clients), w.clients)

    def test_pending_subscription_is_named(self, world: World) -> None:
        """An address that has not opened AWS's link is reported as pending, and with no
        confirmed one the report says the alarms reach no one (SNS lists it as
        "PendingConfirmation": https://docs.aws.amazon.com/sns/latest/api/API_Subscription.html)."""
        self.setup_alerts(world)
        pending(world.clients)
        h = service_health(world.clients, discover(world.clients))
        assert h.alerts is not None and h.alerts["pending"] == ["email:ops@example.com"]
        text = "\n".join(h.lines())
        assert "pending confirmation: email:ops@example.com" in text
        assert "the alarms reach no one" in text
        assert h.as_dict()["alerts"]["confirmed"] == []

    def test_confirmed_subscription_is_listed(self, world: World) -> None:
        """A confirmed address is what the topic notifies; no warning."""
        self.setup_alerts(world)
        text = "\n".join(service_health(world.clients, discover(world.clients)).lines())
        assert "alerts: bellwatch-bella-api-alerts notifies email:ops@example.com" in text
        assert "reach no one" not in text

    def test_no_topic_is_said(self, world: World) -> None:
        """Before setup ran, the report says there is no topic and what makes it."""
        h = service_health(world.clients, discover(world.clients), stack="other")
        assert "alerts: no topic bellwatch-other-alerts in this region" in "\n".join(h.lines())

    def test_denied_sns_is_a_note_not_a_failure(self, world: World) -> None:
        """A role without SNS read access still gets the service's health."""

        def deny(**_: Any) -> None:
            raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "no"}}, "X")

        world.clients.sns.meta.events.register("before-call.sns.ListTopics", deny)
        h = service_health(world.clients, discover(world.clients))
        assert "not allowed to read SNS" in "\n".join(h.lines())
