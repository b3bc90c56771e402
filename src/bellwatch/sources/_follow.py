"""``tail -F`` over the live log files: start at their end, reopen on rotation or truncation."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Protocol

from ._paths import resolve, rotation_key
from .base import TIMESTAMP, Record, ScanStats, SourceError
from .reader import StreamReader, in_window

__all__ = ["follow_files"]

_CHUNK = 1 << 20


class Followed(Protocol):
    """What following needs of a file source: its specs, log directory and counters."""

    specs: tuple[str, ...]
    log_dir: str
    stats: ScanStats


def follow_files(
    source: Followed,
    since_ms: int | None,
    poll_interval: float,
    stop: Callable[[], bool] | None,
) -> Iterator[Record]:
    """Events appended to ``source``'s live files from now on, until ``stop()``."""
    # Positions are taken now, not at the first next(): lines written from here on count.
    follower = _Follower(source, since_ms)
    return _loop(follower, poll_interval, stop)


def _loop(
    follower: _Follower, poll_interval: float, stop: Callable[[], bool] | None
) -> Iterator[Record]:
    try:
        while True:
            yield from follower.poll()
            if stop is not None and stop():
                return
            time.sleep(poll_interval)
    finally:
        follower.close()


class _Tracked:
    __slots__ = ("handle", "ino", "partial", "reader")

    def __init__(self, handle: IO[bytes], ino: int, reader: StreamReader) -> None:
        self.handle = handle
        self.ino = ino
        self.partial = b""
        self.reader = reader


class _Follower:
    """The live files' handles, what each has read so far, and its unfinished last line."""

    def __init__(self, source: Followed, since_ms: int | None) -> None:
        self.source = source
        self.since_ms = since_ms
        self.tracked: dict[str, _Tracked] = {}
        for path in self._live_paths():
            self._open(path, at_end=True)

    def _live_paths(self) -> list[str]:
        # Rotated copies (.1, .gz) never grow; only the live names are followed.
        try:
            paths = resolve(self.source.specs, self.source.log_dir).paths
        except SourceError:
            return []
        return [p for p in paths if rotation_key(Path(p))[1] == 0 and not p.endswith(".gz")]

    def _open(self, path: str, *, at_end: bool) -> None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open across polls, closed on rotation
        except OSError:
            return
        if at_end:
            handle.seek(0, os.SEEK_END)
        reader = StreamReader(os.path.basename(path), os.path.dirname(path), self.source.stats)
        self.tracked[path] = _Tracked(handle, os.fstat(handle.fileno()).st_ino, reader)

    def close(self) -> None:
        for tracked in self.tracked.values():
            tracked.handle.close()
        self.tracked.clear()

    def poll(self) -> Iterator[Record]:
        for path in self._live_paths():
            if path not in self.tracked:
                self._open(path, at_end=False)  # a file created after we started
        for path, tracked in list(self.tracked.items()):
            yield from self._drain(tracked)
            try:
                st = os.stat(path)
            except OSError:
                st = None
            if st is None or st.st_ino != tracked.ino:
                # rotated away: what was left in the old file was drained above
                tracked.handle.close()
                del self.tracked[path]
                if st is not None:
                    self._open(path, at_end=False)
                    yield from self._drain(self.tracked[path])
            elif st.st_size < tracked.handle.tell():
                tracked.handle.seek(0)  # truncated in place (copytruncate)
                tracked.partial = b""
                yield from self._drain(tracked)

    def _drain(self, tracked: _Tracked) -> Iterator[Record]:
        stats = self.source.stats
        while chunk := tracked.handle.read(_CHUNK):
            stats.bytes_read += len(chunk)
            lines = (tracked.partial + chunk).split(b"\n")
            tracked.partial = lines.pop()  # an unfinished last line waits for its newline
            for line in lines:
                record = tracked.reader.event(line)
                if record is not None and in_window(record[TIMESTAMP], self.since_ms, None):
                    yield record
