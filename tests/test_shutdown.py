"""SIGTERM on deploy: real servers stopped by signal write every line and every count first.

uvicorn re-raises SIGTERM with the default action after its graceful shutdown, so
the process exits 143 and ``atexit`` never runs. What is held (deferred requests,
buffered file lines, error counts since the last every-10th line) is written at the
ASGI lifespan shutdown, or by the signal handler that hands the signal back.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from real_server import FAILURES, GUNICORN, OK_REQUESTS, UVICORN, Server, json_lines

pytest_plugins = ["redis_server"]


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
        server.stop()
        yield server, answered_ok, answered_fail
    finally:
        server.kill()


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


class TestAfterTheLifespan:
    @pytest.mark.parametrize("name", ["uvicorn", "uvicorn --workers 2"])
    def test_the_servers_last_lines_reach_the_file(self, tmp_path: Path, name: str) -> None:
        """Lines logged after the lifespan shutdown (uvicorn's "Finished server process")
        are in the file as on stdout, though a worker then dies of its re-raised SIGTERM."""
        argv, workers = SERVERS[name]
        argv = ["info" if a == "warning" else a for a in argv]  # uvicorn's INFO lines too
        server = Server(tmp_path, argv, workers, {"BELLWATCH_STDOUT": "1"})
        try:
            server.stop()
        finally:
            server.kill()

        def finished(lines: list[dict[str, Any]]) -> list[str]:
            return sorted(e["event"] for e in lines if "Finished server" in str(e.get("event")))

        on_stdout = finished(json_lines(server.stdout))
        assert len(on_stdout) == workers
        assert finished(server.lines()) == on_stdout


class TestSigtermUnderLoad:
    @pytest.mark.parametrize("name", ["uvicorn --workers 2", "gunicorn UvicornWorker -w 2"])
    def test_requests_answered_while_stopping_have_their_lines(
        self, tmp_path: Path, name: str
    ) -> None:
        """SIGTERM while four clients still send: each answered request is a line, and the
        error lines' n add up to every 500 answered, in-flight ones included."""
        import threading
        import time

        server = Server(tmp_path, *SERVERS[name])
        answered: dict[str, int] = {}
        stop = threading.Event()

        def client(k: int) -> None:
            with httpx.Client(base_url=server.base, timeout=10) as http:
                for i in range(100_000):
                    if stop.is_set():
                        return
                    cid = f"c{k}{i:07d}"
                    path = "/fail" if i % 7 == 0 else "/ok"
                    try:
                        r = http.get(path, headers={"x-request-id": cid, "Connection": "close"})
                    except httpx.TransportError:
                        if server.proc.poll() is not None:
                            return  # the server is gone
                        continue  # refused while stopping: not answered
                    answered[cid] = r.status_code

        threads = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(4)]
        try:
            for t in threads:
                t.start()
            deadline = time.monotonic() + 30
            while len(answered) < 200 and time.monotonic() < deadline:
                time.sleep(0.01)
            os.kill(server.proc.pid, signal.SIGTERM)
            server.proc.wait(30)
        finally:
            stop.set()
            for t in threads:
                t.join(15)
            server.kill()
        lines = server.lines()
        found = {e["cid"] for e in lines if e.get("event") == "request_complete"}
        assert len(answered) >= 200
        assert set(answered) <= found
        errors = [e for e in lines if e.get("event") in ("error", "aggregated_error")]
        assert sum(e.get("n", 0) for e in errors) == sum(s == 500 for s in answered.values())


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
            server.stop()
        finally:
            server.kill()
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
            server.stop()
        finally:
            server.kill()
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
            server.stop()
        finally:
            server.kill()
        lines = json_lines(server.stdout)
        errors = [e for e in lines if e.get("event") in ("error", "aggregated_error")]
        assert any(e["event"] == "aggregated_error" for e in errors)
        assert sum(e.get("n", 0) for e in errors) == answered_fail == FAILURES


class TestSigkill:
    """SIGKILL runs nothing of ours: what was written before it is all there is."""

    def _killed(self, tmp_path: Path, log_flush: str) -> tuple[Server, list[str]]:
        env = {"BELLWATCH_STDOUT": "1", "BELLWATCH_LOG_FLUSH": log_flush}
        server = Server(tmp_path, UVICORN, 1, env)
        cids: list[str] = []
        try:
            server.load(cids)
            with httpx.Client(base_url=server.base, timeout=10) as client:
                for i in range(40):  # plain requests last: the ones a batch may still hold
                    cid = f"tail{i:06d}"
                    if client.get("/ok", headers={"x-request-id": cid}).status_code == 200:
                        cids.append(cid)
            server.stop(signal.SIGKILL)
        finally:
            server.kill()
        return server, cids

    @staticmethod
    def _found(lines: list[dict[str, Any]]) -> set[str]:
        return {e["cid"] for e in lines if e.get("event") == "request_complete"}

    def test_log_flush_zero_loses_nothing(self, tmp_path: Path) -> None:
        """With log_flush=0 every answered request's line is in stdout and in the file."""
        server, cids = self._killed(tmp_path, "0")
        assert len(cids) == OK_REQUESTS + FAILURES + 40
        assert self._found(json_lines(server.stdout)) >= set(cids)
        assert self._found(server.lines()) >= set(cids)

    def test_the_default_loses_at_most_one_batch_and_no_error(self, tmp_path: Path) -> None:
        """Default log_flush: only the newest plain requests may be lost (at most 63 on
        stdout, the batch size), never a 5xx request's line (written at once)."""
        server, cids = self._killed(tmp_path, "0.2")
        failures = {c for c in cids if c.startswith("fail")}
        for found in (self._found(json_lines(server.stdout)), self._found(server.lines())):
            assert failures <= found
            lost = [c for c in cids if c not in found]
            assert lost == cids[len(cids) - len(lost) :]  # only the newest are missing
        assert len(set(cids) - self._found(json_lines(server.stdout))) <= 63


# A script that logs three occurrences of one error and exits; registered before
# bellwatch's own exit handler, the reporter runs after it (atexit is last in, first out).
EXITING = """
import atexit, json, sys

def report():
    from bellwatch._runtime import runtime
    stores = {"errors": runtime.aggregator().store, "requests": runtime.monitor().store}
    print(json.dumps({name: s.shipper.final_retries for name, s in stores.items()}),
          file=sys.stderr)

atexit.register(report)
import bellwatch
from bellwatch._runtime import runtime

log = bellwatch.get_logger("job")
for i in range(3):
    try:
        raise ValueError(f"card {i} declined")
    except ValueError:
        log.exception("payment failed")
runtime.monitor()
if sys.argv[1] == "known down":
    runtime.aggregator().store.flush()  # a round before the exit finds Redis down
"""


class TestExitWithRedisDown:
    @pytest.mark.parametrize("case", ["refused", "known down"])
    def test_the_exit_states_every_error_without_waiting(self, tmp_path: Path, case: str) -> None:
        """Redis refusing the connection: the exit tries no final round again, and its
        lines still state every occurrence (the rest in a local summary)."""
        import json
        import subprocess
        import sys

        env = {**os.environ, "BELLWATCH_REDIS_URL": "redis://127.0.0.1:1/0",
               "BELLWATCH_LOG_FILE": "0", "BELLWATCH_STDOUT": "1",
               "BELLWATCH_SPIKE_THRESHOLD": "1000000"}  # fmt: skip
        done = subprocess.run([sys.executable, "-c", EXITING, case], capture_output=True,
                              text=True, env=env, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        lines = [json.loads(raw) for raw in done.stdout.splitlines() if raw.startswith("{")]
        errors = [e for e in lines if e.get("event") in ("payment failed", "aggregated_error")]
        assert [e.get("n") for e in errors] == [1, 2]
        degraded = [e for e in lines if e.get("event") == "store_degraded"]
        assert {e["check"] for e in degraded} == {"redis_errors", "redis"}
        assert all("refused" in e["msg"] for e in degraded)
        retried = json.loads(done.stderr.strip().splitlines()[-1])
        assert retried == {"errors": 0, "requests": 0}
