"""Real ASGI servers on a free loopback port, stopped by the test with SIGTERM.

A test writes its app as source (``app.py`` in its own directory), starts uvicorn
or gunicorn on it as a deployment would, sends traffic, stops the server with
SIGTERM and reads the log files back: nothing in between is simulated.
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

from bellwatch import instrument


async def ok(request):
    return PlainTextResponse("ok")


async def fail(request):
    raise RuntimeError("payment service said no")


async def pid(request):
    return PlainTextResponse(str(os.getpid()))


app = instrument(Starlette(routes=[Route("/ok", ok), Route("/fail", fail), Route("/pid", pid)]))
"""

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


def server_env(log_dir: Path, **extra: str) -> dict[str, str]:
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
        *,
        app: str = APP,
        env: dict[str, str] | None = None,
    ) -> None:
        (tmp_path / "app.py").write_text(app)
        self.logs = tmp_path / "logs"
        self.port = free_port()
        command = [a.replace("{port}", str(self.port)) for a in argv]
        self.stderr = tmp_path / "stderr.txt"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                command,
                cwd=tmp_path,
                env=server_env(self.logs, **(env or {})),
                stdout=subprocess.DEVNULL,
                stderr=err,
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

    def get(self, paths: list[str], clients: int = 4) -> list[httpx.Response]:
        """GET each path, a new connection each time so that every worker gets some.

        Never a reused one: after a 500 whose exception reaches it, uvicorn closes the
        connection once the response is out, and a client that sends its next request
        before that close arrives gets a reset (what the demo's traffic retries).
        """
        pool = [httpx.Client(base_url=self.base, timeout=10) for _ in range(clients)]
        close = {"Connection": "close"}
        try:
            return [pool[i % clients].get(path, headers=close) for i, path in enumerate(paths)]
        except httpx.TransportError as exc:
            raise AssertionError(f"{exc!r}; the server said: {self.stderr.read_text()}") from exc
        finally:
            for client in pool:
                client.close()

    def sigterm(self) -> int:
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def lines(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.logs.glob("*.jsonl*")):
            for raw in path.read_bytes().splitlines():
                if raw.startswith(b"{"):
                    out.append(orjson.loads(raw))
        return out


def occurrences(lines: list[dict[str, Any]]) -> dict[str, int]:
    """The counting rule: per fingerprint, the sum of ``n`` over the lines that carry it."""
    totals: dict[str, int] = {}
    for e in lines:
        if "hash" in e and "n" in e:
            totals[e["hash"]] = totals.get(e["hash"], 0) + e["n"]
    return totals
