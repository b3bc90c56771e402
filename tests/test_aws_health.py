"""``health --source aws``: ECS counts, deployments, events and target health (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import Targets, discover
from bellwatch.aws.health import ServiceHealth, service_health
from test_aws_plan import REGION, World, aws_env, build_world


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
