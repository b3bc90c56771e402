"""Find the names setup needs from the ECS service: cluster, load balancer, target group.

Anything given explicitly wins; the rest is read from AWS. ALB alarms take the
dimension form of the ARNs (``app/<name>/<id>``, ``targetgroup/<name>/<id>``),
which users rarely know, so names and ARNs are both accepted and converted here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bellwatch.aws.clients import AwsError, Clients, error_code

__all__ = ["Targets", "discover", "lb_dimension", "tg_dimension"]


@dataclass(frozen=True, slots=True)
class Targets:
    """The resolved names; None when neither given nor discoverable."""

    cluster: str | None = None
    service: str | None = None
    load_balancer: str | None = None  # app/<name>/<id>
    target_group: str | None = None  # targetgroup/<name>/<id>
    target_group_arn: str | None = None
    log_group: str | None = None
    container_insights: bool = False
    """The cluster publishes Container Insights metrics (running/desired task counts)."""

    @property
    def empty(self) -> bool:
        """Nothing found or given that any metric filter or alarm could watch."""
        return not (self.cluster or self.load_balancer or self.target_group or self.log_group)


def lb_dimension(arn: str) -> str:
    """``arn:...:loadbalancer/app/web/50dc6c`` -> ``app/web/50dc6c``."""
    return arn.split(":loadbalancer/", 1)[-1]


def tg_dimension(arn: str) -> str:
    """``arn:...:targetgroup/web/73e2d6`` -> ``targetgroup/web/73e2d6``."""
    return "targetgroup/" + arn.split(":targetgroup/", 1)[-1]


def _only(items: list[str], what: str, flag: str) -> str | None:
    if len(items) == 1:
        return items[0].rsplit("/", 1)[-1]
    if len(items) > 1:
        names = ", ".join(sorted(i.rsplit("/", 1)[-1] for i in items))
        raise AwsError(f"several {what} found ({names}): choose one with {flag}")
    return None


def _load_balancer(clients: Clients, given: str) -> str:
    if given.startswith("app/"):
        return given
    kwargs: dict[str, Any] = (
        {"LoadBalancerArns": [given]} if given.startswith("arn:") else {"Names": [given]}
    )
    found = clients.elbv2.describe_load_balancers(**kwargs)["LoadBalancers"]
    return lb_dimension(found[0]["LoadBalancerArn"])


def _target_group(clients: Clients, given: str) -> tuple[str, str]:
    kwargs: dict[str, Any]
    if given.startswith("arn:"):
        kwargs = {"TargetGroupArns": [given]}
    elif given.startswith("targetgroup/"):
        kwargs = {"Names": [given.split("/")[1]]}
    else:
        kwargs = {"Names": [given]}
    arn = clients.elbv2.describe_target_groups(**kwargs)["TargetGroups"][0]["TargetGroupArn"]
    return tg_dimension(arn), str(arn)


def _from_service(clients: Clients, t: Targets) -> Targets:
    assert t.cluster and t.service
    try:
        found = clients.ecs.describe_services(cluster=t.cluster, services=[t.service])["services"]
    except Exception as exc:
        if error_code(exc) == "ClusterNotFoundException":
            raise AwsError(f"ECS cluster {t.cluster!r} not found") from None
        raise
    if not found:
        raise AwsError(f"ECS service {t.service!r} not found in cluster {t.cluster!r}")
    svc = found[0]
    clusters = clients.ecs.describe_clusters(clusters=[t.cluster], include=["SETTINGS"])
    for cluster in clusters.get("clusters", []):
        for setting in cluster.get("settings", []):
            # "enabled", or "enhanced" (Container Insights with enhanced observability)
            if setting.get("name") == "containerInsights" and setting.get("value") in (
                "enabled",
                "enhanced",
            ):
                t = replace(t, container_insights=True)
    tg_arn = next(
        (lb["targetGroupArn"] for lb in svc.get("loadBalancers", []) if lb.get("targetGroupArn")),
        None,
    )
    if tg_arn and not t.target_group:
        t = replace(t, target_group=tg_dimension(tg_arn), target_group_arn=tg_arn)
    if t.target_group_arn and not t.load_balancer:
        groups = clients.elbv2.describe_target_groups(TargetGroupArns=[t.target_group_arn])
        lbs = groups["TargetGroups"][0].get("LoadBalancerArns", [])
        if lbs:
            t = replace(t, load_balancer=lb_dimension(lbs[0]))
    if not t.log_group and svc.get("taskDefinition"):
        task = clients.ecs.describe_task_definition(taskDefinition=svc["taskDefinition"])
        for container in task["taskDefinition"].get("containerDefinitions", []):
            options = (container.get("logConfiguration") or {}).get("options") or {}
            if options.get("awslogs-group"):
                t = replace(t, log_group=options["awslogs-group"])
                break
    return t


def discover(
    clients: Clients,
    *,
    cluster: str | None = None,
    service: str | None = None,
    load_balancer: str | None = None,
    target_group: str | None = None,
    log_group: str | None = None,
) -> Targets:
    """Resolve every name: given ones as they are, the others from the ECS service.

    Raises:
        AwsError: a choice is ambiguous (several clusters or services) or a name is unknown.
    """
    t = Targets(cluster=cluster, service=service, log_group=log_group)
    if load_balancer:
        t = replace(t, load_balancer=_load_balancer(clients, load_balancer))
    if target_group:
        dim, arn = _target_group(clients, target_group)
        t = replace(t, target_group=dim, target_group_arn=arn)
    if not t.cluster:
        arns = clients.ecs.list_clusters().get("clusterArns", [])
        t = replace(t, cluster=_only(arns, "ECS clusters", "--cluster"))
    if t.cluster and not t.service:
        try:
            arns = clients.ecs.list_services(cluster=t.cluster).get("serviceArns", [])
        except Exception as exc:
            if error_code(exc) == "ClusterNotFoundException":
                raise AwsError(f"ECS cluster {t.cluster!r} not found") from None
            raise
        t = replace(t, service=_only(arns, "ECS services", "--service"))
    if t.cluster and t.service:
        t = _from_service(clients, t)
    return t
