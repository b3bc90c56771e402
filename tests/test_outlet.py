"""Whole lines under faults: short writes, a full disk, and a reader that stops reading."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from bellwatch import _guard
from bellwatch._runtime import runtime
from bellwatch.log import outlet
from bellwatch.log.outlet import Appender, Outlet, PartialWrite
from bellwatch.log.sinks import RotatingFile, Sink
from real_server import UVICORN, Server


def _line(i: int, pad: int = 60) -> bytes:
    return b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * pad)


def _numbers(raw: bytes) -> list[int]:
    """The ``i`` of every line; any line that is not whole JSON fails the test."""
    return [orjson.loads(line)["i"] for line in raw.splitlines()]


class TestShortWrites:
    def test_short_writes_are_completed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A write that takes 7 bytes at a time still leaves every line whole."""
        monkeypatch.setattr(outlet, "_write", lambda fd, data: os.write(fd, bytes(data[:7])))
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=1 << 20, backups=1)
        for i in range(50):
            f.write(_line(i))
        f.close()
        assert _numbers((tmp_path / "a.jsonl").read_bytes()) == list(range(50))

    def test_a_write_that_fails_midway_leaves_no_fragment(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Half a batch written, then ENOSPC: the whole lines stay, the fragment is cut."""
        path = tmp_path / "a.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        batch = _line(1) + _line(2) + _line(3)
        calls = iter([len(_line(1)) + 10])  # one line and 10 bytes of the next, then full

        def full_midway(fd: int, data: memoryview) -> int:
            n = next(calls, 0)
            if not n:
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.write(fd, bytes(data[:n]))

        monkeypatch.setattr(outlet, "_write", full_midway)
        with pytest.raises(PartialWrite) as failed:
            Appender().append(fd, batch)
        monkeypatch.undo()
        Appender().append(fd, _line(4))
        os.close(fd)
        assert failed.value.kept == 1
        assert _numbers(path.read_bytes()) == [1, 4]

    def test_a_fragment_that_cannot_be_cut_ends_its_line(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """When another writer appended after the fragment, the next line starts afresh."""
        path = tmp_path / "a.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        appender = Appender()

        def fragment_then_full(fd: int, data: memoryview) -> int:
            monkeypatch.setattr(outlet, "_write", _full)
            os.write(fd, bytes(data[:5]))
            os.ftruncate(fd, os.fstat(fd).st_size + 1)  # the file grew past our fragment
            return 5

        monkeypatch.setattr(outlet, "_write", fragment_then_full)
        with pytest.raises(PartialWrite):
            appender.append(fd, _line(1))
        monkeypatch.undo()
        appender.append(fd, _line(2))
        os.close(fd)
        last = path.read_bytes().splitlines()[-1]
        assert orjson.loads(last)["i"] == 2


def _full(fd: int, data: memoryview) -> int:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs: a disk that really fills up (skipped where mounting is not allowed)."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (the short-write tests cover it)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


class TestFullDisk:
    def test_no_line_starts_mid_fragment_after_the_disk_fills(self, small_disk: Path) -> None:
        """Batches into a full tmpfs, space freed, more batches: every line in it is whole."""
        filler = small_disk / "filler"
        filler.write_bytes(b"\0" * 40_000)
        f = RotatingFile(
            small_disk / "a.jsonl",
            max_bytes=1 << 20,
            backups=0,
            flush_interval=60,
            flusher=runtime.flusher,
        )
        sink = Sink(None, f)
        i = 0
        for phase, batches in (("full", 12), ("freed", 6)):
            for _ in range(batches):
                sink.write_lines([_line(n).rstrip(b"\n") for n in range(i, i + 40)])
                i += 40
                f.flush()
            if phase == "full":
                assert _guard.counters.file_dropped > 0  # the disk did fill up
                filler.unlink()
        f.close()
        found = _numbers((small_disk / "a.jsonl").read_bytes())
        assert found == sorted(found)
        assert len(found) == _guard.counters.lines_written == i - _guard.counters.file_dropped
        assert found[-1] == i - 1  # after the space came back, everything got in


class TestPipeNobodyReads:
    def _pipe(self) -> tuple[int, Outlet]:
        r, w = os.pipe()
        return r, Outlet(os.fdopen(w, "wb"), limit=64 * 1024)

    def test_writes_never_block_and_drops_are_counted(self) -> None:
        """200k lines into a pipe nobody reads: every call returns; drops are counted."""
        r, out = self._pipe()
        taken = sum(out.write(_line(i)) for i in range(200_000))
        assert _guard.counters.stdout_dropped == 200_000 - taken > 0
        os.close(r)
        out.close()

    def test_the_lines_kept_arrive_whole_and_in_order_once_read(self) -> None:
        """When the reader comes back, it gets every line not dropped, whole and in order."""
        r, out = self._pipe()
        kept = [i for i in range(20_000) if out.write(_line(i))]
        received = bytearray()
        reader = threading.Thread(target=_read_all, args=(r, received), daemon=True)
        reader.start()
        assert out.drain(30)
        out.stream.close()
        out.close()
        reader.join(30)
        assert _numbers(bytes(received)) == kept

    def test_batched_lines_arrive_whole_and_drops_count_each_line(self) -> None:
        """Lines written in batches (several per write) into a pipe nobody reads at first:
        every line either arrives whole, in order, or is counted dropped, one by one."""
        r, w = os.pipe()
        sink = Sink(os.fdopen(w, "wb"))
        total = 0
        for start in range(0, 20_000, 64):
            sink.write_lines([_line(i).rstrip(b"\n") for i in range(start, start + 64)])
            total += 64
        received = bytearray()
        reader = threading.Thread(target=_read_all, args=(r, received), daemon=True)
        reader.start()
        assert sink.drain(30)
        sink.stream.close()  # type: ignore[union-attr]
        sink.close()
        reader.join(30)
        found = _numbers(bytes(received))
        assert found == sorted(found)
        assert len(found) + _guard.counters.stdout_dropped == total
        assert _guard.counters.lines_written == len(found)

    def test_block_mode_loses_nothing(self) -> None:
        """``on_full="block"``: a slow reader slows the writer, and every line arrives."""
        r, w = os.pipe()
        out = Outlet(os.fdopen(w, "wb"), on_full="block")
        received = bytearray()
        reader = threading.Thread(target=_read_all, args=(r, received), daemon=True)
        reader.start()
        assert all(out.write(_line(i)) for i in range(20_000))
        out.stream.close()
        out.close()
        reader.join(30)
        assert _numbers(bytes(received)) == list(range(20_000))


def _read_all(fd: int, into: bytearray) -> None:
    while chunk := os.read(fd, 65536):
        into += chunk
    os.close(fd)


class TestStalledServer:
    def test_a_server_whose_stdout_nobody_reads_keeps_answering(self, tmp_path: Path) -> None:
        """uvicorn with stdout a pipe never read: 500 chatty requests (1.5 MB of lines) and
        /health all answer, /metrics counts the drops, and what was kept arrives whole."""
        env = {"BELLWATCH_STDOUT": "1", "BELLWATCH_LOG_FILE": "0", "BELLWATCH_MAX_LINE": "4000"}
        server = Server(tmp_path, UVICORN, 1, env, stdout_pipe=True)
        try:
            with httpx.Client(base_url=server.base, timeout=10) as client:
                statuses = [client.get("/chatty").status_code for _ in range(500)]
                health = client.get("/health").status_code
                doc = client.get("/metrics").json()
                text = client.get("/metrics?format=prometheus").text
            pipe = server.proc.stdout
            assert pipe is not None
            received = bytearray()
            reader = threading.Thread(target=lambda: received.extend(pipe.read()), daemon=True)
            reader.start()  # the reader comes back; then the server stops
            server.stop()
            reader.join(30)
        finally:
            server.kill()
            if server.proc.stdout is not None:
                server.proc.stdout.close()
        assert statuses == [200] * 500
        assert health == 200
        dropped = doc["process"]["bellwatch"]["stdout_dropped"]
        assert dropped > 0
        assert 'bellwatch_log_lines_total{outcome="dropped",target="stdout"' in text
        lines = [orjson.loads(raw) for raw in bytes(received).splitlines()]  # all whole
        chatty = sum(e.get("event") == "chatty" for e in lines)
        assert 0 < chatty < 500
