"""One alert channel's delivery: a bounded queue, a thread that ends when idle, retries.

Private to :mod:`bellwatch.errors.alerts`: the :class:`~.alerts.Alerter` gives each
notifier but the log line a :class:`Channel`, so one that hangs, fails or trickles
never holds another back. What a channel sent, failed or dropped is counted.
"""

from __future__ import annotations

import contextlib
import queue
import threading

from .._guard import record_internal_error
from ..log import pipeline
from ..schema import Ev, F
from .notifiers import Alert, Notifier

__all__ = ["Channel"]


class Channel:
    """One notifier's bounded queue, thread, retries and counts.

    Args:
        notifier: where this channel's alerts go.
        stop: set when the alerter closes: retry waits end, queued alerts are dropped.
        queue_size: alerts waiting beyond this are dropped and counted.
        retries: attempts after the first, waiting ``backoff``, then twice that, ...
    """

    _IDLE_EXIT = 30.0  # the thread ends when idle this long; the next alert restarts it

    def __init__(
        self,
        notifier: Notifier,
        stop: threading.Event,
        *,
        queue_size: int,
        retries: int,
        backoff: float,
    ) -> None:
        self.notifier = notifier
        self.retries = retries
        self.backoff = backoff
        self.queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self.counts = {"sent": 0, "failed": 0, "dropped": 0}
        self._stop = stop
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def put(self, alert: Alert) -> bool:
        try:
            self.queue.put_nowait(alert)
        except queue.Full:
            self._drop()
            return False
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._run, name=f"bellwatch-alerts-{self.notifier.name}", daemon=True
                )
                self._worker.start()
        return True

    def _run(self) -> None:
        while True:
            try:
                alert = self.queue.get(timeout=self._IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self.queue.empty():
                        self._worker = None
                        return
                continue
            try:
                if alert is None:
                    return
                if self._stop.is_set():
                    self._drop()  # closing: what the queue still holds is not delivered
                else:
                    self._deliver(alert)
            finally:
                self.queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        delay = self.backoff
        error: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                if self._stop.wait(delay):
                    break  # closing: give up on this alert rather than hold shutdown
                delay *= 2
            try:
                self.notifier.send(alert)
            except Exception as exc:
                error = exc
                continue
            with self._lock:
                self.counts["sent"] += 1
            return
        with self._lock:
            self.counts["failed"] += 1
        _report_failure(self.notifier, alert, error)

    def stop(self, timeout: float) -> None:
        """Stop the thread after the alert in hand; those still queued are counted dropped."""
        while True:
            try:
                left = self.queue.get_nowait()
            except queue.Empty:
                break
            if left is not None:
                self._drop()
            self.queue.task_done()
        worker = self._worker
        if worker is not None and worker.is_alive():
            with contextlib.suppress(queue.Full):
                self.queue.put_nowait(None)
            worker.join(timeout)

    def _drop(self) -> None:
        with self._lock:
            self.counts["dropped"] += 1


def _report_failure(notifier: Notifier, alert: Alert, error: BaseException | None) -> None:
    try:
        pipeline.current().emit(
            "warning",
            {
                "event": Ev.ALERT_FAILED,
                F.CHANNEL: notifier.name,
                F.ERROR_HASH: alert.hash,
                F.ERROR_TYPE: type(error).__name__ if error is not None else None,
            },
        )
    except Exception as exc:
        record_internal_error(exc)
