"""In-process alerts: notifiers (log line, JSON webhook, SNS) behind a bounded queue.

CloudWatch alarms cannot be immediate (one-minute metrics plus ingestion lag), so
the first HIGH or CRITICAL occurrence of an error, or its escalation, is announced
from the process itself. Nothing here runs on the request path: :meth:`Alerter.submit`
only checks a per-fingerprint rate limit and puts the alert on a bounded queue; one
background thread delivers it, retrying with backoff, and counts what it could not
deliver. Nothing here raises into the host app.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from .. import _settings
from .._guard import record_internal_error
from ..log import pipeline
from ..log.redact import scrub_text
from ..schema import Ev, F

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
    """POSTs JSON to a URL; Slack incoming webhooks show ``text``, others read ``alert``."""

    name = "webhook"

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        if not url.startswith(("http://", "https://")):
            raise _settings.ConfigError(f"alert_webhook: expected an http(s) URL, got {url!r}")
        self.url = url
        self.timeout = timeout

    def send(self, alert: Alert) -> None:
        body = orjson.dumps({"text": f"{alert.title}\n{alert.message}", "alert": asdict(alert)})
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.url, data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - scheme checked in __init__
                response.read(1024)
        except urllib.error.HTTPError as err:
            err.close()  # it holds the connection open otherwise
            raise DeliveryError(f"HTTP {err.code}") from None


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

            self._client = client("sns", region=self.region)
        self._client.publish(
            TopicArn=self.topic_arn,
            Subject=alert.title[:100],  # SNS rejects longer subjects
            Message=orjson.dumps(asdict(alert), option=orjson.OPT_INDENT_2).decode(),
        )


class Alerter:
    """Rate-limits alerts per fingerprint and delivers them from one background thread.

    Args:
        notifiers: where alerts go, in order; each failure is retried on its own.
        interval: at most one alert per fingerprint per ``interval`` seconds.
        retries: attempts after the first, waiting ``backoff``, then twice that, ...
        queue_size: alerts waiting beyond this are dropped and counted.
    """

    _IDLE_EXIT = 30.0  # the worker thread ends when idle this long; the next alert restarts it

    def __init__(
        self,
        notifiers: Sequence[Notifier],
        *,
        interval: float = 600.0,
        retries: int = 2,
        backoff: float = 0.5,
        queue_size: int = 100,
    ) -> None:
        self.notifiers = list(notifiers)
        self.interval = interval
        self.retries = retries
        self.backoff = backoff
        self._queue: queue.Queue[Alert | None] = queue.Queue(maxsize=queue_size)
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self._stop = threading.Event()
        self.counts = {"sent": 0, "failed": 0, "dropped": 0, "limited": 0}

    @classmethod
    def from_settings(cls, settings: _settings.Settings) -> Alerter:
        """A log notifier, plus webhook and SNS when their settings are given."""
        notifiers: list[Notifier] = [LogNotifier()]
        if settings.alert_webhook:
            notifiers.append(WebhookNotifier(settings.alert_webhook))
        if settings.alert_sns_topic:
            notifiers.append(SnsNotifier(settings.alert_sns_topic, settings.region))
        return cls(notifiers, interval=settings.alert_interval)

    def add(self, notifier: Notifier) -> None:
        """Send alerts to ``notifier`` as well (e.g. a pager integration of your own)."""
        self.notifiers.append(notifier)

    def submit(self, alert: Alert) -> bool:
        """Queue ``alert`` unless its fingerprint alerted within ``interval``; never blocks.

        Returns whether it was queued.
        """
        try:
            now = time.monotonic()
            with self._lock:
                last = self._last.get(alert.hash)
                if last is not None and now - last < self.interval:
                    self.counts["limited"] += 1
                    return False
                self._last[alert.hash] = now
                if len(self._last) > 10_000:  # forget fingerprints whose limit has lapsed
                    self._last = {k: t for k, t in self._last.items() if now - t < self.interval}
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                with self._lock:
                    self.counts["dropped"] += 1
                return False
            self._ensure_worker()
            return True
        except Exception as exc:
            record_internal_error(exc)
            return False

    def _ensure_worker(self) -> None:
        with self._lock:
            if self._worker is None or not self._worker.is_alive():
                self._stop.clear()
                self._worker = threading.Thread(
                    target=self._run, name="bellwatch-alerts", daemon=True
                )
                self._worker.start()

    def _run(self) -> None:
        while True:
            try:
                alert = self._queue.get(timeout=self._IDLE_EXIT)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():
                        self._worker = None
                        return
                continue
            try:
                if alert is None:
                    return
                for notifier in self.notifiers:
                    self._deliver(notifier, alert)
            finally:
                self._queue.task_done()

    def _deliver(self, notifier: Notifier, alert: Alert) -> None:
        delay = self.backoff
        error: BaseException | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                if self._stop.wait(delay):
                    break  # closing: give up on this alert rather than hold shutdown
                delay *= 2
            try:
                notifier.send(alert)
            except Exception as exc:
                error = exc
                continue
            with self._lock:
                self.counts["sent"] += 1
            return
        with self._lock:
            self.counts["failed"] += 1
        self._report_failure(notifier, alert, error)

    def _report_failure(
        self, notifier: Notifier, alert: Alert, error: BaseException | None
    ) -> None:
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

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert was delivered or given up; True if done in time."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Deliver what is queued within ``timeout`` (no retry waits), then stop the worker."""
        if timeout > 0:
            self.flush(timeout)
        self._stop.set()
        worker = self._worker
        if worker is not None and worker.is_alive():
            with contextlib.suppress(queue.Full):  # a full queue: the stop event ends it
                self._queue.put_nowait(None)
            worker.join(timeout if timeout > 0 else 0.5)
