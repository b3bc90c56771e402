"""In-process alerts: an ``alert_fired`` line, and channels (JSON webhook, SNS) each on its own.

CloudWatch alarms cannot be immediate (one-minute metrics plus ingestion lag), so
the first HIGH or CRITICAL occurrence of an error, or its escalation, is announced
from the process itself. Nothing slow runs on the request path:
:meth:`Alerter.submit` checks a per-fingerprint rate limit (an LRU: O(1) whatever
the number of fingerprints), writes the ``alert_fired`` line at once (so the log
says it whatever happens to delivery), and puts the alert on each channel's own
bounded queue. Each channel has its own thread, retries with backoff and gives
up on time (a webhook has a connect timeout and a deadline for the whole
exchange), so a channel that hangs, fails or trickles never holds another one
back; what a channel sent, failed or dropped is counted (``/metrics``). Nothing
here raises into the host app.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from .. import _settings
from .._guard import record_internal_error
from ..log import pipeline
from ..log.redact import scrub_text
from ..schema import Ev, F
from ._http import post_json

__all__ = [
    "Alert",
    "Alerter",
    "DeliveryError",
    "LogNotifier",
    "Notifier",
    "SnsNotifier",
    "WebhookNotifier",
]


@dataclass(frozen=True, slots=True)
class Alert:
    """What a notifier is told about an error pattern."""

    hash: str
    type: str
    message: str
    severity: str
    count: int
    endpoint: str | None
    escalated: bool
    service: str
    env: str

    def __post_init__(self) -> None:
        # Whoever builds an alert (a shared store's pattern, a custom notifier's test),
        # its free text leaves the process redacted: webhook, SNS and log alike.
        object.__setattr__(self, "message", scrub_text(self.message))
        if self.endpoint is not None:
            object.__setattr__(self, "endpoint", scrub_text(self.endpoint))

    @property
    def title(self) -> str:
        """One line for a chat message or an e-mail subject."""
        what = "escalated" if self.escalated else "new"
        where = f" at {self.endpoint}" if self.endpoint else ""
        head = f"[{self.service}/{self.env}] {self.severity.upper()} {what} error"
        return f"{head} {self.hash}: {self.type}{where}"


class Notifier(Protocol):
    """Anything with a ``name`` and a ``send(alert)`` that raises on failure."""

    name: str

    def send(self, alert: Alert) -> None: ...


class LogNotifier:
    """Writes an ``alert_fired`` line through the logging pipeline."""

    name = "log"

    def send(self, alert: Alert) -> None:
        event: dict[str, Any] = {
            "event": Ev.ALERT_FIRED,
            F.CHANNEL: self.name,
            F.ERROR_HASH: alert.hash,
            F.ERROR_TYPE: alert.type,
            F.SEVERITY: alert.severity,
            F.COUNT: alert.count,
        }
        if alert.escalated:
            event[F.ESCALATED] = True
        if alert.endpoint is not None:
            event[F.PATH] = alert.endpoint
        pipeline.current().emit("warning", event)


class DeliveryError(Exception):
    """A notifier's endpoint refused the alert (the worker retries, then counts it)."""


class WebhookNotifier:
    """POSTs JSON to a URL; Slack incoming webhooks show ``text``, others read ``alert``.

    Args:
        url: an ``http://`` or ``https://`` URL.
        timeout: seconds the whole exchange may take, from connecting to the status
            line (a server trickling bytes cannot stretch it).
        connect_timeout: seconds to establish the connection.
    """

    name = "webhook"

    def __init__(self, url: str, timeout: float = 5.0, connect_timeout: float = 2.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise _settings.ConfigError(f"alert_webhook: expected an http(s) URL, got {url!r}")
        self.url = url
        self.timeout = timeout
        self.connect_timeout = connect_timeout

    def send(self, alert: Alert) -> None:
        body = orjson.dumps({"text": f"{alert.title}\n{alert.message}", "alert": asdict(alert)})
        status = post_json(
            self.url, body, connect_timeout=self.connect_timeout, timeout=self.timeout
        )
        if not 200 <= status < 300:
            raise DeliveryError(f"HTTP {status}")


class SnsNotifier:
    """Publishes to an SNS topic (e-mail, SMS, chat bots subscribe there). Needs the aws extra."""

    name = "sns"

    def __init__(self, topic_arn: str, region: str | None = None) -> None:
        self.topic_arn = topic_arn
        # The ARN names its region (arn:aws:sns:REGION:ACCOUNT:NAME); prefer it.
        parts = topic_arn.split(":")
        self.region = parts[3] if len(parts) > 5 and parts[3] else region
        self._client: Any = None

    def send(self, alert: Alert) -> None:
        if self._client is None:
            from ..aws.session import client  # the aws extra, only when SNS is configured

            # One attempt per send: the channel's own retries say how often it tried.
            self._client = client("sns", region=self.region, max_attempts=1)
        self._client.publish(
            TopicArn=self.topic_arn,
            Subject=_subject(alert.title),
            Message=orjson.dumps(asdict(alert), option=orjson.OPT_INDENT_2).decode(),
        )


def _subject(title: str) -> str:
    """``title`` as SNS takes a Subject: printable ASCII on one line, at most 100 characters.

    SNS refuses anything else (a route or service with an accent, a type name in another
    script), and the alert would fail on every retry; the message keeps the full text.
    """
    return "".join(c if " " <= c <= "~" else "?" for c in title)[:100]


class _Channel:
    """One notifier's bounded queue, thread, retries and counts."""

    _IDLE_EXIT = 30.0  # the thread ends when idle this long; the next alert restarts it

    def __init__(self, notifier: Notifier, owner: Alerter, queue_size: int) -> None:
        self.notifier = notifier
        self.owner = owner
        self.queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self.counts = {"sent": 0, "failed": 0, "dropped": 0}
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
                if self.owner._stop.is_set():
                    self._drop()  # closing: what the queue still holds is not delivered
                else:
                    self._deliver(alert)
            finally:
                self.queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        owner = self.owner
        delay = owner.backoff
        error: BaseException | None = None
        for attempt in range(owner.retries + 1):
            if attempt:
                if owner._stop.wait(delay):
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
        self._channels: list[_Channel] = []
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
            self._channels.append(_Channel(notifier, self, self.queue_size))

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
