"""``bellwatch mcp``: serve the logs to AI assistants over the Model Context Protocol.

The source is chosen exactly as every reading command chooses it (``-l/--logs`` files,
globs and directories, or ``--log-group`` with ``--region``/``--profile``), once, at
start; each tool call reads it afresh. The server itself is :mod:`bellwatch.mcp`,
imported only when the command runs (the ``mcp`` extra).
"""

from __future__ import annotations

import re
from typing import Any

import click

from .. import __version__, _settings
from ..sources.base import Source, SourceError
from ._safe import safe_text
from .options import CLOUDWATCH, FILES, Opts, UsageProblem

__all__ = ["COMMANDS"]

_HOST_PORT = re.compile(r"^(?P<host>\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})$")


def _listen(value: str) -> tuple[str, int]:
    match = _HOST_PORT.match(value)
    if match is None or not 0 < int(match["port"]) < 65536:
        raise UsageProblem(f"--http takes HOST:PORT, e.g. 127.0.0.1:8765 (got {value!r})")
    return match["host"].strip("[]"), int(match["port"])


@click.command(name="mcp")
@click.option(
    "--logs",
    "-l",
    multiple=True,
    metavar="PATH",
    help="File, directory or glob (repeatable). Default: <BELLWATCH_LOG_DIR>/*.jsonl*",
)
@click.option(
    "--source",
    type=click.Choice([FILES, CLOUDWATCH]),
    help="Where to read (default: cloudwatch when a log group is set, else files).",
)
@click.option("--log-group", metavar="NAME", help="CloudWatch log group (BELLWATCH_LOG_GROUP).")
@click.option("--region", metavar="REGION", help="AWS region (BELLWATCH_REGION).")
@click.option("--profile", metavar="NAME", help="AWS profile (default: the AWS chain).")
@click.option("--url", metavar="URL", help="The running service, for `service` (BELLWATCH_URL).")
@click.option(
    "--http",
    "listen",
    metavar="HOST:PORT",
    help="Serve streamable HTTP on http://HOST:PORT/mcp (needs BELLWATCH_MCP_TOKEN).",
)
@click.option("--cache-dir", metavar="DIR", help="Report cache (~/.cache/bellwatch).")
@click.option("--no-cache", is_flag=True, help="Read the JSON directly; write no cache.")
def mcp_command(listen: str | None, url: str | None, **kw: Any) -> None:
    """Serve the logs to an AI assistant over MCP: stdio, or streamable HTTP with --http.

    Tools: digest, errors, error_detail, trace, slow, endpoints, query, service; every
    reply fits a token budget and says what it left out. Read-only.

    \b
    Examples:
      bellwatch mcp -l logs/                       # Claude Code, Claude Desktop, Cursor
      bellwatch mcp --log-group /ecs/bella-prod --region eu-west-1
      BELLWATCH_MCP_TOKEN=... bellwatch mcp --http 127.0.0.1:8765
    """
    try:
        from .. import mcp as server_pkg
        from ..mcp import server
    except ImportError as exc:
        raise UsageProblem(str(exc) if "bellwatch[mcp]" in str(exc) else _install(exc)) from None
    if "-" in kw["logs"]:
        raise UsageProblem("bellwatch mcp talks MCP over stdin: pass files, not '-'")
    options = {**kw, "since": None, "until": None, "as_json": True, "no_color": True}
    try:
        settings = _settings.resolve(url=url, region=kw["region"])
        address = _listen(listen) if listen is not None else None
        if address is not None and not settings.mcp_token:
            raise UsageProblem("--http needs a bearer token: set BELLWATCH_MCP_TOKEN")
        _check(Opts(**options).source())  # a missing file or group fails now, not on a call
    except (_settings.ConfigError, SourceError) as exc:
        raise UsageProblem(str(exc)) from None
    ctx = server_pkg.Context(
        lambda: Opts(**options).source(), settings.url, settings, version=__version__
    )
    if address is None:
        server.run_stdio(ctx)
        return
    assert settings.mcp_token is not None  # checked above
    click.echo(f"bellwatch mcp: http://{listen}/mcp (bearer token required)", err=True)
    server.run_http(ctx, *address, settings.mcp_token)


def _check(source: Source) -> None:
    """Files: something to read, or nothing written yet (said once on stderr; the server
    starts and its tools answer "no log records ... yet" until the files appear).
    Files that exist but cannot be read fail at start."""
    from ..sources._paths import NoLogsYet
    from ..sources.files import FileSource

    if not isinstance(source, FileSource):
        return
    try:
        found = source.paths()
    except NoLogsYet as exc:
        note = f"bellwatch mcp: no log records in {source.describe()} yet ({exc}); serving"
        click.echo(safe_text(note), err=True)
        return
    if not found:
        problems = "; ".join(source.stats.skipped_sources) or f"no files match {source.describe()}"
        raise SourceError(problems)


def _install(exc: ImportError) -> str:
    from ..mcp import INSTALL

    return f"bellwatch mcp needs {exc.name or 'the mcp package'}: {INSTALL}"


COMMANDS = (mcp_command,)
