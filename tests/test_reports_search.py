"""reports.search: one request's lines, filter-pattern matches and Insights runs, any source."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from bellwatch.reports import search
from bellwatch.sources.base import ScanStats, TextRecord
from bellwatch.sources.files import FileSource

LINES = [
    {"ts": 3000, "level": "ERROR", "event": "error", "cid": "c1", "hash": "h1", "n": 1},
    {"ts": 1000, "level": "INFO", "event": "request_complete", "cid": "c1", "status": 500},
    {"ts": 2000, "level": "INFO", "event": "request_complete", "cid": "c2", "status": 200},
]


def files(tmp_path: Path) -> FileSource:
    text = "".join(orjson.dumps(x).decode() + "\n" for x in LINES) + "Traceback for c1\n"
    (tmp_path / "app.jsonl").write_text(text)
    return FileSource([str(tmp_path / "app.jsonl")], use_cache=False)


class Remote:
    """A source with no fast path: every record through ``records``, patterns ignored."""

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.stats = ScanStats()
        self._records = records
        self.patterns: list[str | None] = []

    def describe(self) -> str:
        return "remote"

    def records(
        self, since_ms: Any = None, until_ms: Any = None, *, pattern: Any = None
    ) -> Iterator[Any]:
        self.patterns.append(pattern)
        return iter(self._records)

    def follow(self, *_a: Any, **_k: Any) -> Iterator[Any]:
        return iter(())

    def run_insights(self, *_a: Any) -> None:
        return None


class TestTrace:
    def test_files_give_the_request_in_time_order(self, tmp_path: Path) -> None:
        """The id's events come sorted by time, with the text line that names it (timed by
        the event logged before it)."""
        found = search.trace(files(tmp_path), "c1")
        assert [r.get("event") for r in found] == ["request_complete", None, "error"]
        assert isinstance(found[1], TextRecord)

    def test_remote_sources_get_a_quoted_term(self) -> None:
        """A log group is asked for the id as an exact term, and checked again here."""
        records = [
            {**x, "@timestamp": x["ts"], "@message": orjson.dumps(x).decode()} for x in LINES
        ]
        remote = Remote(records)
        assert [r["ts"] for r in search.trace(remote, "c1")] == [1000, 3000]  # type: ignore[arg-type]
        assert remote.patterns == ['"c1"']


class TestMatching:
    def test_json_pattern_on_fields(self, tmp_path: Path) -> None:
        """A JSON pattern reads the events' own fields, never text lines."""
        found = list(search.matching(files(tmp_path), "{ $.status >= 500 }"))
        assert [r["ts"] for r in found] == [1000]

    def test_term_pattern_on_the_line(self, tmp_path: Path) -> None:
        """A term pattern reads the line itself, text lines included."""
        found = list(search.matching(files(tmp_path), "Traceback"))
        assert len(found) == 1 and isinstance(found[0], TextRecord)

    def test_quoted_escapes(self) -> None:
        """Quotes and backslashes in a term are escaped."""
        assert search.quoted('a"b\\c') == '"a\\"b\\\\c"'


class TestInsights:
    def test_runs_locally_without_a_query_engine(self, tmp_path: Path) -> None:
        """Files run the query with the local engine."""
        rows = search.insights(files(tmp_path), "stats count(*) as n by cid | sort n desc")
        assert rows[0] == {"cid": "c1", "n": 2}
