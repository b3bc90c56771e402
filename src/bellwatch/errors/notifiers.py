"""Where alerts go: the :class:`Alert` itself and the channels that carry it.

A :class:`Notifier` is anything with a ``name`` and a ``send(alert)`` that raises
on failure: :class:`LogNotifier` (the ``alert_fired`` line), :class:`WebhookNotifier`
(JSON, Slack-compatible) and :class:`SnsNotifier` (the aws extra). Each ``send``
makes one attempt; queues, threads and retries are the alerter's
(:mod:`bellwatch.errors.alerts`), which re-exports these names.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import orjson

from .. import _settings
from ..log import pipeline
from ..log.redact import scrub_text
from ..schema import Ev, F
from ._http import post_json

__all__ = [
    "Alert",
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
