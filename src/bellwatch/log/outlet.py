"""Writing whole lines to a file descriptor: never torn, and never stalled by a slow reader.

Two pieces the sinks (:mod:`bellwatch.log.sinks`) build on:

- :class:`Appender` appends bytes to a file. A short write is completed; when the
  rest cannot be written (a full disk), the fragment of the last line is cut off
  again, or, if another process appended after it, the next write starts on a new
  line: a line never continues another line's fragment.
- :class:`Outlet` writes lines to a stream such as standard output. A pipe nobody
  reads (a stopped log driver) fills up and then blocks every ``write(2)``; an
  Outlet writes through a non-blocking descriptor of its own, keeps what does not
  fit in a bounded buffer that one thread writes out as the reader catches up, and
  past that bound drops whole lines and counts them (``on_full="drop"``, like
  Docker's non-blocking log mode), or waits as a plain write would
  (``on_full="block"``). Order is kept: once lines wait, later lines wait behind them.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import select
import socket
import stat
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, Any

from .._guard import counters

__all__ = ["PIPE_BUF", "Appender", "Outlet", "PartialWrite"]

BUFFER_BYTES = 1 << 20  # what an Outlet holds for a reader that fell behind (Docker: 1 MB)
# Bytes a pipe writes whole in one write(2) (POSIX: at least 512; Linux 4096): the
# most lines one write may carry when several workers share the pipe.
PIPE_BUF = getattr(select, "PIPE_BUF", 512)
_WAIT = 1.0  # seconds the writer thread waits for a reader before looking again

_write = os.write  # one name for the tests' short-write wrapper


class PartialWrite(OSError):
    """A write that could not be completed; ``kept`` whole lines of it were written."""

    def __init__(self, cause: OSError, kept: int) -> None:
        super().__init__(cause.errno, cause.strerror)
        self.kept = kept


class Appender:
    """Appends whole lines to one ``O_APPEND`` descriptor; see the module docstring."""

    __slots__ = ("torn",)

    def __init__(self) -> None:
        self.torn = False  # a fragment we could not cut ends the file: start on a new line

    def append(self, fd: int, data: bytes | bytearray) -> None:
        """Write all of ``data`` (whole lines) or raise :class:`PartialWrite`."""
        prefix = 1 if self.torn else 0
        if prefix:
            data = b"\n" + data
        done = 0
        view = memoryview(data)
        try:
            while done < len(data):
                n = _write(fd, view[done:])
                if n <= 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += n
        except OSError as exc:
            raise PartialWrite(exc, self._cut(fd, data, done, prefix)) from exc
        self.torn = False

    def _cut(self, fd: int, data: bytes | bytearray, done: int, prefix: int) -> int:
        """After ``done`` bytes of ``data`` went out: cut the last fragment; lines kept."""
        if done <= prefix:
            return 0
        whole = data.rfind(b"\n", 0, done) + 1  # bytes up to the last whole line
        kept = data.count(b"\n", prefix, whole)
        if whole == done:
            self.torn = False
            return kept
        try:
            end = os.lseek(fd, 0, os.SEEK_CUR)
            if os.fstat(fd).st_size == end:  # nobody appended after it: cut it off
                os.ftruncate(fd, end - (done - whole))
                self.torn = False
                return kept
        except OSError:
            pass
        self.torn = True
        return kept


class Outlet:
    """Writes whole lines to ``stream`` without letting a stalled reader stall the caller.

    Args:
        stream: a text or binary stream; one with a real file descriptor (standard
            output under a server, a pipe, a socket, a file) is written through that
            descriptor, anything else (``io.StringIO``) through its own ``write``.
        on_full: ``"drop"``: past ``limit`` buffered bytes a line is dropped whole and
            counted in ``stdout_dropped``; ``"block"``: wait for the reader.
        limit: bytes kept for a reader that fell behind.
        lost: called with the number of lines lost after ``write`` took them (the
            reader went away while they waited), besides ``stdout_dropped``: an
            outlet of one kind of line (EMF) counts those in its own counter too.
    """

    def __init__(
        self,
        stream: IO[Any],
        *,
        on_full: str = "drop",
        limit: int = BUFFER_BYTES,
        lost: Callable[[int], None] | None = None,
    ):
        self.stream = stream
        self._lost = lost
        self.on_full = on_full
        self.limit = limit
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue: deque[bytes] = deque()
        self._queued = 0
        self._thread: threading.Thread | None = None
        self._appender = Appender()
        self._sock: socket.socket | None = None
        self._nb = -1  # our own non-blocking descriptor of the same pipe or device
        self._fd = _fileno(stream)
        self._regular = False
        self._text = _is_text(stream)
        if self._fd < 0:
            return
        with contextlib.suppress(Exception):
            stream.flush()  # what the stream buffered goes first
        mode = os.fstat(self._fd).st_mode
        self._regular = stat.S_ISREG(mode)
        if self._regular or on_full == "block":
            return
        if stat.S_ISSOCK(mode):
            self._sock = socket.socket(fileno=os.dup(self._fd))
            return
        try:
            # A descriptor of our own, so that O_NONBLOCK does not reach the app's stdout.
            self._nb = os.open(f"/proc/self/fd/{self._fd}", os.O_WRONLY | os.O_NONBLOCK)
        except OSError:
            self._nb = -1

    @property
    def nonblocking(self) -> bool:
        """Whether a stalled reader makes lines wait here instead of stalling the caller."""
        return self._nb >= 0 or self._sock is not None

    @property
    def waiting(self) -> int:
        """Bytes buffered for a reader that fell behind."""
        return self._queued

    def write(self, data: bytes, lines: int = 1) -> bool:
        """Write ``data`` (``lines`` whole lines, newlines included); False if it was dropped.

        Several lines go out in one ``write(2)`` when they fit in :data:`PIPE_BUF`
        bytes: a pipe shared by several workers keeps such a write whole.
        """
        if self._fd < 0:
            return self._to_stream(data, lines)
        if not self.nonblocking:
            try:
                if self._regular:
                    self._appender.append(self._fd, data)
                else:
                    _write_all(self._fd, data)
            except OSError:
                return self._dropped(lines)
            return True
        # acquire/release, not `with`: a lock's __exit__ takes the slow call path (~0.2 us).
        lock = self._lock
        lock.acquire()
        try:
            if not self._queue:
                try:
                    n = self._try(data)
                except OSError:
                    return self._dropped(lines)
                if n == len(data):
                    return True
                if n:  # a part went out: the rest must follow, whatever the bound
                    self._enqueue(data[n:])
                    return True
            if self._queued + len(data) > self.limit:
                return self._dropped(lines)
            self._enqueue(data)
            return True
        finally:
            lock.release()

    def _try(self, data: bytes) -> int:
        """Write what fits now; never blocks."""
        try:
            if self._sock is not None:
                return self._sock.send(data, socket.MSG_DONTWAIT)
            return _write(self._nb, data)
        except BlockingIOError:
            return 0

    def _enqueue(self, data: bytes) -> None:
        # Called with the lock held.
        self._queue.append(data)
        self._queued += len(data)
        self._ready.notify_all()  # the thread, not only a drain() waiting
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="bellwatch-stdout", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    self._ready.wait()
                data = self._queue[0]
            self._wait_writable()
            with self._lock:
                try:
                    n = self._try(data)
                except OSError:  # the reader is gone for good: these lines are lost
                    lines = data.count(b"\n")
                    counters.stdout_dropped += lines
                    if self._lost is not None:
                        self._lost(lines)
                    n = len(data)
                if n:
                    self._queued -= n
                    if n == len(data):
                        self._queue.popleft()
                    else:
                        self._queue[0] = data[n:]
                    self._ready.notify_all()

    def _wait_writable(self) -> None:
        fd = self._sock.fileno() if self._sock is not None else self._nb
        with contextlib.suppress(OSError, ValueError):
            select.select([], [fd], [], _WAIT)

    def drain(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the buffered lines to go out (shutdown)."""
        with self._lock:
            return self._ready.wait_for(lambda: not self._queue, timeout)

    def _dropped(self, lines: int = 1) -> bool:
        counters.stdout_dropped += lines
        return False

    def _to_stream(self, data: bytes, lines: int = 1) -> bool:
        stream = self.stream
        try:
            if self._text:
                try:
                    stream.write(data.decode("utf-8"))
                except UnicodeEncodeError:
                    # A non-UTF-8 stdout (PYTHONIOENCODING=ascii): the line is valid
                    # UTF-8 JSON, so write its bytes beneath the text layer.
                    stream.flush()
                    stream.buffer.write(data)  # type: ignore[attr-defined]
            else:
                stream.write(data)
            stream.flush()
        except Exception:
            return self._dropped(lines)
        return True

    def after_fork(self) -> None:
        """In a forked child: the parent writes what it buffered; no thread here yet."""
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._queue = deque()
        self._queued = 0
        self._thread = None

    def close(self) -> None:
        """Close our own descriptor (the stream itself stays open: it is not ours)."""
        nb, self._nb = self._nb, -1
        if nb >= 0 and not self._queue:
            with contextlib.suppress(OSError):
                os.close(nb)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[_write(fd, view) :]


def _fileno(stream: IO[Any]) -> int:
    try:
        fd = stream.fileno()
        os.fstat(fd)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return -1
    return fd


def _is_text(stream: IO[Any]) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.BufferedIOBase | io.RawIOBase):
        return False
    return hasattr(stream, "encoding")
