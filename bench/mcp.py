"""What `bellwatch mcp` costs an assistant: tokens per answer, and how long a reply takes.

Measured through the real server (`bellwatch mcp -l <logs>`, the MCP SDK's stdio client,
as Claude Code spawns it), on two sets of logs:

- the demo's: `python -m bellwatch.demo --duration 3` (Bella with its scripted faults);
- 1,000,000 lines: `bench/corpus/app.jsonl` from `bench/gen_corpus.py` (8 error patterns).

Figures: `digest` tokens (goal <= 1,500 with every error pattern holding 1% of the
occurrences named), reply time of `digest` and `errors` on 1M lines when the report cache
is warm (goal <= 1 s; the first, cold call builds it), and tokens against raw Logs Insights
rows answering the same question "what broke?" (what the awslabs CloudWatch server returns:
every row of an Insights query as JSON), counted with the digest's tokenizer (cl100k).

Run: .venv/bin/python bench/mcp.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import LOAD_AT_START, figures, machine_md, quick, write_result  # noqa: E402

# This file is bench/mcp.py: with bench/ on the path, `import mcp` would find it instead of
# the MCP SDK. The helpers above are loaded; take bench/ off the path again.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

from bellwatch.mcp import definitions  # noqa: E402
from bellwatch.query import insights  # noqa: E402
from bellwatch.reports.digest import count_tokens  # noqa: E402
from bellwatch.sources.files import FileSource  # noqa: E402

CORPUS = HERE / "corpus" / "app.jsonl"
BELLWATCH = str(Path(sys.executable).parent / "bellwatch")
# "What broke?" asked the awslabs way: the error lines themselves, newest first (their
# server's default row limit is Insights' own, 1,000 rows), as JSON.
RAW_ERRORS = (
    'fields @timestamp, @message | filter level = "ERROR" or level = "CRITICAL"'
    " | sort @timestamp desc | limit 1000"
)
# ... and the best Insights can do in one query: the saved top-errors aggregation.
TOP_ERRORS = "top-errors"


def run_demo(where: Path) -> Path:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    env |= {"BELLWATCH_LOG_DIR": str(where / "logs"), "XDG_CACHE_HOME": str(where / "cache")}
    subprocess.run(
        [sys.executable, "-m", "bellwatch.demo", "--duration", "3", "--clients", "2"],
        cwd=where, env=env, check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return where / "logs"


def session(
    logs: Path, cache: Path, calls: list[tuple[str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Run ``calls`` through one stdio server; each: seconds, text and structured reply."""
    import anyio

    from mcp import Client, StdioServerParameters

    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    env["XDG_CACHE_HOME"] = str(cache)
    params = StdioServerParameters(command=BELLWATCH, args=["mcp", "-l", str(logs)], env=env)

    async def go() -> list[dict[str, Any]]:
        out = []
        async with Client(params, read_timeout_seconds=600) as client:
            for name, args in calls:
                start = time.perf_counter()
                result = await client.call_tool(name, args)
                took = time.perf_counter() - start
                text = "".join(getattr(c, "text", "") for c in result.content)
                out.append({"tool": name, "s": took, "text": text,
                            "data": result.structured_content or {}})  # fmt: skip
        return out

    return anyio.run(go)


def compact(value: Any) -> str:
    """JSON without spaces and with UTF-8 as is: how the server counts a reply against its
    budget (``bellwatch.mcp.reply.tokens``), used for every JSON here alike."""
    return orjson.dumps(value).decode()


def tokens_of(reply: dict[str, Any]) -> tuple[int, int]:
    return count_tokens(reply["text"]), count_tokens(compact(reply["data"]))


def named(digest: dict[str, Any], errors: dict[str, Any]) -> tuple[int, int]:
    """(patterns with 1% of the occurrences, how many of them the digest names)."""
    rows = errors["data"]["rows"]
    total = sum(r[0] for r in rows)
    big = [r[2] for r in rows if total and r[0] >= total / 100]
    return len(big), sum(1 for h in big if h in digest["text"])


def raw_insights(logs: Path, query: str) -> tuple[int, int]:
    """(rows, cl100k tokens) of an Insights query's raw rows as JSON, run by the local
    engine over the same logs (what CloudWatch would return, row for row)."""
    from bellwatch.query.saved import by_name

    text = by_name(query).query if query == TOP_ERRORS else query
    source = FileSource([str(logs)], use_cache=False)
    rows = insights.parse(text).run(source.records())
    as_sent = [{k: str(v) for k, v in row.items()} for row in rows]
    return len(rows), count_tokens(compact(as_sent))


def measure(name: str, logs: Path, cache: Path, rounds: int) -> dict[str, Any]:
    print(f"  {name}: cold call, then {rounds} warm rounds", file=sys.stderr, flush=True)
    calls = [("digest", {"budget": 1500}), ("errors", {"limit": 1000, "budget": 8000})]
    calls += [("digest", {"budget": 1500}), ("errors", {})] * rounds
    replies = session(logs, cache, calls)
    cold, errors_all, warm = replies[0], replies[1], replies[2:]
    big, hit = named(cold, errors_all)
    raw_rows, raw_tokens = raw_insights(logs, RAW_ERRORS)
    top_rows, top_tokens = raw_insights(logs, TOP_ERRORS)
    digest_tokens = max(tokens_of(cold))
    return {
        "name": name,
        "bytes": sum(p.stat().st_size for p in logs.glob("*.jsonl*"))
        if logs.is_dir()
        else logs.stat().st_size,
        "digest_text": tokens_of(cold)[0],
        "digest_json": tokens_of(cold)[1],
        "digest_tokens": digest_tokens,
        "patterns_1pct": big,
        "patterns_named": hit,
        "cold_s": cold["s"],
        "warm_digest_s": [r["s"] for r in warm if r["tool"] == "digest"],
        "warm_errors_s": [r["s"] for r in warm if r["tool"] == "errors"],
        "errors_tokens": max(tokens_of(warm[1])),
        "raw_rows": raw_rows,
        "raw_tokens": raw_tokens,
        "top_rows": top_rows,
        "top_tokens": top_tokens,
        "vs_raw": raw_tokens / digest_tokens,
        "digest_sample": cold["text"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2 if quick() else 5)
    args = parser.parse_args()
    if not CORPUS.exists():
        subprocess.run([sys.executable, str(HERE / "gen_corpus.py")], check=True)
    definitions_tokens = count_tokens(compact(definitions()))
    with tempfile.TemporaryDirectory(prefix="bellwatch-bench-mcp-") as tmp:
        where = Path(tmp)
        demo = measure("demo", run_demo(where), where / "cache-demo", args.rounds)
        big = measure("1M lines", CORPUS, where / "cache-1m", args.rounds)
    write(demo, big, definitions_tokens, args.rounds)


def _med(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def write(demo: dict[str, Any], big: dict[str, Any], definitions_tokens: int, rounds: int) -> None:
    rows = []
    for r in (demo, big):
        rows.append(
            f"| {r['name']} | {r['bytes'] / 1e6:,.2f} MB | {r['digest_text']:,} / "
            f"{r['digest_json']:,} | {r['patterns_named']} of {r['patterns_1pct']} | "
            f"{r['cold_s']:.2f} | {_med(r['warm_digest_s']):.3f} | {_med(r['warm_errors_s']):.3f} | "
            f"{r['raw_rows']:,} rows, {r['raw_tokens']:,} | {r['top_rows']:,} rows, "
            f"{r['top_tokens']:,} |"
        )
    warm = max(_med(big["warm_digest_s"]), _med(big["warm_errors_s"]))
    lines = [
        "# bench/mcp.py: what `bellwatch mcp` costs an assistant",
        "",
        "Through the real server (`bellwatch mcp -l <logs>`, the MCP SDK's stdio client), on "
        "the demo's logs (`python -m bellwatch.demo --duration 3`) and on 1,000,000 lines "
        "(`bench/corpus/app.jsonl`, `bench/gen_corpus.py`). Tokens are cl100k (the digest's "
        "tokenizer); a reply's tokens are the larger of its two forms (text, structuredContent "
        "as JSON); every JSON here, the raw Insights rows' included, is counted compact (no "
        "spaces, UTF-8 as is), as the server counts a reply against its budget. Times are "
        f"seen by the client, median of {rounds} warm rounds; the cold call "
        "builds the report cache.",
        "",
        machine_md(["mcp", "tiktoken"], LOAD_AT_START),
        "",
        "| logs | size | digest tokens (text / JSON) | patterns >= 1% named | cold digest s "
        "| warm digest s | warm errors s | raw Insights error rows (JSON tokens) "
        "| Insights top-errors rows (JSON tokens) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Raw rows: `{RAW_ERRORS}`, every row as JSON, as the awslabs CloudWatch server "
        "returns them; top-errors: bellwatch's saved aggregation, the best one Insights query "
        "does. Both run by the local engine over the same lines, row for row what CloudWatch "
        "returns.",
        "",
        "## Goals",
        "",
        "| goal | measured | met |",
        "|---|---:|---|",
        f"| digest <= 1,500 tokens on 1M lines | {big['digest_tokens']:,} | "
        f"{'yes' if big['digest_tokens'] <= 1500 else 'no'} |",
        f"| every error pattern >= 1% named | {big['patterns_named']} of "
        f"{big['patterns_1pct']} | "
        f"{'yes' if big['patterns_named'] == big['patterns_1pct'] else 'no'} |",
        f"| warm reply <= 1 s on 1M lines | {warm:.3f} s | {'yes' if warm <= 1 else 'no'} |",
        f"| tool definitions <= 3,000 tokens | {definitions_tokens:,} | "
        f"{'yes' if definitions_tokens <= 3000 else 'no'} |",
        "",
        *figures(
            [
                (
                    "digest_tokens_demo",
                    f"{demo['digest_tokens']:,}",
                    "digest reply on the demo's logs, cl100k tokens",
                ),
                (
                    "digest_tokens_1m",
                    f"{big['digest_tokens']:,}",
                    "digest reply on 1M lines, cl100k tokens",
                ),
                (
                    "patterns_named_1m",
                    f"{big['patterns_named']}/{big['patterns_1pct']}",
                    "error patterns with >= 1% of occurrences named by the digest, 1M lines",
                ),
                (
                    "warm_digest_s_1m",
                    f"{_med(big['warm_digest_s']):.2f}",
                    "digest reply, warm cache, 1M lines, seconds (median)",
                ),
                (
                    "warm_errors_s_1m",
                    f"{_med(big['warm_errors_s']):.2f}",
                    "errors reply, warm cache, 1M lines, seconds (median)",
                ),
                (
                    "cold_digest_s_1m",
                    f"{big['cold_s']:.1f}",
                    "first digest on 1M lines (builds the cache), seconds",
                ),
                (
                    "vs_raw_rows_1m",
                    f"{big['vs_raw']:.0f}x",
                    "raw Insights error rows (JSON) / digest, tokens, 1M lines",
                ),
                (
                    "errors_tokens_1m",
                    f"{big['errors_tokens']:,}",
                    "errors reply (every pattern: severity, routes, first/last seen), tokens, 1M",
                ),
                (
                    "top_errors_tokens_1m",
                    f"{big['top_tokens']:,}",
                    "the Insights top-errors query's rows as JSON, tokens, 1M lines",
                ),
                (
                    "vs_raw_rows_demo",
                    f"{demo['vs_raw']:.0f}x",
                    "raw Insights error rows (JSON) / digest, tokens, demo",
                ),
                (
                    "definitions_tokens",
                    f"{definitions_tokens:,}",
                    "the eight tool definitions together, cl100k tokens",
                ),
            ]
        ),
        "",
        "The digest on 1M lines:",
        "",
        "```text",
        big["digest_sample"],
        "```",
        "",
        "Raw samples (s): "
        + "; ".join(
            f"{r['name']} digest {', '.join(f'{x:.3f}' for x in r['warm_digest_s'])}, errors "
            f"{', '.join(f'{x:.3f}' for x in r['warm_errors_s'])}"
            for r in (demo, big)
        ),
    ]
    path = write_result("mcp", "\n".join(lines))
    print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
