"""The users tracker: distinct users over windows, new and returning, per user, per error."""

from __future__ import annotations

import math
import subprocess
import sys
from typing import Any

import pytest

from bellwatch.monitor import _sketches
from bellwatch.monitor.users import UserTracker

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 86_400  # midnight UTC


class Clock:
    def __init__(self, now: float = T0 + 12 * 3600) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def request(uid: str, at: float, **kw: Any) -> tuple[Any, ...]:
    """One request of ``uid`` as the middleware hands it over."""
    return (uid, kw.get("key"), at, kw.get("route", "/r"), kw.get("failed", False),
            kw.get("slow", False))  # fmt: skip


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tracker(clock: Clock) -> UserTracker:
    return UserTracker(clock=clock)


class TestActiveUsers:
    def test_each_window_counts_its_own_users(self, tracker: UserTracker, clock: Clock) -> None:
        """Users 2 minutes, 30 minutes and 5 hours ago fall in the windows that cover them."""
        now = clock.now
        tracker.seen([request(f"a{i}", now - 120) for i in range(10)])
        tracker.seen([request(f"b{i}", now - 1800) for i in range(20)])
        tracker.seen([request(f"c{i}", now - 5 * 3600) for i in range(30)])
        active = tracker.section()["active"]
        assert active == {"5m": 10, "1h": 30, "24h": 60}

    def test_a_user_counts_once_however_many_requests(self, tracker: UserTracker) -> None:
        """Distinct users, not requests: one user's 50 requests in many batches count once."""
        now = tracker.clock()
        for _ in range(5):
            tracker.seen([request("alice", now)] * 10)
        assert tracker.section()["active"]["5m"] == 1

    def test_minutes_rolled_into_hours_keep_the_day(
        self, tracker: UserTracker, clock: Clock
    ) -> None:
        """Minutes older than an hour are merged into their hour; the day still sees them."""
        start = clock.now
        steps = range(0, 180, 7)  # three hours of traffic, new users every 7 minutes
        for step in steps:
            clock.now = start + step * 60
            tracker.seen([request(f"u{step}-{i}", clock.now) for i in range(3)])
        section = tracker.section()
        assert len(tracker._minutes) <= 60
        assert section["active"]["24h"] == 3 * len(steps)
        assert section["active"]["1h"] == 3 * len([s for s in steps if s > steps[-1] - 60])

    def test_large_counts_are_within_the_documented_error(self, tracker: UserTracker) -> None:
        """20,000 distinct users estimate within the library's a-priori error (95%)."""
        now = tracker.clock()
        users = [f"user-{i}" for i in range(20_000)]
        for start in range(0, len(users), 64):
            tracker.seen([request(u, now) for u in users[start : start + 64]])
        active = tracker.section()["active"]
        bound = math.ceil(len(users) * tracker.error)
        for window in ("5m", "1h", "24h"):
            assert abs(active[window] - len(users)) <= bound


class TestNewAndReturning:
    def test_returning_users_were_active_the_day_before(
        self, tracker: UserTracker, clock: Clock
    ) -> None:
        """Of today's users, those also seen 24-48 hours ago return; the others are new."""
        today = clock.now
        tracker.seen([request(f"old{i}", today - 30 * 3600) for i in range(40)])
        tracker.seen([request(f"old{i}", today - 60) for i in range(25)])  # 25 come back
        tracker.seen([request(f"new{i}", today - 60) for i in range(15)])
        section = tracker.section()
        assert section["active"]["24h"] == 40
        assert (section["new_24h"], section["returning_24h"]) == (15, 25)


class TestPerUser:
    def test_requests_and_sessions_per_user(self, tracker: UserTracker) -> None:
        """p50/p95 of requests and of distinct sessions per user over the day."""
        now = tracker.clock()
        batch = []
        for i in range(100):
            requests = 20 if i >= 90 else 2  # ten heavy users
            sessions = 3 if i >= 80 else 1
            batch += [request(f"u{i}", now, key=f"s{i}-{r % sessions}") for r in range(requests)]
        tracker.seen(batch)
        per_user = tracker.section()["per_user_24h"]
        assert per_user["requests"] == {"p50": 2, "p95": 20, "sampled": 100}
        assert per_user["sessions"] == {"p50": 1, "p95": 3, "sampled": 100}

    def test_a_session_counts_once_across_batches(self, tracker: UserTracker) -> None:
        """The same (user, session) in later batches is not a new session."""
        now = tracker.clock()
        for _ in range(4):
            tracker.seen([request("alice", now, key="CA1")])
        assert tracker.section()["per_user_24h"]["sessions"]["p95"] == 1

    def test_top_users_by_requests_and_by_errors(self, tracker: UserTracker) -> None:
        """The heaviest users by requests and by failed requests, heaviest first."""
        now = tracker.clock()
        batch = [request("heavy", now)] * 30 + [request("failing", now, failed=True)] * 7
        batch += [request(f"light{i}", now) for i in range(50)]
        tracker.seen(batch)
        section = tracker.section()
        assert section["top_by_requests"][:2] == [
            {"uid": "heavy", "requests": 30},
            {"uid": "failing", "requests": 7},
        ]
        assert section["top_by_errors"] == [{"uid": "failing", "errors": 7}]


class TestAffected:
    def test_users_per_error_fingerprint(self, tracker: UserTracker) -> None:
        """Distinct users per fingerprint, however many times each hit it."""
        for i in range(12):
            for _ in range(3):
                tracker.error_user("abcd1234", f"u{i}")
        tracker.error_user("ffff0000", "u1")
        assert tracker.error_users(["abcd1234", "ffff0000", "unknown"]) == {
            "abcd1234": 12,
            "ffff0000": 1,
        }

    def test_fingerprints_are_bounded(self, tracker: UserTracker) -> None:
        """Past MAX_PATTERNS fingerprints, the least recently hit is forgotten."""
        for i in range(tracker.MAX_PATTERNS + 5):
            tracker.error_user(f"{i:08x}", "u")
        assert len(tracker._patterns) == tracker.MAX_PATTERNS
        assert tracker.error_users([f"{0:08x}"]) == {}

    def test_users_per_slow_route_over_the_last_hour(
        self, tracker: UserTracker, clock: Clock
    ) -> None:
        """Slow requests count their users per route; an hour later they are gone."""
        now = clock.now
        tracker.seen([request(f"u{i}", now, route="/slow", slow=True) for i in range(8)])
        tracker.seen([request("u1", now, route="/fast")])
        assert tracker.section()["slow_routes_1h"] == [{"path": "/slow", "users": 8}]
        clock.now = now + 3700
        assert tracker.section()["slow_routes_1h"] == []


class TestWithoutTheExtra:
    def test_a_missing_library_names_the_extra(self) -> None:
        """Without datasketches the tracker cannot be built, and the error says what to install."""
        code = (
            "import sys; sys.modules['datasketches'] = None\n"
            "from bellwatch.monitor.users import UserTracker\n"
            "try:\n    UserTracker()\nexcept ImportError as exc:\n    print(exc)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == _sketches.HINT
