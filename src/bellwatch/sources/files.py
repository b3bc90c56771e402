"""Local logs as a :class:`~.base.Source`: files, directories and globs, rotated and ``.gz``
files, stdin.

The default is what the pipeline writes: ``<log_dir>/*.jsonl*`` (``app.jsonl``,
``app.jsonl.1``, ... and their ``.gz`` copies), read oldest first, every line through
:mod:`.reader`. A file that cannot be read, or stops part way (a truncated ``.gz``), is
named in :attr:`ScanStats.skipped_sources` and the rest is read; only when nothing at
all can be read is it a :class:`SourceError`.
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._follow import follow_files
from ._paths import (
    READ_ERRORS,
    STDIN,
    default_pattern,
    is_gzip,
    open_binary,
    resolve,
    reverse_lines,
    stopped,
)
from ._search import containing, correlated
from .base import TIMESTAMP, Record, ScanStats, SourceError, TextRecord
from .reader import StreamReader, in_window, lines_of

__all__ = ["STDIN", "FileSource"]


class FileSource:
    """Local JSONL files (see :func:`._paths.resolve`) as a :class:`~.base.Source`."""

    def __init__(
        self,
        specs: Sequence[str] = (),
        log_dir: str = "logs",
        *,
        cache_dir: str | None = None,
        use_cache: bool = True,
    ) -> None:
        self.specs = tuple(specs)
        self.log_dir = log_dir
        self.cache_dir = cache_dir
        """Where the reports keep their cache (default ``~/.cache/bellwatch``)."""
        self.use_cache = use_cache
        """Whether the reports may read and write that cache."""
        self.stats = ScanStats()
        self._paths: list[str] | None = None
        self._readable = 0

    def describe(self) -> str:
        """The files or globs given, or the default glob."""
        return " ".join(self.specs) if self.specs else default_pattern(self.log_dir)

    def paths(self) -> list[str]:
        """The paths to read (resolved once; the ones set aside go to ``stats``).

        Raises:
            SourceError: nothing at all can be read.
        """
        if self._paths is None:
            found = resolve(self.specs, self.log_dir)
            for name, why in found.problems:
                self.stats.skip_source(name, why)
            self._paths = found.paths
        return self._paths

    def total_bytes(self) -> int:
        """On-disk size of every file to read (0 for stdin)."""
        total = 0
        for path in self.paths():
            if path != STDIN:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(path)
        return total

    def readable(self, path: str) -> None:
        """Note that ``path`` gave something (see :meth:`check_readable`)."""
        del path
        self._readable += 1

    def check_readable(self) -> None:
        """Raise when every source failed: exit 2 with one message, not an empty answer.

        Raises:
            SourceError: naming what could not be read and why.
        """
        if self._readable == 0 and self.stats.skipped_sources:
            if len(self.stats.skipped_sources) == 1:
                raise SourceError(f"cannot read {self.stats.skipped_sources[0]}")
            raise SourceError("nothing could be read: " + "; ".join(self.stats.skipped_sources))

    def records(
        self,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> Iterator[Record]:
        """Every event of every file, oldest file first, within the time window."""
        del pattern  # a hint for remote sources; the caller filters
        paths = self.paths()
        self.stats.bytes_total += self.total_bytes()
        for path in paths:
            yield from self.read_file(path, since_ms, until_ms)
        self.check_readable()

    def read_file(
        self, path: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[Record]:
        """The events of one file (or stdin) in the window; a failure part way is noted in
        ``stats`` and ends the file, keeping what was read."""
        stats = self.stats
        try:
            handle = open_binary(path)
        except OSError as exc:
            stats.skip_source(path, exc.strerror or str(exc))
            return
        stats.files += 1
        reader = StreamReader(*_names(path), stats)
        lines = 0
        try:
            for line in lines_of(handle):
                if not lines:
                    self.readable(path)
                lines += 1
                stats.bytes_read += len(line) + 1
                record = reader.event(line)
                if record is not None and in_window(record[TIMESTAMP], since_ms, until_ms):
                    yield record
            if not lines:
                self.readable(path)  # an empty file is read, not skipped
        except READ_ERRORS as exc:
            stats.skip_source(path, stopped(lines, exc))
        finally:
            if path != STDIN:
                handle.close()

    def latest(
        self,
        count: int,
        keep: Callable[[Record], bool] = lambda _r: True,
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> list[Record]:
        """The last ``count`` events that pass ``keep``, oldest first (``tail``).

        Plain files are read backwards from their end, newest file first, until ``count``
        events are found; compressed files and stdin are read forwards.
        """
        found: list[Record] = []
        if count <= 0:
            return found
        self.stats.bytes_total += self.total_bytes()
        for path in reversed(self.paths()):
            want = count - len(found)
            if path == STDIN or is_gzip(path):
                last: collections.deque[Record] = collections.deque(maxlen=want)
                last.extend(r for r in self.read_file(path, since_ms, until_ms) if keep(r))
                found.extend(reversed(last))
            else:
                found.extend(self._latest_plain(path, want, keep, since_ms, until_ms))
            if len(found) >= count:
                break
        self.check_readable()
        found.reverse()
        return found

    def _latest_plain(
        self,
        path: str,
        want: int,
        keep: Callable[[Record], bool],
        since_ms: int | None,
        until_ms: int | None,
    ) -> list[Record]:
        """Up to ``want`` events of one plain file, newest first, read from its end.

        A text event's time is that of the structured event before it, which reading
        backwards meets later: events wait in ``pending`` until it is known.
        """
        out: list[Record] = []
        pending: list[Record] = []
        reader = StreamReader(*_names(path), self.stats)

        def consider(record: Record) -> None:
            if in_window(record[TIMESTAMP], since_ms, until_ms) and keep(record):
                out.append(record)

        def settle(ts: int | None) -> None:
            for record in pending:
                if isinstance(record, TextRecord):
                    record[TIMESTAMP] = ts
                consider(record)
            pending.clear()

        first = True
        try:
            for line in reverse_lines(path, self.stats):
                if first:
                    first = False
                    self.readable(path)
                record = reader.event(line)
                if record is None:
                    continue
                if isinstance(record, TextRecord) or (pending and record[TIMESTAMP] is None):
                    pending.append(record)  # waits (in order) for a time from further back
                    continue
                if record[TIMESTAMP] is not None:
                    settle(record[TIMESTAMP])
                consider(record)
                if len(out) >= want:
                    break
            settle(None)  # the file's first events: nothing before them has a time
        except OSError as exc:
            self.stats.skip_source(path, stopped(0 if first else 1, exc))
        self.stats.files += 1
        return out[:want]

    def correlated(
        self, cid: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[Record]:
        """The events of one correlation id (``trace``): its structured events and the text
        events that mention it, file by file in order."""
        return correlated(self, cid, since_ms, until_ms)

    def containing(
        self,
        text: str,
        keep: Callable[[Record], bool],
        since_ms: int | None = None,
        until_ms: int | None = None,
    ) -> Iterator[Record]:
        """The events whose line holds ``text`` and that pass ``keep`` (an error's lines by
        its hash), found with ``rg``/``grep`` when installed, file by file in order."""
        return containing(self, text, keep, since_ms, until_ms)

    def run_insights(
        self, query_text: str, since_ms: int | None, until_ms: int | None
    ) -> list[dict[str, Any]] | None:
        """Files have no server side: ``None`` tells the caller to run the query locally."""
        del query_text, since_ms, until_ms
        return None

    def follow(
        self,
        since_ms: int | None = None,
        *,
        pattern: str | None = None,
        poll_interval: float = 1.0,
        stop: Callable[[], bool] | None = None,
    ) -> Iterator[Record]:
        """Events appended from now on, across rotation and truncation, until ``stop()``."""
        del pattern
        if self.specs == (STDIN,):
            return self.read_file(STDIN, since_ms, None)
        return follow_files(self, since_ms, poll_interval, stop)


def _names(path: str) -> tuple[str, str]:
    """``@logStream`` and ``@log`` of a path: the file name and its directory."""
    if path == STDIN:
        return "stdin", ""
    return os.path.basename(path), os.path.dirname(path)
