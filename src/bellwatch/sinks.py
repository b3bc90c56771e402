"""Where lines go: a stream (stdout for the ECS awslogs driver) and a size-rotated file.

A write never raises: a closed stream or a full disk drops that line for that
target and counts it in :func:`bellwatch.stats`.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import threading
from pathlib import Path
from typing import IO, Any

from ._guard import counters

__all__ = ["RotatingFile", "Sink"]


class RotatingFile:
    """Append-only JSONL file rotated by size: ``name.jsonl`` -> ``name.jsonl.1`` -> ...

    Several worker processes may share one file: each line is a single
    ``O_APPEND`` write, and rotation takes an ``flock`` and re-checks the inode so
    that only one process rotates.
    """

    def __init__(self, path: str | os.PathLike[str], max_bytes: int, backups: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = -1
        self._ino = -1
        self._size = 0
        self._writes = 0
        self._open()

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

    def write(self, data: bytes) -> None:
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
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


class Sink:
    """The structlog "logger" at the end of the chain: writes finished lines.

    Every method name structlog may call (``info``, ``error``, ...) is ``write``.
    """

    def __init__(self, stream: IO[Any] | None, file: RotatingFile | None = None) -> None:
        self._stream = stream
        self._text = stream is not None and _is_text(stream)
        self._file = file

    def write(self, line: bytes | str) -> None:
        data = line if isinstance(line, bytes) else line.encode("utf-8", "replace")
        ok = True
        if self._stream is not None:
            try:
                if self._text:
                    try:
                        self._stream.write(data.decode("utf-8") + "\n")
                    except UnicodeEncodeError:
                        # A non-UTF-8 stdout (PYTHONIOENCODING=ascii): the line is valid
                        # UTF-8 JSON, so write its bytes beneath the text layer.
                        self._stream.flush()
                        self._stream.buffer.write(data + b"\n")  # type: ignore[attr-defined]
                else:
                    self._stream.write(data + b"\n")
                self._stream.flush()
            except Exception:
                ok = False
        if self._file is not None:
            try:
                self._file.write(data + b"\n")
            except Exception:
                ok = False
        if ok:
            counters.lines_written += 1
        else:
            counters.lines_dropped += 1

    msg = debug = info = warning = warn = error = exception = critical = fatal = log = write

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def _is_text(stream: IO[Any]) -> bool:
    if isinstance(stream, io.TextIOBase):
        return True
    if isinstance(stream, io.BufferedIOBase | io.RawIOBase):
        return False
    return hasattr(stream, "encoding")
