"""Bills of what is in AWS: a log group as CloudWatch reports it (``bellwatch aws cost``),
and what setup would create (``bellwatch aws setup --dry-run``).

The last days are measured (``IncomingBytes``, ``IncomingLogEvents``, stored bytes,
the alarms, dashboards and metrics that exist); the month is projected from them.
``IncomingBytes`` is billed as CloudWatch reports it: the local estimate
(:func:`~.bill.local_bill`) adds 26 bytes per event itself, this one does not.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from ..aws.resources import Resource
from ..aws.usage import GroupUsage
from .bill import DAYS_PER_MONTH, Bill, BillLine, LogOptions, log_lines, monitoring_lines
from .monitoring import Monitoring
from .prices import GB, CostError, RegionPrices

__all__ = ["AwsCost", "SetupCost", "aws_cost", "setup_cost"]

_CLASSES = {"STANDARD": "standard", "INFREQUENT_ACCESS": "infrequent_access"}


@dataclass(frozen=True, slots=True)
class AwsCost:
    """The measured window, and the month projected from it."""

    usage: GroupUsage
    window: tuple[BillLine, ...]
    bill: Bill

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: what was read, the window's lines and the month's bill."""
        return {
            "usage": self.usage.as_dict(),
            "window": [line.as_dict() for line in self.window],
            "month": self.bill.as_dict(),
        }

    def lines(self) -> list[str]:
        """Text lines of at most 79 columns."""
        u = self.usage
        retention = "never expire" if u.retention_days is None else f"{u.retention_days} days"
        head = (
            f"{u.log_group} in {u.region}: {u.log_class.lower().replace('_', ' ')} class, "
            f"retention {retention}; alarms and dashboards: {u.scope}"
        )
        out = textwrap.wrap(head, 79, subsequent_indent="  ")
        out.append(f"last {u.days:,.1f} days, as CloudWatch reports them (measured):")
        for line in self.window:
            out.append(
                f"  {line.item:<32} {line.quantity:>16,.3f} {line.units:<7} {line.usd:>9.2f}"
            )
        return [*out, "", *self.bill.table()]


def aws_cost(usage: GroupUsage, prices: RegionPrices, opts: LogOptions | None = None) -> AwsCost:
    """Price what :func:`bellwatch.aws.usage.read_usage` read; ``opts`` gives the Insights
    query volume (retention and log class come from the group).

    Raises:
        CostError: the window covers no time (the group was created just now).
    """
    if usage.days <= 0:
        raise CostError(f"log group {usage.log_group} is newer than the window: nothing read")
    log_class = _CLASSES.get(usage.log_class)
    if log_class is None:
        raise CostError(f"log group {usage.log_group} is of class {usage.log_class}: not priced")
    opts = replace(
        opts or LogOptions(),
        retention_days=usage.retention_days,
        retention_known=True,
        log_class=log_class,  # type: ignore[arg-type]  # one of the two Literal values
    )
    per_day = usage.incoming_bytes / usage.days
    ingest_price = prices.usd(f"logs.ingest.{log_class}")
    window = (
        BillLine(
            "log ingestion (IncomingBytes)",
            usage.incoming_bytes / GB,
            "GB",
            usage.incoming_bytes / GB * ingest_price,
            "measured",
        ),
        BillLine("log events (IncomingLogEvents)", usage.incoming_events, "event", 0.0, "measured"),
    )
    lines = log_lines(
        prices,
        billed_per_day=per_day,
        bytes_per_day=per_day,
        opts=opts,
        stored_bytes=usage.stored_bytes,
        basis="measured",
    )
    # The month's ingestion is a projection of the measured days.
    lines = [
        replace(ln, basis="estimated") if ln.item.startswith("log ingestion") else ln
        for ln in lines
    ]
    if usage.retention_days is None:
        growth = per_day * DAYS_PER_MONTH / GB
        storage = next(i for i, ln in enumerate(lines) if ln.item == "log storage")
        lines[storage] = replace(
            lines[storage],
            note=f"as stored now; never expires, so it grows by {growth:,.3f} GB a month",
        )
    metrics = sum(usage.custom_metrics.values())
    spaces = ", ".join(f"{ns} {n}" for ns, n in usage.custom_metrics.items()) or "none"
    lines.append(
        BillLine(
            "custom metrics",
            metrics,
            "metric",
            metrics * prices.usd("metrics.custom"),
            "measured",
            f"with data in the last two weeks ({spaces}); $ as if every hour had data: at most",
        )
    )
    lines += _alarm_lines(usage, prices)
    n = len(usage.dashboards)
    lines.append(BillLine("dashboards", n, "dashboard", n * prices.usd("dashboards"), "measured"))
    notes = [
        f"IncomingBytes as CloudWatch reports it; the month is {usage.days:,.1f} days' "
        "rate over 730 h",
        *(["the group is under a day old: the month is a rough guess"] if usage.days < 1 else []),
        "free tiers not subtracted (5 GB logs, 10 metrics, 10 alarm metrics, 3 dashboards "
        "per account)",
    ]
    return AwsCost(usage, window, Bill(prices, tuple(lines), tuple(notes)))


def _alarm_lines(usage: GroupUsage, prices: RegionPrices) -> list[BillLine]:
    out = []
    for kind, item, label in (
        ("standard", "alarms.standard", "alarms"),
        ("high_resolution", "alarms.high_resolution", "alarms (high resolution)"),
        ("composite", "alarms.composite", "alarms (composite)"),
    ):
        found = [a for a in usage.alarms if a.kind == kind]
        if found or kind == "standard":
            n = sum(a.metrics for a in found)
            unit = "alarm" if kind == "composite" else "alarm metric"
            out.append(
                BillLine(
                    label,
                    n,
                    unit,
                    n * prices.usd(item),
                    "measured",
                    f"{len(found)} alarms" if kind != "composite" else "",
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class SetupCost:
    """What setup's resources cost a month: all it manages, and the part a run creates."""

    managed: Bill
    created: Bill

    def as_dict(self) -> dict[str, Any]:
        return {"managed": self.managed.as_dict(), "created": self.created.as_dict()}

    def lines(self) -> list[str]:
        """A few text lines for the end of ``setup --dry-run``."""
        p = self.managed.prices
        out = [f"Monthly cost ({p.region} prices, table of {p.date}):"]
        for line in self.managed.lines:
            usd = f"${line.usd:,.2f}"
            out.append(f"  {line.item:<24} {_count(line.quantity):>6} {line.units:<15} {usd:>9}")
        tail = (
            f"total ${self.managed.total:.2f} a month, ${self.created.total:.2f} of it for what "
            "this run creates; metric-filter metrics are billed only for hours with data "
            "(at most this); the logs themselves: bellwatch cost"
        )
        out += textwrap.wrap(tail, 79, initial_indent="  ", subsequent_indent="  ")
        for note in p.notes():
            out += textwrap.wrap(f"note: {note}", 79, initial_indent="  ", subsequent_indent="    ")
        return out


def _count(value: float) -> str:
    return f"{value:g}"


def setup_cost(
    resources: Iterable[Resource], prices: RegionPrices, creating: Iterable[tuple[str, str]] = ()
) -> SetupCost:
    """Price setup's resources (``desired_resources``); ``creating``: (kind, name) of the
    plan's creates."""
    resources = list(resources)
    new = set(creating)

    def bill(chosen: list[Resource]) -> Bill:
        mon = Monitoring.of(chosen)
        return Bill(prices, tuple(monitoring_lines(prices, mon, basis="estimated")))

    return SetupCost(bill(resources), bill([r for r in resources if (r.kind, r.name) in new]))
