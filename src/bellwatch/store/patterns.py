"""Error patterns as state: the policy, one pattern's facts, the store that counts them.

Pure state, no lines and no alerts (those are :mod:`bellwatch.errors`):
:class:`MemoryPatternStore` counts each occurrence, decides whether it is due a
line (first, every Nth, or once per window) and escalates a spiking pattern, under
one lock with bounded memory. :class:`PatternStore` is the protocol a shared store
implements too (:mod:`bellwatch.store.redis_errors`). The public names are
re-exported by :mod:`bellwatch.errors`.
"""

from __future__ import annotations

import heapq
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

from .. import _settings
from ..schema import Sev

__all__ = ["Hit", "Kind", "MemoryPatternStore", "Pattern", "PatternStore", "Policy", "copy_pattern"]


def _up(severity: str) -> str:
    order = Sev.ORDER
    return order[min(order.index(severity) + 1, len(order) - 1)]


@dataclass(frozen=True, slots=True)
class Policy:
    """The settings the store decides with (a cluster store reads the same ones)."""

    mode: str = "every_n"
    every: int = 10
    window: float = 60.0
    ttl: float = 3600.0
    max_patterns: int = 10_000
    spike_threshold: int = 10
    spike_window: float = 300.0

    @classmethod
    def from_settings(cls, s: _settings.Settings) -> Policy:
        return cls(
            s.error_mode,
            s.error_every,
            s.error_window,
            s.error_ttl,
            s.error_max_patterns,
            s.spike_threshold,
            s.spike_window,
        )


@dataclass(slots=True)
class Pattern:
    """One fingerprint's facts; ``unlogged`` counts occurrences since its last line.

    ``announce`` (window mode): the pattern escalated and its next line has to say so.
    ``origin``: the severity it was first seen with (a spike raises ``severity``; a
    pattern that began low, a validation error, pages only if configured to).
    """

    hash: str
    type: str
    message: str
    severity: str
    endpoint: str | None
    first_seen: float
    last_seen: float
    count: int = 0
    unlogged: int = 0
    last_line: float = 0.0
    bucket: int = -2
    bucket_count: int = 0
    prev_count: int = 0
    escalated: bool = False
    scheduled: bool = False
    announce: bool = False
    origin: str = ""

    def __post_init__(self) -> None:
        if not self.origin:
            self.origin = self.severity


Kind = Literal["first", "aggregated", "none"]


@dataclass(frozen=True, slots=True)
class Hit:
    """What the store decided for one occurrence.

    ``count`` is the running total; ``line_count`` is what an ``aggregated`` line
    carries: the running total in every-Nth mode, the occurrences since the previous
    line in window mode. ``announce``: that line says the pattern escalated (window mode
    folds the escalation into the pattern's next line). ``alert``: a first occurrence
    may alert from this process (a shared store decides that for the cluster instead,
    and hands the decision over through ``alerts``).
    """

    kind: Kind
    count: int
    severity: str
    escalated_now: bool
    pattern: Pattern
    line_count: int = 0
    announce: bool = False
    n: int = 1
    alert: bool = True


class PatternStore(Protocol):
    """Count-and-decide per fingerprint, first/last seen, eviction.

    ``sweep`` hands over copies of patterns due a summary line: ``count`` is the
    running total and ``unlogged`` the occurrences since the pattern's previous line
    (window mode's line count).

    An escalation is reported once: through :attr:`Hit.escalated_now` when the store
    decides it on the occurrence itself (in memory), or through ``escalations`` when
    it is decided elsewhere and arrives later (a shared store's background flush).
    Likewise the first-occurrence alert: :attr:`Hit.alert`, or ``alerts``.

    ``unsaid`` (at shutdown) returns copies of every pattern with occurrences no line
    has accounted for, ``unlogged`` being that number, and counts them as stated.
    """

    def hit(self, key: str, now: float, make: Callable[[], Pattern]) -> Hit: ...

    def sweep(self, now: float) -> list[Pattern]: ...

    def escalations(self) -> list[Pattern]: ...

    def alerts(self) -> list[Pattern]: ...

    def unsaid(self, now: float) -> list[Pattern]: ...

    def snapshot(self) -> tuple[list[Pattern], int, dict[str, int]]: ...


class MemoryPatternStore:
    """Patterns in an LRU-ordered dict under one lock; idle ones expire after ``ttl``.

    ``sweep`` returns copies of patterns whose unlogged occurrences are due a summary
    line (their window elapsed, or they were evicted), so nothing counted is unsaid.
    """

    _PENDING_MAX = 1000

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._lock = threading.Lock()
        self._patterns: OrderedDict[str, Pattern] = OrderedDict()
        self._due: list[tuple[float, str]] = []
        self._pending: list[Pattern] = []
        self._total = 0
        self._by_severity: dict[str, int] = {}

    def hit(self, key: str, now: float, make: Callable[[], Pattern]) -> Hit:
        pol = self.policy
        with self._lock:
            p = self._patterns.get(key)
            if p is None:
                p = self._patterns[key] = make()
                if len(self._patterns) > pol.max_patterns:
                    self._retire(self._patterns.popitem(last=False)[1])
            else:
                self._patterns.move_to_end(key)
            p.count += 1
            p.last_seen = now
            escalated = self._spike(p, now)
            if escalated and pol.mode == "window":
                p.announce = True  # said by the next line, not a line of its own
            self._total += 1
            self._by_severity[p.severity] = self._by_severity.get(p.severity, 0) + 1
            kind: Kind = "none"
            line_count = p.count
            n = 1  # occurrences the line accounts for (schema field ``n``)
            if p.count == 1:
                kind, p.last_line = "first", now
            elif pol.mode == "every_n":
                p.unlogged += 1
                if p.count % pol.every == 0:
                    n = p.unlogged
                    kind, p.unlogged, p.last_line = "aggregated", 0, now
            else:
                p.unlogged += 1
                if now >= p.last_line + pol.window:
                    line_count = n = p.unlogged  # window mode: the count since the last line
                    kind, p.unlogged, p.last_line = "aggregated", 0, now
                elif not p.scheduled:
                    p.scheduled = True
                    heapq.heappush(self._due, (p.last_line + pol.window, key))
            announce = p.announce and kind != "none"
            if announce:
                p.announce = False
            return Hit(kind, p.count, p.severity, escalated, p, line_count, announce, n)

    def _spike(self, p: Pattern, now: float) -> bool:
        # Two fixed buckets approximate a sliding window in O(1) memory per pattern.
        width = self.policy.spike_window
        bucket = int(now // width)
        if bucket == p.bucket:
            p.bucket_count += 1
        else:
            p.prev_count = p.bucket_count if bucket == p.bucket + 1 else 0
            p.bucket, p.bucket_count = bucket, 1
        rate = p.prev_count * (1.0 - (now % width) / width) + p.bucket_count
        if p.escalated or rate <= self.policy.spike_threshold:
            return False
        p.escalated = True
        if p.severity == Sev.CRITICAL:
            return False
        p.severity = _up(p.severity)
        return True

    def _retire(self, p: Pattern) -> None:
        if p.unlogged and len(self._pending) < self._PENDING_MAX:
            self._pending.append(p)

    def sweep(self, now: float) -> list[Pattern]:
        pol = self.policy
        with self._lock:
            cutoff = now - pol.ttl
            while self._patterns:
                oldest = next(iter(self._patterns.values()))
                if oldest.last_seen > cutoff:
                    break
                self._retire(self._patterns.popitem(last=False)[1])
            while self._due and self._due[0][0] <= now:
                _, key = heapq.heappop(self._due)
                p = self._patterns.get(key)
                if p is None or not p.scheduled:
                    continue
                if not p.unlogged:
                    p.scheduled = False
                elif now >= p.last_line + pol.window:
                    p.scheduled = False
                    self._pending.append(copy_pattern(p))
                    p.unlogged, p.last_line, p.announce = 0, now, False
                else:
                    heapq.heappush(self._due, (p.last_line + pol.window, key))
            due, self._pending = self._pending, []
            if not self._patterns:
                self._due.clear()
            return due

    def escalations(self) -> list[Pattern]:
        """None: this store escalates on the occurrence itself (:attr:`Hit.escalated_now`)."""
        return []

    def alerts(self) -> list[Pattern]:
        """None: a first occurrence alerts from the process that saw it (:attr:`Hit.alert`)."""
        return []

    def unsaid(self, now: float) -> list[Pattern]:
        """Copies of every pattern with occurrences no line has stated yet, now stated.

        For a shutdown (or a signal that may precede one): the patterns stay tracked,
        so ``/metrics`` keeps listing them and later occurrences continue their count.
        """
        with self._lock:
            due, self._pending = self._pending, []
            for p in self._patterns.values():
                if p.unlogged:
                    due.append(copy_pattern(p))
                    p.unlogged, p.last_line, p.announce = 0, now, False
            return due

    def snapshot(self) -> tuple[list[Pattern], int, dict[str, int]]:
        with self._lock:
            return (
                [copy_pattern(p) for p in self._patterns.values()],
                self._total,
                dict(self._by_severity),
            )

    def top(self, n: int) -> tuple[list[Pattern], int, int, dict[str, int]]:
        """The ``n`` most frequent patterns, how many there are, the total, by severity.

        Cheaper than :meth:`snapshot` at the cap: the lock is held only to take references,
        so a ``/metrics`` scrape never stalls the requests that are recording errors.
        """
        with self._lock:
            refs = list(self._patterns.values())
            total, by_severity = self._total, dict(self._by_severity)
        best = heapq.nlargest(n, refs, key=lambda p: p.count)
        return [copy_pattern(p) for p in best], len(refs), total, by_severity


def copy_pattern(p: Pattern) -> Pattern:
    """A detached copy of ``p``'s reported facts (what a reader or a summary line needs)."""
    return Pattern(
        p.hash, p.type, p.message, p.severity, p.endpoint, p.first_seen, p.last_seen, p.count,
        p.unlogged, announce=p.announce, origin=p.origin,
    )  # fmt: skip
