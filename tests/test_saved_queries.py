"""The saved queries menu, run over lines written by the real pipeline."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bellwatch._settings import ConfigError
from bellwatch.aws.metric_filters import metric_filter_specs
from bellwatch.cli import cli
from bellwatch.log import pipeline
from bellwatch.query.insights import parse
from bellwatch.query.saved import SavedQuery, by_name, saved_queries
from bellwatch.schema import FIELDS, Ev, F
from bellwatch.testing import capture_logs

MENU = saved_queries(2.0)

T0 = 1_764_000_000_000


def _request(i: int, path: str, status: int, duration: float, **extra: Any) -> dict[str, Any]:
    return {
        F.EVENT: Ev.REQUEST,
        F.METHOD: "POST" if path.startswith("/twilio") else "GET",
        F.PATH: path,
        F.STATUS: status,
        F.DURATION: duration,
        F.CID: f"{i:012x}",
        **extra,
    }


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """A small day of traffic written through the pipeline, read back as Insights records."""
    events: list[tuple[str, dict[str, Any]]] = []
    for i in range(40):
        events.append(("info", _request(i, "/api/users/{user_id}", 200, 0.05)))
    for i in range(40, 50):
        events.append(("error", _request(i, "/api/users/{user_id}", 500, 0.2)))
    for i in range(50, 60):
        events.append(("warning", _request(i, "/api/bookings", 200, 2.5 + i / 100)))
    events.append(("info", _request(60, "/twilio/voice", 200, 0.1, **{F.SESSION_ID: "CA1"})))
    events.append(("error", _request(61, "/twilio/voice", 502, 0.3, **{F.SESSION_ID: "CA2"})))
    # a forged webhook: its signature fails, then it is answered 403 (one failed webhook)
    forged = {F.SESSION_ID: "CA3", F.CID: "00000000003e"}
    events.append(("warning", {F.EVENT: Ev.SIGNATURE_FAILED, F.PATH: "/twilio/voice", **forged}))
    events.append(("info", _request(62, "/twilio/voice", 403, 0.01, **forged)))
    error = {F.ERROR_HASH: "abc12345", F.ERROR_TYPE: "KeyError", F.MESSAGE: "user_id"}
    events.append(
        ("error", {F.EVENT: Ev.ERROR, F.COUNT: 1, F.OCCURRENCES: 1, F.CID: "000000000028", **error})
    )
    summary = {F.EVENT: Ev.AGGREGATED_ERROR, F.COUNT: 10, F.OCCURRENCES: 9}
    events.append(("error", {**summary, F.CID: "00000000002f", **error}))
    with capture_logs() as captured:
        for level, event in events:
            pipeline.current().emit(level, event)
    out = []
    for n, line in enumerate(captured.lines):
        event = orjson.loads(line)
        # Spread the lines over 50 minutes so bin(5m) has something to do.
        out.append({**event, "@timestamp": T0 + n * 60_000, "@message": line, "@log": "local"})
    return out


class TestMenu:
    def test_names_unique(self) -> None:
        """Every saved query has a distinct name and a description."""
        names = [s.name for s in MENU]
        assert len(names) == len(set(names))
        assert all(s.description for s in MENU)

    @pytest.mark.parametrize("saved", MENU, ids=lambda s: s.name)
    def test_parses(self, saved: SavedQuery) -> None:
        """Every saved query is valid Insights syntax for the local engine."""
        parse(saved.query)

    @pytest.mark.parametrize("saved", MENU, ids=lambda s: s.name)
    def test_reads_only_schema_fields(self, saved: SavedQuery) -> None:
        """Saved queries read only schema keys and Insights' own @ fields."""
        needed = parse(saved.query).fields_needed() or set()
        keys = {f.key for f in FIELDS}
        assert {n for n in needed if not n.startswith("@")} <= keys

    def test_by_name(self) -> None:
        """Queries are found by name; an unknown name lists the known ones."""
        assert by_name("slow").name == "slow"
        with pytest.raises(KeyError, match="error-rate"):
            by_name("nope")

    def test_guide_error_rate_corrected(self) -> None:
        """The error-rate query computes from status instead of a non-existent error_rate."""
        text = by_name("error-rate").query
        assert "error_rate)" not in text and F.STATUS in text


class TestResults:
    def test_error_rate(self, records: list[dict[str, Any]]) -> None:
        """10 of 50 user requests failed: 20 percent, the worst endpoint first."""
        rows = parse(by_name("error-rate").query).run(records)
        assert rows[0] == {
            F.METHOD: "POST",
            F.PATH: "/twilio/voice",
            "requests": 3,  # 200, 502 and the forged webhook's 403
            "error_rate_pct": pytest.approx(100 / 3),
        }
        users = next(r for r in rows if r[F.PATH] == "/api/users/{user_id}")
        assert (users["requests"], users["error_rate_pct"]) == (50, 20.0)

    def test_slow(self, records: list[dict[str, Any]]) -> None:
        """The ten bookings over 2 s come back, slowest first."""
        rows = parse(by_name("slow").query).run(records)
        assert [r[F.DURATION] for r in rows] == sorted(
            (2.5 + i / 100 for i in range(50, 60)), reverse=True
        )
        assert rows[0][F.CID] == f"{59:012x}"

    def test_latency(self, records: list[dict[str, Any]]) -> None:
        """Per-endpoint latency puts the slow bookings endpoint first."""
        rows = parse(by_name("latency").query).run(records)
        assert rows[0][F.PATH] == "/api/bookings"
        assert rows[0]["requests"] == 10 and rows[0]["max_s"] == 3.09

    def test_top_errors(self, records: list[dict[str, Any]]) -> None:
        """The fingerprint shows 2 lines, 10 occurrences (1 + 9: the sum of n), the latest
        correlation id, and its first and last time (no line says a severity)."""
        rows = parse(by_name("top-errors").query).run(records)
        assert rows == [
            {
                F.ERROR_HASH: "abc12345",
                "lines": 2,
                "occurrences": 10,
                "error_type": "KeyError",
                "message": "user_id",
                "example_cid": "00000000002f",
                "severity": None,
                "first_seen": 1764003840000,
                "last_seen": 1764003900000,
            }
        ]

    def test_top_errors_highest_severity(self) -> None:
        """The severity column is the highest rank any of the fingerprint's lines says."""
        lines = [
            {"@timestamp": 1, "event": "error", "hash": "h", "n": 1, "sev": "high"},
            {"@timestamp": 2, "event": "aggregated_error", "hash": "h", "n": 9, "sev": "low"},
        ]
        (row,) = parse(by_name("top-errors").query).run(lines)
        assert row["severity"] == 3 and row["occurrences"] == 10

    def test_twilio_failures(self, records: list[dict[str, Any]]) -> None:
        """The 502 webhook and the forged one are listed, each once; the 200 webhook is not."""
        rows = parse(by_name("twilio-failures").query).run(records)
        got = {(r[F.SESSION_ID], r["failures"], r["bad_signatures"]) for r in rows}
        assert got == {("CA2", 1, 0), ("CA3", 1, 1)}

    def test_traffic_5m(self, records: list[dict[str, Any]]) -> None:
        """Requests per 5 minutes add up to all 63 requests, with 11 errors."""
        rows = parse(by_name("traffic-5m").query).run(records)
        assert sum(r["requests"] for r in rows) == 63
        assert sum(r["errors_5xx"] for r in rows) == 11
        assert all(r["bin(5m)"].endswith(("0:00.000", "5:00.000")) for r in rows)

    def test_problems(self, records: list[dict[str, Any]]) -> None:
        """Warnings and errors come newest first and never include INFO lines."""
        rows = parse(by_name("problems").query).run(records)
        assert {r[F.LEVEL] for r in rows} == {"WARNING", "ERROR"}
        assert rows[0][F.EVENT] == Ev.AGGREGATED_ERROR


def _requests(path: Path, durations: list[float]) -> Path:
    """A log file of one request per duration, correlation id ``cid-<duration>``."""
    lines = [
        orjson.dumps(
            {
                F.TS: 1_764_000_000_000 + i,
                F.LEVEL: "INFO",
                F.EVENT: Ev.REQUEST,
                F.CID: f"cid-{d}",
                F.METHOD: "GET",
                F.PATH: "/api/search",
                F.STATUS: 200,
                F.DURATION: d,
            }
        )
        for i, d in enumerate(durations)
    ]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _threshold(text: str) -> str:
    """The number a query or filter pattern compares the duration with."""
    found = re.search(rf"{F.DURATION} > ([0-9.]+)", text)
    assert found is not None, text
    return found.group(1)


class TestSlowThreshold:
    def test_insights_slow_uses_the_setting(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """BELLWATCH_SLOW_THRESHOLD=0.5: `insights slow` lists the 0.6 s request, not the
        0.4 s one nor the one of exactly 0.5 s (slow is `>`, as the middleware counts it)."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "0.5")
        log = _requests(tmp_path / "app.jsonl", [0.4, 0.5, 0.6, 2.5])
        args = ["insights", "slow", "--json", "-l", str(log), "--cache-dir", str(tmp_path / "c")]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert [r[F.CID] for r in orjson.loads(result.stdout)] == ["cid-2.5", "cid-0.6"]

    def test_list_shows_the_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """`insights --list` shows the slow query with the configured number, in its text
        and its description."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "0.5")
        result = CliRunner().invoke(cli, ["insights", "--list", "--json"])
        assert result.exit_code == 0, result.output
        (slow,) = [q for q in orjson.loads(result.stdout) if q["name"] == "slow"]
        assert _threshold(slow["query"]) == "0.5"
        assert "slower than 0.5 seconds" in slow["description"]

    def test_argument_wins_over_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """An explicit threshold beats BELLWATCH_SLOW_THRESHOLD, which beats the default."""
        assert _threshold(by_name("slow").query) == "2"
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "0.5")
        assert _threshold(by_name("slow").query) == "0.5"
        assert _threshold(by_name("slow", 1.25).query) == "1.25"

    @given(st.floats(0.0, 3600.0))
    def test_same_number_as_the_metric_filter(self, seconds: float) -> None:
        """For any threshold the saved query compares with the slow-requests filter's number."""
        (spec,) = [s for s in metric_filter_specs(seconds) if s.key == "slow_requests"]
        assert _threshold(by_name("slow", seconds).query) == _threshold(spec.pattern)

    def test_other_queries_read_no_setting(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A bad BELLWATCH_SLOW_THRESHOLD fails the slow query, loudly, and no other."""
        monkeypatch.setenv("BELLWATCH_SLOW_THRESHOLD", "soon")
        assert by_name("top-errors").name == "top-errors"
        with pytest.raises(ConfigError, match="BELLWATCH_SLOW_THRESHOLD"):
            by_name("slow")
