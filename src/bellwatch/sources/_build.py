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

import gc
import marshal
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from ._fold import fold_lines
from ._paths import READ_ERRORS, STDIN, open_binary
from .facts import SLOW_FLOOR, Facts
from .reader import lines_in, lines_of

__all__ = [
    "CHUNK_BYTES", "PARALLEL_BYTES", "Built", "Chunk", "build", "fold_range", "fold_stream", "plan",
]  # fmt: skip

CHUNK_BYTES = 8 * 1024 * 1024
PARALLEL_BYTES = 24 * 1024 * 1024  # below this, starting a helper costs more than it saves
_READ = 16 * 1024 * 1024  # at least CHUNK_BYTES * 3 // 2: a chunk is read at once


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
            carry = fold_lines(
                facts,
                lines_in(data[:cut] if cut < len(data) else data, at_start=at_start),
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
        fold_lines(facts, counted(), since_ms=since_ms, until_ms=until_ms)
    finally:
        if path != STDIN:
            handle.close()
    return facts, lines, failure


@dataclass
class Built:
    """The chunks of a build, and runs of them merged (one per process that folded some),
    in order: all of them together are the whole of what was read."""

    chunks: list[Chunk]
    runs: list[Facts]

    @property
    def facts(self) -> Facts:
        """The runs merged: the facts of everything read."""
        return _joined(self.runs, self.runs[0].floor if self.runs else SLOW_FLOOR)


def build(
    path: str,
    ranges: Sequence[tuple[int, int]],
    floor: float,
    warn: Callable[[str], None],
    *,
    dump: bool = False,
) -> Built:
    """The facts of each range of a plain file, folded by several processes when large.

    The ranges are folded from both ends at once: this process takes them in order from
    the first, a helper in reverse from the last (with more cores, each pair of processes
    takes a part of the file so), each claiming a range before folding it, until they
    meet; so neither waits for the other, whatever else the machine runs. Each process
    merges what it folded, so only the merged runs are merged here. ``dump``: the chunks
    will be stored, so marshal this process's while the helpers finish.

    The cyclic garbage collector is paused meanwhile (helpers included): a fold makes
    no cycles, and the collections its allocations set off cost a tenth of its time.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        return _build(path, list(ranges), floor, warn, dump=dump)
    finally:
        if paused:
            gc.enable()


def _build(
    path: str,
    ranges: list[tuple[int, int]],
    floor: float,
    warn: Callable[[str], None],
    *,
    dump: bool,
) -> Built:
    size = sum(end - start for start, end in ranges)
    workers = min(_cores(), len(ranges)) if size >= PARALLEL_BYTES else 1
    claims = _Claims.make() if workers > 1 else None
    if claims is None:
        chunks = [Chunk(s, e, fold_range(path, s, e, floor)[0]) for s, e in ranges]
        return Built(chunks, [_joined([c.facts for c in chunks], floor)])
    try:
        work = [[(i, *ranges[i]) for i in order] for order in _orders(ranges, workers)]
        started = [(w, _start(path, floor, claims.dir, w)) for w in work[1:]]
        mine = _fold_claimed(path, work[0], claims, floor)
        folded = dict(mine)
        runs = [(mine[0][0], _joined([f for _, f in mine], floor))] if mine else []
        for _, run in runs:
            if dump:  # marshalled now, while the helpers finish: they will be stored
                run.freeze()
                for _, facts in mine:
                    facts.freeze()
            else:
                run.settle()
        for helper_work, proc in started:
            got = _collect(proc, [i for i, _, _ in helper_work], warn)
            if got is not None:
                folded.update(got[0])
                runs.append((got[0][0][0], got[1]))
        for i, (s, e) in enumerate(ranges):
            if i not in folded:  # claimed by a helper that failed
                folded[i] = fold_range(path, s, e, floor)[0]
                runs.append((i, folded[i]))
    finally:
        claims.remove()
    runs.sort(key=lambda run: run[0])
    chunks = [Chunk(s, e, folded[i]) for i, (s, e) in enumerate(ranges)]
    return Built(chunks, [f for _, f in runs])


def _joined(parts: Sequence[Facts], floor: float) -> Facts:
    out = Facts(floor)
    for part in parts:
        out.merge(part)
    return out


class _Claims:
    """Ranges taken by the processes folding one file: one file per range, created with
    ``O_EXCL`` by the process that takes it (the first to try)."""

    def __init__(self, directory: str) -> None:
        self.dir = directory

    @classmethod
    def make(cls) -> _Claims | None:
        """A fresh claims directory, or ``None`` when none can be made (then fold alone)."""
        try:
            return cls(tempfile.mkdtemp(prefix="bellwatch-build-"))
        except OSError:
            return None

    def take(self, index: int) -> bool:
        """Claim range ``index``; ``False`` when another process has."""
        try:
            os.close(os.open(os.path.join(self.dir, str(index)), _CLAIM, 0o600))
        except FileExistsError:
            return False
        return True

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


_CLAIM = os.O_CREAT | os.O_EXCL | os.O_WRONLY


def _orders(ranges: list[tuple[int, int]], workers: int) -> list[list[int]]:
    """The order each process tries the ranges in: parts of about equal bytes, one per
    pair of processes, the first of a pair from the part's start, the second from its end."""
    parts = _split(list(range(len(ranges))), [e - s for s, e in ranges], (workers + 1) // 2)
    return [parts[w // 2] if w % 2 == 0 else parts[w // 2][::-1] for w in range(workers)]


def _fold_claimed(
    path: str, work: Sequence[tuple[int, int, int]], claims: _Claims, floor: float
) -> list[tuple[int, Facts]]:
    """Fold the ranges ``(index, start, end)`` of ``work`` this process claims, in that
    order, until one is claimed already."""
    out: list[tuple[int, Facts]] = []
    for i, start, end in work:
        if not claims.take(i):
            break
        out.append((i, fold_range(path, start, end, floor)[0]))
    return out


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _split(items: list[int], sizes: list[int], parts: int) -> list[list[int]]:
    total = sum(sizes)
    shares: list[list[int]] = [[]]
    done = 0
    for item, size in zip(items, sizes, strict=True):
        if shares[-1] and done >= total * len(shares) / parts and len(shares) < parts:
            shares.append([])
        shares[-1].append(item)
        done += size
    return [s for s in shares if s]


def _start(path: str, floor: float, claims: str, work: list[tuple[int, int, int]]) -> object:
    """A helper folding ``work``: forked from this process where that is safe (it has
    every module imported already: no interpreter to start), else a new interpreter."""
    if _can_fork():
        try:
            return _Forked(path, floor, claims, work)
        except OSError:
            pass  # no fork (memory, process limits): a new interpreter may still start
    import subprocess

    args = [sys.executable, "-m", "bellwatch.sources._build", path, repr(floor), claims]
    args += [str(x) for w in work for x in w]
    try:
        return subprocess.Popen(  # noqa: S603 - our own interpreter and module, fixed args
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL
        )
    except OSError as exc:
        return exc


def _can_fork() -> bool:
    # fork copies only the calling thread: with others running, a lock one of them held
    # stays held in the child; and only Linux's fork is safe with every library loaded
    return sys.platform == "linux" and threading.active_count() == 1


class _Forked:
    """A helper forked from this process, with the interface of a ``Popen`` the build
    uses: ``communicate()`` gives its output (or, when it failed, its error as stderr)
    and sets ``returncode``."""

    def __init__(
        self, path: str, floor: float, claims: str, work: list[tuple[int, int, int]]
    ) -> None:
        self.returncode: int | None = None
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the helper: it never returns into the caller's code
            code = 1
            try:
                os.close(read)
                data = _output(path, floor, _Claims(claims), work)
                code = 0
            except BaseException as exc:  # said to the parent, which folds its ranges instead
                data = f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")
            try:
                with os.fdopen(write, "wb") as out:
                    out.write(data)
            finally:
                os._exit(code)
        os.close(write)
        self.pid, self.fd = pid, read

    def communicate(self) -> tuple[bytes, bytes]:
        """Read the helper's output to its end and wait for it: ``(output, error)``."""
        parts = []
        with os.fdopen(self.fd, "rb") as pipe:
            while data := pipe.read(1 << 20):
                parts.append(data)
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        got = b"".join(parts)
        return (got, b"") if self.returncode == 0 else (b"", got)


def _collect(
    proc: object, order: list[int], warn: Callable[[str], None]
) -> tuple[list[tuple[int, Facts]], Facts] | None:
    """A helper's chunks (index, facts) and their merged run, or ``None`` (said through
    ``warn``) when it failed or folded nothing."""
    if isinstance(proc, OSError):
        warn(f"cache builder helper did not start ({proc}); folded here instead")
        return None
    out, err = proc.communicate()  # type: ignore[attr-defined]
    if proc.returncode == 0:  # type: ignore[attr-defined]
        try:
            indexes, blobs, run = marshal.loads(out)  # noqa: S302 - from our own helper process
            facts = [Facts.loads(b) for b in blobs]
            whole = Facts.loads(run)
            if (
                indexes == order[: len(indexes)]
                and len(facts) == len(indexes)
                and all(f is not None for f in facts)
                and whole is not None
            ):
                if not indexes:
                    return None  # this process folded them all
                got = [(i, f) for i, f in zip(indexes, facts, strict=True) if f is not None]
                got.sort(key=lambda x: x[0])
                return got, whole
        except (EOFError, ValueError, TypeError):
            pass
    why = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    warn(f"cache builder helper failed (exit {proc.returncode}: {why[0]}); folded here instead")  # type: ignore[attr-defined]
    return None


def _output(path: str, floor: float, claims: _Claims, work: list[tuple[int, int, int]]) -> bytes:
    """A helper's work and answer: fold the ranges of ``work`` it claims, in that order,
    until one is claimed already; the indexes it folded (in that order), each one's facts,
    and their merged run, marshalled."""
    got = _fold_claimed(path, work, claims, floor)
    run = _joined([f for _, f in sorted(got, key=lambda x: x[0])], floor)
    return marshal.dumps(([i for i, _ in got], [f.dumps() for _, f in got], run.dumps()))


def _main(argv: Sequence[str]) -> int:
    """Helper: ``python -m bellwatch.sources._build PATH FLOOR CLAIMS I START END [...]``
    (where it cannot be forked): writes :func:`_output` to stdout."""
    gc.disable()  # as in build(): a fold makes no cycles
    path, floor, claims = argv[0], float(argv[1]), _Claims(argv[2])
    bounds = [int(x) for x in argv[3:]]
    work = list(zip(bounds[0::3], bounds[1::3], bounds[2::3], strict=True))
    sys.stdout.buffer.write(_output(path, floor, claims, work))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
