"""SIGTERM on deploy: real servers stopped by signal write every line and every count first.

uvicorn re-raises SIGTERM with the default action after its graceful shutdown, so
the process exits 143 and ``atexit`` never runs. What is held (deferred requests,
buffered file lines, error counts since the last every-10th line) is written at the
ASGI lifespan shutdown, or by the signal handler that hands the signal back.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers import GUNICORN, UVICORN, Server

pytest_plugins = ["redis_server"]

OK_REQUESTS = 150
FAILURES = 24


def _load(server: Server) -> tuple[int, int]:
    """Plain requests and failures, over a few connections so every worker gets some."""
    answers = server.get(["/ok"] * OK_REQUESTS + ["/fail"] * FAILURES)
    answered_ok = sum(r.status_code == 200 for r in answers[:OK_REQUESTS])
    answered_fail = sum(r.status_code == 500 for r in answers[OK_REQUESTS:])
    return answered_ok, answered_fail


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
        answered_ok, answered_fail = _load(server)
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
            answered_ok, answered_fail = _load(server)
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
