"""Instructions per request under callgrind: the middleware's cost, without the noise.

On these shared 2-core machines a middleware change worth 2-3% of a request is below
the noise of any timed run (bench/middleware.py's end-to-end figures move by more than
that between two runs). The number of instructions a request executes hardly moves:
each variant of bench/middleware.py runs in-process under ``valgrind --tool=callgrind``
with instrumentation off, switched on (``callgrind_control -i on``) only around
``--requests`` requests, with a fixed hash seed and the file flusher's tick slowed, so
that the count does not depend on how slowly valgrind ran. Two runs of one variant
agree within about 0.5%.

A development aid, not part of ``make bench``: instructions are not time (a cache miss
costs hundreds of them), and the goals are judged by bench/middleware.py.

Run: .venv/bin/python bench/instructions.py [--requests 2000] [VARIANT ...]
(default variants: bare, header_floor, bellwatch_noline, bellwatch). Needs valgrind
(``apt-get install valgrind``). Prints a table; writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stacks import VARIANTS, build_app, flush
from middleware import drive

DEFAULT = ["bare", "header_floor", "bellwatch_noline", "bellwatch"]


def child(variant: str, n: int) -> None:
    """Warm up, then count ``n`` requests (run by callgrind, instrumentation off)."""
    logdir = tempfile.mkdtemp(prefix="bw-instr-")
    try:
        app = build_app(variant, logdir)
        asyncio.run(drive(app, 300))
        flush(variant)
        pid = str(os.getpid())
        subprocess.run(["callgrind_control", "-i", "on", pid], capture_output=True, check=True)
        asyncio.run(drive(app, n))
        flush(variant)
        subprocess.run(["callgrind_control", "-i", "off", pid], capture_output=True, check=True)
    finally:
        shutil.rmtree(logdir, ignore_errors=True)


def count(variant: str, n: int) -> int:
    """Instructions per request of ``variant``."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "BELLWATCH_LOG_FLUSH": "30"}
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            ["valgrind", "--tool=callgrind", "--instr-atstart=no",
             f"--callgrind-out-file={tmp}/out", sys.executable, __file__,
             "--child", variant, "--requests", str(n)],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or found is None:
        raise SystemExit(f"{variant}: callgrind failed\n{done.stderr[-2000:]}")
    return int(found.group(1)) // n


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="*", help=f"of bench/_stacks.py (default {DEFAULT})")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.requests)
        return 0
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is needed: apt-get install valgrind")
    names = args.variants or DEFAULT
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        raise SystemExit(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    base = None
    print("| variant | instructions per request | added to bare |\n|---|---:|---:|")
    for variant in dict.fromkeys(["bare", *names]):
        per = count(variant, args.requests)
        base = per if base is None else base
        print(f"| {variant} | {per:,} | {per - base:+,} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
