"""The one module that imports Apache DataSketches (the ``users`` extra), lazily.

User analytics count with the library's sketches, never hand-written ones:

- :class:`Distinct`: a HyperLogLog (``hll_sketch``, HLL_4) of distinct strings;
  :func:`distinct_union` estimates the distinct count of several;
- :class:`Frequent`: the frequent-items sketch (``frequent_strings_sketch``) for the
  heaviest users;
- :class:`PerKey`: a tuple sketch with the accumulator policy: a uniform sample of keys
  (users) with the exact sum of their updates (requests, sessions), for percentiles.

``datasketches`` pulls in numpy (about 45 MB installed, 0.3 s to import), which is why
it is an extra and not a core dependency: :func:`load` raises ``ImportError`` with the
install line, and the users tracker is then simply not built ("not counted").
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

__all__ = ["HINT", "Distinct", "Frequent", "PerKey", "distinct_union", "load", "rel_err"]

HINT = "user analytics need the datasketches package: pip install 'bellwatch[users]'"

_module: Any = None


def load() -> Any:
    """The ``datasketches`` module.

    Raises:
        ImportError: it is not installed (the message says how to install it).
    """
    global _module
    if _module is None:
        try:
            _module = importlib.import_module("datasketches")
        except ImportError as exc:
            raise ImportError(HINT) from exc
    return _module


def rel_err(lg_k: int, *, unioned: bool = True, std_devs: int = 2) -> float:
    """The library's a-priori relative error of a distinct count (``2``: about 95%)."""
    return abs(float(load().hll_sketch.get_rel_err(True, unioned, lg_k, std_devs)))


class Distinct:
    """Distinct strings, estimated (HyperLogLog, ``2**lg_k`` 4-bit registers at most).

    ``add(item)`` is the library's own method (no Python frame per update).
    """

    __slots__ = ("add", "lg_k", "sketch")

    def __init__(self, lg_k: int, sketch: Any = None) -> None:
        ds = load()
        self.lg_k = lg_k
        self.sketch = ds.hll_sketch(lg_k, ds.HLL_4) if sketch is None else sketch
        self.add = self.sketch.update

    def estimate(self) -> int:
        return round(float(self.sketch.get_estimate()))

    def merged(self, other: Distinct) -> Distinct:
        """A new sketch of both sets (this one and ``other`` stay as they are)."""
        ds = load()
        union = ds.hll_union(self.lg_k)
        union.update(self.sketch)
        union.update(other.sketch)
        return Distinct(self.lg_k, union.get_result(ds.HLL_4))


def distinct_union(parts: Iterable[Distinct], lg_k: int) -> int:
    """The distinct count of the union of ``parts`` (0 without any)."""
    union = load().hll_union(lg_k)
    empty = True
    for part in parts:
        union.update(part.sketch)
        empty = False
    return 0 if empty else round(float(union.get_estimate()))


class Frequent:
    """The heaviest items by weight (frequent-items sketch, ``0.75 * 2**lg_k`` counters)."""

    __slots__ = ("add", "lg_k", "sketch")

    def __init__(self, lg_k: int) -> None:
        self.lg_k = lg_k
        self.sketch = load().frequent_strings_sketch(lg_k)
        self.add = self.sketch.update  # add(item, weight)

    @staticmethod
    def top(parts: Iterable[Frequent], lg_k: int, n: int) -> list[tuple[str, int]]:
        """The ``n`` heaviest items over ``parts``: (item, estimated weight), heaviest first.

        Estimates are within the sketch's epsilon times the total weight; once more items
        came than it has counters, light items may be listed too (no false negatives).
        """
        ds = load()
        merged = ds.frequent_strings_sketch(lg_k)
        for part in parts:
            merged.merge(part.sketch)
        rows = merged.get_frequent_items(ds.frequent_items_error_type.NO_FALSE_NEGATIVES)
        out = [(str(item), int(estimate)) for item, estimate, _low, _high in rows]
        out.sort(key=lambda row: (-row[1], row[0]))
        return out[:n]


class PerKey:
    """A uniform sample of keys (about ``2**lg_k``) with the exact sum of their updates."""

    __slots__ = ("add", "lg_k", "sketch")

    def __init__(self, lg_k: int) -> None:
        ds = load()
        self.lg_k = lg_k
        self.sketch = ds.update_tuple_sketch(ds.AccumulatorPolicy(), lg_k)
        self.add = self.sketch.update  # add(key, amount)

    @staticmethod
    def values(parts: Iterable[PerKey], lg_k: int) -> list[int]:
        """Per sampled key, its sum over ``parts`` (a key's updates in several parts add)."""
        ds = load()
        union = ds.tuple_union(ds.AccumulatorPolicy(), lg_k)
        for part in parts:
            union.update(part.sketch)
        return [int(summary) for _hash, summary in union.get_result()]
