"""In-process alerts: which alerts go out, and to which channels.

CloudWatch alarms cannot be immediate (one-minute metrics plus ingestion lag), so
the first HIGH or CRITICAL occurrence of an error, or its escalation, is announced
from the process itself. Nothing slow runs on the request path:
:meth:`Alerter.submit` checks a per-fingerprint rate limit (an LRU: O(1) whatever
the number of fingerprints), writes the ``alert_fired`` line at once (so the log
says it whatever happens to delivery), and puts the alert on each channel's own
bounded queue. Each channel (:mod:`._channel`) has its own thread, retries with
backoff and gives up on time (a webhook has a connect timeout and a deadline for
the whole exchange), so a channel that hangs, fails or trickles never holds another
one back; what a channel sent, failed or dropped is counted (``/metrics``). Nothing
here raises into the host app.

The alert and the notifiers live in :mod:`.notifiers`; their names are importable
from here too.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from .. import _settings
from .._guard import record_internal_error
from ._channel import Channel
from .notifiers import Alert, DeliveryError, LogNotifier, Notifier, SnsNotifier, WebhookNotifier

__all__ = [
    "Alert",
    "Alerter",
    "DeliveryError",
    "LogNotifier",
    "Notifier",
    "SnsNotifier",
    "WebhookNotifier",
]


class Alerter:
    """Rate-limits alerts per fingerprint, writes ``alert_fired``, and feeds each channel.

    Args:
        notifiers: where alerts go. A :class:`LogNotifier` writes its line at once
            in :meth:`submit`; every other notifier gets its own queue and thread,
            so one that hangs never delays another.
        interval: at most one alert per fingerprint per ``interval`` seconds, and one
            escalation (which has its own cooldown).
        retries: attempts after the first, waiting ``backoff``, then twice that, ...
        queue_size: alerts waiting for one channel beyond this are dropped and counted.
        max_tracked: fingerprints whose last alert time is remembered (least recently
            alerted forgotten first: they may alert again early).
    """

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        interval: float = 600.0,
        retries: int = 2,
        backoff: float = 0.5,
        queue_size: int = 100,
        max_tracked: int = 10_000,
    ) -> None:
        self.interval = interval
        self.retries = retries
        self.backoff = backoff
        self.queue_size = queue_size
        self.max_tracked = max_tracked
        self._last: OrderedDict[str, float] = OrderedDict()  # oldest alert first
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._log: list[Notifier] = []
        self._channels: list[Channel] = []
        self.limited = 0
        for notifier in notifiers:
            self.add(notifier)

    @classmethod
    def from_settings(cls, settings: _settings.Settings) -> Alerter:
        """A log notifier, plus webhook and SNS when their settings are given."""
        notifiers: list[Notifier] = [LogNotifier()]
        if settings.alert_webhook:
            notifiers.append(WebhookNotifier(settings.alert_webhook))
        if settings.alert_sns_topic:
            notifiers.append(SnsNotifier(settings.alert_sns_topic, settings.region))
        return cls(notifiers, interval=settings.alert_interval)

    @property
    def notifiers(self) -> list[Notifier]:
        """Every notifier, the log line first."""
        return [*self._log, *(c.notifier for c in self._channels)]

    def add(self, notifier: Notifier) -> None:
        """Send alerts to ``notifier`` as well (e.g. a pager integration of your own)."""
        if isinstance(notifier, LogNotifier):
            self._log.append(notifier)
        else:
            self._channels.append(
                Channel(notifier, self._stop, queue_size=self.queue_size, retries=self.retries,
                        backoff=self.backoff)
            )  # fmt: skip

    @property
    def counts(self) -> dict[str, int]:
        """Totals over the channels: ``sent``, ``failed``, ``dropped``; and ``limited``."""
        out = {"sent": 0, "failed": 0, "dropped": 0, "limited": self.limited}
        for channel in self._channels:
            for key, n in channel.counts.items():
                out[key] += n
        return out

    def channel_counts(self) -> dict[str, dict[str, int]]:
        """Each channel's ``sent``, ``failed`` and ``dropped`` (``/metrics``)."""
        out: dict[str, dict[str, int]] = {}
        for channel in self._channels:
            mine = out.setdefault(channel.notifier.name, {"sent": 0, "failed": 0, "dropped": 0})
            for key, n in channel.counts.items():
                mine[key] += n
        return out

    def submit(self, alert: Alert) -> bool:
        """Log and queue ``alert`` unless its fingerprint alerted within ``interval``.

        Never blocks. Returns whether it was logged or queued anywhere.
        """
        try:
            # An escalation has its own cooldown: it comes minutes after the pattern's
            # first alert (it takes a spike), and is the page that says it got worse.
            if not self._admit(f"{alert.hash}^" if alert.escalated else alert.hash):
                return False
            done = False
            for notifier in self._log:
                try:
                    notifier.send(alert)
                    done = True
                except Exception as exc:
                    record_internal_error(exc)
            for channel in self._channels:
                done = channel.put(alert) or done
            return done
        except Exception as exc:
            record_internal_error(exc)
            return False

    def _admit(self, key: str) -> bool:
        """The rate limit, O(1): the LRU is ordered by last alert, oldest first."""
        now = time.monotonic()
        last = self._last
        with self._lock:
            seen = last.get(key)
            if seen is not None and now - seen < self.interval:
                self.limited += 1
                return False
            last[key] = now
            last.move_to_end(key)
            # Forget what lapsed, and the oldest beyond the bound: each entry leaves once.
            while last:
                oldest_key, oldest = next(iter(last.items()))
                if now - oldest < self.interval and len(last) <= self.max_tracked:
                    break
                del last[oldest_key]
            return True

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert was delivered or given up; True if done in time."""
        deadline = time.monotonic() + timeout
        for channel in self._channels:
            while channel.queue.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued within ``timeout`` (no retry waits), then stop the threads."""
        if timeout > 0:
            self.flush(timeout)
        self._stop.set()
        for channel in self._channels:
            channel.stop(timeout if timeout > 0 else 0.5)
