"""Where lines go: a stream (stdout for the ECS awslogs driver) and a size-rotated file.

A write never raises: a closed stream or a full disk drops that line for that
target and counts it in :func:`bellwatch.stats`.

The file may buffer INFO and DEBUG lines for up to ``log_flush`` seconds and
write them in one ``O_APPEND`` call of whole lines: a write per line was the
largest single cost of a request line under a real server (~9 us of a ~36 us
overhead, measured in bench/middleware.py). A WARNING or worse line is written at
once, together with everything buffered before it, so file order is log order.
A background thread writes out a buffer older than ``log_flush``; exit, fork,
:func:`bellwatch.flush` and :func:`bellwatch.stats` write it out too; a forked child
writes every line at once (it may end with ``os._exit``, which runs no exit handler). Standard
output is never buffered here: several processes share it, and a partial line
from one would interleave with another's.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import threading
import time
from pathlib import Path
from typing import IO, Any

from .._guard import counters
from .deferred import Deferred
from .flusher import Flusher

__all__ = ["RotatingFile", "Sink"]

_BATCH_BYTES = 64 * 1024  # a buffer this large is written at once


class RotatingFile:
    """Append-only JSONL file rotated by size: ``name.jsonl`` -> ``name.jsonl.1`` -> ...

    Several worker processes may share one file: each write is a single
    ``O_APPEND`` call of whole lines, and rotation takes an ``flock`` and re-checks
    the inode so that only one process rotates. With ``flush_interval`` > 0, lines
    wait in a buffer for at most that many seconds (see the module docstring).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        max_bytes: int,
        backups: int,
        flush_interval: float = 0.0,
        flusher: Flusher | None = None,
    ) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.flush_interval = flush_interval
        self._lock = threading.Lock()
        self._buf_lock = threading.Lock()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._pending_counted = 0
        self._since = 0.0  # monotonic time of the oldest buffered line
        # a batch never overshoots a small max_bytes by much
        self._batch_bytes = min(_BATCH_BYTES, max(1, max_bytes // 8))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._ino = -1
        self._size = 0
        self._writes = 0
        self._open()
        self._flusher = flusher
        if flush_interval > 0:
            if flusher is None:
                raise ValueError("a buffered file needs a flusher to write it out")
            flusher.watch(self)

    def _open(self) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        st = os.fstat(fd)
        old, self._fd, self._ino, self._size = self._fd, fd, st.st_ino, st.st_size
        if old >= 0:
            with contextlib.suppress(OSError):
                os.close(old)

    # Other processes' writes are invisible to our own byte count; re-read the file
    # every so many lines so that a shared file still rotates near max_bytes.
    _RECHECK_EVERY = 64

    @property
    def buffered(self) -> bool:
        """Whether :meth:`write` buffers (and then never raises)."""
        return self.flush_interval > 0

    def write(self, data: bytes, urgent: bool = False, counted: int = 0) -> None:
        """Append whole lines: through the buffer, or at once when ``urgent`` or unbuffered.

        Unbuffered, an OS error raises (the sink counts the line dropped). A buffered
        write never raises; ``counted`` is how many of these lines the caller already
        counted as written, moved to dropped if the batch then fails.
        """
        if self.flush_interval <= 0:
            self._append(data)
            return
        with self._buf_lock:
            if not self._pending:
                self._since = time.monotonic()
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._pending_counted += counted
            if urgent or self._pending_bytes >= self._batch_bytes:
                self._write_pending()

    def flush(self) -> None:
        """Write out the buffered lines, if any."""
        if self._pending:
            with self._buf_lock:
                self._write_pending()

    def _write_pending(self) -> None:
        # Called with _buf_lock held.
        pending, counted = self._pending, self._pending_counted
        if not pending:
            return
        self._pending = []
        self._pending_bytes = 0
        self._pending_counted = 0
        try:
            self._append(pending[0] if len(pending) == 1 else b"".join(pending))
        except Exception:
            # Lines the sink counted as written when they were buffered are dropped
            # after all; lines it already counted dropped (a failed stdout) stay so.
            counters.lines_written -= counted
            counters.lines_dropped += counted

    def _append(self, data: bytes) -> None:
        self._writes += 1
        if self._writes % self._RECHECK_EVERY == 0:
            self._recheck()
        if self._size + len(data) > self.max_bytes:
            with self._lock:
                self._roll()
        os.write(self._fd, data)
        self._size += len(data)

    def _recheck(self) -> None:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self._open()
            return
        if st.st_ino != self._ino:
            self._open()
        else:
            self._size = st.st_size

    def _roll(self) -> None:
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is None or st.st_ino != self._ino or st.st_size + 1 < self.max_bytes // 2:
                # another process rotated already (or the file was removed): follow it
                self._open()
                if self._size < self.max_bytes:
                    return
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
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def due(self, now: float) -> bool:
        """Whether the oldest buffered line has waited ``flush_interval`` by ``now`` (monotonic)."""
        return bool(self._pending) and now - self._since >= self.flush_interval

    def after_fork(self) -> None:
        # The parent wrote its buffer before forking; a lock another thread held
        # at that moment would stay locked forever in this child. A forked child
        # (multiprocessing, a prefork server) may end with os._exit, which runs no
        # exit handler: it writes every line at once.
        self._lock = threading.Lock()
        self._buf_lock = threading.Lock()
        self._pending = []
        self._pending_bytes = 0
        self._pending_counted = 0
        self.flush_interval = 0.0


class Sink:
    """The structlog "logger" at the end of the chain: writes finished lines.

    Every method name structlog may call (``info``, ``error``, ...) is ``write``.
    """

    def __init__(
        self,
        stream: IO[Any] | None,
        file: RotatingFile | None = None,
        deferred: Deferred | None = None,
    ) -> None:
        self._stream = stream
        self._text = stream is not None and _is_text(stream)
        self._file = file
        # Requests finished later are finished before any other line, in log order.
        self._deferred = deferred if deferred is not None else Deferred()

    @property
    def stream(self) -> IO[Any] | None:
        """The stream lines are written to (``None``: the file only)."""
        return self._stream

    def write(self, line: bytes | str, urgent: bool = False) -> None:
        """Write one finished line; ``urgent`` (WARNING and worse) skips the file's buffer.

        Queued requests are finished first, so that their lines keep log order.
        """
        deferred = self._deferred
        if deferred.pending:
            deferred.drain()
        data = line if isinstance(line, bytes) else line.encode("utf-8", "replace")
        ok = self._stream is None or self._to_stream(data)
        file = self._file
        if file is not None and file.buffered:
            # Counted now; a batch that fails later moves the counted lines to dropped.
            _count(ok)
            try:
                file.write(data + b"\n", urgent, counted=ok)
            except Exception:  # closed meanwhile: it wrote at once, and failed
                if ok:
                    counters.lines_written -= 1
                    counters.lines_dropped += 1
            return
        if file is not None:
            try:
                file.write(data + b"\n", urgent)
            except Exception:
                ok = False
        _count(ok)

    def write_lines(self, lines: list[bytes]) -> None:
        """Write INFO lines finished together (queued requests): few appends to the file.

        Chunks stay within the file's batch size, so that a small ``log_max_bytes``
        still rotates near its size. A stream still gets one write per line: a
        pipe shared by several workers keeps a write whole only up to 4 KiB.
        """
        file = self._file
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

    def _to_stream(self, data: bytes) -> bool:
        stream = self._stream
        assert stream is not None  # for mypy: write() checked
        try:
            if self._text:
                try:
                    stream.write(data.decode("utf-8") + "\n")
                except UnicodeEncodeError:
                    # A non-UTF-8 stdout (PYTHONIOENCODING=ascii): the line is valid
                    # UTF-8 JSON, so write its bytes beneath the text layer.
                    stream.flush()
                    stream.buffer.write(data + b"\n")  # type: ignore[attr-defined]
            else:
                stream.write(data + b"\n")
            stream.flush()
        except Exception:
            return False
        return True

    def write_urgent(self, line: bytes | str) -> None:
        """:meth:`write` for a WARNING or worse line."""
        self.write(line, urgent=True)

    msg = debug = info = log = write
    warning = warn = error = exception = critical = fatal = write_urgent

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _append_counted(file: RotatingFile, lines: list[bytes]) -> None:
    n = len(lines)
    counters.lines_written += n
    try:
        file.write(b"\n".join(lines) + b"\n", False, counted=n)
    except Exception:  # closed meanwhile: it wrote at once, and failed
        counters.lines_written -= n
        counters.lines_dropped += n


def _count(ok: bool) -> None:
    if ok:
        counters.lines_written += 1
    else:
        counters.lines_dropped += 1


def _is_text(stream: IO[Any]) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.BufferedIOBase | io.RawIOBase):
        return False
    return hasattr(stream, "encoding")
