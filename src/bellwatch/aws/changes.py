"""The changes a plan holds, each with the step that makes it, and applying them in order.

Shared by setup (:mod:`bellwatch.aws.plan`) and teardown (:mod:`bellwatch.aws.teardown`):
a :class:`Plan` is what both print (``create``/``update``/``unchanged``/``delete``/``keep``
lines and notes) and what :func:`apply` runs. A plan line that updates says
``key: old -> new`` for every attribute it changes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bellwatch.aws.clients import AwsError, Clients

__all__ = ["Action", "Change", "Plan", "apply", "describe_diff"]

Action = Literal["create", "update", "unchanged", "delete", "keep"]


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the plan."""

    action: Action
    kind: str
    name: str
    detail: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"action": self.action, "kind": self.kind, "name": self.name, "detail": self.detail}

    def __str__(self) -> str:
        tail = f"  ({self.detail})" if self.detail else ""
        return f"{self.action:<9} {self.kind:<16} {self.name}{tail}"


@dataclass(slots=True)
class Plan:
    """Changes in apply order, each with the callable that makes it happen."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    log_filters: bool = True
    """Whether the log group takes metric filters (only the STANDARD log class runs them)."""
    _steps: list[Callable[[Clients], None] | None] = field(default_factory=list)

    def add(self, change: Change, step: Callable[[Clients], None] | None) -> None:
        self.changes.append(change)
        self._steps.append(step)

    @property
    def pending(self) -> list[Change]:
        """The changes that write something."""
        return [c for c in self.changes if c.action not in ("unchanged", "keep")]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for c in self.changes:
            out[c.action] = out.get(c.action, 0) + 1
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "counts": self.counts(),
            "notes": self.notes,
        }


def _show(value: Any) -> str:
    """A value as the plan prints it: compact JSON, long ones cut."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    if value is None:
        text = "none"
    return text if len(text) <= 60 else text[:57] + "..."


def describe_diff(current: Mapping[str, Any], desired: Mapping[str, Any]) -> str:
    """``key: old -> new`` for every attribute that differs."""
    keys = sorted(k for k in desired.keys() | current.keys() if current.get(k) != desired.get(k))
    return "; ".join(f"{k}: {_show(current.get(k))} -> {_show(desired.get(k))}" for k in keys)


def apply(plan: Plan, clients: Clients) -> list[Change]:
    """Make every pending change, in plan order; returns the changes made.

    Raises:
        AwsError: an AWS call failed (throttling past botocore's retries, a quota, a
            denied action); the message says how many changes were made before it, since
            the account is then half set up and a re-run continues from there.
    """
    done: list[Change] = []
    for change, step in zip(plan.changes, plan._steps, strict=True):
        if step is not None:
            try:
                step(clients)
            except Exception as exc:
                if not type(exc).__module__.startswith("botocore"):
                    raise
                raise AwsError(
                    f"AWS: {' '.join(str(exc).split())} ({change.kind} {change.name}); "
                    f"{len(done)} of {len(plan.pending)} changes were made before it: run it "
                    "again to finish (it changes only what still differs)"
                ) from None
            done.append(change)
    return done
