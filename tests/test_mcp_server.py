"""``bellwatch mcp`` driven as a real client drives it: the SDK's stdio and HTTP clients."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from click.testing import CliRunner
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from bellwatch.cli import cli
from bellwatch.reports.digest import count_tokens
from loopback import free_port
from mcp import Client, StdioServerParameters

BELLWATCH = str(Path(sys.executable).parent / "bellwatch")
TOKEN = "test-token-3b9f0c2e"


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    return env | {"XDG_CACHE_HOME": str(tmp_path / "cache"), **extra}


async def stdio_session(logs: Path, tmp_path: Path, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    params = StdioServerParameters(
        command=BELLWATCH, args=["mcp", "-l", str(logs)], env=environment(tmp_path)
    )
    async with Client(params, read_timeout_seconds=120) as client:
        listed = await client.list_tools()
        answers = [await client.call_tool(name, args) for name, args in calls]
        return client.instructions, listed, answers


class TestStdio:
    def test_an_assistant_finds_the_locked_database(self, demo_logs: Path, tmp_path: Path) -> None:
        """Spawned as Claude Code spawns it, the server lists its tools and answers: the
        digest names the locked database, error_detail and trace follow it."""

        async def session() -> Any:
            instructions, listed, (digest,) = await stdio_session(
                demo_logs, tmp_path, [("digest", {"budget": 1500})]
            )
            return instructions, listed, digest

        instructions, listed, digest = anyio.run(session)
        assert "never instructions" in (instructions or "")
        assert len(listed.tools) == 8
        assert all(t.annotations and t.annotations.read_only_hint for t in listed.tools)
        assert not digest.is_error
        text = digest.content[0].text
        assert '"database is locked"' in text and count_tokens(text) <= 1500
        assert digest.structured_content["verdict"] in {"warning", "degraded"}

    def test_dash_is_refused(self) -> None:
        """stdin carries the protocol: reading logs from '-' is refused before serving."""
        result = CliRunner().invoke(cli, ["mcp", "-l", "-"])
        assert result.exit_code == 2 and "not '-'" in result.output

    def test_no_logs_yet_starts_and_answers_empty(self, tmp_path: Path) -> None:
        """A log directory with nothing written yet: the server starts, and the log tools
        answer an explicit empty result, not an error."""
        empty = tmp_path / "logs"
        empty.mkdir()

        async def session() -> Any:
            return await stdio_session(empty, tmp_path, [("digest", {}), ("errors", {})])

        _instructions, listed, answers = anyio.run(session)
        assert len(listed.tools) == 8
        for answer in answers:
            assert not answer.is_error
            assert f"no log records in {empty} yet" in answer.content[0].text
            assert answer.structured_content["rows"] == []

    def test_without_the_extra_says_what_to_install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Without the mcp package the command names the extra to install."""
        import bellwatch.mcp

        monkeypatch.delitem(sys.modules, "bellwatch.mcp.server", raising=False)
        monkeypatch.delattr(bellwatch.mcp, "server", raising=False)
        monkeypatch.setitem(sys.modules, "mcp", None)
        result = CliRunner().invoke(cli, ["mcp"])
        assert result.exit_code == 2 and "pip install 'bellwatch[mcp]'" in result.output


@pytest.fixture
def http_server(demo_logs: Path, tmp_path: Path) -> Iterator[str]:
    """``bellwatch mcp --http`` on a free loopback port, with a bearer token; its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [BELLWATCH, "mcp", "-l", str(demo_logs), "--http", f"127.0.0.1:{port}"],
        env=environment(tmp_path, BELLWATCH_MCP_TOKEN=TOKEN),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the server exited at start"
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.communicate(timeout=30)  # reaps it and closes its stderr pipe


async def http_call(url: str, token: str, name: str, args: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        create_mcp_http_client(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), read_timeout_seconds=120) as c,
    ):
        return await c.call_tool(name, args)


class TestHttp:
    def test_token_gives_the_tools(self, http_server: str) -> None:
        """With the bearer token the SDK's streamable HTTP client gets answers."""
        answer = anyio.run(http_call, http_server, TOKEN, "endpoints", {"limit": 2})
        assert not answer.is_error and answer.structured_content["shown"] == 2

    @pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
    def test_anything_else_is_refused(self, http_server: str, header: str | None) -> None:
        """No token, a wrong one or the wrong scheme gets 401 before reaching the server."""
        headers = {"Accept": "application/json, text/event-stream"}
        if header is not None:
            headers["Authorization"] = header
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
        answer = httpx.post(http_server, json=body, headers=headers, timeout=10)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert "digest" not in answer.text

    @pytest.mark.parametrize("scheme", ["bearer", "BEARER"])
    def test_the_scheme_is_case_insensitive(self, http_server: str, scheme: str) -> None:
        """RFC 7235 makes the scheme case-insensitive, as /metrics reads it: the right token
        under 'bearer' is let through."""
        headers = {"Accept": "application/json, text/event-stream",
                   "Authorization": f"{scheme} {TOKEN}"}  # fmt: skip
        body = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "1"}}}  # fmt: skip
        answer = httpx.post(http_server, json=body, headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text

    def test_sdk_client_with_a_wrong_token_fails(self, http_server: str) -> None:
        """The SDK client with a wrong token gets no session."""
        with pytest.raises(BaseException, match=r"401|nauthorized|TaskGroup"):
            anyio.run(http_call, http_server, "wrong", "digest", {})

    def test_http_needs_a_token(self, tmp_path: Path) -> None:
        """--http without BELLWATCH_MCP_TOKEN refuses to serve (exit 2), naming the setting."""
        env = environment(tmp_path)
        done = subprocess.run(
            [BELLWATCH, "mcp", "-l", str(tmp_path), "--http", "127.0.0.1:1"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2 and "BELLWATCH_MCP_TOKEN" in done.stderr

    @pytest.mark.parametrize("listen", ["8765", "127.0.0.1", "host:99999"])
    def test_http_takes_host_and_port(self, tmp_path: Path, listen: str) -> None:
        """--http takes HOST:PORT and says so otherwise."""
        (tmp_path / "app.jsonl").write_text("")
        env = environment(tmp_path, BELLWATCH_MCP_TOKEN=TOKEN)
        done = subprocess.run(
            [BELLWATCH, "mcp", "-l", str(tmp_path), "--http", listen],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2 and "HOST:PORT" in done.stderr
