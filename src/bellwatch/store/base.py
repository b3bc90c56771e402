"""The monitor's state behind a small interface, so it can move out of the process.

The in-memory store (:mod:`bellwatch.store.memory`) is the default. A shared
store (Redis, issue 7) implements the same :class:`Store` protocol by keeping a
local buffer and flushing it every ``flush_interval``:

- request counters are plain integer/float increments per route template and per
  time bucket (``HINCRBY``/``HINCRBYFLOAT`` in one pipeline);
- latency is a DDSketch per route template and per time bucket; sketches merge
  exactly (same relative accuracy), so each process merges its buffered sketch
  into the bucket's shared one;
- active sessions are a set of keys with a last-seen time and an expiry
  (``ZADD`` + ``ZREMRANGEBYSCORE``), counted over ``session_window``; a session
  the app ends (a hung-up call) is removed at once (``ZREM``), cluster-wide.

Everything a reader needs comes back as one :class:`Snapshot`, which merges with
another (cluster numbers plus this process's own).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from ddsketch import DDSketch
from ddsketch.mapping import LogarithmicMapping

__all__ = [
    "BUCKET_SECONDS",
    "MAPPING",
    "OTHER",
    "RELATIVE_ACCURACY",
    "UNMATCHED",
    "ZERO_BIN",
    "EndpointStats",
    "Request",
    "Snapshot",
    "Store",
    "new_sketch",
]

# 1% relative accuracy: p95 of 0.200 s reads as 0.198-0.202 s.
RELATIVE_ACCURACY = 0.01
# One finished request as the stores count it: route template, status, seconds,
# slow or not, and when it ended (wall-clock seconds).
Request = tuple[str, int, float, bool, float]
# Width of one time bucket of the rolling window.
BUCKET_SECONDS = 10.0
# Requests no route matched share one bucket, so a scan of random URLs cannot grow memory.
UNMATCHED = "<unmatched>"
# Route templates beyond the store's cap share this bucket.
OTHER = "<other>"


# The sketches' own index mapping. A request adds one to the count of its bin
# (mapping.key and a dict update); the library's DDSketch is built from the bins
# when a quantile or a merge reads it. The same bins are the Redis store's wire shape.
MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
ZERO_BIN = "z"  # durations too small for the log mapping
_MIN_MAPPED = MAPPING.min_possible


def _inline_key() -> Callable[[float], int]:
    """MAPPING.key as one expression, computed exactly as the library computes it.

    Two method calls fewer per request. Checked against MAPPING.key at import on
    values across the range; any difference (another ddsketch release) keeps the
    library's own method.
    """
    mantissa = 2 * RELATIVE_ACCURACY / (1 - RELATIVE_ACCURACY)
    multiplier = 1 / math.log1p(mantissa)
    multiplier *= math.log(2)
    log, ceil = math.log, math.ceil
    # math.log(value, 2) is log(value) / log(2), computed as written here: the same
    # float, with one logarithm per request instead of two.
    ln2 = math.log(2)

    def key(value: float) -> int:
        return int(ceil(log(value) / ln2 * multiplier))

    probes = [10.0**e * m for e in range(-9, 5) for m in (1.0, 1.2345, 2.5, 7.77, 9.999)]
    same = all(key(v) == MAPPING.key(v) for v in probes)
    return key if same else MAPPING.key


_bin_key = _inline_key()


def new_sketch() -> DDSketch:
    """An empty latency sketch with bellwatch's accuracy (all sketches must match to merge)."""
    return DDSketch(RELATIVE_ACCURACY)


class EndpointStats:
    """Counters and a latency sketch for one route template (or one total).

    ``errors`` counts 5xx, ``client_errors`` 4xx; ``total`` is the sum of
    durations in seconds.
    """

    __slots__ = ("_bins", "_sketch", "client_errors", "count", "errors", "slow", "total")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.client_errors = 0
        self.slow = 0
        self.total = 0.0
        self._bins: dict[int | str, int] = {}
        self._sketch: DDSketch | None = None

    def add(self, status: int, duration: float, slow: bool) -> None:
        """Count one request (the hot path: a few increments and one bin count)."""
        self.count += 1
        self.total += duration
        if status >= 500:
            self.errors += 1
        elif status >= 400:
            self.client_errors += 1
        if slow:
            self.slow += 1
        key = _bin_key(duration) if duration > _MIN_MAPPED else ZERO_BIN
        bins = self._bins
        bins[key] = bins.get(key, 0) + 1

    @property
    def sketch(self) -> DDSketch:
        """The latency DDSketch, every request counted so far folded in."""
        sketch = self._sketch
        if sketch is None:
            sketch = self._sketch = new_sketch()
        if self._bins:
            for key, n in self._bins.items():
                # a bin's representative value maps back to the same bin
                sketch.add(0.0 if key == ZERO_BIN else MAPPING.value(int(key)), n)
            self._bins = {}
        return sketch

    @sketch.setter
    def sketch(self, value: DDSketch) -> None:
        self._bins = {}
        self._sketch = value

    def merge(self, other: EndpointStats) -> None:
        """Add ``other`` into this one (exact for counters, sketch-exact for quantiles)."""
        self.count += other.count
        self.errors += other.errors
        self.client_errors += other.client_errors
        self.slow += other.slow
        self.total += other.total
        if other.count:
            self.sketch.merge(other.sketch)

    def copy(self) -> EndpointStats:
        out = EndpointStats()
        out.merge(self)
        return out

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else 0.0

    def quantile(self, q: float) -> float:
        """The ``q`` quantile of durations in seconds (0.0 when empty)."""
        if not self.count:
            return 0.0
        value = self.sketch.get_quantile_value(q)
        return float(value) if value is not None else 0.0


def _merge_into(into: dict[str, EndpointStats], other: dict[str, EndpointStats]) -> None:
    """Add every endpoint of ``other`` into ``into`` (copying, never sharing, stats)."""
    for key, stats in other.items():
        mine = into.get(key)
        if mine is None:
            into[key] = stats.copy()
        else:
            mine.merge(stats)


@dataclass
class Snapshot:
    """A consistent read of a store: what /metrics, Prometheus and EMF render.

    Attributes:
        endpoints: per route template, since start.
        window: per route template, over the rolling window only.
        window_seconds: the rolling window's length.
        active_sessions: distinct session keys seen within the session window.
        counters: business counters (:mod:`bellwatch.metrics`).
        started: wall-clock time the store started counting.
        source: ``"local"`` for this process, ``"cluster"`` for a shared store.
    """

    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    window: dict[str, EndpointStats] = field(default_factory=dict)
    window_seconds: float = 300.0
    active_sessions: int = 0
    counters: dict[str, float] = field(default_factory=dict)
    started: float = 0.0
    source: str = "local"

    def totals(self, *, windowed: bool = False) -> EndpointStats:
        """Every endpoint summed into one :class:`EndpointStats`."""
        out = EndpointStats()
        for stats in (self.window if windowed else self.endpoints).values():
            out.merge(stats)
        return out

    def merge(self, other: Snapshot) -> Snapshot:
        """A new snapshot adding ``other``'s numbers to this one's.

        Session counts add, which over-counts a session seen by two processes;
        a shared store counts distinct keys itself.
        """
        out = Snapshot(
            window_seconds=self.window_seconds,
            active_sessions=self.active_sessions + other.active_sessions,
            counters=dict(self.counters),
            started=min(self.started or other.started, other.started or self.started),
            source=self.source,
        )
        for mine, theirs, into in (
            (self.endpoints, other.endpoints, out.endpoints),
            (self.window, other.window, out.window),
        ):
            _merge_into(into, mine)
            _merge_into(into, theirs)
        for name, value in other.counters.items():
            out.counters[name] = out.counters.get(name, 0.0) + value
        return out


@runtime_checkable
class Store(Protocol):
    """Where the monitor keeps its numbers. Implementations never raise into callers.

    ``now`` is wall-clock seconds (``time.time()``), so buckets line up across
    processes; it is passed in so that tests and buffered stores control it.

    A store may also offer ``record_many(requests)``, counting several
    :data:`Request` tuples oldest first under one lock: the monitor uses it for a
    batch of deferred requests when it is there, else calls :meth:`record` per request.
    """

    def record(self, path: str, status: int, duration: float, slow: bool, now: float) -> None:
        """Count one finished request under its route template."""
        ...

    def touch_session(self, key: str, now: float) -> None:
        """Mark a session key as seen at ``now``."""
        ...

    def end_session(self, key: str, now: float) -> None:
        """The session ``key`` ended at ``now``: it stops counting as active at once.

        A touch later than ``now`` (the same key seen again) makes it active again.
        """
        ...

    def incr(self, name: str, amount: float, now: float) -> None:
        """Add ``amount`` to a business counter."""
        ...

    def snapshot(self, now: float) -> Snapshot:
        """Everything the readers need, consistent as of ``now``."""
        ...

    def reset(self) -> None:
        """Forget every number (tests, or a deliberate restart of counting)."""
        ...

    def close(self) -> None:
        """Flush and release resources; the store is not used afterwards."""
        ...
