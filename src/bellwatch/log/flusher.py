"""One daemon thread that writes out buffered log lines and finishes deferred requests.

It ticks every ``log_flush`` seconds (0.2 at most): requests queued in the
:class:`~.deferred.Deferred` are finished, then file buffers that would be older
than their interval by the next tick are written out. So a line waits at most one
tick, from the end of its request to the file: that is what a process killed with
``SIGKILL`` can lose (with ``log_flush=0``, nothing).
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Protocol

from .deferred import Deferred

__all__ = ["Buffered", "Flusher"]


class Buffered(Protocol):
    """A file that buffers lines (:class:`~bellwatch.log.logfile.RotatingFile`)."""

    flush_interval: float

    @property
    def buffered(self) -> bool: ...

    def due(self, now: float) -> bool:
        """Whether its oldest buffered line has waited ``flush_interval`` by ``now``."""
        ...

    def flush(self) -> None: ...

    def write_through(self) -> None: ...

    def after_fork(self) -> None: ...


class Flusher:
    """Writes out file buffers older than their interval, and drains ``deferred``, each tick.

    Owned by the runtime, one per process. Started on demand (a buffered file, or the
    first deferred request); a forked child starts without one (its files write at once).
    """

    def __init__(self, deferred: Deferred) -> None:
        self.deferred = deferred
        self._files: weakref.WeakSet[Buffered] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.tick = 0.2  # seconds between ticks at most (the runtime sets log_flush)

    def watch(self, file: Buffered) -> None:
        """Write out ``file``'s buffer on ticks from now on (starts the thread)."""
        with self._lock:
            self._files.add(file)
        self.start()

    def start(self) -> None:
        """Start ticking (idempotent): deferred requests need a tick even with no file."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="bellwatch-log-flush", daemon=True
                )
                self._thread.start()

    def forget(self, file: Buffered) -> None:
        with self._lock:
            self._files.discard(file)

    def _snapshot(self) -> list[Buffered]:
        with self._lock:  # a reconfigure may add or drop files meanwhile
            return list(self._files)

    def _run(self) -> None:
        while True:
            files = self._snapshot()
            wait = min([self.tick, *(f.flush_interval for f in files if f.buffered)])
            time.sleep(max(wait, 0.01))
            deferred = self.deferred
            if deferred.pending:
                deferred.drain()
            # Due before the next tick: written now, so no line waits past its interval.
            horizon = time.monotonic() + wait
            for file in files:
                if file.due(horizon):
                    file.flush()

    def flush_all(self) -> None:
        """Finish deferred requests, then write out every watched file's buffer now."""
        self.deferred.drain()
        for file in self._snapshot():
            file.flush()

    def write_through(self) -> None:
        """Every watched file writes out its buffer, then each later line at once."""
        for file in self._snapshot():
            file.write_through()

    def after_fork(self) -> None:
        """In a forked child: no thread, and every file writes its lines at once."""
        self._lock = threading.Lock()
        self._thread = None
        for file in list(self._files):
            file.after_fork()
        self._files = weakref.WeakSet()
