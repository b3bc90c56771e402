"""Per-request cost of the Redis store vs the in-process store, same app, same run.

Variants, each in its own process, interleaved round by round:

- ``memory``: ``instrument(app)`` with the default in-process store;
- ``redis``: the same with ``BELLWATCH_REDIS_URL`` set (a redis-server this script
  starts on a free loopback port, no persistence);
- ``redis_down``: ``BELLWATCH_REDIS_URL`` pointing at a closed port (degraded mode).

Measured: CPU per request in-process (a minimal ASGI caller, no server), with the
final flush to Redis inside the timed region and the flusher thread's CPU included
(``time.process_time`` is per process); and p50/p99 latency end to end through
uvicorn with ``wrk --latency``.

Run: .venv/bin/python bench/redis_store.py [--rounds 5] [--no-wrk]
Writes bench/results/redis_store.md.
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
    free_port,
    interleaved,
    machine,
    median,
    run_child,
    write_result,
)

VARIANTS = {
    "memory": "in-process store (default)",
    "redis": "Redis store (`BELLWATCH_REDIS_URL`), flush every 1 s",
    "redis_down": "Redis store, Redis unreachable (degraded, buffering)",
}
PATH = "/api/users/42"


def build_app(logdir: str) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import bellwatch
    from bellwatch.asgi.middleware import instrument

    async def user(request: Any) -> JSONResponse:
        user_id = int(request.path_params["user_id"])
        bellwatch.bind(sid=f"s{user_id % 100}")  # a session per caller, as a CallSid would be
        return JSONResponse({"id": user_id})

    bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, service="bench")
    return instrument(Starlette(routes=[Route("/api/users/{user_id:int}", user)]))


async def drive(app: Any, n: int, latencies: list[float] | None = None) -> None:
    headers = [(b"host", b"bench"), (b"user-agent", b"bench"), (b"accept", b"*/*")]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        pass

    for _ in range(n):
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": PATH, "raw_path": PATH.encode(),
            "root_path": "", "query_string": b"", "headers": list(headers),
            "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 8000),
        }  # fmt: skip
        start = time.perf_counter()
        await app(scope, receive, send)
        if latencies is not None:
            latencies.append(time.perf_counter() - start)


def child_cpu(n: int) -> None:
    from bellwatch.monitor.monitor import get_monitor

    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(logdir)
        asyncio.run(drive(app, 1000))  # warm-up: middleware stack, caches, first flush
        store: Any = get_monitor().store
        flush = getattr(store, "flush", None)
        if flush is not None:
            flush()
        latencies: list[float] = []
        start = time.process_time()
        asyncio.run(drive(app, n, latencies))
        if flush is not None:
            flush()  # the shipping cost of these requests is part of their cost
        cpu = time.process_time() - start
        latencies.sort()
        print(json.dumps({"us": cpu / n * 1e6,
                          "p99_us": latencies[int(0.99 * len(latencies))] * 1e6,
                          "overflowed": getattr(store, "overflowed", 0)}))  # fmt: skip
        get_monitor().store.close()
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def child_serve(port: int) -> None:
    import uvicorn

    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(logdir)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def wrk_latency(env: dict[str, str], seconds: int, connections: int) -> dict[str, float]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--child", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("server did not start") from None
                time.sleep(0.05)
        url = f"http://127.0.0.1:{port}{PATH}"
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], capture_output=True, check=True)
        ticks = cpu_ticks(server.pid)
        out = subprocess.run(
            ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        used = (cpu_ticks(server.pid) - ticks) / os.sysconf("SC_CLK_TCK")
        if "Non-2xx" in out or "Socket errors" in out:
            raise RuntimeError(f"unexpected wrk output\n{out}")
        done = re.search(r"(\d+) requests in", out)
        if done is None:
            raise RuntimeError(f"no request count in wrk output\n{out}")
        result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
                  "server_us": used / int(done.group(1)) * 1e6}  # fmt: skip
        for pct in ("50", "99"):
            m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
            if m is None:
                raise RuntimeError(f"no {pct}% in wrk output\n{out}")
            scale = {"us": 1.0, "ms": 1e3, "s": 1e6}[m.group(2)]
            result[f"p{pct}_us"] = float(m.group(1)) * scale
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _paired(runs: dict[str, list[dict[str, float]]], v: str, key: str) -> float:
    """Median over rounds of ``v``'s value divided by the in-process store's in that round."""
    return median([a[key] / b[key] for a, b in zip(runs[v], runs["memory"], strict=True)])


def start_redis() -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--loglevel", "warning"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, port
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("redis-server did not start")
        time.sleep(0.05)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--wrk-seconds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--no-wrk", action="store_true")
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.child:
        if args.child[0] == "cpu":
            child_cpu(args.requests)
        else:
            child_serve(args.port)
        return 0

    redis, redis_port = start_redis()
    try:
        envs = {
            "memory": {"BELLWATCH_REDIS_URL": ""},
            "redis": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"},
            "redis_down": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        }
        names = list(VARIANTS)
        cpu_runs: dict[str, list[dict[str, float]]] = {v: [] for v in names}

        def cpu_round(v: str) -> float:
            out = run_child([__file__, "--child", "cpu", "--requests", str(args.requests)],
                            env=envs[v])  # fmt: skip
            cpu_runs[v].append(out)
            return float(out["us"])

        cpu = interleaved(names, args.rounds, cpu_round)
        lat: dict[str, list[dict[str, float]]] = {v: [] for v in ("memory", "redis")}
        if not args.no_wrk and shutil.which("wrk"):

            def wrk_round(v: str) -> float:
                out = wrk_latency(envs[v], args.wrk_seconds, args.connections)
                lat[v].append(out)
                return out["p99_us"]

            interleaved(list(lat), args.rounds, wrk_round)
    finally:
        redis.terminate()
        redis.wait(10)

    base = median(cpu["memory"])
    p99_in = {v: median([r["p99_us"] for r in cpu_runs[v]]) for v in names}
    lines = [
        "## Redis store vs in-process store (bench/redis_store.py)",
        "",
        f"Same Starlette app (`instrument(app)`, one route binding a session id, line to a "
        f"local file) in every variant, each in its own process; {args.rounds} interleaved "
        f"rounds, median. CPU per request over {args.requests} requests driven by a minimal "
        "ASGI caller, flusher thread included and the final flush inside the timed region "
        "(the redis-server's own CPU is not counted). {machine}.".replace("{machine}", machine()),
        "",
        "| variant | CPU us/request | added us vs in-process | ratio | in-process p99 us "
        "| p99 ratio (paired per round) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for v in names:
        us = median(cpu[v])
        added = "" if v == "memory" else f"{us - base:+.1f}"
        lines.append(f"| {VARIANTS[v]} | {us:.1f} | {added} | {us / base:.2f}x | "
                     f"{p99_in[v]:.0f} | {_paired(cpu_runs, v, 'p99_us'):.2f}x |")  # fmt: skip
    if any(lat.values()):
        lines += [
            "",
            f"End to end: uvicorn (1 worker, access log off) + `wrk -t1 -c{args.connections} "
            f"-d{args.wrk_seconds}s --latency` on 127.0.0.1, median of {args.rounds} "
            "interleaved rounds.",
            "",
            "| variant | p50 us | p99 us | p99 ratio (paired) | requests/s | ratio (paired) "
            "| server CPU us/request | ratio (paired) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        keys = ("p50_us", "p99_us", "rps", "server_us")
        m = {v: {k: median([r[k] for r in lat[v]]) for k in keys} for v in lat}
        for v in lat:
            lines.append(
                f"| {VARIANTS[v]} | {m[v]['p50_us']:.0f} | {m[v]['p99_us']:.0f} | "
                f"{_paired(lat, v, 'p99_us'):.2f}x | {m[v]['rps']:,.0f} | "
                f"{_paired(lat, v, 'rps'):.2f}x | {m[v]['server_us']:.0f} | "
                f"{_paired(lat, v, 'server_us'):.2f}x |"
            )
    added = median(cpu["redis"]) - base
    lines += [
        "",
        f"The Redis store adds {added:.1f} us CPU per request over the in-process store "
        "(goal <= 10 us).",
        "",
        "Raw samples (CPU us/request): "
        + "; ".join(f"{v} {', '.join(f'{x:.1f}' for x in cpu[v])}" for v in names),
        "Raw samples (in-process p99 us): "
        + "; ".join(f"{v} " + ", ".join(f"{r['p99_us']:.0f}" for r in cpu_runs[v]) for v in names),
    ]
    if any(lat.values()):
        lines.append(
            "Raw samples (wrk p99 us): "
            + "; ".join(f"{v} " + ", ".join(f"{r['p99_us']:.0f}" for r in lat[v]) for v in lat)
        )
        lines.append(
            "Raw samples (server CPU us/request under wrk): "
            + "; ".join(f"{v} " + ", ".join(f"{r['server_us']:.0f}" for r in lat[v]) for v in lat)
        )
    path = write_result("redis_store", "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
