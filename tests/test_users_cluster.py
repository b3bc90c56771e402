"""User analytics across uvicorn --workers 4 and a real Redis; the CLI's exact count after."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from click.testing import CliRunner

from bellwatch.cli.main import cli
from real_server import UVICORN, Server

pytest_plugins = ["redis_server"]
pytestmark = pytest.mark.redis

APP = """
import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bellwatch import bind, instrument


async def me(request):
    bind(uid=request.path_params["uid"])
    return PlainTextResponse(str(os.getpid()))


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


app = instrument(Starlette(routes=[Route("/u/{uid}", me), Route("/pid", pid)]))
"""

USERS = 300
REDIS_ERROR = 0.0081  # Redis's documented standard error for its HyperLogLog


def _paths() -> list[str]:
    """300 distinct users, most with several requests, interleaved so workers overlap."""
    paths = [f"/u/user{i:04d}" for i in range(USERS)]
    paths += [f"/u/user{i:04d}" for i in range(0, USERS, 2)]
    paths += [f"/u/user{i:04d}" for i in range(0, USERS, 3)]
    return paths


@pytest.fixture
def served(tmp_path: Path, redis_url: str) -> Any:
    env = {"BELLWATCH_REDIS_URL": redis_url, "BELLWATCH_SERVICE": "users4",
           "BELLWATCH_FLUSH_INTERVAL": "0.2"}  # fmt: skip
    server = Server(tmp_path, [*UVICORN, "--workers", "4"], 4, env, app=APP)
    try:
        yield server
    finally:
        server.kill()


class TestFourWorkers:
    def test_active_users_cluster_wide_then_exact_from_the_logs(self, served: Server) -> None:
        """300 users over 4 workers: /metrics' cluster estimate is within Redis's error, the
        workers' own counts overlap, and `bellwatch users` counts exactly 300 from the logs."""
        answers = served.get(_paths(), clients=8)
        assert {r.status_code for r in answers} == {200}
        by_worker: dict[str, set[str]] = {}
        for path, r in zip(_paths(), answers, strict=True):
            by_worker.setdefault(r.text, set()).add(path)
        assert len(by_worker) >= 2  # the users really were spread over workers
        bound = math.ceil(3 * REDIS_ERROR * USERS)
        deadline = time.monotonic() + 60
        while True:
            users = httpx.get(served.base + "/metrics", timeout=10).json()["users"]
            active = users.get("active", {}).get("5m", 0)
            if users.get("source") == "cluster" and abs(active - USERS) <= bound:
                break
            assert time.monotonic() < deadline, users
            time.sleep(0.2)
        assert abs(users["active"]["24h"] - USERS) <= bound
        assert users["process"]["active"]["5m"] < USERS  # one worker saw only its share
        served.sigterm()  # the workers write out their buffered lines
        result = CliRunner().invoke(
            cli, ["users", "--json", "-l", str(served.logs / "*.jsonl*")], catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        total = [r for r in orjson.loads(result.stdout) if r["section"] == "total"]
        assert total == [{"section": "total", "users": USERS, "requests": len(_paths()),
                          "exact": True}]  # fmt: skip
