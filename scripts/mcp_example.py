"""The README's worked example: what an assistant asks ``bellwatch mcp`` on the demo's logs.

It runs the demo (``python -m bellwatch.demo --duration 3``) into a temporary folder,
starts ``bellwatch mcp -l <its logs>`` with the MCP SDK's stdio client, as Claude Code
does, and makes the calls an assistant would: ``digest``; then ``error_detail`` on the
most frequent critical pattern; then ``trace`` on its example correlation id. The calls
and the replies they got go into the README between ``<!-- mcp-example:start -->`` and
``<!-- mcp-example:end -->``. ``tests/test_mcp_example.py`` makes the same calls on a
fresh demo run and fails when the README's example is no longer what they give.

Run: .venv/bin/python scripts/mcp_example.py          (rewrites the README's example)
     .venv/bin/python scripts/mcp_example.py --print  (prints it instead)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- mcp-example:start -->\n).*?(<!-- mcp-example:end -->)", re.S)
# The digest's line for a critical error pattern: its hash and example correlation id
# (the users it affected, when it names them, come between the two).
CRITICAL = re.compile(
    r"^- [\d,]+x \[critical\] .*?\(hash (\w+),(?: [\d,]+ users?,)? e\.g\. cid (\w+)", re.M
)
DIGEST_BUDGET = 800


@dataclass(frozen=True)
class Call:
    """One tool call and the reply's text."""

    tool: str
    args: dict[str, Any]
    text: str
    structured: dict[str, Any]

    def signature(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.args.items())
        return f"{self.tool}({args})"


def transcript(logs: Path, cache: Path) -> list[Call]:
    """The calls an assistant makes on ``logs`` through the real server, and the replies."""
    import anyio

    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    env["XDG_CACHE_HOME"] = str(cache)
    bellwatch = str(Path(sys.executable).parent / "bellwatch")
    params = StdioServerParameters(command=bellwatch, args=["mcp", "-l", str(logs)], env=env)

    async def session() -> list[Call]:
        calls: list[Call] = []
        async with Client(params, read_timeout_seconds=120) as client:

            async def ask(tool: str, args: dict[str, Any]) -> Call:
                result = await client.call_tool(tool, args)
                text = "".join(getattr(c, "text", "") for c in result.content)
                calls.append(Call(tool, args, text, result.structured_content or {}))
                return calls[-1]

            digest = await ask("digest", {"budget": DIGEST_BUDGET})
            found = CRITICAL.search(digest.structured.get("digest", digest.text))
            if found is None:
                return calls
            key, cid = found.groups()
            await ask("error_detail", {"hash": key})
            await ask("trace", {"cid": cid})
        return calls

    return anyio.run(session)


def markdown(calls: list[Call]) -> str:
    """The README's example: each call, then the text its reply carried."""
    out = [
        "On the logs of a short demo run (`python -m bellwatch.demo --duration 3`), an "
        f"assistant makes "
        f"{len(calls)} calls. The first names the locked database; the next two show "
        "where it happened and what the failing request did:",
    ]
    for i, call in enumerate(calls, 1):
        out += ["", f"**{i}. `{call.signature()}`**", "", "```text", call.text, "```"]
    return "\n".join(out)


def run_demo(where: Path) -> Path:
    """The demo's logs: three seconds of traffic into ``where``/logs."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    env |= {"BELLWATCH_LOG_DIR": str(where / "logs"), "XDG_CACHE_HOME": str(where / "cache")}
    subprocess.run(
        [sys.executable, "-m", "bellwatch.demo", "--duration", "3", "--clients", "2"],
        cwd=where, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return where / "logs"


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="bellwatch-mcp-example-") as tmp:
        logs = run_demo(Path(tmp))
        block = markdown(transcript(logs, Path(tmp) / "cache"))
    if "--print" in argv:
        print(block)
        return 0
    text = README.read_text()
    if not BLOCK.search(text):
        print("README.md has no <!-- mcp-example:start --> block", file=sys.stderr)
        return 1
    README.write_text(BLOCK.sub(lambda m: m.group(1) + block + "\n" + m.group(2), text))
    print("README.md: worked example rewritten")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
