"""A buffered log file for the tests of the file and the sink in front of it."""

from __future__ import annotations

from pathlib import Path

from bellwatch._runtime import runtime
from bellwatch.log.logfile import RotatingFile


def buffered(
    path: Path | str,
    *,
    max_bytes: int = 1 << 20,
    backups: int = 1,
    flush_interval: float = 60,
) -> RotatingFile:
    """A :class:`RotatingFile` whose lines wait in its buffer (a minute, by default), written
    out by the runtime's flusher, ``runtime.flush()`` or an urgent line."""
    return RotatingFile(
        path,
        max_bytes=max_bytes,
        backups=backups,
        flush_interval=flush_interval,
        flusher=runtime.flusher,
    )
