"""An incremental cache of local log files, for the aggregate commands.

Each log file (keyed by device and inode, so a rotated file keeps its cache
under its new name) gets a manifest, Parquet parts covering byte ranges of
complete lines, and a rollup (:mod:`._rollup`): the facts ``errors``, ``slow``
and ``endpoints`` need whatever their parameters. On the next command:

- unchanged file (same inode, size, mtime, first bytes): answer from the
  rollup without importing DuckDB; other reports read the Parquet parts;
- appended file (same inode and first bytes, larger): parse only the new
  bytes with orjson into a small tail rollup (the Parquet parts catch up when
  a report needs them);
- new, rewritten or truncated file: read the JSON directly this time, with
  DuckDB, and build its cache in a detached process (synchronously when it is
  small), so a cold command costs one scan of the JSON.

Everything is invalidated by inode, size, mtime and a hash of the first bytes,
never read across cache versions, bounded in size, and ignored (then rebuilt)
when damaged. Writers publish by atomic rename; readers never lock.
"""

from __future__ import annotations

import contextlib
import json
import mmap
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..schema import F
from . import _disk, _rollup, _rollup_merge, _rollup_sql
from ._disk import default_cache_dir
from ._memo import Memo
from ._scan import (
    _JUNK,
    COLUMNS,
    _q,
    _sql_str,
    connect,
    epoch_ts,
    json_scan,
    parquet_scan,
)
from .base import SourceError

if TYPE_CHECKING:
    import duckdb

__all__ = ["COLUMNS", "Cache", "Memo", "Plan", "connect", "default_cache_dir", "json_scan"]

_VERSION = 2  # 2: the window column (window-mode error counts)
SYNC_BUILD_BYTES = 32 * 1024 * 1024  # below this a missing cache is built in-process
_MAX_PARTS = 32  # then an append rebuilds the file's cache in one part
TAIL_MAX_BYTES = 64 * 1024 * 1024  # appended bytes kept in a tail rollup before a rebuild
PRUNE_AFTER = 14 * 86_400.0  # seconds a file's cache survives without being read


@dataclass
class Plan:
    """How to read a set of files: cached parts, plus files to read as JSON this time."""

    parts: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    known_skipped: int = 0
    """Skipped lines known so far (see :attr:`skipped`)."""
    raw_table: str | None = None
    raw_columns: tuple[str, ...] = ()
    to_build: list[str] = field(default_factory=list)
    """Raw files whose cache :meth:`Cache.build_later` should write."""
    filtered: bool = False
    rollup: _rollup.Rollup | None = None
    """Facts for the whole files that answer errors/slow/endpoints without DuckDB."""
    resolve: Callable[[duckdb.DuckDBPyConnection], str] | None = None
    """Updates the Parquet cache and returns its relation (when a rollup cannot answer)."""
    epoch: bool = False
    """Whether the raw files were read with ``ts`` as ``BIGINT`` (see :func:`epoch_ts`)."""
    stream: str | None = None
    """The relation of a streamed cold read, whose report counts the skipped lines."""

    @property
    def skipped(self) -> int:
        """Skipped lines: from the cache, from the raw read, or counted by a streamed report."""
        from . import aggregate

        seen = aggregate.junk_seen(self.stream) if self.stream is not None else None
        return self.known_skipped + (seen or 0)

    @skipped.setter
    def skipped(self, value: int) -> None:
        self.known_skipped += value - self.skipped

    def load_raw(
        self, con: duckdb.DuckDBPyConnection, columns: Sequence[str], where: str | None = None
    ) -> None:
        """Read the raw files once: only ``columns``, only rows matching ``where``.

        The rows kept (plus the non-JSON lines, which come back as all-NULL rows
        and are counted, then left out of :meth:`relation`) go to a small temp
        table, so one JSON scan serves both the report and the skipped-line
        count. ``ts`` is read as ``BIGINT`` when the files' first lines say
        epoch ms (:func:`epoch_ts`), as text converted row by row otherwise.
        """
        if not self.raw:
            return
        self.epoch = epoch_ts(self.raw)
        wanted = tuple(c for c in COLUMNS if c in {*columns, F.TS, F.EVENT})
        keep = f" WHERE ({where}) OR {_JUNK}" if where else ""
        scan = json_scan(self.raw, wanted, epoch=self.epoch)
        if where is not None and not self.parts and where in _streamed_wheres():
            # The report reads the scan directly and counts the junk rows itself:
            # a temp table would copy every request (endpoints), and creating one
            # costs more than the few error rows it keeps (~50 ms over 1M lines).
            from .aggregate import STREAM_MARK

            names = ", ".join(_q(c) if c in wanted else f"NULL AS {_q(c)}" for c in COLUMNS)
            self.stream = f"{STREAM_MARK}SELECT {names} FROM ({scan}){keep}"  # noqa: S608 - our SQL
            self.filtered = True
            return
        con.execute(f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM ({scan}){keep}")  # noqa: S608 - our SQL
        row = con.execute(f"SELECT count(*) FROM _raw WHERE {_JUNK}").fetchone()  # noqa: S608 - schema names
        self.skipped += int(row[0]) if row else 0
        self.raw_table, self.raw_columns = "_raw", wanted
        self.filtered = where is not None

    def full_relation(self) -> str | None:
        """Every row, when :meth:`relation` was pre-filtered (for second lookups); else None."""
        if not self.filtered:
            return None
        pieces = [parquet_scan(self.parts)] if self.parts else []
        return " UNION ALL ".join([*pieces, json_scan(self.raw, epoch=self.epoch)])

    def relation(self) -> str:
        """SQL for the union of both, with :data:`COLUMNS`.

        With a rollup, a token that :mod:`.aggregate` answers from the rollup
        when it can, and resolves to the Parquet relation when it cannot.
        """
        if self.rollup is not None and self.resolve is not None:
            return _rollup_sql.register(self.rollup, self.resolve)
        if self.stream is not None:
            return self.stream
        pieces = []
        if self.parts:
            pieces.append(parquet_scan(self.parts))
        if self.raw_table is not None:
            names = ", ".join(
                _q(c) if c in self.raw_columns else f"NULL AS {_q(c)}" for c in COLUMNS
            )
            pieces.append(f"SELECT {names} FROM {self.raw_table} WHERE NOT {_JUNK}")  # noqa: S608 - our names
        elif self.raw:
            pieces.append(json_scan(self.raw, epoch=epoch_ts(self.raw)))
        if not pieces:
            return "SELECT " + ", ".join(f"NULL AS {_q(c)}" for c in COLUMNS) + " WHERE false"
        return " UNION ALL ".join(pieces)


def _streamed_wheres() -> tuple[str | None, ...]:
    """The row filters of the reports read straight from the JSON scan."""
    from .aggregate import need

    return need("endpoints").where, need("errors").where


class Cache:
    """The cache directory: ``<dir>/<dev>-<ino>.json`` manifests and their Parquet parts."""

    def __init__(self, directory: str | None = None, *, background: bool = True) -> None:
        self.dir = Path(directory or default_cache_dir())
        self.background = background

    def _key(self, st: os.stat_result) -> str:
        return f"{st.st_dev}-{st.st_ino}"

    def _manifest(self, key: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.dir / f"{key}.json").read_bytes())
        except (OSError, ValueError):
            return None  # missing or corrupt: rebuilt by the caller
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return None  # another schema version's cache is never trusted
        if not isinstance(data.get("parts"), list):
            return None
        return data

    def plan(self, paths: Sequence[str], con: duckdb.DuckDBPyConnection) -> Plan:
        """Bring the cache up to date where that is cheap; say what to read.

        When every file has a rollup (appended bytes are folded in with orjson),
        the plan carries it and DuckDB is not needed for errors, slow and
        endpoints. Otherwise appended bytes and small files are parsed into
        Parquet now; large uncached files are read raw and handed to a
        detached builder.
        """
        rolled = self._rollups(paths)
        if rolled is not None:
            return Plan(
                known_skipped=rolled.skipped,
                rollup=rolled,
                resolve=lambda c: self.parquet_plan(paths, c).relation(),
            )
        return self.parquet_plan(paths, con)

    def parquet_plan(self, paths: Sequence[str], con: duckdb.DuckDBPyConnection) -> Plan:
        """The plan over Parquet parts (updated here) and raw JSON (see :meth:`plan`)."""
        plan = Plan()
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror}") from None
            manifest = self._manifest(self._key(st))
            state = _disk.state(manifest, path, st)
            if state == "fresh" and manifest is not None and self._parts_ok(manifest):
                with contextlib.suppress(OSError):
                    os.utime(self.dir / f"{self._key(st)}.json")  # "used": kept by prune()
                plan.parts += [str(self.dir / p["file"]) for p in manifest["parts"]]
                plan.skipped += sum(p["skipped"] for p in manifest["parts"])
                if self._load_rollup(self._key(st), "rollup") is None:
                    # missing, damaged or from an older layout: rebuilt from the parts
                    if st.st_size <= SYNC_BUILD_BYTES or not self.background:
                        self.update(path, con)
                    else:
                        plan.to_build.append(path)
                continue
            if state == "appended" or st.st_size <= SYNC_BUILD_BYTES or not self.background:
                manifest = self.update(path, con)
                if manifest is not None:
                    plan.parts += [str(self.dir / p["file"]) for p in manifest["parts"]]
                    plan.skipped += sum(p["skipped"] for p in manifest["parts"])
                    continue
            plan.raw.append(path)
            plan.to_build.append(path)
        return plan

    def _rollups(self, paths: Sequence[str]) -> _rollup.Rollup | None:
        """The rollup of ``paths`` brought up to date, or ``None`` if one is missing.

        Each file has a base rollup (written by the builder) and, once it has
        grown, a small tail rollup of the bytes appended since: an append
        parses and rewrites only the tail.
        """
        found: list[_rollup.Rollup] = []
        for path in paths:
            try:
                st = os.stat(path)
            except OSError as exc:
                raise SourceError(f"cannot read {path}: {exc.strerror}") from None
            key = self._key(st)
            base = self._load_rollup(key, "rollup")
            if base is None:
                return None
            tail = self._load_rollup(key, "tail")
            if tail is not None and tail.meta.get("base") != base.meta.get("offset"):
                tail = None  # left over from an older base
            state = _disk.state((tail or base).meta, path, st)
            if state == "appended":
                tail = self._extend(path, key, base, tail, st)
                if tail is None:
                    return None
            elif state != "fresh":
                return None
            with contextlib.suppress(OSError):
                os.utime(self.dir / f"{key}.json")  # "used": kept by prune()
            found += [base, tail] if tail is not None else [base]
        return found[0] if len(found) == 1 else _rollup_merge.merged(found)

    def _load_rollup(self, key: str, kind: str) -> _rollup.Rollup | None:
        try:
            with open(self.dir / f"{key}.{kind}", "rb") as handle:
                # mapped, not read: a report touches only the sections it needs
                mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # missing, unreadable, or empty
            return None
        rolled = _rollup.Rollup.loads(mapped)
        if rolled is None or rolled.meta.get("version") != _VERSION:
            return None  # damaged, or written under another schema version
        return rolled

    def _extend(
        self,
        path: str,
        key: str,
        base: _rollup.Rollup,
        tail: _rollup.Rollup | None,
        st: os.stat_result,
    ) -> _rollup.Rollup | None:
        """Fold the complete lines appended since into the tail rollup (orjson, no DuckDB)."""
        if st.st_size - int(base.meta.get("offset", 0)) > TAIL_MAX_BYTES:
            return None  # the Parquet path folds it into a new base (with DuckDB)
        if tail is None:
            tail = _rollup.Rollup()
            tail.meta = {**base.meta, "base": base.meta.get("offset", 0)}
        start = int(tail.meta.get("offset", 0))
        with open(path, "rb") as handle:
            handle.seek(start)
            data = handle.read(st.st_size - start)
        cut = data.rfind(b"\n") + 1
        tail.add_lines(data[:cut])
        if tail.odd or not tail.bounded():
            return None  # the Parquet path (DuckDB) takes over and rebuilds the base
        end = start + cut
        tail.meta.update(offset=end, size=st.st_size, mtime=st.st_mtime_ns)
        if int(tail.meta.get("head_len", 0)) < min(_disk.HEAD, end):
            # hash the first bytes seen so far; an append never changes them
            tail.meta.update(
                head_len=min(_disk.HEAD, end), head=_disk.head(path, min(_disk.HEAD, end))
            )
        with _disk.locked(self.dir / f"{key}.lock") as got:
            if got:  # busy: answer from memory, save next time
                with contextlib.suppress(OSError):
                    _disk.atomic_write(self.dir / f"{key}.tail", tail.dumps())
        return tail

    def _write_rollup(
        self, key: str, manifest: dict[str, Any], con: duckdb.DuckDBPyConnection
    ) -> None:
        """Build ``key``'s rollup from its Parquet parts (DuckDB; builder and small files)."""
        target = self.dir / f"{key}.rollup"
        parts = [str(self.dir / p["file"]) for p in manifest["parts"]]
        rolled = _rollup_sql.from_relation(con, parquet_scan(parts)) if parts else _rollup.Rollup()
        meta = ("offset", "size", "mtime", "head", "head_len", "path")
        rolled.meta = {k: manifest[k] for k in meta if k in manifest} | {"version": _VERSION}
        (self.dir / f"{key}.tail").unlink(missing_ok=True)  # the new base covers it
        if rolled.bounded():
            _disk.atomic_write(target, rolled.dumps())
        else:
            target.unlink(missing_ok=True)

    def _parts_ok(self, manifest: dict[str, Any]) -> bool:
        """Every part present and ending in Parquet's magic bytes (a cheap damage check)."""
        try:
            for part in manifest["parts"]:
                with open(self.dir / part["file"], "rb") as handle:
                    if handle.seek(0, os.SEEK_END) < 12:
                        return False
                    handle.seek(-4, os.SEEK_END)
                    if handle.read(4) != b"PAR1":
                        return False
        except (OSError, KeyError, TypeError):
            return False
        return True

    def build_later(self, plan: Plan) -> None:
        """Start the detached builder for ``plan.to_build``; call after answering."""
        if plan.to_build and self.background:
            self._spawn(plan.to_build)

    def update(self, path: str, con: duckdb.DuckDBPyConnection) -> dict[str, Any] | None:
        """Parse what the cache lacks of ``path``; return its manifest (``None`` if busy)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        st = os.stat(path)
        key = self._key(st)
        with _disk.locked(self.dir / f"{key}.lock") as got:
            if not got:
                return None
            manifest = self._manifest(key)
            state = _disk.state(manifest, path, st)
            if manifest is not None and not self._parts_ok(manifest):
                state = "stale"  # a part is missing or damaged: rebuild the file's cache
            if state == "fresh" and manifest is not None:
                if self._load_rollup(key, "rollup") is None:  # missing, damaged or old
                    self._write_rollup(key, manifest, con)
                return manifest
            if manifest is None:
                self.prune()
            if state != "appended" or manifest is None or len(manifest["parts"]) >= _MAX_PARTS:
                for part in manifest["parts"] if manifest else []:
                    with contextlib.suppress(OSError):
                        (self.dir / part["file"]).unlink()
                manifest = {"version": _VERSION, "parts": [], "offset": 0}
            start = int(manifest["offset"])
            end, tmp = _disk.copy_complete_lines(path, start, st.st_size)
            if end > start:
                try:
                    name = f"{key}.{start}.parquet"
                    source = path if tmp is None else tmp
                    skipped = _write_part(con, source, str(self.dir / name))
                finally:
                    if tmp is not None:
                        os.unlink(tmp)
                manifest["parts"].append({"file": name, "end": end, "skipped": skipped})
            if int(manifest.get("head_len", 0)) < min(_disk.HEAD, end):
                # hash the first bytes seen so far; an append never changes them
                manifest.update(
                    head_len=min(_disk.HEAD, end), head=_disk.head(path, min(_disk.HEAD, end))
                )
            manifest.update(offset=end, size=st.st_size, mtime=st.st_mtime_ns, path=path)
            _disk.atomic_write(self.dir / f"{key}.json", json.dumps(manifest).encode())
            self._write_rollup(key, manifest, con)
            return manifest

    def prune(self, max_age: float = PRUNE_AFTER) -> int:
        """Delete the caches of files no command has read for ``max_age`` seconds.

        Rotated files keep their cache under their inode while they are read;
        once deleted from disk (or just not read any more) theirs goes too.
        Returns how many file caches were removed.
        """
        removed = 0
        cutoff = time.time() - max_age
        for manifest in self.dir.glob("*.json"):
            with contextlib.suppress(OSError):
                if manifest.stat().st_mtime >= cutoff:
                    continue
                key = manifest.stem
                for part in self.dir.glob(f"{key}.*"):
                    part.unlink(missing_ok=True)
                removed += 1
        return removed

    def _spawn(self, paths: Sequence[str]) -> None:
        # Detached (own session, no inherited stdio): the command that needed the data
        # has already paid for a raw scan. posix_spawn, not subprocess: a cold command
        # spawns once and exits, and subprocess costs ~2 ms to import.
        _reap()
        args = [sys.executable, "-m", "bellwatch.sources.cache", str(self.dir), *paths]
        null = [
            (os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY, 0)
            for fd in (0, 1, 2)
        ]
        try:
            pid = os.posix_spawn(sys.executable, args, os.environ, file_actions=null, setsid=True)
        except NotImplementedError:  # no setsid in this libc's posix_spawn
            import subprocess

            with contextlib.suppress(OSError):
                proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed args
                    args,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
                _children.append(proc.pid)
                proc.returncode = 0  # reaped by _reap(), not by Popen's finaliser
            return
        except OSError:
            return  # the cache waits for the next command; this one has its answer
        _children.append(pid)


_children: list[int] = []


def _reap() -> None:
    """Collect builders that have exited (a long-lived process would keep them as zombies)."""
    for pid in list(_children):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _children.remove(pid)


def _write_part(con: duckdb.DuckDBPyConnection, source: str, target: str) -> int:
    """Write one Parquet part from a JSONL file; return its skipped-line count."""
    tmp = target + ".tmp"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _part AS {json_scan([source], epoch=epoch_ts([source]))}; "
        f"COPY _part TO {_sql_str(tmp)} (FORMAT parquet, COMPRESSION zstd)"
    )
    row = con.execute(
        f"SELECT count(*) FROM _part WHERE {_JUNK}"  # noqa: S608 - schema names
    ).fetchone()
    con.execute("DROP TABLE _part")
    os.replace(tmp, target)
    return int(row[0]) if row else 0


def _main(argv: Sequence[str]) -> int:
    """Detached builder: ``python -m bellwatch.sources.cache CACHE_DIR FILE...``."""
    cache = Cache(argv[0], background=False)
    con = connect()
    for path in argv[1:]:
        with contextlib.suppress(Exception):  # a builder failure only costs speed
            cache.update(path, con)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
