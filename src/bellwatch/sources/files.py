"""Local JSONL logs: files, directories and globs, rotated and ``.gz`` files, stdin.

The default is what the pipeline writes: ``<log_dir>/*.jsonl*`` (``app.jsonl``,
``app.jsonl.1``, ... and their ``.gz`` copies), read oldest first.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import orjson

from ..schema import F
from ..timeparse import parse_ts
from .base import LOG, LOG_STREAM, MESSAGE, TIMESTAMP, Record, ScanStats, SourceError

__all__ = [
    "STDIN",
    "FileSource",
    "default_pattern",
    "grep_lines",
    "parse_line",
    "resolve_paths",
    "search",
]

STDIN = "-"
_CHUNK = 1 << 20
# Side files the rotating sink keeps next to the logs; never log lines.
_NOT_LOGS = (".lock", ".tmp", ".swp")


def default_pattern(log_dir: str) -> str:
    """The glob that finds the pipeline's own files under ``log_dir``."""
    return os.path.join(log_dir, "*.jsonl*")


def parse_line(raw: bytes) -> dict[str, Any] | None:
    """One line -> its JSON object, or ``None`` for anything else (never raises).

    Banners, tracebacks, truncated lines, arrays, scalars and binary junk are all
    ``None``; the caller counts them as skipped.
    """
    raw = raw.strip()
    if not raw.startswith(b"{"):
        return None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def make_record(event: dict[str, Any], raw: bytes, stream: str, log: str) -> Record:
    """Add the four Insights system fields to a parsed line (in place) and return it."""
    event[TIMESTAMP] = parse_ts(event.get(F.TS))
    event[MESSAGE] = raw.rstrip(b"\r\n").decode("utf-8", "replace")
    event[LOG_STREAM] = stream
    event[LOG] = log
    return event


def _rotation_key(path: Path) -> tuple[str, int]:
    """Sort key: group by base name, oldest rotation first (``.5`` ... ``.1``, then live)."""
    name = path.name.removesuffix(".gz")
    stem, _, last = name.rpartition(".")
    if stem and last.isascii() and last.isdigit():
        return (str(path.parent / stem), -int(last))
    return (str(path.parent / name), 0)


def resolve_paths(specs: Sequence[str], log_dir: str = "logs") -> list[str]:
    """Expand file names, directories and globs to an ordered list of paths (``-`` = stdin).

    No specs means the pipeline's default files. Raises :class:`SourceError` for a
    missing file, an unreadable directory, or a glob that matches nothing.
    """
    if not specs:
        pattern = default_pattern(log_dir)
        found = _files_in(glob.glob(pattern))
        if not found:
            raise SourceError(
                f"no log files match {pattern}: pass files or a glob, '-' for stdin, "
                "or set BELLWATCH_LOG_DIR"
            )
        return found
    out: list[str] = []
    for spec in specs:
        if spec == STDIN:
            out.append(STDIN)
        elif os.path.isdir(spec):
            if not os.access(spec, os.R_OK | os.X_OK):
                raise SourceError(f"cannot read directory {spec}: permission denied")
            found = _files_in(glob.glob(default_pattern(spec)))
            if not found:
                raise SourceError(f"no *.jsonl* files in directory {spec}")
            out.extend(found)
        elif os.path.exists(spec):
            if not os.access(spec, os.R_OK):
                raise SourceError(f"cannot read {spec}: permission denied")
            out.append(spec)
        elif glob.has_magic(spec):
            found = _files_in(glob.glob(spec))
            if not found:
                raise SourceError(f"no files match {spec}")
            out.extend(found)
        else:
            raise SourceError(f"no such file: {spec}")
    return out


def _files_in(paths: list[str]) -> list[str]:
    files = [p for p in paths if os.path.isfile(p) and not p.endswith(_NOT_LOGS)]
    return sorted(files, key=lambda p: _rotation_key(Path(p)))


def open_binary(path: str) -> IO[bytes]:
    """Open a log file (gzip by magic bytes, so renamed files work) or stdin for reading."""
    if path == STDIN:
        return sys.stdin.buffer
    try:
        handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
        if handle.read(2) == b"\x1f\x8b":
            import gzip  # rotated-and-compressed files only: ~1 ms of start-up otherwise

            handle.close()
            return gzip.GzipFile(path, "rb")  # type: ignore[return-value]  # GzipFile is a binary IO
        handle.seek(0)
        return handle
    except OSError as exc:
        raise SourceError(f"cannot read {path}: {exc.strerror or exc}") from None


class FileSource:
    """Local JSONL files (see :func:`resolve_paths`) as a :class:`~bellwatch.sources.Source`."""

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

    def describe(self) -> str:
        """The files or globs given, or the default glob."""
        return " ".join(self.specs) if self.specs else default_pattern(self.log_dir)

    def paths(self) -> list[str]:
        """The resolved paths (resolved once; raises :class:`SourceError`)."""
        if self._paths is None:
            self._paths = resolve_paths(self.specs, self.log_dir)
        return self._paths

    def total_bytes(self) -> int:
        """On-disk size of every file to read (0 for stdin)."""
        total = 0
        for path in self.paths():
            if path != STDIN:
                with contextlib.suppress(OSError):
                    total += os.path.getsize(path)
        return total

    def records(
        self,
        since_ms: int | None = None,
        until_ms: int | None = None,
        *,
        pattern: str | None = None,
    ) -> Iterator[Record]:
        """Yield every record of every file, oldest file first, within the time window."""
        del pattern  # a hint for remote sources; the caller filters
        paths = self.paths()
        self.stats.bytes_total += self.total_bytes()
        for path in paths:
            yield from self._read_file(path, since_ms, until_ms)

    def _read_file(self, path: str, since_ms: int | None, until_ms: int | None) -> Iterator[Record]:
        stats = self.stats
        stats.files += 1
        stream = "stdin" if path == STDIN else os.path.basename(path)
        log = "" if path == STDIN else os.path.dirname(path)
        handle = open_binary(path)
        try:
            for raw in handle:
                stats.lines += 1
                stats.bytes_read += len(raw)
                event = parse_line(raw)
                if event is None:
                    if raw.strip():
                        stats.skipped += 1
                    continue
                record = make_record(event, raw, stream, log)
                if in_window(record[TIMESTAMP], since_ms, until_ms):
                    yield record
        except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
            # a truncated .gz or a file removed mid-read: keep what was read
            stats.skipped += 1
            sys.stderr.write(f"bellwatch: stopped reading {path}: {exc}\n")
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
        """The last ``count`` records that pass ``keep``, oldest first (``tail``).

        Plain files are read backwards from their end, newest file first, and
        reading stops once ``count`` records are found; compressed files and
        stdin are read forwards. Skipped lines are counted for what was read.
        """
        found: list[Record] = []
        if count <= 0:
            return found
        self.stats.bytes_total += self.total_bytes()
        for path in reversed(self.paths()):
            self.stats.files += 1
            stream, log = os.path.basename(path), os.path.dirname(path)
            if path == STDIN or _is_gzip(path):
                self.stats.files -= 1  # _read_file counts it
                lines = [r for r in self._read_file(path, since_ms, until_ms) if keep(r)]
                found.extend(reversed(lines[-(count - len(found)) :]))
            else:
                for raw in _reverse_lines(path, self.stats):
                    self.stats.lines += 1
                    event = parse_line(raw)
                    if event is None:
                        self.stats.skipped += bool(raw.strip())
                        continue
                    record = make_record(event, raw, stream, log)
                    if in_window(record[TIMESTAMP], since_ms, until_ms) and keep(record):
                        found.append(record)
                        if len(found) >= count:
                            break
            if len(found) >= count:
                break
        found.reverse()
        return found

    def run_insights(
        self, query_text: str, since_ms: int | None, until_ms: int | None
    ) -> list[dict[str, Any]] | None:
        """Files have no server side: ``None`` tells the CLI to run the query locally."""
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
        """Yield lines appended from now on, across rotation and truncation, until ``stop()``."""
        del pattern
        if self.specs == (STDIN,):
            return self._read_file(STDIN, since_ms, None)
        # Positions are taken now, not at the first next(): lines written from here on count.
        return _follow_loop(_Follower(self, since_ms), poll_interval, stop)


def _follow_loop(
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


def _reverse_lines(path: str, stats: ScanStats) -> Iterator[bytes]:
    """Lines of a plain file from last to first, reading blocks from the end."""
    with open(path, "rb") as handle:
        pos = handle.seek(0, os.SEEK_END)
        carry = b""
        while pos > 0:
            step = min(_CHUNK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step)
            stats.bytes_read += len(block)
            lines = (block + carry).split(b"\n")
            carry = lines[0]  # may be the end of a line that starts in the previous block
            yield from reversed(lines[1:])
        yield carry


def in_window(ts: int | None, since_ms: int | None, until_ms: int | None) -> bool:
    """Whether a record's time falls in ``[since, until)``; records without a time pass
    only when no window is set."""
    if since_ms is None and until_ms is None:
        return True
    if ts is None:
        return False
    return (since_ms is None or ts >= since_ms) and (until_ms is None or ts < until_ms)


class _Tracked:
    __slots__ = ("handle", "ino", "partial")

    def __init__(self, handle: IO[bytes], ino: int) -> None:
        self.handle = handle
        self.ino = ino
        self.partial = b""


class _Follower:
    """``tail -F`` over the live files: start at their end, reopen on rotation or truncation."""

    def __init__(self, source: FileSource, since_ms: int | None) -> None:
        self.source = source
        self.since_ms = since_ms
        self.tracked: dict[str, _Tracked] = {}
        for path in self._live_paths():
            self._open(path, at_end=True)

    def _live_paths(self) -> list[str]:
        # Rotated copies (.1, .gz) never grow; only the live names are followed.
        try:
            paths = resolve_paths(self.source.specs, self.source.log_dir)
        except SourceError:
            return []
        return [p for p in paths if _rotation_key(Path(p))[1] == 0 and not p.endswith(".gz")]

    def _open(self, path: str, *, at_end: bool) -> None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open across polls, closed on rotation
        except OSError:
            return
        if at_end:
            handle.seek(0, os.SEEK_END)
        self.tracked[path] = _Tracked(handle, os.fstat(handle.fileno()).st_ino)

    def close(self) -> None:
        for tracked in self.tracked.values():
            tracked.handle.close()
        self.tracked.clear()

    def poll(self) -> Iterator[Record]:
        for path in self._live_paths():
            if path not in self.tracked:
                self._open(path, at_end=False)  # a file created after we started
        for path, tracked in list(self.tracked.items()):
            yield from self._drain(path, tracked)
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
                    yield from self._drain(path, self.tracked[path])
            elif st.st_size < tracked.handle.tell():
                tracked.handle.seek(0)  # truncated in place (copytruncate)
                tracked.partial = b""
                yield from self._drain(path, tracked)

    def _drain(self, path: str, tracked: _Tracked) -> Iterator[Record]:
        stats = self.source.stats
        stream, log = os.path.basename(path), os.path.dirname(path)
        while chunk := tracked.handle.read(_CHUNK):
            stats.bytes_read += len(chunk)
            data = tracked.partial + chunk
            lines = data.split(b"\n")
            tracked.partial = lines.pop()  # an unfinished last line waits for its newline
            for raw in lines:
                stats.lines += 1
                event = parse_line(raw)
                if event is None:
                    if raw.strip():
                        stats.skipped += 1
                    continue
                record = make_record(event, raw, stream, log)
                if in_window(record[TIMESTAMP], self.since_ms, None):
                    yield record


def search(paths: Sequence[str], needle: bytes) -> Iterator[tuple[str, bytes]]:
    """``(path, line)`` for every line of ``paths`` containing ``needle`` (the ``trace`` fast path).

    Plain files go to ``rg -F`` (or GNU ``grep -F``) in one call when installed:
    their vectorised search is several times faster than Python's. Compressed
    files, stdin, and machines without either tool use :func:`grep_lines`.
    """
    plain = [p for p in paths if p != STDIN and not _is_gzip(p)]
    tool = _search_tool()
    found: dict[str, list[bytes]] = {}
    if tool is not None and plain and b"\0" not in needle and b"\n" not in needle:
        import subprocess

        proc = subprocess.run(  # noqa: S603 - fixed tool, needle passed as one argument
            [*tool, needle, "--", *plain], capture_output=True, check=False
        )
        if proc.returncode in (0, 1):
            for hit in proc.stdout.split(b"\n"):
                name, sep, raw = hit.partition(b"\0")
                if sep:
                    found.setdefault(os.fsdecode(name), []).append(raw)
        else:
            tool = None  # the tool failed (odd file, old version): search in Python
    for path in paths:
        if tool is not None and path in plain:
            yield from ((path, raw) for raw in found.get(path, ()))
        else:
            yield from ((path, raw) for raw in grep_lines(path, needle))


def _search_tool() -> list[str | bytes] | None:
    import shutil

    if rg := shutil.which("rg"):
        return [
            rg,
            "--no-config",
            "-F",
            "-a",
            "--null",
            "--with-filename",
            "--no-line-number",
            "--no-heading",
            "--color",
            "never",
            "-e",
        ]
    if grep := shutil.which("grep"):
        return [grep, "-F", "-a", "-Z", "-H", "-e"]
    return None


def _is_gzip_handle(handle: IO[bytes]) -> bool:
    gzip = sys.modules.get("gzip")  # imported by open_binary when it opened one
    return gzip is not None and isinstance(handle, gzip.GzipFile)


def _is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def grep_lines(path: str, needle: bytes) -> Iterator[bytes]:
    """Lines of ``path`` containing ``needle``, found with a memory-mapped byte search.

    The fast path of ``trace``: no line is parsed unless it contains the id.
    Compressed files and stdin are scanned line by line instead.
    """
    import mmap

    if path == STDIN or not needle:
        with _maybe_close(open_binary(path), path) as handle:
            yield from (raw.rstrip(b"\r\n") for raw in handle if needle in raw)
        return
    with _maybe_close(open_binary(path), path) as handle:
        if _is_gzip_handle(handle):
            yield from (raw.rstrip(b"\r\n") for raw in handle if needle in raw)
            return
        if os.fstat(handle.fileno()).st_size == 0:
            return
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            pos = data.find(needle)
            while pos >= 0:
                start = data.rfind(b"\n", 0, pos) + 1
                end = data.find(b"\n", pos)
                end = len(data) if end < 0 else end
                yield data[start:end]
                pos = data.find(needle, end)


class _maybe_close:
    """Close a handle on exit unless it is stdin."""

    def __init__(self, handle: IO[bytes], path: str) -> None:
        self.handle, self.path = handle, path

    def __enter__(self) -> IO[bytes]:
        return self.handle

    def __exit__(self, *exc: object) -> None:
        if self.path != STDIN:
            self.handle.close()
