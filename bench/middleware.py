"""Per-request cost of request monitoring: bellwatch vs the usual peer stacks.

Same FastAPI app (``GET /api/users/{user_id}``, async route returning a small dict)
in every variant, each in its own process:

- in-process CPU us/request with a minimal ASGI driver (no HTTP, no httpx);
- uvicorn + ``wrk`` on 127.0.0.1, requests/s as a ratio to bare.

Run: .venv/bin/python bench/middleware.py [--rounds 5] [--no-wrk]
Writes bench/results/middleware.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
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
    write_result,
)

VARIANTS = {
    "bare": "bare FastAPI",
    "http_middleware": '`@app.middleware("http")` timing + stdlib JSON log to a file',
    "cid_instrumentator_structlog": "asgi-correlation-id + prometheus-fastapi-instrumentator"
    " + structlog line to a file",
    "exporter_cid": "starlette-exporter + asgi-correlation-id (no log line)",
    "bellwatch": "bellwatch `instrument(app)`, line to a local file, metrics on",
    "bellwatch_stdout": "bellwatch `instrument(app)`, line to stdout (a pipe drained by a"
    " reader process, as the awslogs driver reads it), metrics on",
}
# End to end (uvicorn + wrk) runs these; the diagnostics run in-process only.
WRK = ["bare", "http_middleware", "cid_instrumentator_structlog", "exporter_cid", "bellwatch",
       "bellwatch_stdout"]  # fmt: skip
# What drains a server's stdout: reads 64 KiB at a time and counts the lines it saw.
READER = (
    "import sys\nn = 0\nr = sys.stdin.buffer.raw\n"
    "while chunk := r.read(65536):\n    n += chunk.count(b'\\n')\nprint(n)\n"
)
# Diagnostics: where bellwatch's own cost goes (the line vs everything else).
EXTRA = {
    "bellwatch_noline": "bellwatch with level=ERROR: ids, context and metrics, no line written",
    "bellwatch_nosink": "bellwatch with the line built and rendered but no file or stdout",
    "header_floor": "a pure-ASGI layer that only appends one response header (the floor of any"
    " middleware that returns the correlation id)",
}
PATH = "/api/users/42"


# ---------------------------------------------------------------- the apps


def build_app(variant: str, logdir: str) -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/api/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"id": user_id}

    log_path = os.path.join(logdir, f"{variant}.jsonl")
    if variant == "http_middleware":
        import logging

        logger = logging.getLogger("bench.http")
        handler = logging.FileHandler(log_path)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False

        @app.middleware("http")
        async def timing(request: Any, call_next: Any) -> Any:
            start = time.perf_counter()
            response = await call_next(request)
            line = {
                "timestamp": time.time(),
                "level": "INFO",
                "event": "request_complete",
                "method": request.method,
                "path": request.url.path,
                "status": response.status_code,
                "duration": round(time.perf_counter() - start, 3),
            }
            logger.info(json.dumps(line))
            return response

    elif variant == "cid_instrumentator_structlog":
        import structlog
        from asgi_correlation_id import CorrelationIdMiddleware, correlation_id
        from prometheus_fastapi_instrumentator import Instrumentator

        structlog.configure(
            processors=[
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso"),
                structlog.processors.JSONRenderer(),
            ],
            logger_factory=structlog.WriteLoggerFactory(open(log_path, "a")),  # noqa: SIM115
            cache_logger_on_first_use=True,
        )
        slog = structlog.get_logger()

        class StructlogAccess:
            def __init__(self, inner: Any) -> None:
                self.app = inner

            async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
                if scope["type"] != "http":
                    await self.app(scope, receive, send)
                    return
                start = time.perf_counter()
                status = 500

                async def send_status(message: Any) -> None:
                    nonlocal status
                    if message["type"] == "http.response.start":
                        status = message["status"]
                    await send(message)

                await self.app(scope, receive, send_status)
                route = scope.get("route")
                slog.info(
                    "request_complete",
                    correlation_id=correlation_id.get(),
                    method=scope["method"],
                    path=getattr(route, "path", scope["path"]),
                    status=status,
                    duration=round(time.perf_counter() - start, 3),
                )

        app.add_middleware(StructlogAccess)
        Instrumentator().instrument(app)
        app.add_middleware(CorrelationIdMiddleware)

    elif variant == "exporter_cid":
        from asgi_correlation_id import CorrelationIdMiddleware
        from starlette_exporter import PrometheusMiddleware

        app.add_middleware(PrometheusMiddleware)
        app.add_middleware(CorrelationIdMiddleware)

    elif variant == "bellwatch":
        import bellwatch
        from bellwatch import instrument

        bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, service=variant)
        instrument(app)
    elif variant == "bellwatch_stdout":
        import bellwatch
        from bellwatch import instrument

        bellwatch.configure(stdout=True, log_file=False)
        instrument(app)
    elif variant == "bellwatch_nosink":
        import bellwatch
        from bellwatch import instrument

        bellwatch.configure(stdout=False, log_file=False)
        instrument(app)
    elif variant == "bellwatch_noline":
        import bellwatch
        from bellwatch import instrument

        bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, level="ERROR")
        instrument(app)
    elif variant == "header_floor":
        inner = app

        async def header_only(scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] != "http":
                await inner(scope, receive, send)
                return

            async def send_with_header(message: Any) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", ()),
                        (b"x-request-id", b"0123456789ab"),
                    ]
                await send(message)

            await inner(scope, receive, send_with_header)

        return header_only
    elif variant != "bare":
        raise SystemExit(f"unknown variant {variant}")
    return app


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
        start = time.process_time()
        asyncio.run(drive(app, n))
        if "bellwatch" in sys.modules:
            import bellwatch

            bellwatch.flush()  # queued requests and buffered lines are part of the cost
        cpu = time.process_time() - start
        print(json.dumps({"us": cpu / n * 1e6}))
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


# ---------------------------------------------------------------- uvicorn + wrk


def child_serve(variant: str, port: int) -> None:
    import uvicorn

    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(variant, logdir)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
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
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{variant} server did not start") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}{PATH}"
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], capture_output=True, check=True)
        before = cpu_ticks(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        ticks = cpu_ticks(server.pid) - before
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        total = re.search(r"(\d+) requests in", out)
        if not match or not total or "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"{variant}: unexpected wrk output\n{out}")
        hz = os.sysconf("SC_CLK_TCK")
        result = {"rps": float(match.group(1)), "cpu_us": ticks / hz / int(total.group(1)) * 1e6}
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        lines_seen = int(reader.communicate(timeout=30)[0].strip() or 0)
    if variant == "bellwatch_stdout" and lines_seen < int(total.group(1)):
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
        else:
            child_serve(variant, args.port)
        return 0
    if args.profile:
        child_cpu(args.profile, args.requests, profile=True)
        return 0

    names = [*VARIANTS, *EXTRA]
    labels = {**VARIANTS, **{k: f"diagnostic: {v}" for k, v in EXTRA.items()}}
    if args.variants:
        names = ["bare", "bellwatch", *[v for v in args.variants.split(",") if v not in names[:1]]]
        names = list(dict.fromkeys(names))
    cpu = interleaved(
        names,
        args.rounds,
        lambda v: run_child([__file__, "--child", "cpu", v, "--requests", str(args.requests)])[
            "us"
        ],
        label="middleware in-process",
    )
    wrk_names = [v for v in names if v in WRK]
    rps: dict[str, list[float]] = {}
    server_us: dict[str, list[float]] = {}
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

    bare_us = median(cpu["bare"])
    lines = [
        "## Request monitoring middleware (bench/middleware.py)",
        "",
        f"Same FastAPI app and route in every variant, each in its own process; {args.rounds} "
        f"interleaved rounds, median. In-process: CPU per request over {args.requests} requests "
        "driven by a minimal ASGI caller (no server, no client library; stdout, where used, is a "
        "pipe the parent process drains). End to end: uvicorn (1 worker, access log off) + "
        f"`wrk -t1 -c{args.connections} -d{args.wrk_seconds}s` on 127.0.0.1, the server's stdout "
        "a pipe drained by a reader process (as the ECS awslogs driver reads a container's "
        "stdout), which checks it saw a line per request. Diagnostics run in-process only.",
        "",
        machine_md(["fastapi", "starlette", "uvicorn", "structlog"]),
        "",
        "| variant | CPU us/request | added us | added / bellwatch's"
        " | requests/s | ratio to bare (paired) | server CPU us/request | capacity ratio to bare |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    bw_added = median(cpu["bellwatch"]) - bare_us

    def rps_ratio(v: str) -> float:
        return paired(rps[v], rps["bare"])

    def capacity(v: str) -> float:
        return median(server_us["bare"]) / median(server_us[v])

    for v in names:
        us = median(cpu[v])
        added = us - bare_us
        ratio = (
            f"{added / bw_added:.1f}x" if v not in ("bare", "bellwatch") and bw_added > 0 else ""
        )
        if v in rps:
            rps_cells = (
                f"{median(rps[v]):,.0f} | {rps_ratio(v):.2f}x | {median(server_us[v]):.0f} | "
                f"{capacity(v):.2f}x"
            )
        else:
            rps_cells = "- | - | - | -"
        added_cell = "" if v == "bare" else f"{added:+.1f}"
        lines.append(f"| {labels[v]} | {us:.1f} | {added_cell} | {ratio} | {rps_cells} |")
    lines += [
        "",
        "Paired ratio: median over rounds of (variant requests/s / bare requests/s in the same "
        "round). Capacity ratio: bare's server CPU per request / the variant's, i.e. the "
        "requests/s ratio when the server's core is the bottleneck; it is far less sensitive "
        "to other load on this shared machine than raw requests/s. The stdout reader and wrk "
        "share the machine's other core, as the awslogs driver shares a task's.",
        "",
        f"bellwatch adds {bw_added:.1f} us CPU per request in-process (goal <= 30 us).",
    ]
    peers = [v for v in ("http_middleware", "cid_instrumentator_structlog", "exporter_cid")
             if v in names]  # fmt: skip
    rows = [
        ("added_us", f"{bw_added:.0f}", "CPU us bellwatch adds per request, in-process"),
        ("peers_added_us", _range(median(cpu[v]) - bare_us for v in peers),
         "CPU us the peer stacks add per request, in-process"),
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
        rows.append(
            ("peers_rps", _range((rps_ratio(v) for v in peers), "{:.2f}"),
             "requests/s / bare, the peer stacks"),
        )  # fmt: skip
    lines += ["", *figures(rows), "", samples_line("us/request", {v: cpu[v] for v in names})]
    if rps:
        lines.append(samples_line("requests/s", rps, "{:.0f}"))
        lines.append(samples_line("server CPU us/request", server_us, "{:.0f}"))
    print("\n".join(lines))
    if not args.variants:
        print(f"\nwrote {write_result('middleware', chr(10).join(lines))}")
    return 0


def _range(xs: Any, fmt: str = "{:.0f}") -> str:
    xs = sorted(xs)
    if not xs:  # --variants without the peer stacks
        return "-"
    return f"{fmt.format(xs[0])}-{fmt.format(xs[-1])}"


if __name__ == "__main__":
    raise SystemExit(main())
