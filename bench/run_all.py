"""Run every benchmark, then write bench/RESULTS.md and the README's figures from the results.

Run: .venv/bin/python bench/run_all.py            # all of them (`make bench`), ~15-20 min
     .venv/bin/python bench/run_all.py --quick    # few rounds, for development: results go
                                                  # to bench/results/quick/, README untouched
     .venv/bin/python bench/run_all.py --only tokens,redis_store
     .venv/bin/python bench/run_all.py --report   # only rewrite RESULTS.md and the README

Progress goes to stderr: one line per benchmark and per round.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import report  # noqa: E402 - bench/ is not a package

# Cheapest first, so that a broken set-up shows in seconds, not minutes.
BENCHES = [
    "tokens",
    "logging_hotpath",
    "profile_event",
    "error_storm",
    "durability_errors",
    "redis_store",
    "middleware",
    "query",
    "mcp",
]
QUICK_DIR = HERE / "results" / "quick"


# Scripts whose results file is named after what it holds rather than after the script.
RESULT = {"profile_event": "logging_profile"}


def run(name: str, quick: bool) -> bool:
    cmd = [sys.executable, str(HERE / f"{name}.py")]
    env = dict(os.environ)
    if quick:
        env["BELLWATCH_BENCH_QUICK"] = "1"
        if name in ("query", "mcp"):
            cmd += ["--rounds", "2"]  # these have their own options
    result = HERE / "results" / f"{RESULT.get(name, name)}.md"
    kept = result.read_bytes() if quick and result.exists() else None
    start = time.monotonic()
    print(f"== {name} ...", file=sys.stderr, flush=True)
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    took = time.monotonic() - start
    ok = done.returncode == 0
    print(f"== {name}: {'done' if ok else f'FAILED (exit {done.returncode})'} in {took:.0f} s",
          file=sys.stderr, flush=True)  # fmt: skip
    if quick and ok:
        # Quick numbers never replace the full run's: they go aside, the full file stays.
        QUICK_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(result, QUICK_DIR / result.name)
        if kept is not None:
            result.write_bytes(kept)
        else:
            result.unlink()
    return ok


def record_run(minutes: float, load: tuple[float, float, float]) -> None:
    """bench/results/run_all.md: how long the whole of `make bench` took, and where."""
    from _common import figures, machine_md, write_result

    write_result(
        "run_all",
        "\n".join(
            [
                "## The whole run (bench/run_all.py)",
                "",
                f"Every benchmark above, one after the other, took {minutes:.1f} minutes "
                "(goal: under 20 on 2 cores).",
                "",
                machine_md(load_at_start=load),
                "",
                *figures([("minutes", f"{minutes:.1f}", "minutes the whole run took")]),
            ]
        ),
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="few rounds; results to results/quick/")
    ap.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHES)}")
    ap.add_argument("--report", action="store_true", help="only write RESULTS.md and README")
    args = ap.parse_args()
    failed = []
    if not args.report:
        names = args.only.split(",") if args.only else BENCHES
        unknown = sorted(set(names) - set(BENCHES))
        if unknown:
            raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}")
        start, load = time.monotonic(), os.getloadavg()
        print(
            f"load average {', '.join(f'{x:.2f}' for x in load)}; "
            f"{'quick mode, ' if args.quick else ''}{len(names)} benchmarks",
            file=sys.stderr,
            flush=True,
        )
        failed = [n for n in names if not run(n, args.quick)]
        minutes = (time.monotonic() - start) / 60
        print(f"all done in {minutes:.1f} min", file=sys.stderr)
        if names == BENCHES and not args.quick and not failed:
            record_run(minutes, load)
    if args.quick:
        print(f"quick results in {QUICK_DIR} (README and RESULTS.md untouched)")
    else:
        for path in report.write():
            print(f"wrote {path}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
