"""WebSocket connections: a correlation id, one line each, counted apart from HTTP requests."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from bellwatch import get_logger, instrument
from bellwatch._runtime import runtime
from bellwatch.monitor.websockets import WebSocketStats
from bellwatch.testing import Captured, capture_logs

log = get_logger("media")


async def media(websocket: WebSocket) -> None:
    """A Twilio Media Stream-like echo: start, some media, then the server closes."""
    await websocket.accept()
    log.info("stream_started", stream=websocket.path_params["call"])
    while True:
        text = await websocket.receive_text()
        if text == "stop":
            break
        await websocket.send_text(text.upper())
    await websocket.close(code=1000)


async def listen(websocket: WebSocket) -> None:
    """The client hangs up: the server only receives."""
    await websocket.accept()
    try:
        while True:
            await websocket.receive_text()
    except WebSocketDisconnect:
        return


async def broken(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.receive_text()
    raise RuntimeError("transcriber crashed")


def _app() -> Any:
    routes = [
        WebSocketRoute("/media/{call}", media),
        WebSocketRoute("/listen", listen),
        WebSocketRoute("/broken", broken),
    ]
    return instrument(Starlette(routes=routes))


def connect(
    app: Any, path: str, messages: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """Run one WebSocket connection through ``app`` as a server would: the client's
    messages in order, then what the app sent back (an ASGI driver, no network)."""
    scope = {
        "type": "websocket", "asgi": {"version": "3.0"}, "scheme": "ws", "path": path,
        "raw_path": path.encode(), "root_path": "", "query_string": b"", "subprotocols": [],
        "server": ("127.0.0.1", 8000), "client": ("127.0.0.1", 50000),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }  # fmt: skip
    sent: list[dict[str, Any]] = []

    async def go() -> None:
        inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        for message in [{"type": "websocket.connect"}, *messages]:
            inbox.put_nowait(message)

        async def receive() -> dict[str, Any]:
            return await inbox.get()

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        await app(scope, receive, send)

    asyncio.run(go())
    return sent


def text(value: str) -> dict[str, Any]:
    return {"type": "websocket.receive", "text": value}


@pytest.fixture
def logs() -> Iterator[Captured]:
    with capture_logs() as captured:
        yield captured


def _lines(logs: Captured, event: str = "websocket_complete") -> list[dict[str, Any]]:
    return [e for e in logs.events if e["event"] == event]


class TestConnectionLine:
    def test_one_line_with_route_code_duration_and_messages(self, logs: Captured) -> None:
        """A stream of 3 messages each way, closed by the server: one line says so."""
        sent = connect(_app(), "/media/CA123", [text("a"), text("b"), text("c"), text("stop")],
                       headers={"X-Request-ID": "stream-1"})  # fmt: skip
        assert [m.get("text") for m in sent if m["type"] == "websocket.send"] == ["A", "B", "C"]
        (line,) = _lines(logs)
        assert (line["cid"], line["path"], line["code"]) == ("stream-1", "/media/{call}", 1000)
        assert (line["in"], line["out"], line["level"]) == (4, 3, "INFO")
        assert line["duration"] >= 0

    def test_lines_logged_during_the_connection_carry_its_cid(self, logs: Captured) -> None:
        """The app's own lines inside the handler have the connection's correlation id."""
        connect(_app(), "/media/CA9", [text("stop")])
        (started,) = _lines(logs, "stream_started")
        assert started["cid"] == _lines(logs)[0]["cid"]

    def test_the_handshake_answer_carries_the_id(self, logs: Captured) -> None:
        """The accept message gets the X-Request-ID header, like an HTTP response."""
        sent = connect(_app(), "/listen", [{"type": "websocket.disconnect", "code": 1000}],
                       headers={"X-Request-ID": "abc-1"})  # fmt: skip
        (accept,) = [m for m in sent if m["type"] == "websocket.accept"]
        assert (b"x-request-id", b"abc-1") in accept["headers"]

    def test_a_client_hang_up_keeps_its_code(self, logs: Captured) -> None:
        """The client's close code (going away) is the connection's code."""
        connect(_app(), "/listen", [text("hello"), {"type": "websocket.disconnect", "code": 1001}])
        (line,) = _lines(logs)
        assert (line["code"], line["in"], line["out"], line["level"]) == (1001, 1, 0, "INFO")

    def test_an_app_that_raises_is_one_error_and_code_1011(self, logs: Captured) -> None:
        """The exception is reported once, in full, and the connection line is an ERROR."""
        with pytest.raises(RuntimeError):
            connect(_app(), "/broken", [text("go")])
        (line,) = _lines(logs)
        assert (line["code"], line["level"]) == (1011, "ERROR")
        (error,) = _lines(logs, "error")
        assert (error["cid"], error["path"], error["n"]) == (line["cid"], "/broken", 1)
        assert "test_websockets:broken:" in error["exc"]


class TestCountedApart:
    def test_metrics_count_connections_apart_from_requests(self, logs: Captured) -> None:
        """/metrics: websockets has the connections and their messages; requests stay at 0."""
        app = _app()
        for _ in range(2):
            connect(app, "/media/CA1", [text("x"), text("stop")])
        doc = runtime.metrics()
        assert doc["performance"]["total_requests"] == 0
        sockets = doc["websockets"]
        assert (sockets["connections"], sockets["active"], sockets["messages_in"]) == (2, 0, 4)
        assert sockets["endpoints"]["/media/{call}"]["messages_out"] == 2


class TestWebSocketStats:
    def test_abnormal_closes_and_errors_are_counted(self) -> None:
        """A 1011 is an error and abnormal; 1000 and 1001 are normal."""
        stats = WebSocketStats()
        for code, error in ((1000, False), (1001, False), (1011, True), (1008, False)):
            stats.opened()
            stats.closed("/ws", code, 1.0, 1, 1, error)
        section = stats.section()
        assert (section["connections"], section["errors"], section["abnormal_closes"]) == (4, 1, 2)
        assert section["avg_duration"] == 1.0

    def test_routes_beyond_the_cap_share_one_row(self) -> None:
        """Memory stays bounded whatever paths connect."""
        stats = WebSocketStats(max_routes=2)
        for i in range(5):
            stats.closed(f"/ws/{i}", 1000, 0.1, 0, 0, False)
        assert set(stats.section()["endpoints"]) == {"/ws/0", "/ws/1", "<other>"}
