"""Run a snippet in a fresh interpreter: what a process imports or hashes from a cold start."""

from __future__ import annotations

import subprocess
import sys


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """The snippet's standard output; a failing snippet fails the test with its stderr."""
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout
