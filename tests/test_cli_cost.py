"""``bellwatch cost`` through click's CliRunner, on lines the tests write."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from bellwatch.cli import cli
from bellwatch.cost import CostOptions, cost_report
from bellwatch.cost.bill import DAYS_PER_MONTH
from bellwatch.cost.prices import GB
from bellwatch.cost.usage import OVERHEAD
from bellwatch.sources.files import FileSource
from test_cli import aws, logs_client, moto_endpoint  # noqa: F401 - fixtures, used by name

T0 = 1_796_601_600_000  # 2026-12-07T00:00:00Z
HOUR = 3_600_000


def line(**fields: Any) -> str:
    """A compact JSON line, as bellwatch writes them (non-ASCII kept as UTF-8)."""
    return json.dumps(fields, separators=(",", ":"), ensure_ascii=False)


def request(i: int, path: str, level: str = "INFO") -> str:
    return line(ts=T0 + i * 60_000, level=level, event="request_complete", cid=f"{i:012x}",
                method="GET", path=path, status=200, duration=0.01)  # fmt: skip


LINES = [
    *(request(i, "/health" if i % 3 == 0 else "/api/bookings") for i in range(60)),
    line(ts=T0 + 5, level="DEBUG", event="cache_miss", key="user:42"),
    line(ts=T0 + 6, level="INFO", event="booking_made", who="Zoë Ångström"),  # 2-byte chars
    line(ts=T0 + 7, level="WARNING", logger="botocore.credentials", event="Found credentials"),
    "INFO:     Uvicorn running on http://0.0.0.0:8000 (Press CTRL+C to quit)",  # a text line
    request(60, "/api/bookings"),  # the last event: the span read is exactly one hour
]


def size(text: str) -> int:
    return len(text.encode())


@pytest.fixture(autouse=True)
def _region(monkeypatch: pytest.MonkeyPatch) -> None:
    """Price in us-east-1 whatever this machine's AWS configuration says."""
    monkeypatch.setenv("BELLWATCH_REGION", "us-east-1")


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_text("".join(f"{x}\n" for x in LINES), encoding="utf-8")
    return path


def cost(log: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["cost", "-l", str(log), "--no-cache", *args])


def doc(log: Path, *args: str) -> dict[str, Any]:
    result = cost(log, *args, "--json")
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = orjson.loads(result.stdout)
    return out


class TestCounts:
    def test_bytes_and_events_are_the_lines_own(self, log: Path) -> None:
        """Every line's UTF-8 size without its newline, plus 26 bytes an event, exactly."""
        d = doc(log)
        assert d["events"] == len(LINES)
        assert d["bytes"] == sum(size(x) for x in LINES)
        assert d["billed_bytes"] == d["bytes"] + OVERHEAD * len(LINES)
        rows = {(r["kind"], r["name"]): r for r in d["by_type"]}
        requests = [x for x in LINES if '"request_complete"' in x]
        assert rows["event", "request_complete"]["events"] == len(requests)
        assert rows["event", "request_complete"]["bytes"] == sum(size(x) for x in requests)
        assert rows["event", "booking_made"]["bytes"] == size(LINES[61]) > len(LINES[61])
        assert rows["logger", "botocore.credentials"]["bytes"] == size(LINES[62])
        assert rows["text", "text lines"]["bytes"] == size(LINES[63])
        health = [x for x in requests if '"/health"' in x]
        (route,) = [r for r in d["by_route"] if r["name"] == "/health"]
        assert (route["events"], route["bytes"]) == (len(health), sum(size(x) for x in health))
        assert d["span_hours"] == 1.0

    def test_stdin_counts_the_same(self, log: Path) -> None:
        """``-l -`` reads the same bytes from standard input."""
        result = CliRunner().invoke(cli, ["cost", "-l", "-", "--json"], input=log.read_bytes())
        assert orjson.loads(result.stdout)["bytes"] == doc(log)["bytes"]


class TestBill:
    def test_figures_equal_the_library(self, log: Path, tmp_path: Path) -> None:
        """Every figure of the command is the one cost_report computes from the same lines."""
        args = ["--retention", "30", "--queries-per-day", "12", "--what-if", "verbose"]
        options = CostOptions(retention_days=30, retention_known=True, queries_per_day=12)
        library = cost_report(FileSource([str(log)], use_cache=False).records(), options)
        assert doc(log, *args) == json.loads(json.dumps(library.as_dict()))

    def test_ingestion_by_hand(self, log: Path) -> None:
        """A day is 24 times the hour read; a month 730 hours; GB is 2^30; $0.50 a GB."""
        d = doc(log)
        billed_month = d["billed_bytes"] * 24 * DAYS_PER_MONTH
        (ingest,) = [x for x in d["bill"]["lines"] if x["item"] == "log ingestion (Standard)"]
        assert ingest["usd_per_month"] == round(billed_month / GB * 0.50, 4)
        assert d["bill"]["prices_date"] == "2026-12-07"

    def test_options_reach_the_bill(self, log: Path) -> None:
        """Retention, log class, query volume, region and the what-if are used as given."""
        lines = {x["item"]: x for x in doc(log)["bill"]["lines"]}
        assert lines["log storage"]["note"].startswith("never expire (CloudWatch's default)")
        assert lines["Logs Insights scans"]["usd_per_month"] == 0
        given = ["--retention", "never", "--log-class", "infrequent_access"]
        given += ["--queries-per-day", "10", "--region", "eu-west-1", "--what-if", "verbose"]
        d = doc(log, *given)
        lines = {x["item"]: x for x in d["bill"]["lines"]}
        assert lines["log storage"]["note"].startswith("never expire:")
        assert lines["log ingestion (Infrequent Access)"]["in_total"] is True
        assert lines["log ingestion (Standard)"]["in_total"] is False
        assert lines["Logs Insights scans"]["usd_per_month"] > 0
        assert d["bill"]["region"] == "eu-west-1" and d["region_source"] == "given"
        assert any("us-east-1's" in note for note in d["bill"]["notes"])
        assert doc(log)["what_if"] is None and d["what_if"]["basis"] == "measured"

    def test_readable_table(self, log: Path) -> None:
        """The table: every section, the overhead said, the savings, within 80 columns."""
        result = cost(log, "--what-if", "verbose")
        assert result.exit_code == 0
        text = result.stdout
        headings = ["event type", "level", "route (request_complete)", "savings:"]
        headings += ["monthly CloudWatch bill", "what-if: same events as"]
        assert all(heading in text for heading in headings)
        assert "26 bytes per event, included" in text.replace("\n  ", " ")
        assert "table of 2026-12-07" in text
        assert max(len(x) for x in text.splitlines()) <= 80
        assert "1 text line (not JSON) among 65 events" in result.stderr


class TestCleanErrors:
    @pytest.mark.parametrize(
        ("content", "message"),
        [
            ("region,item,unit,usd,date,source\nus-east-1,dashboards,dash",
             "p.csv:2: expected 6 fields"),
            ("region,item,unit,usd,date,source\n"
             "us-east-1,dashboards,dashboard-month,three,2026-12-01,ours\n",
             "p.csv:2: usd 'three' is not a price"),
            ("# ours\n\nus-east-1,dashboards,dashboard-month,3,2026-12-01,ours\n",
             "p.csv:3: expected the header line"),
        ],
    )  # fmt: skip
    def test_a_corrupt_price_file_names_the_line(
        self, log: Path, tmp_path: Path, content: str, message: str
    ) -> None:
        """A bad --prices file: one line naming the file and line, exit code 2."""
        prices = tmp_path / "p.csv"
        prices.write_text(content)
        result = cost(log, "--prices", str(prices))
        assert result.exit_code == 2 and result.stdout == ""
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert "Traceback" not in result.output

    def test_a_price_file_is_used(self, log: Path, tmp_path: Path) -> None:
        """A valid file's prices replace the shipped ones and date the table."""
        prices = tmp_path / "p.csv"
        ours = "us-east-1,dashboards,dashboard-month,2.50,2026-12-01,our contract"
        prices.write_text(f"region,item,unit,usd,date,source\n{ours}\n")
        d = doc(log, "--prices", str(prices))
        (dash,) = [x for x in d["bill"]["lines"] if x["item"] == "dashboards"]
        assert dash["usd_per_month"] == 2.5 and d["bill"]["prices_date"] == "2026-12-01"

    def test_logs_that_span_no_time(self, tmp_path: Path) -> None:
        """Nothing to project from: one line, exit code 2."""
        path = tmp_path / "one.jsonl"
        path.write_text(request(0, "/api") + "\n")
        result = cost(path)
        assert result.exit_code == 2 and "cannot project a month" in result.stderr

    def test_a_bad_retention(self, log: Path) -> None:
        """--retention takes days or never."""
        result = cost(log, "--retention", "forever")
        assert result.exit_code == 2 and "'forever' is not a number of days" in result.stderr


class TestNames:
    def test_routes_with_secrets_are_masked_and_merged(self, tmp_path: Path) -> None:
        """Raw URLs with tokens show masked, whole, and those that mask alike add up."""
        path = tmp_path / "raw.jsonl"
        lines = [request(i, f"/reset?token=rt-{i:04d}-secretvalue") for i in range(3)]
        lines.append(line(ts=T0 + 10 * HOUR, level="INFO", event="login Bearer abcdef123456789"))
        path.write_text("".join(f"{x}\n" for x in lines))
        d = doc(path)
        routes = {r["name"]: r["events"] for r in d["by_route"]}
        assert routes == {"/reset?token=***": 3}
        readable = cost(path).stdout
        for shown in (orjson.dumps(d).decode(), readable):
            assert "secretvalue" not in shown and "abcdef123456789" not in shown
        assert d["bytes"] == sum(size(x) for x in lines)  # measured before masking


class TestLogGroup:
    @pytest.mark.usefixtures("aws")
    def test_reads_the_last_day_of_a_log_group(self) -> None:
        """Without --since, a log group is read from 24 hours back, and the note says so."""
        client = logs_client()
        client.create_log_group(logGroupName="/ecs/bella")
        client.create_log_stream(logGroupName="/ecs/bella", logStreamName="s")
        now = int(time.time() * 1000)
        ages = (72 * HOUR, 3 * HOUR, 2 * HOUR, HOUR)
        messages = [
            line(ts=now - age, level="INFO", event="tick", n=i) for i, age in enumerate(ages)
        ]
        client.put_log_events(
            logGroupName="/ecs/bella",
            logStreamName="s",
            logEvents=[
                {"timestamp": now - a, "message": m} for a, m in zip(ages, messages, strict=True)
            ],
        )
        result = CliRunner().invoke(cli, ["cost", "--log-group", "/ecs/bella", "--json"])
        assert result.exit_code == 0, result.output
        d = orjson.loads(result.stdout)
        assert d["events"] == 3 and d["bytes"] == sum(size(m) for m in messages[1:])
        assert "last 24 hours" in result.stderr
