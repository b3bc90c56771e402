"""The bellwatch demo: Bella, the guide's reference service, with real traffic.

``python -m bellwatch.demo`` (what ``make demo`` runs) and ``bellwatch demo`` call
:func:`cli_main`. The service lives in :mod:`.app`, the traffic in :mod:`.traffic`;
:mod:`.scenario` is the short scripted lifecycle used by tests and benchmarks.

This module imports nothing from the ``demo`` extra, so the CLI can read its defaults
(and say what to install) without FastAPI.
"""

from __future__ import annotations

import sys
from typing import Any

__all__ = ["CLIENTS", "DURATION", "INSTALL", "cli_main", "missing_dependency"]

DURATION = 20.0
"""Seconds of traffic when none is given: the one default for every way to run the demo."""
CLIENTS = 4
"""Concurrent clients when none is given."""
INSTALL = "pip install 'bellwatch[demo]'"
"""What installs the demo's dependencies, exactly as a user types it."""


def missing_dependency(exc: ImportError) -> str:
    """One line naming what is missing and the exact command that installs it.

    The demo's modules re-raise a missing import with their own message; the module's
    name is then on the original error (``__cause__``), never printed as ``None``.
    """
    error: BaseException | None = exc
    while error is not None and not getattr(error, "name", None):
        error = error.__cause__
    name = getattr(error, "name", None)
    what = f"the demo needs {name}" if name else "the demo's dependencies are missing"
    return f"{what}: {INSTALL}"


def cli_main(serve: bool = False, duration: float = DURATION, **options: Any) -> int:
    """Start Bella, drive traffic, print the digest and next commands (see :mod:`.run`).

    Imported lazily: the service needs the ``demo`` extra (FastAPI, uvicorn, twilio);
    without it this prints :func:`missing_dependency` and returns 2, like any usage error.
    """
    try:
        from .run import cli_main as run
    except ImportError as exc:
        print(missing_dependency(exc), file=sys.stderr)
        return 2
    return run(serve=serve, duration=duration, **options)
