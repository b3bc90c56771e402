"""User analytics: who is active, who is new, who an error or a slow route is hurting.

Counted from the ``uid`` the app binds (``bellwatch.bind(uid=...)``; with ``hash_uid``
its keyed hash) and the request's session key (a bound ``sid``, a Twilio CallSid),
with bounded memory whatever the number of users (:mod:`._sketches`, the ``users``
extra):

- distinct active users over 5 minutes, 1 hour (minute buckets) and 24 hours (hour
  buckets); of the last 24 hours' users, how many were also active in the 24 hours
  before (returning) and how many were not (new);
- per user over 24 hours: requests and sessions, their p50 and p95 (over a uniform
  sample of about 512 users, each with exact sums), and the top users by requests and
  by failed requests (a 5xx answer, or an error recorded during the request);
- distinct users per error fingerprint (since the tracker first saw it, at most
  :attr:`UserTracker.MAX_PATTERNS` fingerprints, least recent dropped) and per slow
  route over the last hour (at most :attr:`UserTracker.MAX_ROUTES` routes).

The middleware hands over the requests it finishes in one list per batch
(:meth:`UserTracker.seen`), the error aggregator each error's fingerprint and user
(:meth:`UserTracker.error_user`). With Redis, the same distinct counts are also
buffered for the cluster (:mod:`bellwatch.store.redis_users`), and a reader gets the
cluster's numbers when they are current.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ..query.percentile import from_sorted
from ._sketches import Distinct, Frequent, PerKey, distinct_union, load, rel_err

__all__ = ["Seen", "UserTracker"]

Seen = tuple[str, "str | None", float, str, bool, bool]
"""One request of a user: uid, session key, when it ended, route, failed, slow."""

_MINUTE = 60


def _nothing() -> None:
    """What :attr:`UserTracker.settle` runs without a runtime: nothing is ever deferred."""


def _trim(buckets: dict[int, Any], first: int) -> None:
    for index in [i for i in buckets if i < first]:
        del buckets[index]


class UserTracker:
    """Counts users in this process (see the module docstring); thread-safe.

    Args:
        clock: wall-clock source (tests).
        shared: the cluster side (:class:`bellwatch.store.redis_users.RedisUsers`),
            which receives every distinct-count update too; ``None`` without Redis.
        settle: called before every read: finishes requests whose counting was deferred
            (the runtime passes its deferred queue's ``drain``, as for the monitor).

    Raises:
        ImportError: the ``users`` extra is not installed (the message says how).
    """

    LG_K = 12  # active users: 4,096 registers, about 3.3% at 95% once merged
    LG_K_SMALL = 10  # per fingerprint and slow route: about 6.5% at 95%
    LG_TOP = 8  # top users by requests: 192 counters per hour
    LG_TOP_ERRORS = 7  # and by failed requests: 96
    LG_SAMPLE = 9  # per-user percentiles: a sample of about 512 users per hour
    MAX_PATTERNS = 1000
    MAX_ROUTES = 50
    ROUTE_BUCKET = 300  # slow routes: five-minute buckets, the last hour
    PAIRS = 4096  # (user, session) pairs remembered, so a session counts once
    TOP = 10

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        shared: Any = None,
        settle: Callable[[], None] = _nothing,
    ) -> None:
        load()
        self.clock = clock
        self.shared = shared
        self.settle = settle
        self.error = rel_err(self.LG_K)
        self._lock = threading.Lock()
        self._clear()

    def _clear(self) -> None:
        self._minutes: dict[int, Distinct] = {}
        self._hours: dict[int, Distinct] = {}
        self._top: dict[int, tuple[Frequent, Frequent]] = {}
        self._per_user: dict[int, tuple[PerKey, PerKey]] = {}
        self._routes: OrderedDict[str, dict[int, Distinct]] = OrderedDict()
        self._patterns: OrderedDict[str, Distinct] = OrderedDict()
        self._pairs: OrderedDict[int, None] = OrderedDict()

    # -- counting ----------------------------------------------------------------------

    def seen(self, batch: Iterable[Seen]) -> None:
        """Count finished requests of users (the middleware, once per batch)."""
        with self._lock:
            per, slow = self._group(batch)
            # One update per user and minute of the batch, in each sketch (the library's
            # own methods, called directly): the hour's distinct users are the minutes'
            # sketches, rolled up as they age out (:meth:`_minute`).
            sketches: dict[int, tuple[Any, tuple[Frequent, Frequent], tuple[PerKey, PerKey]]] = {}
            for (uid, at), (requests, failures, sessions) in per.items():
                mine_now = sketches.get(at)
                if mine_now is None:
                    mine_now = sketches[at] = (self._minute(at).add, *self._hour(at // 60))
                add_user, top, per_user = mine_now
                add_user(uid)
                top[0].add(uid, requests)
                per_user[0].add(uid, requests)
                if failures:
                    top[1].add(uid, failures)
                if sessions:
                    per_user[1].add(uid, sessions)
            for route, uid, now in slow:
                self._slow(route, uid, now)
        shared = self.shared
        if shared is not None:
            shared.add(per, slow)

    def _group(
        self, batch: Iterable[Seen]
    ) -> tuple[dict[tuple[str, int], list[int]], list[tuple[str, str, float]]]:
        """Per user and minute: requests, failed ones, new sessions; and the slow requests."""
        per: dict[tuple[str, int], list[int]] = {}
        slow: list[tuple[str, str, float]] = []
        pairs = self._pairs
        for uid, key, now, route, failed, was_slow in batch:
            minute = int(now // _MINUTE)
            mine = per.get((uid, minute))
            if mine is None:
                mine = per[(uid, minute)] = [0, 0, 0]
            mine[0] += 1
            if failed:
                mine[1] += 1
            if key is not None and key != uid:
                pair = hash((uid, key))  # a session counts once, however many requests
                if pair not in pairs:
                    pairs[pair] = None
                    mine[2] += 1
                    if len(pairs) > self.PAIRS:
                        pairs.popitem(last=False)
            if was_slow:
                slow.append((route, uid, now))
        return per, slow

    def _minute(self, minute: int) -> Distinct:
        """The distinct users of ``minute``; minutes older than an hour roll up into hours."""
        sketch = self._minutes.get(minute)
        if sketch is None:
            sketch = self._minutes[minute] = Distinct(self.LG_K)
            for old in [i for i in self._minutes if i <= minute - 60]:
                aged = self._minutes.pop(old)
                have = self._hours.get(old // 60)
                self._hours[old // 60] = aged if have is None else have.merged(aged)
            _trim(self._hours, minute // 60 - 47)
        return sketch

    def _hour(self, hour: int) -> tuple[tuple[Frequent, Frequent], tuple[PerKey, PerKey]]:
        """The top-users and per-user sketches of ``hour`` (the last 24 hours are kept)."""
        top = self._top.get(hour)
        if top is None:
            top = self._top[hour] = (Frequent(self.LG_TOP), Frequent(self.LG_TOP_ERRORS))
            _trim(self._top, hour - 23)
        per_user = self._per_user.get(hour)
        if per_user is None:
            per_user = self._per_user[hour] = (PerKey(self.LG_SAMPLE), PerKey(self.LG_SAMPLE))
            _trim(self._per_user, hour - 23)
        return top, per_user

    def _slow(self, route: str, uid: str, now: float) -> None:
        buckets = self._routes.get(route)
        if buckets is None:
            buckets = self._routes[route] = {}
            if len(self._routes) > self.MAX_ROUTES:
                self._routes.popitem(last=False)
        else:
            self._routes.move_to_end(route)
        index = int(now // self.ROUTE_BUCKET)
        sketch = buckets.get(index)
        if sketch is None:
            sketch = buckets[index] = Distinct(self.LG_K_SMALL)
            _trim(buckets, index - 11)
        sketch.add(uid)

    def error_user(self, fingerprint: str, uid: str) -> None:
        """Count ``uid`` as affected by the error ``fingerprint`` (the error aggregator)."""
        with self._lock:
            sketch = self._patterns.get(fingerprint)
            if sketch is None:
                sketch = self._patterns[fingerprint] = Distinct(self.LG_K_SMALL)
                if len(self._patterns) > self.MAX_PATTERNS:
                    self._patterns.popitem(last=False)
            else:
                self._patterns.move_to_end(fingerprint)
            sketch.add(uid)
        shared = self.shared
        if shared is not None:
            shared.add_error(fingerprint, uid)

    # -- reading -----------------------------------------------------------------------

    def section(self) -> dict[str, Any]:
        """This process's numbers: the ``users`` section of ``/metrics`` (``process``)."""
        self.settle()
        now = self.clock()
        minute = int(now // _MINUTE)
        hour = minute // 60
        with self._lock:
            minutes = self._minutes.items()
            recent = [s for i, s in minutes if i > minute - 5]
            last_hour = [s for i, s in minutes if i > minute - 60]
            # Minutes roll up into their hour once older than an hour: a day is both.
            day = [s for i, s in self._hours.items() if i > hour - 24]
            day += [s for i, s in minutes if i // 60 > hour - 24]
            before = [s for i, s in self._hours.items() if hour - 48 < i <= hour - 24]
            before += [s for i, s in minutes if hour - 48 < i // 60 <= hour - 24]
            users_24h = distinct_union(day, self.LG_K)
            returning = _returning(users_24h, distinct_union(before, self.LG_K),
                                   distinct_union(day + before, self.LG_K))  # fmt: skip
            tops = [t for i, t in self._top.items() if i > hour - 24]
            per_user = [p for i, p in self._per_user.items() if i > hour - 24]
            first = int(now // self.ROUTE_BUCKET) - 11
            routes = {
                route: distinct_union(
                    [s for i, s in buckets.items() if i >= first], self.LG_K_SMALL
                )
                for route, buckets in self._routes.items()
            }
            out = {
                "active": {
                    "5m": distinct_union(recent, self.LG_K),
                    "1h": distinct_union(last_hour, self.LG_K),
                    "24h": users_24h,
                },
                "new_24h": users_24h - returning,
                "returning_24h": returning,
                "per_user_24h": {
                    "requests": _spread(PerKey.values([p[0] for p in per_user], self.LG_SAMPLE)),
                    "sessions": _spread(PerKey.values([p[1] for p in per_user], self.LG_SAMPLE)),
                },
                "top_by_requests": [
                    {"uid": uid, "requests": n}
                    for uid, n in Frequent.top([t[0] for t in tops], self.LG_TOP, self.TOP)
                ],
                "top_by_errors": [
                    {"uid": uid, "errors": n}
                    for uid, n in Frequent.top([t[1] for t in tops], self.LG_TOP_ERRORS, self.TOP)
                ],
                "slow_routes_1h": [
                    {"path": route, "users": n}
                    for route, n in sorted(routes.items(), key=lambda kv: (-kv[1], kv[0]))
                    if n
                ][: self.TOP],
            }
        return out

    def error_users(self, fingerprints: Iterable[str]) -> dict[str, int]:
        """Distinct users this process saw affected by each of ``fingerprints`` (known ones)."""
        self.settle()
        with self._lock:
            return {
                key: self._patterns[key].estimate() for key in fingerprints if key in self._patterns
            }

    def reset(self) -> None:
        """Forget every user (tests, and a forked child that starts afresh)."""
        with self._lock:
            self._clear()

    def after_fork(self) -> None:
        """In a forked child: a new lock and no numbers of the parent's."""
        self._lock = threading.Lock()
        self._clear()
        after_fork = getattr(self.shared, "after_fork", None)
        if callable(after_fork):
            after_fork()


def _returning(now: int, before: int, either: int) -> int:
    """Users in both periods, by inclusion-exclusion over the distinct counts."""
    return max(0, min(now, before, now + before - either))


def _spread(values: list[int]) -> dict[str, Any]:
    """p50 and p95 of per-user sums, and how many users they were taken over."""
    values.sort()
    return {"p50": from_sorted(values, 50), "p95": from_sorted(values, 95), "sampled": len(values)}
