"""The errors report: counts by the counting rule, marked "at most" when a window cuts them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from bellwatch import reports
from bellwatch.cli import cli
from bellwatch.sources.base import ScanStats
from bellwatch.sources.files import FileSource

T0 = 1795742449915
S = 1000  # one second in ms


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def error(ts: int, key: str, n: int, event: str = "aggregated_error") -> dict[str, Any]:
    return {"ts": ts, "level": "ERROR", "event": event, "hash": key, "type": "KeyError",
            "msg": "no slot", "sev": "medium", "n": n}  # fmt: skip


@pytest.fixture
def log(tmp_path: Path) -> Path:
    """'cut' began before T0 + 5 s, and its summary at T0 + 10 s says 9 more; 'whole'
    began and was summarised after it."""
    return write(
        tmp_path / "app.jsonl",
        error(T0, "c0000001", 1, "error"),
        error(T0 + 6 * S, "b0000002", 1, "error"),
        error(T0 + 7 * S, "b0000002", 9),
        error(T0 + 10 * S, "c0000001", 9),
    )


def by_hash(found: reports.Report) -> dict[str, dict[str, Any]]:
    return {row["hash"]: row for row in found.rows}


class TestUpperBound:
    def test_a_window_that_cuts_a_summary_marks_its_count(self, log: Path) -> None:
        """A summary whose fingerprint has lines before --since counts at most n."""
        rows = by_hash(reports.errors(FileSource([str(log)], use_cache=False), T0 + 5 * S))
        assert (rows["c0000001"]["count"], rows["c0000001"]["count_is_upper_bound"]) == (9, True)
        assert (rows["b0000002"]["count"], rows["b0000002"]["count_is_upper_bound"]) == (10, False)

    def test_no_window_start_nothing_is_cut(self, log: Path) -> None:
        """Without --since every count is exact."""
        rows = by_hash(reports.errors(FileSource([str(log)], use_cache=False)))
        assert rows["c0000001"]["count"] == 10
        assert not any(row["count_is_upper_bound"] for row in rows.values())

    def test_the_cache_gives_the_same_answer(self, log: Path, tmp_path: Path) -> None:
        """Read twice through the cache: the same counts and marks."""
        cache = str(tmp_path / "cache")
        for _ in range(2):
            source = FileSource([str(log)], cache_dir=cache)
            rows = by_hash(reports.errors(source, T0 + 5 * S))
            assert rows["c0000001"]["count_is_upper_bound"] is True
            assert rows["b0000002"]["count_is_upper_bound"] is False
            assert source.stats.records == 3  # the look before the window is not reported

    def test_stdin_cannot_look_back(self, log: Path) -> None:
        """From stdin the lines before the window are gone: every count over 1 is marked."""
        result = CliRunner().invoke(
            cli, ["errors", "-l", "-", "--since", str(T0 + 5 * S), "--json"],
            input=log.read_bytes(),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        marks = {row["hash"]: row["count_is_upper_bound"] for row in orjson.loads(result.stdout)}
        assert marks == {"c0000001": True, "b0000002": True}


class TestTable:
    def test_the_table_shows_at_most_and_says_why(self, log: Path) -> None:
        """The count column reads ≤9 for a cut fingerprint, and a note says what ≤ means."""
        result = CliRunner().invoke(
            cli, ["errors", "-l", str(log), "--since", str(T0 + 5 * S), "--no-cache"]
        )
        assert result.exit_code == 0, result.output
        line = next(x for x in result.stdout.splitlines() if "c0000001" in x)
        assert "≤9" in line
        assert "≤10" not in result.stdout
        assert "at most" in result.stderr


class InsightsGroup:
    """A log group as the report sees it: the saved query's rows, no records."""

    def __init__(self) -> None:
        self.stats = ScanStats()

    def describe(self) -> str:
        return "/ecs/test"

    def records(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        return iter(())

    def run_insights(self, text: str, since_ms: Any, until_ms: Any) -> list[dict[str, Any]]:
        if "count_distinct" in text:
            return []
        return [
            {"hash": "c0000001", "occurrences": 9, "severity": "medium", "error_type": "E"},
            {"hash": "b0000002", "occurrences": 1, "severity": "medium", "error_type": "E"},
        ]


class TestLogGroup:
    def test_counts_over_1_are_marked_with_a_window_start(self) -> None:
        """Insights reads no line before the window: a count over 1 may include some."""
        rows = by_hash(reports.errors(InsightsGroup(), T0))  # type: ignore[arg-type]  # a stand-in group
        assert rows["c0000001"]["count_is_upper_bound"] is True
        assert rows["b0000002"]["count_is_upper_bound"] is False

    def test_nothing_is_marked_without_one(self) -> None:
        """Over the whole group, the counts are exact."""
        rows = by_hash(reports.errors(InsightsGroup()))  # type: ignore[arg-type]  # a stand-in group
        assert not any(row["count_is_upper_bound"] for row in rows.values())
