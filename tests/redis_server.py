"""A real ``redis-server`` on a free loopback port, for tests that need shared state.

Use as a plugin (``pytest_plugins = ["redis_server"]``) or import the
fixtures. The server runs without persistence (``--save "" --appendonly no``), so
:meth:`RedisServer.restart` comes back empty, like a replaced ElastiCache node.
Tests are skipped when ``/usr/bin/redis-server`` is missing (``make test`` installs
it first).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
import redis

from loopback import free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisServer:
    """One ``redis-server`` process we started, stopped by its pid."""

    def __init__(self, port: int | None = None, rdb_dir: str | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        # With a directory: SAVE writes dump.rdb there and a start loads it (never saved
        # by itself, not even at shutdown), so a restart comes back with older data.
        self.rdb_dir = rdb_dir

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start on ``self.port`` and wait until it answers PING."""
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning",
             "--enable-debug-command", "local",  # DEBUG SLEEP stalls it for the slow-Redis test
             *(["--dir", self.rdb_dir, "--dbfilename", "dump.rdb"] if self.rdb_dir else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10.0
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=0.5)
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start on port {self.port}")
                time.sleep(0.02)
        finally:
            client.close()

    def stop(self) -> None:
        """Stop the server by its pid (SIGTERM, then SIGKILL) and wait for it to exit."""
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5.0)

    def restart(self) -> None:
        """Stop, then start again on the same port, empty."""
        self.stop()
        self.start()

    def client(self) -> redis.Redis:
        """A plain client for assertions (strings decoded)."""
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    """A redis-server shared by the tests of one module (each test flushes it first)."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed (make system-deps)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """The shared server's URL, emptied before the test (restarted if a test stopped it)."""
    if redis_server.proc is None:
        redis_server.start()
    client = redis_server.client()
    client.flushall()
    client.close()
    yield redis_server.url


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own, for outage tests that stop and restart it."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed (make system-deps)")
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def rdb_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server of this test's own that SAVEs to, and restarts from, ``dump.rdb``:
    stopped and started again, it comes back with the data of its last SAVE."""
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server is not installed (make system-deps)")
    server = RedisServer(rdb_dir=str(tmp_path_factory.mktemp("rdb")))
    server.start()
    try:
        yield server
    finally:
        server.stop()
