"""``cost_report``: everything ``bellwatch cost`` says, as a short table and a JSON dict.

Round trip: records (any source) -> :func:`~.usage.account` -> :func:`~.bill.local_bill`
with the region's prices -> :func:`~.whatif.what_if` -> :func:`~.savings.suggestions`.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from ..aws.config import DEFAULT_RULES
from ..aws.discover import Targets
from ..sources.base import Record
from ..timeparse import format_ms
from .bill import DAYS_PER_MONTH, Bill, LogOptions, local_bill
from .monitoring import setup_monitoring
from .prices import FALLBACK_REGION, ITEMS, default_region, load_prices
from .savings import Suggestion, suggestions
from .usage import LOGGER, OVERHEAD, Tally, Usage, account, span_text
from .whatif import WhatIf, what_if

__all__ = ["CostOptions", "CostReport", "cost_report", "human_bytes"]

_WIDTH = 79
_TOP = 8  # rows per table in the text output (JSON has every row)


@dataclass(frozen=True, slots=True)
class CostOptions:
    """What ``bellwatch cost`` takes besides the records (every field has a default)."""

    region: str | None = None
    """Region to price (default: BELLWATCH_REGION, the AWS configuration, us-east-1)."""
    profile: str | None = None
    prices: str | Path | None = None
    """A price file laid over the shipped table (``--prices``)."""
    retention_days: int | None = None
    """The log group's retention; None with ``retention_known`` False: CloudWatch's default."""
    retention_known: bool = False
    log_class: Literal["standard", "infrequent_access"] = "standard"
    queries_per_day: float = 0.0
    query_hours: float = 24.0
    slow_threshold: float = 2.0
    targets: Targets | None = None
    """What setup would monitor (default: an ECS service behind an ALB: every alarm)."""
    what_if: bool = True
    sample_size: int = 2000

    def log_options(self) -> LogOptions:
        return LogOptions(
            retention_days=self.retention_days,
            retention_known=self.retention_known or self.retention_days is not None,
            log_class=self.log_class,
            queries_per_day=self.queries_per_day,
            query_hours=self.query_hours,
        )


LOG_GROUP_LOOKBACK_MS = 86_400_000
"""How far back a CloudWatch log group is read for its cost without a start time: a day
projects a month, and a group can hold years (``bellwatch cost``, MCP ``digest``)."""


def human_bytes(value: float) -> str:
    """``1536`` -> ``1.5 KB`` (1024-based, as AWS's GB is)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


@dataclass(frozen=True, slots=True)
class CostReport:
    """The accounting, the bill, the what-if and the suggestions of one read."""

    usage: Usage
    bill: Bill
    what_if: WhatIf | None
    suggestions: list[Suggestion]
    region_source: str

    @property
    def logs_usd(self) -> float:
        """What the log lines of the bill cost a month (ingestion, storage, scans)."""
        return self.bill.logs_usd

    def _rows(self, rows: Iterable[tuple[str, str, Tally]]) -> list[dict[str, Any]]:
        total = self.usage.total
        out = []
        for kind, name, tally in rows:
            row = {"kind": kind, "name": name, **tally.as_dict(total)}
            day = self.usage.per_day(tally.billed)
            row["billed_bytes_per_day"] = round(day) if day is not None else None
            row["usd_per_month"] = round(self.logs_usd * row["byte_share"], 4)
            out.append(row)
        return out

    def _levels(self) -> list[tuple[str, str, Tally]]:
        return [
            ("level", k, t)
            for k, t in sorted(self.usage.by_level.items(), key=lambda kv: -kv[1].billed)
        ]

    def _routes(self) -> list[tuple[str, str, Tally]]:
        return [
            ("route", k, t)
            for k, t in sorted(self.usage.by_route.items(), key=lambda kv: -kv[1].billed)
        ]

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready (``--json``)."""
        u = self.usage
        per_day = {
            k: u.per_day(v)
            for k, v in (
                ("events", u.total.events),
                ("bytes", u.total.bytes),
                ("billed_bytes", u.total.billed),
            )
        }
        return {
            "events": u.total.events,
            "bytes": u.total.bytes,
            "billed_bytes": u.total.billed,
            "overhead_bytes_per_event": OVERHEAD,
            "overhead_included_in_billed": True,
            "basis": {"counts": "measured", "per_day": "estimated", "per_month": "estimated"},
            "first_ms": u.first_ms,
            "last_ms": u.last_ms,
            "span_hours": round(u.span_ms / 3_600_000, 4),
            "per_day": {k: round(v) if v is not None else None for k, v in per_day.items()},
            "per_month": {
                k: round(v * DAYS_PER_MONTH) if v is not None else None for k, v in per_day.items()
            },
            "region_source": self.region_source,
            "by_type": self._rows(u.groups()),
            "by_level": self._rows(self._levels()),
            "by_route": self._rows(self._routes()),
            "bill": self.bill.as_dict(),
            "what_if": self.what_if.as_dict() if self.what_if else None,
            "suggestions": [s.as_dict() for s in self.suggestions],
        }

    def _table(self, title: str, rows: list[dict[str, Any]]) -> list[str]:
        out = [
            f"{title[:27]:<27} {'events':>9} {'billed B':>12} {'share':>6} "
            f"{'per day':>10} {'$/month':>8}"
        ]
        for row in rows[:_TOP]:
            name = row["name"] if row["kind"] not in (LOGGER,) else f"logger {row['name']}"
            day = row["billed_bytes_per_day"]
            out.append(
                f"{name[:27]:<27} {row['events']:>9,} {row['billed_bytes']:>12,} "
                f"{row['byte_share']:>6.1%} "
                f"{human_bytes(day) if day is not None else '-':>10} "
                f"{row['usd_per_month']:>8.2f}"
            )
        if len(rows) > _TOP:
            out.append(f"  ... {len(rows) - _TOP} more (--json lists every one)")
        return out

    def _whose_prices(self) -> str:
        prices = self.bill.prices
        if len(prices.borrowed) == len(ITEMS):  # said first: every figure below is theirs
            return (
                f"{FALLBACK_REGION}'s, for {prices.region} ({self.region_source}: none in "
                "the table)"
            )
        return f"{prices.region} ({self.region_source})"

    def lines(self) -> list[str]:
        """The report as text lines of at most 79 columns."""
        u = self.usage
        span = (
            f"{format_ms(u.first_ms)} to {format_ms(u.last_ms)}"
            if u.first_ms is not None and u.last_ms is not None
            else "no times"
        )
        head = [
            f"measured: {u.total.events:,} events, {human_bytes(u.total.billed)} billed "
            f"({human_bytes(u.total.bytes)} of messages + {OVERHEAD} bytes per event, "
            f"included), over {span_text(u.span_ms)}: {span}",
            f"prices: {self._whose_prices()}, table of {self.bill.prices.date}",
        ]
        day = u.per_day(u.total.billed)
        if day is not None:
            events = u.per_day(u.total.events) or 0.0
            head.append(
                f"estimated: {human_bytes(day)} a day, "
                f"{human_bytes(day * DAYS_PER_MONTH)} a month "
                f"({events * DAYS_PER_MONTH:,.0f} events); in the tables below, counts are "
                "measured, 'per day' and '$/month' estimated"
            )
        out = [w for h in head for w in textwrap.wrap(h, _WIDTH, subsequent_indent="  ")]
        out += ["", *self._table("event type", self._rows(u.groups()))]
        out += ["", *self._table("level", self._rows(self._levels()))]
        if u.by_route:
            out += ["", *self._table("route (request_complete)", self._rows(self._routes()))]
        out += ["", *self.bill.table()]
        if self.what_if is not None:
            out += ["", *self.what_if.table()]
        out.append("")
        if self.suggestions:
            out.append("savings:")
            for i, s in enumerate(self.suggestions, 1):
                text = f"{i}. ${s.usd_per_month:,.2f}/month: {s.text}"
                out += textwrap.wrap(text, _WIDTH, initial_indent="  ", subsequent_indent="     ")
        else:
            out.append("savings: nothing stands out (no candidate over 1% of the bytes)")
        return out


def cost_report(records: Iterable[Record], options: CostOptions | None = None) -> CostReport:
    """Account ``records`` and price them: the whole of ``bellwatch cost`` over local logs.

    Raises:
        PriceError: the ``prices`` file is not a valid price table (names the line).
        CostError: the records span no time, or the AWS profile does not exist.
    """
    opts = options or CostOptions()
    region, where = default_region(opts.region, profile=opts.profile)
    prices = load_prices(opts.prices).for_region(region)
    usage = account(records, slow_threshold=opts.slow_threshold, sample_size=opts.sample_size)
    log_opts = opts.log_options()
    monitoring = setup_monitoring(
        opts.targets, rules=DEFAULT_RULES, slow_threshold=opts.slow_threshold
    )
    bill = local_bill(usage, prices, log_opts, monitoring=monitoring)
    found = suggestions(usage, bill, prices, log_opts)
    extra = what_if(usage, prices, log_opts) if opts.what_if else None
    return CostReport(usage, bill, extra, found, where)
