"""The log file: append-only JSONL rotated by size, shared by processes, buffered.

The file may buffer INFO and DEBUG lines for up to ``log_flush`` seconds and
write them in one ``O_APPEND`` call of whole lines: a write per line was the
largest single cost of a request line under a real server (~9 us of a ~36 us
overhead, measured in bench/middleware.py). A WARNING or worse line is written at
once, together with everything buffered before it, so file order is log order.
The flusher thread (:mod:`bellwatch.log.flusher`) writes out a buffer before it is
older than ``log_flush``; exit, fork, :func:`bellwatch.flush` and
:func:`bellwatch.stats` write it out too; a forked child writes every line at once
(it may end with ``os._exit``, which runs no exit handler), and so does a process
once its shutdown has begun (a signal's default action may end it next).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import threading
import time
from pathlib import Path

from .._guard import counters
from .deferred import Deferred
from .flusher import Flusher
from .outlet import BUFFER_BYTES, Appender, PartialWrite

__all__ = ["RotatingFile", "lost_lines"]

_BATCH_BYTES = 64 * 1024  # a buffer this large is written at once


class RotatingFile:
    """Append-only JSONL file rotated by size: ``name.jsonl`` -> ``name.jsonl.1`` -> ...

    Several processes may share one file. Every append holds an ``flock`` on
    ``name.jsonl.lock`` and checks, under it, that the path is still the file it
    has open (else it reopens) and how large that file is now (others' lines
    included): one process rotates at a time, nobody writes into a rotated or
    deleted file, and no file grows past ``max_bytes`` (a batch that does not fit is
    cut at line ends; only a single longer line gets a larger file of its own). Each
    append is one ``O_APPEND`` call of whole lines; one that cannot be completed
    (a full disk) leaves no fragment for the next line to join
    (:class:`~bellwatch.log.outlet.Appender`).

    With ``flush_interval`` > 0, lines wait in a buffer for at most that long (see
    the module docstring). A thread that finds another one writing (a slow disk)
    leaves its lines in the buffer rather than waiting; past ``limit`` buffered
    bytes, new lines are dropped and counted (``on_full="drop"``) or wait
    (``on_full="block"``).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int,
        backups: int,
        flush_interval: float = 0.0,
        flusher: Flusher | None = None,
        *,
        on_full: str = "drop",
        limit: int = BUFFER_BYTES,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.flush_interval = flush_interval
        self.on_full = on_full
        self.limit = limit
        # Past this many buffered bytes a new line is dropped (never, when blocking).
        self._drop_above = limit if on_full == "drop" else float("inf")
        self._io = threading.Lock()  # one thread appends at a time (the flock is per process)
        self._buf_lock = threading.Lock()
        # Lines are copied into one bytearray, not kept as bytes objects: orjson's output
        # lives outside Python's small-object allocator, and hundreds of them freed at
        # once made glibc hand memory back to the system and fault it in again (~1.5 us
        # a line in bench/logging_hotpath.py).
        # The buffer is never replaced: add() appends to it without a lock (one
        # bytearray += is atomic under the GIL, and under free threading the object's
        # own lock makes it so), while the writer copies out what it found and deletes
        # exactly that much, so a line appended meanwhile stays for the next batch.
        self._buf = bytearray()
        self._uncounted = 0  # buffered lines the caller did not count written
        self._urgent = False
        self._since = 0.0  # monotonic time of the oldest buffered line
        # a batch never overshoots a small max_bytes by much
        self._batch_bytes = min(_BATCH_BYTES, max(1, max_bytes // 8))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._appender = Appender()
        self._fd = -1
        self._ino = -1
        self._lock_fd = -1
        self._writes = 0
        self._open()
        # Only a regular file rotates (and needs the lock): not /dev/null, not a FIFO.
        self._rotates = stat.S_ISREG(os.fstat(self._fd).st_mode)
        if self._rotates:
            self._open_lock()
        self._flusher = flusher
        # The queue of requests finished later: drained before a line is added (add()).
        self.deferred = flusher.deferred if flusher is not None else Deferred()
        if flush_interval > 0:
            if flusher is None:
                raise ValueError("a buffered file needs a flusher to write it out")
            flusher.watch(self)

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        old, self._fd, self._ino = self._fd, fd, os.fstat(fd).st_ino
        self._appender = Appender()  # a fragment in the old file is not this file's
        if old >= 0:
            with contextlib.suppress(OSError):
                os.close(old)

    def _open_lock(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        old, self._lock_fd = self._lock_fd, os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        if old >= 0:
            with contextlib.suppress(OSError):
                os.close(old)

    @property
    def buffered(self) -> bool:
        """Whether :meth:`write` buffers (and then never raises)."""
        return self.flush_interval > 0

    def write(self, data: bytes, urgent: bool = False, counted: int = 0) -> None:
        """Append whole lines: through the buffer, or at once when ``urgent`` or unbuffered.

        Unbuffered, an OS error raises (the sink counts the line dropped). A buffered
        write never raises; ``counted`` is how many of these lines the caller already
        counted as written, moved to dropped if they are then not written.
        """
        if self.flush_interval <= 0:
            with self._io:
                self._append(data)
            return
        # acquire/release, not `with`: a lock's __exit__ takes the slow call path (~0.2 us).
        lock = self._buf_lock
        lock.acquire()
        try:
            buf = self._buf
            if len(buf) + len(data) > self._drop_above:
                full = None  # a writer is stuck: drop, never wait
            else:
                if not buf:
                    self._since = time.monotonic()
                buf += data
                self._uncounted += data.count(b"\n") - counted
                if urgent:
                    self._urgent = True
                full = urgent or len(buf) >= self._batch_bytes
        finally:
            lock.release()
        if full is None:
            lost_lines(data.count(b"\n"), counted)
        elif full:
            self._write_now()

    def add(self, data: bytes) -> None:
        """One INFO line, whole, when this buffered file is its sink's only target.

        What the sink would do, in one call (the logger's hot path): finish the
        queued requests first (log order), count the line written, buffer it.
        """
        deferred = self.deferred
        if deferred.pending:
            deferred.drain()
        if self.flush_interval <= 0:  # closed since: it writes at once, and fails
            try:
                self.write(data)
            except Exception:
                counters.file_dropped += 1
                counters.lines_dropped += 1
                return
            counters.lines_written += 1
            return
        counters.lines_written += 1
        # No lock: see __init__. A race on _since only makes a batch go out sooner.
        buf = self._buf
        if len(buf) + len(data) > self._drop_above:
            lost_lines(1, 1)
            return
        if not buf:
            self._since = time.monotonic()
        buf += data
        if len(buf) >= self._batch_bytes:
            self._write_now()

    def _write_now(self) -> None:
        # Written now, unless another thread is writing (maybe stuck on a slow disk):
        # then that thread, or the next tick, writes these lines too.
        if self._io.acquire(blocking=self.on_full == "block"):
            try:
                self._write_out()
            finally:
                self._io.release()

    def flush(self) -> None:
        """Write out the buffered lines, if any; returns once they are written.

        Also waits for a write in progress: the flusher thread may have taken the
        buffer already, and a process that exits right after (``stats()``, then exit)
        would lose what that thread had not yet written.
        """
        if self._buf or self._io.locked():
            with self._io:
                self._write_out()

    def _write_out(self) -> None:
        # Called with _io held; loops while urgent lines arrived during the write.
        while True:
            with self._buf_lock:
                buf = self._buf
                taken = len(buf)
                data = buf[:taken]  # a copy: add() goes on appending to buf meanwhile
                del buf[:taken]
                uncounted, self._uncounted = self._uncounted, 0
                self._urgent = False
            if not data:
                return
            try:
                self._append(data)
            except PartialWrite as exc:
                lines = data.count(b"\n")
                lost_lines(lines - exc.kept, lines - uncounted)
            except Exception:
                lines = data.count(b"\n")
                lost_lines(lines, lines - uncounted)
            if not self._urgent:
                return

    def _append(self, data: bytes | bytearray) -> None:
        # Called with _io held. Under the flock: still our file? its size? rotate? append.
        self._writes += 1
        if not self._rotates:
            self._appender.append(self._fd, data)
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is None or st.st_ino != self._ino:
                self._open()  # another process rotated it, or it was removed
                size = os.fstat(self._fd).st_size
            else:
                size = st.st_size
            self._fill(data, size)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _fill(self, data: bytes | bytearray, size: int) -> None:
        # Called with the flock held; the file holds ``size`` bytes. A batch that does
        # not fit is cut at line ends, rolling between the pieces: however long a
        # batch grew (a process paused, a writer stuck behind a slow disk), a file
        # ends within one line of max_bytes. Only a single line longer than
        # max_bytes makes a file of its own that is larger.
        kept = 0
        while size + len(data) > self.max_bytes:
            end = data.rfind(b"\n", 0, max(self.max_bytes - size, 0)) + 1
            if not end and not size:  # one line longer than a whole file: alone
                end = data.find(b"\n") + 1 or len(data)
            if end:
                try:
                    self._appender.append(self._fd, data[:end])
                except PartialWrite as exc:
                    exc.kept += kept
                    raise
                kept += data.count(b"\n", 0, end)
                data = data[end:]
            self._roll()
            size = 0
            if not data:
                return
        try:
            self._appender.append(self._fd, data)
        except PartialWrite as exc:
            exc.kept += kept
            raise

    def _roll(self) -> None:
        # Called with the flock held.
        for i in range(self.backups - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{i}")
            if src.exists():
                os.replace(src, self.path.with_name(f"{self.path.name}.{i + 1}"))
        if self.backups > 0:
            os.replace(self.path, self.path.with_name(f"{self.path.name}.1"))
        else:
            self.path.unlink(missing_ok=True)
        self._open()

    def close(self) -> None:
        self.flush()
        if self._flusher is not None:
            self._flusher.forget(self)
        # A logger bound before a reconfigure may still hold this file: its later
        # lines now fail at once (and are counted dropped) instead of waiting forever.
        self.flush_interval = 0.0
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            setattr(self, name, -1)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def write_through(self) -> None:
        """Write out the buffer, then every later line at once (the process is ending).

        The flusher still watches this file, so a line another thread was adding
        meanwhile goes out on its next tick.
        """
        self.flush_interval = 0.0
        self.flush()

    def due(self, now: float) -> bool:
        """Whether the oldest buffered line has waited ``flush_interval`` by ``now`` (monotonic)."""
        return bool(self._buf) and now - self._since >= self.flush_interval

    def after_fork(self) -> None:
        # The parent wrote its buffer before forking; a lock another thread held
        # at that moment would stay locked forever in this child. A forked child
        # (multiprocessing, a prefork server) may end with os._exit, which runs no
        # exit handler: it writes every line at once. Its flock needs a lock file
        # description of its own: the inherited one is shared with the parent.
        self._io = threading.Lock()
        self._buf_lock = threading.Lock()
        self._buf = bytearray()
        self._uncounted = 0
        self.flush_interval = 0.0
        if self._lock_fd >= 0:
            with contextlib.suppress(OSError):
                self._open_lock()


def lost_lines(lines: int, counted: int) -> None:
    """``lines`` never reached the file; ``counted`` of them had been counted written."""
    counted = min(counted, lines)
    counters.file_dropped += lines
    counters.lines_written -= counted
    counters.lines_dropped += counted
