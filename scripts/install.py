"""Create the virtual environment when missing and install bellwatch's extras into it.

Run by the Makefile: ``make demo`` installs only what the demo needs, ``make test`` all the
extras. pip's own output is a few hundred lines that say nothing on success; this prints one
progress line per phase instead (rewritten in place on a terminal, a line every few seconds
elsewhere) and pip's whole output when it fails.

    python3 scripts/install.py --venv .venv --extras cli,demo
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A requirement found on an index ("Collecting name>=1") or in a local file of wheels
# ("Processing /path/name-1.0-py3-none-any.whl (from ...)").
COLLECTING = re.compile(
    r"^(?:Collecting ([A-Za-z0-9._-]+)|Processing \S*?([A-Za-z0-9_.]+)-\d\S* \(from)"
)
SATISFIED = re.compile(r"^Requirement already satisfied: ([A-Za-z0-9._-]+)")
INSTALLING = re.compile(r"^Installing collected packages: (.*)")
# Off a terminal (CI, a pipe), a progress line at most this often, so a slow index still
# shows life without a line per package.
HEARTBEAT = 5.0


class Progress:
    """One status line: rewritten in place on a terminal, printed every few seconds elsewhere."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self.start = time.monotonic()
        self.last = 0.0
        self.width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        line = f"    {text} ({time.monotonic() - self.start:.0f} s)"
        if self.tty:
            sys.stdout.write("\r" + line.ljust(self.width))
            self.width = len(line)
        elif force or time.monotonic() - self.last >= HEARTBEAT:
            sys.stdout.write(line + "\n")
            self.last = time.monotonic()
        sys.stdout.flush()

    def end(self) -> None:
        if self.tty and self.width:
            sys.stdout.write("\n")
            sys.stdout.flush()


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def create(venv: Path) -> None:
    """``python -m venv``, with pip: users install more into it later."""
    print(f"==> creating {venv} with Python {sys.version.split()[0]}", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)


def install(venv: Path, extras: str) -> int:
    """``pip install -e .[extras]`` into ``venv``, showing progress; pip's exit code."""
    python = venv / "bin" / "python"
    command = [
        str(python), "-m", "pip", "install", "--progress-bar", "off",
        "--disable-pip-version-check", "--no-input",
        # pip byte-compiles every file it installs (twilio alone has thousands); Python
        # compiles the few modules the demo imports on first use. Saves ~30% of the install.
        "--no-compile",
        "-e", f"{ROOT}[{extras}]",
    ]  # fmt: skip
    print(f"==> installing bellwatch[{extras}] into {venv}", flush=True)
    progress = Progress(sys.stdout.isatty())
    collected: list[str] = []
    present = installed = 0
    output: list[str] = []
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    ) as pip:
        assert pip.stdout is not None
        for line in pip.stdout:
            output.append(line)
            if match := COLLECTING.match(line):
                collected.append(match.group(1) or match.group(2))
                progress.show(f"resolving: {len(collected)} to install, {present} already there")
            elif SATISFIED.match(line):
                present += 1
                progress.show(f"resolving: {len(collected)} to install, {present} already there")
            elif line.lstrip().startswith("Building editable") and "started" in line:
                progress.show("building bellwatch (editable)", force=True)
            elif match := INSTALLING.match(line):
                installed = len(match.group(1).split(","))
                progress.show(f"installing {plural(installed, 'package')}", force=True)
    progress.end()
    if pip.returncode != 0:
        sys.stdout.write("".join(output))
        print(f"==> pip failed (exit {pip.returncode}); its output is above", flush=True)
        return pip.returncode
    took = time.monotonic() - progress.start
    print(f"==> {venv} is ready: {installed} installed, {present} already there, {took:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--venv", type=Path, default=ROOT / ".venv")
    parser.add_argument("--extras", required=True, help="comma-separated, e.g. cli,demo")
    args = parser.parse_args(argv)
    if not (args.venv / "bin" / "python").exists():
        create(args.venv)
    return install(args.venv, args.extras)


if __name__ == "__main__":
    raise SystemExit(main())
