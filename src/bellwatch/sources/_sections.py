"""How each section of :class:`~.facts.Facts` merges, is counted and is sized.

Facts keep six sections (endpoints, errors, slow rows, slow rows under the split,
Twilio calls, error users); merging two facts merges each section with its own rule
here, lazily, when a report first reads it. The endpoint histograms are kept as the
durations came (packed doubles) until read, then counted (:mod:`.histogram`).
"""

from __future__ import annotations

from array import array
from typing import Any

from .histogram import counted, entries, merged, pairs, top

__all__ = ["KINDS", "MERGE", "SIZE", "add_packed", "count_packed", "counting", "high", "low",
           "merge_error", "merge_twilio", "packed"]  # fmt: skip


def low(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def high(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def packed(durations: list[float]) -> bytes:
    """Durations as an endpoint's histogram keeps them until it is read (see
    :attr:`~.facts.Facts.ep`): doubles in native byte order (a cache file stays on its machine)."""
    return array("d", durations).tobytes()


def count_packed(e: list[Any]) -> None:
    """Count an endpoint row's durations (packed, or a dict) into its histogram
    (:mod:`.histogram`), and its slowest: a row whose durations are packed keeps no
    slowest of its own (the builder skips a pass over them)."""
    hist = e[5] = counted(e[5])
    longest = top(hist)
    if longest is not None:
        e[2] = _slowest(e[2], longest)


def add_packed(e: list[Any], found: bytes) -> None:
    """Add a fold's packed durations to an endpoint row: joined to the packed ones it holds
    (counted once, when read), else counted and merged into its histogram."""
    hist = e[5]
    if not hist:
        e[5] = found
    elif type(hist) is bytes:
        e[5] = hist + found
    else:
        e[5] = merged(hist, found)
        count_packed(e)  # the slowest of the durations just counted


def counting(e: list[Any]) -> dict[float, int]:
    """An endpoint row's histogram as a ``{duration: n}`` dict, for the Python fold to count
    into (a fold of a line after the scanner's, or into facts read before)."""
    count_packed(e)  # its slowest too
    hist: dict[float, int] = dict(pairs(e[5]))
    e[5] = hist
    return hist


def _slowest(a: float | None, b: float) -> float:
    return b if a is None or b > a else a


def _merge_ep(
    into: dict[tuple[Any, Any], list[Any]], other: dict[tuple[Any, Any], list[Any]]
) -> dict[tuple[Any, Any], list[Any]]:
    for key, e in other.items():
        mine = into.get(key)
        theirs = e[5]
        if mine is None:
            into[key] = [e[0], e[1], e[2], e[3], e[4],
                         dict(theirs) if type(theirs) is dict else theirs]  # fmt: skip
            continue
        mine[0] += e[0]
        mine[1] += e[1]
        mine[2] = high(mine[2], e[2])
        mine[3] += e[3]
        mine[4] += e[4]
        hist = mine[5]
        if type(hist) is bytes and type(theirs) is bytes:
            mine[5] = hist + theirs  # counted once, when read
            continue
        # a histogram keeps its slowest in the row; packed durations do not
        mine[5] = merged(hist, theirs)
        count_packed(mine)
    return into


def merge_error(into: dict[str, list[Any]], key: str, row: list[Any]) -> None:
    """Fold one fingerprint's row (the layout of :attr:`~.facts.Facts.err`) into ``into``."""
    mine = into.get(key)
    if mine is None:
        into[key] = [*row[:9], set(row[9])]
        return
    mine[0] += row[0]
    if row[1] is not None and (mine[1] is None or row[1] > mine[1]):
        mine[1], mine[2] = row[1], row[2]
    if row[3] is not None and (mine[3] is None or row[3] < mine[3]):
        mine[3], mine[4], mine[5] = row[3], row[4], row[5]  # type and message of the first line
    mine[6] = high(mine[6], row[6])
    if row[8] is not None and (mine[8] is None or row[8] >= mine[8]):
        mine[7], mine[8] = row[7], row[8]  # the newest line that names an example id
    elif mine[7] is None and mine[8] is None and row[7] is not None:
        mine[7] = row[7]  # lines without a time: the first id seen
    mine[9] |= row[9]


def _merge_err(into: dict[str, list[Any]], other: dict[str, list[Any]]) -> dict[str, list[Any]]:
    for key, row in other.items():
        merge_error(into, key, row)
    return into


def merge_twilio(into: dict[str, list[Any]], sid: str, row: list[Any]) -> None:
    """Fold one CallSid's row (the layout of :attr:`~.facts.Facts.tw`) into ``into``."""
    mine = into.get(sid)
    if mine is None:
        into[sid] = [set(row[0]), set(row[1]), row[2], row[3], set(row[4]), set(row[5]),
                     *row[6:10]]  # fmt: skip
        return
    for i in (0, 1, 4, 5):
        mine[i] |= row[i]
    mine[2] += row[2]
    mine[3] += row[3]
    mine[6] = low(mine[6], row[6])
    mine[7] = high(mine[7], row[7])
    if row[9] is not None and (mine[9] is None or row[9] >= mine[9]):
        mine[8], mine[9] = row[8], row[9]
    elif mine[8] is None and mine[9] is None and row[8] is not None:
        mine[8] = row[8]


def _merge_tw(into: dict[str, list[Any]], other: dict[str, list[Any]]) -> dict[str, list[Any]]:
    for sid, row in other.items():
        merge_twilio(into, sid, row)
    return into


def _merge_rows(into: list[tuple[Any, ...]], other: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return into + other if into else list(other)


def _merge_eu(into: dict[str, set[str]], other: dict[str, set[str]]) -> dict[str, set[str]]:
    for key, users in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = set(users)
        else:
            mine |= users
    return into


SIZE: dict[str, Any] = {
    "ep": lambda ep: sum(entries(e[5]) for e in ep.values()),
    "err": len,
    "slow": len,
    "slow_lo": len,
    "tw": lambda tw: sum(len(w[0]) + len(w[1]) for w in tw.values()),
    "eu": lambda eu: sum(len(u) for u in eu.values()),
}
"""What :meth:`~.facts.Facts.bounded` counts of each section: histogram entries (durations not
counted yet: at least as many), rows, ids, users."""
KINDS = {"ep": dict, "err": dict, "slow": list, "slow_lo": list, "tw": dict, "eu": dict}

MERGE: dict[str, Any] = {
    "ep": _merge_ep,
    "err": _merge_err,
    "slow": _merge_rows,
    "slow_lo": _merge_rows,
    "tw": _merge_tw,
    "eu": _merge_eu,
}
