"""Work deferred until the next write or read: plain requests finished in batches.

Finishing a request (its route template, the monitor's counts, the request
line) costs about three times more under a real server than in a tight loop:
between two requests the server's own code evicts ours from the CPU caches.
Finished 64 in a row, it stays warm (bench/middleware.py measures the gain).

One :class:`Deferred` per process, owned by the runtime, decides it all: the
middleware :meth:`~Deferred.add` s a request it may finish later, and whoever is
about to write a line (the sink) or read a number (the monitor) or tick (the
flusher) calls :meth:`~Deferred.drain` first, so the log keeps its order and every
number read includes every request that ended before. Errors, 5xx and slow
requests are never deferred: their lines are urgent.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import deque
from typing import Any, Protocol

from .._guard import record_internal_error

__all__ = ["BATCH", "Deferred", "Finisher"]

BATCH = 64


class Finisher(Protocol):
    def finish_queued(self, items: list[tuple[Any, ...]]) -> None:
        """Finish queued requests, oldest first; ``item[0]`` is our number. Never raises."""


class _Draining(threading.local):
    active = False  # this thread is finishing a batch: the lines it writes drain nothing


class Deferred:
    """The queue of requests finished later, in batches of :data:`BATCH`.

    ``pending`` is read on hot paths (``if deferred.pending``): ``deque.append`` and
    ``popleft`` are atomic, so the event loop queues without a lock.

    An item names its finisher by a number (:meth:`number`), not by reference: a
    tuple of strings, numbers and ``None`` only is one the garbage collector stops
    tracking at its first pass. Queued items outlive a few requests, and tracked
    ones were promoted to the oldest generation batch after batch, which made the
    collector's full passes (over the whole heap) several times as frequent under
    a busy server.
    """

    __slots__ = (
        "_counter",
        "_finishers",
        "_lock",
        "_numbering",
        "_numbers",
        "_this_thread",
        "allowed",
        "pending",
    )

    def __init__(self) -> None:
        self.pending: deque[tuple[Any, ...]] = deque()
        # Held weakly: a finisher (a middleware) that is gone takes nothing with it.
        self._finishers: weakref.WeakValueDictionary[int, Finisher] = weakref.WeakValueDictionary()
        self._numbers: dict[int, int] = {}  # id(finisher) -> its number
        self._numbering = threading.Lock()
        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._this_thread = _Draining()
        # Never in a forked child: it may end with os._exit, which runs no exit handler.
        self.allowed = True

    def number(self, finisher: Finisher) -> int:
        """The number queued items give to name ``finisher`` (the same one every time)."""
        # An id may be reused once its object is gone: checked against the finisher
        # itself. Its own lock: the queue's lock is held while a batch is finished.
        key = id(finisher)
        with self._numbering:
            found = self._numbers.get(key)
            if found is None or self._finishers.get(found) is not finisher:
                found = self._numbers[key] = next(self._counter)
                self._finishers[found] = finisher
            return found

    def add(self, item: tuple[Any, ...]) -> None:
        """Queue one request (``item[0]``: its finisher's :meth:`number`); a full batch runs now."""
        pending = self.pending
        pending.append(item)
        if len(pending) >= BATCH:
            self.drain()

    def drain(self) -> None:
        """Finish every queued request now, oldest first.

        One thread at a time, so the log keeps its order when the flusher thread and
        the event loop both drain; a line written while draining drains nothing.
        """
        pending = self.pending
        if not pending or self._this_thread.active:
            return
        with self._lock:
            self._this_thread.active = True
            try:
                while pending:
                    # Popped only once written: another thread that sees them still queued
                    # waits on the lock, and its own line comes after theirs.
                    items = list(pending)
                    start = 0
                    while start < len(items):
                        number = items[start][0]
                        end = start + 1
                        while end < len(items) and items[end][0] == number:
                            end += 1
                        finisher = self._finishers.get(number)
                        try:
                            if finisher is not None:  # else its middleware is gone: nothing to do
                                finisher.finish_queued(items[start:end])
                        except Exception as exc:  # a finisher must not raise; never retry it
                            record_internal_error(exc)
                        finally:
                            for _ in range(end - start):
                                pending.popleft()
                        start = end
            finally:
                self._this_thread.active = False

    def after_fork(self) -> None:
        """In a forked child: drop the parent's queue and never queue again."""
        self.allowed = False
        self.pending.clear()  # the parent's requests, not ours
        self._lock = threading.Lock()  # the parent's flusher may have held it mid-batch
        self._numbering = threading.Lock()
