"""The correlation id travels to a second service over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from bellwatch import instrument
from bellwatch._runtime import runtime
from bellwatch.asgi.outgoing import (
    CorrelationTransport,
    SyncCorrelationTransport,
    event_hooks,
    stamp,
)
from bellwatch.log.context import request_scope
from bellwatch.testing import Captured, capture_logs


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    runtime.reset()
    yield
    runtime.reset()
    runtime.reset()


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs() as captured:
        yield captured


@pytest.fixture
def downstream(logs: Captured) -> Iterator[str]:
    """A real instrumented service on 127.0.0.1 that echoes the id it received."""
    app = FastAPI()

    @app.get("/echo")
    async def echo(request: Request) -> dict[str, str | None]:
        return {"got": request.headers.get("x-request-id")}

    instrument(app)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("downstream server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def upstream(base: str, make_client: Any) -> FastAPI:
    app = FastAPI()

    @app.get("/call")
    async def call() -> Any:
        async with make_client() as client:
            return (await client.get(f"{base}/echo")).json()

    @app.get("/call-sync")
    def call_sync() -> Any:
        with httpx.Client(transport=SyncCorrelationTransport()) as client:
            return client.get(f"{base}/echo").json()

    return instrument(app)


def get(app: Any, path: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://up") as client:
            return await client.get(path)

    return asyncio.run(go())


def request_ids(logs: Captured) -> list[str]:
    return [e["cid"] for e in logs.events if e["event"] == "request_complete"]


def ids_once_logged(logs: Captured, cid: str, count: int) -> list[str]:
    """The request ids, once ``count`` lines carry ``cid``: the downstream server writes
    its line after sending the response, on its own thread, so the caller may be first."""
    deadline = time.monotonic() + 10
    while request_ids(logs).count(cid) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return request_ids(logs)


class TestPropagation:
    def test_event_hook_carries_the_id(self, downstream: str, logs: Captured) -> None:
        """With the event hook, the second service logs the caller's id."""
        app = upstream(downstream, lambda: httpx.AsyncClient(event_hooks=event_hooks()))
        response = get(app, "/call")
        cid = response.headers["x-request-id"]
        assert response.json() == {"got": cid}
        assert ids_once_logged(logs, cid, 2).count(cid) == 2

    def test_transport_carries_the_id(self, downstream: str, logs: Captured) -> None:
        """The wrapping transport does the same without hooks."""
        app = upstream(downstream, lambda: httpx.AsyncClient(transport=CorrelationTransport()))
        response = get(app, "/call")
        assert response.json() == {"got": response.headers["x-request-id"]}

    def test_sync_client_in_threadpool_route(self, downstream: str, logs: Captured) -> None:
        """A sync route's httpx.Client call carries the id too."""
        app = upstream(downstream, httpx.AsyncClient)
        response = get(app, "/call-sync")
        assert response.json() == {"got": response.headers["x-request-id"]}

    def test_plain_client_does_not_carry_it(self, downstream: str, logs: Captured) -> None:
        """Without the hook or transport the downstream service mints its own id."""
        app = upstream(downstream, httpx.AsyncClient)
        assert get(app, "/call").json() == {"got": None}


class TestStamp:
    def test_explicit_header_is_kept(self) -> None:
        """A header the caller set is not overwritten."""
        request = httpx.Request("GET", "http://x", headers={"x-request-id": "mine"})
        with capture_logs(), request_scope("abc"):
            stamp(request)
        assert request.headers["x-request-id"] == "mine"

    def test_nothing_added_outside_a_request(self) -> None:
        """With no current id no header is added."""
        request = httpx.Request("GET", "http://x")
        with capture_logs():
            stamp(request)
        assert "x-request-id" not in request.headers

    def test_hook_for_sync_clients(self) -> None:
        """event_hooks(sync=True) gives a plain function for httpx.Client."""
        (hook,) = event_hooks(sync=True)["request"]
        request = httpx.Request("GET", "http://x")
        with capture_logs(), request_scope("abc"):
            hook(request)
        assert request.headers["x-request-id"] == "abc"
