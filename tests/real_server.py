"""A real server process on a free loopback port, with a small Starlette app under bellwatch.

For the tests that stop, kill or starve real servers (uvicorn, gunicorn) and count
what reached the logs against what the client was answered.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

from loopback import free_port

APP = """
import os

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from bellwatch import get_logger, instrument


async def ok(request):
    return PlainTextResponse("ok")


async def fail(request):
    raise RuntimeError("payment service said no")


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


async def chatty(request):
    log.info("chatty", pad="x" * 3000)
    return PlainTextResponse("ok")


log = get_logger()
routes = [Route("/ok", ok), Route("/fail", fail), Route("/pid", pid), Route("/chatty", chatty)]
app = instrument(Starlette(routes=routes))
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
    """A server command on a free loopback port, stopped by the test with a signal.

    Its stdout goes to ``stdout.txt``, or with ``stdout_pipe`` to a pipe that nobody
    reads (a log driver that stopped).
    """

    def __init__(
        self,
        tmp_path: Path,
        argv: list[str],
        workers: int = 1,
        env: dict[str, str] | None = None,
        *,
        app: str = APP,
        stdout_pipe: bool = False,
    ) -> None:
        (tmp_path / "app.py").write_text(app)
        self.logs = tmp_path / "logs"
        self.port = free_port()
        command = [a.replace("{port}", str(self.port)) for a in argv]
        self.stderr = tmp_path / "stderr.txt"
        self.stdout = tmp_path / "stdout.txt"
        with self.stderr.open("wb") as err, self.stdout.open("wb") as out:
            self.proc = subprocess.Popen(
                command,
                cwd=tmp_path,
                env=_env(self.logs, env or {}),
                stdout=subprocess.PIPE if stdout_pipe else out,
                stderr=err,
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

    def load(self, cids: list[str] | None = None) -> tuple[int, int]:
        """Plain requests and failures, over a few connections so every worker gets some.

        ``cids`` collects the request id of each answered request, in order.
        """
        paths = ["/ok"] * OK_REQUESTS + ["/fail"] * FAILURES
        ids = [f"{path[1:]}{i:06d}" for i, path in enumerate(paths)]
        answers = self.get(paths, headers=[{"x-request-id": cid} for cid in ids])
        if cids is not None:
            cids.extend(ids)
        answered_ok = sum(r.status_code == 200 for r in answers[:OK_REQUESTS])
        answered_fail = sum(r.status_code == 500 for r in answers[OK_REQUESTS:])
        return answered_ok, answered_fail

    def get(
        self,
        paths: list[str],
        clients: int = 4,
        headers: list[dict[str, str]] | None = None,
    ) -> list[httpx.Response]:
        """GET each path, a new connection each time so that every worker gets some.

        Never a reused one: after a 500 whose exception reaches it, uvicorn closes the
        connection once the response is out, and a client that sends its next request
        before that close arrives gets a reset (what the demo's traffic retries).
        """
        pool = [httpx.Client(base_url=self.base, timeout=10) for _ in range(clients)]
        try:
            return [
                pool[i % clients].get(
                    path, headers={"Connection": "close", **(headers[i] if headers else {})}
                )
                for i, path in enumerate(paths)
            ]
        except httpx.TransportError as exc:
            raise AssertionError(f"{exc!r}; the server said: {self.stderr.read_text()}") from exc
        finally:
            for client in pool:
                client.close()

    def sigterm(self) -> int:
        """Stop the server as a deployment does; its exit code."""
        return self.stop(signal.SIGTERM)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send ``signum`` and wait for the exit; its exit code."""
        os.kill(self.proc.pid, signum)
        try:
            return self.proc.wait(30)
        finally:
            self.kill()

    def kill(self) -> None:
        """Kill the server if it still runs, and reap it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.logs.glob("*.jsonl*")):
            out += json_lines(path)
        return out


def json_lines(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(raw) for raw in path.read_bytes().splitlines() if raw.startswith(b"{")]


# A long keep-alive: on a loaded machine a client may reuse a connection the server
# has just closed, and the reset would look like a lost request.
UVICORN = [sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}",
           "--log-level", "warning", "--timeout-keep-alive", "60"]  # fmt: skip
GUNICORN = [sys.executable, "-m", "gunicorn", "app:app", "-k", "uvicorn_worker.UvicornWorker",
            "-b", "127.0.0.1:{port}", "--log-level", "warning", "--keep-alive", "60"]  # fmt: skip
# uvicorn started from code with log_config=None: it installs no handler of its own.
UVICORN_RUN = [sys.executable, "-c", "import sys, uvicorn; uvicorn.run('app:app', "
               "host='127.0.0.1', port=int(sys.argv[1]), log_config=None, log_level='warning', "
               "timeout_keep_alive=60)", "{port}"]  # fmt: skip


def occurrences(lines: list[dict[str, Any]]) -> dict[str, int]:
    """The counting rule: per fingerprint, the sum of ``n`` over the lines that carry it."""
    totals: dict[str, int] = {}
    for e in lines:
        if "hash" in e and "n" in e:
            totals[e["hash"]] = totals.get(e["hash"], 0) + e["n"]
    return totals
