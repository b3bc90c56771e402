"""Real servers, real failures: one report per failure, in full the first time, counts that sum.

uvicorn (its own logging config, ``log_config=None``, two workers) and gunicorn with
``UvicornWorker`` serve an instrumented app; the test sends failures, stops the
server with SIGTERM and reads the log files back.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from bellwatch.cli import cli
from real_server import GUNICORN, UVICORN, UVICORN_RUN, Server, occurrences

pytest_plugins = ["redis_server"]

APP = """
import os

from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Mount, Route

from bellwatch import get_logger, instrument

log = get_logger("app")


def charge(order):
    raise RuntimeError(f"payment service said no to order {order}")


async def fail(request):
    charge(request.path_params["order"])


async def logged(request):
    try:
        charge(7)
    except RuntimeError:
        log.exception("charge_failed")
        raise


async def handled(request):
    raise LookupError("calendar slot vanished")


async def on_error(request, exc):
    return JSONResponse({"error": "sorry"}, status_code=500)


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


# The mounted app answers its 500 with its own handler (its ServerErrorMiddleware),
# then re-raises through the outer app's: one failure, seen by two error middlewares.
inner = Starlette(routes=[Route("/slot", handled)], exception_handlers={Exception: on_error})
app = instrument(
    Starlette(
        routes=[
            Route("/pay/{order}", fail),
            Route("/logged", logged),
            Route("/pid", pid),
            Mount("/cal", app=inner),
        ]
    )
)
"""

PAY, LOGGED, SLOT = 12, 5, 7
PATHS = [f"/pay/{i}" for i in range(PAY)] + ["/logged"] * LOGGED + ["/cal/slot"] * SLOT
ROUTES = {"/pay/{order}": PAY, "/logged": LOGGED, "/cal/slot": SLOT}

SERVERS = {  # name: (command, workers)
    "uvicorn": (UVICORN, 1),
    "uvicorn --workers 2": ([*UVICORN, "--workers", "2"], 2),
    "uvicorn.run(log_config=None)": (UVICORN_RUN, 1),
    "gunicorn UvicornWorker -w 2": ([*GUNICORN, "-w", "2"], 2),
}


class Run:
    def __init__(self, server: Server, statuses: list[int]) -> None:
        self.server = server
        self.statuses = statuses
        self.lines = server.lines()
        self.stderr = server.stderr.read_text()

    def requests(self, route: str) -> list[dict[str, Any]]:
        return [
            e for e in self.lines if e.get("event") == "request_complete" and e["path"] == route
        ]


@pytest.fixture(scope="module", params=sorted(SERVERS))
def run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    command, workers = SERVERS[request.param]
    server = Server(tmp_path_factory.mktemp("srv"), command, workers, app=APP)
    try:
        statuses = [r.status_code for r in server.get(PATHS)]
        server.sigterm()
        yield Run(server, statuses)
    finally:
        server.kill()


class TestOneReportPerFailure:
    def test_every_failure_is_answered_500_and_has_its_request_line(self, run: Run) -> None:
        """Each failing request got a 500 and is one request_complete line under its route."""
        assert run.statuses == [500] * len(PATHS)
        assert {route: len(run.requests(route)) for route in ROUTES} == ROUTES

    def test_error_lines_sum_to_the_failures_of_each_route(self, run: Run) -> None:
        """Summing n per fingerprint over every worker's lines gives each route's failures."""
        by_route: dict[str, int] = {}
        totals = occurrences(run.lines)
        for e in run.lines:
            if e.get("n") == 1 and "path" in e and "cid" in e:  # a first line names its route
                by_route[e["path"]] = totals[e["hash"]]
        assert by_route == ROUTES

    def test_the_cli_counts_every_failure_of_each_route(self, run: Run) -> None:
        """``bellwatch errors --json`` over the workers' log files gives each route's failures."""
        result = CliRunner().invoke(
            cli, ["errors", "--json", "-l", str(run.server.logs), "--since", "1h"]
        )
        assert result.exit_code == 0, result.output
        by_route: dict[str, int] = {}
        for row in orjson.loads(result.stdout):
            for route in row["endpoints"]:
                by_route[route] = by_route.get(route, 0) + row["count"]
        assert by_route == ROUTES

    def test_the_servers_own_copy_is_absorbed(self, run: Run) -> None:
        """No "Exception in ASGI application" line, and no traceback on stderr."""
        assert not [e for e in run.lines if e.get("logger") in ("uvicorn.error", "gunicorn.error")
                    and e.get("level") == "ERROR"]  # fmt: skip
        assert "Traceback" not in run.stderr
        assert "Exception in ASGI application" not in run.stderr

    def test_only_error_lines_and_request_lines_are_errors(self, run: Run) -> None:
        """At ERROR there is nothing but the request lines and the error lines."""
        errors = [e for e in run.lines if e.get("level") == "ERROR"]
        names = {e["event"] for e in errors}
        assert names <= {"request_complete", "error", "aggregated_error", "charge_failed"}


class TestFullContextFirst:
    def test_first_lines_carry_cid_route_status_and_the_app_frame(self, run: Run) -> None:
        """Each worker's first line of a fingerprint: its request's cid, route, and app frames."""
        cids = {e["cid"]: e for e in run.lines if e.get("event") == "request_complete"}
        firsts = [e for e in run.lines if e.get("n") == 1 and "exc" in e]
        assert {e["path"] for e in firsts} == set(ROUTES)
        for line in firsts:
            assert cids[line["cid"]]["path"] == line["path"]
            frames = line["exc"].split(" > ")
            if line["path"] == "/cal/slot":
                assert frames[-1].startswith("app:handled:")
            else:
                assert frames[-1].startswith("app:charge:")
            if line["event"] == "error":  # the middleware's: the request's outcome known
                assert line["status"] == 500


@pytest.mark.redis
class TestWithRedis:
    @pytest.fixture
    def redis_run(self, tmp_path: Path, redis_url: str) -> Iterator[Run]:
        """Two uvicorn workers sharing Redis, flushing every 60 s, stopped by SIGTERM."""
        env = {"BELLWATCH_REDIS_URL": redis_url, "BELLWATCH_FLUSH_INTERVAL": "60"}
        server = Server(tmp_path, [*UVICORN, "--workers", "2"], 2, app=APP, env=env)
        try:
            statuses = [r.status_code for r in server.get(PATHS)]
            server.sigterm()
            yield Run(server, statuses)
        finally:
            server.kill()

    def test_error_lines_sum_to_the_failures_of_each_route(self, redis_run: Run) -> None:
        """With the cluster handing out claims, n still sums to each route's failures."""
        totals = occurrences(redis_run.lines)
        by_route = {e["path"]: totals[e["hash"]] for e in redis_run.lines if e.get("n") == 1
                    and "cid" in e}  # fmt: skip
        assert by_route == ROUTES

    def test_each_unhandled_error_pages_once_for_the_cluster(self, redis_run: Run) -> None:
        """Two workers, one alert per new high-severity fingerprint between them."""
        fired = [e["hash"] for e in redis_run.lines if e.get("event") == "alert_fired"]
        assert len(fired) == len(set(fired)) == 2  # /pay and /cal/slot; /logged is handled
