"""Reading a log file into per-chunk facts: the work of a cold report and of the cache.

A plain file is cut at line ends into chunks of about :data:`CHUNK_BYTES`; each chunk's
events are folded (:mod:`._fold`) into its own :class:`~.facts.Facts`, so a time window
later reuses the chunks it covers and reads again only the ones it cuts. A large file is
folded by :func:`os.cpu_count` processes at once: this one, and helpers started as
``python -m bellwatch.sources._build`` that fold their chunks and write them to stdout.
A helper that fails is reported, and its chunks are folded here instead. A compressed
file is one chunk, read from its start.
"""

from __future__ import annotations

import marshal
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ._fold import fold_lines
from ._paths import READ_ERRORS, STDIN, open_binary
from .facts import Facts
from .reader import lines_in, lines_of

__all__ = ["CHUNK_BYTES", "PARALLEL_BYTES", "Chunk", "build", "fold_range", "fold_stream", "plan"]

CHUNK_BYTES = 8 * 1024 * 1024
PARALLEL_BYTES = 24 * 1024 * 1024  # below this, starting a helper costs more than it saves
_READ = 8 * 1024 * 1024


@dataclass
class Chunk:
    """Complete lines ``[start, end)`` of a file and their facts."""

    start: int
    end: int
    facts: Facts


def complete_end(path: str, size: int) -> int:
    """Where the last complete line of the first ``size`` bytes ends (0 if none does)."""
    with open(path, "rb") as handle:
        pos = size
        while pos > 0:
            step = min(65536, pos)
            handle.seek(pos - step)
            block = handle.read(step)
            cut = block.rfind(b"\n")
            if cut >= 0:
                return pos - step + cut + 1
            pos -= step
    return 0


def plan(path: str, start: int, end: int) -> list[tuple[int, int]]:
    """``[start, end)`` (complete lines) cut at line ends into ranges of about a chunk."""
    ranges: list[tuple[int, int]] = []
    with open(path, "rb") as handle:
        pos = start
        while end - pos > CHUNK_BYTES * 3 // 2:
            handle.seek(pos + CHUNK_BYTES)
            cut = _next_newline(handle, end)
            if cut is None or cut >= end:
                break
            ranges.append((pos, cut))
            pos = cut
    if end > pos or not ranges:
        ranges.append((pos, end))
    return ranges


def _next_newline(handle: BinaryIO, end: int) -> int | None:
    tell = handle.tell()
    while tell < end:
        block = handle.read(65536)
        if not block:
            return None
        cut = block.find(b"\n")
        if cut >= 0:
            return tell + cut + 1
        tell += len(block)
    return None


def fold_range(
    path: str,
    start: int,
    end: int,
    floor: float,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    carry: int | None = None,
) -> tuple[Facts, int | None]:
    """The facts of the lines in ``[start, end)`` of a plain file, and the carry after them."""
    facts = Facts(floor)
    with open(path, "rb") as handle:
        handle.seek(start)
        pos = start
        rest = b""
        while pos < end:
            data = handle.read(min(_READ, end - pos))
            if not data:
                break
            at_start = pos == start == 0
            pos += len(data)
            data = rest + data
            cut = data.rfind(b"\n") + 1 if pos < end else len(data)
            rest = data[cut:]
            carry = fold_lines(
                facts,
                lines_in(data[:cut], at_start=at_start),
                since_ms=since_ms,
                until_ms=until_ms,
                carry=carry,
            )
        if rest:
            carry = fold_lines(facts, [rest], since_ms=since_ms, until_ms=until_ms, carry=carry)
    return facts, carry


def fold_stream(
    path: str,
    floor: float,
    *,
    since_ms: int | None = None,
    until_ms: int | None = None,
    on_bytes: Callable[[int], None] | None = None,
) -> tuple[Facts, int, BaseException | None]:
    """The facts of a compressed file or stdin, read from its start; the lines read; and
    what stopped the read part way (a damaged ``.gz``), if anything did. What was read
    before stays in the facts."""
    facts = Facts(floor)
    lines = 0
    try:
        handle = open_binary(path)
    except OSError as exc:
        return facts, 0, exc

    failure: BaseException | None = None

    def counted() -> Iterator[bytes]:
        # Ends the stream at a read error, so the lines before it are all folded.
        nonlocal lines, failure
        try:
            for line in lines_of(handle):
                lines += 1
                if on_bytes is not None:
                    on_bytes(len(line) + 1)
                yield line
        except READ_ERRORS as exc:
            failure = exc

    try:
        fold_lines(facts, counted(), since_ms=since_ms, until_ms=until_ms)
    finally:
        if path != STDIN:
            handle.close()
    return facts, lines, failure


def build(
    path: str, ranges: Sequence[tuple[int, int]], floor: float, warn: Callable[[str], None]
) -> list[Chunk]:
    """The facts of each range of a plain file, folded by several processes when large."""
    size = sum(end - start for start, end in ranges)
    helpers = min(_cores() - 1, len(ranges) - 1) if size >= PARALLEL_BYTES else 0
    if helpers <= 0:
        return [Chunk(s, e, fold_range(path, s, e, floor)[0]) for s, e in ranges]
    # This process takes the first share; each helper a later one, of about equal bytes.
    shares = _split(list(ranges), helpers + 1)
    started = [_start(path, floor, share) for share in shares[1:]]
    chunks = [Chunk(s, e, fold_range(path, s, e, floor)[0]) for s, e in shares[0]]
    for share, proc in zip(shares[1:], started, strict=True):
        got = _collect(proc, share, warn)
        if got is None:
            got = [Chunk(s, e, fold_range(path, s, e, floor)[0]) for s, e in share]
        chunks += got
    return chunks


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _split(ranges: list[tuple[int, int]], parts: int) -> list[list[tuple[int, int]]]:
    total = sum(e - s for s, e in ranges)
    shares: list[list[tuple[int, int]]] = [[]]
    done = 0
    for r in ranges:
        if shares[-1] and done >= total * len(shares) / parts and len(shares) < parts:
            shares.append([])
        shares[-1].append(r)
        done += r[1] - r[0]
    return [s for s in shares if s]


def _start(path: str, floor: float, share: list[tuple[int, int]]) -> object:
    import subprocess

    args = [sys.executable, "-m", "bellwatch.sources._build", path, repr(floor)]
    args += [str(x) for r in share for x in r]
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed args
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        return exc


def _collect(
    proc: object, share: list[tuple[int, int]], warn: Callable[[str], None]
) -> list[Chunk] | None:
    """A helper's chunks, or ``None`` (said through ``warn``) when it failed."""
    if isinstance(proc, OSError):
        warn(f"cache builder helper did not start ({proc}); folded here instead")
        return None
    out, err = proc.communicate()  # type: ignore[attr-defined]
    if proc.returncode == 0:  # type: ignore[attr-defined]
        try:
            blobs = marshal.loads(out)  # noqa: S302 - from our own helper process
            facts = [Facts.loads(b) for b in blobs]
            if len(facts) == len(share) and all(f is not None for f in facts):
                return [Chunk(s, e, f) for (s, e), f in zip(share, facts, strict=True) if f]
        except (EOFError, ValueError, TypeError):
            pass
    why = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    warn(f"cache builder helper failed (exit {proc.returncode}: {why[0]}); folded here instead")  # type: ignore[attr-defined]
    return None


def _main(argv: Sequence[str]) -> int:
    """Helper: ``python -m bellwatch.sources._build PATH FLOOR START END [START END ...]``."""
    path, floor = argv[0], float(argv[1])
    bounds = [int(x) for x in argv[2:]]
    blobs = [
        fold_range(path, bounds[i], bounds[i + 1], floor)[0].dumps()
        for i in range(0, len(bounds), 2)
    ]
    sys.stdout.buffer.write(marshal.dumps(blobs))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
