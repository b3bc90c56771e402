"""Reading a range of a plain file, or a whole stream, into facts: the work of a cold
report, of the cache, and of the build's helpers (:mod:`._build`, :mod:`._helper`).

A plain file is cut at line ends into chunks of about :data:`CHUNK_BYTES`; each chunk's
events are folded (:mod:`._fold`) into its own :class:`~.facts.Facts`, so a time window
later reuses the chunks it covers and reads again only the ones it cuts. A compressed
file or stdin is one stream, read from its start.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ._fold import fold_data, fold_lines
from ._paths import READ_ERRORS, STDIN, open_binary
from .facts import Chunk, Facts
from .reader import lines_of

__all__ = [
    "CHUNK_BYTES", "Chunk", "complete_end", "fold_range", "fold_stream", "paused_collector",
    "plan",
]  # fmt: skip

CHUNK_BYTES = 8 * 1024 * 1024
_READ = 16 * 1024 * 1024  # at least CHUNK_BYTES * 3 // 2: a chunk is read at once


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
    fd = os.open(path, os.O_RDONLY)
    try:
        pos, rest = start, b""
        while pos < end:
            # a chunk in one read: one buffer, split once (the file's pages are cached)
            data = os.pread(fd, min(_READ, end - pos), pos)
            if not data:
                break
            at_start = pos == start == 0
            pos += len(data)
            if rest:
                data = rest + data
            cut = data.rfind(b"\n") + 1 if pos < end else len(data)
            rest = data[cut:]
            carry = fold_data(
                facts,
                data[:cut] if cut < len(data) else data,
                at_start=at_start,
                since_ms=since_ms,
                until_ms=until_ms,
                carry=carry,
            )
        if rest:
            carry = fold_lines(facts, [rest], since_ms=since_ms, until_ms=until_ms, carry=carry)
    finally:
        os.close(fd)
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
        with paused_collector():
            fold_lines(facts, counted(), since_ms=since_ms, until_ms=until_ms)
    finally:
        if path != STDIN:
            handle.close()
    return facts, lines, failure


@contextlib.contextmanager
def paused_collector() -> Iterator[None]:
    """Pause the cyclic garbage collector while folding, then leave it as found: a fold
    makes no reference cycles, but its allocations set off collections whose scans grow
    with what it keeps (measured: a tenth of a fold's CPU)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
