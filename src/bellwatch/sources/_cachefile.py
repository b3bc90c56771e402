"""A log file's cache on disk: a small header, published by atomic rename, naming an
append-only data file of marshalled facts.

``<dev>-<ino>.facts`` holds the log file's meta (size, mtime, a hash of its first bytes),
where its whole-file runs and its chunks lie, and the name of the data file,
``<dev>-<ino>.<token>.data``. An append writes only what is new at the end of the data
file (its run, its chunk, a merge of small ones), then publishes a new header: a reader
sees the old header or the new one, and everything a header names was written before
it. Rewriting the whole cache for every append cost more than the rest of an appended
report (a 14 MB file for the bench's million lines: writing it out, and the filesystem
flushing it on rename).

A new data file (a first build, a rebuilt file, or a compaction once what no header
names outgrows what one does) gets a fresh token, and the one it replaces is deleted
after the new header is out; a reader that finds its data file gone reads the header
again. Nothing is ever rewritten in place.
"""

from __future__ import annotations

import contextlib
import marshal
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import _disk
from .facts import Chunk, Facts

__all__ = ["Stored", "load", "save", "touch"]

_VERSION = 4  # 4: a header and an append-only data file (3: one file)
_MAGIC = b"BWC\x02"
COMPACT_AT = 4 * 1024 * 1024
"""A data file is rewritten when what no header names exceeds both this and what one does."""


@dataclass
class Stored:
    """A log file's cache as read: its meta, runs and chunks, and where they lie."""

    meta: dict[str, Any]
    runs: list[Facts]
    chunks: list[Chunk]
    data: Path
    size: int
    """The data file's size when read: what an append writes after."""
    where: dict[int, tuple[int, int, memoryview | bytes]] = field(default_factory=dict)
    """``id(facts)`` -> offset, length and the blob, for facts read from the data file: one
    whose blob is unchanged when saved again is not written again."""


def load(header: Path) -> Stored | None:
    """The cache a header names; ``None`` when missing or damaged (a data file deleted
    by a writer meanwhile is looked up once more)."""
    for _ in range(2):
        try:
            raw = header.read_bytes()
        except OSError:
            return None
        head = _header(raw)
        if head is None:
            return None
        data = header.with_name(str(head["data"]))
        try:
            with open(data, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                # mapped, not read: a report touches only the sections it needs
                view = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
        except FileNotFoundError:
            continue  # replaced by a writer after we read its header: read the new one
        except (OSError, ValueError):  # unreadable, or empty
            return None
        return _stored(head, data, view, size)
    return None


def _header(raw: bytes) -> dict[str, Any] | None:
    if raw[:4] != _MAGIC:
        return None
    try:
        head = marshal.loads(raw[4:])  # noqa: S302 - our own cache file
    except (EOFError, ValueError, TypeError):
        return None
    if not isinstance(head, dict) or head.get("v") != _VERSION:
        return None
    return head


def _stored(head: dict[str, Any], data: Path, view: memoryview, size: int) -> Stored | None:
    try:
        out = Stored(head["meta"], [], [], data, size)
        for start, length in head["runs"]:
            out.runs.append(_facts(out, view, start, length, rows=False))
        for begin, end, start, length in head["chunks"]:
            out.chunks.append(Chunk(begin, end, _facts(out, view, start, length, rows=True)))
        if not out.runs:
            return None
        out.runs[0].rows_from([c.facts for c in out.chunks])  # stored without them (see save)
    except (_Damaged, KeyError, TypeError, ValueError):
        return None
    return out


class _Damaged(Exception):
    pass


def _facts(out: Stored, view: memoryview, start: int, length: int, *, rows: bool) -> Facts:
    if start < 0 or length < 0 or start + length > len(view):
        raise _Damaged
    facts = Facts.loads(view[start : start + length])
    if facts is None:
        raise _Damaged
    out.where[id(facts)] = (start, length, facts.dumps(rows=rows))
    return facts


def touch(header: Path, stored: Stored) -> None:
    """Mark both files used (kept by the cache's prune)."""
    for path in (header, stored.data):
        with contextlib.suppress(OSError):
            os.utime(path)


def save(
    header: Path,
    meta: dict[str, Any],
    runs: list[Facts],
    chunks: list[Chunk],
    previous: Stored | None,
    *,
    append: bool,
) -> None:
    """Publish ``runs`` and ``chunks`` under ``header``. ``append``: they extend
    ``previous`` (an appended log file), and only what is new is written, at the end of
    its data file, when that one is still worth keeping; else a new data file replaces
    it. Raises OSError."""
    # the chunks hold every slow row, in order; the runs, merged from them, none
    parts = [(r, r.dumps(rows=False)) for r in runs]
    parts += [(c.facts, c.facts.dumps()) for c in chunks]
    where = _append(previous, parts) if append and previous is not None else []
    old = previous.data if previous is not None else None
    if where and old is not None:
        data = old
    else:
        data = header.with_name(f"{header.stem}.{os.urandom(4).hex()}.data")
        where = _rewrite(data, [blob for _, blob in parts])
    placed = zip(chunks, where[len(runs) :], strict=True)
    head = {"v": _VERSION, "meta": meta, "data": data.name, "runs": where[: len(runs)],
            "chunks": [(c.start, c.end, *w) for c, w in placed]}  # fmt: skip
    _disk.atomic_write(header, [_MAGIC, marshal.dumps(head)])
    if old is not None and old != data:
        with contextlib.suppress(OSError):
            old.unlink()  # a reader holding the old header reads the new one


_Part = tuple[Facts, bytes | memoryview]


def _append(previous: Stored, parts: list[_Part]) -> list[tuple[int, int]]:
    """Where each blob lies once the new ones are appended to ``previous``'s data file;
    empty when it must be rewritten instead (gone, or more unused than used)."""
    where: list[tuple[int, int] | None] = []
    new: list[bytes | memoryview] = []
    for facts, blob in parts:
        known = previous.where.get(id(facts))
        if known is not None and known[2] is blob:
            where.append((known[0], known[1]))
        else:
            where.append(None)
            new.append(blob)
    total = sum(len(b) for b in new)
    live = total + sum(w[1] for w in where if w is not None)
    if previous.size + total - live > max(live, COMPACT_AT):
        return []
    try:
        fd = os.open(previous.data, os.O_WRONLY | os.O_APPEND)
    except FileNotFoundError:
        return []
    try:
        written = os.writev(fd, new) if new else 0
        end = os.lseek(fd, 0, os.SEEK_CUR)
    finally:
        os.close(fd)
    if written != total:  # a short write: not one run of bytes, so rewrite instead
        return []
    pos = end - total
    out = []
    for kept, (_, blob) in zip(where, parts, strict=True):
        if kept is None:
            out.append((pos, len(blob)))
            pos += len(blob)
        else:
            out.append(kept)
    return out


def _rewrite(data: Path, blobs: list[bytes | memoryview]) -> list[tuple[int, int]]:
    """Write ``blobs`` to a new data file; where each lies."""
    where, pos = [], 0
    for blob in blobs:
        where.append((pos, len(blob)))
        pos += len(blob)
    _disk.atomic_write(data, blobs)
    return where
