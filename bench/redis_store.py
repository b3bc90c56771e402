"""The Redis store vs the in-process store, end to end under uvicorn + wrk.

The same Starlette app (`instrument(app)`, one route that binds a session id, the line
to a local file) runs under uvicorn (1 worker, access log off) in three variants:

- ``memory``: the default in-process store;
- ``redis``: ``BELLWATCH_REDIS_URL`` set, a redis-server this script starts on a free
  loopback port (no persistence), flushed every second by the background thread;
- ``redis_down``: ``BELLWATCH_REDIS_URL`` pointing at a closed port (degraded mode).

Each round starts the three servers afresh and warms each with ``--warm`` seconds of
traffic (3: past the store's first rounds, which load the script, read the cluster
once and finish lazy imports, one-time costs of a process's first seconds, not of its
steady state); then ``wrk --latency`` drives them in turn, in short slices, the order
rotated from slice to slice and from round to round (so that over 3 rounds each
variant is first, second and third after the warm-up equally often), so that the
variants compared share the machine's other load slice by slice (on a shared
machine, a p99 is mostly the other processes' doing: measured minutes apart, two
p99s of one server differ by 5x). After each slice the script waits 1.1 s (the
flusher's batch of those requests reaches Redis) and reads the server process's CPU
(all its threads) and, for ``redis``, the redis-server's. A variant's p50 and p99 are
those of all its requests, pooled over its slices (wrk's percentiles of each slice,
weighted by its requests); its CPU per request is its CPU over its slices / its
requests. Ratios compare those pooled figures; the raw samples are per slice.

Slices last 10 s, each started after a random pause of up to 1 s (seeded): a full
garbage collection of the process's heap (every few seconds under this load, tens of
milliseconds, longer with redis-py imported) sets the p99 of any slice it falls in,
and with 2 s slices on a fixed schedule a variant's collections fell into the same
slices of every round. Long slices hold several collections each, and the pauses
break the phase lock between the schedule and the collector.

Run: .venv/bin/python bench/redis_store.py [--rounds 3] [--slices 3] [--wrk-seconds 10] [--warm 3]
Writes bench/results/redis_store.md.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
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
    machine_md,
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


# wrk's Lua `done` hook writes a run's requests, min, max and a ladder of percentiles
# (us), from which the slices of one variant are pooled.
LADDER = (1, 5, 10, 25, 50, 75, 90, 95, 97, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9)
WRK_SCRIPT = """
done = function(summary, latency, requests)
  local f = io.open(os.getenv("BENCH_WRK_OUT"), "w")
  f:write(summary.requests, "\\n", latency.min, "\\n", latency.max, "\\n")
  for _, p in ipairs({LADDER}) do f:write(p, " ", latency:percentile(p), "\\n") end
  f:close()
end
""".replace("LADDER", ", ".join(str(p) for p in LADDER))


def read_wrk(out: str, path: str) -> dict[str, Any]:
    """Requests/s from wrk's output; requests and the latency ladder from its hook's file."""
    if "Non-2xx" in out or "Socket errors" in out:
        raise RuntimeError(f"unexpected wrk output\n{out}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if rps is None:
        raise RuntimeError(f"no request count in wrk output\n{out}")
    lines = Path(path).read_text().split("\n")
    ladder = [(0.0, float(lines[1]))]
    ladder += [(float(a), float(b)) for a, b in (x.split() for x in lines[3:] if x.strip())]
    ladder.append((100.0, float(lines[2])))
    p99 = dict(ladder)[99.0]
    return {"requests": float(lines[0]), "rps": float(rps.group(1)), "ladder": ladder,
            "p99_us_slice": p99}  # fmt: skip


def _cdf(ladder: list[tuple[float, float]], x: float) -> float:
    """The share (0-100) of a slice's requests at or below ``x`` us, between its percentiles."""
    if x <= ladder[0][1]:
        return 0.0
    for (p0, q0), (p1, q1) in itertools.pairwise(ladder):
        if x <= q1:
            return p1 if q1 == q0 else p0 + (p1 - p0) * (x - q0) / (q1 - q0)
    return 100.0


def pooled(slices: list[dict[str, Any]], pct: float) -> float:
    """The ``pct`` percentile of every request of these slices, each slice weighted by its
    requests (its distribution read between wrk's percentiles)."""
    total = sum(s["requests"] for s in slices)
    lo = min(s["ladder"][0][1] for s in slices)
    hi = max(s["ladder"][-1][1] for s in slices)
    for _ in range(60):
        mid = (lo + hi) / 2
        share = sum(s["requests"] * _cdf(s["ladder"], mid) for s in slices) / total
        if share < pct:
            lo = mid
        else:
            hi = mid
    return hi


def start_server(env: dict[str, str], warm: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, **env},
    )
    wait_for_port(port, server, "server")
    url = f"http://127.0.0.1:{port}{PATH}"
    subprocess.run(["wrk", "-t1", "-c8", f"-d{warm}s", url], capture_output=True, check=True)
    return server, url


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()


def wrk_slice(
    server: subprocess.Popen[bytes], url: str, redis_pid: int | None, seconds: int, conns: int,
    script: str, out_path: str,
) -> dict[str, Any]:  # fmt: skip
    """One slice of traffic against a running server: latency, requests/s and CPU per request."""
    hz = os.sysconf("SC_CLK_TCK")
    ticks = cpu_ticks(server.pid)
    threads = thread_ticks(server.pid)
    redis_ticks = cpu_ticks(redis_pid) if redis_pid else 0
    out = subprocess.run(
        ["wrk", "-t1", f"-c{conns}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BENCH_WRK_OUT": out_path},
    ).stdout
    time.sleep(1.1)  # the flusher's batch of these requests reaches Redis
    result = read_wrk(out, out_path)
    result["cpu_s"] = (cpu_ticks(server.pid) - ticks) / hz
    main, background = (b - a for a, b in zip(threads, thread_ticks(server.pid), strict=True))
    result["main_s"], result["background_s"] = main / hz, background / hz
    result["seconds"] = seconds
    if redis_pid:
        result["redis_s"] = (cpu_ticks(redis_pid) - redis_ticks) / hz
    return result


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
    ap.add_argument("--rounds", type=int, default=2 if q else 3)
    ap.add_argument("--slices", type=int, default=2 if q else 3)
    ap.add_argument("--wrk-seconds", type=int, default=4 if q else 10)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--warm", type=int, default=3, help="seconds of traffic before measuring")
    ap.add_argument("--serve", action="store_true")
    ap.add_argument("--port", type=int)
    args = ap.parse_args()
    if args.serve:
        child_serve(args.port)
        return 0
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk (make bench installs it)")

    names = list(VARIANTS)
    jitter = random.Random(18)  # the same pauses each run: a reproducible schedule
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in names}
    redis, redis_port = start_redis()
    tmp = tempfile.mkdtemp(prefix="bw-wrk-")
    script = os.path.join(tmp, "ladder.lua")
    Path(script).write_text(WRK_SCRIPT)
    try:
        envs = {
            "memory": {"BELLWATCH_REDIS_URL": ""},
            "redis": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0"},
            "redis_down": {"BELLWATCH_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"},
        }
        for r in range(args.rounds):
            started = time.monotonic()
            servers = {v: start_server(envs[v], args.warm) for v in names}
            try:
                for i in range(args.slices):
                    # Rotated by slice and by round: with as many slices as variants, a
                    # rotation by slice alone starts every round in the same order.
                    turn = (r + i) % len(names)
                    order = names[turn:] + names[:turn]
                    for v in order:
                        server, url = servers[v]
                        pid = redis.pid if v == "redis" else None
                        out = os.path.join(tmp, f"{v}.txt")
                        time.sleep(jitter.uniform(0.0, 1.0))
                        runs[v].append(
                            wrk_slice(server, url, pid, args.wrk_seconds, args.connections,
                                      script, out)
                        )  # fmt: skip
            finally:
                for server, _ in servers.values():
                    stop(server)
            took = time.monotonic() - started
            print(f"  redis_store: round {r + 1}/{args.rounds} done in {took:.0f} s",
                  file=sys.stderr, flush=True)  # fmt: skip
    finally:
        redis.terminate()
        redis.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)

    def total(v: str, key: str) -> float:
        return sum(r[key] for r in runs[v])

    def per_request(v: str, key: str) -> float:
        return total(v, key) / total(v, "requests") * 1e6

    def col(v: str, key: str) -> list[float]:
        return [r[key] for r in runs[v]]

    fig = {
        v: {
            "p50_us": pooled(runs[v], 50.0),
            "p99_us": pooled(runs[v], 99.0),
            "rps": total(v, "requests") / total(v, "seconds"),
            "server_us": per_request(v, "cpu_s"),
            "main_us": per_request(v, "main_s"),
            "background_us": per_request(v, "background_s"),
        }
        for v in names
    }
    # Ratios of the figures compared (a background thread may spend no whole tick in a run).
    ratio = {
        v: {k: fig[v][k] / fig["memory"][k] for k in ("p50_us", "p99_us", "rps", "server_us")}
        for v in names
    }
    redis_us = per_request("redis", "redis_s")
    n = args.rounds * args.slices
    lines = [
        "## Redis store vs in-process store (bench/redis_store.py)",
        "",
        "Same Starlette app (`instrument(app)`, one route binding a session id, line to a local "
        "file) under uvicorn (1 worker, access log off), driven by "
        f"`wrk -t1 -c{args.connections} -d{args.wrk_seconds}s --latency` on 127.0.0.1. "
        f"{args.rounds} rounds, each starting the three servers afresh and warming each for "
        f"{args.warm} s (past the Redis store's first rounds: script load, first cluster read, "
        f"lazy imports), then {args.slices} slices per variant, one variant after the other "
        "(order rotated by slice and by round, each slice after a seeded random pause of up to "
        "1 s, so that the process's full garbage collections, which set the p99 of the slice "
        "they fall in, do not land in the same slices round after round), "
        f"{n} slices per variant in all: the variants share the machine's other load slice by "
        "slice. p50 and p99 are those of all a variant's requests, pooled over its slices (each "
        "slice's wrk percentiles weighted by its requests). Server CPU is the uvicorn process's "
        "(every thread, the store's flusher included) over each slice and the 1.1 s after it "
        "(its batch reaches Redis), summed, per request.",
        "",
        machine_md(["redis", "uvicorn", "starlette"]),
        "",
        "| variant | p50 us | p99 us | p99 ratio | requests/s | ratio "
        "| server CPU us/request | ratio | of which event loop | of which background threads |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for v, label in VARIANTS.items():
        f, x = fig[v], ratio[v]
        lines.append(
            f"| {label} | {f['p50_us']:.0f} | {f['p99_us']:.0f} | {x['p99_us']:.2f}x | "
            f"{f['rps']:,.0f} | {x['rps']:.2f}x | {f['server_us']:.0f} | {x['server_us']:.2f}x | "
            f"{f['main_us']:.1f} | {f['background_us']:.1f} |"
        )
    r = ratio["redis"]
    lines += [
        "",
        f"**With the Redis store, p99 is {r['p99_us']:.2f}x and server CPU per request "
        f"{r['server_us']:.2f}x the in-process store's** (goals <= 1.05x each). redis-server "
        f"itself spent {redis_us:.1f} us CPU per request on top (not in the ratio). Slice by "
        "slice (the median of each slice's p99 over the in-process store's p99 in the same "
        f"turn): {paired(col('redis', 'p99_us_slice'), col('memory', 'p99_us_slice')):.2f}x.",
        "",
        *figures(
            [
                ("redis_p99", f"{r['p99_us']:.2f}x", "p99 with Redis / in-process, pooled"),
                ("redis_cpu", f"{r['server_us']:.2f}x", "server CPU/request, Redis / in-process"),
                ("redis_rps", f"{r['rps']:.2f}x", "requests/s, Redis / in-process"),
                ("redis_server_us", f"{redis_us:.1f}", "redis-server CPU us per request"),
                (
                    "redis_loop_added_us",
                    f"{fig['redis']['main_us'] - fig['memory']['main_us']:+.1f}",
                    "event-loop CPU us/request, Redis minus in-process",
                ),
                (
                    "redis_background_added_us",
                    f"{fig['redis']['background_us'] - fig['memory']['background_us']:+.1f}",
                    "background-thread CPU us/request, Redis minus in-process",
                ),
                ("down_p99", f"{ratio['redis_down']['p99_us']:.2f}x", "p99, Redis down"),
                ("down_cpu", f"{ratio['redis_down']['server_us']:.2f}x", "server CPU, Redis down"),
            ]
        ),
        "",
        samples_line("wrk p99 us, per slice", {v: col(v, "p99_us_slice") for v in names}, "{:.0f}"),
        samples_line("requests/s, per slice", {v: col(v, "rps") for v in names}, "{:.0f}"),
        samples_line(
            "server CPU us/request, per slice",
            {v: [x["cpu_s"] / x["requests"] * 1e6 for x in runs[v]] for v in names},
        ),
        samples_line(
            "event-loop CPU us/request, per slice",
            {v: [x["main_s"] / x["requests"] * 1e6 for x in runs[v]] for v in names},
        ),
        samples_line(
            "background CPU us/request, per slice",
            {v: [x["background_s"] / x["requests"] * 1e6 for x in runs[v]] for v in names},
        ),
        samples_line(
            "redis-server CPU us/request, per slice",
            {"redis": [x["redis_s"] / x["requests"] * 1e6 for x in runs["redis"]]},
        ),
    ]
    path = write_result("redis_store", "\n".join(lines))
    print("\n".join(lines))
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
