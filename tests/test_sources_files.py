"""Local JSONL sources: parsing, paths, rotation order, gzip, stdin and follow."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bellwatch.sources import Source, SourceError
from bellwatch.sources.files import FileSource, grep_lines, parse_line, resolve_paths

REQ = {"ts": 1758918615123, "level": "INFO", "event": "request_complete", "cid": "3f9a1c7e2b4d"}


def write(path: Path, *lines: bytes | dict[str, object]) -> Path:
    data = b"".join((orjson.dumps(x) if isinstance(x, dict) else x) + b"\n" for x in lines)
    path.write_bytes(data)
    return path


class TestParseLine:
    def test_object(self) -> None:
        """A JSON object line parses to its dict."""
        assert parse_line(orjson.dumps(REQ) + b"\n") == REQ

    @pytest.mark.parametrize(
        "raw",
        [
            b"INFO:     Uvicorn running on http://0.0.0.0:8000",
            b"Traceback (most recent call last):",
            b'{"ts":17589186',
            b"[1, 2]",
            b'"just a string"',
            b"\x00\xff\xfe\x80 binary",
            b"",
        ],
    )
    def test_non_records_are_none(self, raw: bytes) -> None:
        """Banners, tracebacks, truncated, non-object and binary lines give ``None``."""
        assert parse_line(raw) is None

    @given(st.binary(max_size=300))
    def test_never_raises_on_bytes(self, raw: bytes) -> None:
        """Arbitrary bytes never raise: they parse to a dict or give ``None``."""
        result = parse_line(raw)
        assert result is None or isinstance(result, dict)

    @given(
        st.dictionaries(
            st.text(max_size=10),
            st.one_of(st.integers(-(2**62), 2**62), st.text(max_size=20), st.booleans()),
            max_size=6,
        )
    )
    def test_round_trip(self, event: dict[str, object]) -> None:
        """Any JSON object written as one line parses back to itself."""
        assert parse_line(orjson.dumps(event)) == event


class TestResolvePaths:
    def test_rotated_files_oldest_first(self, tmp_path: Path) -> None:
        """Rotated copies come oldest first, the live file last; lock files are ignored."""
        for name in ("app.jsonl", "app.jsonl.1", "app.jsonl.2.gz", "app.jsonl.lock"):
            (tmp_path / name).write_bytes(b"")
        got = [os.path.basename(p) for p in resolve_paths([], str(tmp_path))]
        assert got == ["app.jsonl.2.gz", "app.jsonl.1", "app.jsonl"]

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file is a SourceError naming it."""
        with pytest.raises(SourceError, match="no such file"):
            resolve_paths([str(tmp_path / "nope.jsonl")])

    def test_empty_default_dir(self, tmp_path: Path) -> None:
        """No logs in the default directory says where it looked."""
        with pytest.raises(SourceError, match=r"\*\.jsonl\*"):
            resolve_paths([], str(tmp_path))

    def test_glob_and_directory(self, tmp_path: Path) -> None:
        """A glob and a directory both expand to their log files."""
        write(tmp_path / "a.jsonl", REQ)
        assert resolve_paths([str(tmp_path / "*.jsonl")]) == resolve_paths([str(tmp_path)])

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
    def test_unreadable_directory(self, tmp_path: Path) -> None:
        """A directory we may not read is a SourceError."""
        locked = tmp_path / "locked"
        locked.mkdir(mode=0)
        with pytest.raises(SourceError, match="permission"):
            resolve_paths([str(locked)])


class TestFileSource:
    def test_is_a_source(self, tmp_path: Path) -> None:
        """FileSource satisfies the Source protocol."""
        assert isinstance(FileSource([str(tmp_path)]), Source)

    def test_records_carry_insights_fields(self, tmp_path: Path) -> None:
        """Each record has ``@timestamp``, ``@message``, ``@logStream`` and ``@log``."""
        path = write(tmp_path / "app.jsonl", REQ)
        (record,) = FileSource([str(path)]).records()
        assert record["@timestamp"] == REQ["ts"]
        assert orjson.loads(record["@message"]) == REQ
        assert record["@logStream"] == "app.jsonl"
        assert record["@log"] == str(tmp_path)

    def test_skipped_lines_counted(self, tmp_path: Path) -> None:
        """Non-JSON lines are skipped and counted; blank lines are neither."""
        path = write(tmp_path / "app.jsonl", b"banner", REQ, b"", b"\xff\xfe", b'{"ts":1')
        source = FileSource([str(path)])
        assert len(list(source.records())) == 1
        assert source.stats.skipped == 3
        assert "skipped 3 lines" in (source.stats.skipped_note() or "")

    def test_iso_timestamps_and_window(self, tmp_path: Path) -> None:
        """ISO ``ts`` values are read, and the time window keeps [since, until)."""
        path = write(
            tmp_path / "app.jsonl",
            {"ts": "2025-09-26T20:30:00Z", "event": "a"},
            {"ts": 1758918660000, "event": "b"},
            {"ts": "2025-09-26T20:32:00+00:00", "event": "c"},
        )
        got = FileSource([str(path)]).records(1758918600000, 1758918720000)
        assert [r["event"] for r in got] == ["a", "b"]

    def test_gzip(self, tmp_path: Path) -> None:
        """Rotated ``.gz`` files are read like plain ones."""
        path = tmp_path / "app.jsonl.1.gz"
        path.write_bytes(gzip.compress(orjson.dumps(REQ) + b"\n"))
        assert [r["cid"] for r in FileSource([str(path)]).records()] == [REQ["cid"]]

    def test_stdin(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``-`` reads standard input."""
        fake = io.TextIOWrapper(io.BytesIO(orjson.dumps(REQ) + b"\nnot json\n"))
        monkeypatch.setattr("sys.stdin", fake)
        source = FileSource(["-"])
        assert [r["cid"] for r in source.records()] == [REQ["cid"]]
        assert source.stats.skipped == 1


class TestFollow:
    def test_appends_and_rotation(self, tmp_path: Path) -> None:
        """Follow yields appended lines, then the new file's lines after a rotation."""
        live = write(tmp_path / "app.jsonl", {**REQ, "cid": "old"})
        source = FileSource([str(live)])
        polls = iter(range(10))
        stream = source.follow(poll_interval=0, stop=lambda: next(polls) >= 3)
        with live.open("ab") as f:
            f.write(orjson.dumps({**REQ, "cid": "appended"}) + b"\n")
            f.write(b'{"cid": "half')  # no newline yet: must wait
        first = next(stream)
        assert first["cid"] == "appended"
        with live.open("ab") as f:
            f.write(b'-done"}\n')
        os.replace(live, tmp_path / "app.jsonl.1")
        write(live, {**REQ, "cid": "after-rotation"})
        rest = [r["cid"] for r in stream]
        assert rest == ["half-done", "after-rotation"]

    def test_truncation(self, tmp_path: Path) -> None:
        """A file truncated in place is read again from its start."""
        live = write(tmp_path / "app.jsonl", REQ, REQ)
        source = FileSource([str(live)])
        polls = iter(range(10))
        stream = source.follow(poll_interval=0, stop=lambda: next(polls) >= 2)
        write(live, {**REQ, "cid": "fresh"})
        assert [r["cid"] for r in stream] == ["fresh"]


class TestGrepLines:
    def test_finds_lines_with_needle(self, tmp_path: Path) -> None:
        """Only whole lines containing the needle come back, first and last lines included."""
        path = write(tmp_path / "a.jsonl", {"cid": "x1"}, {"cid": "y"}, {"cid": "x1"})
        path.write_bytes(path.read_bytes().rstrip(b"\n"))
        assert list(grep_lines(str(path), b'"x1"')) == [b'{"cid":"x1"}', b'{"cid":"x1"}']

    def test_empty_file(self, tmp_path: Path) -> None:
        """An empty file yields nothing (mmap of zero bytes is not attempted)."""
        assert list(grep_lines(str(write(tmp_path / "e.jsonl")), b"x")) == []


class TestSearch:
    @pytest.mark.parametrize("tool", ["rg", "grep", None])
    def test_same_hits_with_any_tool(
        self, tool: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """rg, grep and the Python fallback find the same lines, per file, gz included."""
        import shutil

        from bellwatch.sources import files

        if tool is not None and shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
        real_which = shutil.which
        monkeypatch.setattr(
            shutil, "which", lambda name: real_which(name) if name == tool else None
        )
        a = write(tmp_path / "a.jsonl", {"cid": "x1"}, b"\x00 binary x1", {"cid": "y"})
        b = tmp_path / "b.jsonl.1.gz"
        b.write_bytes(gzip.compress(b'{"cid":"x1","n":2}\n'))
        hits = list(files.search([str(a), str(b)], b"x1"))
        assert hits == [
            (str(a), b'{"cid":"x1"}'),
            (str(a), b"\x00 binary x1"),
            (str(b), b'{"cid":"x1","n":2}'),
        ]


class TestLatest:
    @pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
    @pytest.mark.parametrize("count", [0, 1, 3, 50])
    def test_same_as_reading_forwards(
        self, chunk: int, count: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading backwards gives the same last records as a forward scan, across files."""
        from bellwatch.sources import files

        monkeypatch.setattr(files, "_CHUNK", chunk)
        rotated = tmp_path / "app.jsonl.2.gz"
        rotated.write_bytes(
            gzip.compress(b"".join(orjson.dumps({"n": i}) + b"\n" for i in range(4)))
        )
        write(tmp_path / "app.jsonl.1", *({"n": i} for i in range(4, 9)), b"junk line")
        live = write(tmp_path / "app.jsonl", *({"n": i} for i in range(9, 12)))
        live.write_bytes(live.read_bytes() + b'{"n": 12}')  # last line still being written

        def keep(r: dict[str, object]) -> bool:
            return int(r["n"]) % 2 == 0  # type: ignore[call-overload]

        forward = [r["n"] for r in FileSource([str(tmp_path)]).records() if keep(r)]
        source = FileSource([str(tmp_path)])
        got = [r["n"] for r in source.latest(count, keep)]
        assert got == (forward[-count:] if count else [])

    def test_reads_only_the_end(self, tmp_path: Path) -> None:
        """The last line of a large file is found without reading the whole file."""
        big = write(tmp_path / "app.jsonl", *({"n": i, "pad": "x" * 100} for i in range(30_000)))
        source = FileSource([str(big)])
        assert [r["n"] for r in source.latest(1)] == [29_999]
        assert source.stats.bytes_read < big.stat().st_size / 2
