"""Request monitoring under a real uvicorn on 127.0.0.1, driven by real HTTP clients.

What only a real server and a real socket show: a streamed body that breaks off
after its status went out, a client that hangs up half-way through an upload, the
headers a client actually receives. The server is stopped with SIGTERM before the
log lines are read; ``/metrics`` is read while it runs.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from real_server import UVICORN, Server

APP = """
import os

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, StreamingResponse

from bellwatch import instrument

app = FastAPI()


@app.get("/pid")
async def pid():
    return PlainTextResponse(str(os.getpid()))


@app.get("/export")
async def export():
    async def rows():
        yield "id,total\\n"
        raise RuntimeError("database went away")

    return StreamingResponse(rows())


@app.post("/upload")
async def upload(request: Request):
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
    return PlainTextResponse(str(size))


@app.get("/echo")
async def echo(request: Request):
    # An app (or a library inside it) that answers an id header of its own.
    return PlainTextResponse("ok", headers={"x-request-id": "made-by-the-app"})


instrument(app)
"""

# Requests a hostile or careless client sends: (name, raw header lines after the Host).
HOSTILE = {
    "duplicated": b"X-Request-ID: first-id\r\nX-Request-ID: second-id\r\n",
    "secret-looking": b"X-Request-ID: token=abc123\r\n",
    "utf-8 bytes": "X-Request-ID: caf\u00e9-\u2603\r\n".encode(),
    "60 KB": b"X-Request-ID: " + b"a" * 60_000 + b"\r\n",
    "folded": b"X-Request-ID: abc\r\n injected: 1\r\n",
}


def _raw_get(port: int, path: str, header_lines: bytes) -> bytes:
    """One GET with header bytes no HTTP client library would send; the response head."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode()
            + header_lines
            + b"Connection: close\r\n\r\n"
        )
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received.partition(b"\r\n\r\n")[0]


def _answered_ids(head: bytes) -> list[str]:
    return [
        line.partition(b":")[2].strip().decode("latin-1")
        for line in head.split(b"\r\n")[1:]
        if line.lower().startswith(b"x-request-id:")
    ]


def _abandoned_upload(port: int, cid: str) -> None:
    """Start a 10 MB upload, send a little of it, then hang up (a phone losing signal)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = (
            "POST /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10000000\r\n"
            f"X-Request-ID: {cid}\r\n\r\n"
        )
        sock.sendall(head.encode() + b"x" * 65536)


class Run:
    def __init__(self, server: Server, answers: dict[str, Any], metrics: dict[str, Any]) -> None:
        self.answers = answers
        self.metrics = metrics
        self.lines = server.lines()
        self.stderr = server.stderr.read_text()

    def request(self, cid: str) -> dict[str, Any]:
        (line,) = [
            e for e in self.lines if e.get("event") == "request_complete" and e["cid"] == cid
        ]
        return line


def _metrics_once(base: str, requests: int) -> dict[str, Any]:
    """``/metrics`` once it has counted ``requests`` (the hang-up ends on the server's time)."""
    deadline = time.monotonic() + 30
    while True:
        doc: dict[str, Any] = orjson.loads(httpx.get(base + "/metrics", timeout=10).content)
        if doc["performance"]["total_requests"] >= requests or time.monotonic() > deadline:
            return doc
        time.sleep(0.05)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    server = Server(tmp_path_factory.mktemp("srv"), UVICORN, app=APP)
    answers: dict[str, Any] = {}
    try:
        with (
            httpx.Client(base_url=server.base, timeout=10) as client,
            client.stream("GET", "/export", headers={"x-request-id": "export-1"}) as r,
        ):
            answers["export_status"] = r.status_code
            with pytest.raises(httpx.RemoteProtocolError):
                r.read()  # the body breaks off: uvicorn closes the connection
        _abandoned_upload(server.port, "upload-1")
        heads = {name: _raw_get(server.port, "/pid", lines) for name, lines in HOSTILE.items()}
        heads["app's own"] = _raw_get(server.port, "/echo", b"X-Request-ID: client-id\r\n")
        answers["ids"] = {name: _answered_ids(head) for name, head in heads.items()}
        doc = _metrics_once(server.base, 3 + len(heads))  # /pid, /export, /upload, heads
        server.sigterm()
        yield Run(server, answers, doc)
    finally:
        server.kill()


class TestBrokenAnswers:
    def test_a_stream_that_breaks_off_is_a_500_line(self, run: Run) -> None:
        """The client saw 200 and a cut body; the line says 500 at ERROR."""
        assert run.answers["export_status"] == 200
        line = run.request("export-1")
        assert (line["status"], line["level"], line["path"]) == (500, "ERROR", "/export")

    def test_a_stream_that_breaks_off_counts_as_an_error(self, run: Run) -> None:
        """/metrics counts the broken stream in its route's 5xx and the error patterns."""
        assert run.metrics["endpoints"]["/export"]["errors"] == 1
        assert run.metrics["errors"]["total_error_count"] == 1

    def test_an_abandoned_upload_is_a_499_line(self, run: Run) -> None:
        """A client hanging up mid-upload is logged 499 under its route, not 500."""
        line = run.request("upload-1")
        assert (line["status"], line["level"], line["path"]) == (499, "INFO", "/upload")

    def test_an_abandoned_upload_is_no_error(self, run: Run) -> None:
        """No error pattern, no alert, no server traceback for a client that left."""
        assert run.metrics["endpoints"]["/upload"] == {**run.metrics["endpoints"]["/upload"],
                                                       "errors": 0, "client_errors": 1}  # fmt: skip
        assert not [e for e in run.lines if e.get("type") == "ClientDisconnect"]
        assert "ClientDisconnect" not in run.stderr


class TestHostileHeaders:
    @pytest.mark.parametrize("name", [*HOSTILE, "app's own"])
    def test_the_one_id_answered_finds_the_request_line(self, run: Run, name: str) -> None:
        """Whatever the client sent, the response carries one id, and it is the line's."""
        (answered,) = run.answers["ids"][name]
        assert run.request(answered)["status"] == 200
