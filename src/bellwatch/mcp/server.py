"""The MCP server itself: the only module that imports the ``mcp`` SDK.

A low-level :class:`mcp.server.lowlevel.Server` whose ``tools/list`` sends
:func:`.tools.definitions` (read-only, closed-world) and whose ``tools/call`` runs
:func:`.tools.call` in a worker thread, answering with the reply's text and its
``structuredContent``. :func:`run_stdio` serves one client over stdin/stdout;
:func:`run_http` serves streamable HTTP on ``host:port`` behind a bearer token.
"""

from __future__ import annotations

import functools
from typing import Any

from . import INSTALL, tools
from ._auth import BearerGate

try:
    import anyio
    from mcp.server.lowlevel import Server

    from mcp import types
except ImportError as exc:  # the extra is missing: say which one
    raise ImportError(f"bellwatch mcp needs {exc.name}: {INSTALL}", name=exc.name) from exc

__all__ = ["build", "run_http", "run_stdio"]

NAME = "bellwatch"


def build(ctx: tools.Context) -> Server[Any]:
    """The MCP server answering ``ctx``'s tool calls."""
    listed = [
        types.Tool(
            name=d["name"],
            description=d["description"],
            input_schema=d["inputSchema"],
            annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False),
        )
        for d in tools.definitions()
    ]

    async def list_tools(_ctx: Any, _params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        answer = await anyio.to_thread.run_sync(
            functools.partial(tools.call, ctx, params.name, params.arguments)
        )
        return types.CallToolResult(
            content=[types.TextContent(text=answer.text)],
            structured_content=answer.data,
            is_error=answer.is_error,
        )

    return Server(
        NAME,
        version=ctx.version,
        instructions=tools.INSTRUCTIONS.format(source=ctx.describe()),
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )


def run_stdio(ctx: tools.Context) -> None:
    """Serve one client over standard input and output until it closes them."""
    from mcp.server.stdio import stdio_server

    server = build(ctx)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())

    anyio.run(main)


def http_app(ctx: tools.Context, host: str, token: str) -> Any:
    """The streamable HTTP app on ``/mcp``, behind the bearer ``token``."""
    app = build(ctx).streamable_http_app(host=host, stateless_http=True, json_response=True)
    return BearerGate(app, token)


def run_http(ctx: tools.Context, host: str, port: int, token: str) -> None:
    """Serve streamable HTTP on ``http://host:port/mcp`` until interrupted."""
    import uvicorn

    config = uvicorn.Config(
        http_app(ctx, host, token), host=host, port=port, log_level="warning", lifespan="on"
    )
    uvicorn.Server(config).run()
