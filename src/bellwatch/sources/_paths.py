"""Which local files a command reads: names, directories and globs, in rotation order.

A path that cannot be read (a broken symbolic link, a link loop, a directory or FIFO
under a log name, no permission) is set aside with the reason, never fatal on its own:
the caller reads the rest and says what it skipped. Only when nothing is left to read
is it an error.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import sys
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from .base import ScanStats, SourceError
from .reader import BOM

__all__ = [
    "READ_ERRORS",
    "STDIN",
    "GzipLines",
    "Lines",
    "NoLogsYet",
    "Resolved",
    "default_pattern",
    "is_gzip",
    "no_files_message",
    "open_binary",
    "resolve",
    "reverse_lines",
    "rotation_key",
    "stopped",
]

_CHUNK = 1 << 20

STDIN = "-"
# Side files the rotating sink keeps next to the logs; never log lines.
_NOT_LOGS = (".lock", ".tmp", ".swp")


_ABSENT = frozenset({"no such file", "no files match", "no *.jsonl* files in this directory"})
"""Reasons that mean "nothing written there yet", as opposed to something unreadable."""


class NoLogsYet(SourceError):
    """Nothing to read because no log file exists yet where the source looks (no file, an
    empty directory, a glob matching nothing), as opposed to files that cannot be read.

    A long-running reader (``bellwatch mcp``) starts all the same and answers "no log
    records yet"; a one-shot command reports it like any other :class:`SourceError`.
    """


def default_pattern(log_dir: str) -> str:
    """The glob that finds the pipeline's own files under ``log_dir``."""
    return os.path.join(log_dir, "*.jsonl*")


def no_files_message(pattern: str) -> str:
    """What to say when the default files do not exist: how to get some, or read others."""
    return (
        f"no log files match {pattern}. The local file is off by default: set "
        "BELLWATCH_LOG_FILE=1 in the service (or BELLWATCH_LOG_DIR to where it writes), "
        "pipe its stdout in with '-l -', pass files with -l, or read CloudWatch with "
        "--log-group NAME"
    )


@dataclass
class Resolved:
    """The files to read, in order, and the paths set aside with their reason."""

    paths: list[str] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)


def rotation_key(path: Path) -> tuple[str, int]:
    """Sort key: group by base name, oldest rotation first (``.5`` ... ``.1``, then live)."""
    name = path.name.removesuffix(".gz")
    stem, _, last = name.rpartition(".")
    if stem and last.isascii() and last.isdigit():
        return (str(path.parent / stem), -int(last))
    return (str(path.parent / name), 0)


def resolve(specs: Sequence[str], log_dir: str = "logs") -> Resolved:
    """Expand file names, directories and globs to an ordered list of paths (``-`` = stdin).

    No specs means the pipeline's default files. Raises :class:`SourceError` when
    nothing is left to read, with the one reason that matters.
    """
    out = Resolved()
    if not specs:
        pattern = default_pattern(log_dir)
        _add_matches(out, glob.glob(pattern))
        if not out.paths:
            raise _nothing_error(out, no_files_message(pattern))
        return out
    for spec in specs:
        if spec == STDIN:
            out.paths.append(STDIN)
        elif os.path.isdir(spec):
            if not os.access(spec, os.R_OK | os.X_OK):
                out.problems.append((spec, "cannot read directory: permission denied"))
                continue
            before = len(out.paths) + len(out.problems)
            _add_matches(out, glob.glob(default_pattern(spec)))
            if len(out.paths) + len(out.problems) == before:
                out.problems.append((spec, "no *.jsonl* files in this directory"))
        elif os.path.lexists(spec):
            _add_file(out, spec)
        elif glob.has_magic(spec):
            before = len(out.paths) + len(out.problems)
            _add_matches(out, glob.glob(spec))
            if len(out.paths) + len(out.problems) == before:
                out.problems.append((spec, "no files match"))
        else:
            out.problems.append((spec, "no such file"))
    if not out.paths:
        raise _nothing_error(out, "no log files to read")
    return out


def _nothing_error(out: Resolved, default: str) -> SourceError:
    """The error for nothing to read: :class:`NoLogsYet` when nothing exists yet."""
    absent = all(why in _ABSENT for _name, why in out.problems)
    return (NoLogsYet if absent else SourceError)(_nothing(out, default))


def _nothing(out: Resolved, default: str) -> str:
    if len(out.problems) == 1:
        name, why = out.problems[0]
        return f"{why}: {name}" if why in ("no such file", "no files match") else f"{name}: {why}"
    if out.problems:
        return "nothing could be read: " + "; ".join(f"{n}: {w}" for n, w in out.problems)
    return default


def _add_matches(out: Resolved, matches: list[str]) -> None:
    for path in sorted(matches, key=lambda p: rotation_key(Path(p))):
        if path.endswith(_NOT_LOGS):
            continue
        try:
            mode = os.stat(path).st_mode
        except OSError:
            _add_file(out, path)  # says why (a broken link, a loop)
            continue
        if stat.S_ISDIR(mode):
            continue  # a directory a glob happened to match: not a log, not a problem
        _add_file(out, path)


def _add_file(out: Resolved, path: str) -> None:
    why = _unreadable(path)
    if why is None:
        out.paths.append(path)
    else:
        out.problems.append((path, why))


def _unreadable(path: str) -> str | None:
    """Why ``path`` cannot be read as a log file, or ``None`` when it can."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop"
        if os.path.islink(path):
            return "broken symbolic link"
        return exc.strerror or str(exc)
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return "not a regular file"  # a FIFO or device would block or never end
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


READ_ERRORS = (OSError, EOFError, zlib.error)
"""What reading a log file may raise part way: gzip.BadGzipFile is an OSError, a
truncated member an EOFError, a damaged stream a zlib.error."""


def stopped(lines: int, exc: BaseException) -> str:
    """Why a file was read only in part, the same words from every reader.

    Readers print it after ``skipped <file>:``, so it names what was left out: the
    whole file, or everything after the lines that were read (those were used).
    """
    if isinstance(exc, EOFError):  # GzipLines: the file ends inside a compressed member
        why = "truncated .gz: the file ends in the middle of its compressed data"
    elif isinstance(exc, TrailingGarbage):
        why = f"{exc}, which are not gzip"
    elif isinstance(exc, zlib.error):
        why = f"damaged .gz ({exc})"
    else:
        strerror = getattr(exc, "strerror", None)
        why = (
            str(strerror)
            if strerror
            else (f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        )
    if not lines:
        return f"unreadable ({why})"
    return f"everything after line {lines:,} ({why}); the {lines:,} lines before were read"


class Lines(Protocol):
    """An open log: its raw lines (each with its ``\\n``, the last maybe without), then
    ``close()``."""

    def __iter__(self) -> Iterator[bytes]: ...

    def close(self) -> None: ...


def open_binary(path: str) -> Lines:
    """Open a log file (gzip by magic bytes, so renamed files work) or stdin for reading.

    Raises:
        OSError: the file cannot be opened (the caller sets it aside).
    """
    if path == STDIN:
        return sys.stdin.buffer
    handle: IO[bytes] = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    try:
        magic = handle.read(2)
    except OSError:
        handle.close()
        raise
    handle.seek(0)
    return GzipLines(handle) if magic == b"\x1f\x8b" else handle


class TrailingGarbage(OSError):
    """Bytes after the last gzip member that are not another member."""


class GzipLines:
    """The lines of a gzip file, member after member (``cat a.gz b.gz`` files too).

    Unlike :class:`gzip.GzipFile`, what a damaged file held before the damage is kept:
    lines come out as the members are decompressed, and the error (a truncated member,
    bytes after the last one that are not a member) is raised only where it is met.
    Zero bytes after the last member (padding some tools write) are ignored.
    """

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle

    def close(self) -> None:
        self.handle.close()

    def __iter__(self) -> Iterator[bytes]:
        carry = b""
        for block in self._blocks():
            lines = (carry + block).split(b"\n")
            carry = lines.pop()
            for line in lines:
                yield line + b"\n"
        if carry:
            yield carry

    def _blocks(self) -> Iterator[bytes]:
        unzip = zlib.decompressobj(wbits=31)
        fed = False  # whether the current member has begun
        data = b""
        while True:
            if not data:
                data = self.handle.read(_CHUNK)
                if not data:
                    break
            fed = True
            out = unzip.decompress(data)
            if out:
                yield out
            data = b""
            if not unzip.eof:
                continue
            rest = unzip.unused_data
            unzip, fed = zlib.decompressobj(wbits=31), False
            if not rest.strip(b"\x00"):
                continue  # the end, or zero padding; a next member may follow in the next read
            if not b"\x1f\x8b".startswith(rest[:2]):
                raise TrailingGarbage(f"{len(rest):,} bytes after the last gzip member")
            data = rest  # the next member
        if fed and not unzip.eof:
            raise EOFError("compressed file ended before the end of its last member")


def is_gzip(path: str) -> bool:
    """Whether ``path`` starts with gzip's magic bytes (``False`` when it cannot be read)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(2) == b"\x1f\x8b"
    except OSError:
        return False


def reverse_lines(
    path: str, stats: ScanStats | None = None, end: int | None = None
) -> Iterator[bytes]:
    """Lines of a plain file from last to first (before byte ``end``), reading blocks
    from the end; the first line loses a byte order mark, as :func:`.reader.lines_of`."""
    with open(path, "rb") as handle:
        pos = handle.seek(0, os.SEEK_END) if end is None else end
        carry = b""
        while pos > 0:
            step = min(_CHUNK, pos)
            pos -= step
            handle.seek(pos)
            block = handle.read(step)
            if stats is not None:
                stats.bytes_read += len(block)
            lines = (block + carry).split(b"\n")
            carry = lines[0]  # may be the end of a line that starts in the previous block
            yield from reversed(lines[1:])
        yield carry[3:] if carry[:3] == BOM else carry
