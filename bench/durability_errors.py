"""Durability: what one more unique error costs as fingerprints pile up, and what SIGKILL loses.

Unique errors: 100,000 unhandled errors with 100,000 different fingerprints through
the real aggregator (every-10th lines, alerts with their ``alert_fired`` line, lines
to /dev/null), timed per block of 1,000. The alert rate limit was rebuilt on every
submit past 10,000 fingerprints (0.011 ms -> 5.2 ms a submit at 40k); it is an LRU
now. Goal: the last blocks cost within 1.5x of the first. Median of 3 runs, each in
a fresh child process. ``Alerter.submit`` alone is timed the same way.

SIGKILL: a real uvicorn (1 worker) with stdout to a file and the log file on,
answering ~150 requests/s, killed with SIGKILL. A request counts as lost when the
client got its answer but no ``request_complete`` line with its id reached the
target; the window is the time from the first lost answer to the kill. Five rounds
for ``log_flush`` 0.2 (the default) and 0 (every line at once).

Run: .venv/bin/python bench/durability_errors.py
"""

from __future__ import annotations

import json
import os
import random
import signal
import string
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import httpx

from _common import free_port, machine, median, run_child, write_result

ERRORS = 100_000
BLOCK = 1_000
RUNS = 3
KILL_ROUNDS = 5

CHILD = r"""
import json, os, random, string, sys, time
import bellwatch
from bellwatch._runtime import runtime
from bellwatch.errors.alerts import Alert, Alerter, LogNotifier

what, n, block = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bellwatch.configure(stream=open(os.devnull, "w"), spike_threshold=10**6)
rng = random.Random(7)
words = ["".join(rng.choice("ghijklmnopqrstuvwxyz") for _ in range(12)) for _ in range(n)]
per_block = []
if what == "aggregator":
    agg = runtime.aggregator()
    for b in range(0, n, block):
        excs = [RuntimeError(f"upstream said {w}") for w in words[b:b + block]]
        start = time.perf_counter()
        for exc in excs:
            agg.record(exc, endpoint="/pay", status=500, handled=False)
        per_block.append((time.perf_counter() - start) / block)
    unique = agg.stats()["total_unique_errors"]
else:
    alerter = Alerter([LogNotifier()], interval=600.0)
    alerts = [Alert(w[:8], "RuntimeError", w, "high", 1, "/pay", False, "app", "prod")
              for w in words]
    for b in range(0, n, block):
        start = time.perf_counter()
        for alert in alerts[b:b + block]:
            alerter.submit(alert)
        per_block.append((time.perf_counter() - start) / block)
    unique = len(alerter._last)
print(json.dumps({"per_block": per_block, "unique": unique}))
"""

APP = """
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from bellwatch import instrument

async def ok(request):
    return PlainTextResponse("ok")

app = instrument(Starlette(routes=[Route("/ok", ok)]))
"""


def unique_errors() -> list[str]:
    rows = []
    for what in ("aggregator", "alerter"):
        firsts, lasts, ratios, unique = [], [], [], 0
        for _ in range(RUNS):
            got = run_child(["-c", CHILD, what, str(ERRORS), str(BLOCK)], timeout=1800)
            blocks = got["per_block"]
            first, last = blocks[0], median(blocks[-10:])
            firsts.append(first)
            lasts.append(last)
            ratios.append(last / first)
            unique = got["unique"]
        FIGURES[f"unique_{what}_ratio"] = (
            f"{median(ratios):.2f}x",
            f"{what}: per-error cost of the last 10,000 of {ERRORS:,} unique errors vs the first",
        )
        rows.append(
            f"| `{what}` | {median(firsts) * 1e6:.1f} us | {median(lasts) * 1e6:.1f} us "
            f"| {median(ratios):.2f}x | {unique:,} |"
        )
    return [
        "| path | first 1,000: per error | last 10,000: per error | ratio | tracked at the end |",
        "|---|---|---|---|---|",
        *rows,
    ]


def kill_round(tmp: Path, log_flush: str) -> dict[str, Any]:
    (tmp / "app.py").write_text(APP)
    port = free_port()
    env = {**os.environ, "BELLWATCH_LOG_FILE": "1", "BELLWATCH_LOG_DIR": str(tmp / "logs"),
           "BELLWATCH_LOG_FLUSH": log_flush, "PYTHONPATH": str(tmp)}  # fmt: skip
    out = (tmp / "stdout.txt").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--log-level",
         "warning"], cwd=tmp, env=env, stdout=out, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    answered: dict[str, float] = {}
    try:
        with httpx.Client(base_url=base, timeout=5) as client:
            deadline = time.monotonic() + 30
            while True:
                try:
                    client.get("/ok")
                    break
                except httpx.HTTPError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            stop = time.monotonic() + 2.0 + random.random()
            while time.monotonic() < stop:
                cid = "".join(random.choices(string.ascii_lowercase, k=16))
                client.get("/ok", headers={"x-request-id": cid})
                answered[cid] = time.monotonic()
                time.sleep(0.004)
            os.kill(proc.pid, signal.SIGKILL)
            killed = time.monotonic()
    finally:
        proc.kill()
        proc.wait()
        out.close()
    result: dict[str, Any] = {}
    for target, paths in (("stdout", [tmp / "stdout.txt"]),
                          ("file", list((tmp / "logs").glob("app.jsonl*")))):  # fmt: skip
        found = set()
        for path in paths:
            for raw in path.read_bytes().splitlines():
                if raw.startswith(b"{"):
                    found.add(json.loads(raw).get("cid"))
        lost = [t for cid, t in answered.items() if cid not in found]
        result[target] = (len(lost), killed - min(lost) if lost else 0.0)
    result["answered"] = len(answered)
    return result


FIGURES: dict[str, tuple[str, str]] = {}  # name -> (value, what), filled by the sections


def sigkill() -> list[str]:
    rows = []
    for log_flush in ("0.2", "0"):
        rounds = []
        for _ in range(KILL_ROUNDS):
            with tempfile.TemporaryDirectory() as tmp:
                rounds.append(kill_round(Path(tmp), log_flush))
        for target in ("stdout", "file"):
            lost = [r[target][0] for r in rounds]
            window = [r[target][1] for r in rounds]
            rows.append(
                f"| {log_flush} | {target} | {median(lost):.0f} (max {max(lost)}) "
                f"| {median(window):.3f} s (max {max(window):.3f} s) "
                f"| {median([r['answered'] for r in rounds]):.0f} |"
            )
        every = [r[t] for r in rounds for t in ("stdout", "file")]
        if log_flush == "0.2":
            FIGURES["kill_lost_median"] = (
                f"{median([lost for lost, _ in every]):.0f}",
                "answered requests lost to SIGKILL (median), default log_flush",
            )
            FIGURES["kill_lost_max"] = (
                f"{max(lost for lost, _ in every)}",
                "answered requests lost to SIGKILL (most), default log_flush",
            )
            FIGURES["kill_window_max"] = (
                f"{max(w for _, w in every):.2f} s",
                "the longest window of lost requests, default log_flush",
            )
        else:
            FIGURES["kill_lost_flush0"] = (
                f"{max(lost for lost, _ in every)}",
                "answered requests lost to SIGKILL (most) with log_flush=0",
            )
    return [
        "| `log_flush` | target | answered requests lost | window | answered |",
        "|---|---|---|---|---|",
        *rows,
    ]


def main() -> None:
    parts = [
        "## Durability: unique errors, and SIGKILL",
        "",
        "Rerun: `.venv/bin/python bench/durability_errors.py`. " + machine() + ".",
        "",
        f"### {ERRORS:,} unique unhandled errors (median of {RUNS} runs)",
        "",
        *unique_errors(),
        "",
        f"### SIGKILL under ~150 requests/s ({KILL_ROUNDS} rounds each)",
        "",
        *sigkill(),
        "",
        "### Figures",
        "",
        "| figure | value | what |",
        "|---|---|---|",
        *(f"| `{name}` | {value} | {what} |" for name, (value, what) in FIGURES.items()),
    ]
    path = write_result("durability_errors", "\n".join(parts))
    print(path.read_text())


if __name__ == "__main__":
    main()
