"""The users report (exact over files, Insights where the logs live) and users per error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from bellwatch import reports
from bellwatch.cli.main import cli
from bellwatch.query import insights
from bellwatch.sources.base import ScanStats
from bellwatch.sources.files import FileSource

HOUR = 3_600_000
T0 = 1_700_000_000_000 - 1_700_000_000_000 % (24 * HOUR)  # a midnight, epoch ms


def _line(**fields: Any) -> bytes:
    return orjson.dumps({"level": "INFO", **fields})


def _request(ts: int, uid: str | int | None, status: int = 200, **extra: Any) -> bytes:
    fields = {"ts": ts, "event": "request_complete", "method": "GET", "path": "/a",
              "status": status, "duration": 0.01, **extra}  # fmt: skip
    if uid is not None:
        fields["uid"] = uid
    return _line(**fields)


LINES = [
    # hour 0: alice twice, bob once; one request without a user
    _request(T0 + 1000, "alice"),
    _request(T0 + 2000, "alice"),
    _request(T0 + 3000, "bob"),
    _request(T0 + 4000, None),
    # hour 1: alice fails twice on one error (first line + request lines carry its hash)
    _line(
        ts=T0 + HOUR + 10,
        level="ERROR",
        event="error",
        hash="e1",
        type="KeyError",
        msg="slot",
        n=1,
        uid="alice",
    ),
    _request(T0 + HOUR + 11, "alice", 500, hash="e1"),
    _request(T0 + HOUR + 12, "alice", 500, hash="e1"),
    _line(ts=T0 + HOUR + 20, level="ERROR", event="aggregated_error", hash="e1", n=5, count=6),
    # hour 2: carol hits the same error on a 200 (handled), dave on another one
    _request(T0 + 2 * HOUR, "carol", 200, hash="e1"),
    _request(T0 + 2 * HOUR + 5, "dave", 502, hash="e2"),
    b"a text line from a library",
]


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    path = tmp_path / "app.jsonl"
    path.write_bytes(b"\n".join(LINES) + b"\n")
    return path


def _sections(rows: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        out.setdefault(row.pop("section"), []).append(row)
    return out


class TestLocal:
    def test_exact_counts_per_hour_and_in_all(self, logs: Path) -> None:
        """Distinct uids in all and per hour, exactly, with the requests of users."""
        got = _sections(reports.users(FileSource([str(logs)])).rows)
        assert got["total"] == [{"users": 4, "requests": 7, "exact": True}]
        assert got["period"] == [
            {"start": T0, "users": 2, "requests": 3},
            {"start": T0 + HOUR, "users": 1, "requests": 2},
            {"start": T0 + 2 * HOUR, "users": 2, "requests": 2},
        ]

    def test_by_day(self, logs: Path) -> None:
        """--by day folds the hours into their day."""
        got = _sections(reports.users(FileSource([str(logs)]), by="day").rows)
        assert got["period"] == [{"start": T0, "users": 4, "requests": 7}]

    def test_top_users_by_requests_and_by_errors(self, logs: Path) -> None:
        """Failed requests: answered 5xx, or carrying the hash of an error recorded during them."""
        got = _sections(reports.users(FileSource([str(logs)])).rows)
        assert got["top_requests"][0] == {"uid": "alice", "requests": 4, "errors": 2}
        assert got["top_errors"] == [
            {"uid": "alice", "errors": 2, "requests": 4},
            {"uid": "carol", "errors": 1, "requests": 1},
            {"uid": "dave", "errors": 1, "requests": 1},
        ]

    def test_users_per_error_pattern(self, logs: Path) -> None:
        """Each fingerprint's distinct users, from every line carrying its hash and a uid."""
        got = _sections(reports.users(FileSource([str(logs)])).rows)
        assert got["error"] == [
            {"hash": "e1", "users": 2, "type": "KeyError", "msg": "slot"},
            {"hash": "e2", "users": 1, "type": None, "msg": None},
        ]

    def test_the_errors_report_has_a_users_column(self, logs: Path) -> None:
        """bellwatch errors: occurrences by the n rule, users by distinct uid."""
        rows = reports.errors(FileSource([str(logs)])).rows
        assert [(r["hash"], r["count"], r["users"]) for r in rows] == [("e1", 6, 2)]

    def test_integer_uids_count_as_the_monitor_counts_them(self, tmp_path: Path) -> None:
        """A uid bound as an int (``bind(uid=user.id)``) is a user, the same one as its text."""
        path = tmp_path / "int.jsonl"
        lines = [_request(T0 + 1, 42), _request(T0 + 2, 42, 500), _request(T0 + 3, "42")]
        path.write_bytes(b"\n".join([*lines, _request(T0 + 4, 7, hash="e1")]) + b"\n")
        got = _sections(reports.users(FileSource([str(path)])).rows)
        assert got["total"] == [{"users": 2, "requests": 4, "exact": True}]
        assert got["top_requests"][0] == {"uid": "42", "requests": 3, "errors": 1}
        assert got["error"] == [{"hash": "e1", "users": 1, "type": None, "msg": None}]

    def test_a_bad_period_is_refused(self, logs: Path) -> None:
        """Only hour and day."""
        with pytest.raises(ValueError, match="by"):
            reports.users(FileSource([str(logs)]), by="week")


class _Insights:
    """A source that runs Logs Insights where the logs live (the local engine stands in)."""

    def __init__(self, path: Path) -> None:
        self.files = FileSource([str(path)])
        self.stats = ScanStats()

    def run_insights(self, text: str, since: Any, until: Any) -> list[dict[str, Any]]:
        return insights.parse(text).run(self.files.records())

    def records(self, *_: Any, **__: Any) -> Any:
        raise AssertionError("answered by Insights: no records are read")


class TestInsights:
    def test_the_queries_give_the_local_answer_marked_approximate(self, logs: Path) -> None:
        """Where the logs live the same numbers come from count_distinct, said to be approximate."""
        got = _sections(reports.users(_Insights(logs)).rows)  # type: ignore[arg-type]
        assert got["total"] == [{"users": 4, "requests": 7, "exact": False}]
        assert [p["users"] for p in got["period"]] == [2, 1, 2]
        assert got["top_requests"][0] == {"uid": "alice", "requests": 4, "errors": 2}
        assert [(e["hash"], e["users"]) for e in got["error"]] == [("e1", 2), ("e2", 1)]

    def test_top_failing_users_and_errors_are_as_full_as_the_local_ones(self, logs: Path) -> None:
        """A log group's answer gives each failing user's requests and each error's type and
        message, as the files' does (the rows were None there)."""
        local = _sections(reports.users(FileSource([str(logs)])).rows)
        got = _sections(reports.users(_Insights(logs)).rows)  # type: ignore[arg-type]
        assert got["top_errors"] == local["top_errors"]
        assert got["error"] == local["error"]

    def test_the_errors_report_reads_users_there_too(self, logs: Path) -> None:
        """The errors report's Insights path adds users from a count_distinct."""
        rows = reports.errors(_Insights(logs)).rows  # type: ignore[arg-type]
        assert [(r["hash"], r["users"]) for r in rows] == [("e1", 2)]


class TestCommand:
    def test_tables_and_the_exact_note(self, logs: Path) -> None:
        """bellwatch users prints the total (saying exact and that the requests are those
        naming a user, not every request as summary counts them), then each table."""
        result = CliRunner().invoke(cli, ["users", "-l", str(logs)])
        assert result.exit_code == 0, result.output
        assert "4 distinct users, 7 requests with a uid (exact)" in result.stdout
        for title in ("users per hour", "top users by requests", "users affected per error"):
            assert title in result.stdout

    def test_json_is_the_report_rows(self, logs: Path) -> None:
        """--json gives the rows, every field, as the other reports do."""
        result = CliRunner().invoke(cli, ["users", "--json", "--by", "day", "-l", str(logs)])
        assert result.exit_code == 0, result.output
        rows = orjson.loads(result.stdout)
        assert rows[0] == {"section": "total", "users": 4, "requests": 7, "exact": True}
        assert {"section": "period", "start": T0, "users": 4, "requests": 7} in rows

    def test_errors_table_shows_users(self, logs: Path) -> None:
        """bellwatch errors has a users column."""
        result = CliRunner().invoke(cli, ["errors", "-l", str(logs)])
        assert result.exit_code == 0, result.output
        header = next(line for line in result.stdout.splitlines() if "count" in line)
        assert "users" in header

    def test_logs_without_a_uid_say_how_to_get_one(self, tmp_path: Path) -> None:
        """Request lines but no uid: the answer says none names a user and how to bind one,
        rather than a bare 0 that reads as no traffic."""
        path = tmp_path / "anon.jsonl"
        path.write_bytes(b"\n".join([_request(T0 + 1, None), _request(T0 + 2, None)]) + b"\n")
        result = CliRunner().invoke(cli, ["users", "-l", str(path)])
        assert result.exit_code == 0, result.output
        assert "0 distinct users" in result.stdout
        assert "no line read names a user" in result.stdout
        assert "bellwatch.bind(uid=" in result.stdout
