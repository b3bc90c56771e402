"""Alerts: rate limit, bounded queue, retries, log line, webhook on loopback, SNS on moto."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

import bellwatch
import bellwatch.errors
from bellwatch._settings import ConfigError, resolve
from bellwatch.errors import alerts, notifiers
from bellwatch.errors.alerts import Alert, Alerter, LogNotifier, SnsNotifier, WebhookNotifier
from bellwatch.testing import capture_logs


def make_alert(hash_: str = "abc12345", *, escalated: bool = False) -> Alert:
    return Alert(
        hash_, "RuntimeError", "gateway <int>", "high", 1, "/pay", escalated, "app", "prod"
    )


class Recorder:
    name = "test"

    def __init__(self) -> None:
        self.alerts: list[Alert] = []

    def send(self, alert: Alert) -> None:
        self.alerts.append(alert)


class Flaky:
    """Fails ``failures`` times, then succeeds."""

    name = "flaky"

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def send(self, alert: Alert) -> None:
        self.calls += 1
        if self.calls <= self.failures:
            raise OSError("unreachable")


class Blocking:
    """Holds the worker until released, so the queue fills up."""

    name = "blocking"

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def send(self, alert: Alert) -> None:
        self.started.set()
        self.release.wait(10)


@pytest.fixture
def alerter_factory() -> Iterator[Any]:
    made: list[Alerter] = []

    def make(*notifiers: Any, **kwargs: Any) -> Alerter:
        kwargs.setdefault("backoff", 0.01)
        alerter = Alerter(list(notifiers), **kwargs)
        made.append(alerter)
        return alerter

    yield make
    for alerter in made:
        alerter.close(1.0)


class TestRateLimit:
    def test_same_fingerprint_is_limited(self, alerter_factory: Any) -> None:
        """A second alert for one fingerprint within the interval is not sent."""
        rec = Recorder()
        alerter = alerter_factory(rec, interval=600.0)
        assert alerter.submit(make_alert())
        assert not alerter.submit(make_alert())
        assert alerter.flush(5.0)
        assert len(rec.alerts) == 1
        assert alerter.counts["limited"] == 1

    def test_other_fingerprints_are_not_limited(self, alerter_factory: Any) -> None:
        """The limit is per fingerprint."""
        rec = Recorder()
        alerter = alerter_factory(rec, interval=600.0)
        alerter.submit(make_alert("aaaaaaaa"))
        alerter.submit(make_alert("bbbbbbbb"))
        assert alerter.flush(5.0)
        assert [a.hash for a in rec.alerts] == ["aaaaaaaa", "bbbbbbbb"]

    def test_escalation_passes_the_first_alerts_cooldown(self, alerter_factory: Any) -> None:
        """An escalation minutes after its pattern's first alert still pages."""
        rec = Recorder()
        alerter = alerter_factory(rec, interval=600.0)
        assert alerter.submit(make_alert())
        assert alerter.submit(make_alert(escalated=True))
        assert alerter.flush(5.0)
        assert [a.escalated for a in rec.alerts] == [False, True]

    def test_escalation_has_its_own_cooldown(self, alerter_factory: Any) -> None:
        """A second escalation of one fingerprint within the interval is limited."""
        rec = Recorder()
        alerter = alerter_factory(rec, interval=600.0)
        assert alerter.submit(make_alert(escalated=True))
        assert not alerter.submit(make_alert(escalated=True))
        assert alerter.flush(5.0)
        assert len(rec.alerts) == 1
        assert alerter.counts["limited"] == 1


class TestQueue:
    def test_full_queue_drops_and_counts(self, alerter_factory: Any) -> None:
        """When the worker is stuck, alerts beyond the queue size are dropped, not blocked on."""
        blocking = Blocking()
        alerter = alerter_factory(blocking, interval=0.0, queue_size=2)
        alerter.submit(make_alert("00000000"))
        assert blocking.started.wait(5)
        results = [alerter.submit(make_alert(f"{n:08x}")) for n in range(1, 6)]
        blocking.release.set()
        assert results == [True, True, False, False, False]
        assert alerter.counts["dropped"] == 3


class TestRetries:
    def test_transient_failure_is_retried(self, alerter_factory: Any) -> None:
        """Two failures, then success: delivered once, nothing counted as failed."""
        flaky = Flaky(failures=2)
        alerter = alerter_factory(flaky, retries=2)
        alerter.submit(make_alert())
        assert alerter.flush(5.0)
        assert (flaky.calls, alerter.counts["sent"], alerter.counts["failed"]) == (3, 1, 0)

    def test_persistent_failure_is_counted_and_logged(self, alerter_factory: Any) -> None:
        """After the retries the failure is counted and an ``alert_failed`` line written."""
        flaky = Flaky(failures=100)
        alerter = alerter_factory(flaky, retries=2)
        with capture_logs() as cap:
            alerter.submit(make_alert())
            assert alerter.flush(5.0)
        assert alerter.counts["failed"] == 1
        (line,) = cap.events
        assert (line["event"], line["channel"], line["hash"]) == (
            "alert_failed",
            "flaky",
            "abc12345",
        )

    def test_one_failing_channel_does_not_stop_the_others(self, alerter_factory: Any) -> None:
        """Each notifier is tried on its own."""
        rec = Recorder()
        alerter = alerter_factory(Flaky(failures=100), rec, retries=0)
        with capture_logs():
            alerter.submit(make_alert())
            assert alerter.flush(5.0)
        assert len(rec.alerts) == 1


class TestLogNotifier:
    def test_writes_alert_fired(self, alerter_factory: Any) -> None:
        """The log channel writes one ``alert_fired`` line with the pattern's facts."""
        alerter = alerter_factory(LogNotifier())
        with capture_logs() as cap:
            alerter.submit(make_alert(escalated=True))
            assert alerter.flush(5.0)
        (line,) = cap.events
        assert line["event"] == "alert_fired"
        assert (line["channel"], line["sev"], line["escalated"], line["path"]) == (
            "log", "high", True, "/pay"
        )  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    mode = "ok"
    bodies: list[bytes]
    release: threading.Event

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append(body)
        if self.mode == "hang":
            self.release.wait(10)
        if self.mode == "trickle":  # one byte every 2 s: each read is quick, the whole never
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                try:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                except OSError:
                    return  # the client gave up
                if self.release.wait(2):
                    return
            return
        status = 500 if self.mode == "error" else 200
        try:
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        except OSError:
            return  # the client gave up waiting (the hanging mode's point)

    def log_message(self, format: str, *args: Any) -> None:
        return None


class Server:
    def __init__(self, mode: str) -> None:
        self.bodies: list[bytes] = []
        self.release = threading.Event()
        handler = type(
            "H", (_Handler,), {"mode": mode, "bodies": self.bodies, "release": self.release}
        )
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server_factory() -> Iterator[Any]:
    servers: list[Server] = []

    def make(mode: str) -> Server:
        servers.append(Server(mode))
        return servers[-1]

    yield make
    for s in servers:
        s.close()


class TestWebhook:
    def test_posts_slack_compatible_json(self, alerter_factory: Any, server_factory: Any) -> None:
        """A server answering 200 receives ``text`` for Slack and the alert's fields."""
        server = server_factory("ok")
        alerter = alerter_factory(WebhookNotifier(server.url, timeout=5.0))
        alerter.submit(make_alert())
        assert alerter.flush(10.0)
        (body,) = server.bodies
        payload = orjson.loads(body)
        assert payload["text"].startswith(
            "[app/prod] HIGH new error abc12345: RuntimeError at /pay"
        )
        assert payload["alert"]["hash"] == "abc12345"
        assert alerter.counts["sent"] == 1

    def test_server_error_is_retried_then_counted(
        self, alerter_factory: Any, server_factory: Any
    ) -> None:
        """A server answering 500 gets the first try and two retries, then it is counted."""
        server = server_factory("error")
        alerter = alerter_factory(WebhookNotifier(server.url, timeout=5.0), retries=2)
        with capture_logs() as cap:
            alerter.submit(make_alert())
            assert alerter.flush(10.0)
        assert len(server.bodies) == 3
        assert alerter.counts["failed"] == 1
        assert cap.events[0]["type"] == "DeliveryError"

    def test_hanging_server_times_out(self, alerter_factory: Any, server_factory: Any) -> None:
        """A server that never answers costs the worker its timeout, never the caller."""
        server = server_factory("hang")
        alerter = alerter_factory(WebhookNotifier(server.url, timeout=0.2), retries=1)
        with capture_logs() as cap:
            assert alerter.submit(make_alert())
            assert alerter.flush(10.0)
        assert alerter.counts["failed"] == 1
        assert cap.events[0]["event"] == "alert_failed"

    def test_rejects_non_http_url(self) -> None:
        """A ``file:`` or other scheme fails at configure time."""
        with pytest.raises(ConfigError, match="alert_webhook"):
            WebhookNotifier("file:///etc/passwd")


def publish_through_moto(
    alerter_factory: Any, inbox: tuple[str, Any, str], alert: Alert
) -> dict[str, Any]:
    """Send ``alert`` to the SNS topic of ``inbox`` (the ``sns_inbox`` fixture); the
    envelope its subscribed SQS queue received."""
    topic, sqs, queue_url = inbox
    alerter = alerter_factory(SnsNotifier(topic))
    alerter.submit(alert)
    assert alerter.flush(10.0)
    assert alerter.counts["sent"] == 1
    (message,) = sqs.receive_message(QueueUrl=queue_url)["Messages"]
    envelope: dict[str, Any] = orjson.loads(message["Body"])
    return envelope


class TestSns:
    def test_publishes_to_topic(
        self, alerter_factory: Any, sns_inbox: tuple[str, Any, str]
    ) -> None:
        """The alert reaches a queue subscribed to the topic (moto)."""
        envelope = publish_through_moto(alerter_factory, sns_inbox, make_alert())
        assert envelope["Subject"].startswith("[app/prod] HIGH new error abc12345")
        assert orjson.loads(envelope["Message"])["severity"] == "high"

    def test_subject_is_what_sns_accepts(
        self, alerter_factory: Any, sns_inbox: tuple[str, Any, str]
    ) -> None:
        """A non-ASCII or multi-line service, type or route still makes an ASCII one-line subject.

        SNS refuses a Subject that is not ASCII or holds a line break or control character
        (moto does not check this, so the test does).
        """
        alert = Alert(
            "abc12345", "ZahlungsFehlerÄ", "x", "high", 1, "/café/\n{id}", False, "bücher\tapi",
            "prod",
        )  # fmt: skip
        subject = publish_through_moto(alerter_factory, sns_inbox, alert)["Subject"]
        assert subject.isascii() and subject.isprintable() and len(subject) <= 100
        assert subject.startswith("[b") and "abc12345" in subject

    def test_region_comes_from_the_arn(self) -> None:
        """The topic ARN names its region, whatever the default."""
        notifier = SnsNotifier("arn:aws:sns:ap-south-1:123456789012:alerts", region="us-east-1")
        assert notifier.region == "ap-south-1"


class TestFromSettings:
    def test_channels_follow_settings(self) -> None:
        """Log always; webhook and SNS only when configured."""
        plain = Alerter.from_settings(resolve(environ={}))
        full = Alerter.from_settings(
            resolve(
                environ={},
                alert_webhook="http://127.0.0.1:9/hook",
                alert_sns_topic="arn:aws:sns:us-east-1:123456789012:a",
                alert_interval=5.0,
            )
        )
        assert [n.name for n in plain.notifiers] == ["log"]
        assert [n.name for n in full.notifiers] == ["log", "webhook", "sns"]
        assert full.interval == 5.0


def _named(notifier: Any, name: str) -> Any:
    notifier.name = name
    return notifier


class TestBadChannels:
    def test_a_trickling_webhook_gives_up_at_its_deadline(self, server_factory: Any) -> None:
        """A server sending one byte every 2 s cannot stretch a 1 s total timeout."""
        server = server_factory("trickle")
        with pytest.raises(TimeoutError):
            WebhookNotifier(server.url, timeout=1.0).send(make_alert())

    def test_a_server_that_never_accepts_hits_the_connect_timeout(self) -> None:
        """A listener whose backlog is full never completes the handshake: connect times out."""
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        held = [socket.create_connection(("127.0.0.1", port))]  # fills the backlog
        try:
            url = f"http://127.0.0.1:{port}/hook"
            with pytest.raises(TimeoutError):
                WebhookNotifier(url, timeout=60.0, connect_timeout=0.3).send(make_alert())
        finally:
            for sock in held:
                sock.close()
            listener.close()

    def test_bad_channels_neither_block_others_nor_silence_the_log(
        self, server_factory: Any
    ) -> None:
        """800 alerts, webhooks that hang, fail and trickle: every alert is logged, a good
        channel gets all it accepted, and each channel accounts for all 800."""
        hang, error, trickle = (server_factory(m) for m in ("hang", "error", "trickle"))
        good = _named(Recorder(), "good")
        alerter = Alerter(
            [
                LogNotifier(),
                _named(WebhookNotifier(hang.url, timeout=1.0), "hang"),
                _named(WebhookNotifier(error.url, timeout=1.0), "error"),
                _named(WebhookNotifier(trickle.url, timeout=1.0), "trickle"),
                good,
            ],
            retries=1,
            backoff=0.01,
            queue_size=50,
        )
        with capture_logs() as cap:
            for n in range(800):
                alerter.submit(make_alert(f"{n:08x}"))
            deadline = time.monotonic() + 60
            while alerter._channels[-1].queue.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.01)
            alerter.close(2.0)
            fired = [e for e in cap.events if e["event"] == "alert_fired"]
        counts = alerter.channel_counts()
        assert len(fired) == 800
        assert {name: sum(c.values()) for name, c in counts.items()} == dict.fromkeys(
            ("hang", "error", "trickle", "good"), 800
        )
        assert counts["good"]["sent"] == len(good.alerts) > 0
        assert counts["good"]["failed"] == 0
        for bad in ("hang", "error", "trickle"):
            assert counts[bad]["sent"] == 0
            assert counts[bad]["failed"] > 0


class TestModules:
    def test_public_names_stay_importable_from_alerts_and_the_package(self) -> None:
        """Alert, Alerter and the notifiers import from errors.alerts and bellwatch as before."""
        assert set(alerts.__all__) == {"Alerter", *notifiers.__all__}
        for name in alerts.__all__:
            assert getattr(alerts, name) is getattr(notifiers, name, alerts.Alerter)
        for name in ("Alert", "Alerter", "LogNotifier", "SnsNotifier", "WebhookNotifier"):
            assert getattr(bellwatch, name) is getattr(alerts, name)

    def test_each_alerting_module_keeps_one_concept_within_the_house_limit(self) -> None:
        """The alerter, its channels and the notifiers are modules of their own, <= 400 lines."""
        folder = Path(bellwatch.errors.__file__).parent
        for name in ("alerts.py", "_channel.py", "notifiers.py"):
            assert len((folder / name).read_text().splitlines()) <= 400, name
