"""The summary report: its digest's headline says only what the logs hold."""

from __future__ import annotations

from pathlib import Path

import orjson

from bellwatch.reports import summary
from bellwatch.sources.files import FileSource


def _write(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    return path


def _log(tmp_path: Path) -> Path:
    """Requests and one error, no Twilio webhook at all."""
    lines = [
        {"ts": 1_700_000_000_000 + i, "level": "INFO", "event": "request_complete",
         "method": "GET", "path": "/api/users", "status": 200 if i else 500,
         "duration": 0.01, "cid": f"{i:012x}"}
        for i in range(10)
    ]  # fmt: skip
    return _write(tmp_path / "app.jsonl", lines)


class TestHeadline:
    def test_no_twilio_clause_without_twilio_failures(self, tmp_path: Path) -> None:
        """With no failed Twilio call the headline has no '0 Twilio calls' clause."""
        source = FileSource([str(_log(tmp_path))], use_cache=False)
        text = summary(source).text
        headline = next(line for line in text.splitlines() if line.startswith("Health:"))
        assert "Twilio" not in headline
        assert headline.endswith("error patterns.")

    def test_twilio_failures_are_counted(self, tmp_path: Path) -> None:
        """A failed Twilio webhook keeps the clause, with the count of calls."""
        path = _log(tmp_path)
        failed = {"ts": 1_700_000_000_100, "level": "WARNING", "event": "request_complete",
                  "method": "POST", "path": "/twilio/voice", "status": 403, "duration": 0.01,
                  "cid": "0000000000ff", "sid": "CA" + "0" * 32}  # fmt: skip
        path.write_bytes(path.read_bytes() + orjson.dumps(failed) + b"\n")
        digest = summary(FileSource([str(path)], use_cache=False))
        headline = next(line for line in digest.text.splitlines() if line.startswith("Health:"))
        assert headline.endswith("; 1 Twilio call with failures.")


def _cut_summary(tmp_path: Path) -> Path:
    """An error first seen at T, summarised 10 s later as 9 more."""
    t = 1_795_742_449_915
    lines = [
        {"ts": t, "level": "ERROR", "event": "error", "hash": "c0000001", "type": "KeyError",
         "msg": "no slot", "sev": "medium", "n": 1},
        {"ts": t + 10_000, "level": "ERROR", "event": "aggregated_error", "hash": "c0000001",
         "type": "KeyError", "msg": "no slot", "sev": "medium", "n": 9},
    ]  # fmt: skip
    return _write(tmp_path / "app.jsonl", lines)


class TestUpperBound:
    def test_a_count_a_window_may_cut_reads_at_most(self, tmp_path: Path) -> None:
        """Over a window that starts between an error's lines the digest says ≤9x, as
        bellwatch errors says ≤9, and its facts mark the count."""
        source = FileSource([str(_cut_summary(tmp_path))], use_cache=False)
        found = summary(source, since_ms=1_795_742_449_915 + 5_000)
        assert "- ≤9x [medium] KeyError" in found.text
        assert found.facts["errors"][0]["count_is_upper_bound"] is True

    def test_without_a_window_the_count_is_exact(self, tmp_path: Path) -> None:
        """Without --since the digest's count is the exact total."""
        found = summary(FileSource([str(_cut_summary(tmp_path))], use_cache=False))
        assert "- 10x [medium] KeyError" in found.text
