"""User analytics in bounded memory: a million distinct users grow a process by <= 5 MB."""

from __future__ import annotations

import subprocess
import sys

# Runs in its own interpreter, so the resident size is the tracker's, not the test run's.
SCRIPT = """
import gc, sys
from bellwatch.monitor.users import UserTracker

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

start, span, total = 1_700_000_000.0, 48 * 3600.0, int(sys.argv[1])
clock = [start]
tracker = UserTracker(clock=lambda: clock[0])

def feed(lo, hi):
    # Two days of traffic: every minute, hour, top-users and per-user bucket gets filled,
    # with sessions, failures, slow routes and errors, in the middleware's batches of 64.
    batch = []
    for i in range(lo, hi):
        now = start + span * i / total
        uid = f"user-{i:09d}-{i * 2654435761 % 1000003:07d}"
        batch.append((uid, f"CA{i:032x}", now, f"/api/r{i % 40}", i % 97 == 0, i % 89 == 0))
        if i % 101 == 0:
            tracker.error_user(f"{i % 3000:08x}", uid)
        if len(batch) == 64:
            tracker.seen(batch)
            batch = []
    tracker.seen(batch)
    clock[0] = start + span * hi / total
    tracker.section()

feed(0, 20_000)  # warm: the first buckets and the interpreter's own caches
gc.collect()
before = rss_kb()
feed(20_000, total)
gc.collect()
print(rss_kb() - before)
"""


class TestBoundedMemory:
    def test_a_million_distinct_users_grow_memory_by_at_most_5_mb(self) -> None:
        """1,000,000 distinct uids (with sessions, errors and slow routes) through one
        process's tracker: its resident memory grows by at most 5 MB."""
        out = subprocess.run(
            [sys.executable, "-c", SCRIPT, "1000000"],
            capture_output=True,
            text=True,
            check=True,
            timeout=600,
        )
        grown_kb = int(out.stdout.strip())
        assert grown_kb <= 5 * 1024, f"grew by {grown_kb} KiB"
