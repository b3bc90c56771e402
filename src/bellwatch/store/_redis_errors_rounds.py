"""The rounds of the shared error store: what one process keeps and what a round does with it.

The state :class:`~bellwatch.store.redis_errors.RedisPatternStore` counts into (the
pending batch, what Redis acknowledged, what the cluster handed over), and the
shipper's side of it: take the batch, send it to the Lua script (everything this
process ever had acknowledged in ``full`` mode, after Redis lost its data), learn the
answer (lines due, escalations, first alerts, the cluster's counts), and read the
cluster's top patterns back for ``/metrics``. The request path and the hand-overs to
the aggregator are :mod:`~bellwatch.store.redis_errors`'s. Imports the shipper, the
script (:mod:`~bellwatch.store._redis_errors_lua`) and the patterns, never ``redis``.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import orjson

from ..schema import Sev
from ._redis_client import Script
from ._redis_errors_lua import APPLY
from ._shipper import Shipper
from .patterns import Pattern, Policy, copy_pattern

__all__ = ["Entry", "ErrorRounds"]

_READ_INTEREST = 60.0
_APPLY = Script(APPLY)
_TOP = 100  # patterns read back in full for /metrics; the rest only counted


# n, type, message, severity, endpoint, first_seen, last_seen, claims (occurrences of
# this entry this process's own lines already accounted for: its first lines); a batch
# restoring lost data adds 1 for a pattern this process knows escalated
Entry = list[Any]
CLAIMS = 7


class ErrorRounds:
    """The shared error store's state and its shipper's side (a base of the store)."""

    # set by the store's constructor
    policy: Policy
    paging: str  # the severities whose first occurrence pages, comma-separated
    prefix: str
    on_due: Callable[[], None] | None
    # set by attach_shipper(), which also makes the store fork-safe
    _lock: threading.Lock
    shipper: Shipper

    def _clear(self) -> None:
        with self._lock:
            self._patterns: OrderedDict[str, Pattern] = OrderedDict()
            self._pending: dict[str, Entry] = {}
            self._pending_n = 0
            self._acked: dict[str, Entry] = {}
            self._known: set[str] = set()
            self._counts: dict[str, int] = {}
            # this process's occurrences, each at the severity it had here (a fallback read)
            self._total = 0
            self._by_severity: dict[str, int] = {}
            self._escalations: list[Pattern] = []
            self._alerts: list[Pattern] = []
            # First occurrences whose alert the cluster has not decided yet, and those this
            # process paged for itself while Redis was down (the cluster's later decision
            # for them is then not paged again).
            self._awaiting: set[str] = set()
            self._paged: set[str] = set()
            self._due: list[Pattern] = []
            self._handed: dict[str, int] = {}  # n of the lines the cluster handed this process
            self._unshipped: dict[str, int] = {}  # past buffer_max: never sent, never claimed
            self._final: list[str] | None = None  # a final round claims these fingerprints' rest
            self._cluster: tuple[list[Pattern], int, dict[str, int]] | None = None
            self._cluster_at = 0.0
            self._since = 0.0
            self._read_at = 0.0
            self.overflowed = 0

    def _take(self) -> tuple[dict[str, Entry], int]:
        with self._lock:
            batch, n = self._pending, self._pending_n
            self._pending, self._pending_n = {}, 0
        return batch, n

    def _done(self, batch: dict[str, Entry]) -> None:
        with self._lock:
            self._awaiting.difference_update(batch)  # the cluster has decided on these
            self._paged.difference_update(batch)
            for key, entry in batch.items():
                mine = self._acked.get(key)
                if mine is None:
                    self._acked[key] = list(entry)
                else:
                    mine[0] += entry[0]
                    mine[6] = max(mine[6], entry[6])
                    mine[CLAIMS] += entry[CLAIMS]
            while len(self._acked) > self.policy.max_patterns:
                del self._acked[next(iter(self._acked))]

    def _send(self, client: Any, proc: str, seq: int, mode: str, batch: dict[str, Entry]) -> str:
        if mode == "full":  # Redis lost its data: restore our counts and claims, no lines
            with self._lock:
                full = {key: list(entry) for key, entry in self._acked.items()}
                handed = dict(self._handed)
            for key, entry in batch.items():
                if key in full:
                    full[key][0] += entry[0]
                    full[key][CLAIMS] += entry[CLAIMS]
                else:
                    full[key] = list(entry)
            for key, n in handed.items():
                if key in full:
                    full[key][CLAIMS] += n
            batch = full
        if mode in ("full", "resend"):
            batch = self._escalated(batch)
        pol = self.policy
        now = time.time()
        final = self._final
        reply, lines, counts, escalations, known, alerts = self.shipper.run(
            client,
            _APPLY,
            [
                self.prefix, proc, seq, mode, orjson.dumps(batch), now, pol.every, pol.window,
                pol.ttl, pol.spike_threshold, pol.spike_window, pol.max_patterns, pol.mode,
                ",".join(Sev.ORDER), self._since, orjson.dumps(final or []), self.paging,
                self.shipper.acked,
            ],
        )  # fmt: skip
        self._since = now - 5.0  # overlap: clocks of tasks differ a little
        self._learn(lines, counts, escalations, known, alerts)
        return str(reply)

    def _raise(self, key: str, severity: str) -> None:
        """The cluster's severity of a pattern this process knows, when it is higher (an
        escalation another process was told of): what a restore after a loss carries."""
        p = self._patterns.get(key)
        order = Sev.ORDER
        if p is None or severity not in order or p.severity not in order:
            return
        if order.index(severity) > order.index(p.severity):
            p.severity = severity

    def _escalated(self, batch: dict[str, Entry]) -> dict[str, Entry]:
        """``batch`` restoring what Redis lost: the escalations this process was told of.

        Each entry of a pattern escalated (this process was told by the escalation or by
        the counts of a later round) carries its raised severity and a ninth field, 1, so
        that the script restores the escalation instead of deciding it again on the
        restored counts (one ``error_escalated`` line and one page per spike).
        """
        out = {}
        with self._lock:
            for key, entry in batch.items():
                p = self._patterns.get(key)
                if p is not None and p.severity != p.origin:
                    restored = [*entry[: CLAIMS + 1], 1]
                    restored[3] = p.severity
                    out[key] = restored
                else:
                    out[key] = entry
        return out

    def _learn(self, lines: list[Any], counts: list[Any], escalations: list[Any],
               known: list[Any], alerts: list[Any]) -> None:  # fmt: skip
        with self._lock:
            if len(self._known) > 4 * self.policy.max_patterns:
                self._known.clear()
            self._known.update(str(k) for k in known)
            for i in range(0, len(counts), 3):
                key = str(counts[i])
                self._counts[key] = int(counts[i + 1])
                self._raise(key, str(counts[i + 2]))
            if len(self._counts) > self.policy.max_patterns:
                self._counts.clear()
            for i in range(0, len(escalations), 2):
                key = str(escalations[i])
                p = self._patterns.get(key)
                if p is None:
                    continue  # evicted here since: Redis has the new severity, no alert
                p.severity = str(escalations[i + 1])
                escalated = copy_pattern(p)
                escalated.count = self._counts.get(key, p.count)
                self._escalations.append(escalated)
            for key in alerts:
                if str(key) in self._paged:
                    continue  # paged from here while Redis was down
                p = self._patterns.get(str(key))
                if p is not None:
                    first = copy_pattern(p)
                    first.count = self._counts.get(first.hash, p.count)
                    self._alerts.append(first)
            # hash, count, n, severity, announce, type, message, endpoint
            for i in range(0, len(lines), 8):
                key = str(lines[i])
                p = self._patterns.get(key)
                if p is None:  # forgotten here: the cluster's facts stand in
                    endpoint = str(lines[i + 7]) or None
                    p = Pattern(key, str(lines[i + 5]), str(lines[i + 6]), str(lines[i + 3]),
                                endpoint, 0.0, 0.0)  # fmt: skip
                due = copy_pattern(p)
                due.count = int(lines[i + 1])  # every_n: the multiple of N; window: n
                due.unlogged = int(lines[i + 2])  # n: what the line accounts for
                due.severity = str(lines[i + 3])
                due.announce = str(lines[i + 4]) == "1"
                self._handed[key] = self._handed.get(key, 0) + due.unlogged
                self._due.append(due)
            if len(self._handed) > 4 * self.policy.max_patterns:
                self._handed.clear()  # (only a Redis that lost its data needs them back)

    def _after(self, client: Any) -> None:
        if (self._due or self._escalations or self._alerts) and self.on_due is not None:
            self.on_due()
        now = time.time()
        if self._cluster is not None and now - self._read_at > _READ_INTEREST:
            return
        self._cluster = self.read(client)
        self._cluster_at = now

    def read(self, client: Any) -> tuple[list[Pattern], int, dict[str, int]]:
        """Top patterns by count, the number of patterns, and totals, from Redis."""
        p = self.prefix
        pipe = client.pipeline(transaction=False)
        pipe.zrevrange(p + "etop", 0, _TOP - 1)
        pipe.zcard(p + "errs")
        pipe.hgetall(p + "etot")
        keys, unique, totals = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(f"{p}e:{key}")
        out: list[Pattern] = []
        for key, h in zip(keys, pipe.execute(), strict=True):
            if h:
                out.append(
                    Pattern(key, h.get("type", ""), h.get("message", ""),
                            h.get("severity", Sev.MEDIUM), h.get("endpoint") or None,
                            float(h.get("first_seen", 0)), float(h.get("last_seen", 0)),
                            int(h.get("count", 0)))
                )  # fmt: skip
        # The aggregator counts patterns with len(): the ones not read stand in, count 0.
        out += [Pattern("", "", "", Sev.LOW, None, 0.0, 0.0) for _ in range(int(unique) - len(out))]
        total = int(totals.pop("total", 0))
        return out, total, {sev: int(n) for sev, n in totals.items()}
