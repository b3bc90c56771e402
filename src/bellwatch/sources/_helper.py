"""The build's helper processes (:mod:`._build`): each folds the ranges of a file it
claims and hands their facts back.

A range is claimed by creating a file named after it with ``O_EXCL`` in a directory the
build makes: the first process to try takes it. A helper is forked from the building
process where that is safe (Linux, one thread: it has every module imported already),
else started as ``python -m bellwatch.sources._helper``; either way its answer is the
indexes it folded, each one's facts and their merged run, marshalled, and a helper that
fails says why (the build then folds what it had claimed).
"""

from __future__ import annotations

import gc
import marshal
import os
import sys
import threading
from collections.abc import Callable, Sequence

from ._chunk import fold_range
from .facts import Facts, joined

__all__ = ["Claims", "collect", "fold_claimed", "start"]


class Claims:
    """Ranges taken by the processes folding one file: one file per range, created with
    ``O_EXCL`` by the process that takes it (the first to try)."""

    def __init__(self, directory: str) -> None:
        self.dir = directory

    @classmethod
    def make(cls) -> Claims | None:
        """A fresh claims directory, or ``None`` when none can be made (then fold alone)."""
        try:
            import tempfile  # here: a cached read starts no build (a few ms of imports)

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

    def taken(self, index: int) -> bool:
        """Whether range ``index`` is claimed."""
        return os.path.exists(os.path.join(self.dir, str(index)))

    def remove(self) -> None:
        """Delete the claims directory (after every helper has answered)."""
        import shutil  # here: only a build that started helpers gets this far

        shutil.rmtree(self.dir, ignore_errors=True)


_CLAIM = os.O_CREAT | os.O_EXCL | os.O_WRONLY


def fold_claimed(
    path: str,
    work: Sequence[tuple[int, int, int]],
    claims: Claims,
    floor: float,
    *,
    leave_last: bool = False,
) -> list[tuple[int, Facts]]:
    """Fold the ranges ``(index, start, end)`` of ``work`` this process claims, in that
    order, until one is claimed already. ``leave_last``: once it has folded one, leave
    the last range before another process's to that process (the building process has
    more to do after folding than a helper: merging, storing and answering)."""
    out: list[tuple[int, Facts]] = []
    for n, (i, start, end) in enumerate(work):
        if leave_last and out and n + 1 < len(work) and claims.taken(work[n + 1][0]):
            break
        if not claims.take(i):
            break
        out.append((i, fold_range(path, start, end, floor)[0]))
    return out


def start(path: str, floor: float, claims: str, work: list[tuple[int, int, int]]) -> object:
    """A helper folding ``work``: forked from this process where that is safe (it has
    every module imported already: no interpreter to start), else a new interpreter."""
    if _can_fork():
        try:
            return _Forked(path, floor, claims, work)
        except OSError:
            pass  # no fork (memory, process limits): a new interpreter may still start
    import subprocess

    args = [sys.executable, "-m", "bellwatch.sources._helper", path, repr(floor), claims]
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
                data = _output(path, floor, Claims(claims), work)
                code = 0
            except BaseException as exc:  # said to the parent, which folds its ranges instead
                data = [f"{type(exc).__name__}: {exc}".encode("utf-8", "replace")]
            try:
                with os.fdopen(write, "wb") as out:
                    out.writelines(data)
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


def collect(
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
            view = memoryview(out)
            size = int.from_bytes(view[:4], "little")
            indexes, lengths = marshal.loads(view[4 : 4 + size])  # noqa: S302 - our own helper's
            blobs, pos = [], 4 + size
            for length in lengths:
                blobs.append(view[pos : pos + length])  # read in place, not copied
                pos += length
            facts = [Facts.loads(b) for b in blobs[:-1]]
            whole = Facts.loads(blobs[-1]) if blobs and pos == len(view) else None
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
                whole.rows_from([f for _, f in got])
                return got, whole
        except (EOFError, ValueError, TypeError):
            pass
    why = err.decode("utf-8", "replace").strip().splitlines()[-1:] or ["no output"]
    warn(f"cache builder helper failed (exit {proc.returncode}: {why[0]}); folded here instead")  # type: ignore[attr-defined]
    return None


def _output(
    path: str, floor: float, claims: Claims, work: list[tuple[int, int, int]]
) -> list[bytes | memoryview]:
    """A helper's work and answer: fold the ranges of ``work`` it claims, in that order,
    until one is claimed already; its answer, in parts to write one after the other: the
    length of a marshalled header (4 bytes), the header (the indexes it folded, in that
    order, and each blob's length), then each one's facts and their merged run."""
    got = fold_claimed(path, work, claims, floor)
    run = joined([f for _, f in sorted(got, key=lambda x: x[0])], floor)
    run.settle()  # its durations counted here (see Facts.ep), not in the process that waits
    blobs = [f.dumps() for _, f in got] + [run.dumps(rows=False)]  # the chunks keep its rows
    head = marshal.dumps(([i for i, _ in got], [len(b) for b in blobs]))
    return [len(head).to_bytes(4, "little"), head, *blobs]


def _main(argv: Sequence[str]) -> int:
    """Helper: ``python -m bellwatch.sources._helper PATH FLOOR CLAIMS I START END [...]``
    (where it cannot be forked): writes :func:`_output` to stdout."""
    gc.disable()  # as in build(): a fold makes no cycles
    path, floor, claims = argv[0], float(argv[1]), Claims(argv[2])
    bounds = [int(x) for x in argv[3:]]
    work = list(zip(bounds[0::3], bounds[1::3], bounds[2::3], strict=True))
    sys.stdout.buffer.writelines(_output(path, floor, claims, work))
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
