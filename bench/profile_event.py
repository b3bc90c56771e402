"""Where bellwatch's CPU goes for one `request_complete` event: a py-spy profile, by stage.

Runs bench/logging_hotpath.py's bellwatch children (the line that fits, and the line
cut to 200 characters) under `py-spy record` (sampling, so no per-call overhead
skews small functions as cProfile does), then charges every sample of the timed loop
to the deepest pipeline stage on its stack. Most of a line is one frame, the logger
method compiled in src/bellwatch/log/_fast.py: its samples are charged by source line
to the section (a `# -- ...` comment) that line is in. The us column is that share of
the child's own CPU per event, measured in the same run (sampling adds a little to it).

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
    ("the compiled method: the line's own keys (ts, level, event, cid)", "method#own"),
    ("the compiled method: fields bound in context and on the logger", "method#bound"),
    ("the compiled method: the call's fields, redacted", "method#call"),
    ("the compiled method: `orjson.dumps` with its newline, the length check", "method#json"),
    ("the compiled method: its call, and the hand-over to the sink", "method#sink"),
    ("`Redactor`: a value scanned (not known clean)", "Redactor."),
    ("`BudgetRenderer.over`: the cutting path", "BudgetRenderer.over"),
    ("`RotatingFile.add`: queued requests, the count, the buffer append", "RotatingFile.add"),
    ("`RotatingFile`: the 64 KiB `os.write`", "RotatingFile._write_now"),
]
LOOP = "child (logging_hotpath.py"
METHOD = "Plan._fast.<locals>.method"
FAST = HERE.parent / "src" / "bellwatch" / "log" / "_fast.py"
# The compiled method's sections, by the `# -- ...` comment each one starts with.
SECTIONS = {
    "the line's own keys": "method#own",
    "fields bound in context": "method#bound",
    "the call's fields": "method#call",
    "JSON with its newline": "method#json",
    "the sink": "method#sink",
}
# Coarse groups for the one-line figure the README's table quotes.
GROUPS = {
    "the call's fields and their redaction": ("the compiled method: the call's",),
    "the line's own keys and bound fields": (
        "the compiled method: the line's own",
        "the compiled method: fields bound",
    ),
    "JSON and budget": ("the compiled method: `orjson", "`BudgetRenderer"),
    "the sink and file buffer": ("the compiled method: its call", "`RotatingFile"),
    "value scans": ("`Redactor`",),
}


def sections() -> list[tuple[int, str]]:
    """(first line, section mark) of the compiled method's sections, in order."""
    out = [(0, "method#sink")]  # before the first section: the call itself
    for number, line in enumerate(FAST.read_text().splitlines(), 1):
        text = line.strip()
        if text.startswith("# -- "):
            for words, mark in SECTIONS.items():
                if text[5:].startswith(words):
                    out.append((number, mark))
    return out


def mark_of(frame: str, marks: list[tuple[int, str]]) -> str:
    """A frame of the compiled method named by its section (py-spy gives file:line)."""
    if METHOD not in frame:
        return frame
    line = int(frame.rsplit(":", 1)[1].rstrip(")"))
    found = marks[0][1]
    for first, mark in marks:
        if line >= first:
            found = mark
    return found


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
        marks = sections()
        for line in Path(raw).read_text().splitlines():
            stack, n = line.rsplit(" ", 1)
            frames = stack.split(";")
            at = [i for i, f in enumerate(frames) if LOOP in f]
            # Only the timed loop: not imports, set-up, the filtered-call test, other threads.
            if not at or any(x in stack for x in ("setup (", "filtered_call_costs", "_last_line")):
                continue
            stage = STAGES[0][0]
            for frame in frames[at[0] :]:
                named = mark_of(frame, marks)
                for name, mark in STAGES:
                    if mark in named:
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
        "on its stack (a stage's own time, its callees in C included), a sample in the logger "
        "method compiled by `src/bellwatch/log/_fast.py` to the section of it its line is in. "
        "us = the stage's share of the child's CPU per event in the same run.",
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
