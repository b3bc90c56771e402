"""Write bench/RESULTS.md and every benchmark figure in README.md from bench/results/*.md.

The README quotes a figure as ``<!-- bench:FILE.NAME -->value<!-- /bench -->``, where
FILE is a results file and NAME a row of its "Figures" table; the Benchmarks table is
``<!-- bench:table:benchmarks -->...<!-- /bench -->``, built here from the same figures,
and ``table:tokens`` is the token table of bench/results/tokens.md. The query
figures come from bench/results/query.md's "Goals" table (bench/query.py writes it).
tests/test_docs.py fails when the README or RESULTS.md differs from what this writes.

Run: .venv/bin/python bench/report.py     (bench/run_all.py runs it after the benchmarks)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE.parent / "README.md"
# Order of the sections in RESULTS.md: the pipeline first, then what builds on it.
ORDER = [
    "tokens",
    "logging_hotpath",
    "logging_profile",
    "middleware",
    "error_storm",
    "redis_store",
    "query",
    "mcp",
    "run_all",
]
MARKER = re.compile(r"<!-- bench:([\w.:]+) -->(.*?)<!-- /bench -->", re.S)
# query.md's Goals table: (figure name, words of the goal, the query).
QUERY_GOALS = {
    "errors_vs_jq": ("faster than jq", "errors"),
    "errors_vs_duckdb": ("DuckDB", "errors"),
    "errors_warm": ("warm", "errors"),
    "errors_appended": ("appended", "errors"),
}


class MissingFigure(KeyError):
    """A figure the README asks for is not in its results file."""


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _table_after(text: str, heading: str) -> list[list[str]]:
    """The rows of the first markdown table after ``heading`` (header and rule skipped)."""
    if heading not in text:
        return []
    rows = []
    for line in text.split(heading, 1)[1].splitlines():
        if line.startswith("|"):
            rows.append(_cells(line))
        elif rows:
            break
    return rows[2:]


def figures() -> dict[str, str]:
    """Every named figure: ``file.name`` -> value, read from bench/results/*.md."""
    out: dict[str, str] = {}
    for path in sorted(RESULTS.glob("*.md")):
        text = path.read_text()
        for row in _table_after(text, "### Figures"):
            out[f"{path.stem}.{row[0].strip('`')}"] = row[1]
        if path.stem == "query":
            goals = _table_after(text, "## Goals")
            for name, (words, query) in QUERY_GOALS.items():
                for goal, q, measured, *_ in goals:
                    if words in goal and q == query:
                        # "0.97x DuckDB's time" -> "0.97x"
                        out[f"query.{name}"] = measured.split()[0]
                        break
    return out


def _x(value: str) -> float:
    """The number in a figure: "1.23x" -> 1.23, "95.4%" -> 95.4, "248-267" -> 267."""
    return float(re.findall(r"[\d.]+", value.replace(",", ""))[-1])


def _all(value: str) -> bool:
    """A figure "8/8": all of them."""
    named, _, of = value.partition("/")
    return named == of


def _us_range(value: str) -> str:
    """A range of microseconds added: "71-174" -> "+71 to +174 us"."""
    low, _, high = value.partition("-")
    return f"+{low} to +{high} us"


def _goal(ok: bool) -> str:
    return "met" if ok else "**not met**"


def _middleware_cause(g: Callable[[str], str], sink: str) -> str:
    """Where the server's added CPU goes, line to ``sink`` (bench/results/middleware.md)."""
    return (
        f"server CPU +{g(f'middleware.{sink}_server_added_us')} us per request over bare "
        f"(0.9x allows +{g('middleware.allowed_added_us')}), "
        f"{g(f'middleware.{sink}_loop_added_us')} of it on the event loop's thread; "
        f"{g(f'middleware.{sink}_vs_in_process')} the in-process +{g('middleware.added_us')} "
        f"us (ids, context and counts {g('middleware.noline_added_us')}, the line "
        f"{g('middleware.line_us')})"
    )


def table(f: dict[str, str]) -> str:
    """The README's Benchmarks table."""
    g: Callable[[str], str] = lambda name: _get(f, name)  # noqa: E731
    rows = [
        ("what", "bellwatch", "against", "goal"),
        (
            "logging one `request_complete` event (context, redaction, budget), like for like",
            f"{g('logging_hotpath.vs_fastest_peer')} the CPU of the faster of structlog and "
            "picologging writing the same line with the same buffering",
            f"their documented defaults and the other loggers cost "
            f"{g('logging_hotpath.peers_default_range')} bellwatch's",
            f"<= 1.0x: {_goal(_x(g('logging_hotpath.vs_fastest_peer')) <= 1.0)}; of "
            f"bellwatch's {g('logging_profile.bellwatch_us')} us under py-spy: "
            f"{g('logging_profile.bellwatch_where')} (`bench/results/logging_profile.md`)",
        ),
        (
            "a line that must be cut to 200 characters",
            f"{g('logging_hotpath.cut_vs_fit')} the CPU of a line that fits",
            "",
            f"<= 2x: {_goal(_x(g('logging_hotpath.cut_vs_fit')) <= 2.0)}; of "
            f"{g('logging_profile.bellwatch_cut_us')} us: "
            f"{g('logging_profile.bellwatch_cut_where')}",
        ),
        (
            "a filtered-out `debug()`",
            f"{g('logging_hotpath.filtered_vs_empty')} an empty method call with the same "
            "arguments",
            f"structlog's {g('logging_hotpath.structlog_filtered_vs_empty')}",
            f"<= 1.0x: {_goal(_x(g('logging_hotpath.filtered_vs_empty')) <= 1.0)}",
        ),
        (
            "the guide's two-request lifecycle",
            f"{g('tokens.bellwatch')} cl100k tokens",
            f"{g('tokens.peers_range')} for the guide's JSON and the loggers' defaults; "
            f"structlog on bellwatch's keys and epoch ms {g('tokens.schema_in_structlog')}",
            "",
        ),
        (
            "the first line of an error fingerprint (once per TTL)",
            f"{g('tokens.first_error_tokens')} tokens, "
            f"{g('tokens.first_error_frames')} traceback frames kept",
            "",
            "",
        ),
        (
            "request monitoring, in-process",
            f"+{g('middleware.added_us')} us CPU per request",
            "the peer stacks: (a) documented defaults {}; (b) like for like {} to a file, "
            "{} to stdout".format(
                _us_range(g("middleware.peers_added_us")),
                _us_range(g("middleware.peers_b_added_us")),
                _us_range(g("middleware.peers_b_stdout_added_us")),
            ),
            "",
        ),
        (
            "request monitoring, uvicorn + wrk, line to a local file",
            f"{g('middleware.file_rps')} bare requests/s, {g('middleware.file_capacity')} capacity",
            f"the peer stacks: (a) documented defaults {g('middleware.peers_rps')}x requests/s; "
            f"(b) like for like {g('middleware.peers_b_rps')}x requests/s, "
            f"{g('middleware.peers_b_capacity')}x capacity",
            f">= 0.9x: {_goal(min(_x(g('middleware.file_rps')), _x(g('middleware.file_capacity'))) >= 0.9)}; "
            + _middleware_cause(g, "file"),
        ),
        (
            "request monitoring, uvicorn + wrk, line to stdout (a pipe)",
            f"{g('middleware.stdout_rps')} bare requests/s, "
            f"{g('middleware.stdout_capacity')} capacity",
            f"the peer stacks, (b) like for like: {g('middleware.peers_b_stdout_rps')}x "
            f"requests/s, {g('middleware.peers_b_stdout_capacity')}x capacity",
            f">= 0.9x: {_goal(min(_x(g('middleware.stdout_rps')), _x(g('middleware.stdout_capacity'))) >= 0.9)}; "
            + _middleware_cause(g, "stdout"),
        ),
        (
            "an error storm: 1,000 occurrences of 5 distinct errors",
            f"window mode {g('error_storm.window_5')} fewer tokens than a line per error, "
            f"every 10th {g('error_storm.every10_5')}",
            f"one repeated error (best case): {g('error_storm.window_1')} and "
            f"{g('error_storm.every10_1')}",
            "",
        ),
        (
            "Redis store vs in-memory, uvicorn + wrk",
            f"p99 {g('redis_store.redis_p99')}, server CPU per request "
            f"{g('redis_store.redis_cpu')}",
            f"redis-server's own CPU: {g('redis_store.redis_server_us')} us per request",
            f"<= 1.05x: {_goal(max(_x(g('redis_store.redis_p99')), _x(g('redis_store.redis_cpu'))) <= 1.05)}; "
            f"CPU us/request added on the event loop {g('redis_store.redis_loop_added_us')}, in "
            f"the background threads {g('redis_store.redis_background_added_us')}",
        ),
        (
            "`bellwatch mcp` `digest` over 1M lines, through the stdio server",
            f"{g('mcp.digest_tokens_1m')} cl100k tokens naming "
            f"{g('mcp.patterns_named_1m')} error patterns of 1% or more; warm reply "
            f"{g('mcp.warm_digest_s_1m')} s",
            f"raw Logs Insights error rows (the awslabs server's answer): "
            f"{g('mcp.vs_raw_rows_1m')} the tokens",
            f"<= 1,500 tokens, every pattern named, <= 1 s: "
            f"{_goal(_x(g('mcp.digest_tokens_1m')) <= 1500 and _all(g('mcp.patterns_named_1m')) and _x(g('mcp.warm_digest_s_1m')) <= 1)}",
        ),
        (
            "`errors` over 1M lines, 5% of them text",
            f"cold {g('query.errors_vs_jq')} faster than jq; warm {g('query.errors_warm')}, "
            f"after an append {g('query.errors_appended')} faster than cold",
            f"cold {g('query.errors_vs_duckdb')} raw DuckDB's time",
            f"cold <= 1.2x DuckDB: {_goal(_x(g('query.errors_vs_duckdb')) <= 1.2)}; CPU ns per "
            f"line: the fold {g('query.fold_ns')} (C, {g('query.handed_back')} of the lines "
            f"handed back to Python; Python alone {g('query.python_fold_ns')}), reading "
            f"{g('query.read_ns')}, merging {g('query.merge_ns')}, against DuckDB's whole command "
            f"{g('query.duckdb_ns_per_line')} (C++, both cores); every line is parsed strictly "
            "(RFC 8259, as CloudWatch reads a JSON event), which DuckDB's reader cannot do (it "
            "accepts NaN and trailing commas, and reads {} as a text line)",
        ),
    ]
    lines = [f"| {' | '.join(rows[0])} |", "|---|---|---|---|"]
    lines += [f"| {' | '.join(r)} |" for r in rows[1:]]
    return "\n".join(lines)


def tokens_table() -> str:
    """The README's token table: style, lines, tokens, from bench/results/tokens.md."""
    rows = _table_after((RESULTS / "tokens.md").read_text(), "## Tokens")
    if not rows:
        raise MissingFigure("no token table in bench/results/tokens.md")
    lines = ["| style | lines | tokens | every fact kept |", "|---|---:|---:|---|"]
    for style, n, _chars, _longest, tokens, _vs, complete, *_ in rows:
        cells = [style, n, tokens]
        if style == "bellwatch":
            cells = [f"**{c}**" for c in cells]
        lines.append(f"| {' | '.join(cells)} | {complete} |")
    return "\n".join(lines)


def _get(f: dict[str, str], name: str) -> str:
    try:
        return f[name]
    except KeyError:
        raise MissingFigure(
            f"{name}: no such figure in bench/results/{name.split('.', maxsplit=1)[0]}.md"
        ) from None


def render_readme(text: str, f: dict[str, str] | None = None) -> str:
    """``text`` with every ``<!-- bench:... -->`` marker's content rewritten from the results."""
    f = figures() if f is None else f

    tables = {"table:benchmarks": lambda: table(f), "table:tokens": tokens_table}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        body = "\n" + tables[name]() + "\n" if name in tables else _get(f, name)
        return f"<!-- bench:{name} -->{body}<!-- /bench -->"

    return MARKER.sub(fill, text)


def results_md() -> str:
    """bench/RESULTS.md: every results file, in ORDER, then any others."""
    names = [n for n in ORDER if (RESULTS / f"{n}.md").exists()]
    names += sorted(p.stem for p in RESULTS.glob("*.md") if p.stem not in ORDER)
    parts = [
        "# Benchmark results",
        "",
        "Generated by `bench/report.py` from `bench/results/*.md` (`make bench` reruns them "
        "all); each section says how to rerun it and on what machine it ran. These machines "
        "are shared, 2 cores, noisy: compare ratios within a section, not absolute times.",
    ]
    for name in names:
        parts += ["", (RESULTS / f"{name}.md").read_text().strip()]
    return "\n".join(parts) + "\n"


def write() -> list[Path]:
    """Rewrite bench/RESULTS.md and the README's figures; return what changed."""
    changed = []
    out = HERE / "RESULTS.md"
    new = results_md()
    if not out.exists() or out.read_text() != new:
        out.write_text(new)
        changed.append(out)
    old = README.read_text()
    new = render_readme(old)
    if new != old:
        README.write_text(new)
        changed.append(README)
    return changed


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
