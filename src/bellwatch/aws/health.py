"""``bellwatch health --source aws``: the ECS service, its load-balancer targets, and who
the alarms reach.

An email subscription does nothing until its address opens the link AWS mailed
("PendingConfirmation" in ListSubscriptionsByTopic; AWS deletes it after three days), so
alarms may fire into a topic nobody receives: the report names the pending addresses.
https://docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.confirm.html
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bellwatch.aws.clients import AwsError, Clients, error_code
from bellwatch.aws.discover import Targets
from bellwatch.aws.plan import SetupOptions
from bellwatch.aws.resources import Topic

__all__ = ["ServiceHealth", "alert_reach", "service_health"]

# SNS answers AuthorizationError when IAM denies a call.
_DENIED = frozenset({"AuthorizationError", "AccessDenied", "AccessDeniedException"})


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
    alerts: dict[str, Any] | None = None
    """Who the stack's alarms reach (:func:`alert_reach`); None when not asked."""

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
            "alerts": self.alerts,
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
        if self.alerts is not None:
            out += _alert_lines(self.alerts)
        return out


def _alert_lines(a: dict[str, Any]) -> list[str]:
    topic = a["topic"]
    if a.get("problem"):
        return [f"alerts: {topic}: {a['problem']}"]
    if not a["found"]:
        return [f"alerts: no topic {topic} in this region (bellwatch aws setup makes it)"]
    out = [f"alerts: {topic} notifies {', '.join(a['confirmed']) or 'nobody yet'}"]
    if a["pending"]:
        out.append(
            f"  pending confirmation: {', '.join(a['pending'])}: nothing is delivered until "
            "the link AWS emailed is opened (bellwatch aws setup --resend-confirmation "
            "mails it again)"
        )
    if not a["confirmed"]:
        out.append("  no confirmed subscriber: the alarms reach no one")
    return out


def alert_reach(clients: Clients, stack: str) -> dict[str, Any]:
    """The topic setup made for ``stack``: whether it exists, and its confirmed and
    pending subscriptions (``protocol:endpoint``). A denied SNS call is a ``problem``,
    not an error: the service's health does not depend on it.

    Raises:
        ValueError: ``stack`` is not a name setup accepts.
    """
    topic = Topic(f"{SetupOptions(stack, None, Targets()).prefix}-alerts", {})
    out: dict[str, Any] = {"topic": topic.name, "found": False, "confirmed": [], "pending": []}
    try:
        arn = topic.find_arn(clients)
        if arn is None:
            return out
        out["found"] = True
        pages = clients.sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=arn)
        for page in pages:
            for sub in page.get("Subscriptions", []):
                who = f"{sub['Protocol']}:{sub['Endpoint']}"
                confirmed = str(sub.get("SubscriptionArn", "")).startswith("arn:")
                out["confirmed" if confirmed else "pending"].append(who)
    except Exception as exc:
        if error_code(exc) not in _DENIED:
            raise
        out["problem"] = "not allowed to read SNS (bellwatch aws policy --for health)"
    return out


def service_health(
    clients: Clients, targets: Targets, *, events: int = 5, stack: str | None = None
) -> ServiceHealth:
    """Read the service's task counts, deployments, recent events, target health and
    who its alarms reach (the topic setup made for ``stack``, by default the service's
    name, as setup names it).

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
    # A name setup would refuse (over 64 characters...) has no topic of setup's.
    with contextlib.suppress(ValueError):
        health.alerts = alert_reach(clients, stack or targets.service)
    return health
