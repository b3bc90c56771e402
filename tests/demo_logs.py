"""The demo's logs, made for real: ``python -m bellwatch.demo --duration 3`` into a folder.

Bella (FastAPI + SQLite) serves three seconds of traffic from two clients, with its
scripted faults: invalid bookings, forged Twilio signatures, a slow calendar, and a
maintenance job that locks the database (unhandled ``database is locked``, so 500s).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_demo(where: Path, duration: float = 3.0) -> Path:
    """Run the demo with its log directory in ``where``; return that directory."""
    logs = where / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BELLWATCH_")}
    env |= {"BELLWATCH_LOG_DIR": str(logs), "XDG_CACHE_HOME": str(where / "cache")}
    done = subprocess.run(
        [sys.executable, "-m", "bellwatch.demo", "--duration", str(duration), "--clients", "2"],
        cwd=where, env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(logs.glob("*.jsonl")), done.stdout[-2000:]
    return logs
