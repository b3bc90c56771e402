"""Four uvicorn workers sharing one real redis-server: exact cluster numbers, safe outages."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import orjson
import pytest

if TYPE_CHECKING:
    from redis_server import RedisServer

pytest_plugins = ["redis_server"]
pytestmark = pytest.mark.redis

WORKERS = 4

APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bellwatch import instrument
from bellwatch._runtime import runtime


async def ok(request):
    return PlainTextResponse("ok")


async def fail(request):
    try:
        raise ValueError("card 4242 declined")
    except ValueError as exc:
        runtime.aggregator().record(exc, endpoint="/fail", status=402)
    return PlainTextResponse("declined", status_code=402)


app = instrument(Starlette(routes=[Route("/ok", ok), Route("/fail", fail)]))
"""


class Worker:
    """One uvicorn process on its own loopback port, its stdout in a file."""

    def __init__(self, app_dir: Path, url: str, service: str) -> None:
        from loopback import free_port

        self.port = free_port()
        self.out = app_dir / f"worker-{self.port}.jsonl"
        env = {
            **os.environ,
            "BELLWATCH_REDIS_URL": url,
            "BELLWATCH_SERVICE": service,
            "BELLWATCH_FLUSH_INTERVAL": "0.1",
            "BELLWATCH_SPIKE_THRESHOLD": "1000000",
        }
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(app_dir),
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning",
                 "--no-access-log"],
                stdout=out,
                stderr=subprocess.DEVNULL,
                env=env,
            )  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        """SIGTERM by pid (uvicorn shuts down gracefully), SIGKILL if it hangs."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10.0)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5.0)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for raw in self.out.read_bytes().splitlines():
            if raw.startswith(b"{"):
                out.append(orjson.loads(raw))
        return out


def _wait_until(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
        except httpx.HTTPError:
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def _start(tmp_path: Path, url: str, service: str) -> list[Worker]:
    (tmp_path / "app.py").write_text(APP)
    workers = [Worker(tmp_path, url, service) for _ in range(WORKERS)]
    for worker in workers:
        _wait_until(lambda w=worker: httpx.get(w.base + "/health").status_code == 200, "a worker")
    return workers


@pytest.fixture
def cluster(tmp_path: Path, redis_url: str) -> Iterator[list[Worker]]:
    """Four workers of service "cluster" against the module's redis-server."""
    workers = _start(tmp_path, redis_url, "cluster")
    yield workers
    for worker in workers:
        worker.stop()


async def _drive(workers: list[Worker], paths: list[str]) -> list[int]:
    """Send each path to a worker in turn, 16 at a time; the status codes in order."""
    limit = asyncio.Semaphore(16)
    async with httpx.AsyncClient(timeout=10.0) as client:

        async def one(i: int, path: str) -> int:
            async with limit:
                response = await client.get(workers[i % len(workers)].base + path)
                return response.status_code

        return await asyncio.gather(*(one(i, p) for i, p in enumerate(paths)))


def _metrics(worker: Worker) -> dict[str, Any]:
    response = httpx.get(worker.base + "/metrics")
    response.raise_for_status()
    doc: dict[str, Any] = response.json()
    return doc


def _converged(workers: list[Worker], requests: int, errors: int | None = None) -> bool:
    for worker in workers:
        doc = _metrics(worker)
        if doc["source"] != "cluster" or doc["performance"]["total_requests"] != requests:
            return False
        if errors is not None and doc["errors"]["total_error_count"] != errors:
            return False
    return True


class TestCluster:
    def test_four_workers_report_exact_cluster_totals(self, cluster: list[Worker]) -> None:
        """Every worker's /metrics shows the cluster's exact totals, and its own under process."""
        paths = ["/fail" if i % 5 == 0 else "/ok" for i in range(475)]
        statuses = asyncio.run(_drive(cluster, paths))
        assert statuses.count(200) == 380
        assert statuses.count(402) == 95
        _wait_until(lambda: _converged(cluster, 475, 95), "cluster totals")
        docs = [_metrics(w) for w in cluster]
        assert docs[0]["endpoints"]["/fail"]["client_errors"] == 95
        assert sum(d["process"]["performance"]["total_requests"] for d in docs) == 475

    def test_one_aggregated_line_per_ten_occurrences_cluster_wide(
        self, cluster: list[Worker]
    ) -> None:
        """95 errors over four workers: lines for 10, 20, ... 90 once each, then the rest at
        shutdown, and the n of every worker's lines sum to 95."""
        statuses = asyncio.run(_drive(cluster, ["/fail"] * 95))
        assert statuses == [402] * 95
        _wait_until(lambda: _converged(cluster, 95, 95), "cluster error totals")
        for worker in cluster:
            worker.stop()
        lines = [line for w in cluster for line in w.lines()]
        counts = sorted(e["count"] for e in lines if e["event"] == "aggregated_error")
        assert counts == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]  # 95: the first to stop
        firsts = [e for e in lines if e["event"] == "error"]
        assert 1 <= len(firsts) <= WORKERS  # one per worker at most, racing to the first
        assert sum(e["n"] for e in lines if e["event"] in ("error", "aggregated_error")) == 95


class TestOutage:
    def test_no_request_fails_and_totals_converge(
        self, tmp_path: Path, own_redis: RedisServer
    ) -> None:
        """Redis stopped mid-run and restarted empty: all requests succeed, totals converge."""
        workers = _start(tmp_path, own_redis.url, "outage")
        try:
            assert asyncio.run(_drive(workers, ["/ok"] * 100)) == [200] * 100
            _wait_until(lambda: _converged(workers, 100), "totals before the outage")
            own_redis.stop()
            assert asyncio.run(_drive(workers, ["/ok"] * 100)) == [200] * 100
            health = httpx.get(workers[0].base + "/health")
            assert health.status_code == 200
            _wait_until(
                lambda: (
                    httpx.get(workers[1].base + "/health").json()["checks"]["store"]["state"]
                    == "degraded"
                ),
                "the degraded state on /health",
            )
            own_redis.start()
            assert asyncio.run(_drive(workers, ["/ok"] * 100)) == [200] * 100
            _wait_until(lambda: _converged(workers, 300), "totals after the restart")
        finally:
            for worker in workers:
                worker.stop()
        events = [line["event"] for w in workers for line in w.lines()]
        assert events.count("store_degraded") >= WORKERS
        assert events.count("store_recovered") >= WORKERS
