"""cost_report: the whole of `bellwatch cost` over records, as text and as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bellwatch.cost import CostOptions, PriceError, cost_report
from bellwatch.cost.bill import DAYS_PER_MONTH
from bellwatch.cost.usage import OVERHEAD
from bellwatch.sources.files import FileSource
from test_cost_usage import T0, line

HOUR = 3_600_000


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    lines = []
    for i in range(60):
        path = "/health" if i % 3 == 0 else "/api/book"
        lines.append(
            line(
                ts=T0 + i * 60_000,
                level="INFO",
                event="request_complete",
                cid=f"{i:012x}",
                method="GET",
                path=path,
                status=200,
                duration=0.01,
            )
        )
        if i % 10 == 0:
            lines.append(line(ts=T0 + i * 60_000, level="DEBUG", event="cache_miss", key=i))
    lines.append(
        line(
            ts=T0 + HOUR,
            level="ERROR",
            event="error",
            hash="ab12cd34",
            type="ValueError",
            msg="bad",
            sev="high",
            n=1,
        )
    )
    path = tmp_path / "app.jsonl"
    path.write_text("".join(f"{x}\n" for x in lines))
    return path


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BELLWATCH_REGION", "us-east-1")


class TestReport:
    def test_json_says_everything_and_round_trips(self, logs: Path) -> None:
        """The dict is plain JSON: totals, overhead included, projections, tables, bill."""
        report = cost_report(FileSource([str(logs)]).records())
        doc = json.loads(json.dumps(report.as_dict()))
        assert doc["events"] == 67
        assert doc["billed_bytes"] == doc["bytes"] + OVERHEAD * 67
        assert doc["overhead_included_in_billed"] is True
        assert doc["span_hours"] == 1.0
        assert doc["per_day"]["billed_bytes"] == doc["billed_bytes"] * 24
        assert doc["per_month"]["events"] == round(67 * 24 * DAYS_PER_MONTH)
        assert doc["region_source"] == "BELLWATCH_REGION"
        assert doc["bill"]["prices_date"] == "2026-12-07"
        assert [r["name"] for r in doc["by_type"]] == ["request_complete", "cache_miss", "error"]
        assert {r["name"] for r in doc["by_route"]} == {"/health", "/api/book"}
        assert sum(r["billed_bytes"] for r in doc["by_level"]) == doc["billed_bytes"]
        assert doc["what_if"]["basis"] == "measured"
        assert 1 <= len(doc["suggestions"]) <= 3

    def test_text_fits_79_columns(self, logs: Path) -> None:
        """Every section is there, every line within 79 columns."""
        text = cost_report(FileSource([str(logs)]).records()).lines()
        assert all(len(x) <= 79 for x in text), max(text, key=len)
        joined = "\n".join(text)
        for heading in (
            "event type",
            "level",
            "route (request_complete)",
            "monthly CloudWatch bill",
            "what-if: same events as",
            "savings:",
        ):
            assert heading in joined
        assert "26 bytes per event, included" in joined.replace("\n  ", " ")
        assert "prices: us-east-1 (BELLWATCH_REGION), table of 2026-12-07" in joined

    def test_a_region_without_prices_says_whose_it_uses_at_the_top(self, logs: Path) -> None:
        """The heading names the region whose prices are used, not only the one asked."""
        options = CostOptions(region="eu-west-1")
        joined = "\n".join(cost_report(FileSource([str(logs)]).records(), options).lines())
        assert "prices: us-east-1's, for eu-west-1 (given: none in the table)" in joined

    @pytest.mark.parametrize(
        ("span_ms", "said"),
        [(7_000, "over 7 s:"), (1_500_000, "over 25 min:"), (HOUR, "over 1.00 h:")],
    )
    def test_the_span_read_is_said_in_a_readable_unit(
        self, tmp_path: Path, span_ms: int, said: str
    ) -> None:
        """Seven seconds of logs read 'over 7 s' and 'projected from 7 s', not '0.0 h'."""
        path = tmp_path / "short.jsonl"
        first, last = line(ts=T0, level="INFO", event="a"), line(ts=T0 + span_ms, event="b")
        path.write_text(f"{first}\n{last}\n")
        words = " ".join(cost_report(FileSource([str(path)]).records()).lines()).split()
        assert said in " ".join(words)
        assert f"projected from {said[len('over ') : -1]} of logs" in " ".join(words)

    def test_options_reach_the_bill(self, logs: Path, tmp_path: Path) -> None:
        """Retention, query volume and a price file are used as given."""
        prices = tmp_path / "p.csv"
        prices.write_text(
            "region,item,unit,usd,date,source\n"
            "us-east-1,dashboards,dashboard-month,2.50,2026-12-01,our contract\n"
        )
        opts = CostOptions(retention_days=7, queries_per_day=5, prices=prices, what_if=False)
        report = cost_report(FileSource([str(logs)]).records(), opts)
        assert report.bill.line("dashboards").usd == 2.50
        assert report.bill.prices.date == "2026-12-01"
        assert report.bill.line("log storage").note.startswith("7 days kept")
        assert report.bill.line("Logs Insights scans").usd > 0
        assert report.what_if is None
        assert all(s.key != "retention" for s in report.suggestions)

    def test_a_bad_price_file_is_refused(self, logs: Path, tmp_path: Path) -> None:
        """A corrupt --prices file stops the report with the line it failed on."""
        prices = tmp_path / "p.csv"
        prices.write_text("region,item,unit,usd,date,source\nus-east-1,dashboards,dash")
        with pytest.raises(PriceError, match=r"p\.csv:2: expected 6 fields"):
            cost_report(FileSource([str(logs)]).records(), CostOptions(prices=prices))
