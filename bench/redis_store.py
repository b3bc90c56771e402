"""The Redis store vs the in-process store, end to end under uvicorn + wrk.

The same Starlette app (`instrument(app)`, one route that binds a session id, the line
to a local file) runs under uvicorn (1 worker, access log off) in three variants:

- ``memory``: the default in-process store;
- ``redis``: ``BELLWATCH_REDIS_URL`` set, a redis-server this script starts on a free
  loopback port (no persistence), flushed every second by the background thread;
- ``redis_down``: ``BELLWATCH_REDIS_URL`` pointing at a closed port (degraded mode).

Each round starts every variant's server afresh, warms it with 1 s of traffic, then
runs ``wrk --latency`` against it and reads the server process's CPU (all its threads,
the flusher included) and, for ``redis``, the redis-server's CPU over the same
seconds. Rounds are interleaved with the order rotated; ratios are paired by round
(each variant divided by the in-process store of the same round), then the median.

Run: .venv/bin/python bench/redis_store.py [--rounds 7] [--wrk-seconds 3]
Writes bench/results/redis_store.md.
"""

from __future__ import annotations

import argparse
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
    samples_line,
    thread_ticks,
    wait_for_port,
    write_result,
)

VARIANTS = {
    "memory": "in-process store (default)",
    "redis": "Redis store (`BELLWATCH_REDIS_URL`), flushed every 1 s",
    "redis_down": "Redis store, Redis unreachable (degraded, buffering)",
}
PATH = "/api/users/42"


def build_app(logdir: str) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    import bellwatch
    from bellwatch import instrument

    async def user(request: Any) -> JSONResponse:
        user_id = int(request.path_params["user_id"])
        bellwatch.bind(sid=f"s{user_id % 100}")  # a session per caller, as a CallSid would be
        return JSONResponse({"id": user_id})

    bellwatch.configure(stdout=False, log_file=True, log_dir=logdir, service="bench")
    return instrument(Starlette(routes=[Route("/api/users/{user_id:int}", user)]))


def child_serve(port: int) -> None:
    import uvicorn

    logdir = tempfile.mkdtemp(prefix="bw-bench-")
    try:
        app = build_app(logdir)
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def parse_wrk(out: str) -> dict[str, float]:
    """Requests, requests/s and the 50th/99th percentile latency (us) from `wrk --latency`."""
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"unexpected wrk output\n{out}")
    done = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if done is None or rps is None:
        raise RuntimeError(f"no request count in wrk output\n{out}")
    result = {"requests": float(done.group(1)), "rps": float(rps.group(1))}
    for pct in ("50", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if m is None:
            raise RuntimeError(f"no {pct}% in wrk output\n{out}")
        result[f"p{pct}_us"] = float(m.group(1)) * {"us": 1.0, "ms": 1e3, "s": 1e6}[m.group(2)]
    return result


def wrk_round(env: dict[str, str], redis_pid: int | None, seconds: int, conns: int) -> dict:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    try:
        wait_for_port(port, server, "server")
        url = f"http://127.0.0.1:{port}{PATH}"
        subprocess.run(["wrk", "-t1", "-c8", "-d1s", url], capture_output=True, check=True)
        hz = os.sysconf("SC_CLK_TCK")
        ticks = cpu_ticks(server.pid)
        threads = thread_ticks(server.pid)
        redis_ticks = cpu_ticks(redis_pid) if redis_pid else 0
        out = subprocess.run(
            ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        time.sleep(1.1)  # the flusher's last batch of these requests reaches Redis
        used = (cpu_ticks(server.pid) - ticks) / hz
        main, background = (b - a for a, b in zip(threads, thread_ticks(server.pid), strict=True))
        result = parse_wrk(out)
        n = result["requests"]
        result["server_us"] = used / n * 1e6
        # The event loop's thread vs bellwatch's background threads (log and store flushers).
        result["main_us"] = main / hz / n * 1e6
        result["background_us"] = background / hz / n * 1e6
        if redis_pid:
            result["redis_us"] = (cpu_ticks(redis_pid) - redis_ticks) / hz / n * 1e6
        return result
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


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
    q = quick()
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2 if q else 7)
    ap.add_argument("--wrk-seconds", type=int, default=2 if q else 3)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.serve:
        child_serve(args.port)
        return 0
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it)")

    redis, redis_port = start_redis()
    try:
        envs = {
            "memory": {"BELLWATCH_REDIS_URL": ""},
            "redis": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"},
            "redis_down": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        }
        runs: dict[str, list[dict[str, float]]] = {v: [] for v in VARIANTS}

        def measure(v: str) -> float:
            pid = redis.pid if v == "redis" else None
            out = wrk_round(envs[v], pid, args.wrk_seconds, args.connections)
            runs[v].append(out)
            return out["p99_us"]

        interleaved(list(VARIANTS), args.rounds, measure, label="redis_store")
    finally:
        redis.terminate()
        redis.wait(10)

    def col(v: str, key: str) -> list[float]:
        return [r[key] for r in runs[v]]

    ratio = {
        v: {
            k: paired(col(v, k), col("memory", k)) for k in ("p99_us", "p50_us", "rps", "server_us")
        }
        for v in VARIANTS
    }
    redis_us = median(col("redis", "redis_us"))
    lines = [
        "## Redis store vs in-process store (bench/redis_store.py)",
        "",
        "Same Starlette app (`instrument(app)`, one route binding a session id, line to a local "
        "file) under uvicorn (1 worker, access log off), driven by "
        f"`wrk -t1 -c{args.connections} -d{args.wrk_seconds}s --latency` on 127.0.0.1 after 1 s "
        f"of warm-up; {args.rounds} interleaved rounds, a fresh server each time. Server CPU is "
        "the uvicorn process's (every thread, the store's flusher included) over the wrk run and "
        "the second after it, per request. Ratios are paired by round, then the median.",
        "",
        machine_md(["redis", "uvicorn", "starlette"]),
        "",
        "| variant | p50 us | p99 us | p99 ratio | requests/s | ratio "
        "| server CPU us/request | ratio | of which event loop | of which background threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v, label in VARIANTS.items():
        lines.append(
            f"| {label} | {median(col(v, 'p50_us')):.0f} | {median(col(v, 'p99_us')):.0f} | "
            f"{ratio[v]['p99_us']:.2f}x | {median(col(v, 'rps')):,.0f} | {ratio[v]['rps']:.2f}x | "
            f"{median(col(v, 'server_us')):.0f} | {ratio[v]['server_us']:.2f}x | "
            f"{median(col(v, 'main_us')):.1f} | {median(col(v, 'background_us')):.1f} |"
        )
    r = ratio["redis"]
    lines += [
        "",
        f"**With the Redis store, p99 is {r['p99_us']:.2f}x and server CPU per request "
        f"{r['server_us']:.2f}x the in-process store's** (goals <= 1.05x each). redis-server "
        f"itself spent {redis_us:.1f} us CPU per request on top (not in the ratio).",
        "",
        *figures(
            [
                ("redis_p99", f"{r['p99_us']:.2f}x", "p99 with Redis / in-process, paired"),
                ("redis_cpu", f"{r['server_us']:.2f}x", "server CPU/request, Redis / in-process"),
                ("redis_rps", f"{r['rps']:.2f}x", "requests/s, Redis / in-process"),
                ("redis_server_us", f"{redis_us:.1f}", "redis-server CPU us per request"),
                (
                    "redis_loop_added_us",
                    f"{median(col('redis', 'main_us')) - median(col('memory', 'main_us')):+.1f}",
                    "event-loop CPU us/request, Redis minus in-process",
                ),
                (
                    "redis_background_added_us",
                    f"{median(col('redis', 'background_us')) - median(col('memory', 'background_us')):+.1f}",
                    "background-thread CPU us/request, Redis minus in-process",
                ),
                ("down_p99", f"{ratio['redis_down']['p99_us']:.2f}x", "p99, Redis down"),
                ("down_cpu", f"{ratio['redis_down']['server_us']:.2f}x", "server CPU, Redis down"),
            ]
        ),
        "",
        samples_line("wrk p99 us", {v: col(v, "p99_us") for v in VARIANTS}, "{:.0f}"),
        samples_line("requests/s", {v: col(v, "rps") for v in VARIANTS}, "{:.0f}"),
        samples_line("server CPU us/request", {v: col(v, "server_us") for v in VARIANTS}),
        samples_line("redis-server CPU us/request", {"redis": col("redis", "redis_us")}),
        samples_line("event-loop CPU us/request", {v: col(v, "main_us") for v in VARIANTS}),
        samples_line("background CPU us/request", {v: col(v, "background_us") for v in VARIANTS}),
    ]
    path = write_result("redis_store", "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
