"""The monthly CloudWatch bill: log ingestion, storage, Insights scans, metrics, alarms,
dashboards; each line marked *measured* or *estimated*.

Measured: read as it is (bytes and resources AWS reports, counts in the logs read).
Estimated: projected or assumed (a month from a few hours of logs, a query volume the
user gives, storage under a retention, metrics billed for every hour of the month).

A month is 730 hours, as AWS's pricing calculator counts it; GB is 2^30 bytes. Free
tiers (5 GB of logs, 10 metrics, 10 alarm metrics, 3 dashboards per account) are not
subtracted: they are shared by everything in the account.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, Final, Literal

from .monitoring import Monitoring, setup_monitoring
from .prices import GB, CostError, RegionPrices
from .usage import DAY_MS, OVERHEAD, Usage, span_text

__all__ = [
    "DAYS_PER_MONTH",
    "NEVER_EXPIRE_MONTHS",
    "Basis",
    "Bill",
    "BillLine",
    "LogOptions",
    "local_bill",
    "log_lines",
    "monitoring_lines",
]

Basis = Literal["measured", "estimated"]
DAYS_PER_MONTH: Final = 730 / 24
_LOG_ITEMS = ("log ingestion", "log storage", "Logs Insights")
NEVER_EXPIRE_MONTHS: Final = 12
"""Never-expiring storage is shown as it stands after this many months (it keeps growing)."""


@dataclass(frozen=True, slots=True)
class BillLine:
    """One line of the bill: ``quantity`` ``unit`` a month at ``usd`` a month."""

    item: str
    quantity: float
    unit: str
    usd: float
    basis: Basis
    note: str = ""
    in_total: bool = True
    """False for an alternative shown for comparison (Infrequent Access)."""

    @property
    def units(self) -> str:
        """The unit, plural unless the quantity is one (GB stays GB)."""
        if self.unit == "GB" or self.quantity == 1:
            return self.unit
        return self.unit + "s"

    def as_dict(self) -> dict[str, Any]:
        return {
            "item": self.item,
            "quantity": round(self.quantity, 6),
            "unit": self.unit,
            "usd_per_month": round(self.usd, 4),
            "basis": self.basis,
            "note": self.note,
            "in_total": self.in_total,
        }


@dataclass(frozen=True, slots=True)
class Bill:
    """Bill lines priced with ``prices``, and what a reader must know about them."""

    prices: RegionPrices
    lines: tuple[BillLine, ...]
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> float:
        """USD a month, alternatives left out."""
        return sum(line.usd for line in self.lines if line.in_total)

    @property
    def logs_usd(self) -> float:
        """USD a month of the log lines alone: ingestion, storage and Insights scans."""
        return sum(ln.usd for ln in self.lines if ln.in_total and ln.item.startswith(_LOG_ITEMS))

    def line(self, item: str) -> BillLine:
        """The line named ``item`` (KeyError when absent)."""
        for line in self.lines:
            if line.item == item:
                return line
        raise KeyError(item)

    def as_dict(self) -> dict[str, Any]:
        return {
            "region": self.prices.region,
            "prices_date": self.prices.date,
            "total_usd_per_month": round(self.total, 2),
            "lines": [line.as_dict() for line in self.lines],
            "notes": [*self.prices.notes(), *self.notes],
        }

    def table(self) -> list[str]:
        """The bill as fixed-width text lines of at most 79 columns."""
        out = [f"{'monthly CloudWatch bill':<34} {'quantity':>17} {'$/month':>9}  basis"]
        for ln in self.lines:
            qty = f"{_num(ln.quantity)} {ln.units}"
            usd = f"{ln.usd:>9.2f}" if ln.in_total else f"({ln.usd:.2f})".rjust(9)
            out.append(f"{ln.item[:34]:<34} {qty[:17]:>17} {usd}  {ln.basis}")
        out.append(f"{'total':<34} {'':>17} {self.total:>9.2f}")
        notes = [f"{ln.item}: {ln.note}" for ln in self.lines if ln.note]
        notes += [f"note: {n}" for n in (*self.prices.notes(), *self.notes)]
        for note in notes:
            out += textwrap.wrap(note, 79, initial_indent="  ", subsequent_indent="    ")
        return out


def _num(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    if 0 < value < 0.001:  # not "0.000": a little is not nothing
        return "<0.001"
    return f"{value:,.3f}" if value < 100 else f"{value:,.1f}"


@dataclass(frozen=True, slots=True)
class LogOptions:
    """What the logs alone cannot say: retention, log class and Insights query volume."""

    retention_days: int | None = None
    """The log group's retention; None: never expire (CloudWatch's default)."""
    retention_known: bool = False
    """Whether ``retention_days`` was read or given (else it is CloudWatch's default)."""
    log_class: Literal["standard", "infrequent_access"] = "standard"
    queries_per_day: float = 0.0
    """Logs Insights queries run a day (people, dashboards' log widgets, scripts)."""
    query_hours: float = 24.0
    """Hours of logs each query scans."""


def log_lines(
    prices: RegionPrices,
    *,
    billed_per_day: float,
    bytes_per_day: float,
    opts: LogOptions,
    basis: Basis = "estimated",
    stored_bytes: float | None = None,
) -> list[BillLine]:
    """Ingestion (both classes, the group's in the total), storage and Insights scans.

    ``billed_per_day``: bytes ingested a day, per-event overhead included;
    ``bytes_per_day``: message bytes a day (what is stored and scanned). Storage is
    ``stored_bytes`` when measured, else what ``retention_days`` of days keeps.
    """
    out: list[BillLine] = []
    gb_month = billed_per_day * DAYS_PER_MONTH / GB
    for log_class, label in (("standard", "Standard"), ("infrequent_access", "Infrequent Access")):
        ours = log_class == opts.log_class
        note = "" if ours else "for comparison, not in the total"
        if log_class == "infrequent_access":
            note = (
                "no metric filters, EMF extraction or Live Tail in this class: "
                "setup's log metrics and alarms need Standard"
            ) + ("" if ours else "; not in the total")
        out.append(
            BillLine(
                f"log ingestion ({label})",
                gb_month,
                "GB",
                gb_month * prices.usd(f"logs.ingest.{log_class}"),
                basis,
                note,
                in_total=ours,
            )
        )
    s_basis: Basis = "estimated"
    if stored_bytes is not None:
        stored, note, s_basis = stored_bytes / GB, "as stored now", basis
    elif opts.retention_days is None:
        months = NEVER_EXPIRE_MONTHS
        stored = bytes_per_day * DAYS_PER_MONTH * months / GB
        growth = bytes_per_day * DAYS_PER_MONTH / GB * prices.usd("logs.storage")
        what = "never expire" if opts.retention_known else "never expire (CloudWatch's default)"
        note = (
            f"{what}: after {months} months, ${growth:.2f} more each month; "
            "uncompressed (an upper bound)"
        )
    elif opts.retention_days > DAYS_PER_MONTH * NEVER_EXPIRE_MONTHS:
        # priced in the same month as never-expire (else 10 years kept would cost 10x more
        # than kept for ever): what is stored then, and where it stops growing
        stored = bytes_per_day * DAYS_PER_MONTH * NEVER_EXPIRE_MONTHS / GB
        full = bytes_per_day * opts.retention_days / GB * prices.usd("logs.storage")
        note = (
            f"{opts.retention_days} days kept: after {NEVER_EXPIRE_MONTHS} months, growing to "
            f"${full:.2f} a month by day {opts.retention_days}; uncompressed (an upper bound)"
        )
    else:
        stored = bytes_per_day * opts.retention_days / GB
        note = f"{opts.retention_days} days kept, uncompressed (an upper bound)"
    out.append(
        BillLine("log storage", stored, "GB", stored * prices.usd("logs.storage"), s_basis, note)
    )
    hours = opts.query_hours
    kept = None if opts.retention_days is None else opts.retention_days * 24
    if kept is not None and hours > kept:  # a query cannot scan logs already expired
        hours = kept
    scanned = opts.queries_per_day * DAYS_PER_MONTH * bytes_per_day * hours / 24 / GB
    q_note = (
        f"{opts.queries_per_day:g} queries a day over {hours:g} h of logs"
        if opts.queries_per_day
        else "no query volume given"
    )
    if opts.queries_per_day and hours < opts.query_hours:
        days = opts.retention_days
        q_note += f" (not {opts.query_hours:g}: {days} day{'' if days == 1 else 's'} kept)"
    out.append(
        BillLine(
            "Logs Insights scans",
            scanned,
            "GB",
            scanned * prices.usd("logs.insights.scanned"),
            "estimated",
            q_note,
        )
    )
    return out


def monitoring_lines(
    prices: RegionPrices,
    mon: Monitoring,
    *,
    basis: Basis = "estimated",
    metric_months: float | None = None,
    metric_note: str = "",
) -> list[BillLine]:
    """Setup's metric-filter metrics, alarms and dashboards.

    ``metric_months``: metric-months billed (hours with data / hours in a month, summed);
    default: every filter metric for the whole month.
    """
    months = len(mon.filter_metrics) if metric_months is None else metric_months
    note = metric_note or (
        f"{len(mon.filter_metrics)} metrics from {mon.metric_filters} "
        "filters, billed only for hours with data: at most"
    )
    out = [
        BillLine(
            "metric-filter metrics",
            months,
            "metric-month",
            months * prices.usd("metrics.custom"),
            "estimated",
            note,
        )
    ]
    out.append(
        BillLine(
            "alarms",
            mon.alarm_metrics,
            "alarm metric",
            mon.alarm_metrics * prices.usd("alarms.standard"),
            basis,
            f"{mon.alarms} alarms; a metric-math alarm counts each metric",
        )
    )
    if mon.high_resolution_alarm_metrics:
        n = mon.high_resolution_alarm_metrics
        out.append(
            BillLine(
                "alarms (high resolution)",
                n,
                "alarm metric",
                n * prices.usd("alarms.high_resolution"),
                basis,
            )
        )
    out.append(
        BillLine(
            "dashboards",
            mon.dashboards,
            "dashboard",
            mon.dashboards * prices.usd("dashboards"),
            basis,
            "a Logs Insights widget scans logs each time it refreshes",
        )
    )
    return out


def _hours_fraction(hours: Iterable[set[int]], usage_hours: int) -> float:
    return sum(min(1.0, len(h) / usage_hours) for h in hours)


def local_bill(
    usage: Usage,
    prices: RegionPrices,
    opts: LogOptions | None = None,
    *,
    monitoring: Monitoring | None = None,
) -> Bill:
    """The monthly bill the records read imply, projected from their time span.

    ``monitoring``: what setup creates (default: every alarm, for an ECS service behind
    an ALB). Metric-filter and EMF metrics are billed for the share of hours in which
    the records read would have fed them.

    Raises:
        CostError: the records span no time, so nothing can be projected.
    """
    opts = opts or LogOptions()
    billed_day, bytes_day = usage.per_day(usage.total.billed), usage.per_day(usage.total.bytes)
    if billed_day is None or bytes_day is None:
        raise CostError(
            f"cannot project a month: {_read(usage.total.events)} no time "
            "(none has a ts, or all have the same one)"
        )
    span_h = usage.span_ms / DAY_MS * 24
    lines = log_lines(prices, billed_per_day=billed_day, bytes_per_day=bytes_day, opts=opts)
    mon = monitoring or setup_monitoring()
    filter_hours = [usage.filters.hours.get(m, set()) for m in mon.filter_metrics]
    fed = sum(1 for h in filter_hours if h)
    months = _hours_fraction(filter_hours, usage.hours)
    note = (
        f"{len(mon.filter_metrics)} metrics from {mon.metric_filters} filters; {fed} would "
        f"get data, in {months / max(len(mon.filter_metrics), 1):.0%} of hours on average"
    )
    mon_lines = monitoring_lines(prices, mon, metric_months=months, metric_note=note)
    emf = usage.emf_metrics.hours
    emf_months = _hours_fraction(emf.values(), usage.hours)
    emf_note = (
        f"{len(emf)} metrics in the EMF lines read"
        if emf
        else "no EMF lines in the logs read (BELLWATCH_EMF off, or stdout not read)"
    )
    emf_line = BillLine(
        "EMF metrics",
        emf_months,
        "metric-month",
        emf_months * prices.usd("metrics.custom"),
        "estimated",
        emf_note,
    )
    log_metrics = [mon_lines[0], emf_line]
    if opts.log_class == "infrequent_access":
        # that class extracts no metrics from its logs: pricing them would price nothing real
        why = "not in the total: Infrequent Access has no metric filters or EMF extraction"
        log_metrics = [replace(ln, in_total=False, note=f"{ln.note}; {why}") for ln in log_metrics]
    lines += [*log_metrics, *mon_lines[1:]]
    overhead = OVERHEAD * usage.total.events / max(usage.total.billed, 1)
    notes = [
        f"projected from {span_text(usage.span_ms)} of logs ({usage.total.events:,} events); "
        "a month is 730 h",
        f"ingestion includes CloudWatch's {OVERHEAD} bytes per event ({overhead:.0%} of the "
        "bytes billed)",
        "free tiers not subtracted (5 GB logs, 10 metrics, 10 alarm metrics, 3 dashboards "
        "per account)",
    ]
    if span_h < 1:
        notes.append("under an hour of logs: read more for a steadier projection")
    return Bill(prices, tuple(lines), tuple(notes))


def _read(events: int) -> str:
    """``the 1 event read spans`` or ``the 3 events read span``."""
    return "the 1 event read spans" if events == 1 else f"the {events:,} events read span"
