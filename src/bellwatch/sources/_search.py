"""``trace``'s fast path: the events of one correlation id, found without parsing every line.

Plain files go to ``rg -F`` (or GNU ``grep -F``) in one call when installed: their
vectorised search is several times faster than Python's. Only the lines holding the id
are parsed; a text line's time (see :mod:`.reader`) is found by reading back from it to
the structured event before it. Compressed files, stdin, and machines without either
tool stream every line through the reader instead: the same events, slower.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import orjson

from ..schema import F
from ..timeparse import parse_ts
from ._paths import STDIN, is_gzip, reverse_lines
from .base import TIMESTAMP, Record, ScanStats, TextRecord
from .reader import StreamReader, in_window, parse

__all__ = ["Searched", "containing", "correlated", "search_tool"]


class Searched(Protocol):
    """What the search needs of a file source (:class:`~.files.FileSource`)."""

    stats: ScanStats

    def paths(self) -> list[str]: ...

    def read_file(
        self, path: str, since_ms: int | None = None, until_ms: int | None = None
    ) -> Iterator[Record]: ...

    def readable(self, path: str) -> None: ...

    def check_readable(self) -> None: ...


def correlated(
    source: Searched, cid: str, since_ms: int | None, until_ms: int | None
) -> Iterator[Record]:
    """Structured events whose ``cid`` is ``cid``, and text events that mention it."""
    return containing(source, cid, lambda record: _belongs(record, cid), since_ms, until_ms)


def containing(
    source: Searched,
    text: str,
    keep: Callable[[Record], bool],
    since_ms: int | None,
    until_ms: int | None,
) -> Iterator[Record]:
    """The events whose line holds ``text`` (as written, or JSON-escaped) and that pass
    ``keep``: only those lines are parsed when a search tool can find them."""
    needles = _needles(text)
    paths = source.paths()
    plain = [p for p in paths if p != STDIN and not is_gzip(p)]
    hits = _tool_hits(plain, needles) if plain else {}
    for path in paths:
        found = hits.get(path) if hits is not None else None
        if found is None:  # no tool, or not a plain file: read every line
            for record in source.read_file(path, since_ms, until_ms):
                if keep(record):
                    yield record
            continue
        source.readable(path)
        with contextlib.suppress(OSError):  # the tool read the whole file for us
            source.stats.bytes_read += os.path.getsize(path)
        reader = StreamReader(os.path.basename(path), os.path.dirname(path), source.stats)
        for offset, line in found:
            hit = reader.event(line)
            if hit is None or not keep(hit):
                continue
            if isinstance(hit, TextRecord):
                hit[TIMESTAMP] = _time_before(path, offset)
            if in_window(hit[TIMESTAMP], since_ms, until_ms):
                yield hit
    source.check_readable()


def _belongs(record: Record, cid: str) -> bool:
    if isinstance(record, TextRecord):
        return cid in str(record.get("@message", ""))
    return record.get(F.CID) == cid


def _needles(cid: str) -> list[bytes]:
    raw = cid.encode("utf-8", "surrogateescape")
    escaped = orjson.dumps(cid)[1:-1]  # the id as JSON writes it inside a string
    return [raw] if escaped == raw else [raw, escaped]


def _tool_hits(
    paths: Sequence[str], needles: list[bytes]
) -> dict[str, list[tuple[int, bytes]]] | None:
    """``{path: [(line offset, line)]}`` from one run of the search tool, or ``None``."""
    tool = search_tool()
    if tool is None or any(b"\0" in n or b"\n" in n or not n for n in needles):
        return None
    import subprocess

    args: list[str | bytes] = [*tool]
    for needle in needles:
        args += ["-e", needle]
    proc = subprocess.run(  # noqa: S603 - fixed tool, needles passed as arguments
        [*args, "--", *paths], capture_output=True, check=False
    )
    if proc.returncode not in (0, 1):
        return None  # the tool failed (odd file, old version): read in Python
    found: dict[str, list[tuple[int, bytes]]] = {p: [] for p in paths}
    for hit in proc.stdout.split(b"\n"):
        name, sep, rest = hit.partition(b"\0")
        offset, colon, line = rest.partition(b":")
        if sep and colon and offset.isdigit():
            found.setdefault(os.fsdecode(name), []).append((int(offset), line))
    return found


def search_tool() -> list[str | bytes] | None:
    """The argv prefix of ``rg`` or ``grep`` printing ``path NUL offset:line``, or ``None``."""
    import shutil

    if rg := shutil.which("rg"):
        return [rg, "--no-config", "-F", "-a", "--null", "--with-filename", "--no-line-number",
                "--byte-offset", "--no-heading", "--color", "never"]  # fmt: skip
    if grep := shutil.which("grep"):
        return [grep, "-F", "-a", "-Z", "-H", "-b"]
    return None


def _time_before(path: str, offset: int) -> int | None:
    """The time of the last structured event with a time before byte ``offset``."""
    for line in reverse_lines(path, end=offset):
        obj = parse(line)
        if obj is not None:
            ts = parse_ts(obj.get(F.TS))
            if ts is not None:
                return ts
    return None
