"""The Bella demo service over a real uvicorn on 127.0.0.1, and its traffic generator."""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bellwatch import metrics
from bellwatch._runtime import runtime
from bellwatch.demo.app import create_app
from bellwatch.demo.run import cli_main
from bellwatch.demo.server import RunningServer, start_server
from bellwatch.demo.traffic import Plan, run_traffic
from bellwatch.testing import Captured, capture_logs

TOKEN = "test-twilio-auth-token"
SID = "CA" + "ab" * 16


class Service:
    def __init__(self, server: RunningServer, logs: Captured, db: Path) -> None:
        self.server = server
        self.url = server.url
        self.logs = logs
        self.db = db
        self.http = httpx.Client(base_url=server.url, timeout=10)

    def metrics(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.http.get("/metrics").json()
        return doc

    def events(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.logs.events if e.get("event") == name]

    def request_line(self, method: str, path: str, status: int) -> dict[str, Any]:
        """The request_complete line of a request the client has had its answer to.

        The server writes it after the response has gone, so it is waited for.
        """
        deadline = time.monotonic() + 10
        while True:
            lines = [
                e
                for e in self.events("request_complete")
                if (e.get("method"), e["path"], e["status"]) == (method, path, status)
            ]
            if lines:
                return lines[-1]
            assert time.monotonic() < deadline, f"no request line for {method} {path} {status}"
            time.sleep(0.01)

    def request_lines(self, at_least: int) -> list[dict[str, Any]]:
        """Every request_complete line, once at least ``at_least`` have been written."""
        deadline = time.monotonic() + 10
        while len(lines := self.events("request_complete")) < at_least:
            assert time.monotonic() < deadline, f"{len(lines)} request lines, not {at_least}"
            time.sleep(0.01)
        return lines


@pytest.fixture
def service(tmp_path: Path) -> Iterator[Service]:
    runtime.reset()
    metrics.clear_ratios()
    with capture_logs(service="bella") as logs:
        db = tmp_path / "bella.db"
        server = start_server(create_app(db, twilio_token=TOKEN))
        svc = Service(server, logs, db)
        try:
            yield svc
        finally:
            svc.http.close()
            server.stop()
    runtime.reset()
    metrics.clear_ratios()


def day(offset: int) -> str:
    return (datetime.now(UTC).date() + timedelta(days=offset)).isoformat()


def call(sid: str = SID, status: str = "ringing") -> dict[str, str]:
    return {"CallSid": sid, "From": "+15551230000", "To": "+15550000000", "CallStatus": status}


def signed(url: str, params: dict[str, str], token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, params)}


class TestBooking:
    def test_valid_booking_is_created_and_counted(self, service: Service) -> None:
        """A future date and an E.164 number give 201 and a booking_success count."""
        body = {"name": "Ann", "phone": "+15551234567", "date": day(3)}
        r = service.http.post("/api/assistant/book", json=body)
        assert r.status_code == 201
        assert r.json()["status"] == "confirmed"
        business = service.metrics()["business"]
        assert business["counters"]["booking_success"] == 1
        assert business["ratios"]["booking_success_rate"] == 100.0

    def test_invalid_phone_is_refused_counted_and_aggregated(self, service: Service) -> None:
        """A non-E.164 number is a 422, a booking_failure, and a low-severity error pattern."""
        body = {"name": "Ann", "phone": "555-1234", "date": day(3)}
        r = service.http.post("/api/assistant/book", json=body)
        assert r.status_code == 422
        assert r.json()["detail"] == "Invalid phone number format"
        doc = service.metrics()
        assert doc["business"]["counters"]["booking_failure"] == 1
        top = doc["errors"]["top_errors"][0]
        assert (top["type"], top["severity"], top["endpoint"]) == (
            "ValidationError",
            "low",
            "/api/assistant/book",
        )
        assert service.events("booking_failed")[0]["hash"] == top["hash"]

    def test_past_date_is_refused(self, service: Service) -> None:
        """A booking for yesterday is a 422 naming the date."""
        body = {"name": "Ann", "phone": "+15551234567", "date": day(-1)}
        r = service.http.post("/api/assistant/book", json=body)
        assert r.status_code == 422
        assert "future" in r.json()["detail"]


class TestUsers:
    def test_created_user_can_be_looked_up(self, service: Service) -> None:
        """POST /api/users returns an id that GET /api/users/{user_id} finds."""
        r = service.http.post("/api/users", json={"name": "Bob", "phone": "+447700900123"})
        assert r.status_code == 201
        user_id = r.json()["id"]
        got = service.http.get(f"/api/users/{user_id}")
        assert got.status_code == 200
        assert got.json()["name"] == "Bob"
        line = service.request_line("GET", "/api/users/{user_id}", 200)
        assert line["uid"] == user_id

    def test_missing_user_is_404(self, service: Service) -> None:
        """An unknown id is a 404 logged under the route template."""
        assert service.http.get("/api/users/user_424242").status_code == 404
        line = service.request_line("GET", "/api/users/{user_id}", 404)
        assert line["uid"] == "user_424242"


class TestTwilio:
    def test_signed_webhook_returns_twiml_and_opens_a_session(self, service: Service) -> None:
        """A correctly signed voice webhook gets TwiML; its CallSid is an active session."""
        params = call()
        r = service.http.post(
            "/twilio/voice", data=params, headers=signed(service.url + "/twilio/voice", params)
        )
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/xml")
        assert "<Response>" in r.text
        assert service.events("twilio_webhook_start")[0]["sid"] == SID
        doc = service.metrics()
        assert doc["performance"]["active_sessions"] == 1
        assert doc["business"]["counters"]["calls_started"] == 1

    def test_forged_signature_is_403_and_logged(self, service: Service) -> None:
        """A signature made with another token is refused and logged with the CallSid."""
        params = call()
        headers = signed(service.url + "/twilio/voice", params, token="wrong")
        r = service.http.post("/twilio/voice", data=params, headers=headers)
        assert r.status_code == 403
        failed = service.events("signature_validation_failed")
        assert len(failed) == 1
        assert failed[0]["sid"] == SID
        assert service.metrics()["performance"]["active_sessions"] == 0  # a forgery is no call
        assert "X-Twilio-Signature" not in str(service.logs.lines)

    def test_url_is_rebuilt_behind_a_proxy(self, service: Service) -> None:
        """A signature over the public https URL validates with X-Forwarded-Proto/-Host."""
        params = call()
        headers = signed("https://bella.example.com/twilio/voice", params)
        bare = service.http.post("/twilio/voice", data=params, headers=headers)
        assert bare.status_code == 403
        forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "bella.example.com"}
        r = service.http.post("/twilio/voice", data=params, headers={**headers, **forwarded})
        assert r.status_code == 200

    def test_status_callback_completes_the_call(self, service: Service) -> None:
        """The status callback completes the call and ends its session at once."""
        params = call()
        url = service.url
        service.http.post(
            "/twilio/voice", data=params, headers=signed(url + "/twilio/voice", params)
        )
        done = call(status="completed")
        r = service.http.post(
            "/twilio/status", data=done, headers=signed(url + "/twilio/status", done)
        )
        assert r.status_code == 204
        doc = service.metrics()
        assert doc["business"]["counters"]["calls_completed"] == 1
        assert doc["performance"]["active_sessions"] == 0


class TestTraffic:
    def test_short_run_produces_lines_errors_and_a_slow_request(self, service: Service) -> None:
        """Three seconds of traffic give request lines, an aggregated 500 and one slow request."""
        plan = Plan(duration=3.0, clients=2, slow=1, locks=1, seed=7)
        tally = asyncio.run(
            run_traffic(service.url, twilio_token=TOKEN, db_path=service.db, plan=plan)
        )
        assert tally.total > 20
        assert tally.server_errors >= 1
        requests = service.request_lines(tally.total - tally.failed)
        assert any(e["duration"] > 2 for e in requests)
        locked = [e for e in service.events("error") if e.get("type") == "OperationalError"]
        assert locked and locked[0]["sev"] == "critical"
        for first in locked:  # each critical database error's first line: route and frames
            assert (first["status"], first["n"]) == (500, 1)
            assert first["path"].startswith(("/api/", "/twilio/"))
            assert first["exc"].split(" > ")[-1].startswith("bellwatch.demo.app:")
        assert service.metrics()["errors"]["total_error_count"] >= tally.server_errors
        assert service.events("signature_validation_failed") or tally.sent["twilio (forged)"] == 0
        # What the demo does once its traffic stops: every pattern stays listed.
        runtime.aggregator().flush(final=True)
        errors = service.metrics()["errors"]
        hashes = {e["hash"] for e in service.logs.events if "n" in e}
        assert errors["total_unique_errors"] == len(hashes) > 0
        assert errors["total_error_count"] == sum(e["n"] for e in service.logs.events if "n" in e)


class TestDemoRun:
    def test_prints_the_digest_and_commands_that_work_as_printed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """A short demo run prints the summary digest, and each printed command runs as printed."""
        repo = Path(__file__).resolve().parents[1]
        (tmp_path / "scripts").symlink_to(repo / "scripts")
        if (repo / ".venv").exists():
            (tmp_path / ".venv").symlink_to(repo / ".venv")
        monkeypatch.chdir(tmp_path)
        runtime.reset()
        metrics.clear_ratios()
        try:
            assert cli_main(duration=3.0, clients=2) == 0
        finally:
            runtime.reset()
            metrics.clear_ratios()
        out = capsys.readouterr().out
        assert "request_complete" in out  # the service's lines reach stdout too
        assert (tmp_path / "logs" / "bella.jsonl").stat().st_size > 0
        assert "Health:" in out
        printed = out.split("Next, try:\n", 1)[1].split("\n\n", 1)[0].splitlines()
        commands = [line.split("  #", 1)[0].strip() for line in printed if line.startswith("  ")]
        assert len(commands) == 5
        assert commands[0] == "./scripts/debug-logs.sh errors"
        for command in commands:
            # --serve serves until Ctrl-C: check the same command line with --help instead.
            runnable = command.replace("--serve", "--help")
            done = subprocess.run(
                runnable, shell=True, cwd=tmp_path, capture_output=True, text=True,
                stdin=subprocess.DEVNULL, timeout=90, check=False,
            )  # fmt: skip
            assert done.returncode == 0, (command, done.stderr)
            assert done.stdout.strip(), command
