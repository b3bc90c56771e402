"""The Bella demo service over a real uvicorn on 127.0.0.1, and its traffic generator."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from twilio.request_validator import RequestValidator

from bellwatch import metrics
from bellwatch._runtime import runtime
from bellwatch.demo.app import create_app
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


REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class DemoRun:
    """A finished ``make demo``: where it ran, what it printed, the shell it ran from."""

    cwd: Path
    out: str
    env: dict[str, str]

    def paragraph(self, heading: str) -> list[str]:
        """The command lines printed under ``heading`` (two-space indented, ``#`` notes cut)."""
        block = self.out.split(heading, 1)[1].split("\n\n", 1)[0].splitlines()
        return [line.split("  #", 1)[0].strip() for line in block if line.startswith("  ")]

    def shell(self, command: str) -> subprocess.CompletedProcess[str]:
        """Run ``command`` in bash from the demo's directory, as a person would type it."""
        return subprocess.run(
            ["bash", "-c", command], cwd=self.cwd, env=self.env, capture_output=True,
            text=True, stdin=subprocess.DEVNULL, timeout=120, check=False,
        )  # fmt: skip


@pytest.fixture(scope="class")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """``.venv/bin/python -m bellwatch.demo``, as ``make demo`` runs it, in a checkout-like
    directory, from a shell whose PATH does not have the virtual environment on it."""
    venv = Path(sys.prefix)
    if not (venv / "bin" / "activate").is_file():
        pytest.skip("the tests run outside a virtual environment")
    cwd = tmp_path_factory.mktemp("checkout")
    for name in ("scripts", "Makefile"):
        (cwd / name).symlink_to(REPO / name)
    (cwd / ".venv").symlink_to(venv)
    bindirs = {str(venv / "bin"), str(REPO / ".venv" / "bin")}
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p not in bindirs]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BELLWATCH_", "VIRTUAL_ENV"))}
    env["PATH"] = os.pathsep.join(path or ["/usr/bin", "/bin"])
    command = [".venv/bin/python", "-m", "bellwatch.demo", "--duration", "3", "--clients", "2"]
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return DemoRun(cwd, done.stdout, env)


def walkthrough_commands() -> list[str]:
    """The README walkthrough's ``bellwatch ...`` commands that read the local log files.

    Left out: ``metrics``/``health`` (they ask the service that ``--serve`` keeps running),
    ``aws`` (an AWS account) and ``demo`` (the demo itself).
    """
    text = (REPO / "README.md").read_text()
    block = text.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->")[0]
    spans = [span.replace("\\|", "|") for span in re.findall(r"`([^`\n]+)`", block)]
    return [
        span
        for span in spans
        if span.startswith("bellwatch ")
        and "..." not in span
        and span.split()[1] not in {"metrics", "health", "aws", "demo"}
    ]


class TestDemoRun:
    def test_prints_the_service_lines_and_the_digest(self, demo_run: DemoRun) -> None:
        """A short run shows the service's lines, writes its log file and prints the digest."""
        assert "request_complete" in demo_run.out
        assert (demo_run.cwd / "logs" / "bella.jsonl").stat().st_size > 0
        assert "Health:" in demo_run.out

    def test_printed_commands_work_as_printed(self, demo_run: DemoRun) -> None:
        """Each command under "Next, try:" runs as printed, from a shell without the venv."""
        commands = demo_run.paragraph("Next, try:\n")
        assert len(commands) == 5
        assert commands[0] == "./scripts/debug-logs.sh errors"
        for command in commands:
            # --serve serves until Ctrl-C: check the same command line with --help instead.
            done = demo_run.shell(command.replace("--serve", "--help"))
            assert done.returncode == 0, (command, done.stderr)
            assert done.stdout.strip(), command

    def test_printed_activation_puts_bellwatch_on_path(self, demo_run: DemoRun) -> None:
        """The printed ``source .venv/bin/activate`` makes a bare ``bellwatch`` work."""
        commands = demo_run.paragraph("put it on PATH first:\n")
        assert commands == ["source .venv/bin/activate"]
        done = demo_run.shell(f"{commands[0]} && command -v bellwatch && bellwatch --version")
        assert done.returncode == 0, done.stderr
        found, version = done.stdout.splitlines()
        assert Path(found).resolve() == (Path(sys.prefix) / "bin" / "bellwatch").resolve()
        assert version.startswith("bellwatch, version ")

    def test_readme_walkthrough_commands_work_after_activating(self, demo_run: DemoRun) -> None:
        """The README walkthrough's ``bellwatch ...`` commands run on the demo's logs."""
        commands = walkthrough_commands()
        assert len(commands) >= 5
        for command in commands:
            done = demo_run.shell(f"source .venv/bin/activate && {command}")
            assert done.returncode == 0, (command, done.stderr)


class TestDefaults:
    def test_every_entry_point_uses_the_one_duration(self) -> None:
        """``bellwatch demo``, ``python -m bellwatch.demo`` and Plan share DURATION."""
        from bellwatch import demo
        from bellwatch.cli.service import demo as demo_command
        from bellwatch.demo.__main__ import parser

        option = next(p for p in demo_command.params if p.name == "duration")
        assert option.default == demo.DURATION
        args = parser().parse_args([])
        assert (args.duration, args.clients) == (demo.DURATION, demo.CLIENTS)
        assert (Plan().duration, Plan().clients) == (demo.DURATION, demo.CLIENTS)

    def test_readme_states_the_defaults(self) -> None:
        """The walkthrough states the demo's duration and clients as the code defines them."""
        from bellwatch import demo

        text = (REPO / "README.md").read_text()
        assert f"{demo.DURATION:g} s of real HTTP from {demo.CLIENTS} clients" in text


class TestMissingDependency:
    def test_names_the_module_behind_a_reworded_import_error(self) -> None:
        """A module's own ImportError message still gives the missing module's name."""
        from bellwatch.demo import missing_dependency

        try:
            try:
                raise ModuleNotFoundError("No module named 'fastapi'", name="fastapi")
            except ImportError as exc:
                raise ImportError("the Bella demo needs it") from exc
        except ImportError as outer:
            message = missing_dependency(outer)
        assert message == "the demo needs fastapi: pip install 'bellwatch[demo]'"

    def test_never_prints_none(self) -> None:
        """An ImportError without any module name still gives the install line."""
        from bellwatch.demo import missing_dependency

        message = missing_dependency(ImportError("cannot import name 'x'"))
        assert "None" not in message
        assert message.endswith(": pip install 'bellwatch[demo]'")
