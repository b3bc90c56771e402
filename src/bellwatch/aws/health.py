"""``bellwatch health --source aws``: the ECS service and its load-balancer targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bellwatch.aws.clients import AwsError, Clients
from bellwatch.aws.discover import Targets

__all__ = ["ServiceHealth", "service_health"]


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value or "")


@dataclass(slots=True)
class ServiceHealth:
    """What ``health --source aws`` reports; ``ok`` is the exit status the CLI uses."""

    cluster: str
    service: str
    status: str
    desired: int
    running: int
    pending: int
    deployments: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, str]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every desired task runs and no registered target is unhealthy."""
        targets_ok = all(t["state"] in ("healthy", "unused", "draining") for t in self.targets)
        return self.status == "ACTIVE" and self.running >= self.desired and targets_ok

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "cluster": self.cluster,
            "service": self.service,
            "status": self.status,
            "desired": self.desired,
            "running": self.running,
            "pending": self.pending,
            "deployments": self.deployments,
            "events": self.events,
            "targets": self.targets,
        }

    def lines(self) -> list[str]:
        """Plain-text report, one fact a line."""
        out = [
            f"{'OK' if self.ok else 'DEGRADED'}  {self.cluster}/{self.service} ({self.status})",
            f"tasks: desired {self.desired}, running {self.running}, pending {self.pending}",
        ]
        for d in self.deployments:
            out.append(
                f"deployment {d['status'].lower()} {d['rollout']}: running {d['running']}"
                f"/{d['desired']}, pending {d['pending']}, {d['task_definition']}, {d['created']}"
            )
        if self.targets:
            out.append("targets:")
            out += [
                f"  {t['id']}:{t['port']} {t['state']}"
                + (f" ({t['reason']}: {t['description']})" if t["reason"] else "")
                for t in self.targets
            ]
        else:
            out.append("targets: none registered (or no target group)")
        if self.events:
            out.append("recent events:")
            out += [f"  {e['at']}  {e['message']}" for e in self.events]
        return out


def service_health(clients: Clients, targets: Targets, *, events: int = 5) -> ServiceHealth:
    """Read the service's task counts, deployments, recent events and target health.

    Raises:
        AwsError: no cluster/service could be resolved, or the service does not exist.
    """
    if not (targets.cluster and targets.service):
        raise AwsError("no ECS service: pass --cluster and --service")
    found = clients.ecs.describe_services(cluster=targets.cluster, services=[targets.service])
    if not found.get("services"):
        raise AwsError(f"ECS service {targets.service!r} not found in {targets.cluster!r}")
    svc = found["services"][0]
    health = ServiceHealth(
        cluster=targets.cluster,
        service=targets.service,
        status=svc.get("status", "UNKNOWN"),
        desired=svc.get("desiredCount", 0),
        running=svc.get("runningCount", 0),
        pending=svc.get("pendingCount", 0),
    )
    for d in svc.get("deployments", []):
        health.deployments.append(
            {
                "status": d.get("status", ""),
                "rollout": d.get("rolloutState", ""),
                "desired": d.get("desiredCount", 0),
                "running": d.get("runningCount", 0),
                "pending": d.get("pendingCount", 0),
                "task_definition": str(d.get("taskDefinition", "")).rsplit("/", 1)[-1],
                "created": _when(d.get("createdAt")),
            }
        )
    health.events = [
        {"at": _when(e.get("createdAt")), "message": e.get("message", "")}
        for e in svc.get("events", [])[:events]
    ]
    if targets.target_group_arn:
        reply = clients.elbv2.describe_target_health(TargetGroupArn=targets.target_group_arn)
        for desc in reply.get("TargetHealthDescriptions", []):
            th = desc.get("TargetHealth", {})
            health.targets.append(
                {
                    "id": desc["Target"]["Id"],
                    "port": desc["Target"].get("Port"),
                    "state": th.get("State", "unknown"),
                    "reason": th.get("Reason", ""),
                    "description": th.get("Description", ""),
                }
            )
    return health
