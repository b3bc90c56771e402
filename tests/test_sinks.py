"""log/sinks.py: the sink in front of the stream and the file."""

from __future__ import annotations

import io
import os
from pathlib import Path

from bellwatch import _guard
from bellwatch._runtime import runtime
from bellwatch.log.sinks import Sink
from logfiles import buffered


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines() if path.exists() else []


class TestSink:
    def test_binary_and_text_streams(self) -> None:
        """The sink writes lines to text and binary streams alike."""
        text, raw = io.StringIO(), io.BytesIO()
        Sink(text).write(b'{"a":1}')
        Sink(raw).write(b'{"a":1}')
        assert text.getvalue() == '{"a":1}\n'
        assert raw.getvalue() == b'{"a":1}\n'

    def test_counts_written_lines(self) -> None:
        """Each delivered line increments lines_written."""
        Sink(io.StringIO()).write(b"{}")
        assert _guard.counters.lines_written == 1


class TestWriteLines:
    def test_a_batch_is_one_append_to_the_file(self, tmp_path: Path) -> None:
        """Queued requests' lines reach the buffered file together, each counted."""
        f = buffered(tmp_path / "a.jsonl")
        Sink(None, f).write_lines([b'{"i":1}', b'{"i":2}', b'{"i":3}'])
        runtime.flush()
        assert _lines(tmp_path / "a.jsonl") == [b'{"i":1}', b'{"i":2}', b'{"i":3}']
        assert f._writes == 1
        assert _guard.counters.lines_written == 3
        f.close()

    def test_a_small_file_still_rotates_near_its_size(self, tmp_path: Path) -> None:
        """A batch is cut into chunks of the file's batch size, not appended whole."""
        path = tmp_path / "a.jsonl"
        f = buffered(path, max_bytes=4096, backups=3)
        Sink(None, f).write_lines([b"{" + b'"x":"' + b"y" * 160 + b'"}'] * 64)
        runtime.flush()
        sizes = [p.stat().st_size for p in tmp_path.glob("a.jsonl*") if not p.name.endswith("lock")]
        assert max(sizes) <= 4096 + 4096 // 8
        f.close()

    def test_no_lines_write_nothing(self, tmp_path: Path) -> None:
        """An empty batch adds no blank line to the file."""
        f = buffered(tmp_path / "a.jsonl")
        Sink(None, f).write_lines([])
        runtime.flush()
        assert (tmp_path / "a.jsonl").read_bytes() == b""
        f.close()

    def test_a_stream_gets_whole_lines_in_writes_a_pipe_keeps_whole(self) -> None:
        """A pipe shared by workers keeps a write whole up to PIPE_BUF bytes: a batch goes
        out in as few writes as that allows, each of whole lines."""
        from bellwatch.log.outlet import PIPE_BUF

        calls: list[str] = []

        class Recording(io.StringIO):
            def write(self, text: str) -> int:
                calls.append(text)
                return super().write(text)

        lines = [b'{"i":%d,"pad":"%s"}' % (i, b"x" * 100) for i in range(100)]
        Sink(Recording()).write_lines(lines)
        assert "".join(calls).encode() == b"".join(line + b"\n" for line in lines)
        assert all(len(c.encode()) <= PIPE_BUF and c.endswith("\n") for c in calls)
        assert 1 < len(calls) < len(lines)

    def test_a_failing_disk_counts_the_batch_dropped(self, tmp_path: Path) -> None:
        """A batch the disk refuses is moved from written to dropped, every line of it."""
        f = buffered(tmp_path / "a.jsonl")
        real_fd, f._fd = f._fd, -1  # EBADF on the next write, as a failed disk would
        Sink(None, f).write_lines([b"{}", b"{}"])
        f.flush()
        os.close(real_fd)
        assert _guard.counters.lines_dropped == 2
        assert _guard.counters.lines_written == 0


class TestEncodings:
    def test_non_utf8_text_stream_still_gets_the_line(self) -> None:
        """An ASCII-encoded stdout receives the UTF-8 line as bytes instead of dropping it."""
        raw = io.BytesIO()
        stream = io.TextIOWrapper(raw, encoding="ascii")
        Sink(stream).write('{"event":"café"}'.encode())
        stream.flush()
        assert raw.getvalue() == '{"event":"café"}\n'.encode()
        assert _guard.counters.lines_dropped == 0
