"""How the runtime writes out and stops: the flush, the shutdown at the ASGI
lifespan end, on SIGTERM/SIGINT (chained to the previous handler) and at exit, the
fork hooks, and :meth:`Lifecycle.reset` for tests.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType

from .._guard import counters, suppress_internal_errors
from ..log import pipeline, pseudonym, stdlib
from .components import Components, worker_name

__all__ = ["Lifecycle"]


class Lifecycle(Components):
    """Writing out, shutting down and starting over (a mixin over the components)."""

    def flush(self) -> None:
        """Finish deferred requests and write out buffered log file lines now."""
        self.flusher.flush_all()

    def stats(self) -> dict[str, int | str | None]:
        """bellwatch's own health counters, after :meth:`flush` (so the counts are final)."""
        self.flush()
        return counters.as_dict()

    def shutdown(self, *, final: bool = True) -> None:
        """Write out everything this process still holds: deferred requests, EMF, the
        counts no error line has stated yet, queued alerts, the shared store's buffer,
        the log file's buffer. Safe to call more than once, and from any thread.

        Called by the ASGI lifespan shutdown (the middleware), by the SIGTERM/SIGINT
        handler that then hands the signal back (:meth:`install_signal_handlers`), and
        at interpreter exit (``final``: background threads are stopped too). Without
        ``final`` everything keeps working: a process that goes on after a signal
        keeps counting, and writes again at its next shutdown. Either way the log file
        writes every later line at once (the process is ending).
        """
        with suppress_internal_errors():
            self.deferred.drain()
        emf, agg, monitor = self._emf, self._aggregator, self._monitor
        if emf is not None:
            with suppress_internal_errors():
                emf.flush()
        if agg is not None:
            with suppress_internal_errors():
                agg.flush(final=True)
                agg.alerter.flush(self._ALERT_WAIT)
        for store in (getattr(monitor, "store", None), getattr(agg, "store", None)):
            shipper = getattr(store, "shipper", None)
            if shipper is not None:
                with suppress_internal_errors():
                    # A shared store: send its buffer now. A slow moment is tried again; a
                    # Redis that refused or was already down is not waited for (its
                    # store_degraded line is written, and the store counts what it holds).
                    shipper.final_flush(self._STORE_WAIT)
        with suppress_internal_errors():
            # From now on the file writes each line at once: a server may end this
            # process with a signal's default action after its shutdown (uvicorn's
            # --workers and --reload children re-raise SIGTERM with SIG_DFL restored),
            # which runs no exit handler, and its last lines must not wait in a buffer.
            self.flusher.write_through()
            self.flush()
            installed = pipeline.installed()
            if installed is not None:  # lines a slow stdout reader still owes: a moment
                installed.sink.drain(self._ALERT_WAIT)
            if emf is not None:  # and EMF lines in an outlet of their own
                emf.drain(self._ALERT_WAIT)
        if final:
            if agg is not None:
                with suppress_internal_errors():
                    agg.close()
            if monitor is not None:
                with suppress_internal_errors():
                    monitor.store.close()
            with suppress_internal_errors():
                self.flush()  # what closing wrote (a last store_recovered line, say)

    _ALERT_WAIT = 2.0  # seconds a shutdown waits for queued alerts to be delivered
    _STORE_WAIT = 1.0  # seconds a shutdown tries a shared store's slow round again
    _SIGNAL_WAIT = 5.0  # seconds a signal handler gives the shutdown before passing it on

    def install_signal_handlers(self) -> None:
        """Write everything out on SIGTERM and SIGINT, then hand the signal back.

        The previous handler (a server's, Python's ``KeyboardInterrupt``, or the
        default action) runs afterwards, so the process stops as it would have.
        uvicorn saves this handler, runs its graceful shutdown, restores it and raises
        the signal again: that is when it runs, after the last request. Only from the
        main thread (where Python allows it), once per process.
        """
        if self._signals or threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                previous = signal.getsignal(signum)
                signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # not settable here (an embedded interpreter)
                continue
            self._signals[signum] = previous

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        # In a thread: the signal may have interrupted this very thread while it held
        # a lock the shutdown needs; then the join times out and the signal goes on.
        worker = threading.Thread(
            target=self.shutdown, kwargs={"final": False}, name="bellwatch-shutdown", daemon=True
        )
        worker.start()
        worker.join(self._SIGNAL_WAIT)
        previous = self._signals.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)  # the default action: stop, as asked
            signal.raise_signal(signum)

    def reset(self) -> None:
        """Forget the configuration and every number (tests): the next use starts afresh."""
        with self._lock:
            self.deferred.drain()
            self._drop_aggregator()
            if self._monitor is not None:
                self._drop_monitor()
            self._drop_users()
            pseudonym.forget()
            self._monitor = None
            self._timeline = self._emf = None
            self.checks.clear()
            self.ratios.clear()
            previous = pipeline.install(None)
            if previous is not None:
                previous.close()
                stdlib.uninstall()
            self.generation += 1

    def _before_fork(self) -> None:
        # The child must not write the parent's buffered lines again.
        with suppress_internal_errors():
            self.flush()

    def _after_fork_in_child(self) -> None:
        # Threads do not survive a fork, and locks held at that moment never unlock.
        self.worker = worker_name()
        self.deferred.after_fork()
        self.flusher.after_fork()
        installed = pipeline.installed()
        if installed is not None:
            installed.sink.after_fork()
        self._lock = threading.RLock()
        for holder in (self._monitor, self._aggregator):
            store = getattr(holder, "store", None)
            after_fork = getattr(store, "after_fork", None)
            if callable(after_fork):
                after_fork()
        if self._users is not None:
            self._users.after_fork()
