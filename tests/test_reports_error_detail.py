"""reports.error_detail: one fingerprint's lines, counted as the errors report counts them."""

from __future__ import annotations

from pathlib import Path

import orjson

from bellwatch import reports
from bellwatch.reports.error_detail import error_detail
from bellwatch.sources.files import FileSource

T = 1_796_600_000_000
LINES = [
    {"ts": T, "level": "ERROR", "event": "error", "cid": "c1", "hash": "abcd1234", "n": 1,
     "type": "OperationalError", "msg": "database is locked", "sev": "critical", "path": "/a"},
    {"ts": T + 5, "level": "ERROR", "event": "Exception in ASGI application",
     "hash": "abcd1234", "exc": "app.db:query:40 < app.api:book:12"},
    {"ts": T + 60_000, "level": "ERROR", "event": "aggregated_error", "cid": "c9",
     "hash": "abcd1234", "n": 9, "count": 10, "type": "OperationalError",
     "msg": "database is locked", "sev": "critical", "path": "/b"},
    {"ts": T + 61_000, "level": "WARNING", "event": "error_escalated", "hash": "abcd1234"},
    {"ts": T + 1, "level": "ERROR", "event": "error", "cid": "c2", "hash": "ffff0000", "n": 1},
]  # fmt: skip


def source(tmp_path: Path) -> FileSource:
    (tmp_path / "app.jsonl").write_text("".join(orjson.dumps(x).decode() + "\n" for x in LINES))
    return FileSource([str(tmp_path / "app.jsonl")], use_cache=False)


class TestErrorDetail:
    def test_count_matches_the_errors_report(self, tmp_path: Path) -> None:
        """The fingerprint's row is the errors report's row: 1 + 9 occurrences."""
        found = error_detail(source(tmp_path), "abcd1234")
        (row,) = [r for r in reports.errors(source(tmp_path)).rows if r["hash"] == "abcd1234"]
        assert found.row == row and row["count"] == 10

    def test_a_window_that_cuts_a_summary_marks_the_count_as_at_most(self, tmp_path: Path) -> None:
        """With lines of the fingerprint before --since, the count is an upper bound, as in
        the errors report; without them, it is exact."""
        src = source(tmp_path)
        times = sorted(x["ts"] for x in LINES if x.get("hash") == "abcd1234")
        cut = error_detail(src, "abcd1234", since_ms=times[0] + 1)
        whole = error_detail(src, "abcd1234", since_ms=times[0])
        assert cut.row is not None and cut.row["count_is_upper_bound"] is True
        assert whole.row is not None and whole.row["count_is_upper_bound"] is False

    def test_first_line_and_traceback(self, tmp_path: Path) -> None:
        """The first occurrence's line, and the traceback of the stdlib line beside it."""
        found = error_detail(source(tmp_path), "abcd1234")
        assert found.first_line is not None and found.first_line["cid"] == "c1"
        assert found.traceback == "app.db:query:40 < app.api:book:12"
        assert found.explanation["frames"] == ["app.api:book", "app.db:query"]

    def test_occurrences_over_time_routes_and_ids(self, tmp_path: Path) -> None:
        """Steps sum to the count; routes weigh by occurrences; newest id first."""
        found = error_detail(source(tmp_path), "abcd1234")
        assert sum(step["count"] for step in found.timeline) == 10
        assert found.timeline[0]["count"] == 1 and found.timeline[-1]["count"] == 9
        assert found.routes == [("/b", 9), ("/a", 1)]
        assert found.cids == ["c9", "c1"] and found.lines == 4

    def test_unknown_hash(self, tmp_path: Path) -> None:
        """No line with the hash: no row, nothing else."""
        found = error_detail(source(tmp_path), "00000000")
        assert found.row is None and found.first_line is None
