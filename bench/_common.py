"""Shared helpers for the benchmarks: interleaved rounds, medians, machine, result files.

Every result file has the same parts, so that `bench/report.py` can read them:
a title, what was measured, the machine (`machine_md()`), tables, a `figures()`
table of named headline numbers (what the README quotes, by name), and raw samples.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
# Taken when a benchmark starts (it imports this module first), not when it writes.
LOAD_AT_START = os.getloadavg()


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages: Iterable[str]) -> str:
    out = []
    for name in packages:
        try:
            out.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            out.append(f"{name} (not installed)")
    return ", ".join(out)


def machine(packages: Iterable[str] = (), load_at_start: Sequence[float] | None = None) -> str:
    """One line describing where the numbers came from: CPU, cores, load, Python, packages."""
    load = ", ".join(f"{x:.2f}" for x in (load_at_start or LOAD_AT_START))
    pkgs = versions(["bellwatch", *packages])
    return (
        f"{cpu_model()}, {os.cpu_count()} cores, load average at start {load}; "
        f"{platform.python_implementation()} {platform.python_version()}; {pkgs}"
    )


def machine_md(packages: Iterable[str] = (), load_at_start: Sequence[float] | None = None) -> str:
    return (
        f"Machine: {machine(packages, load_at_start)}. Shared with other work and noisy: "
        "read the ratios, not the absolute times."
    )


def quick() -> bool:
    """Whether `run_all.py --quick` asked for few rounds (development, not for the README)."""
    return os.environ.get("BELLWATCH_BENCH_QUICK") == "1"


def run_child(args: Sequence[str], env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run a child process that prints one JSON object on its last stdout line."""
    out = subprocess.run(
        [sys.executable, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{args}: exit {out.returncode}\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(
    variants: Sequence[str], rounds: int, measure: Callable[[str], float], label: str = ""
) -> dict[str, list[float]]:
    """Measure every variant once per round, rotating the order each round.

    Prints one progress line per round to stderr (`make bench` runs for minutes).
    """
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(rounds):
        start = time.monotonic()
        order = list(variants[r % len(variants) :]) + list(variants[: r % len(variants)])
        for v in order:
            samples[v].append(measure(v))
        took = time.monotonic() - start
        print(
            f"  {label or 'rounds'}: round {r + 1}/{rounds} done in {took:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    return samples


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


def paired(xs: Sequence[float], base: Sequence[float]) -> float:
    """Median over rounds of x / base in the same round."""
    return median([x / b for x, b in zip(xs, base, strict=True)])


def figures(rows: Sequence[tuple[str, str, str]]) -> list[str]:
    """The machine-readable table of named figures the README quotes: (name, value, meaning)."""
    out = [
        "### Figures",
        "",
        "Named figures, quoted in the README by `bench/report.py` (name, value, what it is).",
        "",
        "| figure | value | what |",
        "|---|---|---|",
    ]
    out += [f"| `{name}` | {value} | {what} |" for name, value, what in rows]
    return out


def samples_line(title: str, samples: dict[str, Sequence[float]], fmt: str = "{:.1f}") -> str:
    return f"Raw samples ({title}): " + "; ".join(
        f"{k} {', '.join(fmt.format(x) for x in xs)}" for k, xs in samples.items()
    )


def write_result(name: str, markdown: str) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.md"
    path.write_text(markdown.rstrip() + "\n")
    return path


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (loopback only: these machines reach nothing else)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads), in clock ticks (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def thread_ticks(pid: int) -> tuple[int, int]:
    """(main thread, every other thread) utime + stime of a process, in clock ticks."""
    main = other = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended meanwhile
            continue
        ticks = int(fields[11]) + int(fields[12])
        if task.name == str(pid):
            main += ticks
        else:
            other += ticks
    return main, other


def wait_for_port(port: int, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    """Poll until something listens on 127.0.0.1:port (or the process died)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"{what} did not start") from None
            time.sleep(0.05)
