"""Per-request cost of request monitoring: bellwatch vs the usual peer stacks.

Same FastAPI app (``GET /api/users/{user_id}``, async route returning a small dict)
in every variant, each in its own process (the apps: bench/_stacks.py):

- in-process CPU us/request with a minimal ASGI driver (no HTTP, no httpx);
- uvicorn + ``wrk`` on 127.0.0.1, requests/s as a ratio to bare.

Each peer stack runs as (a) its documented default and (b) its fastest setup writing
bellwatch's very line to the same sink (a file, and stdout); the run first checks
that every (b) line has the shape of bellwatch's (``--child line VARIANT`` prints one).

Run: .venv/bin/python bench/middleware.py [--rounds 5] [--no-wrk]
Writes bench/results/middleware.md.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    cpu_ticks,
    figures,
    free_port,
    interleaved,
    machine_md,
    median,
    paired,
    quick,
    run_child,
    samples_line,
    thread_ticks,
    wait_for_port,
    write_result,
)
from _stacks import (
    PATH,
    PEERS_A,
    PEERS_B,
    PEERS_B_STDOUT,
    SETUP,
    VARIANTS,
    build_app,
    flush,
    line_shape,
)

PACKAGES = ["fastapi", "starlette", "uvicorn", "structlog", "picologging", "orjson",
            "asgi-correlation-id", "prometheus-fastapi-instrumentator", "starlette-exporter"]  # fmt: skip
# End to end (uvicorn + wrk) runs every variant but the diagnostics.
WRK = [v for v, (_, setup) in VARIANTS.items() if setup != "diagnostic"]
# What drains a server's stdout: reads 64 KiB at a time and counts the lines it saw.
READER = (
    "import sys\nn = 0\nr = sys.stdin.buffer.raw\n"
    "while chunk := r.read(65536):\n    n += chunk.count(b'\\n')\nprint(n)\n"
)


# ---------------------------------------------------------------- in-process CPU


async def drive(app: Any, n: int) -> None:
    """Call the app ``n`` times with a minimal HTTP scope; no server, no client library."""
    headers = [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(n):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": PATH,
            "raw_path": PATH.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": list(headers),
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
        }
        await app(scope, receive, send)


def child_cpu(variant: str, n: int, profile: bool) -> None:
    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(variant, logdir)
        asyncio.run(drive(app, 1000))  # warm-up: build the middleware stack, fill caches
        if profile:
            import cProfile
            import pstats

            prof = cProfile.Profile()
            prof.enable()
            asyncio.run(drive(app, n))
            prof.disable()
            pstats.Stats(prof, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        alive = len(gc.get_objects())
        start = time.process_time()
        asyncio.run(drive(app, n))
        flush(variant)  # queued requests and buffered lines are part of the cost
        cpu = time.process_time() - start
        gc.collect()  # after the measurement: what no collection can free is kept for good
        kept = max(0, len(gc.get_objects()) - alive) / n
        print(json.dumps({"us": cpu / n * 1e6, "kept": kept}))
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def child_line(variant: str) -> None:
    """Print the last line the variant writes for three requests (stdout into a file)."""
    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    saved = os.dup(1)
    try:
        sys.stdout.flush()
        with open(os.path.join(logdir, "stdout.jsonl"), "wb") as out:
            os.dup2(out.fileno(), 1)
        app = build_app(variant, logdir)
        asyncio.run(drive(app, 3))
        flush(variant)
        lines = [
            line
            for name in sorted(os.listdir(logdir))
            for line in Path(logdir, name).read_text().splitlines()
        ]
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        shutil.rmtree(logdir, ignore_errors=True)
    print(json.dumps({"line": lines[-1] if lines else ""}))


def check_lines(names: list[str]) -> str:
    """bellwatch's request line, after checking every (b) variant's has the same shape."""
    ours = run_child([__file__, "--child", "line", "bellwatch"])["line"]
    wanted = line_shape(ours)
    for v in names:
        if VARIANTS[v][1] not in ("b", "bellwatch") or v == "bellwatch":
            continue
        theirs = run_child([__file__, "--child", "line", v])["line"]
        if line_shape(theirs) != wanted:
            raise SystemExit(f"{v} does not write bellwatch's line:\n{ours}\n{theirs}")
    return ours


# ---------------------------------------------------------------- uvicorn + wrk


def child_serve(variant: str, port: int) -> None:
    import uvicorn

    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(variant, logdir)
        # Named, not "auto": installing uvloop or httptools must not change what is measured.
        uvicorn.run(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            access_log=False,
            loop="asyncio",
            http="h11",
        )
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def wrk_rps(variant: str, seconds: int, connections: int) -> dict[str, float]:
    """Requests/s under wrk, and the server process's CPU us per request meanwhile."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", variant, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert server.stdout is not None
    reader = subprocess.Popen(
        [sys.executable, "-c", READER], stdin=server.stdout, stdout=subprocess.PIPE, text=True
    )
    server.stdout.close()  # the reader holds the only read end now
    try:
        wait_for_port(port, server, f"{variant} server")
        url = f"http://127.0.0.1:{port}{PATH}"
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], capture_output=True, check=True)
        before = cpu_ticks(server.pid)
        threads = thread_ticks(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ticks = cpu_ticks(server.pid) - before
        loop, background = (b - a for a, b in zip(threads, thread_ticks(server.pid), strict=True))
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        if not match or not total or "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"{variant}: unexpected wrk output\n{out}")
        hz = os.sysconf("SC_CLK_TCK")
        per_request = 1e6 / hz / int(total.group(1))
        result = {
            "rps": float(match.group(1)),
            "cpu_us": ticks * per_request,
            # the event loop's thread, and every other (bellwatch's flusher: lines, counts)
            "loop_us": loop * per_request,
            "background_us": background * per_request,
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        lines_seen = int(reader.communicate(timeout=30)[0].strip() or 0)
    if variant.endswith("_stdout") and lines_seen < int(total.group(1)):
        raise RuntimeError(f"the reader saw {lines_seen} lines for {total.group(1)} requests")
    return result


# ---------------------------------------------------------------- report


def main() -> int:
    ap = argparse.ArgumentParser()
    q = quick()
    ap.add_argument("--rounds", type=int, default=2 if q else 5)
    ap.add_argument("--requests", type=int, default=2000 if q else 4000)
    ap.add_argument("--wrk-seconds", type=int, default=2 if q else 3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--profile", help="print a cProfile of one variant's loop to stderr")
    ap.add_argument("--child", nargs=2, metavar=("MODE", "VARIANT"))
    ap.add_argument("--port", type=int)
    ap.add_argument(
        "--variants",
        help="comma-separated subset (always with bare and bellwatch), e.g. "
        "bellwatch_noline; the result file is written only for the full set",
    )
    args = ap.parse_args()
    if args.child:
        mode, variant = args.child
        if mode == "cpu":
            child_cpu(variant, args.requests, profile=False)
        elif mode == "line":
            child_line(variant)
        else:
            child_serve(variant, args.port)
        return 0
    if args.profile:
        child_cpu(args.profile, args.requests, profile=True)
        return 0

    names = list(VARIANTS)
    if args.variants:
        names = list(dict.fromkeys(["bare", "bellwatch", *args.variants.split(",")]))
    started = time.monotonic()
    ours_line = check_lines(names)
    kept: dict[str, list[float]] = {v: [] for v in names}

    def in_process(v: str) -> float:
        res = run_child([__file__, "--child", "cpu", v, "--requests", str(args.requests)])
        kept[v].append(res["kept"])
        return float(res["us"])

    cpu = interleaved(names, args.rounds, in_process, label="middleware in-process")
    wrk_names = [v for v in names if v in WRK]
    rps: dict[str, list[float]] = {}
    server_us: dict[str, list[float]] = {}
    threads_us: dict[str, dict[str, list[float]]] = {}
    if not args.no_wrk:
        if not shutil.which("wrk"):
            raise SystemExit(
                "wrk is needed: apt-get install wrk (make bench installs it), or --no-wrk"
            )
        runs = interleaved(
            wrk_names,
            args.rounds,
            lambda v: wrk_rps(v, args.wrk_seconds, args.connections),  # type: ignore[arg-type,return-value]
            label="middleware uvicorn + wrk",
        )
        rps = {v: [r["rps"] for r in rs] for v, rs in runs.items()}  # type: ignore[index]
        server_us = {v: [r["cpu_us"] for r in rs] for v, rs in runs.items()}  # type: ignore[index]
        for part in ("loop_us", "background_us"):
            threads_us[part] = {v: [r[part] for r in rs] for v, rs in runs.items()}  # type: ignore[index]
    minutes = (time.monotonic() - started) / 60
    lines = report(args, names, cpu, rps, server_us, ours_line, minutes, kept, threads_us)
    print("\n".join(lines))
    if not args.variants:
        print(f"\nwrote {write_result('middleware', chr(10).join(lines))}")
    return 0


def report(
    args: argparse.Namespace,
    names: list[str],
    cpu: dict[str, list[float]],
    rps: dict[str, list[float]],
    server_us: dict[str, list[float]],
    ours_line: str,
    minutes: float,
    kept: dict[str, list[float]],
    threads_us: dict[str, dict[str, list[float]]] | None = None,
) -> list[str]:
    """The result file's markdown: method, machine, table, goals, figures, raw samples."""
    bare_us = median(cpu["bare"])

    def added(v: str) -> float:
        return median(cpu[v]) - bare_us

    def rps_ratio(v: str) -> float:
        return paired(rps[v], rps["bare"])

    def capacity(v: str) -> float:
        return median(server_us["bare"]) / median(server_us[v])

    def same_sink(v: str) -> str:
        """The bellwatch row a row compares with: the one writing to the same sink."""
        return "bellwatch_stdout" if v.endswith("_stdout") else "bellwatch"

    lines = [
        "## Request monitoring middleware (bench/middleware.py)",
        "",
        f"Same FastAPI app and route in every variant, each in its own process; {args.rounds} "
        f"interleaved rounds, median. In-process: CPU per request over {args.requests} requests "
        "driven by a minimal ASGI caller (no server, no client library; stdout, where used, is a "
        "pipe the parent process drains). End to end: uvicorn (1 worker, access log off, "
        "the asyncio loop and h11 parser that `pip install uvicorn` gives; `uvicorn[standard]`'s "
        "uvloop and httptools are not measured) + "
        f"`wrk -t1 -c{args.connections} -d{args.wrk_seconds}s` on 127.0.0.1, the server's stdout "
        "a pipe drained by a reader process (as the ECS awslogs driver reads a container's "
        "stdout), which checks it saw a line per request for every variant writing to stdout. "
        "Diagnostics run in-process only.",
        "",
        "Every peer stack runs twice. **(a) documented default**: the stack as its docs set it "
        "up, its own keys, timestamp and flush policy. **(b) like for like**: its fastest setup "
        "writing **the same line as bellwatch** (epoch-ms `ts`, `level`, `event`, a 12-hex "
        "`cid`, `method`, the route template as `path`, `status`, `duration`; same keys in the "
        "same order; orjson) to the same sink with the same policy: to a file, a 64 KiB buffer "
        "opened once and written out by a timer thread every 0.2 s (bellwatch's file batches "
        "lines and its flusher writes them on a 0.2 s tick); to stdout, one write per line, as "
        "bellwatch's stdout. starlette-exporter writes no line: its (b) adds structlog. The run checks, before measuring, that every (b) "
        "line has bellwatch's keys, order, values and formats (`bench/_stacks.py`, "
        "`line_shape`). The (a) rows write to a file, as in earlier runs of this benchmark, and "
        "have no stdout row: two more end-to-end variants would add about 1.5 minutes to a "
        "`make bench` that must stay under 20.",
        "",
        machine_md(PACKAGES),
        "",
        "| variant | setup | CPU us/request | added us | added / bellwatch's (same sink)"
        " | requests/s | ratio to bare (paired) | server CPU us/request | capacity ratio to bare |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v in names:
        label, setup = VARIANTS[v]
        ours = added(same_sink(v))
        ratio = (
            f"{added(v) / ours:.1f}x"
            if setup not in ("bare", "bellwatch") and same_sink(v) in cpu and ours > 0
            else ""
        )
        if v in rps:
            rps_cells = (
                f"{median(rps[v]):,.0f} | {rps_ratio(v):.2f}x | {median(server_us[v]):.0f} | "
                f"{capacity(v):.2f}x"
            )
        else:
            rps_cells = "- | - | - | -"
        added_cell = "" if v == "bare" else f"{added(v):+.1f}"
        lines.append(
            f"| {label} | {SETUP[setup]} | {median(cpu[v]):.1f} | {added_cell} | {ratio} | "
            f"{rps_cells} |"
        )
    bw_added = added("bellwatch")
    peers_a = [v for v in PEERS_A if v in names]
    peers_b = [v for v in PEERS_B if v in names]
    peers_b_out = [v for v in PEERS_B_STDOUT if v in names]
    lines += [
        "",
        "Paired ratio: median over rounds of (variant requests/s / bare requests/s in the same "
        "round). Capacity ratio: bare's server CPU per request / the variant's, i.e. the "
        "requests/s ratio when the server's core is the bottleneck; it is far less sensitive "
        "to other load on this shared machine than raw requests/s. The stdout reader and wrk "
        "share the machine's other core, as the awslogs driver shares a task's. "
        f"Measuring took {minutes:.1f} minutes.",
        "",
        *_kept_text(names, kept),
        "The request line bellwatch and every (b) row wrote (`ts`, `cid` and `duration` vary):",
        "",
        f"    {ours_line}",
        "",
        f"bellwatch adds {bw_added:.1f} us CPU per request in-process (goal <= 30 us); the (b) "
        f"peer stacks add {_range((added(v) for v in peers_b), '{:.1f}')} us with the line to a "
        f"file, {_range((added(v) for v in peers_b_out), '{:.1f}')} us to stdout.",
    ]
    rows = [
        ("added_us", f"{bw_added:.0f}", "CPU us bellwatch adds per request, in-process"),
        ("peers_added_us", _range(added(v) for v in peers_a),
         "CPU us the peer stacks add per request, in-process, (a) documented default"),
        ("peers_b_added_us", _range(added(v) for v in peers_b),
         "CPU us the peer stacks add per request, in-process, (b) like for like, line to a file"),
        ("peers_b_stdout_added_us", _range(added(v) for v in peers_b_out),
         "CPU us the peer stacks add per request, in-process, (b) like for like, line to stdout"),
    ]  # fmt: skip
    if rps:
        for v, where in (("bellwatch", "file"), ("bellwatch_stdout", "stdout")):
            if v not in rps:
                continue
            lines.append(
                f"End to end, the line to {where}: {rps_ratio(v):.2f}x bare requests/s (paired) "
                f"and {capacity(v):.2f}x bare capacity (goal >= 0.9x each)."
            )
            rows += [
                (f"{where}_rps", f"{rps_ratio(v):.2f}x", f"requests/s / bare, line to {where}"),
                (f"{where}_capacity", f"{capacity(v):.2f}x", f"capacity / bare, line to {where}"),
            ]
        rows += [
            ("peers_rps", _range((rps_ratio(v) for v in peers_a), "{:.2f}"),
             "requests/s / bare, the peer stacks, (a) documented default"),
            ("peers_b_rps", _range((rps_ratio(v) for v in peers_b), "{:.2f}"),
             "requests/s / bare, the peer stacks, (b) like for like, line to a file"),
            ("peers_b_capacity", _range((capacity(v) for v in peers_b), "{:.2f}"),
             "capacity / bare, the peer stacks, (b) like for like, line to a file"),
            ("peers_b_stdout_rps", _range((rps_ratio(v) for v in peers_b_out), "{:.2f}"),
             "requests/s / bare, the peer stacks, (b) like for like, line to stdout"),
            ("peers_b_stdout_capacity", _range((capacity(v) for v in peers_b_out), "{:.2f}"),
             "capacity / bare, the peer stacks, (b) like for like, line to stdout"),
        ]  # fmt: skip
        goals, cause_rows = _goals(names, cpu, rps, server_us, threads_us or {})
        lines += goals
        rows += cause_rows
    lines += ["", *figures(rows), "", samples_line("us/request", {v: cpu[v] for v in names})]
    if rps:
        lines.append(samples_line("requests/s", rps, "{:.0f}"))
        lines.append(samples_line("server CPU us/request", server_us, "{:.0f}"))
        for part, what in (("loop_us", "event loop"), ("background_us", "other threads")):
            if threads_us and part in threads_us:
                lines.append(
                    samples_line(f"server CPU us/request, {what}", threads_us[part], "{:.0f}")
                )
    return lines


GOAL_RATIO = 0.9  # end to end, requests/s and capacity, against bare FastAPI


def _goals(
    names: list[str],
    cpu: dict[str, list[float]],
    rps: dict[str, list[float]],
    server_us: dict[str, list[float]],
    threads_us: dict[str, dict[str, list[float]]],
) -> tuple[list[str], list[tuple[str, str, str]]]:
    """The end-to-end goals, met or not, and where the server's added CPU goes: the
    event loop's thread (per request, inline) and the others (bellwatch's flusher:
    lines, counts and writes, in batches), beside the in-process diagnostics."""
    bare = median(server_us["bare"])
    allowed = bare / GOAL_RATIO - bare  # the added server CPU that still gives 0.9x capacity
    bare_cpu = median(cpu["bare"])

    def added(v: str) -> float:
        return median(cpu[v]) - bare_cpu

    def part(name: str, v: str) -> float:
        got = threads_us.get(name, {})
        return median(got[v]) - median(got["bare"]) if v in got and "bare" in got else 0.0

    parts = ""
    if "bellwatch_noline" in cpu and "header_floor" in cpu:
        parts = (
            f"; in-process bellwatch adds +{added('bellwatch'):.1f} us: ids, context and "
            f"counts +{added('bellwatch_noline'):.1f} (its level=ERROR row), the line "
            f"+{added('bellwatch') - added('bellwatch_noline'):.1f}; a header-only layer "
            f"+{added('header_floor'):.1f}"
        )
    lines = ["", "### Goals", "", "| goal | measured | met | where the added CPU goes (measured) |",
             "|---|---|---|---|"]  # fmt: skip
    rows: list[tuple[str, str, str]] = [
        ("allowed_added_us", f"{allowed:.0f}",
         f"server CPU us per request over bare that still gives {GOAL_RATIO}x capacity"),
    ]  # fmt: skip
    for v, where in (("bellwatch", "file"), ("bellwatch_stdout", "stdout")):
        if v not in rps or v not in server_us:
            continue
        ratio = paired(rps[v], rps["bare"])
        capacity = bare / median(server_us[v])
        extra = median(server_us[v]) - bare
        loop, background = part("loop_us", v), part("background_us", v)
        inflation = extra / added(v) if added(v) > 0 else 0.0
        met = "yes" if min(ratio, capacity) >= GOAL_RATIO else "**no**"
        lines.append(
            f"| line to {where}: >= {GOAL_RATIO}x bare requests/s and capacity | {ratio:.2f}x, "
            f"{capacity:.2f}x | {met} | server CPU +{extra:.0f} us per request over bare's "
            f"{bare:.0f} ({GOAL_RATIO}x allows +{allowed:.0f}): event loop {loop:+.0f}, other "
            f"threads {background:+.0f}; {inflation:.1f}x the in-process figure{parts} |"
        )
        rows += [
            (f"{where}_server_added_us", f"{extra:.0f}",
             f"server CPU us per request over bare, line to {where}"),
            (f"{where}_loop_added_us", f"{loop:+.0f}",
             f"of which on the event loop's thread, line to {where}"),
            (f"{where}_background_added_us", f"{background:+.0f}",
             f"of which in the other threads (the flusher), line to {where}"),
            (f"{where}_vs_in_process", f"{inflation:.1f}x",
             f"server CPU added / in-process CPU added, line to {where}"),
        ]  # fmt: skip
    if parts:
        rows += [
            ("noline_added_us", f"{added('bellwatch_noline'):.1f}",
             "in-process: ids, context and counts (bellwatch with level=ERROR)"),
            ("line_us", f"{added('bellwatch') - added('bellwatch_noline'):.1f}",
             "in-process: the request line (built, rendered, batched, written)"),
            ("header_floor_us", f"{added('header_floor'):.1f}",
             "in-process: a pure-ASGI layer that only appends one header"),
        ]  # fmt: skip
    return lines, rows


def _kept_text(names: list[str], kept: dict[str, list[float]]) -> list[str]:
    """What the in-process runs left alive for good (a leak costs CPU too: the collector)."""
    per = {v: median(kept[v]) for v in names}
    leaky = [v for v in names if per[v] >= 1]
    rest = max((per[v] for v in names if v not in leaky), default=0.0)
    text = (
        "Objects no garbage collection could free after an in-process run, per request: "
        + "".join(f"{v} {per[v]:.0f}, " for v in leaky)
        + f"every {'other ' if leaky else ''}variant {rest:.1f} at most."
    )
    if "exporter_cid_picologging" in names:
        text += (
            " picologging keeps the frame of each function that logs alive "
            "(microsoft/picologging#223, open); in a request that frame pins the whole "
            "coroutine chain, so the server's memory grows with every request and the "
            "collector's passes over the growing heap show in the CPU column. That is why "
            "starlette-exporter's (b) logs with structlog, and picologging runs as a "
            "diagnostic, in-process only."
        )
    return [text, ""]


def _range(xs: Any, fmt: str = "{:.0f}") -> str:
    xs = sorted(xs)
    if not xs:  # --variants without the peer stacks
        return "-"
    return f"{fmt.format(xs[0])}-{fmt.format(xs[-1])}"


if __name__ == "__main__":
    raise SystemExit(main())
