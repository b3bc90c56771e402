"""log/logfile.py: the size-rotated, shared, buffered log file."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from bellwatch import _guard
from bellwatch._runtime import runtime
from bellwatch.log.logfile import RotatingFile
from bellwatch.log.sinks import Sink
from logfiles import buffered


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


class TestRotatingFile:
    def test_rotates_by_size(self, tmp_path: Path) -> None:
        """Past max_bytes the file moves to .1 and a new one starts."""
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=4096, backups=2)
        for i in range(200):
            f.write(b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * 40))
        f.close()
        assert (tmp_path / "a.jsonl.1").exists()
        assert (tmp_path / "a.jsonl").stat().st_size <= 4096

    def test_keeps_at_most_the_backup_count(self, tmp_path: Path) -> None:
        """Older files beyond `backups` are removed by the rotation chain."""
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=4096, backups=2)
        for i in range(2000):
            f.write(b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * 40))
        f.close()
        names = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
        assert names == ["a.jsonl", "a.jsonl.1", "a.jsonl.2"]

    def test_no_line_is_lost_or_split_within_the_kept_files(self, tmp_path: Path) -> None:
        """Every kept line is whole, and the newest lines are all present."""
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=1 << 20, backups=3)
        for i in range(1000):
            f.write(b'{"i":%d}\n' % i)
        f.close()
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":%d}' % i for i in range(1000)]

    def test_a_batch_larger_than_a_file_is_split_across_files(self, tmp_path: Path) -> None:
        """One append of 40 KiB into a 4 KiB file: every file ends within the limit."""
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=4096, backups=50)
        f.write(b"".join(b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * 40) for i in range(700)))
        f.close()
        files = [p for p in tmp_path.glob("a.jsonl*") if not p.name.endswith(".lock")]
        assert max(p.stat().st_size for p in files) <= 4096
        found = sorted(int(line.split(b",")[0][5:]) for p in files for line in _lines(p))
        assert found == list(range(700))

    def test_a_line_longer_than_a_file_gets_a_file_of_its_own(self, tmp_path: Path) -> None:
        """A single line over max_bytes is written whole, alone, and the next line rolls."""
        f = RotatingFile(tmp_path / "a.jsonl", max_bytes=100, backups=5)
        f.write(b'{"a":1}\n' + b'{"big":"%s"}\n' % (b"x" * 300) + b'{"b":2}\n')
        f.close()
        assert _lines(tmp_path / "a.jsonl") == [b'{"b":2}']
        assert _lines(tmp_path / "a.jsonl.1") == [b'{"big":"%s"}' % (b"x" * 300)]
        assert _lines(tmp_path / "a.jsonl.2") == [b'{"a":1}']

    def test_follows_a_rotation_done_by_another_process(self, tmp_path: Path) -> None:
        """Two writers on one file keep it near max_bytes and both keep rotating."""
        path = tmp_path / "a.jsonl"
        a = RotatingFile(path, max_bytes=4096, backups=2)
        b = RotatingFile(path, max_bytes=4096, backups=2)
        for i in range(300):
            (a if i % 2 else b).write(b'{"i":%d,"pad":"%s"}\n' % (i, b"y" * 30))
        a.close()
        b.close()
        total = sum(len(_lines(p)) for p in tmp_path.glob("a.jsonl*") if p.suffix != ".lock")
        assert total >= 100
        # each append reads the shared size under the lock: no overshoot at all
        assert max(p.stat().st_size for p in tmp_path.glob("a.jsonl*")) <= 4096


WRITER = """
import sys, time
import bellwatch
who, lines, pause, flush = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
bellwatch.configure(service="shared", log_file=True, stdout=False, log_dir=sys.argv[5],
                    log_max_bytes=16384, log_backups=500, log_flush=float(flush))
log = bellwatch.get_logger()
for i in range(lines):
    (log.warning if i % 50 == 0 else log.info)("line", who=who, i=i, pad="p" * (who * 20))
    if pause:
        time.sleep(pause)
stats = bellwatch.stats()
print(stats["lines_written"], stats["file_dropped"])
"""


class TestSharedRotation:
    def test_four_processes_at_skewed_rates_lose_no_line(self, tmp_path: Path) -> None:
        """4 writers, fast and slow, one 16 KiB file: every line is found, files stay small."""
        plan = [(0, 3000, 0.0, "0.2"), (1, 1500, 0.0, "0"), (2, 600, 0.001, "0.2"),
                (3, 300, 0.005, "0.05")]  # fmt: skip
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WRITER, *map(str, p[:4]), str(tmp_path)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for p in plan
        ]
        reported = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            written, dropped = map(int, out.split())
            reported.append((written, dropped))
        files = [p for p in tmp_path.glob("shared.jsonl*") if not p.name.endswith(".lock")]
        found: dict[int, list[int]] = {}
        for path in files:
            for raw in path.read_bytes().splitlines():
                line = orjson.loads(raw)
                found.setdefault(line["who"], []).append(line["i"])
        for who, lines, _, _ in plan:
            assert reported[who] == (lines, 0)
            assert sorted(found[who]) == list(range(lines))
        assert len(files) > 10  # it did rotate, often
        assert max(p.stat().st_size for p in files) <= 1.1 * 16384


class TestBufferedFile:
    def test_info_lines_wait_until_flushed(self, tmp_path: Path) -> None:
        """Buffered lines are not in the file before a flush, and all are after it."""
        f = buffered(tmp_path / "a.jsonl")
        f.write(b'{"i":1}\n')
        f.write(b'{"i":2}\n')
        assert _lines(tmp_path / "a.jsonl") == []
        runtime.flush()
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":1}', b'{"i":2}']
        f.close()

    def test_an_urgent_line_goes_at_once_after_what_came_before(self, tmp_path: Path) -> None:
        """A WARNING line is written at once, with the buffered lines ahead of it."""
        f = buffered(tmp_path / "a.jsonl")
        f.write(b'{"i":1}\n')
        f.write(b'{"i":2,"level":"ERROR"}\n', urgent=True)
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":1}', b'{"i":2,"level":"ERROR"}']
        f.close()

    def test_the_thread_writes_a_buffer_older_than_the_interval(self, tmp_path: Path) -> None:
        """With no further writes, lines reach the file within about the interval."""
        f = buffered(tmp_path / "a.jsonl", flush_interval=0.05)
        f.write(b'{"i":1}\n')
        deadline = time.monotonic() + 5
        while not _lines(tmp_path / "a.jsonl") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":1}']
        f.close()

    def test_a_full_batch_is_written_without_waiting(self, tmp_path: Path) -> None:
        """Past the batch size the buffer is written at once, in whole lines."""
        f = buffered(tmp_path / "a.jsonl", max_bytes=1 << 30)
        line = b'{"pad":"%s"}\n' % (b"x" * 1000)
        for _ in range(70):
            f.write(line)
        assert len(_lines(tmp_path / "a.jsonl")) >= 64
        assert set(_lines(tmp_path / "a.jsonl")) == {line.rstrip()}
        f.close()

    def test_close_writes_the_rest(self, tmp_path: Path) -> None:
        """Closing the file (reconfigure, exit) loses no buffered line."""
        f = buffered(tmp_path / "a.jsonl")
        f.write(b'{"i":1}\n')
        f.close()
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":1}']

    @pytest.mark.internal_errors
    def test_a_failed_batch_counts_its_lines_dropped(self) -> None:
        """A batch the disk refuses (/dev/full) is counted dropped, not written."""
        if not os.path.exists("/dev/full"):
            pytest.skip("needs /dev/full")
        f = buffered("/dev/full", max_bytes=1 << 40, backups=0)
        sink = Sink(None, f)
        sink.write(b"{}")
        sink.write(b"{}")
        runtime.flush()
        assert (_guard.counters.lines_written, _guard.counters.lines_dropped) == (0, 2)
        f.close()

    def test_a_forked_child_that_exits_without_cleanup_keeps_its_lines(
        self, tmp_path: Path
    ) -> None:
        """A child ending with os._exit (multiprocessing's fork workers do) loses nothing."""
        path = tmp_path / "a.jsonl"
        f = buffered(path)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            f.write(b'{"who":"child"}\n')
            os._exit(0)
        os.waitpid(pid, 0)
        f.close()
        assert _lines(path) == [b'{"who":"child"}']

    @pytest.mark.internal_errors
    def test_a_line_after_close_is_counted_dropped(self, tmp_path: Path) -> None:
        """A logger still holding a closed file (reconfigured) counts its line dropped."""
        f = buffered(tmp_path / "a.jsonl")
        sink = Sink(None, f)
        f.close()
        sink.write(b"{}")
        assert (_guard.counters.lines_written, _guard.counters.lines_dropped) == (0, 1)

    @pytest.mark.internal_errors
    def test_a_line_lost_on_both_targets_is_dropped_once(self) -> None:
        """stdout failing and the file's batch failing count each line dropped once."""
        if not os.path.exists("/dev/full"):
            pytest.skip("needs /dev/full")
        stream = io.StringIO()
        stream.close()
        f = buffered("/dev/full", max_bytes=1 << 40, backups=0)
        sink = Sink(stream, f)
        sink.write(b"{}")
        sink.write(b"{}", urgent=True)
        assert (_guard.counters.lines_written, _guard.counters.lines_dropped) == (0, 2)
        f.close()

    def test_a_forked_child_does_not_write_the_parents_lines_again(self, tmp_path: Path) -> None:
        """The parent's buffer is written before fork; the child starts empty."""
        path = tmp_path / "a.jsonl"
        f = buffered(path)
        f.write(b'{"who":"parent"}\n')
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            f.write(b'{"who":"child"}\n')
            f.flush()
            os._exit(0)
        os.waitpid(pid, 0)
        f.close()
        assert sorted(_lines(path)) == [b'{"who":"child"}', b'{"who":"parent"}']
