"""Where lines go: a stream (stdout for the ECS awslogs driver) and a size-rotated file
(:mod:`bellwatch.log.logfile`).

A write never raises: a closed stream or a full disk drops that line for that
target and counts it in :func:`bellwatch.stats` (``stdout_dropped``,
``file_dropped``), and never stalls on a reader that stopped reading or a disk
that hangs (:mod:`bellwatch.log.outlet`; setting ``log_blocked``). A WARNING or
worse line goes out at once, together with everything the file buffered before
it, so file order is log order. Standard output is not buffered here: several
processes share it, so each line is one write of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any

from .._guard import counters
from .deferred import Deferred
from .logfile import RotatingFile, lost_lines
from .outlet import PIPE_BUF, Outlet

__all__ = ["Sink", "SplitLine"]


class SplitLine(str):
    """A line for people (the dev console) that carries the JSON line the file gets:
    the file is what the CLI reads, so it stays JSON whatever the stream shows."""

    file_line: bytes

    def __new__(cls, text: str, file_line: bytes) -> SplitLine:
        self = super().__new__(cls, text)
        self.file_line = file_line
        return self


class Sink:
    """Writes finished lines to the stream, the file, or both.

    :meth:`write` takes a line without its newline; :meth:`put` one that has it
    (the logger's renderer adds it for free). :attr:`put_info` and
    :attr:`put_urgent` are the cheapest :meth:`put` of an INFO line and of a WARNING
    or worse line for the targets this sink has, chosen here. The
    stream goes through an :class:`~bellwatch.log.outlet.Outlet` (``on_full`` says
    what happens when its reader stalls).
    """

    def __init__(
        self,
        stream: IO[Any] | None,
        file: RotatingFile | None = None,
        deferred: Deferred | None = None,
        *,
        on_full: str = "drop",
    ) -> None:
        self._stream = stream
        self._out = Outlet(stream, on_full=on_full) if stream is not None else None
        self._file = file
        # Requests finished later are finished before any other line, in log order.
        self._deferred = deferred if deferred is not None else Deferred()
        self.put_info: Callable[[bytes], None] = self.put
        self.put_urgent: Callable[[bytes], None] = self._put_urgent
        if self._out is None and file is not None and file.buffered:
            # The file does the sink's work itself when it drains the same queue.
            self.put_info = file.add if file.deferred is self._deferred else self._put_file
        elif self._out is not None and file is None:
            self.put_info = self.put_urgent = self._put_stream

    @property
    def stream(self) -> IO[Any] | None:
        """The stream lines are written to (``None``: the file only)."""
        return self._stream

    @property
    def outlet(self) -> Outlet | None:
        """The stream's outlet, for lines written beside the log's (EMF); ``None``: no stream."""
        return self._out

    def write(self, line: bytes | str, urgent: bool = False) -> None:
        """Write one finished line; ``urgent`` (WARNING and worse) skips the file's buffer.

        Queued requests are finished first, so that their lines keep log order.
        """
        data = (line if isinstance(line, bytes) else line.encode("utf-8", "replace")) + b"\n"
        if type(line) is SplitLine:
            self.put(data, urgent, line.file_line + b"\n")
            return
        self.put(data, urgent)

    def put(self, data: bytes, urgent: bool = False, file_data: bytes | None = None) -> None:
        """:meth:`write` of one line that ends with its newline (``file_data``: what the
        file gets instead, see :class:`SplitLine`)."""
        deferred = self._deferred
        if deferred.pending:
            deferred.drain()
        out = self._out
        ok = out is None or out.write(data)
        file = self._file
        if file_data is not None:
            data = file_data
        if file is not None and file.flush_interval > 0:
            # Counted now; a batch that fails later moves the counted lines to dropped.
            _count(ok)
            try:
                file.write(data, urgent, counted=ok)
            except Exception:  # closed meanwhile: it wrote at once, and failed
                lost_lines(1, ok)
            return
        if file is not None:
            try:
                file.write(data, urgent)
            except Exception:
                counters.file_dropped += 1
                ok = False
        _count(ok)

    def _put_urgent(self, data: bytes) -> None:
        self.put(data, True)

    def _put_file(self, data: bytes) -> None:
        # put(data) for an INFO line when the buffered file is the only target.
        deferred = self._deferred
        if deferred.pending:
            deferred.drain()
        self._file.add(data)  # type: ignore[union-attr]  # chosen only with a file

    def _put_stream(self, data: bytes) -> None:
        # put(data) when the stream is the only target (every level: it has no buffer).
        deferred = self._deferred
        if deferred.pending:
            deferred.drain()
        if self._out.write(data):  # type: ignore[union-attr]  # chosen only with a stream
            counters.lines_written += 1
        else:
            counters.lines_dropped += 1

    def write_lines(self, lines: list[bytes]) -> None:
        """Write INFO lines finished together (queued requests): few appends to the file.

        Chunks stay within the file's batch size, so that a small ``log_max_bytes``
        still rotates near its size. A stream still gets one write per line: a
        pipe shared by several workers keeps a write whole only up to 4 KiB.
        """
        file = self._file
        if self._out is not None and file is None:
            self._write_stream_lines(lines)
            return
        if self._stream is not None or file is None or not file.buffered:
            for line in lines:
                self.write(line)
            return
        limit = file._batch_bytes
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            chunk.append(line)
            size += len(line) + 1
            if size >= limit:
                _append_counted(file, chunk)
                chunk, size = [], 0
        if chunk:
            _append_counted(file, chunk)

    def _write_stream_lines(self, lines: list[bytes]) -> None:
        """Lines to the stream alone: as few writes as keep each one whole (``PIPE_BUF``)."""
        out = self._out
        assert out is not None  # chosen only with a stream
        chunk: list[bytes] = []
        size = 0
        for line in lines:
            n = len(line) + 1
            if chunk and size + n > PIPE_BUF:
                _put_lines(out, chunk)
                chunk, size = [], 0
            chunk.append(line)
            size += n
        if chunk:
            _put_lines(out, chunk)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for stream lines a slow reader still owes."""
        return self._out is None or self._out.drain(timeout)

    def write_urgent(self, line: bytes | str) -> None:
        """:meth:`write` for a WARNING or worse line."""
        self.write(line, urgent=True)

    msg = debug = info = log = write
    warning = warn = error = exception = critical = fatal = write_urgent

    def after_fork(self) -> None:
        if self._out is not None:
            self._out.after_fork()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
        if self._out is not None:
            self._out.close()


def _put_lines(out: Outlet, lines: list[bytes]) -> None:
    """One write of whole lines to the stream, counted line by line."""
    if out.write(b"\n".join(lines) + b"\n", len(lines)):
        counters.lines_written += len(lines)
    else:
        counters.lines_dropped += len(lines)


def _append_counted(file: RotatingFile, lines: list[bytes]) -> None:
    n = len(lines)
    counters.lines_written += n
    try:
        file.write(b"\n".join(lines) + b"\n", False, counted=n)
    except Exception:  # closed meanwhile: it wrote at once, and failed
        lost_lines(n, n)


def _count(ok: bool) -> None:
    if ok:
        counters.lines_written += 1
    else:
        counters.lines_dropped += 1
