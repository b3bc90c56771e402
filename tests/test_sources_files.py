"""Local JSONL sources: parsing, paths, rotation order, gzip, stdin and follow."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import orjson
import pytest

from bellwatch.sources import Source, SourceError, TextRecord
from bellwatch.sources._paths import resolve
from bellwatch.sources.files import FileSource

REQ = {"ts": 1758918615123, "level": "INFO", "event": "request_complete", "cid": "3f9a1c7e2b4d"}


def write(path: Path, *lines: bytes | dict[str, object]) -> Path:
    data = b"".join((orjson.dumps(x) if isinstance(x, dict) else x) + b"\n" for x in lines)
    path.write_bytes(data)
    return path


class TestResolve:
    def test_rotated_files_oldest_first(self, tmp_path: Path) -> None:
        """Rotated copies come oldest first, the live file last; lock files are ignored."""
        for name in ("app.jsonl", "app.jsonl.1", "app.jsonl.2.gz", "app.jsonl.lock"):
            (tmp_path / name).write_bytes(b"")
        got = [os.path.basename(p) for p in resolve([], str(tmp_path)).paths]
        assert got == ["app.jsonl.2.gz", "app.jsonl.1", "app.jsonl"]

    def test_missing_file(self, tmp_path: Path) -> None:
        """A missing file, alone, is a SourceError naming it."""
        with pytest.raises(SourceError, match="no such file"):
            resolve([str(tmp_path / "nope.jsonl")])

    def test_missing_file_among_others_is_set_aside(self, tmp_path: Path) -> None:
        """With another file to read, a missing one is set aside with its reason."""
        good = write(tmp_path / "a.jsonl", REQ)
        found = resolve([str(tmp_path / "nope.jsonl"), str(good)])
        assert found.paths == [str(good)]
        assert found.problems == [(str(tmp_path / "nope.jsonl"), "no such file")]

    def test_empty_default_dir_says_how_to_get_logs(self, tmp_path: Path) -> None:
        """No default log files: the message names the glob and how to get some."""
        with pytest.raises(SourceError, match=r"\*\.jsonl\*") as info:
            resolve([], str(tmp_path))
        for hint in ("BELLWATCH_LOG_FILE=1", "-l -", "--log-group"):
            assert hint in str(info.value)

    def test_glob_and_directory(self, tmp_path: Path) -> None:
        """A glob and a directory both expand to their log files."""
        write(tmp_path / "a.jsonl", REQ)
        assert resolve([str(tmp_path / "*.jsonl")]).paths == resolve([str(tmp_path)]).paths

    def test_broken_link_and_loop_are_set_aside(self, tmp_path: Path) -> None:
        """A dangling symbolic link and a link loop are named, the rest is read."""
        write(tmp_path / "app.jsonl", REQ)
        (tmp_path / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
        (tmp_path / "a.jsonl").symlink_to(tmp_path / "b.jsonl")
        (tmp_path / "b.jsonl").symlink_to(tmp_path / "a.jsonl")
        found = resolve([], str(tmp_path))
        assert [os.path.basename(p) for p in found.paths] == ["app.jsonl"]
        reasons = {os.path.basename(p): why for p, why in found.problems}
        assert reasons == {
            "gone.jsonl": "broken symbolic link",
            "a.jsonl": "symbolic link loop",
            "b.jsonl": "symbolic link loop",
        }

    def test_fifo_is_not_read(self, tmp_path: Path) -> None:
        """A FIFO named like a log would block forever: it is set aside, not opened."""
        os.mkfifo(tmp_path / "pipe.jsonl")
        write(tmp_path / "app.jsonl", REQ)
        found = resolve([], str(tmp_path))
        assert found.problems == [(str(tmp_path / "pipe.jsonl"), "not a regular file")]

    @pytest.mark.skipif(os.geteuid() == 0, reason="root reads everything")
    def test_unreadable_directory(self, tmp_path: Path) -> None:
        """A directory we may not read is a SourceError."""
        locked = tmp_path / "locked"
        locked.mkdir(mode=0)
        with pytest.raises(SourceError, match="permission"):
            resolve([str(locked)])


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

    def test_text_events_yielded_and_counted(self, tmp_path: Path) -> None:
        """Lines that are not one JSON object are text events; blank lines are no event."""
        path = write(tmp_path / "app.jsonl", b"banner", REQ, b"", b"\xff\xfe", b'{"ts":1')
        source = FileSource([str(path)])
        records = list(source.records())
        assert [isinstance(r, TextRecord) for r in records] == [True, False, True, True]
        assert (source.stats.records, source.stats.text_lines) == (1, 3)
        assert "3 text lines" in (source.stats.text_note() or "")
        # a text event takes the time of the structured event before it
        assert [r["@timestamp"] for r in records] == [None, REQ["ts"], REQ["ts"], REQ["ts"]]

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
        assert [r.get("cid") for r in source.records()] == [REQ["cid"], None]
        assert source.stats.text_lines == 1

    def test_truncated_gzip_keeps_what_was_read(self, tmp_path: Path) -> None:
        """A .gz cut short gives its first lines and is named; the other files are read."""
        whole = gzip.compress(b"".join(orjson.dumps({**REQ, "n": i}) + b"\n" for i in range(500)))
        (tmp_path / "app.jsonl.1.gz").write_bytes(whole[: len(whole) // 2])
        write(tmp_path / "app.jsonl", {**REQ, "n": 999})
        source = FileSource([], str(tmp_path))
        got = [r["n"] for r in source.records()]
        assert got[-1] == 999 and 0 < len(got) < 501
        (skipped,) = source.stats.skipped_sources
        assert skipped.startswith(f"{tmp_path / 'app.jsonl.1.gz'}: read stopped after")

    def test_nothing_readable_is_an_error(self, tmp_path: Path) -> None:
        """When every file fails, the command gets one SourceError, not an empty answer."""
        (tmp_path / "app.jsonl.1.gz").write_bytes(b"\x1f\x8b" + b"\x00" * 50)
        with pytest.raises(SourceError, match=r"app\.jsonl\.1\.gz: unreadable"):
            list(FileSource([], str(tmp_path)).records())


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


class TestCorrelated:
    @pytest.mark.parametrize("tool", ["rg", "grep", None])
    def test_same_events_with_any_tool(
        self, tool: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """rg, grep and the Python reader find the same events, gz included, with text
        lines that name the id timed like the event before them."""
        import shutil

        if tool is not None and shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
        real_which = shutil.which
        monkeypatch.setattr(
            shutil, "which", lambda name: real_which(name) if name == tool else None
        )
        a = write(
            tmp_path / "app.jsonl.1",
            {"ts": 5, "cid": "x1"},
            {"ts": 6, "cid": "y", "note": "mentions x1"},
            b"\x00 binary x1",
            {"ts": 7, "cid": "z"},
        )
        b = tmp_path / "app.jsonl.2.gz"
        b.write_bytes(gzip.compress(b'{"ts":1,"cid":"x1","n":2}\nboom x1\n'))
        source = FileSource([str(a), str(b)])
        got = [(r["@logStream"], r["@timestamp"], r.get("cid")) for r in source.correlated("x1")]
        assert got == [
            ("app.jsonl.1", 5, "x1"),
            ("app.jsonl.1", 6, None),  # the binary line: text, timed by the line before
            ("app.jsonl.2.gz", 1, "x1"),
            ("app.jsonl.2.gz", 1, None),
        ]

    @pytest.mark.parametrize("tool", ["rg", "grep", None])
    def test_bytes_scanned_count_the_whole_file_with_any_tool(
        self, tool: str | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A search tool reads every byte of the file: the scan says so, as the reader's does."""
        import shutil

        if tool is not None and shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed")
        real_which = shutil.which
        monkeypatch.setattr(
            shutil, "which", lambda name: real_which(name) if name == tool else None
        )
        a = write(tmp_path / "app.jsonl", {"ts": 5, "cid": "x1"}, {"ts": 6, "cid": "y"})
        source = FileSource([str(a)])
        list(source.correlated("x1"))
        assert source.stats.bytes_read == a.stat().st_size


class TestLatest:
    @pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
    @pytest.mark.parametrize("count", [0, 1, 3, 50])
    def test_same_as_reading_forwards(
        self, chunk: int, count: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Reading backwards gives the same last records as a forward scan, across files."""
        from bellwatch.sources import _paths

        monkeypatch.setattr(_paths, "_CHUNK", chunk)
        rotated = tmp_path / "app.jsonl.2.gz"
        rotated.write_bytes(
            gzip.compress(b"".join(orjson.dumps({"n": i}) + b"\n" for i in range(4)))
        )
        write(tmp_path / "app.jsonl.1", *({"n": i, "ts": i} for i in range(4, 9)), b"junk line")
        live = write(tmp_path / "app.jsonl", *({"n": i} for i in range(9, 12)))
        live.write_bytes(live.read_bytes() + b'{"n": 12}')  # last line still being written

        def keep(r: dict[str, object]) -> bool:
            return isinstance(r, TextRecord) or int(r["n"]) % 2 == 0  # type: ignore[call-overload]

        def seen(r: dict[str, object]) -> tuple[object, object]:
            return (r.get("n"), r["@timestamp"])

        forward = [seen(r) for r in FileSource([str(tmp_path)]).records() if keep(r)]
        source = FileSource([str(tmp_path)])
        got = [seen(r) for r in source.latest(count, keep)]
        assert got == (forward[-count:] if count else [])

    def test_reads_only_the_end(self, tmp_path: Path) -> None:
        """The last line of a large file is found without reading the whole file."""
        big = write(tmp_path / "app.jsonl", *({"n": i, "pad": "x" * 100} for i in range(30_000)))
        source = FileSource([str(big)])
        assert [r["n"] for r in source.latest(1)] == [29_999]
        assert source.stats.bytes_read < big.stat().st_size / 2


class TestGzipLines:
    def read(self, data: bytes) -> tuple[list[bytes], str | None]:
        from bellwatch.sources._paths import GzipLines

        out: list[bytes] = []
        try:
            out.extend(GzipLines(io.BytesIO(data)))
        except (OSError, EOFError) as exc:
            return out, type(exc).__name__
        return out, None

    def test_members_follow_each_other(self) -> None:
        """``cat a.gz b.gz`` is one file: every member is read, in order."""
        data = gzip.compress(b"a\n") + gzip.compress(b"b\nlast")
        assert self.read(data) == ([b"a\n", b"b\n", b"last"], None)

    def test_garbage_after_the_last_member(self) -> None:
        """Bytes after the last member end the file with an error; its lines are kept."""
        assert self.read(gzip.compress(b"a\nb\n") + b"GARBAGE") == (
            [b"a\n", b"b\n"],
            "TrailingGarbage",
        )

    def test_zero_padding_is_not_garbage(self) -> None:
        """Zero bytes after the last member (tape-style padding) are ignored."""
        assert self.read(gzip.compress(b"a\n") + b"\0" * 10) == ([b"a\n"], None)

    def test_truncated_keeps_whole_lines(self) -> None:
        """A .gz cut short gives its whole lines, then says it ended early."""
        data = gzip.compress(b"".join(b"line %d\n" % i for i in range(3000)))
        lines, error = self.read(data[: len(data) // 2])
        assert error == "EOFError" and lines and lines[-1].endswith(b"\n")
        assert lines == [b"line %d\n" % i for i in range(len(lines))]
