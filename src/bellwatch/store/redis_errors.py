"""Cluster-wide error patterns: one count, one every-Nth decision, one escalation per fingerprint.

:class:`RedisPatternStore` implements :class:`bellwatch.store.patterns.PatternStore`, so the
aggregator is unchanged. An occurrence is counted in memory (no Redis on the
request path); the background :class:`~bellwatch.store._shipper.Shipper`
sends the counts every ``flush_interval`` to one Lua script, which adds them
atomically and answers which lines are due cluster-wide:

- ``every_n``: one ``aggregated_error`` line for each multiple of N the count
  crossed, written by the process whose batch crossed it, so four workers write
  exactly one line per N occurrences between them (not one per N per worker);
- ``window``: at most one summary per window per fingerprint, also for patterns
  that went quiet (a due-time sorted set the script drains), carrying the
  cluster's occurrences since that fingerprint's previous line;
- ``n`` is exact: Redis keeps, per fingerprint, how many occurrences some line
  has claimed. A process's first lines claim 1 each (sent with their batch); a
  line the script hands out claims everything unclaimed up to it; at shutdown
  each process claims the rest of the fingerprints it knows, and a pattern
  forgotten after its TTL has its rest stated first. So the ``n`` of all lines of
  all processes sum to the cluster's count. When Redis cannot be reached at
  shutdown, the process states what it never got acknowledged itself;
- escalation: the spike rate is computed on the cluster count; the process whose
  batch crossed the threshold writes ``error_escalated`` and fires the alert as
  soon as the answer arrives (the flusher calls ``on_due``), not on its next
  occurrence, which may never come; in window mode the fingerprint's next summary,
  whoever writes it, carries ``escalated: true`` instead of a line of its own.

The first occurrence is written in full (with its traceback) by the process that
sees it, when that process does not yet know the fingerprint from Redis (the
script returns fingerprints new to the cluster since the last round), or has not
seen it for ``error_ttl`` (it forgets it then, as the in-memory store does). Two workers
meeting a new error within one flush interval may each write a first line, each
with ``n`` 1, so the sum stays exact. The first-occurrence alert is the cluster's
decision too: the process whose batch brought the fingerprint to Redis sends it.

Keys under ``bellwatch:<service>:``: ``e:<hash>`` (hash: facts, count, spike
buckets; expires after ``error_ttl`` idle), ``errs`` (zset by last seen),
``etop`` (zset by count), ``enew`` (zset by first seen), ``edue`` (window mode),
``etot`` (hash: total, and per severity each occurrence at the severity it had, as in
memory: a batch that escalates its pattern counts the occurrences before the spike at
the old one), ``eproc:<id>`` (last batch applied).

Here is the aggregator's side: the request path, the hand-overs (lines due,
escalations, alerts), the shutdown's claims and the reads. The state and what a
round does with it (the script's call and answer) are in
:mod:`~bellwatch.store._redis_errors_rounds`. Imports the rounds, the shipper and
the patterns, never ``redis`` (only :mod:`~bellwatch.store._redis_client` does).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .._settings import Settings
from ..schema import Sev
from ._redis_client import key_prefix
from ._redis_errors_rounds import CLAIMS, ErrorRounds
from ._shipper import after_fork, attach_shipper
from .patterns import Hit, Pattern, Policy, copy_pattern

__all__ = ["RedisPatternStore", "shared_pattern_store"]


class RedisPatternStore(ErrorRounds):
    """A :class:`~bellwatch.store.patterns.PatternStore` whose counts and decisions live in Redis.

    Args:
        url: the Redis URL (setting ``redis_url``).
        policy: the aggregator's :class:`~bellwatch.store.patterns.Policy`.
        service: key namespace, ``bellwatch:<service>:`` (setting ``service``; no ``:``
            and no glob character, as :class:`~bellwatch.store.redis.RedisStore`).
        flush_interval: seconds between flushes (setting ``flush_interval``).
        buffer_max: occurrences buffered while Redis is unreachable (setting
            ``buffer_max``); later ones are counted in :attr:`overflowed` only.
        on_due: called from the flusher when summary lines are due, so they are
            written without waiting for the next occurrence (the aggregator's
            ``flush``).
    """

    def __init__(
        self,
        url: str,
        policy: Policy,
        *,
        service: str = "app",
        flush_interval: float = 1.0,
        buffer_max: int = 100_000,
        on_due: Callable[[], None] | None = None,
        timeout: float = 0.5,
        paging: tuple[str, ...] = (Sev.HIGH, Sev.CRITICAL),
    ) -> None:
        self.policy = policy
        self.paging = ",".join(paging)
        self.prefix = key_prefix(service)
        self.buffer_max = buffer_max
        self.on_due = on_due
        attach_shipper(
            self,
            url,
            name="redis_errors",
            interval=flush_interval,
            after=self._after,
            timeout=timeout,
        )

    # -- the request path: memory only -------------------------------------------------

    def hit(self, key: str, now: float, make: Callable[[], Pattern]) -> Hit:
        with self._lock:
            p = self._patterns.get(key)
            if p is not None and now - p.last_seen > self.policy.ttl:
                # Idle here past the TTL: forgotten, as the in-memory store forgets it (and
                # the cluster, unless another process kept it alive), so it comes back with
                # a first line in full, at its own severity. Its first line claims its 1.
                del self._patterns[key]
                self._known.discard(key)
                self._counts.pop(key, None)
                p = None
            if p is None:
                p = self._patterns[key] = make()
                if len(self._patterns) > self.policy.max_patterns:
                    self._patterns.popitem(last=False)
            else:
                self._patterns.move_to_end(key)
            p.count += 1
            p.last_seen = now
            self._total += 1
            self._by_severity[p.severity] = self._by_severity.get(p.severity, 0) + 1
            first = p.count == 1 and key not in self._known
            if first:
                self._known.add(key)
            if self._pending_n + self.shipper.inflight_updates >= self.buffer_max:
                self.overflowed += 1
                if not first:  # (a first line accounts for its own occurrence)
                    self._unshipped[key] = self._unshipped.get(key, 0) + 1
            else:
                self._pending_n += 1
                entry = self._pending.get(key)
                if entry is None:
                    self._pending[key] = [1, p.type, p.message, p.severity, p.endpoint or "",
                                          p.first_seen, now, 0]  # fmt: skip
                else:
                    entry[0] += 1
                    entry[6] = now
                if first:
                    self._pending[key][CLAIMS] += 1
            count = self._counts.get(key, 0) + (self._pending.get(key) or [0])[0]
            alert = first and self._pages_here(key)
        self.shipper.start()
        # Escalation and the first alert are otherwise the cluster's decisions: they
        # arrive through escalations() and alerts().
        return Hit("first" if first else "none", max(count, 1), p.severity, False, p, alert=alert)

    def _pages_here(self, key: str) -> bool:
        """Whether this process pages for a first occurrence itself (the caller holds the lock).

        With Redis down, yes (as without Redis): waiting for the cluster would page nobody
        until Redis is back. Otherwise the cluster decides, and ``key`` awaits it.
        """
        if not self.shipper.degraded:
            self._awaiting.add(key)
            return False
        if len(self._paged) > 4 * self.policy.max_patterns:
            self._paged.clear()  # bounded, as _known is: a repeated page beats unbounded memory
        self._paged.add(key)
        return True

    # -- reads -------------------------------------------------------------------------

    def sweep(self, now: float) -> list[Pattern]:
        """Summary lines the cluster decided this process writes (handed over once)."""
        with self._lock:
            due, self._due = self._due, []
        return due

    def escalations(self) -> list[Pattern]:
        """Patterns the cluster escalated on this process's batches (handed over once).

        Copies with the new severity and the cluster's count when it was decided.
        """
        with self._lock:
            out, self._escalations = self._escalations, []
        return out

    def alerts(self) -> list[Pattern]:
        """Fingerprints new to the cluster in this process's batches: this process alerts.

        Copies with the cluster's count when it was decided (handed over once). While
        Redis is down, also the first occurrences sent before it was found down: paged
        from here rather than not at all.
        """
        with self._lock:
            out, self._alerts = self._alerts, []
            if self.shipper.degraded and self._awaiting:
                # Firsts that went out before Redis was found down: paged from here too.
                paging = self.paging.split(",")
                for key in self._awaiting:
                    p = self._patterns.get(key)
                    if p is not None and p.severity in paging:
                        out.append(copy_pattern(p))
                        self._paged.add(key)
                self._awaiting.clear()
        return out

    _FINAL_WAIT = 2.0  # seconds a shutdown keeps retrying its final round

    def unsaid(self, now: float) -> list[Pattern]:
        """At shutdown: claim the rest of every fingerprint this process knows of.

        One round now ships the buffer and asks the cluster for the occurrences no
        line has accounted for yet, of every live fingerprint (the cluster's, not
        only this process's); they come back as lines due (``unlogged`` is their
        ``n``). If Redis does not answer, what this process counted but never got
        acknowledged is returned instead (and marked claimed in the batch that will
        carry it, should the process go on and Redis come back); what Redis did
        acknowledge stays there, for the next process that claims.
        """
        with self._lock:
            self._final = sorted(self._known.union(self._patterns))
        try:
            # Retried only while Redis may still apply it (see Shipper.final_flush).
            ok = self.shipper.final_flush(self._FINAL_WAIT)
        finally:
            with self._lock:
                self._final = None
        due = self.sweep(now)
        if ok:
            return due
        return due + self._claim_locally()

    def _claim_locally(self) -> list[Pattern]:
        unclaimed: dict[str, int] = {}
        with self._lock:
            inflight = self.shipper.inflight
            batches = [self._pending] + ([inflight[1]] if inflight is not None else [])
            for batch in batches:
                for key, entry in batch.items():
                    rest = entry[0] - entry[CLAIMS]
                    if rest > 0:
                        unclaimed[key] = unclaimed.get(key, 0) + rest
                        entry[CLAIMS] = entry[0]
            for key, n in self._unshipped.items():
                unclaimed[key] = unclaimed.get(key, 0) + n
            self._unshipped = {}
            out = []
            for key, n in unclaimed.items():
                p = self._patterns.get(key)
                if p is None:
                    continue
                due = copy_pattern(p)
                due.unlogged = n
                out.append(due)
        return out

    def current(self) -> bool:
        """Whether :meth:`snapshot` would answer with the cluster's patterns right now."""
        fresh = time.time() - self._cluster_at <= max(3 * self.shipper.interval, 5.0)
        return self._cluster is not None and fresh and not self.shipper.degraded

    def snapshot(self) -> tuple[list[Pattern], int, dict[str, int]]:
        """The cluster's patterns as of the last refresh; this process's while there is none."""
        self._read_at = time.time()
        cluster = self._cluster
        if cluster is not None and self.current():
            return [copy_pattern(p) for p in cluster[0]], cluster[1], dict(cluster[2])
        # No current cluster copy: this process's own patterns; the flusher refreshes now.
        self.shipper.start()
        self.shipper.wake()
        with self._lock:
            patterns = [copy_pattern(p) for p in self._patterns.values()]
            return patterns, self._total, dict(self._by_severity)

    def flush(self) -> bool:
        """Ship the buffer and refresh the cluster copy now; whether Redis answered."""
        self._read_at = time.time()
        return self.shipper.flush()

    def health(self) -> str:
        """``"ok"``, or ``"degraded"`` while Redis is unreachable."""
        return "degraded" if self.shipper.degraded else "ok"

    def close(self) -> None:
        """Stop the flusher after one last flush (bounded by the Redis timeout)."""
        self.shipper.close()

    def after_fork(self) -> None:
        """In a forked child: start from zero under the child's own process id."""
        after_fork(self)


def shared_pattern_store(
    settings: Settings,
    policy: Policy,
    on_due: Callable[[], None] | None = None,
    paging: tuple[str, ...] = (Sev.HIGH, Sev.CRITICAL),
) -> RedisPatternStore:
    """The pattern store the aggregator picks when ``redis_url`` is set.

    ``paging``: the severities whose first occurrence alerts (the aggregator's rule).
    """
    if not settings.redis_url:
        raise ValueError("redis_url: a Redis URL is needed for the shared store")
    return RedisPatternStore(
        settings.redis_url,
        policy,
        service=settings.service,
        flush_interval=settings.flush_interval,
        buffer_max=settings.buffer_max,
        on_due=on_due,
        paging=paging,
    )
