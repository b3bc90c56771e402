"""The reports' facts for local files, kept per file so an unchanged file is read once.

:func:`collect` gives the merged :class:`~.facts.Facts` of a :class:`~.files.FileSource`
in a time window. Per file (keyed by device and inode, so a rotated file keeps its cache
under its new name) the cache holds the facts of the whole file and of each chunk
(:mod:`._build`) of its complete lines:

- unchanged file (same size and mtime): the stored facts answer; the file's bytes are
  not read;
- appended file (same first bytes, larger): only the new lines are folded, into a
  new last chunk and the whole-file facts;
- new, rewritten or truncated file: folded again from its first byte (by several
  processes when large), then stored.

A window uses the chunks it covers, leaves out the ones outside it and folds again
only the ones it cuts (see :func:`windowed`). Bytes after the last ``\\n`` (a line being
written) are a line too, folded on every read and never stored. A file that could not be
read to its end is never cached; a cache that cannot be written or read is bypassed and
said once. Writers publish by atomic rename; readers never lock.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Protocol

from . import _cachefile, _disk
from ._paths import STDIN, is_gzip, stopped
from .base import ScanStats
from .facts import SLOW_FLOOR, Chunk, Facts, joined
from .reader import Window

__all__ = ["PRUNE_AFTER", "Cache", "CachedSource", "collect", "windowed"]

EVERYTHING = Window()
_MAX_RUNS = 6
"""The whole-file facts are kept as the runs that were folded apart (one per process,
one per append), merged when read; past this many, neighbours are merged and kept so
(see :func:`_compact`)."""
PRUNE_AFTER = 14 * 86_400.0  # seconds a file's cache survives without being read


class CachedSource(Protocol):
    """What :func:`collect` needs of a file source (:class:`~.files.FileSource`)."""

    cache_dir: str | None
    use_cache: bool
    stats: ScanStats

    def paths(self) -> list[str]: ...

    def readable(self, path: str) -> None: ...

    def check_readable(self) -> None: ...


def collect(
    source: CachedSource,
    window: Window = EVERYTHING,
    *,
    floor: float = SLOW_FLOOR,
) -> Facts:
    """The facts of every file of ``source`` in ``window``.

    ``floor``: keep requests slower than this row by row (below :data:`SLOW_FLOOR`, the
    cache is bypassed: it keeps rows from the floor up). A file read only in part is
    named in ``source.stats`` as the record reader names it.
    """
    stats: ScanStats = source.stats
    store = Cache(source.cache_dir) if source.use_cache and floor >= SLOW_FLOOR else None
    out = Facts(floor)
    for path in source.paths():
        got = _file_facts(source, store, path, window, floor=floor)
        if got is not None:
            source.readable(path)
            out.merge(got)
    source.check_readable()
    if store is not None:
        store.finish()
    stats.records += out.records
    stats.text_lines += out.text
    return out


def _file_facts(
    source: CachedSource,
    store: Cache | None,
    path: str,
    window: Window,
    *,
    floor: float,
) -> Facts | None:
    stats: ScanStats = source.stats
    if path == STDIN or is_gzip(path):
        stats.files += 1

        def count(n: int) -> None:
            stats.bytes_read += n

        from . import _build  # here: a read the cache answers imports no fold

        facts, lines, failure = _build.fold_stream(
            path, floor, since_ms=window.since_ms, until_ms=window.until_ms, on_bytes=count
        )
        if failure is not None:
            stats.skip_source(path, stopped(lines, failure))
        return facts if lines or failure is None else None
    try:
        st = os.stat(path)
    except OSError as exc:
        stats.skip_source(path, exc.strerror or str(exc))
        return None
    stats.files += 1
    if store is not None and store.usable:
        try:
            return store.facts(path, st, window, floor=floor, stats=stats)
        except OSError as exc:
            if getattr(exc, "filename", None) == path:
                raise  # the log file itself, not the cache: the caller's problem
            store.unusable(exc, stats)
    from . import _build  # here: a read the cache answers imports no fold

    end = _build.complete_end(path, st.st_size)
    built = _build.build(path, _build.plan(path, 0, end), floor, stats.warnings.append)
    stats.bytes_read += st.st_size
    return _answer(path, built.chunks, (end, st.st_size), window, floor=floor, whole=built.facts)


def _answer(
    path: str,
    chunks: list[Chunk],
    span: tuple[int, int],
    window: Window,
    *,
    floor: float,
    whole: Facts | None = None,
) -> Facts:
    """The facts of a file's chunks in the window, plus its unfinished last line.

    ``span``: where its complete lines end, and its size.
    """
    end, size = span
    out = Facts(floor)
    if window.everything and whole is not None:
        out.merge(whole)
    else:
        out.merge(windowed(path, chunks, window, floor))
    if size > end:  # bytes after the last newline: a line too, never cached
        carry = next((c.facts.last_ts for c in reversed(chunks) if c.facts.last_ts), None)
        from . import _build  # here: a read the cache answers imports no fold

        tail, _ = _build.fold_range(
            path, end, size, floor,
            since_ms=window.since_ms, until_ms=window.until_ms, carry=carry,
        )  # fmt: skip
        out.merge(tail)
    return out


def windowed(path: str, chunks: list[Chunk], window: Window, floor: float) -> Facts:
    """The facts of ``chunks`` (a file's, in order) in ``window``.

    A chunk whose timed events all fall inside the window is taken whole, one whose timed
    events all fall outside is left out, and only one the window cuts is folded again.
    The text events before a chunk's first time take the time of the chunk before: when
    only they differ, the text count is adjusted instead.
    """
    out = Facts(floor)
    carry: int | None = None
    since, until = window.since_ms, window.until_ms
    for chunk in chunks:
        f = chunk.facts
        head_in = carry in window
        if window.everything:
            out.merge(f)
        elif f.min_ts is None or f.max_ts is None:
            # no timed event: structured events are outside, text takes the carried time
            if head_in:
                out.text += f.head_text
        elif f.untimed == 0 and f.min_ts in window and f.max_ts in window:
            out.merge(f)
            if not head_in:
                out.text -= f.head_text
        elif (until is not None and f.min_ts >= until) or (since is not None and f.max_ts < since):
            if head_in:
                out.text += f.head_text
        else:
            from . import _build  # here: a read the cache answers imports no fold

            part, _ = _build.fold_range(
                path, chunk.start, chunk.end, floor, since_ms=since, until_ms=until, carry=carry
            )
            out.merge(part)
        if f.last_ts is not None:
            carry = f.last_ts
    return out


class Cache:
    """The cache directory: per log file, a ``<dev>-<ino>.facts`` header and its data file
    (:mod:`._cachefile`)."""

    def __init__(self, directory: str | None = None) -> None:
        self.dir = Path(directory or _disk.default_cache_dir())
        self.usable = True
        self._wrote = False

    def unusable(self, exc: OSError, stats: ScanStats) -> None:
        """Stop using the cache for this command, and say why once."""
        self.usable = False
        stats.warnings.append(f"cache not used ({exc}); reading the files")

    def _file(self, st: os.stat_result) -> Path:
        return self.dir / f"{st.st_dev}-{st.st_ino}.facts"

    def facts(
        self, path: str, st: os.stat_result, window: Window, *, floor: float, stats: ScanStats
    ) -> Facts:
        """``path``'s facts in the window, bringing its cache up to date first."""
        target = self._file(st)
        stored = _cachefile.load(target)
        status = _disk.state(stored.meta if stored is not None else None, path, st, gz=False)
        if stored is not None and status == "fresh":
            _cachefile.touch(target, stored)  # "used": kept by prune()
            span = (int(stored.meta["offset"]), st.st_size)
            whole = joined(stored.runs, floor)
            return _answer(path, stored.chunks, span, window, floor=floor, whole=whole)
        from . import _build  # here: a read the cache answers imports no fold

        end = _build.complete_end(path, st.st_size)
        appended = stored is not None and status == "appended"
        if stored is not None and appended:
            runs, chunks, start = stored.runs, stored.chunks, int(stored.meta["offset"])
        else:
            runs, chunks, start = [], [], 0
        built = _build.build(
            path, _build.plan(path, start, end), floor, stats.warnings.append, dump=True
        )
        stats.bytes_read += st.st_size - start
        runs = _compact(runs + built.runs, floor)
        chunks = _extend(chunks, built.chunks)
        head_len = min(_disk.HEAD, end)
        meta = {"size": st.st_size, "mtime": st.st_mtime_ns, "offset": end, "head_len": head_len,
                "head": _disk.head(path, head_len), "path": os.path.abspath(path)}  # fmt: skip
        whole = joined(runs, floor)
        if whole.bounded():
            try:
                self.dir.mkdir(parents=True, exist_ok=True)
                _cachefile.save(target, meta, runs, chunks, stored, append=appended)
                self._wrote = True
            except OSError as exc:
                self.unusable(exc, stats)
        return _answer(path, chunks, (end, st.st_size), window, floor=floor, whole=whole)

    def finish(self) -> None:
        """After a command that wrote to the cache: remove caches unused for a while."""
        if self._wrote:
            with contextlib.suppress(OSError):
                self.prune()

    def prune(self, max_age: float = PRUNE_AFTER) -> int:
        """Delete files in the cache directory no command has used for ``max_age`` seconds
        (the caches of rotated-away files, and any other layout's files); return how many."""
        removed = 0
        cutoff = time.time() - max_age
        for entry in self.dir.rglob("*"):
            with contextlib.suppress(OSError):
                if entry.is_file() and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed


def _compact(runs: list[Facts], floor: float) -> list[Facts]:
    """At most :data:`_MAX_RUNS` runs: past that, the two neighbouring runs with the fewest
    events between them are merged, and kept so. An append's run is small: merging it
    into its small neighbours costs little, where merging every run would cost a pass
    over the whole file's facts (a tenth of a second for the bench's file)."""
    while len(runs) > _MAX_RUNS:
        sizes = [run.records + run.text for run in runs]
        at = min(range(len(runs) - 1), key=lambda i: sizes[i] + sizes[i + 1])
        runs = [*runs[:at], joined(runs[at : at + 2], floor), *runs[at + 2 :]]
    return runs


def _extend(chunks: list[Chunk], new: list[Chunk]) -> list[Chunk]:
    """``chunks`` followed by ``new``, the last two merged while the last is at least half
    the one before it and both fit in a chunk: appends leave a few chunks growing
    geometrically at the end (each byte merged a few times at most), not one per append,
    nor a last chunk rewritten by every append."""
    from . import _build  # here: a read the cache answers imports no fold

    out = list(chunks)
    for chunk in new:
        out.append(chunk)
        while len(out) >= 2:
            a, b = out[-2], out[-1]
            before, last = a.end - a.start, b.end - b.start
            if a.end != b.start or last * 2 < before or before + last > _build.CHUNK_BYTES:
                break
            merged = Facts(a.facts.floor)
            merged.merge(a.facts)
            merged.merge(b.facts)
            out[-2:] = [Chunk(a.start, b.end, merged)]
    return out
