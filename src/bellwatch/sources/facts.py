"""Report facts: what ``errors``, ``slow``, ``endpoints``, ``twilio`` and ``summary`` need,
folded from events by :mod:`._fold`, mergeable, and small enough to keep on disk.

One pass of :mod:`.reader` over a file (or a part of one, or stdin) gives one
:class:`Facts`; facts of parts merge into the facts of the whole, exactly. The reports
(:mod:`bellwatch.reports`) turn them into rows; the cache (:mod:`.cache`) stores them per
file and per chunk of a file, so an unchanged file is never read again.

What is kept:

- per endpoint (method, route): requests, requests without a duration, the slowest,
  5xx and 4xx counts, and an exact histogram of durations (:mod:`.histogram`);
- per error fingerprint: occurrences (the sum of ``n`` over its ``error`` and
  ``aggregated_error`` lines, 1 for an ``error`` line without ``n``), the highest
  severity, type and message of its first line, first and last time, routes, and the
  newest correlation id;
- every request slower than :data:`SLOW_FLOOR` seconds, in the order read (a report
  sorts the few it shows; keeping them sorted cost more than the rest of a fold);
- per Twilio CallSid: the correlation ids of its failed webhooks (non-2xx answers on a
  Twilio route, or a bad signature), so a webhook failing both ways counts once;
- per error fingerprint, the distinct users it affected: the ``uid`` of every line
  carrying its ``hash`` (a request line names the error recorded during it);
- counts: structured events, text events (and those before the first time, for windows),
  events without a time, error-level events, failed health checks; first and last time.

Stored with :mod:`marshal` behind a versioned header; sections are unmarshalled only
when a report reads them (``slow`` never loads the histograms).
"""

from __future__ import annotations

import heapq
import marshal
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from ._sections import KINDS, MERGE, SIZE, count_packed, counting, high, low

__all__ = ["MAX_SLOW_ROWS", "SLOW_FLOOR", "SLOW_SPLIT", "Chunk", "Facts", "joined", "slowest"]

VERSION = 6  # 6: histograms as sorted arrays (5: an integer uid is an affected user)
_MAGIC = b"BWF\x01"
_SECTIONS = ("ep", "err", "slow", "slow_lo", "tw", "eu")
ROWS = ("slow", "slow_lo")
"""The sections of rows (one per slow request), which a merge of runs only joins."""
_NO_ROWS = marshal.dumps([])
_SCALARS = ("records", "text", "head_text", "untimed", "min_ts", "max_ts", "last_ts",
            "error_lines", "health_failures", "floor")  # fmt: skip
SLOW_FLOOR = 0.5
"""Seconds: requests slower than this are kept row by row (``slow --threshold`` at or over
it is answered from facts; a lower one folds the events again with its own floor)."""
SLOW_SPLIT = 2.0
"""Rows slower than this (the default threshold) load without the rest."""
MAX_SLOW_ROWS = 200_000
MAX_HIST = 300_000
MAX_TWILIO_IDS = 100_000
MAX_ERROR_USERS = 300_000


class Facts:
    """Mergeable report facts of a run of events (see the module docstring)."""

    def __init__(self, floor: float = SLOW_FLOOR) -> None:
        self.records = 0
        self.text = 0
        self.head_text = 0
        """Text events before the first structured event with a time: they take their time
        from before this run (the previous chunk of the file), or have none."""
        self.untimed = 0
        """Structured events without a time."""
        self.min_ts: int | None = None
        self.max_ts: int | None = None
        self.last_ts: int | None = None
        """The time of the last structured event with one: the next run's text events
        inherit it."""
        self.error_lines = 0
        self.health_failures = 0
        self.floor = floor
        self._blobs: dict[str, bytes | memoryview] = {}
        self._todo: dict[str, list[Facts]] = {}
        """Facts merged in whose section is not yet read: folded in when it is."""
        self._ep: dict[tuple[Any, Any], list[Any]] | None = {}
        self._err: dict[str, list[Any]] | None = {}
        self._slow: list[tuple[Any, ...]] | None = []
        self._slow_lo: list[tuple[Any, ...]] | None = []
        self._tw: dict[str, list[Any]] | None = {}
        self._eu: dict[str, set[str]] | None = {}
        self._stored_sizes: dict[str, int] = {}
        """Each section's size as stored (see :meth:`bounded`), while it is not read."""
        self._stored: tuple[memoryview, tuple[Any, ...]] | None = None
        """The blob these facts were loaded from and their scalars then: :meth:`dumps`
        gives it back as it is while no section was read or merged into (an append
        rewrites a cache file of many chunks it never touched)."""

    # ------------------------------------------------------------ sections

    def _raw(self, name: str) -> Any:
        """Section ``name`` as kept: an endpoint's histogram may still be its durations
        (see :attr:`ep`)."""
        value = getattr(self, f"_{name}")
        if value is not None and name not in self._todo:
            return value
        return self._section(name, KINDS[name])

    def _section(self, name: str, kind: type) -> Any:
        """Section ``name``: unmarshalled from the stored blob, then with the facts merged
        into it since folded in (so a report pays only for the sections it reads)."""
        value = getattr(self, f"_{name}")
        if value is None:
            self._stored = None  # a live section may change
            value = marshal.loads(self._blobs.pop(name))  # noqa: S302 - our own cache file
            if not isinstance(value, kind):
                raise TypeError(f"facts section {name} is damaged")
        for other in self._todo.pop(name, ()):
            value = MERGE[name](value, other._raw(name))
        setattr(self, f"_{name}", value)
        return value

    @property
    def ep(self) -> dict[tuple[Any, Any], list[Any]]:
        """``(method, path) -> [count, without_duration, max, n5xx, n4xx, histogram]``:
        the histogram (:mod:`.histogram`: distinct durations and their counts) gives the
        average and percentiles, the same whatever order the events were folded in;
        ``max`` is the slowest duration (``None`` without one).

        A fold keeps each endpoint's durations as they came, packed as doubles
        (:func:`._sections.packed`): a chunk's are stored so, and facts merged from chunks join
        them; they are counted into the histogram here, in C, when first read."""
        ep: dict[tuple[Any, Any], list[Any]] = self._raw("ep")
        for e in ep.values():
            if type(e[5]) is not tuple:
                count_packed(e)
        return ep

    def ep_rows(self) -> dict[tuple[Any, Any], list[Any]]:
        """:attr:`ep`, histograms as kept (for the fold, which adds packed durations)."""
        return self._raw("ep")  # type: ignore[no-any-return]

    def ep_dicts(self) -> dict[tuple[Any, Any], list[Any]]:
        """:attr:`ep`, each histogram a ``{duration: n}`` dict (for the Python fold, which
        counts into it)."""
        ep: dict[tuple[Any, Any], list[Any]] = self._raw("ep")
        for e in ep.values():
            if type(e[5]) is not dict:
                counting(e)
        return ep

    @property
    def err(self) -> dict[str, list[Any]]:
        """``hash -> [n, rank, sev, first_ts, type, msg, last_ts, cid, cid_ts, {paths}]``."""
        return (
            self._err
            if self._err is not None and "err" not in self._todo
            else self._section("err", dict)
        )

    @property
    def slow(self) -> list[tuple[Any, ...]]:
        """``(ts, method, path, duration, status, cid)`` slower than :data:`SLOW_SPLIT`, in
        the order read."""
        if self._slow is not None and "slow" not in self._todo:
            return self._slow
        return self._section("slow", list)  # type: ignore[no-any-return]

    @property
    def slow_lo(self) -> list[tuple[Any, ...]]:
        """Like :attr:`slow`, for durations over :attr:`floor` up to :data:`SLOW_SPLIT`."""
        if self._slow_lo is not None and "slow_lo" not in self._todo:
            return self._slow_lo
        return self._section("slow_lo", list)  # type: ignore[no-any-return]

    @property
    def tw(self) -> dict[str, list[Any]]:
        """``sid -> [{failed cids}, {bad-signature cids}, failures without a cid, bad
        signatures without a cid, {statuses}, {paths}, first_ts, last_ts, cid, cid_ts]``."""
        return (
            self._tw
            if self._tw is not None and "tw" not in self._todo
            else self._section("tw", dict)
        )

    @property
    def eu(self) -> dict[str, set[str]]:
        """``hash -> {uid}``: the users each error fingerprint affected."""
        return (
            self._eu
            if self._eu is not None and "eu" not in self._todo
            else self._section("eu", dict)
        )

    def add_slow(self, rows: list[tuple[Any, ...]]) -> None:
        """Add requests over the floor, in the order read, to their band."""
        split = SLOW_SPLIT
        self.slow.extend(r for r in rows if r[3] > split)
        self.slow_lo.extend(r for r in rows if r[3] <= split)

    def bounded(self) -> bool:
        """Whether these facts are small enough to keep on disk, judged without merging
        what is not merged yet (the sum of the parts' sizes: at least the merged size)."""
        rows = self._size("slow") + self._size("slow_lo")
        hist, ids, users = self._size("ep"), self._size("tw"), self._size("eu")
        return (
            rows <= MAX_SLOW_ROWS
            and hist <= MAX_HIST
            and ids <= MAX_TWILIO_IDS
            and users <= MAX_ERROR_USERS
        )

    def _size(self, name: str) -> int:
        value = getattr(self, f"_{name}")
        own = SIZE[name](value) if value is not None else self._stored_sizes.get(name, 0)
        return int(own) + sum(other._size(name) for other in self._todo.get(name, ()))

    # ------------------------------------------------------------ merging

    def merge(self, other: Facts) -> None:
        """Add ``other`` into these facts; when both are runs of one file, ``other`` is the
        run that follows (its leading text events inherit this run's last time).

        Counts merge now; each section when it is first read (``other`` must not change
        in between: facts are built, then merged, then read).
        """
        if self.last_ts is None:
            self.head_text += other.head_text
        self.records += other.records
        self.text += other.text
        self.untimed += other.untimed
        self.error_lines += other.error_lines
        self.health_failures += other.health_failures
        self.min_ts = low(self.min_ts, other.min_ts)
        self.max_ts = high(self.max_ts, other.max_ts)
        if other.last_ts is not None:
            self.last_ts = other.last_ts
        self.floor = max(self.floor, other.floor)
        for name in _SECTIONS:
            self._todo.setdefault(name, []).append(other)

    def settle(self) -> None:
        """Merge every section now (as a report reading it would), not when first read;
        count the durations into histograms (see :attr:`ep`)."""
        for name in _SECTIONS:
            getattr(self, name)

    def freeze(self, *, rows: bool = True) -> None:
        """Marshal every section now, for :meth:`dumps`: facts that no longer change
        (an endpoint's durations as kept: see :attr:`ep`). ``rows``: the slow rows too."""
        self._stored = None
        for name in _SECTIONS:
            if rows or name not in ROWS:
                self._blobs[name] = marshal.dumps(self._raw(name))

    def rows_from(self, parts: Sequence[Facts]) -> None:
        """Facts stored without their slow rows (``dumps(rows=False)``): take them from
        ``parts``, in order (the facts they were merged from, which keep theirs)."""
        for name in ROWS:
            self._todo[name] = [*parts, *self._todo.get(name, ())]

    # ------------------------------------------------------------ storage

    def dumps(self, *, rows: bool = True) -> bytes | memoryview:
        """Magic, header length, the marshalled header (scalars, where each section lies),
        then the sections. ``rows=False``: the slow rows are left out (stored empty),
        for facts merged from others that keep them (see :meth:`rows_from`). Facts loaded
        and untouched since give back the blob they were loaded from (a view of it)."""
        stored = self._stored
        if (
            stored is not None
            and not any(rows or name not in ROWS for name in self._todo)
            and len(self._blobs) == len(_SECTIONS)
            and (rows or not any(self._stored_sizes[n] for n in ROWS))
            and stored[1] == tuple(getattr(self, n) for n in _SCALARS)
        ):
            return stored[0]  # a view of the blob: written out, never changed
        blobs = [
            _NO_ROWS
            if not rows and n in ROWS
            else self._blobs[n]
            if n in self._blobs and n not in self._todo
            else marshal.dumps(self._raw(n))
            for n in _SECTIONS
        ]
        where, pos = {}, 0
        for name, blob in zip(_SECTIONS, blobs, strict=True):
            where[name] = (pos, len(blob))
            pos += len(blob)
        head = {name: getattr(self, name) for name in _SCALARS}
        sizes = {name: self._size(name) if rows or name not in ROWS else 0 for name in _SECTIONS}
        head |= {"v": VERSION, "sections": where, "sizes": sizes}
        raw = marshal.dumps(head)
        return b"".join([_MAGIC, len(raw).to_bytes(4, "little"), raw, *blobs])

    @classmethod
    def loads(cls, blob: bytes | memoryview) -> Facts | None:
        """Facts from :meth:`dumps`, or ``None`` when damaged or of another version.

        Sections stay views of ``blob`` (a memory-mapped file, say) until read.
        """
        try:
            view = memoryview(blob)
            if bytes(view[:4]) != _MAGIC:
                return None
            size = int.from_bytes(view[4:8], "little")
            head = marshal.loads(view[8 : 8 + size])  # noqa: S302 - our own cache file
            if not isinstance(head, dict) or head.get("v") != VERSION:
                return None
            out = cls(float(head["floor"]))
            for name in _SCALARS:
                setattr(out, name, head[name])
            body = 8 + size
            for name in _SECTIONS:
                start, length = head["sections"][name]
                if start < 0 or length < 0 or body + start + length > len(view):
                    return None  # truncated
                out._blobs[name] = view[body + start : body + start + length]
                setattr(out, f"_{name}", None)
            out._stored_sizes = {name: int(head["sizes"][name]) for name in _SECTIONS}
            end = body + max((s + n for s, n in head["sections"].values()), default=0)
            out._stored = (view[:end], tuple(getattr(out, n) for n in _SCALARS))
        except (EOFError, ValueError, TypeError, KeyError):
            return None
        return out


@dataclass
class Chunk:
    """Complete lines ``[start, end)`` of a file and their facts (see :mod:`._chunk`)."""

    start: int
    end: int
    facts: Facts


def joined(parts: Sequence[Facts], floor: float) -> Facts:
    """Runs of one file (or facts of several), in order, merged (lazily: see
    :meth:`Facts.merge`)."""
    out = Facts(floor)
    for part in parts:
        out.merge(part)
    return out


def slowest(rows: list[tuple[Any, ...]], threshold: float, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` of ``rows`` slower than ``threshold``: slowest first, then oldest,
    then in the order read."""
    over = [r for r in rows if r[3] > threshold]
    if len(over) > limit:
        return heapq.nsmallest(limit, over, key=_slow_key)  # stable, as sorted() is
    if None in map(_TS, over):
        return sorted(over, key=_slow_key)
    # every row timed: two stable sorts on keys read in C, not a key function per row
    over.sort(key=_TS)
    over.sort(key=_DURATION, reverse=True)  # reverse keeps equal rows in order
    return over


_TS, _DURATION = itemgetter(0), itemgetter(3)


def _slow_key(row: tuple[Any, ...]) -> tuple[float, bool, int]:
    return (-row[3], row[0] is None, row[0] or 0)
