"""Duration histograms as report facts keep them: exact, mergeable, cheap to store.

A histogram is a pair of byte strings: the distinct durations as native doubles,
ascending, and how often each occurred as native 64-bit integers (``array`` types
``d`` and ``q``). One zero (``0.0`` for both signs) and one NaN, after every number.
Kept so, a cache file loads an endpoint's histogram as two strings, and a merge, a
mean or a percentile never builds a Python object per distinct duration (a file's
million requests hold tens of thousands). Byte order is the machine's: a cache file
stays on it.

The C scanner counts and merges them where it was built (:mod:`._cext`); the Python
here gives the same bytes without it. A fold may also hold an endpoint's durations as
they came: packed doubles (one ``bytes``), or a ``{duration: n}`` dict (the Python
fold of a window); :func:`counted` turns any of the three into a histogram.
"""

from __future__ import annotations

import math
import operator
from array import array
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from itertools import accumulate
from typing import Any

from ..query.percentile import position
from ._cext import scan

__all__ = ["EMPTY", "Hist", "counted", "entries", "mean", "merged", "pairs", "percentile", "top"]

Hist = tuple[bytes, bytes]
EMPTY: Hist = (b"", b"")
_NAN = float("nan")


def counted(durations: Any) -> Hist:
    """The histogram of ``durations``: packed doubles, a ``{duration: n}`` dict, or a
    histogram already (returned as it is)."""
    kind = type(durations)
    if kind is tuple:
        return durations  # type: ignore[no-any-return]
    if kind is dict:
        return _from_counts(durations.items())
    if scan is not None:
        return scan.count(durations)  # type: ignore[no-any-return]
    return _from_counts(Counter(memoryview(durations).cast("d")).items())


def merged(a: Any, b: Any) -> Hist:
    """Two histograms (or anything :func:`counted` takes) added together."""
    first, second = counted(a), counted(b)
    if not second[0]:
        return first
    if not first[0]:
        return second
    if scan is not None:
        return scan.merge(first[0], first[1], second[0], second[1])  # type: ignore[no-any-return]
    both: Counter[float] = Counter()
    for hist in (first, second):
        for value, n in pairs(hist):
            both[value] += n
    return _from_counts(both.items())


def entries(hist: Any) -> int:
    """How many distinct durations (at most: durations not counted yet) ``hist`` holds."""
    kind = type(hist)
    if kind is tuple:
        return len(hist[0]) // 8
    if kind is dict:
        return len(hist)
    return len(hist) // 8


def top(hist: Hist) -> float | None:
    """The largest duration (``None`` when empty)."""
    values = memoryview(hist[0]).cast("d")
    return values[-1] if values else None


def mean(hist: Hist, known: int) -> float | None:
    """The mean of ``known`` durations, summed exactly (the same for any fold order)."""
    if not known:
        return None
    if scan is not None:
        exact: float | None = scan.total(hist[0], hist[1])
        if exact is not None:  # None: an infinite term or sum, which fsum judges
            return exact / known
    values, counts = memoryview(hist[0]).cast("d"), memoryview(hist[1]).cast("q")
    try:
        return math.fsum(map(operator.mul, values, counts)) / known
    except (OverflowError, ValueError):  # durations near 1e308 (a hostile log): inf or nan
        beyond: float = sum(map(operator.mul, values, counts))
        return beyond / known


def percentile(hist: Hist, p: float) -> float | None:
    """The ``p``-th percentile (:mod:`bellwatch.query.percentile`'s definition; ``None``
    when empty)."""
    counts = memoryview(hist[1]).cast("q")
    if not counts:
        return None
    running = list(accumulate(counts))
    if running[-1] <= 0:
        return None
    at = bisect_right(running, position(p, running[-1]))
    return float(memoryview(hist[0]).cast("d")[at])


def pairs(hist: Hist) -> Iterable[tuple[float, int]]:
    """``(duration, n)`` of ``hist``, ascending."""
    return zip(memoryview(hist[0]).cast("d"), memoryview(hist[1]).cast("q"), strict=True)


def _from_counts(items: Iterable[tuple[float, int]]) -> Hist:
    """The histogram of ``(duration, n)`` pairs in any order, as the scanner makes it."""
    kept: dict[float, int] = {}
    nan = 0
    for value, n in items:
        if math.isnan(value):
            nan += n
        elif n:
            key = value + 0.0  # -0.0 becomes 0.0
            kept[key] = kept.get(key, 0) + n
    values = array("d", sorted(kept))
    counts = array("q", [kept[v] for v in values])
    if nan:
        values.append(_NAN)
        counts.append(nan)
    return values.tobytes(), counts.tobytes()
