"""Where bellwatch's CPU goes for one `request_complete` event: a py-spy profile, by stage.

Runs bench/logging_hotpath.py's bellwatch children (the line that fits, and the line
cut to 200 characters) under `py-spy record` (sampling, so no per-call overhead
skews small functions as cProfile does), then charges every sample of the timed loop
to the deepest pipeline stage on its stack. The us column is that share of the
child's own CPU per event, measured in the same run (sampling adds a little to it).

Run: .venv/bin/python bench/profile_event.py [--events 300000]
Writes bench/results/logging_profile.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import figures, machine_md, quick, write_result  # noqa: E402 - bench/ is not a package

# (stage, a frame that marks it); a sample goes to the deepest stage on its stack.
STAGES = [
    ("the call site: the caller builds the keyword arguments", "child (logging_hotpath.py"),
    ("structlog's filtering method (`meth`)", "make_method.<locals>.meth"),
    ("structlog `_proxy_to_logger`", "_proxy_to_logger"),
    ("structlog `_process_event`: context copy, kwargs merge, processor loop", "_process_event"),
    ("`Pipeline.__call__`: the loop over the steps", "Pipeline.__call__"),
    ("`AddContext`: ts, level, event, cid, bound and call fields in order", "AddContext.__call__"),
    ("`AddContext`: the timestamp (`time.time_ns`)", "_ts_ms"),
    ("the error-aggregator step (no exception: returns at once)", "aggregate_errors"),
    ("`CompactException` step (no exception: returns at once)", "CompactException.__call__"),
    ("`Redactor`: a key lookup per field, `=`/`+` scans of str values", "Redactor.__call__"),
    ("`BudgetRenderer.render`: `orjson.dumps` + length check", "BudgetRenderer.render"),
    ("`BudgetRenderer._fit`: the cutting path", "BudgetRenderer._fit"),
    ("`Sink.write`: queue check, bytes, counters", "Sink.write"),
    ("`RotatingFile.write`: the buffer append under its lock", "RotatingFile.write"),
    ("`RotatingFile`: the 64 KiB `os.write`", "RotatingFile._write_pending"),
]
LOOP = "child (logging_hotpath.py"
# Coarse groups for the one-line figure the README's table quotes.
GROUPS = {
    "structlog's bound logger": ("structlog",),
    "context and timestamp": ("`AddContext`",),
    "redaction": ("`Redactor`",),
    "the sink and file buffer": ("`Sink", "`RotatingFile"),
    "JSON and budget": ("`BudgetRenderer",),
    "the step loop": ("`Pipeline", "the error-aggregator", "`CompactException"),
}


def spy() -> str:
    found = shutil.which("py-spy", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    if found is None:
        raise SystemExit("py-spy is needed: pip install py-spy (the bench extra has it)")
    return found


def profile(variant: str, events: int) -> tuple[float, Counter[str], int]:
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, "profile.txt")
        out = subprocess.run(
            [spy(), "record", "-r", "1000", "-f", "raw", "-o", raw, "--",
             sys.executable, str(HERE / "logging_hotpath.py"), "--child", variant,
             "--events", str(events), "--filtered", "10"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        # py-spy prints its own lines too: the child's result is the JSON one.
        result = [x for x in out.stdout.splitlines() if x.startswith('{"us"')][-1]
        us = json.loads(result)["us"]
        stages: Counter[str] = Counter()
        total = 0
        for line in Path(raw).read_text().splitlines():
            stack, n = line.rsplit(" ", 1)
            frames = stack.split(";")
            at = [i for i, f in enumerate(frames) if LOOP in f]
            # Only the timed loop: not imports, set-up, the filtered-call test, other threads.
            if not at or any(x in stack for x in ("setup (", "filtered_call_costs", "_last_line")):
                continue
            stage = STAGES[0][0]
            for frame in frames[at[0] :]:
                for name, mark in STAGES:
                    if mark in frame:
                        stage = name
            stages[stage] += int(n)
            total += int(n)
    return us, stages, total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=100_000 if quick() else 300_000)
    args = ap.parse_args()
    md = [
        "## Where bellwatch's time goes per event (bench/profile_event.py)",
        "",
        "`py-spy record` (1,000 samples/s) of bench/logging_hotpath.py's bellwatch child, "
        f"{args.events:,} events; each sample of the timed loop is charged to the deepest stage "
        "on its stack (a stage's own time, its callees in C included). us = the stage's share "
        "of the child's CPU per event in the same run.",
        "",
        machine_md(["structlog", "orjson"]),
    ]
    figs: list[tuple[str, str, str]] = []
    for variant, title in (
        ("bellwatch", "The line that fits in 200 characters"),
        ("bellwatch_cut", "The line over 200 characters (a 34-character CallSid), cut"),
    ):
        print(f"  profile_event: {variant}", file=sys.stderr, flush=True)
        us, stages, total = profile(
            variant, args.events if variant == "bellwatch" else args.events // 4
        )
        md += ["", f"### {title}: {us:.2f} us/event", "", "| stage | share | us/event | samples |",
               "|---|---:|---:|---:|"]  # fmt: skip
        for name, _ in STAGES:
            if stages[name]:
                share = stages[name] / total
                md.append(f"| {name} | {100 * share:.1f}% | {share * us:.2f} | {stages[name]} |")
        per_group = {
            g: sum(n for s, n in stages.items() if s.startswith(marks)) / total * us
            for g, marks in GROUPS.items()
        }
        top = sorted(per_group.items(), key=lambda kv: -kv[1])
        figs.append((f"{variant}_us", f"{us:.1f}", f"us per event under the profiler, {variant}"))
        figs.append(
            (f"{variant}_where", ", ".join(f"{g} {v:.1f}" for g, v in top[:4]) + " us",
             f"the largest stages, {variant}")
        )  # fmt: skip
    md += ["", *figures(figs)]
    path = write_result("logging_profile", "\n".join(md))
    print("\n".join(md))
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
