"""SIGTERM on deploy: real servers stopped by signal write every line and every count first.

uvicorn re-raises SIGTERM with the default action after its graceful shutdown, so
the process exits 143 and ``atexit`` never runs. What is held (deferred requests,
buffered file lines, error counts since the last every-10th line) is written at the
ASGI lifespan shutdown, or by the signal handler that hands the signal back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from loopback import free_port

pytest_plugins = ["redis_server"]

APP = """
import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bellwatch import instrument


async def ok(request):
    return PlainTextResponse("ok")


async def fail(request):
    raise RuntimeError("payment service said no")


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


app = instrument(Starlette(routes=[Route("/ok", ok), Route("/fail", fail), Route("/pid", pid)]))
"""

OK_REQUESTS = 150
FAILURES = 24


def _env(log_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "BELLWATCH_LOG_FILE": "1",
        "BELLWATCH_LOG_DIR": str(log_dir),
        "BELLWATCH_STDOUT": "0",
        "BELLWATCH_SPIKE_THRESHOLD": "1000000",
        "BELLWATCH_LOG_FLUSH": "5",  # held long enough that only a shutdown writes them
        "PYTHONPATH": os.pathsep.join(
            filter(None, [str(log_dir.parent), os.environ.get("PYTHONPATH", "")])
        ),
    }


class Server:
    """A server command on a free loopback port, stopped by the test with SIGTERM."""

    def __init__(self, tmp_path: Path, argv: list[str], workers: int = 1) -> None:
        (tmp_path / "app.py").write_text(APP)
        self.logs = tmp_path / "logs"
        self.port = free_port()
        command = [a.replace("{port}", str(self.port)) for a in argv]
        self.stderr = tmp_path / "stderr.txt"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                command, cwd=tmp_path, env=_env(self.logs), stdout=subprocess.DEVNULL, stderr=err
            )
        self.base = f"http://127.0.0.1:{self.port}"
        # Ready when every worker has answered: a fresh connection each time, so the
        # kernel hands them to whichever worker accepts.
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < workers:
            try:
                seen.add(httpx.get(self.base + "/pid", timeout=2).text)
            except httpx.HTTPError:
                time.sleep(0.05)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {self.stderr.read_text()!r}")

    def load(self) -> tuple[int, int]:
        """Plain requests and failures, over a few connections so every worker gets some."""
        answered_ok = answered_fail = 0
        clients = [httpx.Client(base_url=self.base, timeout=10) for _ in range(4)]
        try:
            for i in range(OK_REQUESTS):
                answered_ok += clients[i % 4].get("/ok").status_code == 200
            for i in range(FAILURES):
                answered_fail += clients[i % 4].get("/fail").status_code == 500
        except httpx.TransportError as exc:
            raise AssertionError(f"{exc!r}; the server said: {self.stderr.read_text()}") from exc
        finally:
            for client in clients:
                client.close()
        return answered_ok, answered_fail

    def sigterm(self) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.logs.glob("*.jsonl*")):
            for raw in path.read_bytes().splitlines():
                if raw.startswith(b"{"):
                    out.append(orjson.loads(raw))
        return out


# A long keep-alive: on a loaded machine a client may reuse a connection the server
# has just closed, and the reset would look like a lost request.
UVICORN = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}",
           "--log-level", "warning", "--timeout-keep-alive", "60"]  # fmt: skip
GUNICORN = [sys.executable, "-m", "gunicorn", "app:app", "-k", "uvicorn_worker.UvicornWorker",
            "-b", "127.0.0.1:{port}", "--log-level", "warning", "--keep-alive", "60"]  # fmt: skip

SERVERS = {  # name: (command, workers)
    "uvicorn": (UVICORN, 1),
    "uvicorn --workers 2": ([*UVICORN, "--workers", "2"], 2),
    "uvicorn --lifespan off": ([*UVICORN, "--lifespan", "off"], 1),
    "gunicorn UvicornWorker -w 2": ([*GUNICORN, "-w", "2"], 2),
}


@pytest.fixture(params=sorted(SERVERS))
def stopped(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Server, int, int]]:
    server = Server(tmp_path, *SERVERS[request.param])
    try:
        answered_ok, answered_fail = server.load()
        server.sigterm()
        yield server, answered_ok, answered_fail
    finally:
        if server.proc.poll() is None:
            server.proc.kill()


class TestSigterm:
    def test_every_answered_request_has_its_line(self, stopped: tuple[Server, int, int]) -> None:
        """Each request the client got an answer for is one request_complete line."""
        server, answered_ok, answered_fail = stopped
        lines = [e for e in server.lines() if e.get("event") == "request_complete"]
        assert sum(e["path"] == "/ok" for e in lines) == answered_ok == OK_REQUESTS
        assert sum(e["path"] == "/fail" for e in lines) == answered_fail == FAILURES

    def test_error_lines_sum_to_every_failure(self, stopped: tuple[Server, int, int]) -> None:
        """Summing n over the error lines of all workers gives exactly the failures answered."""
        server, _, answered_fail = stopped
        errors = [e for e in server.lines() if e.get("event") in ("error", "aggregated_error")]
        assert sum(e.get("n", 0) for e in errors) == answered_fail == FAILURES


@pytest.mark.redis
class TestSigtermWithRedis:
    def test_the_last_counts_reach_the_cluster(self, tmp_path: Path, redis_url: str) -> None:
        """Two workers flushing every 60 s: SIGTERM still ships every request and error."""
        import time as clock

        import redis

        from bellwatch.store.redis import RedisStore

        os.environ["BELLWATCH_REDIS_URL"] = redis_url
        os.environ["BELLWATCH_FLUSH_INTERVAL"] = "60"
        try:
            server = Server(tmp_path, [*UVICORN, "--workers", "2"], workers=2)
        finally:
            del os.environ["BELLWATCH_REDIS_URL"], os.environ["BELLWATCH_FLUSH_INTERVAL"]
        try:
            answered_ok, answered_fail = server.load()
            server.sigterm()
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
        reader = RedisStore(redis_url, flush_interval=3600)
        client = redis.Redis.from_url(redis_url, decode_responses=True)
        try:
            counted = reader.read(client, clock.time()).endpoints
            errors = client.hget("bellwatch:app:etot", "total")
        finally:
            client.close()
            reader.close()
        assert counted["/ok"].count == answered_ok == OK_REQUESTS
        assert counted["/fail"].count == answered_fail == FAILURES
        assert int(errors or 0) == answered_fail
