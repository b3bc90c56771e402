"""Shared helpers for the benchmarks: interleaved rounds, medians, result files."""

from __future__ import annotations

import json
import os
import platform
import socket
import statistics
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def machine() -> str:
    """One line describing where the numbers came from."""
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, {platform.machine()}; shared and noisy: read ratios, not times"
    )


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
    variants: Sequence[str], rounds: int, measure: Callable[[str], float]
) -> dict[str, list[float]]:
    """Measure every variant once per round, rotating the order each round."""
    samples: dict[str, list[float]] = {v: [] for v in variants}
    for r in range(rounds):
        order = list(variants[r % len(variants) :]) + list(variants[: r % len(variants)])
        for v in order:
            samples[v].append(measure(v))
    return samples


def median(xs: Sequence[float]) -> float:
    return statistics.median(xs)


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
