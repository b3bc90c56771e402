"""The monthly bill, checked against figures worked out by hand from the price table."""

from __future__ import annotations

import json

import pytest

from bellwatch.cost.bill import DAYS_PER_MONTH, Bill, BillLine, LogOptions, local_bill
from bellwatch.cost.prices import CostError, shipped_prices
from bellwatch.cost.usage import Tally, Usage, account
from bellwatch.sources.base import MESSAGE, TIMESTAMP

US = shipped_prices().for_region("us-east-1")
GB = 2**30
DAY = 86_400_000
T0 = 1_796_601_600_000  # an hour boundary


def day_of_traffic() -> Usage:
    """10 million events of 174 bytes in exactly one day; errors in every hour."""
    usage = Usage(total=Tally(events=10_000_000, bytes=1_740_000_000))
    usage.first_ms, usage.last_ms = T0, T0 + DAY - 1
    usage.by_level["INFO"] = usage.total
    usage.filters.hours["ErrorCount"] = {T0 // 3_600_000 + h for h in range(24)}
    usage.filters.hours["RequestCount"] = {T0 // 3_600_000 + h for h in range(6)}
    return usage


class TestHandWorked:
    def test_a_month_is_730_hours(self) -> None:
        """AWS's pricing calculator month: 730 hours."""
        assert DAYS_PER_MONTH * 24 == 730

    def test_ingestion(self) -> None:
        """2e9 billed bytes a day (174 + 26 per event) x 30.4167 days at $0.50 per GB."""
        bill = local_bill(day_of_traffic(), US)
        line = bill.line("log ingestion (Standard)")
        # 2,000,000,000 B/day * 730/24 = 60,833,333,333 B = 56.6555 GB -> $28.33
        assert line.quantity == pytest.approx(60_833_333_333 / GB)
        assert line.usd == pytest.approx(28.3277, abs=1e-4)
        assert line.in_total and line.basis == "estimated"
        ia = bill.line("log ingestion (Infrequent Access)")
        assert ia.usd == pytest.approx(14.1639, abs=1e-4) and not ia.in_total

    def test_storage_never_expiring_and_with_retention(self) -> None:
        """Message bytes (no overhead) kept 12 months, or 30 days, at $0.03 per GB-month."""
        never = local_bill(day_of_traffic(), US).line("log storage")
        # 1.74e9 B/day * 365 days = 6.351e11 B = 591.48 GB -> $17.7445
        assert never.quantity == pytest.approx(635_100_000_000 / GB)
        assert never.usd == pytest.approx(17.7445, abs=1e-4)
        assert "after 12 months" in never.note
        kept = local_bill(day_of_traffic(), US, LogOptions(retention_days=30)).line("log storage")
        # 1.74e9 * 30 = 5.22e10 B = 48.615 GB -> $1.46
        assert kept.usd == pytest.approx(1.4584, abs=1e-4)

    def test_a_retention_over_a_year_is_priced_at_the_same_month_as_never(self) -> None:
        """3653 days kept holds no more after 12 months than never-expiring does, so the bill
        (that month's) is the same, and the note says how far it grows."""
        never = local_bill(day_of_traffic(), US).line("log storage")
        long = local_bill(day_of_traffic(), US, LogOptions(retention_days=3653)).line("log storage")
        assert long.usd == pytest.approx(never.usd)
        assert "after 12 months" in long.note and "3653 days" in long.note

    def test_insights_scans_at_the_given_volume(self) -> None:
        """10 queries a day, each over a day of logs, at $0.005 per GB scanned."""
        opts = LogOptions(queries_per_day=10)
        line = local_bill(day_of_traffic(), US, opts).line("Logs Insights scans")
        # 10 * 30.4167 * 1.74e9 B = 5.2925e11 B = 492.90 GB -> $2.46
        assert line.usd == pytest.approx(2.4645, abs=1e-4)
        half = local_bill(day_of_traffic(), US, LogOptions(queries_per_day=10, query_hours=12))
        assert half.line("Logs Insights scans").usd == pytest.approx(2.4645 / 2, abs=1e-4)

    def test_a_query_scans_no_more_than_retention_keeps(self) -> None:
        """Queries over 720 h of a group that keeps 1 day scan 24 h of logs, and say so."""
        opts = LogOptions(retention_days=1, queries_per_day=10, query_hours=720)
        line = local_bill(day_of_traffic(), US, opts).line("Logs Insights scans")
        assert line.usd == pytest.approx(2.4645, abs=1e-4)
        assert "24 h of logs" in line.note and "1 day kept" in line.note

    def test_metrics_alarms_dashboards(self) -> None:
        """ErrorCount fed every hour (1 metric-month) and RequestCount 6 of 24 hours (0.25):
        $0.375; ten alarm metrics $1.00; one dashboard $3.00."""
        bill = local_bill(day_of_traffic(), US)
        assert bill.line("metric-filter metrics").quantity == pytest.approx(1.25)
        assert bill.line("metric-filter metrics").usd == pytest.approx(0.375)
        assert bill.line("EMF metrics").usd == 0
        assert bill.line("alarms").usd == pytest.approx(1.00)
        assert bill.line("dashboards").usd == pytest.approx(3.00)

    def test_total(self) -> None:
        """The total adds every line but the comparison one."""
        bill = local_bill(day_of_traffic(), US, LogOptions(retention_days=30, queries_per_day=10))
        assert bill.total == pytest.approx(
            28.3277 + 1.4584 + 2.4645 + 0.375 + 1.00 + 3.00, abs=1e-3
        )
        assert bill.logs_usd == pytest.approx(28.3277 + 1.4584 + 2.4645, abs=1e-3)
        assert json.loads(json.dumps(bill.as_dict()))["total_usd_per_month"] == round(bill.total, 2)

    def test_infrequent_access_has_no_log_metrics_in_its_total(self) -> None:
        """That class has no metric filters or EMF extraction, so the total priced for it
        leaves their metrics out (shown, in brackets, with the reason)."""
        opts = LogOptions(retention_days=30, log_class="infrequent_access")
        bill = local_bill(day_of_traffic(), US, opts)
        for item in ("metric-filter metrics", "EMF metrics"):
            line = bill.line(item)
            assert not line.in_total and "Infrequent Access" in line.note
        assert bill.line("metric-filter metrics").usd == pytest.approx(0.375)
        assert bill.total == pytest.approx(14.1639 + 1.4584 + 1.00 + 3.00, abs=1e-3)


class TestFromLines:
    def test_two_lines_an_hour_apart(self) -> None:
        """Two 474-byte lines an hour apart: 1,000 billed bytes an hour, 730,000 a month."""
        msg = "x" * 474
        records = [
            {"ts": T0, TIMESTAMP: T0, MESSAGE: msg},
            {"ts": T0 + 3_600_000, TIMESTAMP: T0 + 3_600_000, MESSAGE: msg},
        ]
        line = local_bill(account(records), US).line("log ingestion (Standard)")
        assert line.quantity == pytest.approx(730_000 / GB)
        assert line.usd == pytest.approx(730_000 / GB * 0.50)

    def test_no_time_span_is_a_cost_error(self) -> None:
        """Lines that span no time cannot be projected, and the error says why."""
        records = [{"ts": T0, TIMESTAMP: T0, MESSAGE: "{}"}] * 3
        with pytest.raises(CostError, match="span no time"):
            local_bill(account(records), US)

    def test_one_event_is_said_in_the_singular(self) -> None:
        """One event read: 'the 1 event read spans no time', not 'the 1 events read'."""
        records = [{"ts": T0, TIMESTAMP: T0, MESSAGE: "{}"}]
        with pytest.raises(CostError, match="the 1 event read spans no time"):
            local_bill(account(records), US)

    def test_a_tiny_quantity_is_not_shown_as_zero(self) -> None:
        """A quantity under 0.001 reads '<0.001', never '0.000' (a little is not nothing)."""
        tiny = BillLine("log events (IncomingLogEvents)", 0.0004, "event", 0.0, "measured")
        table = Bill(US, (tiny,)).table()
        assert "<0.001 events" in table[1] and "0.000" not in table[1]

    def test_the_table_fits_80_columns_and_marks_each_line(self) -> None:
        """Every line of the text says measured or estimated, within 80 columns."""
        table = local_bill(day_of_traffic(), US).table()
        assert all(len(x) <= 80 for x in table)
        rows = [x for x in table[1:] if x.endswith(("measured", "estimated"))]
        assert len(rows) == 8
