"""Building a plain file's facts: every chunk folded (:mod:`._chunk`), by several
processes when the file is large (:mod:`._helper`), and merged into runs.

A large file is folded from both ends at once by this process and a helper (with more
cores, by a pair of processes per part of the file), each claiming a range before
folding it, until they meet. A helper that fails is reported, and the ranges it claimed
are folded here instead.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from . import _helper
from ._chunk import (
    CHUNK_BYTES,
    Chunk,
    complete_end,
    fold_range,
    fold_stream,
    paused_collector,
    plan,
)
from .facts import SLOW_FLOOR, Facts, joined

__all__ = [
    "CHUNK_BYTES", "PARALLEL_BYTES", "Built", "Chunk", "build", "complete_end", "fold_range",
    "fold_stream", "plan",
]  # fmt: skip

PARALLEL_BYTES = 24 * 1024 * 1024  # below this, starting a helper costs more than it saves


@dataclass
class Built:
    """The chunks of a build, and runs of them merged (one per process that folded some),
    in order: all of them together are the whole of what was read."""

    chunks: list[Chunk]
    runs: list[Facts]

    @property
    def facts(self) -> Facts:
        """The runs merged: the facts of everything read."""
        return joined(self.runs, self.runs[0].floor if self.runs else SLOW_FLOOR)


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

    The cyclic garbage collector is paused meanwhile (see :func:`._chunk.paused_collector`;
    a forked helper inherits the pause, a new interpreter makes its own).
    """
    with paused_collector():
        return _build(path, list(ranges), floor, warn, dump=dump)


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
    claims = _helper.Claims.make() if workers > 1 else None
    if claims is None:
        chunks = [Chunk(s, e, fold_range(path, s, e, floor)[0]) for s, e in ranges]
        run = joined([c.facts for c in chunks], floor)
        run.settle()  # durations counted once (see Facts.ep)
        return Built(chunks, [run])
    try:
        work = [[(i, *ranges[i]) for i in order] for order in _orders(ranges, workers)]
        started = [(w, _helper.start(path, floor, claims.dir, w)) for w in work[1:]]
        mine = _helper.fold_claimed(path, work[0], claims, floor, leave_last=True)
        folded = dict(mine)
        runs = [(mine[0][0], joined([f for _, f in mine], floor))] if mine else []
        for _, run in runs:
            run.settle()  # durations counted once per process (see Facts.ep)
            if dump:  # marshalled now, while the helpers finish: they will be stored
                run.freeze(rows=False)  # its chunks keep its rows
                for _, facts in mine:
                    facts.freeze()
        for helper_work, proc in started:
            got = _helper.collect(proc, [i for i, _, _ in helper_work], warn)
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


def _orders(ranges: list[tuple[int, int]], workers: int) -> list[list[int]]:
    """The order each process tries the ranges in: parts of about equal bytes, one per
    pair of processes, the first of a pair from the part's start, the second from its end."""
    parts = _split(list(range(len(ranges))), [e - s for s, e in ranges], (workers + 1) // 2)
    return [parts[w // 2] if w % 2 == 0 else parts[w // 2][::-1] for w in range(workers)]


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
