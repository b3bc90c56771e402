"""Resolving cluster, service, load balancer, target group and log group (moto)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import discover, lb_dimension, tg_dimension
from test_aws_plan import REGION, World, aws_env, build_world


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    aws_env(monkeypatch)
    with mock_aws():
        yield build_world(Clients(region=REGION))


class TestDimensions:
    @given(name=st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
           ident=st.from_regex(r"[0-9a-f]{16}", fullmatch=True))  # fmt: skip
    def test_arn_suffixes(self, name: str, ident: str) -> None:
        """ALB and target-group ARNs become the dimension values CloudWatch expects."""
        prefix = "arn:aws:elasticloadbalancing:ca-central-1:123456789012"
        assert lb_dimension(f"{prefix}:loadbalancer/app/{name}/{ident}") == f"app/{name}/{ident}"
        assert tg_dimension(f"{prefix}:targetgroup/{name}/{ident}") == (
            f"targetgroup/{name}/{ident}"
        )


class TestDiscover:
    def test_everything_from_the_only_service(self, world: World) -> None:
        """With one cluster and one service, every name is found."""
        t = discover(world.clients)
        assert (t.cluster, t.service, t.log_group) == ("bella-prod", "bella-api", "/ecs/bella-prod")
        assert t.load_balancer == lb_dimension(world.lb_arn)
        assert t.target_group_arn == world.tg_arn

    def test_given_names_win(self, world: World) -> None:
        """An explicit log group is kept instead of the task definition's."""
        t = discover(world.clients, log_group="/custom")
        assert t.log_group == "/custom"

    def test_load_balancer_by_name_or_arn(self, world: World) -> None:
        """--load-balancer accepts a name, an ARN or the dimension form."""
        want = lb_dimension(world.lb_arn)
        for name in ("bella-alb", world.lb_arn, want):
            t = discover(
                world.clients, cluster="bella-prod", service="bella-api", load_balancer=name
            )
            assert t.load_balancer == want

    def test_target_group_by_name(self, world: World) -> None:
        """--target-group accepts a name and resolves the ARN for health checks."""
        t = discover(
            world.clients, cluster="bella-prod", service="bella-api", target_group="bella-tg"
        )
        assert t.target_group_arn == world.tg_arn

    def test_several_services_need_a_choice(self, world: World) -> None:
        """Two services in the cluster and no --service is an error naming both."""
        world.clients.ecs.create_service(
            cluster="bella-prod", serviceName="worker", taskDefinition="bella", desiredCount=1
        )
        with pytest.raises(AwsError, match=r"bella-api, worker\): choose one with --service"):
            discover(world.clients)

    def test_unknown_service_is_an_error(self, world: World) -> None:
        """A --service that does not exist is reported with its cluster."""
        with pytest.raises(AwsError, match="'nope' not found"):
            discover(world.clients, service="nope")

    def test_unknown_cluster_is_an_error(self, world: World) -> None:
        """A --cluster that does not exist is named in the error."""
        with pytest.raises(AwsError, match="ECS cluster 'nope' not found"):
            discover(world.clients, cluster="nope")
