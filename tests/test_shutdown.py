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


def _env(log_dir: Path, extra: dict[str, str]) -> dict[str, str]:
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
        **extra,
    }


class Server:
    """A server command on a free loopback port, stopped by the test with SIGTERM."""

    def __init__(
        self,
        tmp_path: Path,
        argv: list[str],
        workers: int = 1,
        env: dict[str, str] | None = None,
    ) -> None:
        (tmp_path / "app.py").write_text(APP)
        self.logs = tmp_path / "logs"
        self.port = free_port()
        command = [a.replace("{port}", str(self.port)) for a in argv]
        self.stderr = tmp_path / "stderr.txt"
        self.stdout = tmp_path / "stdout.txt"
        with self.stderr.open("wb") as err, self.stdout.open("wb") as out:
            self.proc = subprocess.Popen(
                command, cwd=tmp_path, env=_env(self.logs, env or {}), stdout=out, stderr=err
            )
        self.base = f"http://127.0.0.1:{self.port}"
        self.pids = self.wait_for(workers)

    def wait_for(self, workers: int, not_in: frozenset[str] = frozenset()) -> frozenset[str]:
        """Wait until ``workers`` processes not in ``not_in`` have answered; their pids.

        A fresh connection each time, so the kernel hands them to whichever worker accepts.
        """
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < workers:
            try:
                pid = httpx.get(self.base + "/pid", timeout=2).text
                if pid not in not_in:
                    seen.add(pid)
            except httpx.HTTPError:
                time.sleep(0.05)
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"server did not start: {self.stderr.read_text()!r}")
        return frozenset(seen)

    def load(self) -> tuple[int, int]:
        """Plain requests and failures, over a few connections so every worker gets some."""
        answered_ok = answered_fail = 0
        clients = [httpx.Client(base_url=self.base, timeout=10) for _ in range(4)]
        try:
            for i in range(OK_REQUESTS):
                answered_ok += clients[i % 4].get("/ok").status_code == 200
            for i in range(FAILURES):
                answered_fail += clients[i % 4].get("/fail").status_code == 500
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
            out += _json_lines(path)
        return out


def _json_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.startswith(b"{")]


UVICORN = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}",
           "--log-level", "warning"]  # fmt: skip
GUNICORN = [sys.executable, "-m", "gunicorn", "app:app", "-k", "uvicorn_worker.UvicornWorker",
            "-b", "127.0.0.1:{port}", "--log-level", "warning"]  # fmt: skip

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


class TestReload:
    def test_a_reload_writes_what_the_old_worker_held(self, tmp_path: Path) -> None:
        """uvicorn --reload stops its worker on a change: each answered request has its line."""
        server = Server(tmp_path, [*UVICORN, "--reload", "--reload-dir", str(tmp_path)])
        try:
            first_ok, first_fail = server.load()
            with (tmp_path / "app.py").open("a") as app:
                app.write("\n# changed: uvicorn reloads\n")
            server.wait_for(1, not_in=server.pids)  # the new worker answers
            second_ok, second_fail = server.load()
            server.sigterm()
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
        lines = [e for e in server.lines() if e.get("event") == "request_complete"]
        assert sum(e["path"] == "/ok" for e in lines) == first_ok + second_ok == 2 * OK_REQUESTS
        assert sum(e["path"] == "/fail" for e in lines) == first_fail + second_fail
        errors = [e for e in server.lines() if e.get("event") in ("error", "aggregated_error")]
        assert sum(e.get("n", 0) for e in errors) == 2 * FAILURES


class TestWindowSummaries:
    @pytest.mark.parametrize("workers", [1, 2])
    def test_window_summaries_reach_stdout(self, tmp_path: Path, workers: int) -> None:
        """Window mode with an hour's window, stdout only: SIGTERM writes every summary."""
        env = {"BELLWATCH_LOG_FILE": "0", "BELLWATCH_STDOUT": "1",
               "BELLWATCH_ERROR_MODE": "window", "BELLWATCH_ERROR_WINDOW": "3600"}  # fmt: skip
        server = Server(tmp_path, [*UVICORN, "--workers", str(workers)], workers, env)
        try:
            _, answered_fail = server.load()
            server.sigterm()
        finally:
            if server.proc.poll() is None:
                server.proc.kill()
        lines = _json_lines(server.stdout)
        errors = [e for e in lines if e.get("event") in ("error", "aggregated_error")]
        assert any(e["event"] == "aggregated_error" for e in errors)
        assert sum(e.get("n", 0) for e in errors) == answered_fail == FAILURES
