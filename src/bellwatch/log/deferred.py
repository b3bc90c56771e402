"""Requests finished in batches, off each request's own path.

Finishing a request (its route template, the monitor's counts, the request
line) costs about three times more under a real server than in a tight loop:
between two requests the server's own code evicts ours from the CPU caches.
Finished 64 in a row, it stays warm (bench/middleware.py measures the gain).

A queued request is finished, in order, when 64 are waiting; at each tick of
the log flusher (``log_flush`` seconds, 0.2 by default); before any other line
is written, so that the log keeps its order; before anything reads the numbers
(``Monitor.snapshot``, ``end_session``, :func:`bellwatch.flush`,
:func:`bellwatch.stats`); and at exit. Errors, 5xx and slow requests are never
queued: their lines are urgent.
"""

from __future__ import annotations

import os
import threading
from collections import deque
from typing import Any, Protocol

from .._guard import record_internal_error

__all__ = ["BATCH", "Finisher", "allowed", "drain", "pending"]

BATCH = 64


class Finisher(Protocol):
    def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
        """Finish queued requests, oldest first; ``item[0]`` is this finisher. Never raises."""


# deque.append and popleft are atomic: the event loop queues without a lock.
pending: deque[tuple[Any, ...]] = deque()


class _Drainer(threading.local):
    active = False  # this thread is finishing a batch: the lines it writes drain nothing


_this_thread = _Drainer()
_lock = threading.Lock()


def drain() -> None:
    """Finish every queued request now, oldest first.

    One thread at a time, so the log keeps its order when the flusher thread and
    the event loop both drain; a line written while draining drains nothing.
    """
    if not pending or _this_thread.active:
        return
    with _lock:
        _this_thread.active = True
        try:
            while pending:
                # Popped only once written: another thread that sees them still queued
                # waits on the lock, and its own line comes after theirs.
                items = list(pending)
                start = 0
                while start < len(items):
                    finisher: Finisher = items[start][0]
                    end = start + 1
                    while end < len(items) and items[end][0] is finisher:
                        end += 1
                    try:
                        finisher.finish_queued(items[start:end])
                    except Exception as exc:  # a finisher must not raise; never retry it
                        record_internal_error(exc)
                    finally:
                        for _ in range(end - start):
                            pending.popleft()
                    start = end
        finally:
            _this_thread.active = False


class _Allowed:
    """Whether this process may queue; never in a forked child.

    A forked child (a prefork server's worker, multiprocessing) may end with
    ``os._exit``, which runs no exit handler, and has no flusher thread.
    """

    __slots__ = ("yes",)

    def __init__(self) -> None:
        self.yes = True

    def forbid(self) -> None:
        global _lock
        self.yes = False
        pending.clear()  # the parent's requests, not ours
        _lock = threading.Lock()  # the parent's flusher may have held it mid-batch


allowed = _Allowed()
os.register_at_fork(after_in_child=allowed.forbid)
